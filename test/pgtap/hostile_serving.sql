-- Hostile input to serving: recommend, similar_courses, predict,
-- user_factors, course_factors.  NULLs, k at its limits, ids at the ends of
-- bigint, odd model names, and models deleted from the catalog between calls
-- of the same session: a documented result or a clean error, never a crash.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(112);

-- After a backend crash the postmaster ends every session: this session
-- and its temporary table still being here at the end is the proof that
-- no case crashed the server.
CREATE TEMP TABLE hostile_session AS SELECT pg_backend_pid() AS pid;

-- A known catalog for this transaction (rolled back at the end).
DELETE FROM kpreco.model_versions;
DELETE FROM kpreco.model_registry;
RESET kpreco.default_model;

-- 20 users, 8 courses; user 1 took courses 1, 3, 4, 6, 7 (not 2, 5 and 8).
CREATE TEMP TABLE hostile_rows AS
SELECT u AS user_id, c AS course_id FROM generate_series(1, 20) u, generate_series(1, 8) c WHERE (u + c) % 3 <> 0;
CREATE FUNCTION pg_temp.unseen(u bigint) RETURNS bigint LANGUAGE sql AS $$
SELECT 8 - count(*) FROM hostile_rows WHERE user_id = u
$$;

-- No model at all ------------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5)$$, '42704', 'no kpreco model has been trained in this database',
	'recommend with no model trained');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, NULL)$$, '42704', 'no kpreco model has been trained in this database',
	'recommend with a NULL model name and no model trained');
SELECT throws_ok($$SELECT * FROM kpreco.similar_courses(1, 5)$$, '42704', 'no kpreco model has been trained in this database',
	'similar_courses with no model trained');
SELECT throws_ok($$SELECT kpreco.predict(1, 1)$$, '42704', 'no kpreco model has been trained in this database',
	'predict with no model trained');
SELECT throws_ok($$SELECT * FROM kpreco.user_factors(NULL)$$, '42704', 'no kpreco model has been trained in this database',
	'user_factors(NULL) with no model trained');
SELECT throws_ok($$SELECT * FROM kpreco.course_factors(NULL)$$, '42704', 'no kpreco model has been trained in this database',
	'course_factors(NULL) with no model trained');
SELECT is_empty($$SELECT * FROM kpreco.recommend(NULL, NULL, NULL)$$, 'recommend(NULL, NULL, NULL): no rows, even with no model');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(NULL, NULL, NULL)$$, 'similar_courses(NULL, NULL, NULL): no rows');
SELECT is(kpreco.predict(NULL, NULL, NULL), NULL, 'predict(NULL, NULL, NULL) is NULL');

-- One model: NULL in every argument -----------------------------------------------------

SELECT lives_ok($$SELECT kpreco.train('hostile_a', 'hostile_rows', '{"factors": 4, "iterations": 4}')$$, 'a model to serve');
SELECT is_empty($$SELECT * FROM kpreco.recommend(NULL, 5, 'hostile_a')$$, 'recommend: NULL user');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1, NULL, 'hostile_a')$$, 'recommend: NULL k');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1, NULL, 'hostile_no_such_model')$$, 'recommend: NULL k, unknown model: no rows');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 5, NULL)$$, $$SELECT * FROM kpreco.recommend(1, 5, 'hostile_a')$$,
	'recommend: NULL model name is the only model');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(NULL, 5, 'hostile_a')$$, 'similar_courses: NULL course');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(1, NULL, 'hostile_a')$$, 'similar_courses: NULL k');
SELECT results_eq($$SELECT * FROM kpreco.similar_courses(1, 5, NULL)$$, $$SELECT * FROM kpreco.similar_courses(1, 5, 'hostile_a')$$,
	'similar_courses: NULL model name is the only model');
