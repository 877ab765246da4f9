-- Operations in one session: the training log and verbose, kept versions,
-- activate, forget_user as the serving cache sees it, and the error codes.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(27);

CREATE TEMP TABLE tap_ops AS
SELECT u AS user_id, c AS course_id, 1 + (u * c) % 4 AS w
  FROM generate_series(1, 60) u, generate_series(1, 30) c WHERE (u * 7 + c * 3) % 5 < 2;
\set exact '''{"factors": 6, "iterations": 8, "solver": "cholesky", "weight_column": "w", "verbose": true}'''

-- The training log.
SELECT kpreco.train('tap_ops', 'tap_ops', :exact) AS v1 \gset
SELECT is((SELECT count(*) FROM kpreco.training_log WHERE version = :v1), 8::bigint,
	'a row per iteration, under the new version');
SELECT is((SELECT array_agg(iteration ORDER BY iteration) FROM kpreco.training_log WHERE version = :v1),
	ARRAY[1, 2, 3, 4, 5, 6, 7, 8], 'numbered from 1');
SELECT ok((SELECT bool_and(loss > 0 AND seconds >= 0) FROM kpreco.training_log WHERE version = :v1),
	'verbose: every iteration has a loss and its seconds');
SELECT ok((SELECT bool_and(loss <= previous * (1 + 1e-6)) FROM (
			SELECT loss, lag(loss) OVER (ORDER BY iteration) AS previous
			  FROM kpreco.training_log WHERE version = :v1) t WHERE previous IS NOT NULL),
	'exact ALS never increases the loss');
SELECT ok((SELECT bool_and(logged_at >= previous) FROM (
			SELECT logged_at, lag(logged_at) OVER (ORDER BY iteration) AS previous
			  FROM kpreco.training_log WHERE version = :v1) t WHERE previous IS NOT NULL),
	'iterations are logged in order');
SELECT results_eq($$SELECT iteration, loss, seconds, logged_at FROM kpreco.last_training_log()$$,
	format('SELECT iteration, loss, seconds, logged_at FROM kpreco.training_log WHERE version = %s ORDER BY iteration', :v1),
	'last_training_log() is what was filed');
SELECT kpreco.train('tap_ops', 'tap_ops', '{"factors": 6, "iterations": 3}') AS v2 \gset
SELECT is((SELECT count(loss) FROM kpreco.training_log WHERE version = :v2), 0::bigint,
	'without verbose the loss is not computed');
SELECT is((SELECT count(*) FROM kpreco.training_log WHERE version = :v2 AND seconds >= 0), 3::bigint,
	'but the seconds are');
SELECT is_empty($$SELECT * FROM kpreco.model_versions v
				   WHERE v.options ? 'verbose' OR v.options ? 'keep_versions'$$,
	'verbose and keep_versions are catalog options, not stored in the model');

-- Kept versions: the new one always stays, even when another was active.
SELECT kpreco.train('tap_ops', 'tap_ops', :exact) AS v3 \gset
SELECT lives_ok(format('SELECT kpreco.activate(''tap_ops'', %s)', :v1), 'activate the first version');
SELECT kpreco.train('tap_ops', 'tap_ops', '{"factors": 6, "iterations": 3, "keep_versions": 1}') AS v4 \gset
SELECT results_eq($$SELECT version, active FROM kpreco.models WHERE name = 'tap_ops'$$,
	format('VALUES (%s::bigint, true)', :v4), 'keep_versions 1 keeps the new, active version only');
SELECT is((SELECT count(*) FROM kpreco.training_log WHERE name = 'tap_ops'), 3::bigint,
	'and only its log');
SELECT kpreco.train('tap_ops', 'tap_ops', :exact) AS v5 \gset
SELECT kpreco.train('tap_ops', 'tap_ops', :exact) AS v6 \gset

-- forget_user: the cache serves the rewritten versions at once.
CREATE TEMP TABLE tap_before AS SELECT * FROM kpreco.user_factors('tap_ops') WHERE user_id <> 7;
CREATE TEMP TABLE tap_courses AS SELECT * FROM kpreco.course_factors('tap_ops');
SELECT is((SELECT count(*) FROM kpreco.recommend(7, 5, 'tap_ops') WHERE score IS NOT NULL), 5::bigint,
	'user 7 gets personal recommendations');
SELECT is(kpreco.forget_user(7), 3, 'forget_user(7) rewrites the three kept versions');
SELECT is((SELECT count(*) FROM kpreco.recommend(7, 5, 'tap_ops') WHERE score IS NULL), 5::bigint,
	'the active version now serves user 7 the popular courses, score NULL');
SELECT ok((SELECT bool_and(NOT kpreco.model_has_user(model, 7)) FROM kpreco.model_versions WHERE name = 'tap_ops'),
	'no stored version knows user 7');
SELECT results_eq($$SELECT * FROM kpreco.user_factors('tap_ops') ORDER BY user_id$$,
	$$SELECT * FROM tap_before ORDER BY user_id$$, 'every other user keeps the same factors');
SELECT results_eq($$SELECT * FROM kpreco.course_factors('tap_ops') ORDER BY course_id$$,
	$$SELECT * FROM tap_courses ORDER BY course_id$$, 'course factors are unchanged');
SELECT is((SELECT count(*) FROM kpreco.model_versions v, LATERAL kpreco.model_info(v.model) i
			WHERE v.name = 'tap_ops' AND (i ->> 'format_version') = '1'
			  AND (i ->> 'n_users')::integer = v.n_users), 3::bigint,
	'rewritten versions validate, keep format version 1 and the catalog counts follow');
SELECT is(kpreco.forget_user(7), 0, 'forgetting again changes nothing');
SELECT is(kpreco.forget_user(-42), 0, 'an unknown user changes nothing');

-- Errors.
SELECT throws_ok(format('SELECT kpreco.activate(''tap_ops'', %s)', :v1), '42704',
	format('kpreco model "tap_ops" has no version %s', :v1), 'activate a pruned version');
SELECT throws_ok($$SELECT kpreco.activate('tap_ops', -1)$$, '42704', NULL, 'activate a version that never was');
SELECT throws_ok($$SELECT kpreco.activate('tap_ops_nope', 1)$$, '42704', NULL, 'activate an unknown model');
SELECT throws_ok($$SELECT kpreco.train('tap_ops', 'tap_ops', '{"keep_versions": 0}')$$, '22023',
	'option "keep_versions" must be between 1 and 1000', 'keep_versions below 1');
SELECT throws_ok($$SELECT kpreco.drop_model('tap_ops_nope')$$, '42704', NULL, 'drop an unknown model');
SELECT throws_ok($$SELECT kpreco.grant_model('tap_ops', 'tap_no_such_role')$$, '42704',
	'role "tap_no_such_role" does not exist', 'grant to an unknown role');

SELECT * FROM finish();
ROLLBACK;
