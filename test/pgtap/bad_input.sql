-- Bad input of every kind: a clean error with the right SQLSTATE, never a crash.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(63);

-- The error a statement raises, as {"sqlstate", "message", "detail", "hint"}.
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	state text;
	message text;
	detail text;
	hint text;
BEGIN
	EXECUTE statement;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN jsonb_build_object('sqlstate', state, 'message', message, 'detail', detail, 'hint', hint);
END
$$;

CREATE TEMP TABLE tap_rows AS
SELECT u AS user_id, c AS course_id, ((u + c) % 3)::real AS weight
  FROM generate_series(1, 30) u, generate_series(1, 12) c;

-- Empty and useless sources.
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'SELECT * FROM tap_rows WHERE false')$$,
	'22000', 'no interactions to train on', 'an empty source is refused');
SELECT throws_ok($$SELECT kpreco.train_agg(1, 1, 1, NULL) WHERE false$$,
	'22000', 'no interactions to train on', 'the aggregate over no rows is refused');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'SELECT user_id, course_id, 0 AS weight FROM tap_rows', '{"weight_column": "weight"}')$$,
	'22000', 'no interactions to train on', 'all weights zero is refused');
SELECT is(pg_temp.error_of($$SELECT kpreco.train('tap_bad', 'SELECT user_id, course_id, 0 AS weight FROM tap_rows', '{"weight_column": "weight"}')$$) ->> 'detail',
	'Of 360 rows read, 0 have a NULL id and 360 a zero weight.', 'the error says why nothing was left');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'SELECT NULL::bigint AS user_id, course_id FROM tap_rows')$$,
	'22000', 'no interactions to train on', 'only NULL ids is refused');

-- Weights that are not finite and >= 0: the error counts them and names the first.
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'SELECT user_id, course_id, weight - 1 AS weight FROM tap_rows ORDER BY user_id, course_id', '{"weight_column": "weight"}')$$,
	'22000', '120 interaction rows have a negative weight', 'negative weights are refused and counted');
SELECT is(pg_temp.error_of($$SELECT kpreco.train('tap_bad', 'SELECT user_id, course_id, weight - 1 AS weight FROM tap_rows ORDER BY user_id, course_id', '{"weight_column": "weight"}')$$) ->> 'detail',
	'The first is row 2 (user_id 1, course_id 2).', 'the first negative row is named');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'SELECT user_id, course_id, CASE WHEN user_id = 7 THEN ''NaN'' ELSE weight END AS weight FROM tap_rows', '{"weight_column": "weight"}')$$,
	'22000', '12 interaction rows have a NaN weight', 'NaN weights are refused and counted');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'SELECT user_id, course_id, CASE WHEN course_id = 5 THEN ''Infinity'' ELSE weight END AS weight FROM tap_rows', '{"weight_column": "weight"}')$$,
	'22000', '30 interaction rows have an infinite weight', 'infinite weights are refused and counted');
SELECT throws_ok($$SELECT kpreco.train_agg(u, 1, '-Infinity', NULL) FROM generate_series(1, 2) u$$,
	'22000', '2 interaction rows have an infinite weight', 'minus infinity is infinite');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'SELECT user_id, course_id, weight * 1e38 AS weight FROM tap_rows', '{"weight_column": "weight", "factors": 4, "iterations": 3}')$$,
	'22003', NULL, 'weights too large to train with are an error');

-- NULL ids are skipped.
SELECT lives_ok($$SELECT kpreco.train('tap_nulls', 'SELECT CASE WHEN user_id = 3 THEN NULL ELSE user_id END AS user_id, course_id FROM tap_rows', '{"factors": 4, "iterations": 3}')$$,
	'rows with a NULL id are skipped');
SELECT is((SELECT kpreco.model_info(model) ->> 'rows_skipped' FROM kpreco.model_versions WHERE name = 'tap_nulls'),
	'12', 'and counted in the model');
SELECT is((SELECT n_users FROM kpreco.models WHERE name = 'tap_nulls'), 29, 'the user with NULL ids only is left out');

-- A single user.
SELECT lives_ok($$SELECT kpreco.train('tap_one', 'SELECT 1 AS user_id, c AS course_id FROM generate_series(1, 5) c', '{"factors": 4, "iterations": 3}')$$,
	'one user trains');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1, 10, 'tap_one')$$, 'the only user took every course');