SELECT is(kpreco.predict(NULL, 3, 'hostile_a'), NULL, 'predict: NULL user');
SELECT is(kpreco.predict(1, NULL, 'hostile_a'), NULL, 'predict: NULL course');
SELECT is(kpreco.predict(1, 3, NULL), kpreco.predict(1, 3, 'hostile_a'), 'predict: NULL model name is the only model');
SELECT results_eq($$SELECT * FROM kpreco.user_factors(NULL)$$, $$SELECT * FROM kpreco.user_factors('hostile_a')$$,
	'user_factors: NULL model name is the only model');
SELECT results_eq($$SELECT * FROM kpreco.course_factors(NULL)$$, $$SELECT * FROM kpreco.course_factors('hostile_a')$$,
	'course_factors: NULL model name is the only model');
SELECT results_eq($$SELECT * FROM kpreco.user_factors()$$, $$SELECT * FROM kpreco.user_factors('hostile_a')$$,
	'user_factors: no argument is the only model');

-- k at 0, 1, the catalog size, one more, and the largest integer ---------------------------

SELECT throws_ok(format('SELECT * FROM kpreco.%s(%s, %s, ''hostile_a'')', fn, who, k), '22023', 'k must be at least 1, not ' || k,
	format('%s(%s, k = %s) is refused', fn, who, k))
  FROM (VALUES ('recommend', '1'), ('recommend', '999'), ('similar_courses', '1')) f(fn, who),
	   (VALUES ('0'), ('-1'), ('-2147483648')) kk(k);
SELECT is((SELECT count(*) FROM kpreco.recommend(1, k, 'hostile_a')), least(k, pg_temp.unseen(1)),
	format('recommend(known user, k = %s): %s rows', k, least(k, pg_temp.unseen(1))))
  FROM unnest(ARRAY[1, 2, 8, 9, 2147483647]) k;
SELECT is((SELECT count(*) FROM kpreco.recommend(999, k, 'hostile_a')), least(k, 8)::bigint,
	format('recommend(unknown user, k = %s): %s rows', k, least(k, 8)))
  FROM unnest(ARRAY[1, 7, 8, 9, 2147483647]) k;
SELECT is((SELECT count(*) FROM kpreco.similar_courses(1, k, 'hostile_a')), least(k, 7)::bigint,
	format('similar_courses(k = %s): %s rows', k, least(k, 7)))
  FROM unnest(ARRAY[1, 7, 8, 9, 2147483647]) k;
SELECT results_eq($$SELECT rank FROM kpreco.recommend(999, 2147483647, 'hostile_a')$$, $$SELECT generate_series(1, 8)$$,
	'k = 2147483647: ranks 1..8 without a gap');
SELECT ok((SELECT bool_and(score IS NULL) FROM kpreco.recommend(999, 2147483647, 'hostile_a')), 'and no personal score for an unknown user');
SELECT ok((SELECT bool_and(similarity <= prev) FROM (SELECT similarity, lag(similarity, 1, 'Infinity') OVER (ORDER BY rank) AS prev
												   FROM kpreco.similar_courses(1, 2147483647, 'hostile_a')) t),
	'similar_courses with k = 2147483647 comes in decreasing similarity');
SELECT results_eq($$SELECT course_id FROM kpreco.recommend(1, 2147483647, 'hostile_a') ORDER BY course_id$$,
	$$VALUES (2::bigint), (5), (8)$$, 'recommend with k = 2147483647 gives exactly the courses not taken');

-- Ids at the ends of bigint ----------------------------------------------------------------

SELECT results_eq($$SELECT course_id, rank FROM kpreco.recommend(9223372036854775807, 3, 'hostile_a')$$,
	$$SELECT course_id, rank FROM kpreco.recommend(999, 3, 'hostile_a')$$, 'the largest bigint user is unknown: popular courses');
SELECT results_eq($$SELECT course_id, rank FROM kpreco.recommend('-9223372036854775808'::bigint, 3, 'hostile_a')$$,
	$$SELECT course_id, rank FROM kpreco.recommend(999, 3, 'hostile_a')$$, 'the smallest bigint user is unknown: popular courses');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(9223372036854775807, 3, 'hostile_a')$$, 'the largest bigint course: no similar courses');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses('-9223372036854775808'::bigint, 3, 'hostile_a')$$, 'the smallest bigint course: no similar courses');
