-- Hostile input to training: kpreco.train (both forms), kpreco.train_agg and
-- kpreco.source_clause.  Every case ends in a documented result or a clean
-- error with its exact SQLSTATE; the last tests show the backend survived.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(104);

-- A crash of any backend makes the postmaster end every session and restart
-- them all (pg_postmaster_start_time() is not reset by that), so this
-- session, its pid and its temporary tables outliving every case below is
-- the proof that no case crashed the server.
CREATE TEMP TABLE hostile_session AS SELECT pg_backend_pid() AS pid;

-- The bytes of a model after its 64-byte header (which holds rows_read and
-- the checksum): equal bodies mean equal training results.
CREATE FUNCTION pg_temp.body(m kpreco.model) RETURNS bytea LANGUAGE sql AS $$
SELECT substring(m::bytea FROM 65)
$$;

CREATE TEMP TABLE hostile_rows AS
SELECT u AS user_id, c AS course_id, (1 + (u * c) % 3)::real AS weight
  FROM generate_series(1, 20) u, generate_series(1, 8) c WHERE (u + c) % 3 <> 0;
CREATE TEMP TABLE hostile_empty (user_id bigint, course_id bigint, weight real);
CREATE TEMP VIEW hostile_empty_view AS SELECT * FROM hostile_empty;
\set small '''{"factors": 2, "iterations": 2}'''

SELECT is_empty($$SELECT * FROM kpreco.last_training_log()$$, 'last_training_log: nothing before the first training of the session');

-- NULL in every argument --------------------------------------------------------

SELECT throws_ok($$SELECT kpreco.train(NULL, 'hostile_rows')$$,
	'22023', 'model name must be between 1 and 200 bytes long', 'train: NULL model name');
SELECT throws_ok($$SELECT kpreco.train('', 'hostile_rows')$$,
	'22023', 'model name must be between 1 and 200 bytes long', 'train: empty model name');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', NULL)$$,
	'22023', 'source must name a table or view, or be a query', 'train: NULL source');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', NULL, NULL)$$,
	'22023', 'source must name a table or view, or be a query', 'train: NULL source and options');
SELECT throws_ok($$SELECT kpreco.train(NULL, NULL, NULL)$$,
	'22023', 'model name must be between 1 and 200 bytes long', 'train: every argument NULL');
SELECT lives_ok($$SELECT kpreco.train('hostile_null_options', 'hostile_rows', NULL)$$,
	'train: NULL options mean the defaults');
SELECT is((SELECT options FROM kpreco.model_registry WHERE name = 'hostile_null_options'), '{}'::jsonb,
	'and are stored as {}');
SELECT is((SELECT options ->> 'factors' FROM kpreco.models WHERE name = 'hostile_null_options'), '64',
	'the model has the default factors');
SELECT throws_ok($$SELECT kpreco.train(NULL::text)$$,
	'42704', 'kpreco model "<NULL>" does not exist', 'train(model): NULL model name');
SELECT throws_ok($$SELECT kpreco.source_clause(NULL)$$,
	'22023', 'source must name a table or view, or be a query', 'source_clause: NULL');
SELECT throws_ok($$SELECT kpreco.source_clause(E' \t\n ')$$,
	'22023', 'source must name a table or view, or be a query', 'source_clause: only white space');
SELECT throws_ok($$SELECT kpreco.train_agg(NULL, NULL, NULL, NULL)$$,
	'22000', 'no interactions to train on', 'train_agg: one row, every argument NULL');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(CASE WHEN user_id % 2 = 0 THEN user_id END, course_id, weight, :small))
			 ->> 'rows_skipped' FROM hostile_rows),
	(SELECT count(*)::text FROM hostile_rows WHERE user_id % 2 = 1), 'train_agg: rows with a NULL user are skipped and counted');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, CASE WHEN course_id > 2 THEN course_id END, weight, :small))
			 ->> 'n_courses' FROM hostile_rows),
	'6', 'train_agg: rows with a NULL course are skipped');
