-- Hostile input to the serving functions of 0.3.0: recommend's and
-- similar_courses' filters and diversity, recommend_for_courses,
-- model_with_user, refresh_user, audience, similar_users, segment_users,
-- segment_profile and recommend_all.  NULL in every argument, empty and
-- two-dimensional arrays, arrays of unknown ids, bad weights, k and
-- n_segments at their limits, models a function does not apply to, roles
-- that may not write, damaged model values and models dropped between
-- calls: a documented result or a clean error with its exact SQLSTATE,
-- never a crash.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(218);

-- After a backend crash the postmaster ends every session: this session
-- and its temporary table still being here at the end is the proof that
-- no case crashed the server.
CREATE TEMP TABLE hostile_session AS SELECT pg_backend_pid() AS pid;

-- A known catalog for this transaction (rolled back at the end).
DELETE FROM kpreco.model_versions;
DELETE FROM kpreco.model_registry;
RESET kpreco.default_model;

-- 20 users, 8 courses; user 1 took courses 1, 3, 4, 6, 7 (not 2, 5 and 8);
-- course 3 was taken by 13 users.
CREATE TEMP TABLE hb_rows AS
SELECT u::bigint AS user_id, c::bigint AS course_id FROM generate_series(1, 20) u, generate_series(1, 8) c WHERE (u + c) % 3 <> 0;
SELECT lives_ok($$SELECT kpreco.train('hb_ials', 'hb_rows', '{"factors": 4, "iterations": 4}')$$, 'an ials model');
SELECT lives_ok($$SELECT kpreco.train('hb_ease', 'hb_rows', '{"algorithm": "ease"}')$$, 'an ease model');
SELECT lives_ok($$SELECT kpreco.train('hb_pop', 'hb_rows', '{"algorithm": "popular"}')$$, 'a popular model');

-- The rows of a query as text, in order, to compare two calls.
CREATE FUNCTION pg_temp.rows_of(query text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	result text[];
BEGIN
	EXECUTE format('SELECT coalesce(array_agg(t::text), ''{}'') FROM (%s) t', query) INTO result;
	RETURN result;
END
$$;
-- The first column of the first row of a query run as another role, or
-- "SQLSTATE: message" of the error it raises.
CREATE FUNCTION pg_temp.as_role(role name, query text) RETURNS text LANGUAGE plpgsql AS $$
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
-- The first column of the first row of a query, or "SQLSTATE: message" of its error.
CREATE FUNCTION pg_temp.result_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE query INTO result;
	RETURN result;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- The SQLSTATE a statement ends with ('ok' when it does not fail).
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
CREATE TEMP TABLE hb_big AS
SELECT array_agg(g::bigint ORDER BY g) AS ids FROM generate_series(-50000, 49999) g;   -- 100,000 ids, every course among them

-- recommend: NULL in every argument --------------------------------------------------------------

SELECT is_empty($$SELECT * FROM kpreco.recommend(NULL, 5, 'hb_ials', ARRAY[1]::bigint[], ARRAY[2]::bigint[], true, 0.5)$$,
	'recommend: NULL user, no rows');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1, NULL, 'hb_ials', ARRAY[1]::bigint[], ARRAY[2]::bigint[], true, 0.5)$$,
	'recommend: NULL k, no rows');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, NULL, ARRAY[2]::bigint[])$$, '42P08', 'there are 3 kpreco models and no model was named',
	'recommend: NULL model with three models');
SELECT is(pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', NULL, NULL, true, 0)$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials')$$), 'recommend: NULL candidates and exclude are no filter');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', exclude_seen => NULL)$$, '22004', 'exclude_seen must not be NULL',
	'recommend: NULL exclude_seen');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(999, 5, 'hb_ials', exclude_seen => NULL)$$, '22004', 'exclude_seen must not be NULL',
	'recommend: NULL exclude_seen for an unknown user');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', diversity => NULL)$$, '22023', 'diversity must be between 0 and 1',
	'recommend: NULL diversity');
SELECT is_empty($$SELECT * FROM kpreco.recommend(NULL, 5, 'hb_ials', exclude_seen => NULL, diversity => NULL)$$,
	'recommend: a NULL user wins over NULL exclude_seen and diversity (no rows)');

-- recommend: diversity, k ---------------------------------------------------------------------------

SELECT throws_ok(format('SELECT * FROM kpreco.recommend(1, 5, ''hb_ials'', diversity => %s)', d), '22023', 'diversity must be between 0 and 1',
	format('recommend: diversity %s is refused', d))
  FROM unnest(ARRAY['-0.1', '1.1', '''NaN''', '''Infinity''', '''-Infinity''', '-0.000001', '1.000001']) d;
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, 'hb_no_such_model', diversity => 2)$$, '22023', 'diversity must be between 0 and 1',
	'recommend: a bad diversity is refused before the model is looked up');
