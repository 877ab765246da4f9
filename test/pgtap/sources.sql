-- What kpreco.train() accepts as a source, and the column options.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(28);

CREATE TEMP TABLE tap_enrollments AS
SELECT u AS user_id, c AS course_id, (1 + (u * c) % 4)::numeric AS hours
  FROM generate_series(1, 25) u, generate_series(1, 9) c WHERE (u + 2 * c) % 5 <> 0;
CREATE TEMP VIEW tap_enrollments_view AS SELECT * FROM tap_enrollments;
CREATE SCHEMA tap_school;
CREATE TABLE tap_school."Taken" ("Learner" integer, "Course" text, "Hours" integer);
INSERT INTO tap_school."Taken" SELECT user_id, course_id::text, hours FROM tap_enrollments;

-- Every way of giving the same rows trains the same model as the table name.
CREATE FUNCTION pg_temp.model_of(name text) RETURNS bytea LANGUAGE sql AS $$
SELECT v.model::bytea FROM kpreco.model_versions v JOIN kpreco.model_registry r ON v.version = r.active_version
 WHERE r.name = $1
$$;
SELECT lives_ok($$SELECT kpreco.train('tap_src_table', 'tap_enrollments', '{"factors": 4, "iterations": 4}')$$,
	'a table name');
SELECT lives_ok($$SELECT kpreco.train('tap_src_select', 'SELECT user_id, course_id FROM tap_enrollments', '{"factors": 4, "iterations": 4}')$$,
	'a SELECT');
SELECT lives_ok($$SELECT kpreco.train('tap_src_lower', E'\n  select * from tap_enrollments where true', '{"factors": 4, "iterations": 4}')$$,
	'a select in lower case after white space');
SELECT lives_ok($$SELECT kpreco.train('tap_src_with', 'WITH e AS (SELECT * FROM tap_enrollments) SELECT * FROM e', '{"factors": 4, "iterations": 4}')$$,
	'a WITH query');
SELECT lives_ok($$SELECT kpreco.train('tap_src_paren', '(SELECT * FROM tap_enrollments)', '{"factors": 4, "iterations": 4}')$$,
	'a query in parentheses');
SELECT lives_ok($$SELECT kpreco.train('tap_src_tablecmd', 'TABLE tap_enrollments', '{"factors": 4, "iterations": 4}')$$,
	'TABLE name');
SELECT lives_ok($$SELECT kpreco.train('tap_src_view', 'tap_enrollments_view', '{"factors": 4, "iterations": 4}')$$,
	'a view');
SELECT lives_ok($$SELECT kpreco.train('tap_src_quoted', 'tap_school."Taken"', '{"factors": 4, "iterations": 4, "user_column": "Learner", "course_column": "Course"}')$$,
	'a schema-qualified table with quoted names, ids as text and integer');
SELECT is(pg_temp.model_of(n), pg_temp.model_of('tap_src_table'), n || ' gives the same model')
  FROM unnest(ARRAY['tap_src_select', 'tap_src_lower', 'tap_src_with', 'tap_src_paren',
					'tap_src_tablecmd', 'tap_src_view', 'tap_src_quoted']) n;
SELECT is((SELECT source FROM kpreco.model_registry WHERE name = 'tap_src_quoted'), 'tap_school."Taken"',
	'the source is stored as given');

-- VALUES, with column options.
SELECT lives_ok($$SELECT kpreco.train('tap_src_values', 'VALUES (1, 10, 2.0), (1, 11, 1.0), (2, 10, 1.0)',
	'{"factors": 2, "iterations": 2, "user_column": "column1", "course_column": "column2", "weight_column": "column3"}')$$,
	'VALUES with column options');
SELECT is((SELECT n_interactions FROM kpreco.models WHERE name = 'tap_src_values'), 3::bigint, 'three interactions');

-- weight_column: weights taken from the column, which matters.
SELECT lives_ok($$SELECT kpreco.train('tap_src_weighted', 'tap_enrollments', '{"factors": 4, "iterations": 4, "weight_column": "hours"}')$$,
	'a numeric weight column');
SELECT lives_ok($$SELECT kpreco.train('tap_src_weighted_int', 'tap_school."Taken"', '{"factors": 4, "iterations": 4, "user_column": "Learner", "course_column": "Course", "weight_column": "Hours"}')$$,
	'an integer weight column');
SELECT is(pg_temp.model_of('tap_src_weighted_int'), pg_temp.model_of('tap_src_weighted'), 'the same weights give the same model');
SELECT isnt(pg_temp.model_of('tap_src_weighted'), pg_temp.model_of('tap_src_table'), 'weights change the model');

-- train(model) reads the stored source again, with the stored options.
INSERT INTO tap_enrollments VALUES (26, 1, 1), (26, 2, 1);
SELECT lives_ok($$SELECT kpreco.train('tap_src_weighted')$$, 'retrains from the stored source');
SELECT is((SELECT n_users FROM kpreco.models WHERE name = 'tap_src_weighted' AND active), 26, 'with the new rows');
SELECT is((SELECT options ->> 'factors' FROM kpreco.models WHERE name = 'tap_src_weighted' AND active), '4', 'and the stored options');

-- Bad sources.
SELECT throws_ok($$SELECT kpreco.train('tap_src_bad', 'tap_no_such_table')$$,
	'42P01', 'relation "tap_no_such_table" does not exist', 'an unknown table');
SELECT throws_ok($$SELECT kpreco.train('tap_src_bad', 'SELECT * FROM tap_no_such_table')$$,
	'42P01', NULL, 'a query over an unknown table');
SELECT throws_ok($$SELECT kpreco.train('tap_src_bad', 'tap_school."Taken"')$$,
	'42703', NULL, 'default column names that are not there');

SELECT * FROM finish();
ROLLBACK;
