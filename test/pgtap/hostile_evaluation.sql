-- Hostile input to evaluation and its helpers: kpreco.evaluate,
-- kpreco.evaluate_agg, kpreco.split, and the options kpreco.train applies in
-- SQL (event weights, time decay, algorithm auto).  Every case ends in a
-- documented result or a clean error with its exact SQLSTATE; the last tests
-- show the backend survived.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(149);

-- A crash of any backend makes the postmaster end every session and restart
-- them all, so this session, its pid and its temporary tables outliving
-- every case below is the proof that no case crashed the server.
CREATE TEMP TABLE hostile_session AS SELECT pg_backend_pid() AS pid;

-- 24 users, 12 courses, times in a scrambled order; every user has 5 or more rows.
CREATE TEMP TABLE hev_rows AS
SELECT u::bigint AS user_id, c::bigint AS course_id,
	   '2025-01-01 00:00:00+00'::timestamptz + ((u * 37 + c * 59) % 101) * interval '1 hour' + c * interval '1 second' AS at,
	   (1 + (u * c) % 5)::real AS rating,
	   CASE c % 3 WHEN 0 THEN 'view' WHEN 1 THEN 'purchase' ELSE 'share' END AS event
  FROM generate_series(1, 24) u, generate_series(1, 12) c WHERE (u * 5 + c * 3) % 7 < 4;
SELECT count(*) AS split_parts FROM kpreco.split('hev_rows', 'hev_split', '{"time_column": "at"}') \gset
SELECT kpreco.train('hev_m', 'hev_split_train', '{"factors": 4, "iterations": 4}') AS hev_m_version \gset
CREATE TEMP TABLE hev_empty (user_id bigint, course_id bigint);

-- evaluate() as jsonb; NULL when it returns no rows.
CREATE FUNCTION pg_temp.figures(model text, test_source text, k integer DEFAULT 10, options jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
SELECT jsonb_object_agg(metric, value) FROM kpreco.evaluate(model, test_source, k, options)
$$;
-- The figures of the active version of hev_m on its test split.
SELECT pg_temp.figures('hev_m', 'hev_split_test') AS reference \gset

-- The first column of the first row of a query run as another role, or
-- "SQLSTATE: message" of the error it raises.
CREATE FUNCTION pg_temp.as_role(role name, query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', role);
	BEGIN
		EXECUTE query INTO result;
	EXCEPTION WHEN OTHERS THEN
		result := SQLSTATE || ': ' || SQLERRM;
	END;
	RESET ROLE;
	RETURN result;
END
$$;

SELECT ok((:'reference'::jsonb ->> 'users')::int > 0, 'a model and a test split to evaluate on');

-- NULL in every argument of evaluate() ------------------------------------------------

SET LOCAL kpreco.default_model = 'hev_m';
SELECT is(pg_temp.figures(NULL, 'hev_split_test'), :'reference'::jsonb, 'evaluate: a NULL model is the default model');
RESET kpreco.default_model;
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', NULL)$$,
	'22023', 'source must name a table or view, or be a query', 'evaluate: NULL test source');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'hev_split_test', NULL)$$,
	'22023', 'k must be between 1 and 100000, not NULL', 'evaluate: NULL k');
SELECT is(pg_temp.figures('hev_m', 'hev_split_test', 10, NULL), :'reference'::jsonb, 'evaluate: NULL options are the defaults');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate(NULL, NULL, NULL, NULL)$$,
	'22023', 'k must be between 1 and 100000, not NULL', 'evaluate: every argument NULL');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_no_such_model', 'hev_split_test')$$,
	'42704', 'kpreco model "hev_no_such_model" does not exist', 'evaluate: an unknown model');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('', 'hev_split_test')$$,
	'42704', 'kpreco model "" does not exist', 'evaluate: an empty model name');

-- k -------------------------------------------------------------------------------------

SELECT throws_ok(format($$SELECT * FROM kpreco.evaluate('hev_m', 'hev_split_test', %s)$$, k),
	'22023', format('k must be between 1 and 100000, not %s', k), format('evaluate: k = %s', k))
  FROM unnest(ARRAY[0, -1, 100001, 2147483647, -2147483648]) k;