SELECT is((SELECT count(*) FROM kpreco.similar_courses(1, 10, 'tap_one')), 4::bigint, 'every other course is similar');
SELECT results_eq($$SELECT course_id, score, rank FROM kpreco.recommend(2, 3, 'tap_one')$$,
	$$VALUES (1::bigint, NULL::real, 1), (2, NULL, 2), (3, NULL, 3)$$, 'an unknown user gets popular courses');

-- Ids beyond int32.
SELECT lives_ok($$SELECT kpreco.train('tap_wide', 'SELECT user_id * 4294967296 AS user_id, course_id - 9223372036854775807 AS course_id FROM tap_rows WHERE weight > 0', '{"factors": 4, "iterations": 3}')$$,
	'ids beyond int32 train');
SELECT results_eq($$SELECT min(user_id), max(user_id) FROM kpreco.user_factors('tap_wide')$$,
	$$VALUES (4294967296::bigint, 128849018880::bigint)$$, 'user ids are kept whole');
SELECT results_eq($$SELECT min(course_id), max(course_id) FROM kpreco.course_factors('tap_wide')$$,
	$$VALUES (-9223372036854775806::bigint, -9223372036854775795::bigint)$$, 'course ids are kept whole');
SELECT is((SELECT count(*) FROM kpreco.recommend(4294967296, 100, 'tap_wide')), 4::bigint,
	'a wide user id is found: 12 courses less the 8 taken');
SELECT ok(kpreco.predict(4294967296, -9223372036854775806, 'tap_wide') IS NOT NULL, 'predict finds wide ids');

-- k.
SELECT lives_ok($$SELECT kpreco.train('tap_k', 'SELECT user_id, course_id FROM tap_rows WHERE weight > 0', '{"factors": 4, "iterations": 3}')$$,
	'a model to serve from');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 0, 'tap_k')$$, '22023', 'k must be at least 1, not 0', 'k = 0 is refused');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, -3, 'tap_k')$$, '22023', 'k must be at least 1, not -3', 'a negative k is refused');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(999, 0, 'tap_k')$$, '22023', 'k must be at least 1, not 0', 'k = 0 is refused for unknown users too');
SELECT throws_ok($$SELECT * FROM kpreco.similar_courses(1, 0, 'tap_k')$$, '22023', 'k must be at least 1, not 0', 'k = 0 is refused by similar_courses');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1, NULL, 'tap_k')$$, 'k NULL: no rows');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(1, NULL, 'tap_k')$$, 'k NULL: no similar courses');
SELECT is_empty($$SELECT * FROM kpreco.recommend(NULL, 10, 'tap_k')$$, 'user NULL: no rows');
SELECT is((SELECT count(*) FROM kpreco.recommend(1, 2147483647, 'tap_k')), 4::bigint,
	'k = INT_MAX is capped at the courses not taken');
SELECT is((SELECT count(*) FROM kpreco.recommend(999, 2147483647, 'tap_k')), 12::bigint,
	'k = INT_MAX for an unknown user is capped at the catalog');
SELECT is((SELECT count(*) FROM kpreco.similar_courses(1, 2147483647, 'tap_k')), 11::bigint,
	'k = INT_MAX for similar courses is capped at the other courses');

-- Unknown models, users and courses.
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 10, 'tap_no_such_model')$$,
	'42704', 'kpreco model "tap_no_such_model" does not exist', 'an unknown model is an error');
SELECT throws_ok($$SELECT kpreco.train('tap_no_such_model')$$,
	'42704', 'kpreco model "tap_no_such_model" does not exist', 'retraining an unknown model is an error');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(999, 10, 'tap_k')$$, 'an unknown course has no similar courses');
SELECT is(kpreco.predict(999, 1, 'tap_k'), NULL, 'predict for an unknown user is NULL');
SELECT is(kpreco.predict(1, 999, 'tap_k'), NULL, 'predict for an unknown course is NULL');

-- Options.
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'tap_rows', '{"factors": "64"}')$$,
	'22023', 'option "factors" must be an integer', 'factors as a string');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'tap_rows', '{"solver": 1}')$$,
	'22023', 'option "solver" must be a string', 'solver as a number');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'tap_rows', '[{"factors": 64}]')$$,
	'22023', 'options must be a JSON object', 'options as an array');
SELECT throws_ok($$SELECT kpreco.train_agg(user_id, course_id, NULL, '[1]') FROM tap_rows$$,
	'22023', 'options must be a JSON object', 'options as an array, to the aggregate');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'tap_rows', '{"factors": 8, "learning_rte": 0.1}')$$,
	'22023', 'unknown option "learning_rte"', 'an unknown key');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'tap_rows', '{"factors": 1025}')$$,
	'22023', 'option "factors" must be between 1 and 1024', 'factors beyond 1024');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'tap_rows', '{"iterations": 1001}')$$,
	'22023', 'option "iterations" must be between 0 and 1000', 'iterations beyond 1000');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'tap_rows', '{"weight_column": ["weight"]}')$$,
	'22023', 'option "weight_column" must be a column name string', 'a column option that is not a string');
