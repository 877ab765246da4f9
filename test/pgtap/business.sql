-- Serving what the business asks (0.3.0), as behaviour: filters that still
-- return k rows, diversity, fold-in (recommend_for_courses), refresh_user and
-- model_with_user, audience, similar_users, segments, recommend_all and the
-- diversity metric of evaluate().  Every result is checked against the same
-- thing computed another way: the unfiltered ranking restricted in SQL,
-- kpreco.predict, cosines and distances of user_factors/course_factors in
-- SQL.  First on small hand-made data, then on MovieLens 100K (skipped when
-- the tables ml100k_train and ml100k_test are empty).
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(147);

-- A known catalog for this transaction (rolled back at the end).
DELETE FROM kpreco.model_versions;
DELETE FROM kpreco.model_registry;
RESET kpreco.default_model;

-- 30 users, 20 courses: users 1-15 mostly take courses 101-110, users 16-30
-- courses 111-120, a few take one of the other group; every row has an event.
CREATE TEMP TABLE biz_rows AS
SELECT u::bigint AS user_id, c::bigint AS course_id,
	   CASE WHEN (u + c) % 4 = 0 THEN 'purchase' WHEN (u + c) % 4 = 1 THEN 'favorite' ELSE 'view' END AS event
  FROM generate_series(1, 30) u, generate_series(101, 120) c
 WHERE (CASE WHEN u <= 15 THEN c <= 110 ELSE c > 110 END AND (u * 7 + c * 3) % 5 < 3)
	OR (u + c) % 11 = 0;
-- The users every comparison runs over: the 30 known ones and an unknown one.
CREATE TEMP TABLE biz_users AS SELECT generate_series(1, 30)::bigint AS user_id UNION ALL SELECT 999;

SELECT lives_ok($$SELECT kpreco.train('biz_ials', 'biz_rows',
	'{"factors": 6, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky", "seed": 3}')$$,
	'an ials model (Cholesky) on the small data');
SELECT lives_ok($$SELECT kpreco.train('biz_ease', 'biz_rows', '{"algorithm": "ease", "regularization": 10}')$$,
	'an ease model');
SELECT lives_ok($$SELECT kpreco.train('biz_pop', 'biz_rows', '{"algorithm": "popular"}')$$, 'a popular model');

-- The user's training courses.
CREATE FUNCTION pg_temp.seen(u bigint) RETURNS bigint[] LANGUAGE sql STABLE AS $$
SELECT coalesce(array_agg(course_id ORDER BY course_id), '{}') FROM biz_rows WHERE user_id = u
$$;

-- Rows of recommend(u, k, model, cand, excl, exclude_seen) that differ from
-- the unfiltered ranking (k = 1,000,000, same exclude_seen) restricted in
-- SQL to the eligible courses, both ways, for every user of biz_users.
CREATE FUNCTION pg_temp.filter_mismatches(model text, cand bigint[], excl bigint[], exclude_seen boolean, k integer)
RETURNS TABLE (side text, user_id bigint, course_id bigint, score real, rank integer) LANGUAGE sql AS $$
WITH filtered AS (
	SELECT u.user_id, r.course_id, r.score, r.rank
	  FROM biz_users u, LATERAL kpreco.recommend(u.user_id, k, model, cand, excl, exclude_seen) r),
restricted AS (
	SELECT u.user_id, r.course_id, r.score, row_number() OVER (PARTITION BY u.user_id ORDER BY r.rank)::integer AS rank
	  FROM biz_users u, LATERAL kpreco.recommend(u.user_id, 1000000, model, exclude_seen => exclude_seen) r
	 WHERE (cand IS NULL OR coalesce(r.course_id = ANY (cand), false))
	   AND NOT coalesce(r.course_id = ANY (excl), false)),
expected AS (SELECT * FROM restricted WHERE rank <= k)
(SELECT 'filtered only', * FROM filtered EXCEPT SELECT 'filtered only', * FROM expected)
UNION ALL
(SELECT 'restricted only', * FROM expected EXCEPT SELECT 'restricted only', * FROM filtered)
$$;

-- The same for similar_courses over every course (and an unknown one).
CREATE FUNCTION pg_temp.similar_mismatches(model text, cand bigint[], excl bigint[], k integer)
RETURNS TABLE (side text, of_course bigint, course_id bigint, similarity real, rank integer) LANGUAGE sql AS $$
WITH courses AS (SELECT DISTINCT course_id AS c FROM biz_rows UNION ALL SELECT 999),
filtered AS (
	SELECT c, s.course_id, s.similarity, s.rank
	  FROM courses, LATERAL kpreco.similar_courses(c, k, model, cand, excl) s),
restricted AS (
	SELECT c, s.course_id, s.similarity, row_number() OVER (PARTITION BY c ORDER BY s.rank)::integer AS rank
	  FROM courses, LATERAL kpreco.similar_courses(c, 1000000, model) s
	 WHERE (cand IS NULL OR coalesce(s.course_id = ANY (cand), false))
	   AND NOT coalesce(s.course_id = ANY (excl), false)),
expected AS (SELECT * FROM restricted WHERE rank <= k)
(SELECT 'filtered only', * FROM filtered EXCEPT SELECT 'filtered only', * FROM expected)
UNION ALL
(SELECT 'restricted only', * FROM expected EXCEPT SELECT 'restricted only', * FROM filtered)
$$;

-- Filters: k rows whenever k courses are eligible ------------------------------------------

SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE (SELECT count(*) FROM kpreco.recommend(u.user_id, 4, 'biz_ials', ARRAY[101, 103, 111, 115, 120]::bigint[]))
		   <> least(4, (SELECT count(*) FROM unnest(ARRAY[101, 103, 111, 115, 120]::bigint[]) c
						 WHERE c <> ALL (pg_temp.seen(u.user_id))))$$,
	'recommend with 5 candidates, k = 4: min(4, eligible candidates) rows for every user');
SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE (SELECT array_agg(course_id ORDER BY course_id) FROM kpreco.recommend(u.user_id, 10, 'biz_ials', ARRAY[104, 102, 113]::bigint[]))
		   IS DISTINCT FROM (SELECT array_agg(c ORDER BY c) FROM unnest(ARRAY[102, 104, 113]::bigint[]) c
							  WHERE c <> ALL (pg_temp.seen(u.user_id)))$$,
	'3 candidates and k = 10: exactly the eligible candidates, for every user');
SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE (SELECT count(*) FROM kpreco.recommend(u.user_id, 5, 'biz_ials', exclude => ARRAY[101, 102, 103, 111, 112]::bigint[]))
		   <> least(5, (SELECT count(*) FROM generate_series(101, 120) c
						 WHERE c NOT IN (101, 102, 103, 111, 112) AND c <> ALL (pg_temp.seen(u.user_id))))$$,
	'exclude of 5 courses: 5 rows whenever 5 courses are left, for every user');
SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE (SELECT count(*) FROM kpreco.recommend(u.user_id, 20, 'biz_ials', exclude_seen => false)) <> 20$$,
	'exclude_seen false and k = 20: all 20 courses for every user');
SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE (SELECT count(*) FROM kpreco.similar_courses(u.user_id + 100, 4, 'biz_ials', ARRAY[101, 102, 103, 115, 116]::bigint[]))
		   <> CASE WHEN u.user_id <= 20 THEN 4 ELSE 0 END$$,
	'similar_courses with 5 candidates, k = 4: 4 rows for every course (the course itself never), none for unknown ones');