-- Per user, the share of relevant courses the model knows: the recall of a list of the whole catalog.
CREATE TEMP TABLE hev_known_share AS
SELECT avg(known) AS recall FROM (
	SELECT t.user_id, avg(CASE WHEN t.course_id IN (SELECT course_id FROM hev_split_train) THEN 1 ELSE 0 END) AS known
	  FROM (SELECT DISTINCT user_id, course_id FROM hev_split_test) t
	 WHERE NOT EXISTS (SELECT 1 FROM hev_split_train r WHERE r.user_id = t.user_id AND r.course_id = t.course_id)
	 GROUP BY t.user_id) s;
SELECT ok(abs((pg_temp.figures('hev_m', 'hev_split_test', 100000) ->> 'recall')::float8 - (SELECT recall FROM hev_known_share)) < 1e-12,
	'evaluate: k = 100000 ranks the whole catalog: every relevant course the model knows is found');
SELECT is((pg_temp.figures('hev_m', 'hev_split_test', 100000) ->> 'coverage')::float8,
	(pg_temp.figures('hev_m', 'hev_split_test', 12) ->> 'coverage')::float8, 'evaluate: k beyond the catalog is the catalog');
SELECT lives_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'hev_split_test', 1)$$, 'evaluate: k = 1');

-- evaluate_agg ------------------------------------------------------------------------

SET LOCAL kpreco.default_model = 'hev_m';
SELECT is((SELECT kpreco.evaluate_agg(NULL::text, user_id, course_id, NULL, 10) ->> 'model' FROM hev_split_test), 'hev_m',
	'evaluate_agg: a NULL model name is the default model');
RESET kpreco.default_model;
SELECT throws_ok($$SELECT kpreco.evaluate_agg('hev_m', NULL, course_id, NULL, 10) FROM hev_split_test$$,
	'22000', 'no held-out interactions to evaluate on', 'evaluate_agg: every user id NULL');
SELECT throws_ok($$SELECT kpreco.evaluate_agg('hev_m', user_id, NULL, NULL, 10) FROM hev_split_test$$,
	'22000', 'no held-out interactions to evaluate on', 'evaluate_agg: every course id NULL');
SELECT throws_ok($$SELECT kpreco.evaluate_agg('hev_m', user_id, course_id, NULL, NULL) FROM hev_split_test$$,
	'22004', 'k must not be NULL', 'evaluate_agg: NULL k');
SELECT throws_ok($$SELECT kpreco.evaluate_agg('hev_m', user_id, course_id, NULL, 0) FROM hev_split_test$$,
	'22023', 'k must be at least 1, not 0', 'evaluate_agg: k = 0');
SELECT throws_ok($$SELECT kpreco.evaluate_agg('hev_m', user_id, course_id, NULL, -1) FROM hev_split_test$$,
	'22023', 'k must be at least 1, not -1', 'evaluate_agg: k = -1');
SELECT ok(abs((SELECT kpreco.evaluate_agg('hev_m', user_id, course_id, NULL, 2147483647) ->> 'recall' FROM hev_split_test)::float8
			   - (SELECT recall FROM hev_known_share)) < 1e-12,
	'evaluate_agg: k = INT_MAX ranks the whole catalog');
SELECT throws_ok($$SELECT kpreco.evaluate_agg(NULL::kpreco.model, user_id, course_id, NULL, 10) FROM hev_split_test$$,
	'22004', 'model must not be NULL', 'evaluate_agg: a NULL model value');
SELECT throws_ok($$SELECT kpreco.evaluate_agg('hev_m', user_id, course_id, NULL, 10) FROM hev_empty$$,
	'22000', 'no held-out interactions to evaluate on', 'evaluate_agg: no rows');
SELECT throws_ok($$SELECT kpreco.evaluate_agg(NULL, NULL, NULL, NULL, NULL)$$,
	'22004', 'k must not be NULL', 'evaluate_agg: one row, every argument NULL');