SELECT throws_ok($$SELECT kpreco.train(repeat('m', 201), 'tap_rows')$$,
	'22023', 'model name must be between 1 and 200 bytes long', 'a model name too long');
-- Seeds are integers up to 2^63 - 1 and are kept exactly.
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(1, 1, 1, '{"factors": 1, "iterations": 0, "seed": 9007199254740993}'))
		   -> 'options' ->> 'seed'), '9007199254740993', 'a seed above 2^53 is kept exactly');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(1, 1, 1, '{"factors": 1, "iterations": 0, "seed": 9223372036854775807}'))
		   -> 'options' ->> 'seed'), '9223372036854775807', 'the largest seed is kept exactly');

-- Too large for kpreco.max_training_memory: refused before any work.
SET LOCAL kpreco.max_training_memory = '4MB';
SET LOCAL statement_timeout = '20s';
SELECT throws_like($$SELECT kpreco.train('tap_bad', 'SELECT u AS user_id, u % 1000 AS course_id FROM generate_series(1, 30000) u', '{"factors": 1024, "iterations": 1000}')$$,
	'training needs about % MB, more than kpreco.max_training_memory (4 MB)', 'a training too large is refused');
SELECT is(pg_temp.error_of($$SELECT kpreco.train('tap_bad', 'SELECT u AS user_id, u % 1000 AS course_id FROM generate_series(1, 30000) u', '{"factors": 1024, "iterations": 1000}')$$)
		  - 'message' - 'detail',
	'{"sqlstate": "54000", "hint": "Raise kpreco.max_training_memory, use fewer factors, or train on fewer interactions."}',
	'with SQLSTATE 54000 and a hint');
SELECT throws_like($$SELECT kpreco.train('tap_bad', 'SELECT u AS user_id, u % 1000 AS course_id FROM generate_series(1, 200000) u', '{"factors": 1}')$$,
	'the interactions need about % MB, more than kpreco.max_training_memory (4 MB)', 'too many rows are refused while collecting them');
RESET statement_timeout;
RESET kpreco.max_training_memory;

-- Damaged model values.
CREATE TEMP TABLE tap_model AS
SELECT kpreco.train_agg(user_id, course_id, weight, '{"factors": 4, "iterations": 2}')::bytea AS bytes FROM tap_rows;
SELECT throws_like($$SELECT (substring(bytes FROM 1 FOR length(bytes) - 1))::kpreco.model FROM tap_model$$,
	'invalid kpreco.model value: %', 'a truncated model is refused');
SELECT throws_ok($$SELECT (substring(bytes FROM 1 FOR length(bytes) - 1))::kpreco.model FROM tap_model$$,
	'XX001', NULL, 'a truncated model is data_corrupted');
SELECT throws_ok($$SELECT set_byte(bytes, length(bytes) / 2, get_byte(bytes, length(bytes) / 2) # 1)::kpreco.model FROM tap_model$$,
	'XX001', 'invalid kpreco.model value: model checksum mismatch: the value is damaged', 'a flipped bit is refused');
SELECT throws_ok($$SELECT decode(repeat('0123456789abcdef', 40), 'hex')::kpreco.model$$,
	'XX001', NULL, 'random bytes are refused');
SELECT throws_ok($$SELECT 'this is not base64'::kpreco.model$$,
	'22P02', 'invalid input syntax for type kpreco.model', 'garbage text is refused');
SELECT throws_ok($$SELECT encode(set_byte(bytes, 100, get_byte(bytes, 100) # 128), 'base64')::kpreco.model FROM tap_model$$,
	'22P02', NULL, 'damaged text is refused');
SELECT lives_ok($$SELECT bytes::kpreco.model FROM tap_model$$, 'the undamaged value is accepted');

-- Sources.
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'tap_no_such_table')$$,
	'42P01', 'relation "tap_no_such_table" does not exist', 'an unknown source table');
SELECT throws_ok($$SELECT kpreco.train('tap_bad', 'tap_rows', '{"user_column": "no_such_column"}')$$,
	'42703', NULL, 'an unknown column');

SELECT is((SELECT 1), 1, 'the server is still up');
SELECT * FROM finish();
ROLLBACK;
