-- similar_courses answers up to 50 neighbours from the session's cache and
-- computes larger k on the spot: both must give the same ranking.
BEGIN;
SELECT plan(5);

CREATE TEMP TABLE nb_enrolments AS
SELECT 1 + (g * 7) % 300 AS user_id, 1 + (g * g + g / 3) % 120 AS course_id
  FROM generate_series(1, 6000) g;
SELECT kpreco.train('nb', 'nb_enrolments', '{"factors": 16}');

SELECT results_eq(
	$$SELECT s.course_id, s.similarity, s.rank FROM kpreco.similar_courses(7, 10, 'nb') s ORDER BY rank$$,
	$$SELECT s.course_id, s.similarity, s.rank FROM kpreco.similar_courses(7, 100, 'nb') s WHERE rank <= 10 ORDER BY rank$$,
	'the cached top 10 is the top 10 of a direct top 100');
SELECT results_eq(
	$$SELECT s.course_id, s.similarity, s.rank FROM kpreco.similar_courses(7, 50, 'nb') s ORDER BY rank$$,
	$$SELECT s.course_id, s.similarity, s.rank FROM kpreco.similar_courses(7, 51, 'nb') s WHERE rank <= 50 ORDER BY rank$$,
	'50 from the cache, 51 computed: same first 50');
SELECT results_eq(
	$$SELECT s.course_id, s.rank FROM kpreco.similar_courses(11, 5, 'nb') s ORDER BY rank$$,
	$$SELECT s.course_id, s.rank FROM kpreco.similar_courses(11, 5, 'nb') s ORDER BY rank$$,
	'a repeated call answers the same');
SELECT is((SELECT count(*) FROM kpreco.similar_courses(7, 1000, 'nb'))::int,
	(SELECT n_courses - 1 FROM kpreco.models WHERE name = 'nb' AND active),
	'k beyond the catalog returns every other course');

-- a new version in the same session replaces the cached neighbours
SELECT kpreco.train('nb', 'SELECT user_id, 121 - course_id AS course_id FROM nb_enrolments', '{"factors": 16}');
SELECT results_eq(
	$$SELECT s.course_id FROM kpreco.similar_courses(7, 10, 'nb') s ORDER BY rank$$,
	$$SELECT s.course_id FROM kpreco.similar_courses(7, 100, 'nb') s WHERE rank <= 10 ORDER BY rank$$,
	'after retraining, cached and direct answers agree again');

SELECT * FROM finish();
ROLLBACK;