-- Candidates with unknown ids and NULLs ----------------------------------------------------

SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE ARRAY(SELECT row(course_id, score, rank)::text FROM kpreco.recommend(u.user_id, 6, 'biz_ials', ARRAY[NULL, 101, 999999, 105, NULL, -7, 111, 119, 101]::bigint[]))
		   IS DISTINCT FROM ARRAY(SELECT row(course_id, score, rank)::text FROM kpreco.recommend(u.user_id, 6, 'biz_ials', ARRAY[101, 105, 111, 119]::bigint[]))$$,
	'candidates with NULLs, unknown ids and a repeat: as the known ones alone, for every user');
SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE ARRAY(SELECT row(course_id, score, rank)::text FROM kpreco.recommend(u.user_id, 6, 'biz_ials', exclude => ARRAY[NULL, 102, 888888, 112]::bigint[]))
		   IS DISTINCT FROM ARRAY(SELECT row(course_id, score, rank)::text FROM kpreco.recommend(u.user_id, 6, 'biz_ials', exclude => ARRAY[102, 112]::bigint[]))$$,
	'exclude with NULLs and unknown ids: as the known ones alone, for every user');
SELECT is_empty($$SELECT u.user_id FROM biz_users u, LATERAL kpreco.recommend(u.user_id, 5, 'biz_ials', ARRAY[NULL, 999999]::bigint[]) r$$,
	'candidates of only NULLs and unknown ids: nothing is eligible');

-- Filtered results equal the unfiltered ranking restricted to the eligible courses ----------

SELECT is_empty(format('SELECT * FROM pg_temp.filter_mismatches(%L, %L, %L, %L, %s)', m, cand, excl, seen, k),
	format('%s: recommend(k = %s, candidates %s, exclude %s, exclude_seen %s) is the full ranking restricted, for every user',
		   m, k, coalesce(cand::text, 'NULL'), coalesce(excl::text, 'NULL'), seen))
  FROM (VALUES ('biz_ials'), ('biz_ease'), ('biz_pop')) models(m),
	   (VALUES ('{101,103,105,107,109,111,113,115,117,119}'::bigint[], NULL::bigint[], true, 4),
			   (NULL, '{102,104,111,112,113}', true, 5),
			   ('{101,102,103,104,111,112,113,114,999999,NULL}', '{103,113,NULL}', true, 3),
			   ('{101,102,103,104,111,112,113,114}', '{104}', false, 4),
			   (NULL, '{101,111}', false, 7)) filters(cand, excl, seen, k);
SELECT is_empty($$
	SELECT u.user_id, r.course_id FROM biz_users u, LATERAL kpreco.recommend(u.user_id, 100, 'biz_ials', ARRAY[101, 102, 103, 111]::bigint[], ARRAY[102]::bigint[]) r
	 WHERE r.course_id NOT IN (101, 103, 111) OR r.course_id = ANY (pg_temp.seen(u.user_id))$$,
	'no recommended course is outside the candidates, excluded or a training course');

-- exclude_seen false: training courses come back, in the order of kpreco.predict -----------------

SELECT is_empty($$
	WITH served AS (
		SELECT u.user_id, r.course_id, r.score, r.rank FROM biz_users u, LATERAL kpreco.recommend(u.user_id, 8, 'biz_ials', exclude_seen => false) r
		 WHERE u.user_id <> 999),
	ranked AS (
		SELECT u.user_id, c.course_id, kpreco.predict(u.user_id, c.course_id, 'biz_ials') AS score,
			   row_number() OVER (PARTITION BY u.user_id ORDER BY kpreco.predict(u.user_id, c.course_id, 'biz_ials') DESC, c.course_id)::integer AS rank
		  FROM biz_users u, (SELECT DISTINCT course_id FROM biz_rows) c WHERE u.user_id <> 999)
	(TABLE served EXCEPT SELECT * FROM ranked WHERE rank <= 8) UNION ALL (SELECT * FROM ranked WHERE rank <= 8 EXCEPT TABLE served)$$,
	'exclude_seen false: the top 8 of an SQL ranking of all courses by kpreco.predict, scores equal, for every user');
SELECT ok((SELECT count(*) FROM biz_users u, LATERAL kpreco.recommend(u.user_id, 8, 'biz_ials', exclude_seen => false) r
			WHERE r.course_id = ANY (pg_temp.seen(u.user_id))) > 30,
	'and training courses are among them');
SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE u.user_id <> 999
	   AND (SELECT array_agg(course_id ORDER BY course_id) FROM kpreco.recommend(u.user_id, 20, 'biz_ials', pg_temp.seen(u.user_id), NULL, false))
		   IS DISTINCT FROM pg_temp.seen(u.user_id)$$,
	'exclude_seen false with the user''s own courses as candidates: exactly those courses');

-- Unknown users under filters: popular courses, NULL score ---------------------------------------

CREATE TEMP TABLE biz_popularity AS
SELECT course_id, row_number() OVER (ORDER BY count(DISTINCT user_id) DESC, course_id) AS position
  FROM biz_rows GROUP BY course_id;
SELECT results_eq(
	format($$SELECT course_id, score, rank FROM kpreco.recommend(-5, 4, %L, ARRAY[101, 103, 104, 111, 117, 118, 999]::bigint[], ARRAY[104]::bigint[])$$, m),
	$$SELECT course_id, NULL::real, row_number() OVER (ORDER BY position)::integer FROM biz_popularity
	   WHERE course_id IN (101, 103, 111, 117, 118) ORDER BY position LIMIT 4$$,
	format('%s: an unknown user with candidates and exclude gets the most popular eligible courses, score NULL', m))
  FROM unnest(ARRAY['biz_ials', 'biz_ease']) m;
SELECT results_eq(
	$$SELECT course_id, rank FROM kpreco.recommend(-5, 3, 'biz_ials', exclude => ARRAY[103, 104, 117]::bigint[], exclude_seen => false)$$,
	$$SELECT course_id, row_number() OVER (ORDER BY position)::integer FROM biz_popularity
	   WHERE course_id NOT IN (103, 104, 117) ORDER BY position LIMIT 3$$,
	'an unknown user with exclude (and exclude_seen false): the most popular courses left');

-- similar_courses with filters -------------------------------------------------------------------

SELECT is_empty(format('SELECT * FROM pg_temp.similar_mismatches(%L, %L, %L, %s)', m, cand, excl, k),
	format('%s: similar_courses(k = %s, candidates %s, exclude %s) is the full list restricted, for every course',
		   m, k, coalesce(cand::text, 'NULL'), coalesce(excl::text, 'NULL')))
  FROM (VALUES ('biz_ials'), ('biz_ease'), ('biz_pop')) models(m),
	   (VALUES ('{101,103,105,107,109,111,113,115,117,119,NULL,999}'::bigint[], NULL::bigint[], 3),
			   (NULL, '{102,104,112,114,NULL,999}', 6),
			   ('{101,102,103,104,105,111,112,113}', '{101,111}', 4)) filters(cand, excl, k);
SELECT ok((SELECT bool_and(similarity IS NULL) FROM kpreco.similar_courses(101, 5, 'biz_pop', exclude => ARRAY[117]::bigint[])),
	'biz_pop: similar courses under a filter have a NULL similarity');

-- Diversity --------------------------------------------------------------------------------------