SELECT is(kpreco.predict('-9223372036854775808'::bigint, 9223372036854775807, 'hostile_a'), NULL, 'predict at both ends of bigint is NULL');
SELECT is(kpreco.predict(1, 0, 'hostile_a'), NULL, 'predict for course 0 (unknown) is NULL');

-- Model names that name nothing ------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, '')$$, '42704', 'kpreco model "" does not exist', 'recommend: empty model name');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, repeat('n', 201))$$, '42704', NULL, 'recommend: a 201-byte model name');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, repeat('n', 100000))$$, '42704', NULL, 'recommend: a 100,000-byte model name');
SELECT throws_ok($$SELECT * FROM kpreco.similar_courses(1, 5, 'hostile_%s%n%%')$$, '42704', 'kpreco model "hostile_%s%n%%" does not exist',
	'similar_courses: a name full of format directives is quoted as it is');
SELECT throws_ok($$SELECT kpreco.predict(1, 1, E'hostile_a\n')$$, '42704', NULL, 'predict: the name with a trailing newline is another name');
SELECT throws_ok($$SELECT * FROM kpreco.user_factors('HOSTILE_A')$$, '42704', 'kpreco model "HOSTILE_A" does not exist', 'user_factors: names are case-sensitive');
SELECT throws_ok($$SELECT * FROM kpreco.course_factors(' hostile_a')$$, '42704', 'kpreco model " hostile_a" does not exist', 'course_factors: a leading space is part of the name');

-- Two models, and kpreco.default_model ---------------------------------------------------------

SELECT lives_ok($$SELECT kpreco.train('hostile_b', 'SELECT user_id, course_id FROM hostile_rows WHERE user_id <= 10', '{"factors": 2, "iterations": 2}')$$,
	'a second model');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5)$$, '42P08', 'there are 2 kpreco models and no model was named',
	'recommend with two models and no name');
SELECT throws_ok($$SELECT * FROM kpreco.user_factors(NULL)$$, '42P08', NULL, 'user_factors(NULL) with two models');
SELECT throws_ok($$SELECT kpreco.predict(1, 1, NULL)$$, '42P08', NULL, 'predict with two models and a NULL name');
CREATE TEMP TABLE hostile_a_served AS SELECT * FROM kpreco.recommend(1, 5, 'hostile_a');
SET LOCAL kpreco.default_model = 'hostile_b';
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 5)$$, $$SELECT * FROM kpreco.recommend(1, 5, 'hostile_b')$$,
	'kpreco.default_model picks one');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 5, 'hostile_a')$$, $$SELECT * FROM hostile_a_served$$,
	'a name given wins over kpreco.default_model');
SET LOCAL kpreco.default_model = 'hostile_no_such_model';
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5)$$, '42704', 'kpreco model "hostile_no_such_model" does not exist',
	'kpreco.default_model naming no model');
SELECT set_config('kpreco.default_model', repeat('d', 10000), true) IS NOT NULL AS set \gset
SELECT throws_ok($$SELECT * FROM kpreco.course_factors()$$, '42704', NULL, 'a 10,000-byte kpreco.default_model');
RESET kpreco.default_model;

-- Serving in odd SQL contexts --------------------------------------------------------------

SELECT is((SELECT count(*) FROM (SELECT kpreco.recommend(1, 5, 'hostile_a')) t), pg_temp.unseen(1),
	'recommend in a target list');
CREATE FUNCTION pg_temp.ranks_backwards() RETURNS integer[] LANGUAGE plpgsql AS $$
DECLARE
	c refcursor;
	r record;
	ranks integer[] := '{}';
BEGIN
	OPEN c SCROLL FOR SELECT * FROM kpreco.recommend(999, 8, 'hostile_a');
	FETCH LAST FROM c INTO r;
	WHILE FOUND LOOP
		ranks := ranks || r.rank;
		FETCH PRIOR FROM c INTO r;
	END LOOP;
	CLOSE c;
	RETURN ranks;
