-- Hostile training options and settings: every option key with every JSON
-- type it must not have, through kpreco.train_agg and kpreco.train; values at
-- and beyond each range; options that are not objects; odd keys; and the
-- kpreco.* settings.  README: unknown keys, values of the wrong JSON type and
-- values out of range are errors (22023) that name the key.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(233);

-- After a backend crash the postmaster ends every session: this session
-- and its temporary table still being here at the end is the proof that
-- no case crashed the server.
CREATE TEMP TABLE hostile_session AS SELECT pg_backend_pid() AS pid;

-- How a statement ends: 'ok', or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

CREATE TEMP TABLE hostile_rows AS
SELECT u AS user_id, c AS course_id, 1 + (u + c) % 2 AS hours
  FROM generate_series(1, 6) u, generate_series(1, 4) c WHERE (u * c) % 3 <> 0;

-- The keys, the JSON type each must have, and one value of every JSON type.
CREATE TEMP TABLE hostile_keys (key text, wanted text);
INSERT INTO hostile_keys VALUES
	('user_column', 'string'), ('course_column', 'string'), ('weight_column', 'string'),
	('algorithm', 'string'), ('solver', 'string'),
	('factors', 'number'), ('iterations', 'number'), ('regularization', 'number'),
	('alpha', 'number'), ('cg_steps', 'number'), ('seed', 'number'),
	('keep_versions', 'number'), ('verbose', 'boolean');
CREATE TEMP TABLE hostile_values (type text, value jsonb);
INSERT INTO hostile_values VALUES
	('string', '"4"'), ('number', '4'), ('boolean', 'true'), ('null', 'null'),
	('array', '[4]'), ('object', '{"value": 4}');

-- Every key with every JSON type it must not have ------------------------------------------
-- (JSON null for a column option is dealt with below.)

SELECT alike(pg_temp.outcome(format('SELECT kpreco.train_agg(user_id, course_id, NULL, %L) FROM hostile_rows',
									 jsonb_build_object(k.key, v.value))),
	'22023: %' || k.key || '%', format('train_agg: "%s" as a JSON %s', k.key, v.type))
  FROM hostile_keys k, hostile_values v
 WHERE v.type <> k.wanted AND NOT (k.key LIKE '%\_column' AND v.type = 'null')
 ORDER BY k.key, v.type;
SELECT alike(pg_temp.outcome(format('SELECT kpreco.train(''hostile_wrong_type'', ''hostile_rows'', %L)',
									 jsonb_build_object(k.key, v.value))),
	'22023: %' || k.key || '%', format('train: "%s" as a JSON %s', k.key, v.type))
  FROM hostile_keys k, hostile_values v
 WHERE v.type <> k.wanted AND NOT (k.key LIKE '%\_column' AND v.type = 'null')
 ORDER BY k.key, v.type;
-- A column option given as JSON null: the aggregate and train() must agree
-- (both refuse it, or both take it as not given).
SELECT is(split_part(pg_temp.outcome(format('SELECT kpreco.train(''hostile_null_column'', %L, %L)',
									 'SELECT user_id, course_id, hours AS weight FROM hostile_rows', jsonb_build_object(key, NULL::text))), ':', 1),
	split_part(pg_temp.outcome(format('SELECT kpreco.train_agg(user_id, course_id, NULL, %L) FROM hostile_rows', jsonb_build_object(key, NULL::text))), ':', 1),
	format('"%s": null is treated alike by train and train_agg', key))
  FROM unnest(ARRAY['course_column', 'user_column', 'weight_column']) key;
SELECT is((SELECT count(*) FROM kpreco.model_registry WHERE name = 'hostile_wrong_type'), 0::bigint,
	'none of those left a registry row');

-- The right JSON type with a value that is not allowed -------------------------------------

SELECT alike(pg_temp.outcome(format('SELECT kpreco.train_agg(user_id, course_id, NULL, %L) FROM hostile_rows', options)),
	'22023: %' || key || '%', format('train_agg: %s', options))
  FROM (VALUES
	('factors', '{"factors": 0}'), ('factors', '{"factors": -1}'), ('factors', '{"factors": 1025}'),
	('factors', '{"factors": 1.5}'), ('factors', '{"factors": 1e400}'), ('factors', '{"factors": 2147483648}'),
	('factors', '{"factors": -9223372036854775809}'),
	('iterations', '{"iterations": -1}'), ('iterations', '{"iterations": 1001}'), ('iterations', '{"iterations": 0.5}'),
	('cg_steps', '{"cg_steps": 0}'), ('cg_steps', '{"cg_steps": 65}'),
	('seed', '{"seed": -1}'), ('seed', '{"seed": 9223372036854775808}'), ('seed', '{"seed": 1e19}'), ('seed', '{"seed": 0.1}'),
	('regularization', '{"regularization": -1e-300}'), ('regularization', '{"regularization": 1000000.001}'),
	('regularization', '{"regularization": 1e400}'), ('regularization', '{"regularization": -1e400}'),
	('alpha', '{"alpha": -0.001}'), ('alpha', '{"alpha": 1000001}'), ('alpha', '{"alpha": 1e309}'),
	('algorithm', '{"algorithm": "IALS"}'), ('algorithm', '{"algorithm": ""}'), ('algorithm', '{"algorithm": "ials "}'),
	('algorithm', '{"algorithm": "svd"}'),
	('keep_versions', '{"keep_versions": 0}'), ('keep_versions', '{"keep_versions": 1001}'), ('keep_versions', '{"keep_versions": 2.5}'),
	('keep_versions', '{"keep_versions": -1}'),
	('solver', '{"solver": "CG"}'), ('solver', '{"solver": ""}'),
	('solver', '{"solver": "lu"}')
  ) v(key, options);