SELECT is((SELECT count(*) FROM kpreco.recommend(1, 5, 'hb_ials', diversity => d)), 3::bigint,
	format('recommend: diversity %s gives the 3 courses user 1 has not taken', d))
  FROM unnest(ARRAY[0, 1e-30, 0.5, 1]::real[]) d;
SELECT is((SELECT count(*) FROM kpreco.recommend(1, 2147483647, m, diversity => 0.5, exclude_seen => false)), 8::bigint,
	format('recommend(k = 2147483647, diversity 0.5, exclude_seen false) on %s: every course', m))
  FROM unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m;
SELECT throws_ok(format('SELECT * FROM kpreco.recommend(1, %s, ''hb_ials'', ARRAY[1, 2]::bigint[])', k), '22023', 'k must be at least 1, not ' || k,
	format('recommend with candidates: k = %s is refused', k))
  FROM unnest(ARRAY[0, -1]) k;
SELECT is((SELECT count(*) FROM kpreco.recommend(1, 2147483647, 'hb_ials', ARRAY[1, 2, 5, 9]::bigint[])), 2::bigint,
	'recommend with candidates, k = 2147483647: the 2 eligible candidates');

-- recommend: arrays ------------------------------------------------------------------------------------

SELECT is_empty($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', '{}'::bigint[])$$, 'recommend: empty candidates leave nothing eligible');
SELECT is_empty($$SELECT * FROM kpreco.recommend(999, 5, 'hb_ials', '{}'::bigint[])$$, 'recommend: empty candidates, unknown user: nothing');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1, 5, 'hb_pop', '{}'::bigint[])$$, 'recommend: empty candidates, popular model: nothing');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', '{}'::bigint[], diversity => 0.5)$$, 'recommend: empty candidates with diversity: nothing');
SELECT is(pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', exclude => '{}')$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials')$$), 'recommend: empty exclude is no filter');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', ARRAY[0, 9, -9223372036854775808, 9223372036854775807]::bigint[])$$,
	'recommend: candidates of only unknown ids leave nothing eligible');
SELECT is_empty($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', ARRAY[NULL, NULL]::bigint[])$$,
	'recommend: candidates of only NULLs leave nothing eligible');
SELECT is(pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', exclude => ARRAY[0, NULL, 99]::bigint[])$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials')$$), 'recommend: exclude of only unknown ids and NULL is no filter');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', '{{1,2},{3,4}}'::bigint[])$$, '2202E', 'course id arrays must have one dimension',
	'recommend: 2-dimensional candidates');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', NULL, '{{1},{2}}'::bigint[])$$, '2202E', 'course id arrays must have one dimension',
	'recommend: 2-dimensional exclude');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(999, 5, 'hb_ials', NULL, '{{{1}}}'::bigint[])$$, '2202E', 'course id arrays must have one dimension',
	'recommend: 3-dimensional exclude, unknown user');
SELECT is(pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', '[5:7]={2,5,8}'::bigint[])$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials')$$), 'recommend: candidates with a lower bound of 5 work as any array');
SELECT is(pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', (SELECT ids FROM hb_big))$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials')$$), 'recommend: a 100,000-id candidate array holding every course');
SELECT is_empty($$SELECT * FROM kpreco.recommend(999, 5, 'hb_ials', NULL, (SELECT ids FROM hb_big), false)$$,
	'recommend: a 100,000-id exclude array holding every course leaves nothing');
SELECT is(pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', (SELECT ids FROM hb_big) || ARRAY[2]::bigint[], ARRAY[2, 2, 2]::bigint[], true, 0.3)$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend(1, 5, 'hb_ials', ARRAY[5, 8]::bigint[], diversity => 0.3)$$),
	'recommend: repeated ids in candidates and exclude, with diversity');

-- similar_courses -------------------------------------------------------------------------------------------

SELECT is_empty($$SELECT * FROM kpreco.similar_courses(NULL, 5, 'hb_ials', ARRAY[1]::bigint[], ARRAY[2]::bigint[])$$, 'similar_courses: NULL course');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(1, NULL, 'hb_ials', ARRAY[1]::bigint[], ARRAY[2]::bigint[])$$, 'similar_courses: NULL k');
SELECT throws_ok($$SELECT * FROM kpreco.similar_courses(1, 5, NULL, ARRAY[2]::bigint[])$$, '42P08', NULL, 'similar_courses: NULL model with three models');
SELECT is(pg_temp.rows_of(format('SELECT * FROM kpreco.similar_courses(1, 5, %L, NULL, NULL)', m)),
	pg_temp.rows_of(format('SELECT * FROM kpreco.similar_courses(1, 5, %L)', m)),
	format('similar_courses on %s: NULL candidates and exclude are no filter', m))
  FROM unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m;