SELECT is((SELECT kpreco.evaluate_agg('hev_m', user_id, course_id, CASE WHEN user_id % 2 = 0 THEN rating END, 10) ->> 'rated_pairs'
			 FROM hev_split_test),
	(SELECT count(*)::text FROM hev_split_test WHERE user_id % 2 = 0 AND course_id IN (SELECT course_id FROM hev_split_train)),
	'evaluate_agg: NULL values are not rated pairs (and courses the model does not know are not either)');

-- Empty and unknown test sets ------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'hev_empty')$$,
	'22000', 'no held-out interactions to evaluate on', 'evaluate: an empty test table');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'SELECT 1::bigint AS user_id, 1::bigint AS course_id WHERE false')$$,
	'22000', 'no held-out interactions to evaluate on', 'evaluate: a test query without rows');
SELECT is(pg_temp.figures('hev_m', 'SELECT 1000 + u AS user_id, 1 AS course_id FROM generate_series(1, 3) u'),
	'{"precision": null, "recall": null, "ndcg": null, "map": null, "coverage": null, "diversity": null, "users": 0, "cold_users": 3}'::jsonb,
	'evaluate: only unknown users: 0 users evaluated, 3 cold, NULL metrics');
SELECT is(pg_temp.figures('hev_m', 'SELECT user_id, course_id FROM hev_split_train'),
	'{"precision": null, "recall": null, "ndcg": null, "map": null, "coverage": null, "diversity": null, "users": 0, "cold_users": 0}'::jsonb,
	'evaluate: only training courses: nothing relevant, nobody evaluated');
SELECT is(pg_temp.figures('hev_m', 'SELECT 3 AS user_id, c AS course_id FROM generate_series(901, 902) c') - 'diversity',
	jsonb_build_object('precision', 0, 'recall', 0, 'ndcg', 0, 'map', 0,
					   'coverage', (SELECT count(*)::float8 / (SELECT n_courses FROM kpreco.models WHERE name = 'hev_m')
									FROM kpreco.recommend(3, 10, 'hev_m')),
					   'users', 1, 'cold_users', 0),
	'evaluate: courses unknown to the model are relevant, never hit');
SELECT is((pg_temp.figures('hev_m', 'SELECT user_id, course_id FROM hev_split_test UNION ALL SELECT user_id, 999 FROM hev_split_test')
		   ->> 'recall')::float8 < (:'reference'::jsonb ->> 'recall')::float8, true,
	'evaluate: unknown courses stay in the recall denominator');
SELECT is(pg_temp.figures('hev_m', 'SELECT user_id, course_id FROM hev_split_test, generate_series(1, 3)'), :'reference'::jsonb,
	'evaluate: every test row three times: the same figures');
SELECT is(pg_temp.figures('hev_m', 'SELECT user_id, course_id FROM hev_split_test UNION ALL SELECT user_id, course_id FROM hev_split_train WHERE user_id < 5'),
	:'reference'::jsonb, 'evaluate: test rows that are training rows change nothing');

-- Test sources of other types ------------------------------------------------------------

SELECT is(pg_temp.figures('hev_m', 'SELECT user_id::text AS user_id, course_id::text AS course_id FROM hev_split_test'), :'reference'::jsonb,
	'evaluate: text ids are cast to bigint');
SELECT is(pg_temp.figures('hev_m', 'SELECT user_id::int AS user_id, course_id::numeric AS course_id FROM hev_split_test'), :'reference'::jsonb,
	'evaluate: integer and numeric ids');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'SELECT ''abc''::text AS user_id, 1 AS course_id')$$,
	'22P02', 'invalid input syntax for type bigint: "abc"', 'evaluate: a text id that is no number');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'SELECT ''99999999999999999999''::text AS user_id, 1 AS course_id')$$,
	'22003', 'value "99999999999999999999" is out of range for type bigint', 'evaluate: a text id beyond bigint');
SELECT is(pg_temp.figures('hev_m', 'SELECT user_id, course_id FROM hev_split_test UNION ALL VALUES (NULL, 1), (1, NULL), (NULL, NULL)'),
	:'reference'::jsonb, 'evaluate: rows with a NULL id are skipped');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'SELECT NULL::bigint AS user_id, course_id FROM hev_split_test')$$,
	'22000', 'no held-out interactions to evaluate on', 'evaluate: every user id NULL');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'SELECT user_id FROM hev_split_test')$$,
	'42703', 'column src.course_id does not exist', 'evaluate: a test source without course_id');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'hev_no_such_table')$$,
	'42P01', 'relation "hev_no_such_table" does not exist', 'evaluate: an unknown table');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'hev_split_test; DROP TABLE hev_rows')$$,
	'42602', 'invalid name syntax', 'evaluate: a table name with a statement after it');
