-- Serving what the business asks (0.3.0): filters, diversity, fold-in,
-- refresh_user and model_with_user, audience, similar_users, segments and
-- recommend_all, with exact outputs on a small data set and fixed seeds.
\set SHOW_CONTEXT never
TRUNCATE kpreco.model_registry, kpreco.model_versions, kpreco.evaluations RESTART IDENTITY;

-- Two groups of six users; within a group user u takes the first 7 - u
-- courses of the group (101-105, 106-110); user 1 and user 7 cross over.
-- Every row has an event: a purchase when user and course are both odd.
CREATE TEMP TABLE biz_enrollments (user_id bigint, course_id bigint, event text);
INSERT INTO biz_enrollments
SELECT u, 100 + j, CASE WHEN u % 2 = 1 AND j % 2 = 1 THEN 'purchase' ELSE 'view' END
  FROM generate_series(1, 6) u, generate_series(1, 5) j WHERE j <= 7 - u
UNION ALL
SELECT 6 + u, 105 + j, CASE WHEN u % 2 = 1 AND j % 2 = 0 THEN 'purchase' ELSE 'view' END
  FROM generate_series(1, 6) u, generate_series(1, 5) j WHERE j <= 7 - u
UNION ALL
VALUES (1, 106, 'view'), (7, 101, 'view');

SELECT kpreco.train('biz', 'biz_enrollments',
	'{"factors": 3, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky", "seed": 1}');
SELECT kpreco.train('biz_ease', 'biz_enrollments', '{"algorithm": "ease", "regularization": 2}');
SELECT kpreco.train('biz_pop', 'biz_enrollments', '{"algorithm": "popular"}');

-- recommend with filters ---------------------------------------------------------

-- Unfiltered, for reference: user 3 took 101-104.
SELECT course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend(3, 20, 'biz');
-- Only candidates: fewer than k, so every eligible one (104 is taken, 999 unknown).
SELECT course_id, round(score::numeric, 4) AS score, rank
  FROM kpreco.recommend(3, 5, 'biz', candidates => ARRAY[104, 106, 109, 999, NULL]);
-- Exclude: still k rows.
SELECT course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend(3, 3, 'biz', exclude => ARRAY[105, 106]);
-- exclude_seen false: the courses taken come back in score order.
SELECT course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend(3, 6, 'biz', exclude_seen => false);
SELECT course_id, round(score::numeric, 4) AS score, rank
  FROM kpreco.recommend(3, 3, 'biz', ARRAY[101, 102, 108], ARRAY[102], false);
-- Empty candidates: nothing is eligible.
SELECT * FROM kpreco.recommend(3, 3, 'biz', candidates => '{}');
-- An unknown user: the most popular eligible courses, score NULL.
SELECT * FROM kpreco.recommend(999, 4, 'biz', ARRAY[101, 102, 103, 106, 107, 110], ARRAY[101]);
-- ease and popular, filtered.
SELECT course_id, round(score::numeric, 4) AS score, rank
  FROM kpreco.recommend(9, 4, 'biz_ease', ARRAY[101, 102, 103, 106, 107, 110], ARRAY[110]);
SELECT course_id, round(score::numeric, 4) AS score, rank
  FROM kpreco.recommend(9, 4, 'biz_pop', ARRAY[101, 102, 103, 106, 107, 110], ARRAY[110]);
-- Bad arguments.
SELECT * FROM kpreco.recommend(3, 3, 'biz', exclude_seen => NULL);
SELECT * FROM kpreco.recommend(3, 3, 'biz', '{{101},{102}}');

-- Diversity ---------------------------------------------------------------------------

SELECT d AS diversity, r.course_id, round(r.score::numeric, 4) AS score, r.rank
  FROM unnest(ARRAY[0, 0.5, 1]::real[]) d, LATERAL kpreco.recommend(2, 4, 'biz', diversity => d) r
 ORDER BY d, r.rank;