SELECT is_empty($$
	SELECT u.user_id, m FROM biz_users u CROSS JOIN unnest(ARRAY['biz_ials', 'biz_ease']) m
	 WHERE ARRAY(SELECT row(r.*)::text FROM kpreco.recommend(u.user_id, 6, m, diversity => 0) r)
		   IS DISTINCT FROM ARRAY(SELECT row(r.*)::text FROM kpreco.recommend(u.user_id, 6, m) r)
		OR ARRAY(SELECT row(r.*)::text FROM kpreco.recommend(u.user_id, 6, m, ARRAY[101, 102, 105, 111, 113, 116, 117]::bigint[], ARRAY[113]::bigint[], true, 0) r)
		   IS DISTINCT FROM ARRAY(SELECT row(r.*)::text FROM kpreco.recommend(u.user_id, 6, m, ARRAY[101, 102, 105, 111, 113, 116, 117]::bigint[], ARRAY[113]::bigint[]) r)$$,
	'diversity 0 is plain recommend, with and without filters (ials and ease, every user)');
SELECT is_empty($$
	SELECT u.user_id, r.* FROM biz_users u, unnest(ARRAY[0.3, 0.7, 1]::real[]) d,
		   LATERAL kpreco.recommend(u.user_id, 5, 'biz_ials', diversity => d) r
	 WHERE u.user_id <> 999 AND r.score IS DISTINCT FROM kpreco.predict(u.user_id, r.course_id, 'biz_ials')$$,
	'diversity 0.3, 0.7 and 1: scores are the relevance scores (kpreco.predict)');
SELECT is_empty($$
	SELECT u.user_id, d FROM biz_users u, unnest(ARRAY[0.01, 0.5, 1]::real[]) d
	 WHERE (SELECT array_agg(rank ORDER BY rank) FROM kpreco.recommend(u.user_id, 5, 'biz_ials', diversity => d)) <> ARRAY[1, 2, 3, 4, 5]
		OR (SELECT count(DISTINCT course_id) FROM kpreco.recommend(u.user_id, 5, 'biz_ials', diversity => d)) <> 5
		OR EXISTS (SELECT 1 FROM kpreco.recommend(u.user_id, 5, 'biz_ials', diversity => d) r WHERE r.course_id = ANY (pg_temp.seen(u.user_id)))$$,
	'diversity > 0: k distinct courses, ranks 1..k, no training course (every user)');
SELECT is_empty($$
	SELECT u.user_id, r.course_id FROM biz_users u,
		   LATERAL kpreco.recommend(u.user_id, 4, 'biz_ials', ARRAY[101, 102, 103, 104, 111, 112, 113, 114]::bigint[], ARRAY[104]::bigint[], false, 1) r
	 WHERE r.course_id NOT IN (101, 102, 103, 111, 112, 113, 114)$$,
	'diversity 1 keeps to the candidates and exclude');
SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE (SELECT course_id FROM kpreco.recommend(u.user_id, 5, 'biz_ials', diversity => 1) WHERE rank = 1)
		   IS DISTINCT FROM (SELECT course_id FROM kpreco.recommend(u.user_id, 5, 'biz_ials') WHERE rank = 1)$$,
	'diversity 1 still picks the most relevant course first');
SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE ARRAY(SELECT course_id FROM kpreco.recommend(u.user_id, 5, 'biz_ials', diversity => 0.5) ORDER BY course_id)
		   <@ ARRAY(SELECT course_id FROM kpreco.recommend(u.user_id, 50, 'biz_ials')) IS NOT TRUE$$,
	'a diverse list is drawn from the eligible courses');
SELECT is(
	(SELECT array_agg(score IS NULL) FROM kpreco.recommend(999, 5, 'biz_ials', diversity => 0.5)),
	array_fill(true, ARRAY[5]), 'diversity for an unknown user: 5 rows, scores NULL');

-- Intra-list diversity: 1 - the mean cosine of the course vectors over the pairs of a list.
CREATE FUNCTION pg_temp.ild(model text, ids bigint[]) RETURNS double precision LANGUAGE sql STABLE AS $$
WITH v AS (SELECT course_id, factors, sqrt((SELECT sum(x::float8 * x::float8) FROM unnest(factors) x)) AS norm
			 FROM kpreco.course_factors(model) WHERE course_id = ANY (ids))
SELECT avg(1 - coalesce((SELECT sum(x::float8 * y::float8) FROM unnest(a.factors, b.factors) f(x, y)) / nullif(a.norm * b.norm, 0), 0))
  FROM v a JOIN v b ON a.course_id < b.course_id
$$;
SELECT cmp_ok(
	(SELECT avg(pg_temp.ild('biz_ials', ARRAY(SELECT course_id FROM kpreco.recommend(user_id, 5, 'biz_ials', diversity => 1)))) FROM biz_users),
	'>',
	(SELECT avg(pg_temp.ild('biz_ials', ARRAY(SELECT course_id FROM kpreco.recommend(user_id, 5, 'biz_ials', diversity => 0)))) FROM biz_users),
	'diversity 1 gives lists of higher intra-list diversity than diversity 0 (31 users)');

-- recommend_for_courses --------------------------------------------------------------------------

SELECT is_empty($$
	SELECT u.user_id, m FROM biz_users u CROSS JOIN unnest(ARRAY['biz_ials', 'biz_ease', 'biz_pop']) m
	 WHERE u.user_id <> 999
	   AND ((SELECT count(*) FROM kpreco.recommend_for_courses(pg_temp.seen(u.user_id), NULL, 5, m)) <> 5
			OR EXISTS (SELECT 1 FROM kpreco.recommend_for_courses(pg_temp.seen(u.user_id), NULL, 20, m) r
						WHERE r.course_id = ANY (pg_temp.seen(u.user_id)))
			OR (SELECT count(*) FROM kpreco.recommend_for_courses(pg_temp.seen(u.user_id), NULL, 1000, m))
			   <> 20 - cardinality(pg_temp.seen(u.user_id)))$$,
	'recommend_for_courses: k rows, never a given course, every other course at a large k (ials, ease, popular)');
SELECT isnt(
	ARRAY(SELECT course_id FROM kpreco.recommend_for_courses(ARRAY[101, 115]::bigint[], ARRAY[20, 1]::real[], 10, 'biz_ials')),
	ARRAY(SELECT course_id FROM kpreco.recommend_for_courses(ARRAY[101, 115]::bigint[], ARRAY[1, 20]::real[], 10, 'biz_ials')),
	'weights change the result (ials)');
SELECT isnt(
	ARRAY(SELECT course_id FROM kpreco.recommend_for_courses(ARRAY[101, 115]::bigint[], ARRAY[20, 1]::real[], 10, 'biz_ease')),
	ARRAY(SELECT course_id FROM kpreco.recommend_for_courses(ARRAY[101, 115]::bigint[], ARRAY[1, 20]::real[], 10, 'biz_ease')),
	'weights change the result (ease)');
SELECT cmp_ok(
	(SELECT count(*) FROM kpreco.recommend_for_courses(ARRAY[101, 115]::bigint[], ARRAY[20, 1]::real[], 5, 'biz_ials') WHERE course_id <= 110),
	'>',
	(SELECT count(*) FROM kpreco.recommend_for_courses(ARRAY[101, 115]::bigint[], ARRAY[1, 20]::real[], 5, 'biz_ials') WHERE course_id <= 110),
	'more courses of 101''s group in the top 5 when 101 weighs 20 than when 115 does');