SELECT is(pg_temp.outcome($$SELECT kpreco.train_agg(user_id, course_id, NULL, '{"solver": "cholesky\u0000"}') FROM hostile_rows$$),
	'22P05: unsupported Unicode escape sequence', 'a NUL escape in an option value is refused by jsonb itself');
SELECT throws_ok($$SELECT kpreco.train('hostile_bad_column', 'hostile_rows', '{"weight_column": "no_such_column"}')$$,
	'42703', NULL, 'train: a weight column that does not exist');
SELECT is((SELECT count(*) FROM kpreco.model_registry WHERE name = 'hostile_bad_column'), 0::bigint, 'left no registry row');

-- Values at the limits are accepted and stored as effective values ---------------------------

SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, NULL, options::jsonb)) -> 'options' -> key FROM hostile_rows),
	stored::jsonb, format('train_agg: %s is accepted, stored as %s', options, stored))
  FROM (VALUES
	('factors', '{"factors": 1, "iterations": 1}', '1'), ('factors', '{"factors": 1024, "iterations": 1}', '1024'),
	('factors', '{"factors": 2.000, "iterations": 1}', '2'), ('factors', '{"factors": 3e0, "iterations": 1}', '3'),
	('iterations', '{"factors": 2, "iterations": 0}', '0'), ('iterations', '{"factors": 1, "iterations": 1000}', '1000'),
	('cg_steps', '{"factors": 2, "iterations": 1, "cg_steps": 1}', '1'), ('cg_steps', '{"factors": 2, "iterations": 1, "cg_steps": 64}', '64'),
	('seed', '{"factors": 2, "iterations": 1, "seed": 0}', '0'), ('seed', '{"factors": 2, "iterations": 1, "seed": -0}', '0'),
	('regularization', '{"factors": 2, "iterations": 1, "regularization": 0}', '0'),
	('regularization', '{"factors": 2, "iterations": 1, "regularization": 1000000}', '1000000'),
	('alpha', '{"factors": 2, "iterations": 1, "alpha": 0}', '0'),
	('alpha', '{"factors": 2, "iterations": 1, "alpha": 1000000}', '1000000'),
	('alpha', '{"factors": 2, "iterations": 1, "alpha": 1e-320}', '0'),
	('solver', '{"factors": 2, "iterations": 1, "solver": "cholesky"}', '"cholesky"'),
	('algorithm', '{"factors": 2, "iterations": 1, "algorithm": "ials"}', '"ials"')
  ) v(key, options, stored);
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, NULL, '{"factors": 2, "iterations": 1, "user_column": "x", "course_column": "y", "weight_column": "z"}'))
			 -> 'options' FROM hostile_rows) ?| ARRAY['user_column', 'course_column', 'weight_column'],
	false, 'train_agg: column options are accepted and not stored in the model');

-- Options that are not an object, and odd keys ---------------------------------------------------

SELECT is(pg_temp.outcome(format('SELECT kpreco.train_agg(user_id, course_id, NULL, %L) FROM hostile_rows', options)),
	'22023: options must be a JSON object', format('train_agg: options %s', options))
  FROM unnest(ARRAY['"factors"', '64', 'true', 'null', '[]', '[{"factors": 2}]']) options;
SELECT is(pg_temp.outcome(format('SELECT kpreco.train(''hostile_not_object'', ''hostile_rows'', %L)', options)),
	'22023: options must be a JSON object', format('train: options %s', options))
  FROM unnest(ARRAY['"factors"', '64', 'true', 'null', '[]', '[{"factors": 2}]']) options;
SELECT alike(pg_temp.outcome(format('SELECT kpreco.train_agg(user_id, course_id, NULL, %L) FROM hostile_rows', jsonb_build_object(key, 2))),
	'22023: %unknown option%', format('train_agg: unknown key %s', left(to_json(key)::text, 40)))
  FROM unnest(ARRAY['', ' ', 'Factors', 'factors ', ' factors', 'FACTORS', 'fäctors', '因子', E'factors\n', repeat('k', 10000)]) key;