SELECT is((SELECT kpreco.train_agg(user_id, course_id, NULL, :small)::bytea FROM hostile_rows),
	(SELECT kpreco.train_agg(user_id, course_id, 1, :small)::bytea FROM hostile_rows),
	'train_agg: a NULL weight is a weight of 1');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, weight, NULL)) -> 'options' ->> 'factors' FROM hostile_rows),
	'64', 'train_agg: NULL options mean the defaults');

-- Weights that are not finite and >= 0, and extreme ones that are -----------------

SELECT throws_ok(format($$SELECT kpreco.train_agg(u, 1, %L::real, NULL) FROM generate_series(1, 3) u$$, w),
	'22000', '3 interaction rows have ' || what || ' weight', 'train_agg: weight ' || w)
  FROM (VALUES ('NaN', 'a NaN'), ('Infinity', 'an infinite'), ('-Infinity', 'an infinite'),
			   ('-1', 'a negative'), ('-1e-45', 'a negative'), ('-3e38', 'a negative')) v(w, what);
SELECT throws_ok($$SELECT kpreco.train_agg(u, 1, w, NULL) FROM generate_series(1, 3) u, (VALUES ('NaN'::real), (-1), ('Infinity')) v(w)$$,
	'22000', '3 interaction rows have a NaN weight', 'NaN, negative and infinite weights together: NaN is reported first');
SELECT throws_ok($$SELECT kpreco.train_agg(u, c, '-0'::real, NULL) FROM generate_series(1, 3) u, generate_series(1, 2) c$$,
	'22000', 'no interactions to train on', 'a weight of -0 is a zero weight');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, '1e-45'::real, :small)) ->> 'n_interactions' FROM hostile_rows),
	(SELECT count(*)::text FROM hostile_rows), 'denormal weights (1e-45) train');
SELECT throws_ok($$SELECT kpreco.train_agg(user_id, course_id, '3e38'::real, '{"factors": 2, "iterations": 2}') FROM hostile_rows$$,
	'22003', 'training diverged while training', 'weights of 3e38 with alpha 1 overflow the solver: a clean error');
SELECT throws_ok($$SELECT kpreco.train_agg(user_id, course_id, '3.4028235e38'::real, '{"factors": 2, "iterations": 2}') FROM hostile_rows$$,
	'22003', 'training diverged while training', 'the largest real weight with alpha 1: a clean error');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, '3e38'::real, '{"factors": 2, "iterations": 2, "alpha": 0}')) ->> 'n_interactions' FROM hostile_rows),
	(SELECT count(*)::text FROM hostile_rows), 'weights of 3e38 with alpha 0 train');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, CASE WHEN user_id % 2 = 0 THEN '1e-45'::real ELSE '3e38' END,
			 '{"factors": 2, "iterations": 2, "alpha": 0}')) ->> 'n_interactions' FROM hostile_rows),
	(SELECT count(*)::text FROM hostile_rows), 'denormal and huge weights mixed, alpha 0, train');
-- Each weight is finite, their sum is not (README: duplicates are summed;
-- infinite weights are a data_exception).
SELECT throws_ok($$SELECT kpreco.train_agg(1, 1, '3e38'::real, '{"factors": 2, "alpha": 0}') FROM generate_series(1, 2)$$,
	'22000', NULL, 'duplicate pairs whose summed weight overflows to infinity are refused as data');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'SELECT user_id, course_id, 1e39::float8 AS w FROM hostile_rows', '{"weight_column": "w"}')$$,
	'22003', 'value out of range: overflow', 'a float8 weight beyond real is refused by the cast');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'SELECT user_id, course_id, ''NaN''::numeric AS w FROM hostile_rows', '{"weight_column": "w"}')$$,
	'22000', '106 interaction rows have a NaN weight', 'a numeric NaN weight is a NaN weight');

-- Duplicate and enormous ids -------------------------------------------------------

SELECT results_eq($$SELECT m ->> 'n_interactions', m ->> 'rows_read', m ->> 'n_users'
					 FROM (SELECT kpreco.model_info(kpreco.train_agg(7, 7, 1, '{"factors": 2}')) AS m FROM generate_series(1, 1000)) t$$,
	$$VALUES ('1', '1000', '1')$$, '1000 copies of one pair: one interaction, 1000 rows read');