SELECT results_eq(
	$$SELECT * FROM kpreco.recommend_for_courses(ARRAY[101, 105, 107]::bigint[], NULL, 8, 'biz_ials')$$,
	$$SELECT * FROM kpreco.recommend_for_courses(ARRAY[101, 105, 107]::bigint[], ARRAY[1, NULL, 1]::real[], 8, 'biz_ials')$$,
	'NULL weights and a NULL weight element count as 1');
SELECT results_eq(
	$$SELECT * FROM kpreco.recommend_for_courses(ARRAY[101, 105, 101]::bigint[], ARRAY[1, 3, 2]::real[], 8, 'biz_ials')$$,
	$$SELECT * FROM kpreco.recommend_for_courses(ARRAY[105, 101]::bigint[], ARRAY[3, 3]::real[], 8, 'biz_ials')$$,
	'a repeated course has its weights summed; the order of the courses does not matter');
SELECT results_eq(
	$$SELECT * FROM kpreco.recommend_for_courses(ARRAY[101, 105, 112]::bigint[], ARRAY[1, 2, 0]::real[], 8, 'biz_ials')$$,
	$$SELECT * FROM kpreco.recommend_for_courses(ARRAY[101, 105]::bigint[], ARRAY[1, 2]::real[], 8, 'biz_ials')$$,
	'a course of weight 0 is dropped (and may be recommended)');