SELECT * FROM kpreco.recommend(999, 4, 'biz', diversity => 1);
SELECT * FROM kpreco.recommend(2, 4, 'biz', diversity => 1.5);
SELECT * FROM kpreco.recommend(2, 4, 'biz', diversity => NULL);

-- similar_courses with filters ---------------------------------------------------------------

SELECT course_id, round(similarity::numeric, 4) AS similarity, rank FROM kpreco.similar_courses(101, 4, 'biz');
SELECT course_id, round(similarity::numeric, 4) AS similarity, rank
  FROM kpreco.similar_courses(101, 4, 'biz', candidates => ARRAY[101, 103, 106, 108, 999]);
-- 3 decimals: 104's similarity is 0.18844, which BLAS builds round either way at 4
SELECT course_id, round(similarity::numeric, 3) AS similarity, rank
  FROM kpreco.similar_courses(101, 4, 'biz', exclude => ARRAY[102, 103]);
SELECT course_id, round(similarity::numeric, 4) AS similarity, rank
  FROM kpreco.similar_courses(101, 3, 'biz_ease', exclude => ARRAY[102]);
SELECT * FROM kpreco.similar_courses(101, 3, 'biz_pop', exclude => ARRAY[102]);

-- recommend_for_courses ---------------------------------------------------------------------------

SELECT course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend_for_courses(ARRAY[101, 102], NULL, 4, 'biz');
SELECT course_id, round(score::numeric, 4) AS score, rank
  FROM kpreco.recommend_for_courses(ARRAY[101, 106], ARRAY[10, 1]::real[], 4, 'biz');
SELECT course_id, round(score::numeric, 4) AS score, rank
  FROM kpreco.recommend_for_courses(ARRAY[101, 106], ARRAY[1, 10]::real[], 4, 'biz');
SELECT course_id, round(score::numeric, 4) AS score, rank
  FROM kpreco.recommend_for_courses(ARRAY[101, 106], ARRAY[1, 10]::real[], 4, 'biz_ease');
SELECT * FROM kpreco.recommend_for_courses(ARRAY[101, 106], NULL, 4, 'biz_pop');
SELECT * FROM kpreco.recommend_for_courses(NULL, NULL, 4, 'biz');
SELECT * FROM kpreco.recommend_for_courses(ARRAY[999], NULL, 4, 'biz');
SELECT * FROM kpreco.recommend_for_courses(ARRAY[101, 102], ARRAY[1]::real[], 4, 'biz');
SELECT * FROM kpreco.recommend_for_courses(ARRAY[101, 102], ARRAY[1, 'NaN']::real[], 4, 'biz');

-- refresh_user and model_with_user ------------------------------------------------------------------

CREATE TEMP TABLE biz_versions AS SELECT version, model FROM kpreco.model_versions WHERE name = 'biz';
-- A new user who bought 106 and 107 a minute ago.
INSERT INTO biz_enrollments VALUES (50, 106, 'purchase'), (50, 107, 'view');
SELECT kpreco.refresh_user(50, 'biz');
SELECT name, n_users, n_interactions FROM kpreco.models WHERE name = 'biz';
SELECT course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend(50, 3, 'biz');
-- User 2 buys 105.
INSERT INTO biz_enrollments VALUES (2, 105, 'purchase');
SELECT kpreco.refresh_user(2, 'biz');
SELECT course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend(2, 3, 'biz');
-- User 12's rows are deleted: the user is removed.
DELETE FROM biz_enrollments WHERE user_id = 12;
SELECT kpreco.refresh_user(12, 'biz');
SELECT name, n_users, n_interactions FROM kpreco.models WHERE name = 'biz';
SELECT course_id, score IS NULL AS no_score, rank FROM kpreco.recommend(12, 2, 'biz');
-- model_with_user on the version as trained.
SELECT kpreco.model_info(kpreco.model_with_user(model, 50, ARRAY[106, 107], ARRAY[1, 1]::real[])) ->> 'n_users' AS with_new_user,
	   kpreco.model_info(kpreco.model_with_user(model, 1, ARRAY[999], ARRAY[1]::real[])) ->> 'n_users' AS without_user_1,
	   kpreco.model_has_user(kpreco.model_with_user(model, 50, ARRAY[106, 107], NULL), 50) AS null_weights_add_the_user
  FROM biz_versions;
