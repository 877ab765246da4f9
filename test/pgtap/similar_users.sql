-- similar_users from the neighbour lists a model keeps (training option
-- similar_users): the lists must answer exactly what the scan over every
-- user answers, for every user, after training, after refresh_user (a
-- changed user, a new user, a user whose rows are gone) and after
-- model_without_user; k beyond the lists falls back to the scan.  Two
-- models trained alike, one with lists and one without, are compared.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(37);

DELETE FROM kpreco.model_versions;
DELETE FROM kpreco.model_registry;
RESET kpreco.default_model;

-- 300 users, 120 courses; many users take the same courses, so many cosines tie at 1.
CREATE TEMP TABLE su_rows AS
SELECT 1 + (g * 7) % 300 AS user_id, 1 + (g * g + g / 3) % 120 AS course_id
  FROM generate_series(1, 6000) g;
-- plus 200 users of their own, without exact ties
INSERT INTO su_rows
SELECT 1000 + u, 1 + (u * 37 + j * j * 11 + j) % 120
  FROM generate_series(1, 200) u, generate_series(1, 3 + u % 9) j
ON CONFLICT DO NOTHING;

SELECT lives_ok($$SELECT kpreco.train('su_scan', 'su_rows', '{"factors": 16, "seed": 1}')$$, 'a model without lists');
SELECT lives_ok($$SELECT kpreco.train('su_lists', 'su_rows', '{"factors": 16, "seed": 1, "similar_users": 10}')$$,
	'the same model with 10 neighbours per user');
SELECT is((SELECT options->>'similar_users' FROM kpreco.models WHERE name = 'su_lists' AND active), '10',
	'the model''s options say so');
SELECT ok((SELECT options->'similar_users' IS NULL FROM kpreco.models WHERE name = 'su_scan' AND active),
	'a model without lists does not mention them');
SELECT is((SELECT (kpreco.model_info(model)->>'bytes')::bigint FROM kpreco.model_versions WHERE name = 'su_lists')
		  - (SELECT (kpreco.model_info(model)->>'bytes')::bigint FROM kpreco.model_versions WHERE name = 'su_scan'),
	24 + 8 + 4 * 10 * (SELECT n_users FROM kpreco.models WHERE name = 'su_lists' AND active)::bigint,
	'the lists take 4 bytes per neighbour and user, behind an 8-byte count (and the option 24 bytes of options text)');

CREATE FUNCTION pg_temp.lists() RETURNS jsonb LANGUAGE sql AS $$
SELECT kpreco.model_info(v.model)->'similar_users' FROM kpreco.model_versions v
  JOIN kpreco.model_registry r ON r.active_version = v.version AND r.name = 'su_lists'
$$;
SELECT is(pg_temp.lists(), '{"per_user": 10, "full_lists": 500, "shortest_list": 10}'::jsonb,
	'model_info: every list is full after training');

-- Rows of similar_users(u, k) over every user that differ between the two models, both ways.
CREATE FUNCTION pg_temp.mismatches(k integer) RETURNS bigint LANGUAGE sql AS $$
WITH users AS (SELECT DISTINCT user_id FROM su_rows UNION SELECT 99999),
lists AS (SELECT u.user_id AS of_user, s.* FROM users u, LATERAL kpreco.similar_users(u.user_id, k, 'su_lists') s),
scan AS (SELECT u.user_id AS of_user, s.* FROM users u, LATERAL kpreco.similar_users(u.user_id, k, 'su_scan') s)
SELECT (SELECT count(*) FROM (SELECT * FROM lists EXCEPT ALL SELECT * FROM scan) a)
	 + (SELECT count(*) FROM (SELECT * FROM scan EXCEPT ALL SELECT * FROM lists) b)
$$;