END
$$;
SELECT is(pg_temp.ranks_backwards(), ARRAY[8, 7, 6, 5, 4, 3, 2, 1], 'a scroll cursor reads recommend backwards');
SELECT is((SELECT count(*) FROM generate_series(1, 3000) u,
		   LATERAL kpreco.recommend(CASE WHEN u % 2 = 0 THEN u % 25 ELSE -u END, 3, CASE WHEN u % 3 = 0 THEN 'hostile_a' ELSE 'hostile_b' END)),
	(SELECT sum(least(3, CASE WHEN u % 2 = 0 AND u % 25 BETWEEN 1 AND (CASE WHEN u % 3 = 0 THEN 20 ELSE 10 END)
							  THEN pg_temp.unseen(u % 25) ELSE 8 END))::bigint FROM generate_series(1, 3000) u),
	'3000 calls alternating two models and known and unknown users');

-- Models deleted or changed in this session between calls --------------------------------

CREATE FUNCTION pg_temp.serve_all(model text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM * FROM kpreco.recommend(1, 3, model);
	PERFORM * FROM kpreco.similar_courses(1, 3, model);
	PERFORM kpreco.predict(1, 3, model);
	PERFORM * FROM kpreco.user_factors(model);
	PERFORM * FROM kpreco.course_factors(model);
	RETURN 'served';
END
$$;
CREATE FUNCTION pg_temp.errors_of(model text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	statements text[] := ARRAY[
		format('SELECT * FROM kpreco.recommend(1, 3, %L)', model),
		format('SELECT * FROM kpreco.similar_courses(1, 3, %L)', model),
		format('SELECT kpreco.predict(1, 3, %L)', model),
		format('SELECT * FROM kpreco.user_factors(%L)', model),
		format('SELECT * FROM kpreco.course_factors(%L)', model)];
	statement text;
	codes text[] := '{}';
BEGIN
	FOREACH statement IN ARRAY statements LOOP
		BEGIN
			EXECUTE statement;
			codes := codes || 'ok'::text;
		EXCEPTION WHEN OTHERS THEN
			codes := codes || SQLSTATE::text;
		END;
	END LOOP;
	RETURN array_to_string(codes, ' ');
END
$$;

SELECT is(pg_temp.serve_all('hostile_a'), 'served', 'every serving function loads hostile_a');
SELECT lives_ok($$DELETE FROM kpreco.model_versions WHERE name = 'hostile_a'$$, 'its version rows are deleted');
SELECT is(pg_temp.errors_of('hostile_a'), '42704 42704 42704 42704 42704', 'then every serving function says it does not exist');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 3, 'hostile_a')$$, '42704', 'kpreco model "hostile_a" does not exist',
	'with the usual message');
SELECT is(pg_temp.serve_all('hostile_b'), 'served', 'the other model still serves');
SELECT lives_ok($$SELECT kpreco.train('hostile_a', 'hostile_rows', '{"factors": 4, "iterations": 4}')$$, 'hostile_a is trained again');
SELECT is(pg_temp.serve_all('hostile_a'), 'served', 'and serves');
SELECT lives_ok($$DELETE FROM kpreco.model_registry WHERE name = 'hostile_a'$$, 'its registry row is deleted (the version rows stay)');
SELECT is(pg_temp.errors_of('hostile_a'), '42704 42704 42704 42704 42704', 'every serving function says it does not exist');
SELECT is(pg_temp.serve_all(NULL), 'served', 'the only model left is served without a name');

SELECT lives_ok($$SELECT kpreco.train('hostile_c', 'hostile_rows', '{"factors": 3, "iterations": 3}')$$, 'a model hostile_c');
CREATE TEMP TABLE hostile_c_first AS SELECT * FROM kpreco.recommend(1, 3, 'hostile_c');
SELECT lives_ok($$SELECT kpreco.train('hostile_c', 'hostile_rows', '{"factors": 3, "iterations": 3, "seed": 7}')$$, 'its second version');
SELECT is(pg_temp.serve_all('hostile_c'), 'served', 'serves');
SELECT lives_ok($$UPDATE kpreco.model_registry SET active_version = active_version + 1000000 WHERE name = 'hostile_c'$$,
	'active_version points at no version');