SELECT is_empty(format('SELECT * FROM kpreco.similar_courses(1, 5, %L, ''{}'')', m), format('similar_courses on %s: empty candidates, nothing', m))
  FROM unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m;
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(1, 5, 'hb_ials', ARRAY[1, 1, NULL, 77]::bigint[])$$,
	'similar_courses: candidates of only the course itself, NULL and unknown ids: nothing');
SELECT throws_ok($$SELECT * FROM kpreco.similar_courses(1, 5, 'hb_ials', '{{1,2}}'::bigint[])$$, '2202E', 'course id arrays must have one dimension',
	'similar_courses: 2-dimensional candidates');
SELECT throws_ok($$SELECT * FROM kpreco.similar_courses(1, 5, 'hb_ease', NULL, '{{1,2}}'::bigint[])$$, '2202E', 'course id arrays must have one dimension',
	'similar_courses: 2-dimensional exclude');
SELECT throws_ok($$SELECT * FROM kpreco.similar_courses(1, 0, 'hb_ials', ARRAY[2]::bigint[])$$, '22023', 'k must be at least 1, not 0',
	'similar_courses with candidates: k = 0');
SELECT is((SELECT count(*) FROM kpreco.similar_courses(1, 2147483647, m, (SELECT ids FROM hb_big), ARRAY[2]::bigint[])), 6::bigint,
	format('similar_courses on %s: 100,000 candidates, k = 2147483647: the 6 other courses but the excluded one', m))
  FROM unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m;

-- recommend_for_courses -----------------------------------------------------------------------------------------

SELECT is(pg_temp.rows_of($$SELECT * FROM kpreco.recommend_for_courses(NULL, ARRAY[1, 2]::real[], 4, 'hb_ials')$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend(999, 4, 'hb_ials')$$), 'recommend_for_courses: NULL courses, popular courses with NULL scores');
SELECT is(pg_temp.rows_of($$SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2]::bigint[], NULL, 4, 'hb_ials')$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2]::bigint[], ARRAY[1, 1]::real[], 4, 'hb_ials')$$),
	'recommend_for_courses: NULL weights are 1 each');
SELECT is_empty($$SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2]::bigint[], NULL, NULL, 'hb_ials')$$, 'recommend_for_courses: NULL k, no rows');
SELECT throws_ok($$SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2]::bigint[], NULL, 4, NULL)$$, '42P08', NULL,
	'recommend_for_courses: NULL model with three models');
SELECT is(pg_temp.rows_of(format('SELECT * FROM kpreco.recommend_for_courses(%s, %s, 4, ''hb_ials'')', ids, w)),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend(999, 4, 'hb_ials')$$),
	format('recommend_for_courses(%s, %s): the popular courses', ids, w))
  FROM (VALUES ('''{}''::bigint[]', 'NULL'), ('''{}''::bigint[]', '''{}''::real[]'), ('ARRAY[0, 99, -1]::bigint[]', 'NULL'),
			   ('ARRAY[NULL, NULL]::bigint[]', 'ARRAY[1, 1]::real[]'), ('ARRAY[1, 2]::bigint[]', 'ARRAY[0, 0]::real[]')) a(ids, w);
SELECT throws_ok($$SELECT * FROM kpreco.recommend_for_courses('{{1,2}}'::bigint[], NULL, 4, 'hb_ials')$$, '2202E',
	'course_ids and weights must have one dimension', 'recommend_for_courses: 2-dimensional course_ids');
SELECT throws_ok($$SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2]::bigint[], '{{1,2}}'::real[], 4, 'hb_ials')$$, '2202E',
	'course_ids and weights must have one dimension', 'recommend_for_courses: 2-dimensional weights');