SELECT is((SELECT pg_temp.body(kpreco.train_agg(u, c, 1, :small)) FROM generate_series(1, 4) u, generate_series(1, 3) c, generate_series(1, 3) copy),
	(SELECT pg_temp.body(kpreco.train_agg(u, c, 3, :small)) FROM generate_series(1, 4) u, generate_series(1, 3) c),
	'three copies of weight 1 train like one row of weight 3');
CREATE TEMP TABLE hostile_wide AS
SELECT * FROM (VALUES (9223372036854775807, -9223372036854775808), (-9223372036854775808, 9223372036854775807),
					  (-9223372036854775807, 0), (0, -9223372036854775807), (9223372036854775807, 9223372036854775807)) v(user_id, course_id);
SELECT lives_ok($$SELECT kpreco.train('hostile_wide', 'hostile_wide', '{"factors": 2, "iterations": 3}')$$,
	'ids at both ends of bigint train');
SELECT results_eq($$SELECT user_id FROM kpreco.user_factors('hostile_wide') ORDER BY 1$$,
	$$VALUES ('-9223372036854775808'::bigint), (-9223372036854775807), (0), (9223372036854775807)$$, 'user ids come back whole');
SELECT results_eq($$SELECT course_id FROM kpreco.course_factors('hostile_wide') ORDER BY 1$$,
	$$VALUES ('-9223372036854775808'::bigint), (-9223372036854775807), (0), (9223372036854775807)$$, 'course ids come back whole');
SELECT results_eq($$SELECT course_id FROM kpreco.recommend(9223372036854775807, 10, 'hostile_wide') ORDER BY 1$$,
	$$VALUES (-9223372036854775807::bigint), (0)$$, 'the largest id is a known user whose two courses are excluded');
SELECT ok(kpreco.predict(-9223372036854775808, 9223372036854775807, 'hostile_wide') IS NOT NULL,
	'predict finds the smallest user and the largest course');

-- Empty and single-row sources -----------------------------------------------------

SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'hostile_empty')$$,
	'22000', 'no interactions to train on', 'an empty table');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'hostile_empty_view')$$,
	'22000', 'no interactions to train on', 'an empty view');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'VALUES (1::bigint, 2::bigint) LIMIT 0', '{"user_column": "column1", "course_column": "column2"}')$$,
	'22000', 'no interactions to train on', 'a VALUES source with LIMIT 0');
SELECT is_empty($$SELECT g, kpreco.train_agg(user_id, course_id, weight, NULL) FROM hostile_empty, generate_series(1, 3) g GROUP BY g$$,
	'train_agg with GROUP BY over no rows: no groups, no error');
SELECT throws_ok($$SELECT g, kpreco.train_agg(user_id, course_id, weight, NULL) FILTER (WHERE false) FROM hostile_rows, generate_series(1, 2) g GROUP BY g$$,
	'22000', 'no interactions to train on', 'train_agg per group with every row filtered out');
SELECT lives_ok($$SELECT kpreco.train('hostile_single', 'SELECT 5 AS user_id, 50 AS course_id', '{"factors": 2, "iterations": 2}')$$,
	'a single-row source trains');
SELECT results_eq($$SELECT n_users, n_courses, n_interactions FROM kpreco.models WHERE name = 'hostile_single'$$,
	$$VALUES (1, 1, 1::bigint)$$, 'one user, one course, one interaction');
SELECT is_empty($$SELECT * FROM kpreco.recommend(5, 10, 'hostile_single')$$, 'its only user has nothing left to take');
SELECT results_eq($$SELECT * FROM kpreco.recommend(6, 10, 'hostile_single')$$,
	$$VALUES (50::bigint, NULL::real, 1)$$, 'another user gets the only course, not personal');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(50, 10, 'hostile_single')$$, 'the only course has no similar course');
SELECT ok(kpreco.predict(5, 50, 'hostile_single') IS NOT NULL, 'the only pair has a score');

-- Sources that fail half-way --------------------------------------------------------