SELECT alike(pg_temp.outcome(format('SELECT kpreco.train(''hostile_unknown_key'', ''hostile_rows'', %L)', jsonb_build_object(key, 2))),
	'22023: %unknown option%', format('train: unknown key %s', to_json(key)))
  FROM unnest(ARRAY['', 'Factors', 'learning_rte']) key;
SELECT alike(pg_temp.outcome($$SELECT kpreco.train_agg(user_id, course_id, NULL, '{"factors": {"factors": {"factors": [[[[[[[[[[2]]]]]]]]]]}}}') FROM hostile_rows$$),
	'22023: %factors%', 'a deeply nested value');
SELECT alike(pg_temp.outcome(format('SELECT kpreco.train_agg(user_id, course_id, NULL, %L) FROM hostile_rows',
									 (SELECT jsonb_object_agg('key' || i, i) FROM generate_series(1, 10000) i))),
	'22023: %unknown option%', '10,000 unknown keys');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, NULL, '{"factors": "many", "factors": 3, "iterations": 1}')) -> 'options' ->> 'factors'
			 FROM hostile_rows),
	'3', 'a repeated key: jsonb keeps the last value, which is used');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, NULL, '{}')) -> 'options' ->> 'factors' FROM hostile_rows),
	'64', 'empty options mean the defaults');

-- Column options of train -----------------------------------------------------------------------

SELECT lives_ok($$SELECT kpreco.train('hostile_columns', 'SELECT user_id AS "the user", course_id AS "Kurs ''1''", hours AS "重み" FROM hostile_rows',
	'{"user_column": "the user", "course_column": "Kurs ''1''", "weight_column": "重み", "factors": 2, "iterations": 1}')$$,
	'column names with spaces, quotes, capitals and Chinese');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'hostile_rows', format('{"user_column": %s}', to_json(repeat('u', 64)))::jsonb)$$,
	'22023', 'option "user_column" must be between 1 and 63 bytes long', 'a column name longer than 63 bytes is refused before it could be truncated');
SELECT is((SELECT options FROM kpreco.model_registry WHERE name = 'hostile_columns') ->> 'course_column', 'Kurs ''1''',
	'the options are stored as given');
SELECT lives_ok($$SELECT kpreco.train('hostile_columns')$$, 'and replayed by train(model)');

-- Settings ------------------------------------------------------------------------------------------

SELECT is(pg_temp.outcome(format('SET LOCAL %s = %L', name, value)), result, format('SET %s = %s', name, left(value, 20)))
  FROM (VALUES
	('kpreco.blas_threads', '0', '22023: 0 is outside the valid range for parameter "kpreco.blas_threads" (1 .. 64)'),
	('kpreco.blas_threads', '65', '22023: 65 is outside the valid range for parameter "kpreco.blas_threads" (1 .. 64)'),
	('kpreco.blas_threads', '-2147483648', '22023: -2147483648 is outside the valid range for parameter "kpreco.blas_threads" (1 .. 64)'),
	('kpreco.blas_threads', 'many', '22023: invalid value for parameter "kpreco.blas_threads": "many"'),
	('kpreco.blas_threads', '2', 'ok'),
	('kpreco.max_training_memory', '1kB', '22023: 1 kB is outside the valid range for parameter "kpreco.max_training_memory" (1024 .. 2147483647)'),
	('kpreco.max_training_memory', '-1', '22023: -1 kB is outside the valid range for parameter "kpreco.max_training_memory" (1024 .. 2147483647)'),
	('kpreco.max_training_memory', '3TB', '22023: invalid value for parameter "kpreco.max_training_memory": "3TB"'),
	('kpreco.max_training_memory', 'lots', '22023: invalid value for parameter "kpreco.max_training_memory": "lots"'),
	('kpreco.max_training_memory', '1MB', 'ok'),
	('kpreco.max_training_memory', '2047GB', 'ok'),
	('kpreco.default_model', '', 'ok'),
	('kpreco.default_model', repeat('模', 1000), 'ok'),
	('kpreco.no_such_setting', '1', '42602: invalid configuration parameter name "kpreco.no_such_setting"')
  ) v(name, value, result);
RESET kpreco.max_training_memory;
RESET kpreco.default_model;
SET LOCAL kpreco.blas_threads = 2;
SELECT is((SELECT kpreco.train_agg(user_id, course_id, NULL, '{"factors": 8, "iterations": 3}')::bytea FROM hostile_rows) IS NOT NULL, true,
	'training with 2 BLAS threads');
RESET kpreco.blas_threads;

SELECT is((SELECT pid FROM hostile_session), pg_backend_pid(), 'same session as at the start: no backend crashed');
SELECT is((SELECT 1), 1, 'the server still answers');

SELECT * FROM finish();
ROLLBACK;
