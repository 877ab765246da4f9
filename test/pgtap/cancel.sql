-- A training cancelled by statement_timeout leaves the served model as it was.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(22);

-- Runs a statement; returns how it ended and after how many seconds.
CREATE FUNCTION pg_temp.run(statement text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	started timestamptz := clock_timestamp();
BEGIN
	EXECUTE statement;
	RETURN jsonb_build_object('ended', 'completed',
							  'seconds', extract(epoch FROM clock_timestamp() - started));
EXCEPTION WHEN query_canceled THEN
	RETURN jsonb_build_object('ended', SQLSTATE || ': ' || SQLERRM,
							  'seconds', extract(epoch FROM clock_timestamp() - started));
END
$$;

-- 200,000 interactions: 64 factors and 50 iterations take several seconds.
CREATE TEMP TABLE tap_big AS
SELECT u AS user_id, (u * 7 + i * 13) % 2000 AS course_id
  FROM generate_series(1, 20000) u, generate_series(1, 10) i;
ANALYZE tap_big;

SELECT lives_ok($$SELECT kpreco.train('tap_cancel', 'SELECT * FROM tap_big WHERE user_id <= 300', '{"factors": 8, "iterations": 3}')$$,
	'a first version trains');
CREATE TEMP TABLE tap_first AS
SELECT version FROM kpreco.models WHERE name = 'tap_cancel' AND active;
CREATE TEMP TABLE tap_served AS SELECT * FROM kpreco.recommend(1, 5, 'tap_cancel');
SELECT is((SELECT count(*) FROM tap_served), 5::bigint, 'and serves');

SET statement_timeout = '50ms';
SELECT is(pg_temp.run($$SELECT kpreco.train('tap_cancel', 'tap_big', '{"factors": 64, "iterations": 50}')$$) ->> 'ended',
	'57014: canceling statement due to statement timeout', 'statement_timeout cancels the training');
RESET statement_timeout;
SELECT is((SELECT version FROM kpreco.models WHERE name = 'tap_cancel' AND active), (SELECT version FROM tap_first),
	'the first version is still active');
SELECT is((SELECT count(*) FROM kpreco.model_versions WHERE name = 'tap_cancel'), 1::bigint, 'no version was added');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 5, 'tap_cancel')$$, $$SELECT * FROM tap_served$$,
	'recommend serves the first version');

-- Cancelled half-way through the iterations: the core checks for interrupts often.
SET statement_timeout = '1s';
CREATE TEMP TABLE tap_run AS
SELECT pg_temp.run($$SELECT kpreco.train('tap_cancel', 'tap_big', '{"factors": 64, "iterations": 50}')$$) AS result;
RESET statement_timeout;
SELECT is((SELECT result ->> 'ended' FROM tap_run), '57014: canceling statement due to statement timeout',
	'statement_timeout cancels the training in its iterations');
SELECT cmp_ok((SELECT (result ->> 'seconds')::numeric FROM tap_run), '<', 2.0,
	'within a second of the timeout');
SELECT is((SELECT count(*) FROM kpreco.model_versions WHERE name = 'tap_cancel'), 1::bigint, 'still no version added');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 5, 'tap_cancel')$$, $$SELECT * FROM tap_served$$,
	'recommend still serves the first version');

-- The aggregate on its own is cancelled the same way.
SET statement_timeout = '500ms';
SELECT is(pg_temp.run($$SELECT kpreco.train_agg(user_id, course_id, NULL, '{"factors": 64, "iterations": 50, "solver": "cholesky"}') FROM tap_big$$) ->> 'ended',
	'57014: canceling statement due to statement timeout', 'statement_timeout cancels the aggregate');
RESET statement_timeout;

-- The session goes on as usual.
SELECT lives_ok($$SELECT kpreco.train('tap_cancel', 'SELECT * FROM tap_big WHERE user_id <= 300', '{"factors": 8, "iterations": 3, "seed": 5}')$$,
	'a later training completes');
SELECT is((SELECT count(*) FROM kpreco.model_versions WHERE name = 'tap_cancel'), 2::bigint, 'and adds its version');
SELECT isnt((SELECT array_agg(course_id ORDER BY rank) FROM kpreco.recommend(1, 5, 'tap_cancel')),
	(SELECT array_agg(course_id ORDER BY rank) FROM tap_served), 'which is served');

-- Cancelled while it compares every pair of users for the neighbour lists
-- (option similar_users): 20,000 users, without iterations, so that the
-- lists take most of the statement; the timeout falls half-way through them.
SELECT (pg_temp.run($$SELECT kpreco.train('tap_lists', 'tap_big', '{"factors": 64, "iterations": 0}')$$) ->> 'seconds')::numeric
	AS without_lists \gset
SELECT (pg_temp.run($$SELECT kpreco.train('tap_lists', 'tap_big', '{"factors": 64, "iterations": 0, "similar_users": 100}')$$) ->> 'seconds')::numeric
	AS with_lists \gset
SELECT cmp_ok(:with_lists - :without_lists, '>', 0.1::numeric, 'the lists of 20,000 users take a while to find');
SELECT round((:without_lists + (:with_lists - :without_lists) / 2) * 1000) AS lists_timeout_ms \gset
SELECT set_config('statement_timeout', :'lists_timeout_ms' || 'ms', false) AS ignored \gset
CREATE TEMP TABLE tap_lists_run AS
SELECT pg_temp.run($$SELECT kpreco.train('tap_lists', 'tap_big', '{"factors": 64, "iterations": 0, "similar_users": 100}')$$) AS result;
RESET statement_timeout;
SELECT is((SELECT result ->> 'ended' FROM tap_lists_run), '57014: canceling statement due to statement timeout',
	'statement_timeout cancels the training while it finds the lists');
SELECT cmp_ok((SELECT (result ->> 'seconds')::numeric FROM tap_lists_run), '<', :lists_timeout_ms / 1000.0 + 0.3,
	'within 0.3 s of the timeout');
SELECT is((SELECT count(*) FROM kpreco.model_versions WHERE name = 'tap_lists'), 2::bigint, 'no version was added');

-- A filtered call cancelled while the courses it excludes are marked leaves
-- no mark behind: the session's next call still serves them.
SELECT lives_ok($$SELECT kpreco.train('tap_marks', 'SELECT u % 1000 AS user_id, u AS course_id FROM generate_series(1, 2000000) u', '{"algorithm": "popular"}')$$,
	'a popular model of 2,000,000 courses trains');
SELECT is((SELECT count(*) FROM kpreco.recommend(1, 10, 'tap_marks', candidates => '{5,6,7}')), 3::bigint,
	'candidates 5, 6 and 7 are served');
SET statement_timeout = '50ms';
SELECT is(pg_temp.run($$SELECT count(*) FROM kpreco.recommend(1, 2000000, 'tap_marks', exclude => '{5}')$$) ->> 'ended',
	'57014: canceling statement due to statement timeout', 'statement_timeout cancels recommend(k = 2,000,000, exclude => {5})');
RESET statement_timeout;
SELECT is((SELECT count(*) FROM kpreco.recommend(1, 10, 'tap_marks', candidates => '{5,6,7}')), 3::bigint,
	'course 5, excluded by the cancelled call, is served again');

SELECT * FROM finish();
ROLLBACK;