CREATE FUNCTION pg_temp.rows_then_error(n integer) RETURNS TABLE (user_id bigint, course_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 1000 LOOP
		IF i > n THEN
			RAISE EXCEPTION 'source gave up after % rows', n USING ERRCODE = 'HX001';
		END IF;
		user_id := i;
		course_id := i % 7;
		RETURN NEXT;
	END LOOP;
END
$$;
SELECT throws_ok($$SELECT kpreco.train('hostile_halfway', 'SELECT u AS user_id, 1 / (u - 500) AS course_id FROM generate_series(1, 1000) u')$$,
	'22012', 'division by zero', 'a query that divides by zero at row 500');
SELECT throws_ok($$SELECT kpreco.train('hostile_halfway', 'SELECT * FROM pg_temp.rows_then_error(300)')$$,
	'HX001', 'source gave up after 300 rows', 'a function that raises after 300 rows');
SELECT throws_ok($$SELECT kpreco.train_agg(user_id, course_id, NULL, NULL) FROM pg_temp.rows_then_error(300)$$,
	'HX001', 'source gave up after 300 rows', 'the aggregate over a function that raises after 300 rows');
SELECT lives_ok($$SELECT kpreco.train('hostile_retrain', 'SELECT * FROM pg_temp.rows_then_error(1000)', '{"factors": 2, "iterations": 2}')$$,
	'the same function trains when it does not raise');
CREATE TEMP TABLE hostile_retrain_served AS SELECT * FROM kpreco.recommend(1, 3, 'hostile_retrain');
SELECT throws_ok($$SELECT kpreco.train('hostile_retrain', 'SELECT * FROM pg_temp.rows_then_error(999)', '{"factors": 2, "iterations": 2}')$$,
	'HX001', NULL, 'a retraining whose source raises at its last row');
SELECT results_eq($$SELECT version FROM kpreco.models WHERE name = 'hostile_retrain'$$,
	$$SELECT active_version FROM kpreco.model_registry WHERE name = 'hostile_retrain'$$,
	'the failed retraining added no version');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 3, 'hostile_retrain')$$, $$SELECT * FROM hostile_retrain_served$$,
	'and the first version still serves');

-- Source columns of other types -----------------------------------------------------

SELECT results_eq($$SELECT (kpreco.model_info(kpreco.train_agg(user_id::bigint, course_id::bigint, NULL, '{"factors": 2}')) ->> 'n_users')::int
					 FROM (VALUES (' 7 '::text, '+1'::text), ('-9', '1'), ('0008', '2')) v(user_id, course_id)$$,
	$$VALUES (3)$$, 'text ids that cast to bigint');
SELECT lives_ok($$SELECT kpreco.train('hostile_text_ids', $q$SELECT user_id::text AS user_id, ' ' || course_id::text AS course_id FROM hostile_rows$q$, '{"factors": 2, "iterations": 2}')$$,
	'train: text id columns that cast');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', $q$SELECT 'abc'::text AS user_id, '1'::text AS course_id$q$)$$,
	'22P02', 'invalid input syntax for type bigint: "abc"', 'train: a text id that does not cast');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', $q$SELECT ''::text AS user_id, '1'::text AS course_id$q$)$$,
	'22P02', 'invalid input syntax for type bigint: ""', 'train: an empty text id');
SELECT lives_ok($$SELECT kpreco.train('hostile_numeric_ids', 'VALUES (1.5::numeric, 2.4::numeric), (2.5, -2.5), (-0.4, 7)',
	'{"user_column": "column1", "course_column": "column2", "factors": 2}')$$, 'train: numeric ids with fractions');
SELECT results_eq($$SELECT user_id FROM kpreco.user_factors('hostile_numeric_ids') ORDER BY 1$$,
	$$VALUES (0::bigint), (2), (3)$$, 'are rounded like ::bigint (half away from zero)');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'SELECT 9223372036854775807.5::numeric AS user_id, 1 AS course_id')$$,
	'22003', 'bigint out of range', 'train: a numeric id just beyond bigint');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'SELECT 1e300::float8 AS user_id, 1 AS course_id')$$,
	'22003', 'bigint out of range', 'train: a float8 id of 1e300');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', $q$SELECT 'NaN'::float8 AS user_id, 1 AS course_id$q$)$$,
	'22003', 'bigint out of range', 'train: a float8 NaN id');