SELECT is(pg_temp.figures('hev_m', 'SELECT user_id AS member, course_id AS product FROM hev_split_test', 10,
						  '{"user_column": "member", "course_column": "product"}'),
	:'reference'::jsonb, 'evaluate: user_column and course_column');
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'SELECT 1 AS user_id, 1 AS course_id, ''share''::text AS v', 10, '{"value_column": "v"}')$$,
	'22P02', 'invalid input syntax for type real: "share"', 'evaluate: a value_column of text');

-- Bad options of evaluate() ----------------------------------------------------------------

SELECT throws_ok(format($$SELECT * FROM kpreco.evaluate('hev_m', 'hev_split_test', 10, %L)$$, options), '22023', message,
	'evaluate: options ' || options)
  FROM (VALUES ('{"k": 5}', 'unknown option "k"'),
			   ('{"user_column": 5}', 'option "user_column" must be a column name string'),
			   ('{"course_column": null}', 'option "course_column" must be a column name string'),
			   ('{"value_column": ["rating"]}', 'option "value_column" must be a column name string'),
			   ('{"store": "yes"}', 'option "store" must be a boolean'),
			   ('{"store": 1}', 'option "store" must be a boolean'),
			   ('[]', 'options must be a JSON object'),
			   ('"store"', 'options must be a JSON object')) v(options, message);
SELECT throws_ok($$SELECT * FROM kpreco.evaluate('hev_m', 'hev_split_test', 10, '{"user_column": "nope"}')$$,
	'42703', 'column src.nope does not exist', 'evaluate: user_column names no column');

-- NULL in every argument of split() ------------------------------------------------------

SELECT throws_ok($$SELECT * FROM kpreco.split(NULL, 'hev_s', '{"method": "random"}')$$,
	'22023', 'source must name a table or view, or be a query', 'split: NULL source');
SELECT throws_ok($$SELECT * FROM kpreco.split('', 'hev_s', '{"method": "random"}')$$,
	'22023', 'source must name a table or view, or be a query', 'split: empty source');
SELECT throws_ok($$SELECT * FROM kpreco.split('hev_rows', NULL, '{"method": "random"}')$$,
	'22023', 'target_prefix must name the tables to write', 'split: NULL target_prefix');
SELECT throws_ok($$SELECT * FROM kpreco.split('hev_rows', '', '{"method": "random"}')$$,
	'22023', 'target_prefix must name the tables to write', 'split: empty target_prefix');
SELECT throws_ok($$SELECT * FROM kpreco.split('hev_rows', 'hev_s', NULL)$$,
	'22023', 'option "method" must be "temporal" or "random"', 'split: NULL options (no time column: no method)');
SELECT throws_ok($$SELECT * FROM kpreco.split(NULL, NULL, NULL)$$,
	'22023', 'option "method" must be "temporal" or "random"', 'split: every argument NULL');
SELECT is(to_regclass('hev_s_train'), NULL, 'split: a refused split writes no table');

-- Bad options of split() -----------------------------------------------------------------