SELECT is(pg_temp.mismatches(1), 0::bigint, 'k = 1: the lists answer as the scan, for every user');
SELECT is(pg_temp.mismatches(5), 0::bigint, 'k = 5: the same users, similarities and ranks');
SELECT is(pg_temp.mismatches(10), 0::bigint, 'k = 10, all of each list');
SELECT is(pg_temp.mismatches(11), 0::bigint, 'k = 11, beyond the lists: the scan');
SELECT is((SELECT count(*) FROM kpreco.similar_users(1, 1000, 'su_lists')),
	(SELECT n_users - 1 FROM kpreco.models WHERE name = 'su_lists' AND active)::bigint,
	'a large k: every other user');
SELECT is((SELECT count(*) FROM kpreco.similar_users(1, 1000, 'su_lists') WHERE user_id = 1), 0::bigint,
	'never the user itself');
CREATE TEMP TABLE su_cosines AS
SELECT a.user_id AS of_user, b.user_id,
	   (SELECT sum(x::float8 * y::float8) FROM unnest(a.factors, b.factors) f(x, y))
	   / sqrt((SELECT sum(x::float8 * x::float8) FROM unnest(a.factors) x) * (SELECT sum(y::float8 * y::float8) FROM unnest(b.factors) y)) AS cosine
  FROM kpreco.user_factors('su_lists') a, kpreco.user_factors('su_lists') b
 WHERE a.user_id <> b.user_id AND a.user_id BETWEEN 1001 AND 1020;
SELECT is_empty($$
	WITH served AS (SELECT u AS of_user, s.user_id, s.similarity, s.rank FROM generate_series(1001, 1020) u, LATERAL kpreco.similar_users(u, 10, 'su_lists') s),
	ranked AS (SELECT of_user, user_id, cosine, row_number() OVER (PARTITION BY of_user ORDER BY cosine DESC, user_id)::integer AS rank FROM su_cosines)
	SELECT * FROM served s FULL JOIN (SELECT * FROM ranked WHERE rank <= 10) r USING (of_user, rank)
	 WHERE s.user_id IS NULL OR r.user_id IS NULL OR NOT abs(s.similarity - r.cosine) < 1e-5
		OR NOT abs((SELECT c.cosine FROM su_cosines c WHERE c.of_user = s.of_user AND c.user_id = s.user_id) - r.cosine) < 1e-6$$,
	'the lists give the top 10 of the cosines of user_factors computed in SQL (users within 1e-6, a tie in float, may swap)');

-- refresh_user: the same edits on both models ---------------------------------------------------

CREATE FUNCTION pg_temp.refresh(u bigint) RETURNS boolean LANGUAGE sql AS $$
SELECT kpreco.refresh_user(u, 'su_scan') = kpreco.refresh_user(u, 'su_lists')
$$;

-- a user with new courses
INSERT INTO su_rows VALUES (1005, 1), (1005, 2), (1005, 3), (1005, 4);
SELECT ok(pg_temp.refresh(1005), 'refresh_user of a user with new courses');
SELECT is(pg_temp.mismatches(5), 0::bigint, 'after refreshing a user: the lists still answer as the scan');
SELECT is(pg_temp.mismatches(10), 0::bigint, 'the same for k = 10 (from the lists, or the scan where a list got shorter)');
-- a user who becomes the twin of another: a new exact tie
INSERT INTO su_rows SELECT 1010, course_id FROM su_rows WHERE user_id = 1011 ON CONFLICT DO NOTHING;
DELETE FROM su_rows WHERE user_id = 1010 AND course_id NOT IN (SELECT course_id FROM su_rows WHERE user_id = 1011);
SELECT ok(pg_temp.refresh(1010), 'refresh_user of a user who now took exactly another''s courses');
SELECT is(pg_temp.mismatches(5), 0::bigint, 'after a new tie: the same');
-- new users, one of them before every known id
INSERT INTO su_rows VALUES (0, 5), (0, 6), (0, 7), (5000, 8), (5000, 9), (5000, 10), (5000, 11);
SELECT ok(pg_temp.refresh(0) AND pg_temp.refresh(5000), 'refresh_user of two new users');
SELECT is((SELECT n_users FROM kpreco.models WHERE name = 'su_lists' AND active),
	(SELECT count(DISTINCT user_id) FROM su_rows)::integer, 'both are in the model');