SELECT lives_ok($$SELECT kpreco.train('hostile_int8_ids', 'SELECT user_id::bigint, course_id::bigint FROM hostile_rows', '{"factors": 2, "iterations": 2}')$$,
	'train: bigint ids');
SELECT lives_ok($$SELECT kpreco.train('hostile_int2_ids', 'SELECT user_id::smallint, course_id::integer FROM hostile_rows', '{"factors": 2, "iterations": 2}')$$,
	'train: smallint and integer ids');
SELECT is((SELECT model::bytea FROM kpreco.model_versions WHERE name = 'hostile_int2_ids'),
	(SELECT model::bytea FROM kpreco.model_versions WHERE name = 'hostile_int8_ids'), 'give the same model as bigint ids');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'SELECT user_id, course_id, true AS w FROM hostile_rows', '{"weight_column": "w"}')$$,
	'42846', 'cannot cast type boolean to real', 'train: a boolean weight column');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', $q$SELECT user_id, course_id, 'heavy'::text AS w FROM hostile_rows$q$, '{"weight_column": "w"}')$$,
	'22P02', 'invalid input syntax for type real: "heavy"', 'train: a text weight that does not cast');
SELECT lives_ok($$SELECT kpreco.train('hostile_text_weight', 'SELECT user_id, course_id, weight::text AS w FROM hostile_rows', '{"weight_column": "w", "factors": 2, "iterations": 2}')$$,
	'train: a text weight that casts');
SELECT lives_ok($$SELECT kpreco.train('hostile_real_weight', 'SELECT user_id, course_id, weight AS w FROM hostile_rows', '{"weight_column": "w", "factors": 2, "iterations": 2}')$$,
	'train: the same weights as real');
SELECT is((SELECT model::bytea FROM kpreco.model_versions WHERE name = 'hostile_text_weight'),
	(SELECT model::bytea FROM kpreco.model_versions WHERE name = 'hostile_real_weight'), 'text weights train like real ones');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'SELECT current_date AS user_id, 1 AS course_id')$$,
	'42846', 'cannot cast type date to bigint', 'train: a date id column');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'SELECT ARRAY[1] AS user_id, 1 AS course_id')$$,
	'42846', 'cannot cast type integer[] to bigint', 'train: an array id column');
SELECT lives_ok($$SELECT kpreco.train('hostile_same_column', 'hostile_rows', '{"course_column": "user_id", "factors": 2, "iterations": 2}')$$,
	'train: one column as both user and course id');

-- The aggregate in every SQL context --------------------------------------------------

SELECT throws_ok($$SELECT kpreco.train_agg(user_id, course_id, weight, NULL) OVER (ORDER BY user_id) FROM hostile_rows$$,
	'0A000', NULL, 'train_agg as a window function is refused');
SELECT is((SELECT a::bytea = b::bytea FROM (SELECT kpreco.train_agg(user_id, course_id, weight, :small) AS a,
												   kpreco.train_agg(user_id, course_id, weight, :small) AS b FROM hostile_rows) t),
	true, 'the same aggregate twice in one query gives two equal models');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(DISTINCT user_id, course_id, weight, :small)) ->> 'rows_read'
			 FROM hostile_rows, generate_series(1, 3)),
	(SELECT count(*)::text FROM hostile_rows), 'DISTINCT inside the aggregate');
SELECT is((SELECT count(*) FROM (SELECT user_id % 3, kpreco.train_agg(user_id, course_id, weight, :small) FROM hostile_rows GROUP BY ROLLUP(user_id % 3)) t),
	4::bigint, 'GROUP BY ROLLUP trains one model per group and one overall');