SELECT kpreco.refresh_user(NULL, 'biz');
SELECT kpreco.refresh_user(1, 'no_such_model');

-- Event weights: refresh_user weighs the rows as training did.
SELECT kpreco.train('biz_events', 'biz_enrollments',
	'{"factors": 3, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky", "seed": 1,
	  "event_column": "event", "event_weights": {"view": 1, "purchase": 5}}');
INSERT INTO biz_enrollments VALUES (60, 101, 'purchase'), (60, 108, 'view');
SELECT kpreco.refresh_user(60, 'biz_events');
SELECT course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend(60, 3, 'biz_events');
SELECT course_id, round(score::numeric, 4) AS score, rank
  FROM kpreco.recommend_for_courses(ARRAY[101, 108], ARRAY[5, 1]::real[], 3, 'biz_events');

-- audience ---------------------------------------------------------------------------------------------

SELECT user_id, round(score::numeric, 4) AS score, rank FROM kpreco.audience(105, 5, 'biz');
SELECT user_id, round(score::numeric, 4) AS score, rank FROM kpreco.audience(105, 3, 'biz_ease');
SELECT * FROM kpreco.audience(105, 3, 'biz_pop');
SELECT * FROM kpreco.audience(999, 3, 'biz');

-- similar_users ------------------------------------------------------------------------------------------

SELECT user_id, round(similarity::numeric, 4) AS similarity, rank FROM kpreco.similar_users(3, 4, 'biz');
SELECT * FROM kpreco.similar_users(3, 4, 'biz_ease');
SELECT * FROM kpreco.similar_users(999, 4, 'biz');

-- Segments ---------------------------------------------------------------------------------------------

SELECT user_id, segment, round(distance::numeric, 4) AS distance FROM kpreco.segment_users(2, 'biz', 7) ORDER BY user_id;
SELECT segment, users, course_id, round(score::numeric, 4) AS score, rank FROM kpreco.segment_profile(2, 'biz', 7, 3);
SELECT segment, count(*) FROM kpreco.segment_users(1, 'biz') GROUP BY segment;
SELECT count(DISTINCT segment) AS segments, max(distance) < 1e-6 AS all_at_their_centre
  FROM kpreco.segment_users((SELECT n_users FROM kpreco.models WHERE name = 'biz'), 'biz');
SELECT * FROM kpreco.segment_users(0, 'biz');
SELECT * FROM kpreco.segment_users(100000000, 'biz');
SELECT * FROM kpreco.segment_users(2, 'biz', -1);
SELECT * FROM kpreco.segment_users(2, 'biz_pop');

-- recommend_all --------------------------------------------------------------------------------------------

SELECT user_id, course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend_all(2, 'biz');
SELECT user_id, course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend_all(2, 'biz', ARRAY[3, NULL, 999, 3]);
SELECT user_id, course_id, round(score::numeric, 4) AS score, rank FROM kpreco.recommend_all(1, 'biz_ease');
SELECT * FROM kpreco.recommend_all(1, 'biz_pop', ARRAY[1, 999]);
SELECT * FROM kpreco.recommend_all(0, 'biz');

-- evaluate() reports intra-list diversity --------------------------------------------------------------------

CREATE TEMP TABLE biz_held_out (user_id bigint, course_id bigint);
INSERT INTO biz_held_out VALUES (2, 105), (3, 106), (6, 102), (8, 109), (11, 101);
SELECT metric, round(value::numeric, 4) AS value
  FROM kpreco.evaluate('biz_events', 'biz_held_out', 3);

TRUNCATE kpreco.model_registry, kpreco.model_versions, kpreco.evaluations RESTART IDENTITY;