SELECT is(pg_temp.errors_of('hostile_c'), '42704 42704 42704 42704 42704', 'every serving function says it does not exist');
SELECT lives_ok($$UPDATE kpreco.model_registry SET active_version = NULL WHERE name = 'hostile_c'$$, 'active_version is NULL');
SELECT is(pg_temp.errors_of('hostile_c'), '42704 42704 42704 42704 42704', 'every serving function says it does not exist');
SELECT lives_ok($$UPDATE kpreco.model_registry SET active_version = (SELECT min(version) FROM kpreco.model_versions WHERE name = 'hostile_c') WHERE name = 'hostile_c'$$,
	'active_version is set back to the first version');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 3, 'hostile_c')$$, $$SELECT * FROM hostile_c_first$$, 'which is served again');

-- Deleted half-way through one statement: the calls after the delete fail cleanly.
CREATE FUNCTION pg_temp.delete_model_at(model_name text, row_number integer, current integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF current = row_number THEN
		DELETE FROM kpreco.model_versions WHERE name = model_name;
	END IF;
	RETURN true;
END
$$;
SELECT throws_ok($$SELECT kpreco.predict(1, c % 8, 'hostile_c') FROM generate_series(1, 40) c WHERE pg_temp.delete_model_at('hostile_c', 20, c)$$,
	'42704', 'kpreco model "hostile_c" does not exist', 'predict in a query that deletes its model at row 20');
SELECT throws_ok($$SELECT count(*) FROM generate_series(1, 40) c, LATERAL kpreco.recommend(c, 3, CASE WHEN pg_temp.delete_model_at('hostile_c', 20, c) THEN 'hostile_c' END) r$$,
	'42704', 'kpreco model "hostile_c" does not exist', 'recommend in a LATERAL join that deletes its model at row 20');

SELECT lives_ok($$TRUNCATE kpreco.model_versions$$, 'every version is truncated away');
SELECT is(pg_temp.errors_of('hostile_b'), '42704 42704 42704 42704 42704', 'every serving function says hostile_b does not exist');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 3)$$, '42704', 'no kpreco model has been trained in this database',
	'and without a name: no model');

SELECT lives_ok($$SELECT kpreco.train('hostile_d', 'hostile_rows', '{"factors": 2, "iterations": 2}')$$, 'a model hostile_d');
SELECT is(pg_temp.serve_all('hostile_d'), 'served', 'serves');
SELECT lives_ok($$ALTER TABLE kpreco.model_versions RENAME TO model_versions_elsewhere$$, 'the versions table is renamed');
SELECT is(pg_temp.errors_of('hostile_d'), '42P01 42P01 42P01 42P01 42P01', 'every serving function says the catalog is missing');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 3, 'hostile_d')$$, '42P01', 'kpreco catalog tables not found',
	'with a message that says so');
SELECT lives_ok($$ALTER TABLE kpreco.model_versions_elsewhere RENAME TO model_versions$$, 'and renamed back');
SELECT is(pg_temp.serve_all('hostile_d'), 'served', 'serving resumes');
SELECT lives_ok($$DROP EXTENSION kpreco; CREATE EXTENSION kpreco$$, 'the extension is dropped and created again');
SELECT is(pg_temp.errors_of('hostile_d'), '42704 42704 42704 42704 42704', 'the old model is gone for every serving function');
SELECT lives_ok($$SELECT kpreco.train('hostile_d', 'hostile_rows', '{"factors": 2, "iterations": 2}')$$, 'a model trains in the new catalog');
SELECT is(pg_temp.serve_all('hostile_d'), 'served', 'and serves');

SELECT is((SELECT pid FROM hostile_session), pg_backend_pid(), 'same session as at the start: no backend crashed');
SELECT is((SELECT 1), 1, 'the server still answers');

SELECT * FROM finish();
ROLLBACK;