SELECT lives_ok($$SELECT kpreco.train('hostile_nested',
	$q$SELECT user_id, course_id + 0 * kpreco.train('hostile_nested', 'SELECT 1 AS user_id, 1 AS course_id', '{"factors": 1, "iterations": 1, "keep_versions": 1000}') AS course_id FROM hostile_rows WHERE user_id = 1$q$,
	'{"factors": 2, "iterations": 2, "keep_versions": 1000}')$$, 'a source that itself trains the same model');
SELECT is((SELECT count(*) FROM kpreco.models WHERE name = 'hostile_nested'), 1::bigint + (SELECT count(*) FROM hostile_rows WHERE user_id = 1),
	'every training of the nested source is a version');
SELECT is((SELECT n_users FROM kpreco.models WHERE name = 'hostile_nested' AND active), 1, 'the outer training is the active version');

-- Sources and column options that try to run other SQL --------------------------------

CREATE TEMP TABLE hostile_victim AS SELECT 1 AS x;
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'SELECT user_id, course_id FROM hostile_rows; DROP TABLE hostile_victim')$$,
	'42601', NULL, 'a query followed by another statement');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'hostile_rows; DROP TABLE hostile_victim')$$,
	'42602', 'invalid name syntax', 'a table name followed by another statement');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'WITH d AS (DELETE FROM hostile_victim RETURNING 1 AS user_id, 1 AS course_id) SELECT * FROM d')$$,
	'0A000', NULL, 'a data-modifying WITH');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'DELETE FROM hostile_victim RETURNING 1 AS user_id, 1 AS course_id')$$,
	'42602', 'invalid name syntax', 'a DELETE ... RETURNING is not a source');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'hostile_rows', '{"user_column": "user_id\" FROM hostile_victim; --"}')$$,
	'42703', NULL, 'a column option with a quote and SQL is one strange column name');
SELECT throws_ok($$SELECT kpreco.train('hostile_t', 'hostile_rows', '{"course_column": ""}')$$,
	'22023', 'option "course_column" must be between 1 and 63 bytes long', 'an empty column name');
SELECT is((SELECT count(*) FROM hostile_victim), 1::bigint, 'none of them ran its other statement');

-- The training log -----------------------------------------------------------------------

SELECT lives_ok($$SELECT kpreco.train('hostile_logged', 'hostile_rows', '{"factors": 2, "iterations": 4}')$$, 'a training of 4 iterations');
SELECT results_eq($$SELECT iteration FROM kpreco.last_training_log()$$, $$VALUES (1), (2), (3), (4)$$, 'logs 4 iterations');
SELECT is((SELECT count(*) FROM kpreco.training_log WHERE name = 'hostile_logged'), 4::bigint, 'in the catalog too');
SELECT throws_ok($$SELECT kpreco.train('hostile_logged', 'hostile_rows', '{"factors": 2, "iterations": 9, "alpha": 1, "weight_column": "nope"}')$$,
	'42703', NULL, 'a failed retraining');
SELECT is((SELECT count(*) FROM kpreco.last_training_log()), 4::bigint, 'leaves the log of the last completed training');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, NULL, '{"factors": 2, "iterations": 0}')) ->> 'n_users' FROM hostile_rows),
	'20', 'a training of 0 iterations');
SELECT is_empty($$SELECT * FROM kpreco.last_training_log()$$, 'logs no iteration');

-- The smallest memory setting still trains a tiny model ---------------------------------

SET LOCAL kpreco.max_training_memory = '1MB';
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(1, 1, 1, NULL)) ->> 'n_users'), '1',
	'kpreco.max_training_memory at its minimum trains one row');
RESET kpreco.max_training_memory;

-- Failed trainings left nothing behind; the session and the server are alive. -----------

SELECT is((SELECT count(*) FROM kpreco.model_registry WHERE name IN ('hostile_t', 'hostile_halfway')), 0::bigint,
	'failed trainings left no registry row');
SELECT is((SELECT count(*) FROM kpreco.model_versions WHERE name IN ('hostile_t', 'hostile_halfway')), 0::bigint,
	'and no version');
SELECT is((SELECT pid FROM hostile_session), pg_backend_pid(), 'same session as at the start: no backend crashed');
SELECT is((SELECT 1), 1, 'the server still answers');

SELECT * FROM finish();
ROLLBACK;