SELECT throws_ok(format($$SELECT * FROM kpreco.split('hev_rows', 'hev_s', %L)$$, options), '22023', message,
	'split: options ' || options)
  FROM (VALUES ('{"method": "random", "holdout": 0.2}', 'unknown option "holdout"'),
			   ('{"method": "random", "fraction": 0}', 'option "fraction" must be a number greater than 0 and less than 1'),
			   ('{"method": "random", "fraction": 1}', 'option "fraction" must be a number greater than 0 and less than 1'),
			   ('{"method": "random", "fraction": -1}', 'option "fraction" must be a number greater than 0 and less than 1'),
			   ('{"method": "random", "fraction": "0.2"}', 'option "fraction" must be a number greater than 0 and less than 1'),
			   ('{"method": "random", "fraction": 1e400}', 'option "fraction" must be a number greater than 0 and less than 1'),
			   ('{"method": "random", "min_interactions": 1}', 'option "min_interactions" must be an integer between 2 and 1000000'),
			   ('{"method": "random", "min_interactions": 2.5}', 'option "min_interactions" must be an integer between 2 and 1000000'),
			   ('{"method": "random", "min_interactions": 1e7}', 'option "min_interactions" must be an integer between 2 and 1000000'),
			   ('{"method": "random", "seed": -1}', 'option "seed" must be an integer between 0 and 9223372036854775807'),
			   ('{"method": "random", "seed": 1.5}', 'option "seed" must be an integer between 0 and 9223372036854775807'),
			   ('{"method": "random", "seed": 9223372036854775808}', 'option "seed" must be an integer between 0 and 9223372036854775807'),
			   ('{"method": "x"}', 'option "method" must be "temporal" or "random"'),
			   ('{"method": 5}', 'option "method" must be a string'),
			   ('{"method": "temporal"}', 'a temporal split needs option "time_column"'),
			   ('{"time_column": 5}', 'option "time_column" must be a string'),
			   ('{"method": "random", "replace": "yes"}', 'option "replace" must be a boolean'),
			   ('[]', 'options must be a JSON object')) v(options, message);
SELECT throws_ok($$SELECT * FROM kpreco.split('hev_rows', 'a.b.c', '{"method": "random"}')$$,
	'22023', 'target_prefix "a.b.c" has more than a schema and a name', 'split: a prefix of three names');
SELECT throws_ok($$SELECT * FROM kpreco.split('hev_rows', 'hev_no_schema.s', '{"method": "random"}')$$,
	'3F000', 'schema "hev_no_schema" does not exist', 'split: into a schema that does not exist');
SELECT throws_ok($$SELECT * FROM kpreco.split('hev_rows', 'hev_s', '{"time_column": "event"}')$$,
	'42883', NULL, 'split: a time column of text is refused (kpreco.epoch_seconds(text) does not exist)');
SELECT throws_ok($$SELECT * FROM kpreco.split('hev_rows', 'hev_s', '{"time_column": "nope"}')$$,
	'42703', NULL, 'split: a time column that does not exist');
SELECT throws_ok($$SELECT * FROM kpreco.split('hev_rows', 'hev_quote"d', '{"method": "random"}')$$,
	'22023', 'string is not a valid identifier: "hev_quote"d"', 'split: a prefix that is no identifier');
SELECT lives_ok($$SELECT * FROM kpreco.split('hev_rows', '"Hev Quote""d"', '{"method": "random"}')$$,
	'split: a quoted prefix');
SELECT is((SELECT count(*) FROM "Hev Quote""d_train") + (SELECT count(*) FROM "Hev Quote""d_test"),
	(SELECT count(*) FROM hev_rows), 'writes tables of that name');

-- Time columns of every type, in split() and train() --------------------------------------

CREATE TEMP TABLE hev_times AS
SELECT user_id, course_id, event, at, at::date AS day, (at AT TIME ZONE 'UTC') AS local_at,
	   extract(epoch FROM at)::bigint AS seconds, at::text AS text_at,
	   CASE WHEN course_id % 4 = 0 THEN NULL ELSE at END AS sometimes
  FROM hev_rows;
SELECT lives_ok(format($$SELECT * FROM kpreco.split('hev_times', %L, '{"time_column": %s}')$$, 'hev_t_' || col, to_json(col)),
	'split: time column of type ' || pg_typeof)
  FROM (VALUES ('at', 'timestamptz'), ('day', 'date'), ('local_at', 'timestamp'), ('seconds', 'bigint')) v(col, pg_typeof);
SELECT is((SELECT array_agg(user_id || ':' || course_id ORDER BY user_id, course_id) FROM hev_t_local_at_test),
	(SELECT array_agg(user_id || ':' || course_id ORDER BY user_id, course_id) FROM hev_t_at_test),
	'split: a timestamp holds out what a timestamptz does');