SELECT results_eq(
	format('SELECT course_id, score, rank FROM kpreco.recommend_for_courses(%s, NULL, 6, %L)', ids, m),
	format('SELECT course_id, score, rank FROM kpreco.recommend(424242, 6, %L)', m),
	format('%s: recommend_for_courses(%s) is the popular list of an unknown user, score NULL', m, ids))
  FROM unnest(ARRAY['biz_ials', 'biz_ease']) m,
	   unnest(ARRAY['NULL', '''{}''::bigint[]', 'ARRAY[999999, -1]::bigint[]', 'ARRAY[NULL]::bigint[]']) ids;
SELECT ok((SELECT bool_and(score IS NULL) AND count(*) = 6 FROM kpreco.recommend_for_courses(NULL, NULL, 6, 'biz_ials')),
	'six rows with a NULL score');
SELECT is_empty($$
	SELECT u.user_id FROM biz_users u
	 WHERE u.user_id <> 999
	   AND ARRAY(SELECT row(r.*)::text FROM kpreco.recommend_for_courses(pg_temp.seen(u.user_id), NULL, 6, 'biz_ease') r)
		   IS DISTINCT FROM ARRAY(SELECT row(r.*)::text FROM kpreco.recommend(u.user_id, 6, 'biz_ease') r)$$,
	'ease: recommend_for_courses of a user''s training courses is recommend for the user, score for score');
SELECT results_eq(
	$$SELECT course_id, score FROM kpreco.recommend_for_courses(ARRAY[103, 118]::bigint[], NULL, 5, 'biz_pop')$$,
	$$SELECT course_id, score FROM kpreco.recommend(424242, 7, 'biz_pop') WHERE course_id NOT IN (103, 118) LIMIT 5$$,
	'popular: the most popular courses but the given ones');
SELECT cmp_ok(
	(SELECT avg((SELECT count(*) FROM kpreco.recommend(u.user_id, 5, 'biz_ials') r
				  JOIN kpreco.recommend_for_courses(pg_temp.seen(u.user_id), NULL, 5, 'biz_ials') f USING (course_id)))
	   FROM biz_users u WHERE u.user_id <> 999)::double precision,
	'>=', 4.0::double precision,
	'ials (Cholesky): folding in a user''s own courses gives nearly the user''s top 5 (small data)');

-- refresh_user and model_with_user ------------------------------------------------------------------

-- A copy of the data that the refreshed model trains from and that is changed under it.
CREATE TEMP TABLE biz_live AS SELECT user_id, course_id FROM biz_rows;
SELECT lives_ok($$SELECT kpreco.train('biz_live', 'biz_live',
	'{"factors": 6, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky", "seed": 3}')$$,
	'a model over a table that changes');
SELECT n_users AS live_users FROM kpreco.models WHERE name = 'biz_live' AND active \gset

-- A new user.
INSERT INTO biz_live VALUES (500, 101), (500, 102), (500, 103), (500, 999999), (NULL, 104), (500, NULL);
SELECT is(kpreco.refresh_user(500, 'biz_live'), 4, 'refresh_user of a new user returns the rows read (NULL course ids not)');
SELECT is((SELECT n_users FROM kpreco.models WHERE name = 'biz_live' AND active), :live_users + 1, 'kpreco.models.n_users grows by one');
SELECT ok(kpreco.model_has_user((SELECT model FROM kpreco.model_versions v JOIN kpreco.model_registry r ON r.active_version = v.version
								  WHERE r.name = 'biz_live'), 500), 'the active version has the user');
SELECT ok((SELECT count(*) = 5 AND bool_and(score IS NOT NULL) AND bool_and(course_id NOT IN (101, 102, 103))
			 FROM kpreco.recommend(500, 5, 'biz_live')),
	'the new user gets 5 scored recommendations, without the courses taken');
SELECT ok((SELECT count(*) FILTER (WHERE course_id BETWEEN 101 AND 110) >= 4 FROM kpreco.recommend(500, 5, 'biz_live')),
	'courses of the group the new user''s courses belong to');
SELECT results_eq(
	$$SELECT * FROM kpreco.recommend(500, 10, 'biz_live')$$,
	$$SELECT * FROM kpreco.recommend_for_courses(ARRAY[101, 102, 103]::bigint[], NULL, 10, 'biz_live')$$,
	'its recommendations are the fold-in of its courses');

-- An existing user's new purchase: the user's best recommendation, bought now.
SELECT course_id AS bought FROM kpreco.recommend(4, 1, 'biz_live') \gset
INSERT INTO biz_live VALUES (4, :bought);
SELECT is(kpreco.refresh_user(4, 'biz_live'), cardinality(pg_temp.seen(4)) + 1, 'refresh_user of an existing user with a new purchase');
SELECT is((SELECT count(*) FROM kpreco.recommend(4, 100, 'biz_live') WHERE course_id = :bought), 0::bigint,
	'the purchase is no longer recommended');
SELECT is((SELECT count(*) FROM kpreco.recommend(4, 100, 'biz_live')), 20 - cardinality(pg_temp.seen(4)) - 1::bigint,
	'every other course still is');
SELECT is((SELECT n_users FROM kpreco.models WHERE name = 'biz_live' AND active), :live_users + 1, 'n_users does not change');

-- A user whose rows were deleted.
DELETE FROM biz_live WHERE user_id = 7;
SELECT lives_ok($$SELECT kpreco.refresh_user(7, 'biz_live')$$, 'refresh_user of a user whose rows are gone');
SELECT ok(NOT kpreco.model_has_user((SELECT model FROM kpreco.model_versions v JOIN kpreco.model_registry r ON r.active_version = v.version
									  WHERE r.name = 'biz_live'), 7), 'removes the user from the active version');
SELECT is((SELECT n_users FROM kpreco.models WHERE name = 'biz_live' AND active), :live_users, 'n_users shrinks by one');
SELECT ok((SELECT bool_and(score IS NULL) FROM kpreco.recommend(7, 5, 'biz_live')), 'the user is served as unknown');

-- Event weights: the refresh weighs the rows as training did.
CREATE TEMP TABLE biz_events AS SELECT * FROM biz_rows;
SELECT lives_ok($$SELECT kpreco.train('biz_events', 'biz_events',
	'{"factors": 6, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky", "seed": 3,
	  "event_column": "event", "event_weights": {"view": 1, "favorite": 3, "purchase": 10}}')$$,
	'a model with event weights');
CREATE TEMP TABLE biz_events_before AS
SELECT v.model FROM kpreco.model_versions v JOIN kpreco.model_registry r ON r.active_version = v.version WHERE r.name = 'biz_events';
INSERT INTO biz_events VALUES (600, 101, 'purchase'), (600, 115, 'view'), (600, 116, 'favorite'), (600, 117, 'ignored');
SELECT is(kpreco.refresh_user(600, 'biz_events'), 4, 'refresh_user reads the user''s 4 rows');
SELECT is(
	(SELECT md5(v.model::bytea) FROM kpreco.model_versions v JOIN kpreco.model_registry r ON r.active_version = v.version WHERE r.name = 'biz_events'),
	(SELECT md5(kpreco.model_with_user(model, 600, ARRAY[101, 115, 116, 117]::bigint[], ARRAY[10, 1, 3, 0]::real[])::bytea) FROM biz_events_before),
	'the stored version is model_with_user fed the courses with their event weights (10, 1, 3, 0)');
-- The same model value served under a name of its own, to compare predictions.
INSERT INTO kpreco.model_registry (name, source, options) VALUES ('biz_events_manual', NULL, '{}');
INSERT INTO kpreco.model_versions (name, algorithm, options, n_users, n_courses, n_interactions, model)
SELECT 'biz_events_manual', 'ials', '{}', 0, 0, 0, kpreco.model_with_user(model, 600, ARRAY[101, 115, 116, 117]::bigint[], ARRAY[10, 1, 3, 0]::real[])
  FROM biz_events_before;
UPDATE kpreco.model_registry SET active_version = (SELECT max(version) FROM kpreco.model_versions WHERE name = 'biz_events_manual')
 WHERE name = 'biz_events_manual';
INSERT INTO kpreco.model_registry (name, source, options) VALUES ('biz_events_unweighted', NULL, '{}');
INSERT INTO kpreco.model_versions (name, algorithm, options, n_users, n_courses, n_interactions, model)
SELECT 'biz_events_unweighted', 'ials', '{}', 0, 0, 0, kpreco.model_with_user(model, 600, ARRAY[101, 115, 116, 117]::bigint[], ARRAY[1, 1, 1, 1]::real[])
  FROM biz_events_before;
UPDATE kpreco.model_registry SET active_version = (SELECT max(version) FROM kpreco.model_versions WHERE name = 'biz_events_unweighted')
 WHERE name = 'biz_events_unweighted';
SELECT is_empty($$
	SELECT c FROM generate_series(101, 120) c
	 WHERE kpreco.predict(600, c, 'biz_events') IS DISTINCT FROM kpreco.predict(600, c, 'biz_events_manual')$$,
	'predict after the refresh equals predict of model_with_user fed the same weighted courses, for every course');
SELECT ok(EXISTS (SELECT 1 FROM generate_series(101, 120) c
				   WHERE kpreco.predict(600, c, 'biz_events') IS DISTINCT FROM kpreco.predict(600, c, 'biz_events_unweighted')),
	'and differs from the same courses with weight 1 each');
SELECT is(
	(SELECT md5(kpreco.model_with_user(model, 600, ARRAY[101, 115, 116, 117]::bigint[], NULL)::bytea) FROM biz_events_before),
	(SELECT md5(kpreco.model_with_user(model, 600, ARRAY[101, 115, 116, 117]::bigint[], ARRAY[1, 1, 1, 1]::real[])::bytea) FROM biz_events_before),
	'model_with_user with NULL weights: weight 1 each, as recommend_for_courses');
SELECT is(
	(SELECT md5(kpreco.model_with_user(model, 5, NULL, NULL)::bytea) FROM biz_events_before),
	(SELECT md5(kpreco.model_without_user(model, 5)::bytea) FROM biz_events_before),
	'model_with_user with NULL course_ids (no course) removes the user, as model_without_user does');
SELECT is(
	(SELECT md5(kpreco.model_with_user(model, 5, '{}', '{}')::bytea) FROM biz_events_before),
	(SELECT md5(kpreco.model_without_user(model, 5)::bytea) FROM biz_events_before),
	'model_with_user with no course removes the user');
SELECT is(
	(SELECT md5(kpreco.model_with_user(model, 5, ARRAY[999999]::bigint[], ARRAY[2]::real[])::bytea) FROM biz_events_before),
	(SELECT md5(kpreco.model_without_user(model, 5)::bytea) FROM biz_events_before),
	'model_with_user with only unknown courses removes the user');

-- audience ---------------------------------------------------------------------------------------------

SELECT is_empty(format($$
	WITH served AS (SELECT c, a.user_id, a.score, a.rank FROM generate_series(101, 120) c, LATERAL kpreco.audience(c, 6, %1$L) a),
	ranked AS (
		SELECT c, u.user_id, kpreco.predict(u.user_id, c, %1$L) AS score,
			   row_number() OVER (PARTITION BY c ORDER BY kpreco.predict(u.user_id, c, %1$L) DESC, u.user_id)::integer AS rank
		  FROM generate_series(101, 120) c, generate_series(1, 30) u (user_id)
		 WHERE NOT EXISTS (SELECT 1 FROM biz_rows b WHERE b.user_id = u.user_id AND b.course_id = c))
	(TABLE served EXCEPT SELECT * FROM ranked WHERE rank <= 6) UNION ALL (SELECT * FROM ranked WHERE rank <= 6 EXCEPT TABLE served)$$, m),
	format('%s: audience(course, 6) is the top 6 of an SQL ranking by predict of the users who did not take it, for every course', m))
  FROM unnest(ARRAY['biz_ials', 'biz_ease']) m;
SELECT is_empty(format($$
	SELECT c FROM generate_series(101, 120) c
	 WHERE (SELECT count(*) FROM kpreco.audience(c, 1000, %1$L) a) <> 30 - (SELECT count(*) FROM biz_rows WHERE course_id = c)
		OR EXISTS (SELECT 1 FROM kpreco.audience(c, 1000, %1$L) a JOIN biz_rows b ON b.user_id = a.user_id AND b.course_id = c)
		OR EXISTS (SELECT 1 FROM kpreco.audience(c, 1000, %1$L) a WHERE a.score IS DISTINCT FROM kpreco.predict(a.user_id, c, %1$L))$$, m),
	format('%s: with a large k every user who did not take the course, none who did, scores equal predict', m))
  FROM unnest(ARRAY['biz_ials', 'biz_ease']) m;
SELECT throws_ok($$SELECT * FROM kpreco.audience(101, 5, 'biz_pop')$$, '0A000', 'kpreco model "biz_pop" (popular) scores every user alike',
	'audience on a popular model is refused');
SELECT is_empty($$SELECT * FROM kpreco.audience(999, 5, 'biz_ials')$$, 'audience of an unknown course: no rows');

-- similar_users --------------------------------------------------------------------------------------------

CREATE TEMP TABLE biz_user_cosines AS
SELECT a.user_id AS of_user, b.user_id,
	   (SELECT sum(x::float8 * y::float8) FROM unnest(a.factors, b.factors) f(x, y))
	   / sqrt((SELECT sum(x::float8 * x::float8) FROM unnest(a.factors) x) * (SELECT sum(y::float8 * y::float8) FROM unnest(b.factors) y)) AS cosine
  FROM kpreco.user_factors('biz_ials') a, kpreco.user_factors('biz_ials') b WHERE a.user_id <> b.user_id;
SELECT is_empty($$
	WITH served AS (SELECT u.user_id AS of_user, s.user_id, s.similarity, s.rank FROM biz_users u, LATERAL kpreco.similar_users(u.user_id, 5, 'biz_ials') s),
	ranked AS (SELECT of_user, user_id, cosine, row_number() OVER (PARTITION BY of_user ORDER BY cosine DESC, user_id)::integer AS rank FROM biz_user_cosines)
	SELECT * FROM served s FULL JOIN (SELECT * FROM ranked WHERE rank <= 5) r USING (of_user, rank)
	 WHERE s.user_id IS NULL OR r.user_id IS NULL OR NOT abs(s.similarity - r.cosine) < 1e-5
		OR NOT abs((SELECT c.cosine FROM biz_user_cosines c WHERE c.of_user = s.of_user AND c.user_id = s.user_id) - r.cosine) < 1e-6$$,
	'similar_users(user, 5) is the top 5 of the cosines of user_factors computed in SQL, for every user (users within 1e-6, a tie in float, may swap)');
SELECT is_empty($$
	SELECT u FROM generate_series(1, 30) u
	 WHERE (SELECT count(*) FROM kpreco.similar_users(u, 1000, 'biz_ials')) <> 29
		OR EXISTS (SELECT 1 FROM kpreco.similar_users(u, 1000, 'biz_ials') WHERE user_id = u)$$,
	'similar_users with a large k: every other user, never the user itself');
SELECT is_empty($$SELECT * FROM kpreco.similar_users(999, 5, 'biz_ials')$$, 'similar_users of an unknown user: no rows');

-- segment_users and segment_profile -------------------------------------------------------------------------

CREATE TEMP TABLE biz_factors AS
SELECT user_id, d, v::float8 AS v FROM kpreco.user_factors('biz_ials'), unnest(factors) WITH ORDINALITY AS f(v, d);
-- Rows of segment_users whose distance is not the distance to its segment's mean, computed in SQL.
CREATE FUNCTION pg_temp.distance_mismatches(n integer, seed integer) RETURNS TABLE (user_id bigint, served real, computed double precision)
LANGUAGE sql AS $$
WITH seg AS (SELECT * FROM kpreco.segment_users(n, 'biz_ials', seed)),
centre AS (SELECT s.segment, f.d, avg(f.v) AS m FROM seg s JOIN biz_factors f USING (user_id) GROUP BY s.segment, f.d),
dist AS (SELECT s.user_id, s.distance, sqrt(sum((f.v - c.m) ^ 2)) AS computed
		   FROM seg s JOIN biz_factors f USING (user_id) JOIN centre c ON c.segment = s.segment AND c.d = f.d
		  GROUP BY s.user_id, s.distance)
SELECT user_id, distance, computed FROM dist WHERE NOT abs(distance - computed) <= 1e-3 * greatest(computed, 1e-3)
$$;

SELECT results_eq($$SELECT * FROM kpreco.segment_users(4, 'biz_ials', 11)$$, $$SELECT * FROM kpreco.segment_users(4, 'biz_ials', 11)$$,
	'segment_users is deterministic for a seed');
SELECT results_eq($$SELECT * FROM kpreco.segment_users(3, 'biz_ials')$$, $$SELECT * FROM kpreco.segment_users(3, 'biz_ials', 0)$$,
	'the default seed is 0');
SELECT results_eq($$SELECT * FROM kpreco.segment_users(3, 'biz_ials', NULL)$$, $$SELECT * FROM kpreco.segment_users(3, 'biz_ials', 0)$$,
	'a NULL seed is seed 0');
SELECT set_eq($$SELECT user_id FROM kpreco.segment_users(4, 'biz_ials', 11)$$, $$SELECT generate_series(1, 30)::bigint$$,
	'every user has a segment');
SELECT is((SELECT count(*) FROM kpreco.segment_users(4, 'biz_ials', 11)), 30::bigint, 'and only one');
SELECT set_eq($$SELECT DISTINCT segment FROM kpreco.segment_users(4, 'biz_ials', 11)$$, ARRAY[1, 2, 3, 4],
	'segments are numbered 1..4, none empty');
SELECT is_empty($$SELECT * FROM (VALUES (2, 0), (4, 11), (7, 5)) p(n, s), LATERAL pg_temp.distance_mismatches(p.n, p.s)$$,
	'distances are the distance to the mean of the segment, within 1e-3 relative (2, 4 and 7 segments)');
SELECT ok((SELECT count(DISTINCT segment) = 1 AND min(segment) = 1 FROM kpreco.segment_users(1, 'biz_ials')),
	'n_segments = 1: everyone in segment 1');
SELECT is_empty($$SELECT * FROM pg_temp.distance_mismatches(1, 0)$$, 'at the distance to the mean user');
SELECT ok((SELECT count(DISTINCT segment) = 30 AND max(segment) = 30 AND max(distance) < 1e-6 FROM kpreco.segment_users(30, 'biz_ials', 2)),
	'n_segments = the number of users: one user a segment, at distance 0');
SELECT results_eq(
	$$SELECT DISTINCT segment, users FROM kpreco.segment_profile(4, 'biz_ials', 11, 3) ORDER BY segment$$,
	$$SELECT segment, count(*)::integer FROM kpreco.segment_users(4, 'biz_ials', 11) GROUP BY segment ORDER BY segment$$,
	'segment_profile: the sizes of segment_users'' segments');
SELECT results_eq(
	$$SELECT segment, array_agg(rank ORDER BY rank) FROM kpreco.segment_profile(4, 'biz_ials', 11, 3) GROUP BY segment ORDER BY segment$$,
	$$SELECT s, ARRAY[1, 2, 3] FROM generate_series(1, 4) s$$,
	'k = 3 courses per segment, ranks 1..3');
SELECT is((SELECT count(*) FROM kpreco.segment_profile(4, 'biz_ials', 11)), 20::bigint, 'k defaults to 5');
SELECT is_empty($$
	WITH seg AS (SELECT * FROM kpreco.segment_users(4, 'biz_ials', 11)),
	centre AS (SELECT s.segment, f.d, avg(f.v) AS m FROM seg s JOIN biz_factors f USING (user_id) GROUP BY s.segment, f.d),
	everyone AS (SELECT d, avg(v) AS m FROM biz_factors GROUP BY d),
	course AS (SELECT course_id, d, v::float8 AS v FROM kpreco.course_factors('biz_ials'), unnest(factors) WITH ORDINALITY AS f(v, d)),
	contrast AS (SELECT c.segment, k.course_id, sum((c.m - e.m) * k.v) AS score
				   FROM centre c JOIN everyone e USING (d) JOIN course k USING (d) GROUP BY c.segment, k.course_id),
	ranked AS (SELECT *, row_number() OVER (PARTITION BY segment ORDER BY score DESC, course_id)::integer AS rank FROM contrast)
	SELECT * FROM kpreco.segment_profile(4, 'biz_ials', 11, 3) p FULL JOIN (SELECT * FROM ranked WHERE rank <= 3) r USING (segment, rank)
	 WHERE p.course_id IS NULL OR r.course_id IS NULL OR NOT abs(p.score - r.score) < 1e-4
		OR NOT abs((SELECT c.score FROM contrast c WHERE c.segment = p.segment AND c.course_id = p.course_id) - r.score) < 1e-6$$,
	'the courses of a segment: the top 3 of (segment mean - mean user) . course vector, computed in SQL (courses within 1e-6 may swap)');

-- recommend_all ----------------------------------------------------------------------------------------------

SELECT is_empty(format($$
	WITH every_user AS (SELECT * FROM kpreco.recommend_all(4, %1$L)),
	one_by_one AS (SELECT u, r.* FROM generate_series(1, 30) u, LATERAL kpreco.recommend(u, 4, %1$L) r)
	(TABLE every_user EXCEPT TABLE one_by_one) UNION ALL (TABLE one_by_one EXCEPT TABLE every_user)$$, m),
	format('%s: recommend_all(4) is recommend(user, 4) of every user, row for row', m))
  FROM unnest(ARRAY['biz_ials', 'biz_ease', 'biz_pop']) m;
SELECT results_eq(
	format($$SELECT * FROM kpreco.recommend_all(3, %L, ARRAY[5, NULL, 999, 17, 5, -1]::bigint[])$$, m),
	format($$SELECT u, r.* FROM unnest(ARRAY[5, 999, 17, 5, -1]::bigint[]) WITH ORDINALITY AS g(u, i), LATERAL kpreco.recommend(u, 3, %L) r ORDER BY i, r.rank$$, m),
	format('%s: recommend_all for given users (unknown, NULL, repeated): recommend of each in the order given, NULLs skipped', m))
  FROM unnest(ARRAY['biz_ials', 'biz_ease', 'biz_pop']) m;
SELECT is((SELECT count(*) FROM kpreco.recommend_all(1000, 'biz_ials')), (SELECT 30 * 20 - count(*) FROM biz_rows),
	'recommend_all with a large k: every course not taken, for every user');

-- evaluate() reports intra-list diversity --------------------------------------------------------------------

CREATE TEMP TABLE biz_test AS VALUES (1::bigint, 110::bigint), (2, 104), (3, 120), (16, 113), (20, 101), (25, 118);
CREATE TEMP TABLE biz_evaluation AS SELECT * FROM kpreco.evaluate('biz_ials', 'SELECT column1 AS user_id, column2 AS course_id FROM biz_test', 5);
SELECT ok((SELECT value BETWEEN 0 AND 2 FROM biz_evaluation WHERE metric = 'diversity'), 'evaluate() reports a diversity metric');
SELECT cmp_ok(
	(SELECT abs(value - (SELECT avg(pg_temp.ild('biz_ials', ARRAY(SELECT course_id FROM kpreco.recommend(t.column1, 5, 'biz_ials'))))
						  FROM biz_test t WHERE NOT t.column2 = ANY (pg_temp.seen(t.column1))))
	   FROM biz_evaluation WHERE metric = 'diversity'),
	'<', 1e-6::double precision,
	'the mean over the evaluated users of 1 - the mean cosine of each list''s pairs');

-- MovieLens 100K ------------------------------------------------------------------------------------------------

SELECT (to_regclass('ml100k_train') IS NOT NULL AND to_regclass('ml100k_test') IS NOT NULL
		AND EXISTS (SELECT 1 FROM ml100k_train) AND EXISTS (SELECT 1 FROM ml100k_test)) AS have_ml100k \gset

\if :have_ml100k

SELECT lives_ok($$SELECT kpreco.train('biz_ml_chol', 'SELECT user_id, item_id AS course_id FROM ml100k_train',
	'{"factors": 32, "iterations": 10, "solver": "cholesky"}')$$, 'ml100k: an ials model with solver cholesky');
SELECT lives_ok($$SELECT kpreco.train('biz_ml_ease', 'SELECT user_id, item_id AS course_id FROM ml100k_train', '{"algorithm": "ease"}')$$,
	'ml100k: an ease model');
SELECT lives_ok($$SELECT kpreco.train('biz_ml_pop', 'SELECT user_id, item_id AS course_id FROM ml100k_train', '{"algorithm": "popular"}')$$,
	'ml100k: a popular model');
CREATE TEMP TABLE ml_users AS SELECT DISTINCT user_id FROM ml100k_train;
CREATE TEMP TABLE ml_some_users AS SELECT user_id FROM ml_users WHERE user_id % 10 = 3 UNION ALL SELECT 99999;
CREATE TEMP TABLE ml_candidates AS SELECT array_agg(DISTINCT item_id) AS ids FROM ml100k_train WHERE item_id % 3 = 0;

-- Fold-in: a training user's own courses give nearly the user's top 10.
SELECT avg((SELECT count(*) FROM kpreco.recommend(u.user_id, 10, 'biz_ml_chol') r
			 JOIN kpreco.recommend_for_courses((SELECT array_agg(item_id) FROM ml100k_train t WHERE t.user_id = u.user_id), NULL, 10, 'biz_ml_chol') f
			USING (course_id)))::double precision AS ml_overlap
  FROM (SELECT user_id FROM ml_users ORDER BY user_id LIMIT 50) u \gset
SELECT diag(format('ml100k: folding in a training user''s courses gives on average %s of the user''s top 10 (50 users)', round(:ml_overlap::numeric, 2)));
SELECT cmp_ok(:ml_overlap::double precision, '>=', 9::double precision,
	'ml100k, ials with solver cholesky: fold-in of a user''s own courses shares at least 9 of 10 with recommend, on average over 50 users');

-- Filters on a large catalog.
SELECT is_empty(format($$
	WITH filtered AS (
		SELECT u.user_id, r.course_id, r.score, r.rank
		  FROM ml_some_users u, LATERAL kpreco.recommend(u.user_id, 10, %1$L, (SELECT ids FROM ml_candidates), ARRAY[3, 6, 9, 300]::bigint[], %2$L) r),
	restricted AS (
		SELECT u.user_id, r.course_id, r.score, row_number() OVER (PARTITION BY u.user_id ORDER BY r.rank)::integer AS rank
		  FROM ml_some_users u, LATERAL kpreco.recommend(u.user_id, 100000, %1$L, exclude_seen => %2$L) r
		 WHERE r.course_id %% 3 = 0 AND r.course_id NOT IN (3, 6, 9, 300))
	(TABLE filtered EXCEPT SELECT * FROM restricted WHERE rank <= 10) UNION ALL (SELECT * FROM restricted WHERE rank <= 10 EXCEPT TABLE filtered)$$, m, seen),
	format('ml100k %s: candidates (a third of the catalog) and exclude, exclude_seen %s: the full ranking restricted', m, seen))
  FROM unnest(ARRAY['biz_ml_chol', 'biz_ml_ease']) m, unnest(ARRAY[true, false]) seen;
SELECT is_empty($$
	WITH filtered AS (
		SELECT c, s.course_id, s.similarity, s.rank
		  FROM generate_series(1, 60) c, LATERAL kpreco.similar_courses(c, 10, 'biz_ml_chol', (SELECT ids FROM ml_candidates), ARRAY[3, 300]::bigint[]) s),
	restricted AS (
		SELECT c, s.course_id, s.similarity, row_number() OVER (PARTITION BY c ORDER BY s.rank)::integer AS rank
		  FROM generate_series(1, 60) c, LATERAL kpreco.similar_courses(c, 100000, 'biz_ml_chol') s
		 WHERE s.course_id % 3 = 0 AND s.course_id NOT IN (3, 300))
	(TABLE filtered EXCEPT SELECT * FROM restricted WHERE rank <= 10) UNION ALL (SELECT * FROM restricted WHERE rank <= 10 EXCEPT TABLE filtered)$$,
	'ml100k: similar_courses with candidates and exclude is the full list restricted');

-- Diversity over many users.
CREATE TEMP TABLE ml_vectors AS
SELECT course_id, factors, sqrt((SELECT sum(x::float8 * x::float8) FROM unnest(factors) x)) AS norm FROM kpreco.course_factors('biz_ml_chol');
CREATE FUNCTION pg_temp.ml_ild(ids bigint[]) RETURNS double precision LANGUAGE sql STABLE AS $$
SELECT avg(1 - coalesce((SELECT sum(x::float8 * y::float8) FROM unnest(a.factors, b.factors) f(x, y)) / nullif(a.norm * b.norm, 0), 0))
  FROM ml_vectors a JOIN ml_vectors b ON a.course_id < b.course_id WHERE a.course_id = ANY (ids) AND b.course_id = ANY (ids)
$$;
SELECT avg(pg_temp.ml_ild(ARRAY(SELECT course_id FROM kpreco.recommend(user_id, 10, 'biz_ml_chol', diversity => 0)))) AS ml_ild0,
	   avg(pg_temp.ml_ild(ARRAY(SELECT course_id FROM kpreco.recommend(user_id, 10, 'biz_ml_chol', diversity => 1)))) AS ml_ild1
  FROM ml_some_users \gset
SELECT diag(format('ml100k: intra-list diversity of the top 10 over %s users: %s at diversity 0, %s at diversity 1',
				   (SELECT count(*) FROM ml_some_users), round(:ml_ild0::numeric, 4), round(:ml_ild1::numeric, 4)));
SELECT cmp_ok(:ml_ild1::double precision, '>', :ml_ild0::double precision + 0.05, 'ml100k: diversity 1 raises the intra-list diversity of the top 10 clearly');
SELECT is_empty($$
	SELECT u.user_id, r.* FROM ml_some_users u, LATERAL kpreco.recommend(u.user_id, 10, 'biz_ml_chol', diversity => 0.5) r
	 WHERE u.user_id <> 99999 AND r.score IS DISTINCT FROM kpreco.predict(u.user_id, r.course_id, 'biz_ml_chol')$$,
	'ml100k: diverse lists carry the relevance scores (kpreco.predict)');

-- audience, similar_users and segments over 943 users.
SELECT is_empty(format($$
	WITH served AS (SELECT c, a.user_id, a.score, a.rank FROM unnest(ARRAY[1, 50, 181, 1000]) c, LATERAL kpreco.audience(c, 20, %1$L) a),
	ranked AS (
		SELECT c, u.user_id, kpreco.predict(u.user_id, c, %1$L) AS score,
			   row_number() OVER (PARTITION BY c ORDER BY kpreco.predict(u.user_id, c, %1$L) DESC, u.user_id)::integer AS rank
		  FROM unnest(ARRAY[1, 50, 181, 1000]) c, ml_users u
		 WHERE NOT EXISTS (SELECT 1 FROM ml100k_train t WHERE t.user_id = u.user_id AND t.item_id = c))
	(TABLE served EXCEPT SELECT * FROM ranked WHERE rank <= 20) UNION ALL (SELECT * FROM ranked WHERE rank <= 20 EXCEPT TABLE served)$$, m),
	format('ml100k %s: audience(course, 20) is the SQL ranking by predict of the users who did not take it', m))
  FROM unnest(ARRAY['biz_ml_chol', 'biz_ml_ease']) m;
SELECT is_empty($$
	WITH uf AS (SELECT user_id, factors, sqrt((SELECT sum(x::float8 * x::float8) FROM unnest(factors) x)) AS norm FROM kpreco.user_factors('biz_ml_chol')),
	cosines AS (SELECT a.user_id AS of_user, b.user_id,
					   (SELECT sum(x::float8 * y::float8) FROM unnest(a.factors, b.factors) f(x, y)) / (a.norm * b.norm) AS cosine
				  FROM uf a JOIN uf b ON a.user_id <> b.user_id WHERE a.user_id IN (1, 100, 500, 943)),
	ranked AS (SELECT *, row_number() OVER (PARTITION BY of_user ORDER BY cosine DESC, user_id)::integer AS rank FROM cosines)
	SELECT * FROM (SELECT u AS of_user, s.* FROM unnest(ARRAY[1, 100, 500, 943]) u, LATERAL kpreco.similar_users(u, 10, 'biz_ml_chol') s) s
	  FULL JOIN (SELECT * FROM ranked WHERE rank <= 10) r USING (of_user, rank)
	 WHERE s.user_id IS DISTINCT FROM r.user_id OR NOT abs(s.similarity - r.cosine) < 1e-5$$,
	'ml100k: similar_users is the SQL cosine ranking of user_factors');
SELECT is_empty($$
	WITH seg AS (SELECT * FROM kpreco.segment_users(8, 'biz_ml_chol', 3)),
	f AS (SELECT user_id, d, v::float8 AS v FROM kpreco.user_factors('biz_ml_chol'), unnest(factors) WITH ORDINALITY AS x(v, d)),
	centre AS (SELECT s.segment, f.d, avg(f.v) AS m FROM seg s JOIN f USING (user_id) GROUP BY s.segment, f.d),
	dist AS (SELECT s.user_id, s.distance, sqrt(sum((f.v - c.m) ^ 2)) AS computed
			   FROM seg s JOIN f USING (user_id) JOIN centre c ON c.segment = s.segment AND c.d = f.d GROUP BY s.user_id, s.distance)
	SELECT * FROM dist WHERE NOT abs(distance - computed) <= 1e-3 * greatest(computed, 1e-3)$$,
	'ml100k: 8 segments, distances to the segment means as computed in SQL');
SELECT ok((SELECT count(*) = 943 AND count(DISTINCT user_id) = 943 AND count(DISTINCT segment) = 8 FROM kpreco.segment_users(8, 'biz_ml_chol', 3)),
	'ml100k: every user once, 8 segments');

-- recommend_all.
SELECT is_empty(format($$
	WITH every_user AS (SELECT * FROM kpreco.recommend_all(10, %1$L)),
	one_by_one AS (SELECT u.user_id, r.* FROM ml_users u, LATERAL kpreco.recommend(u.user_id, 10, %1$L) r)
	(TABLE every_user EXCEPT TABLE one_by_one) UNION ALL (TABLE one_by_one EXCEPT TABLE every_user)$$, m),
	format('ml100k %s: recommend_all(10) is recommend(user, 10) of all 943 users, row for row', m))
  FROM unnest(ARRAY['biz_ml_chol', 'biz_ml_ease', 'biz_ml_pop']) m;
SELECT is((SELECT count(*) FROM kpreco.recommend_all(10, 'biz_ml_chol')), 9430::bigint, 'ml100k: 9430 rows');

-- evaluate() with diversity.
SELECT ok((SELECT value > 0 AND value < 2 FROM kpreco.evaluate('biz_ml_chol', 'SELECT user_id, item_id AS course_id FROM ml100k_test', 10)
			WHERE metric = 'diversity'), 'ml100k: evaluate() reports the intra-list diversity');

\else
SELECT skip('MovieLens 100K is not loaded (tables ml100k_train and ml100k_test are empty or missing)', 21);
\endif

SELECT * FROM finish();
ROLLBACK;
