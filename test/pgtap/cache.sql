-- Each session's model cache serves the version active now: after a retraining here or elsewhere, a rollback, a delete.
-- No transaction block around the file, since other sessions must see its commits: it drops what it made instead.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'dblink') AS have_dblink,
	   NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'dblink') AS make_dblink \gset
\if :have_dblink
\if :make_dblink
CREATE EXTENSION dblink;
\endif
\endif

DELETE FROM kpreco.model_versions WHERE name LIKE 'tap\_cache%';
DELETE FROM kpreco.model_registry WHERE name LIKE 'tap\_cache%';
DROP TABLE IF EXISTS tap_cache_enrollments;

SELECT plan(23);

-- Interactions as a query, so that any session can train from it.
\set source '''SELECT u AS user_id, c AS course_id FROM generate_series(1, 40) u, generate_series(1, 15) c WHERE (u * c) % 7 < 3'''

-- Retraining in this session.
SELECT lives_ok(format('SELECT kpreco.train(''tap_cache'', %L, ''{"factors": 4, "iterations": 5, "seed": 1}'')', :source),
	'version with seed 1');
CREATE TEMP TABLE tap_seed1 AS SELECT * FROM kpreco.recommend(1, 5, 'tap_cache');
SELECT lives_ok(format('SELECT kpreco.train(''tap_cache'', %L, ''{"factors": 4, "iterations": 5, "seed": 2}'')', :source),
	'version with seed 2');
SELECT lives_ok(format('SELECT kpreco.train(''tap_cache_seed2'', %L, ''{"factors": 4, "iterations": 5, "seed": 2}'')', :source),
	'the same, under another name');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache')$$,
	$$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache_seed2')$$, 'the new version is served at once');
SELECT results_ne($$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache')$$,
	$$SELECT * FROM tap_seed1$$, 'not the old one');

-- New data through train(model): the stored source is read again.
CREATE TABLE tap_cache_enrollments AS
SELECT u AS user_id, c AS course_id FROM generate_series(1, 30) u, generate_series(1, 10) c WHERE (u + c) % 4 <> 0;
SELECT lives_ok($$SELECT kpreco.train('tap_cache_table', 'tap_cache_enrollments', '{"factors": 4, "iterations": 5}')$$,
	'trains from a table');
SELECT is((SELECT count(*) FROM kpreco.course_factors('tap_cache_table')), 10::bigint, 'ten courses');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1000, 1, 'tap_cache_table') WHERE course_id = 11$$,
	'course 11 is not popular yet');
INSERT INTO tap_cache_enrollments SELECT u, 11 FROM generate_series(1, 30) u;
SELECT lives_ok($$SELECT kpreco.train('tap_cache_table')$$, 'retrains from the stored source');
SELECT is((SELECT count(*) FROM kpreco.course_factors('tap_cache_table')), 11::bigint, 'the new course is in the model');
SELECT results_eq($$SELECT course_id, rank FROM kpreco.recommend(1000, 1, 'tap_cache_table')$$,
	$$VALUES (11::bigint, 1)$$, 'and is the most popular');

-- A training rolled back is not served.
BEGIN;
SELECT kpreco.train('tap_cache', :source, '{"factors": 4, "iterations": 5, "seed": 3}') IS NOT NULL AS trained \gset in_
SELECT array_agg(course_id ORDER BY rank)::text AS recs FROM kpreco.recommend(1, 5, 'tap_cache') \gset in_
ROLLBACK;
SELECT ok(:'in_trained', 'a version trained in a transaction');
SELECT isnt(:'in_recs', (SELECT array_agg(course_id ORDER BY rank)::text FROM kpreco.recommend(1, 5, 'tap_cache_seed2')),
	'is served inside it');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache')$$,
	$$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache_seed2')$$, 'and forgotten after the rollback');

\if :have_dblink
SELECT dblink_connect('tap_cache_other', format('dbname=%s user=%s port=%s host=%s',
	current_database(), current_user, current_setting('port'),
	coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''), 'localhost'))) AS connected \gset
SELECT is(:'connected'::text, 'OK', 'a second session');

-- Another session retrains: this one serves the new version at its next statement.
SELECT lives_ok(format('SELECT kpreco.train(''tap_cache_seed4'', %L, ''{"factors": 4, "iterations": 5, "seed": 4}'')', :source),
	'a reference version with seed 4');
SELECT results_ne($$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache')$$,
	$$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache_seed4')$$, 'differs from what is served');
SELECT isnt((SELECT version FROM dblink('tap_cache_other',
				format('SELECT kpreco.train(''tap_cache'', %L, ''{"factors": 4, "iterations": 5, "seed": 4}'')', :source))
			 AS t(version bigint)),
	NULL, 'the other session retrains with seed 4');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache')$$,
	$$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache_seed4')$$, 'this session serves it');

-- This session retrains: the other one serves the new version.
SELECT is((SELECT count(*) FROM dblink('tap_cache_other', $$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache')$$)
		   AS t(course_id bigint, score real, rank integer)), 5::bigint, 'the other session serves');
SELECT lives_ok(format('SELECT kpreco.train(''tap_cache'', %L, ''{"factors": 4, "iterations": 5, "seed": 2}'')', :source),
	'this session retrains with seed 2');
SELECT results_eq($$SELECT * FROM dblink('tap_cache_other', 'SELECT * FROM kpreco.recommend(1, 5, ''tap_cache'')')
					AS t(course_id bigint, score real, rank integer)$$,
	$$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache_seed2')$$, 'the other session serves the new version');

-- Another session deletes the model.
SELECT dblink_exec('tap_cache_other', $$DELETE FROM kpreco.model_versions WHERE name = 'tap_cache';
	DELETE FROM kpreco.model_registry WHERE name = 'tap_cache'$$) AS deleted \gset
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, 'tap_cache')$$,
	'42704', 'kpreco model "tap_cache" does not exist', 'a model deleted elsewhere is gone here too');
SELECT dblink_disconnect('tap_cache_other') AS disconnected \gset
\else
SELECT skip('dblink is not available', 9);
\endif

SELECT * FROM finish();

DELETE FROM kpreco.model_versions WHERE name LIKE 'tap\_cache%';
DELETE FROM kpreco.model_registry WHERE name LIKE 'tap\_cache%';
DROP TABLE tap_cache_enrollments;
\if :have_dblink
\if :make_dblink
DROP EXTENSION dblink;
\endif
\endif