SELECT is((SELECT array_agg(user_id || ':' || course_id ORDER BY user_id, course_id) FROM hev_t_seconds_test),
	(SELECT array_agg(user_id || ':' || course_id ORDER BY user_id, course_id) FROM hev_t_at_test),
	'split: seconds since 1970 hold out what a timestamptz does');
SELECT lives_ok($$SELECT * FROM kpreco.split('hev_times', 'hev_t_sometimes', '{"time_column": "sometimes"}')$$,
	'split: NULL times');
SELECT is((SELECT count(*) FROM hev_t_sometimes_test WHERE sometimes IS NULL), 0::bigint,
	'split: rows without a time count as the oldest and are never held out');

SELECT lives_ok(format($$SELECT kpreco.train(%L, 'hev_times', '{"algorithm": "popular", "time_column": %s, "half_life_days": 2}')$$,
					   'hev_decay_' || col, to_json(col)),
	'train: time decay over a time column of type ' || pg_typeof)
  FROM (VALUES ('at', 'timestamptz'), ('day', 'date'), ('local_at', 'timestamp'), ('seconds', 'bigint')) v(col, pg_typeof);
SELECT is((SELECT count(DISTINCT model::bytea) FROM kpreco.model_versions WHERE name IN ('hev_decay_at', 'hev_decay_local_at', 'hev_decay_seconds')),
	1::bigint, 'train: timestamptz, timestamp and seconds decay alike');
SELECT throws_ok($$SELECT kpreco.train('hev_decay_text', 'hev_times', '{"algorithm": "popular", "time_column": "text_at", "half_life_days": 2}')$$,
	'42883', NULL, 'train: a time column of text is refused (kpreco.epoch_seconds(text) does not exist)');
SELECT lives_ok($$SELECT kpreco.train('hev_decay_sometimes', 'hev_times', '{"algorithm": "popular", "time_column": "sometimes", "half_life_days": 2}')$$,
	'train: some NULL times');
SELECT is((SELECT n_interactions FROM kpreco.models WHERE name = 'hev_decay_sometimes'),
	(SELECT count(*) FROM hev_times WHERE sometimes IS NOT NULL), 'train: rows without a time are skipped');
SELECT throws_ok($$SELECT kpreco.train('hev_decay_never', 'SELECT user_id, course_id, NULL::timestamptz AS at FROM hev_times',
		'{"algorithm": "popular", "time_column": "at", "half_life_days": 2}')$$,
	'22000', 'no interactions to train on', 'train: no row with a time');
SELECT throws_ok($$SELECT kpreco.train('hev_decay_x', 'hev_times', '{"algorithm": "popular", "time_column": "nope", "half_life_days": 2}')$$,
	'42703', NULL, 'train: a time column that does not exist');

-- Bad event weights and half-lives ---------------------------------------------------------

SELECT throws_ok(format($$SELECT kpreco.train('hev_bad', 'hev_times', %L)$$, options), '22023', message, 'train: ' || options)
  FROM (VALUES ('{"event_column": "event", "event_weights": ["view"]}', 'option "event_weights" must be a non-empty JSON object of event names and weights'),
			   ('{"event_column": "event", "event_weights": "view"}', 'option "event_weights" must be a non-empty JSON object of event names and weights'),
			   ('{"event_column": "event", "event_weights": null}', 'option "event_weights" must be a non-empty JSON object of event names and weights'),
			   ('{"event_column": "event", "event_weights": {}}', 'option "event_weights" must be a non-empty JSON object of event names and weights'),
			   ('{"event_column": "event", "event_weights": {"view": -1}}', 'weight of event "view" in option "event_weights" must be a number between 0 and 1000000'),
			   ('{"event_column": "event", "event_weights": {"view": 1, "share": "2"}}', 'weight of event "share" in option "event_weights" must be a number between 0 and 1000000'),
			   ('{"event_column": "event", "event_weights": {"view": null}}', 'weight of event "view" in option "event_weights" must be a number between 0 and 1000000'),
			   ('{"event_column": "event", "event_weights": {"view": 1000001}}', 'weight of event "view" in option "event_weights" must be a number between 0 and 1000000'),
			   ('{"event_column": "event", "event_weights": {"view": 1e400}}', 'weight of event "view" in option "event_weights" must be a number between 0 and 1000000'),
			   ('{"event_column": "event"}', 'options "event_column" and "event_weights" go together'),
			   ('{"event_weights": {"view": 1}}', 'options "event_column" and "event_weights" go together'),
			   ('{"event_column": 1, "event_weights": {"view": 1}}', 'option "event_column" must be a column name string'),
			   ('{"time_column": "at", "half_life_days": 0}', 'option "half_life_days" must be a number between 0.001 and 1000000'),
			   ('{"time_column": "at", "half_life_days": -30}', 'option "half_life_days" must be a number between 0.001 and 1000000'),
			   ('{"time_column": "at", "half_life_days": "30"}', 'option "half_life_days" must be a number between 0.001 and 1000000'),
			   ('{"time_column": "at", "half_life_days": 1e7}', 'option "half_life_days" must be a number between 0.001 and 1000000'),
			   ('{"half_life_days": 30}', 'option "half_life_days" needs option "time_column"'),
			   ('{"time_column": ["at"], "half_life_days": 30}', 'option "time_column" must be a column name string')) v(options, message);