SELECT throws_ok(format('SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2]::bigint[], %s, 4, ''hb_ials'')', w), '22023',
	format('weights has %s elements and course_ids 2', n), format('recommend_for_courses: %s weights for 2 courses', n))
  FROM (VALUES ('''{}''::real[]', 0), ('ARRAY[1]::real[]', 1), ('ARRAY[1, 2, 3]::real[]', 3)) a(w, n);
SELECT throws_ok(format('SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2]::bigint[], ARRAY[1, %s]::real[], 4, %L)', w, m), '22023', NULL,
	format('recommend_for_courses on %s: weight %s is refused', m, w))
  FROM unnest(ARRAY['''NaN''', '-1', '''Infinity''', '''-Infinity''', '-1e-30']) w, unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m
 WHERE m = 'hb_ials' OR w IN ('''NaN''', '-1');
SELECT throws_ok($$SELECT * FROM kpreco.recommend_for_courses(ARRAY[NULL, 77]::bigint[], ARRAY['NaN', -1]::real[], 4, 'hb_ials')$$, '22023',
	'weight 1 is NaN; weights must be finite and >= 0', 'recommend_for_courses: a NaN weight is refused even for a NULL course');
SELECT is(pg_temp.rows_of($$SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2, 4]::bigint[], ARRAY[NULL, 1, NULL]::real[], 4, 'hb_ials')$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2, 4]::bigint[], NULL, 4, 'hb_ials')$$),
	'recommend_for_courses: NULL weight elements count as 1');
SELECT is((SELECT count(*) FROM kpreco.recommend_for_courses(ARRAY[1, 2]::bigint[], ARRAY['3.4e38', '3.4e38']::real[], 4, m)), 4::bigint,
	format('recommend_for_courses on %s: weights of 3.4e38 (and their sum beyond real) still answer', m))
  FROM unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m;
SELECT throws_ok(format('SELECT * FROM kpreco.recommend_for_courses(ARRAY[1]::bigint[], NULL, %s, ''hb_ials'')', k), '22023',
	'k must be at least 1, not ' || k, format('recommend_for_courses: k = %s', k))
  FROM unnest(ARRAY[0, -1, -2147483648]) k;
SELECT is((SELECT count(*) FROM kpreco.recommend_for_courses(ARRAY[1, 1, 2]::bigint[], NULL, 2147483647, 'hb_ials')), 6::bigint,
	'recommend_for_courses: k = 2147483647, every course but the given ones');
SELECT is((SELECT count(*) FROM kpreco.recommend_for_courses((SELECT ids FROM hb_big), NULL, 5, m)), 0::bigint,
	format('recommend_for_courses on %s: 100,000 ids holding every course leave nothing to recommend', m))
  FROM unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m;

-- model_with_user ----------------------------------------------------------------------------------------------------

CREATE TEMP TABLE hb_values AS
SELECT r.name, v.model FROM kpreco.model_versions v JOIN kpreco.model_registry r ON r.active_version = v.version;
SELECT is(kpreco.model_with_user(NULL, 1, ARRAY[1]::bigint[], NULL)::text, NULL, 'model_with_user: NULL model, NULL');
SELECT is((SELECT kpreco.model_with_user(model, NULL, ARRAY[1]::bigint[], ARRAY[1]::real[])::text FROM hb_values WHERE name = 'hb_ials'), NULL,
	'model_with_user: NULL user, NULL');
SELECT ok((SELECT kpreco.model_has_user(kpreco.model_with_user(model, 500, ARRAY[1, 2]::bigint[], NULL), 500) FROM hb_values WHERE name = 'hb_ials'),
	'model_with_user: NULL weights add the user (1 each)');
SELECT is((SELECT kpreco.model_has_user(kpreco.model_with_user(model, 1, NULL, NULL), 1) FROM hb_values WHERE name = 'hb_ials'), false,
	'model_with_user: NULL course_ids remove the user');
SELECT throws_ok($$SELECT kpreco.model_with_user(model, 1, '{{1,2}}'::bigint[], ARRAY[1, 1]::real[]) FROM hb_values WHERE name = 'hb_ials'$$,
	'2202E', 'course_ids and weights must have one dimension', 'model_with_user: 2-dimensional course_ids');
SELECT throws_ok($$SELECT kpreco.model_with_user(model, 1, ARRAY[1, 2]::bigint[], ARRAY[1]::real[]) FROM hb_values WHERE name = 'hb_ials'$$,
	'22023', 'weights has 1 elements and course_ids 2', 'model_with_user: weights of the wrong length');
SELECT throws_ok(format('SELECT kpreco.model_with_user(model, 1, ARRAY[1, 2]::bigint[], ARRAY[1, %s]::real[]) FROM hb_values WHERE name = %L', w, m),
	'22023', NULL, format('model_with_user on %s: weight %s is refused', m, w))
  FROM unnest(ARRAY['''NaN''', '-2', '''Infinity''']) w, unnest(ARRAY['hb_ials', 'hb_ease']) m;
SELECT is((SELECT kpreco.model_info(kpreco.model_with_user(model, u, ARRAY[1, 2]::bigint[], ARRAY[1, 1]::real[])) ->> 'n_users' FROM hb_values WHERE name = m),
	'21', format('model_with_user on %s: a new user %s', m, u))
  FROM unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m, unnest(ARRAY[-9223372036854775808, 9223372036854775807]) u
 WHERE u > 0 OR m = 'hb_ials';
SELECT is(pg_temp.sqlstate_of($$SELECT kpreco.model_with_user(decode(repeat('ab', 200), 'hex')::kpreco.model, 1, ARRAY[1]::bigint[], ARRAY[1]::real[])$$),
	pg_temp.sqlstate_of($$SELECT decode(repeat('ab', 200), 'hex')::kpreco.model$$),
	'model_with_user on random bytes cast to the type: refused as the cast refuses them');
SELECT throws_ok($$SELECT kpreco.model_with_user(decode(md5('x') || md5('y') || md5('z') || md5('w'), 'hex')::kpreco.model, 1, ARRAY[1]::bigint[], ARRAY[1]::real[])$$,
	'XX001', NULL, 'model_with_user on 64 random bytes: XX001');
SELECT throws_ok($$SELECT kpreco.model_with_user(overlay(model::bytea PLACING '\x7f'::bytea FROM length(model::bytea) - 3)::kpreco.model, 1, ARRAY[1]::bigint[], ARRAY[1]::real[])
					 FROM hb_values WHERE name = 'hb_ials'$$,
	'XX001', NULL, 'model_with_user on a model with one byte changed: XX001');
SELECT throws_ok($$SELECT kpreco.model_with_user('bm90IGEgbW9kZWw='::kpreco.model, 1, ARRAY[1]::bigint[], ARRAY[1]::real[])$$, '22P02', NULL,
	'model_with_user on text that is not a model: 22P02');

-- refresh_user ----------------------------------------------------------------------------------------------------------

SELECT throws_ok($$SELECT kpreco.refresh_user(NULL, 'hb_ials')$$, '22004', 'user_id must not be NULL', 'refresh_user: NULL user');
SELECT throws_ok($$SELECT kpreco.refresh_user(NULL, NULL)$$, '22004', 'user_id must not be NULL', 'refresh_user: NULL user and model');
SELECT throws_ok($$SELECT kpreco.refresh_user(1, NULL)$$, '42P08', 'no model was named, and the role cannot read exactly one',
	'refresh_user: NULL model with three models');
SELECT throws_ok($$SELECT kpreco.refresh_user(1, 'hb_no_such_model')$$, '42704', 'kpreco model "hb_no_such_model" does not exist',
	'refresh_user: an unknown model');
SELECT throws_ok($$SELECT kpreco.refresh_user(1, '')$$, '42704', 'kpreco model "" does not exist', 'refresh_user: an empty model name');
SET LOCAL kpreco.default_model = 'hb_ials';
SELECT is(kpreco.refresh_user(1, NULL), 5, 'refresh_user: NULL model is kpreco.default_model');
RESET kpreco.default_model;
SELECT is(pg_temp.result_of($$SELECT kpreco.refresh_user(9223372036854775807, 'hb_ials')$$), '0',
	'refresh_user of a user with no rows who is not in the model: 0 rows read');
SELECT is((SELECT n_users FROM kpreco.models WHERE name = 'hb_ials' AND active), 20, 'and the model keeps its 20 users');
CREATE ROLE kpreco_hb_reader;
CREATE ROLE kpreco_hb_stranger;
SELECT kpreco.grant_model('hb_ials', 'kpreco_hb_reader') IS NULL AS granted \gset
SELECT is(pg_temp.as_role('kpreco_hb_reader', $$SELECT count(*) FROM kpreco.recommend(1, 3, 'hb_ials')$$), '3', 'a reader serves hb_ials');
SELECT is(pg_temp.as_role('kpreco_hb_reader', $$SELECT kpreco.refresh_user(1, 'hb_ials')$$), '42501: must be owner of kpreco model "hb_ials"',
	'refresh_user on a model the role can read but not write: 42501');
SELECT is(pg_temp.as_role('kpreco_hb_stranger', $$SELECT kpreco.refresh_user(1, 'hb_ials')$$), '42704: kpreco model "hb_ials" does not exist',
	'refresh_user on a model the role cannot see: 42704');
SELECT is(pg_temp.as_role('kpreco_hb_reader', $$SELECT kpreco.refresh_user(NULL, 'hb_ials')$$), '22004: user_id must not be NULL',
	'a reader''s NULL user is still 22004');
INSERT INTO kpreco.model_registry (name, source, options, active_version)
SELECT 'hb_sourceless', NULL, '{}', NULL;
INSERT INTO kpreco.model_versions (name, algorithm, options, n_users, n_courses, n_interactions, model)
SELECT 'hb_sourceless', 'ials', '{}', 20, 8, 0, model FROM hb_values WHERE name = 'hb_ials';
UPDATE kpreco.model_registry SET active_version = (SELECT max(version) FROM kpreco.model_versions WHERE name = 'hb_sourceless') WHERE name = 'hb_sourceless';
SELECT throws_ok($$SELECT kpreco.refresh_user(1, 'hb_sourceless')$$, '55000', 'kpreco model "hb_sourceless" has no active version trained from a source',
	'refresh_user on a model with no source: 55000');
UPDATE kpreco.model_registry SET active_version = NULL WHERE name = 'hb_sourceless';
SELECT throws_ok($$SELECT kpreco.refresh_user(1, 'hb_sourceless')$$, '55000', NULL, 'refresh_user on a model with no active version: 55000');
CREATE TEMP TABLE hb_gone AS TABLE hb_rows;
SELECT lives_ok($$SELECT kpreco.train('hb_gone', 'hb_gone', '{"factors": 2, "iterations": 2}')$$, 'a model over a table about to be dropped');
DROP TABLE hb_gone;
SELECT throws_ok($$SELECT kpreco.refresh_user(1, 'hb_gone')$$, '42P01', NULL, 'refresh_user when the source table is gone: 42P01');

-- audience -----------------------------------------------------------------------------------------------------------

SELECT is_empty($$SELECT * FROM kpreco.audience(NULL, 5, 'hb_ials')$$, 'audience: NULL course');
SELECT is_empty($$SELECT * FROM kpreco.audience(2, NULL, 'hb_ials')$$, 'audience: NULL k');
SELECT throws_ok($$SELECT * FROM kpreco.audience(2, 5, NULL)$$, '42P08', NULL, 'audience: NULL model with several models');
SELECT throws_ok(format('SELECT * FROM kpreco.audience(2, %s, %L)', k, m), '22023', 'k must be at least 1, not ' || k,
	format('audience on %s: k = %s', m, k))
  FROM unnest(ARRAY[0, -1]) k, unnest(ARRAY['hb_ials', 'hb_pop']) m;
SELECT is((SELECT count(*) FROM kpreco.audience(2, 2147483647, m)), (SELECT 20 - count(*) FROM hb_rows WHERE course_id = 2),
	format('audience on %s, k = 2147483647: every user who did not take the course', m))
  FROM unnest(ARRAY['hb_ials', 'hb_ease']) m;
SELECT throws_ok($$SELECT * FROM kpreco.audience(2, 5, 'hb_pop')$$, '0A000', 'kpreco model "hb_pop" (popular) scores every user alike',
	'audience on a popular model: 0A000');
SELECT throws_ok($$SELECT * FROM kpreco.audience(777, 5, 'hb_pop')$$, '0A000', NULL, 'audience on a popular model, unknown course: 0A000');
SELECT is_empty(format('SELECT * FROM kpreco.audience(%s, 5, ''hb_ease'')', c), format('audience of course %s (unknown): no rows', c))
  FROM unnest(ARRAY[0, -9223372036854775808, 9223372036854775807]) c;

-- similar_users ----------------------------------------------------------------------------------------------------------

SELECT is_empty($$SELECT * FROM kpreco.similar_users(NULL, 5, 'hb_ials')$$, 'similar_users: NULL user');
SELECT is_empty($$SELECT * FROM kpreco.similar_users(1, NULL, 'hb_ials')$$, 'similar_users: NULL k');
SELECT throws_ok($$SELECT * FROM kpreco.similar_users(1, 5, NULL)$$, '42P08', NULL, 'similar_users: NULL model with several models');
SELECT throws_ok(format('SELECT * FROM kpreco.similar_users(1, %s, ''hb_ials'')', k), '22023', 'k must be at least 1, not ' || k,
	format('similar_users: k = %s', k))
  FROM unnest(ARRAY[0, -1, -2147483648]) k;
SELECT is((SELECT count(*) FROM kpreco.similar_users(1, 2147483647, 'hb_ials')), 19::bigint, 'similar_users, k = 2147483647: the 19 others');
SELECT throws_ok(format('SELECT * FROM kpreco.similar_users(1, 5, %L)', m), '0A000',
	format('kpreco model "%s" (%s) has no user vectors for similar_users', m, a), format('similar_users on %s: 0A000', a))
  FROM (VALUES ('hb_ease', 'ease'), ('hb_pop', 'popular')) x(m, a);
SELECT throws_ok($$SELECT * FROM kpreco.similar_users(12345, 5, 'hb_ease')$$, '0A000', NULL, 'similar_users on ease, unknown user: 0A000');
SELECT is_empty($$SELECT * FROM kpreco.similar_users(12345, 5, 'hb_ials')$$, 'similar_users of an unknown user: no rows');

-- segment_users and segment_profile ---------------------------------------------------------------------------------------

SELECT throws_ok(format('SELECT * FROM kpreco.%s(NULL, ''hb_ials'')', f), '22004', 'n_segments must not be NULL', f || ': NULL n_segments')
  FROM unnest(ARRAY['segment_users', 'segment_profile']) f;
SELECT throws_ok(format('SELECT * FROM kpreco.%s(NULL, ''hb_ease'')', f), '22004', NULL, f || ': NULL n_segments on an ease model')
  FROM unnest(ARRAY['segment_users', 'segment_profile']) f;
SELECT throws_ok(format('SELECT * FROM kpreco.%s(2, NULL)', f), '42P08', NULL, f || ': NULL model with several models')
  FROM unnest(ARRAY['segment_users', 'segment_profile']) f;
SELECT throws_ok(format('SELECT * FROM kpreco.%s(%s, ''hb_ials'')', f, n), '22023',
	format('n_segments must be between 1 and the number of users (20), not %s', n), format('%s: n_segments = %s', f, n))
  FROM unnest(ARRAY['segment_users', 'segment_profile']) f, unnest(ARRAY[0, -1, -2147483648, 21, 100000000, 2147483647]) n;
SELECT throws_ok(format('SELECT * FROM kpreco.%s(2, ''hb_ials'', %s)', f, s), '22023', 'seed must be at least 0', format('%s: seed %s', f, s))
  FROM unnest(ARRAY['segment_users', 'segment_profile']) f, unnest(ARRAY[-1, -2147483648]) s;
SELECT is(pg_temp.rows_of(format('SELECT * FROM kpreco.%s(3, ''hb_ials'', NULL)', f)), pg_temp.rows_of(format('SELECT * FROM kpreco.%s(3, ''hb_ials'', 0)', f)),
	f || ': a NULL seed is seed 0')
  FROM unnest(ARRAY['segment_users', 'segment_profile']) f;
SELECT is((SELECT count(*) FROM kpreco.segment_users(2, 'hb_ials', 2147483647)), 20::bigint, 'segment_users: seed 2147483647');
SELECT throws_ok(format('SELECT * FROM kpreco.%s(2, %L)', f, m), '0A000',
	format('kpreco model "%s" (%s) has no user vectors for segments', m, a), format('%s on %s: 0A000', f, a))
  FROM unnest(ARRAY['segment_users', 'segment_profile']) f, (VALUES ('hb_ease', 'ease'), ('hb_pop', 'popular')) x(m, a);
SELECT throws_ok($$SELECT * FROM kpreco.segment_users(0, 'hb_pop')$$, '0A000', NULL, 'segment_users(0) on a popular model: 0A000 first');
SELECT throws_ok(format('SELECT * FROM kpreco.segment_profile(2, ''hb_ials'', 0, %s)', k), '22023', 'k must be at least 1, not ' || k,
	format('segment_profile: k = %s', k))
  FROM unnest(ARRAY[0, -1]) k;
SELECT is((SELECT count(*) FROM kpreco.segment_profile(2, 'hb_ials', 0, NULL)), 10::bigint, 'segment_profile: NULL k is 5 courses a segment');
SELECT is((SELECT count(*) FROM kpreco.segment_profile(3, 'hb_ials', 0, 2147483647)), 24::bigint, 'segment_profile: k = 2147483647, every course for each segment');
SELECT is((SELECT count(DISTINCT segment) FROM kpreco.segment_users(20, 'hb_ials', 1)), 20::bigint, 'segment_users: as many segments as users');

-- recommend_all -----------------------------------------------------------------------------------------------------------

SELECT is_empty($$SELECT * FROM kpreco.recommend_all(NULL, 'hb_ials')$$, 'recommend_all: NULL k');
SELECT throws_ok($$SELECT * FROM kpreco.recommend_all(3, NULL)$$, '42P08', NULL, 'recommend_all: NULL model with several models');
SELECT is((SELECT count(*) FROM kpreco.recommend_all(3, 'hb_ials', NULL)),
	(SELECT sum(least(3, 8 - n))::bigint FROM (SELECT count(*) AS n FROM hb_rows GROUP BY user_id) t), 'recommend_all: NULL user_ids is every user');
SELECT throws_ok(format('SELECT * FROM kpreco.recommend_all(%s, ''hb_ials'')', k), '22023', 'k must be at least 1, not ' || k,
	format('recommend_all: k = %s', k))
  FROM unnest(ARRAY[0, -1, -2147483648]) k;
SELECT is((SELECT count(*) FROM kpreco.recommend_all(2147483647, m)), (SELECT 20 * 8 - count(*) FROM hb_rows),
	format('recommend_all on %s, k = 2147483647: every course not taken', m))
  FROM unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m;
SELECT is_empty(format('SELECT * FROM kpreco.recommend_all(3, ''hb_ials'', %s)', ids), format('recommend_all: user_ids %s, no rows', ids))
  FROM unnest(ARRAY['''{}''::bigint[]', 'ARRAY[NULL]::bigint[]', 'ARRAY[NULL, NULL, NULL]::bigint[]']) ids;
SELECT is(pg_temp.rows_of($$SELECT course_id, score, rank FROM kpreco.recommend_all(3, 'hb_ials', ARRAY[0, -5]::bigint[]) WHERE user_id = 0$$),
	pg_temp.rows_of($$SELECT * FROM kpreco.recommend(0, 3, 'hb_ials')$$), 'recommend_all: only unknown users get the popular courses');
SELECT throws_ok($$SELECT * FROM kpreco.recommend_all(3, 'hb_ials', '{{1,2},{3,4}}'::bigint[])$$, '2202E', 'user_ids must have one dimension',
	'recommend_all: 2-dimensional user_ids');
SELECT is((SELECT count(*) FROM kpreco.recommend_all(1, m, (SELECT ids FROM hb_big))), 100000::bigint,
	format('recommend_all on %s for 100,000 user ids: one row each', m))
  FROM unnest(ARRAY['hb_ials', 'hb_ease', 'hb_pop']) m;

-- A model dropped between calls ---------------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.errors_of(model text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	statements text[] := ARRAY[
		format('SELECT * FROM kpreco.recommend(1, 3, %L, ARRAY[2, 5]::bigint[], ARRAY[5]::bigint[], false, 0.5)', model),
		format('SELECT * FROM kpreco.similar_courses(1, 3, %L, ARRAY[2, 5]::bigint[])', model),
		format('SELECT * FROM kpreco.recommend_for_courses(ARRAY[1, 2]::bigint[], NULL, 3, %L)', model),
		format('SELECT kpreco.refresh_user(1, %L)', model),
		format('SELECT * FROM kpreco.audience(2, 3, %L)', model),
		format('SELECT * FROM kpreco.similar_users(1, 3, %L)', model),
		format('SELECT * FROM kpreco.segment_users(2, %L)', model),
		format('SELECT * FROM kpreco.segment_profile(2, %L)', model),
		format('SELECT * FROM kpreco.recommend_all(3, %L)', model)];
	statement text;
	codes text[] := '{}';
BEGIN
	FOREACH statement IN ARRAY statements LOOP
		codes := codes || pg_temp.sqlstate_of(statement);
	END LOOP;
	RETURN array_to_string(codes, ' ');
END
$$;
SELECT lives_ok($$SELECT kpreco.train('hb_dropped', 'hb_rows', '{"factors": 3, "iterations": 3}')$$, 'a model hb_dropped');
SELECT is(pg_temp.errors_of('hb_dropped'), 'ok ok ok ok ok ok ok ok ok', 'every function serves it');
SELECT lives_ok($$SELECT kpreco.drop_model('hb_dropped')$$, 'then it is dropped');
SELECT is(pg_temp.errors_of('hb_dropped'), '42704 42704 42704 42704 42704 42704 42704 42704 42704',
	'and every function says it does not exist');
SELECT lives_ok($$SELECT kpreco.train('hb_dropped', 'hb_rows', '{"factors": 3, "iterations": 3}')$$, 'it is trained again');
SELECT is(pg_temp.errors_of('hb_dropped'), 'ok ok ok ok ok ok ok ok ok', 'and served again');
CREATE FUNCTION pg_temp.drop_at(model_name text, at integer, current integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF current = at THEN
		PERFORM kpreco.drop_model(model_name);
	END IF;
	RETURN true;
END
$$;
SELECT throws_ok($$SELECT count(*) FROM generate_series(1, 10) u, LATERAL kpreco.audience(u % 8 + 1, 3, CASE WHEN pg_temp.drop_at('hb_dropped', 5, u) THEN 'hb_dropped' END) a$$,
	'42704', 'kpreco model "hb_dropped" does not exist', 'audience in a query that drops its model at row 5');
SELECT is(pg_temp.errors_of('hb_ials'), 'ok ok ok ok ok ok ok ok ok', 'the other models serve on');

-- The session is alive ------------------------------------------------------------------------------------------------------

SELECT is((SELECT pid FROM hostile_session), pg_backend_pid(), 'same session as at the start: no backend crashed');
SELECT is((SELECT 1), 1, 'the server still answers');

SELECT * FROM finish();
ROLLBACK;