SELECT is(pg_temp.mismatches(5), 0::bigint, 'after inserting users: the same');
SELECT is((SELECT count(*) FROM kpreco.similar_users(0, 10, 'su_lists')), 10::bigint, 'a new user has 10 similar users');
-- a user whose rows are gone
DELETE FROM su_rows WHERE user_id IN (1003, 17);
SELECT ok(pg_temp.refresh(1003) AND pg_temp.refresh(17), 'refresh_user of users whose rows are gone');
SELECT is(pg_temp.mismatches(5), 0::bigint, 'after removing users: the same');
SELECT is(pg_temp.lists() - 'per_user',
	jsonb_build_object('full_lists', (SELECT n_users FROM kpreco.models WHERE name = 'su_lists' AND active), 'shortest_list', 10),
	'every list is still full (an edit fills again the lists it shortens), so the comparisons above ran on the lists');
SELECT is((SELECT count(*) FROM (SELECT DISTINCT user_id FROM su_rows) u, kpreco.similar_users(u.user_id, 10, 'su_lists') s
			 WHERE s.user_id IN (1003, 17)),
	0::bigint, 'the removed users are nobody''s similar users any more');

-- forget_user (model_without_user), and the text form of a model with lists ---------------------

SELECT lives_ok($$SELECT kpreco.forget_user(1001)$$, 'forget_user edits both models');
SELECT is(pg_temp.mismatches(5), 0::bigint, 'after forgetting a user: the same');
SELECT is((SELECT count(*) FROM (SELECT DISTINCT user_id FROM su_rows) u, kpreco.similar_users(u.user_id, 10, 'su_lists') s
			 WHERE s.user_id = 1001),
	0::bigint, 'the forgotten user is nobody''s similar user');
SELECT is((pg_temp.lists()->>'shortest_list')::integer, 10, 'the lists that held the forgotten user are full again');
SELECT is((SELECT bool_and(v.model::text::kpreco.model::bytea = v.model::bytea AND kpreco.model_info(v.model)->>'format_version' = '3')
			 FROM kpreco.model_versions v WHERE v.name = 'su_lists'), true,
	'every version of the model with lists is format 3 and reads back from its text form');
SELECT is((SELECT bool_and(kpreco.model_info(v.model)->>'format_version' = '1') FROM kpreco.model_versions v WHERE v.name = 'su_scan'), true,
	'the model without lists stays format 1');

-- bad input ------------------------------------------------------------------------------------

SELECT throws_ok($$SELECT kpreco.train('su_bad', 'su_rows', '{"similar_users": 101}')$$, '22023',
	'option "similar_users" must be between 0 and 100', 'more than 100 neighbours per user');
SELECT throws_ok($$SELECT kpreco.train('su_bad', 'su_rows', '{"algorithm": "ease", "similar_users": 5}')$$, '22023',
	'option "similar_users" does not apply to algorithm ease (it applies to ials, bpr, als)', 'ease keeps no user vectors');
SELECT lives_ok($$SELECT kpreco.train('su_zero', 'su_rows', '{"factors": 4, "similar_users": 0}')$$, '0 keeps no lists');
-- 30,000 users with 100 neighbours each: 12 MB of lists, besides their heaps
SET LOCAL kpreco.max_training_memory = '8MB';
SELECT lives_ok($$SELECT kpreco.train('su_memory', 'SELECT u AS user_id, u % 1000 AS course_id FROM generate_series(1, 30000) u', '{"factors": 8, "iterations": 1}')$$,
	'a training that fits in 8 MB without lists');
SELECT throws_like($$SELECT kpreco.train('su_memory', 'SELECT u AS user_id, u % 1000 AS course_id FROM generate_series(1, 30000) u', '{"factors": 8, "iterations": 1, "similar_users": 100}')$$,
	'training needs about % MB, more than kpreco.max_training_memory (8 MB)', 'is refused before any work with 100 neighbours per user');
RESET kpreco.max_training_memory;

SELECT * FROM finish();
ROLLBACK;