SELECT lives_ok($$SELECT kpreco.train('hev_huge', 'hev_times', '{"algorithm": "popular", "event_column": "event", "event_weights": {"view": 1000000, "purchase": 0.000001}}')$$,
	'train: event weights of 1000000 and 0.000001');
SELECT is(kpreco.predict(1, 3, 'hev_huge') / kpreco.predict(1, 1, 'hev_huge') >= 1e11, true, 'train: are applied as given');
SELECT lives_ok($$SELECT kpreco.train('hev_quoted', 'SELECT user_id, course_id, ''it''''s'' AS event FROM hev_rows',
		'{"algorithm": "popular", "event_column": "event", "event_weights": {"it''s": 2, "x''); DROP TABLE hev_rows; --": 1}}')$$,
	'train: event names with quotes are literals, not SQL');
SELECT is((SELECT n_interactions FROM kpreco.models WHERE name = 'hev_quoted'), (SELECT count(*) FROM hev_rows),
	'train: and match as written');
SELECT throws_ok($$SELECT kpreco.train('hev_bad', 'hev_times', '{"event_column": "nope", "event_weights": {"view": 1}}')$$,
	'42703', NULL, 'train: an event column that does not exist');
SELECT throws_ok($$SELECT kpreco.train('hev_bad', 'SELECT user_id, course_id, ''view''::text AS event, ''Infinity''::real AS w FROM hev_rows',
		'{"weight_column": "w", "event_column": "event", "event_weights": {"view": 1}}')$$,
	'22000', (SELECT count(*) || ' interaction rows have an infinite weight' FROM hev_rows), 'train: an infinite weight column is still refused');

-- Algorithm auto -----------------------------------------------------------------------------

SELECT throws_ok($$SELECT kpreco.train('hev_auto', 'SELECT user_id, course_id FROM hev_rows WHERE course_id <= 4', '{"algorithm": "auto"}')$$,
	'22000', 'algorithm "auto" found no user with 5 or more interactions to validate on', 'auto: nobody has 5 interactions');
SELECT throws_ok($$SELECT kpreco.train('hev_auto', 'hev_empty', '{"algorithm": "auto"}')$$,
	'22000', 'algorithm "auto" found no user with 5 or more interactions to validate on', 'auto: an empty source');
SELECT throws_ok($$SELECT kpreco.train('hev_auto', 'hev_times', '{"algorithm": "auto", "time_column": "text_at"}')$$,
	'42883', NULL, 'auto: a time column of text');
SELECT throws_ok($$SELECT kpreco.train('hev_auto', 'hev_times', '{"algorithm": "auto", "alpha": 2}')$$,
	'22023', 'option "alpha" does not apply to algorithm auto (it applies to ials)', 'auto: an option of one algorithm');
SELECT is((SELECT count(*) FROM kpreco.model_registry WHERE name IN ('hev_auto', 'hev_bad', 'hev_decay_text', 'hev_decay_never')), 0::bigint,
	'failed trainings left no model');

-- Roles ----------------------------------------------------------------------------------------

CREATE ROLE kpreco_hev_reader;
CREATE ROLE kpreco_hev_stranger;
GRANT SELECT ON hev_split_test, hev_rows TO kpreco_hev_reader, kpreco_hev_stranger;
SELECT kpreco.grant_model('hev_m', 'kpreco_hev_reader') AS granted \gset
SELECT count(*) AS stored_metrics FROM kpreco.evaluate('hev_m', 'hev_split_test', 10, '{"store": true}') \gset
SELECT is(pg_temp.as_role('kpreco_hev_stranger', $$SELECT count(*) FROM kpreco.evaluate('hev_m', 'hev_split_test')$$),
	'42704: kpreco model "hev_m" does not exist', 'a role that cannot read a model cannot evaluate it');
SELECT is(pg_temp.as_role('kpreco_hev_stranger', $$SELECT kpreco.evaluate_agg('hev_m', user_id, course_id, NULL, 10)::text FROM hev_split_test$$),
	'42704: kpreco model "hev_m" does not exist', 'nor through evaluate_agg');
SELECT is(pg_temp.as_role('kpreco_hev_stranger', $$SELECT count(*) FROM kpreco.evaluations$$), '0',
	'nor see its stored evaluations');
SELECT is(pg_temp.as_role('kpreco_hev_stranger',
		$$INSERT INTO kpreco.evaluations (name, version, test_source, k, metrics) VALUES ('hev_m', 1, 'x', 1, '{}') RETURNING 1$$),
	'42501: new row violates row-level security policy for table "evaluations"', 'nor store one for it');
SELECT is(pg_temp.as_role('kpreco_hev_reader', $$SELECT count(*) FROM kpreco.evaluate('hev_m', 'hev_split_test')$$), '8',
	'a reader evaluates the model');
SELECT is(pg_temp.as_role('kpreco_hev_reader', $$SELECT count(*) FROM kpreco.evaluations WHERE name = 'hev_m'$$), '1',
	'and sees its stored evaluations');
SELECT is(pg_temp.as_role('kpreco_hev_reader', $$SELECT count(*) FROM kpreco.evaluate('hev_m', 'hev_split_test', 10, '{"store": true}')$$),
	'42501: must be owner of kpreco model "hev_m"', 'but may not store an evaluation');
SELECT is(pg_temp.as_role('kpreco_hev_reader', $$WITH d AS (DELETE FROM kpreco.evaluations RETURNING 1) SELECT count(*) FROM d$$), '0',
	'nor delete one');
SELECT is((SELECT count(*) FROM kpreco.evaluations WHERE name = 'hev_m'), 1::bigint, 'the stored evaluation is intact');
SELECT is(pg_temp.as_role('kpreco_hev_reader', $$SELECT count(*) FROM kpreco.evaluate('hev_m', 'hev_split_train')$$),
	'42501: permission denied for table hev_split_train', 'a reader may not evaluate on a source it cannot read');
SELECT is(pg_temp.as_role('kpreco_hev_stranger', $$SELECT count(*) FROM kpreco.split('hev_rows', 'public.hev_stranger', '{"method": "random"}')$$),
	'42501: permission denied for schema public', 'split writes tables with the rights of the caller');
-- A role's only model is its default; a rating model names its value column.
SELECT is(pg_temp.as_role('kpreco_hev_stranger', $$SELECT kpreco.train('hev_stranger_als', 'hev_rows', '{"algorithm": "als", "weight_column": "rating", "factors": 2}') > 0$$),
	'true', 'a role trains a rating model of its own');
SELECT is(pg_temp.as_role('kpreco_hev_stranger', $$SELECT string_agg(metric, ',') FROM kpreco.evaluate(NULL, 'hev_rows')$$),
	(SELECT string_agg(metric, ',') FROM kpreco.evaluate('hev_stranger_als', 'hev_rows')),
	'evaluate with a NULL model evaluates the role''s only model as naming it does (rmse and mae included)');

-- Failed cases left nothing behind; the session and the server are alive. -----------------

SELECT is((SELECT pid FROM hostile_session), pg_backend_pid(), 'same session as at the start: no backend crashed');
SELECT is((SELECT 1), 1, 'the server still answers');

SELECT * FROM finish();
ROLLBACK;
