-- Serving: recommend, similar_courses, predict, user_factors, course_factors.
\set SHOW_CONTEXT never
TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;

-- Two groups of six users; within a group user u takes the first 7 - u courses.
CREATE TEMP TABLE enrollments (user_id bigint, course_id bigint);
INSERT INTO enrollments
SELECT u, 100 + j FROM generate_series(1, 6) u, generate_series(1, 5) j WHERE j <= 7 - u
UNION ALL
SELECT 6 + u, 105 + j FROM generate_series(1, 6) u, generate_series(1, 5) j WHERE j <= 7 - u
UNION ALL
VALUES (1, 106), (7, 101);

-- Without a model there is nothing to serve.
SELECT * FROM kpreco.recommend(1);

SELECT kpreco.train('courses', 'enrollments',
	'{"factors": 3, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky"}');

-- The four best courses of every user, and of an unknown one.
SELECT u AS user_id, r.course_id, round(r.score::numeric, 4) AS score, r.rank
  FROM generate_series(1, 13) u, LATERAL kpreco.recommend(u, 4) r
 ORDER BY u, r.rank;

-- A course taken in training is never recommended, whatever k.
SELECT count(*) AS recommended_training_courses
  FROM enrollments e
  JOIN LATERAL kpreco.recommend(e.user_id, 100) r ON r.course_id = e.course_id;
-- Everything else is: k is capped at the courses the user has not taken.
SELECT e.user_id, count(*) AS taken,
	   (SELECT count(*) FROM kpreco.recommend(e.user_id, 2147483647)) AS recommended
  FROM enrollments e GROUP BY e.user_id ORDER BY e.user_id;
-- Ranks count from 1, scores do not increase.
SELECT bool_and(rank = position) AS ranks_consecutive,
	   bool_and(score <= previous) AS scores_sorted
  FROM (SELECT r.rank, row_number() OVER w AS position, r.score, lag(r.score, 1, 'Infinity') OVER w AS previous
		  FROM generate_series(1, 12) u, LATERAL kpreco.recommend(u, 100) r
		WINDOW w AS (PARTITION BY u ORDER BY r.rank)) s;

-- A score is the dot product of the user's and the course's factors, as predict says.
SELECT bool_and(abs(r.score - d.dot) < 1e-5) AS scores_are_dot_products,
	   bool_and(abs(r.score - kpreco.predict(u, r.course_id)) < 1e-5) AS scores_are_predictions
  FROM generate_series(1, 12) u,
	   LATERAL kpreco.recommend(u, 100) r,
	   LATERAL (SELECT sum(uf * cf) AS dot
				  FROM kpreco.user_factors() x, kpreco.course_factors() y,
					   unnest(x.factors, y.factors) AS f(uf, cf)
				 WHERE x.user_id = u AND y.course_id = r.course_id) d;

-- Unknown users get the most taken courses, ties by id, without a score.
SELECT * FROM kpreco.recommend(1000, 20);
SELECT array_agg(course_id ORDER BY rank) =
	   (SELECT array_agg(course_id ORDER BY n DESC, course_id)
		  FROM (SELECT course_id, count(*) AS n FROM enrollments GROUP BY course_id) p) AS popular_order_matches,
	   bool_and(score IS NULL) AS no_scores
  FROM kpreco.recommend(-5, 20);

-- NULL user or k: no rows.  k below 1: an error.
SELECT * FROM kpreco.recommend(NULL);
SELECT * FROM kpreco.recommend(1, NULL);
SELECT * FROM kpreco.recommend(1000, NULL);
SELECT * FROM kpreco.recommend(1, 0);
SELECT * FROM kpreco.recommend(1000, -1);
SELECT * FROM kpreco.recommend(1, -2147483648);
SELECT count(*) FROM kpreco.recommend(1000, 2147483647);
-- Similar courses: cosine of the factors, the course itself left out.
SELECT c AS course_id, s.course_id AS similar, round(s.similarity::numeric, 4) AS similarity, s.rank
  FROM generate_series(101, 110) c, LATERAL kpreco.similar_courses(c, 3, 'courses') s
 ORDER BY c, s.rank;
SELECT bool_and(abs(s.similarity - cos.value) < 1e-5) AS similarities_are_cosines,
	   bool_and(s.course_id <> c) AS never_itself,
	   count(*) AS pairs
  FROM generate_series(101, 110) c,
	   LATERAL kpreco.similar_courses(c, 100, 'courses') s,
	   LATERAL (SELECT sum(a * b) / sqrt(sum(a * a) * sum(b * b)) AS value
				  FROM kpreco.course_factors('courses') x, kpreco.course_factors('courses') y,
					   unnest(x.factors, y.factors) AS f(a, b)
				 WHERE x.course_id = c AND y.course_id = s.course_id) cos;
SELECT * FROM kpreco.similar_courses(999);
SELECT * FROM kpreco.similar_courses(NULL);
SELECT * FROM kpreco.similar_courses(101, NULL);
SELECT * FROM kpreco.similar_courses(101, 0);
SELECT count(*) FROM kpreco.similar_courses(101, 2147483647);
-- predict: a score for any known pair, NULL otherwise.
SELECT round(kpreco.predict(6, 102)::numeric, 4) AS untaken,
	   round(kpreco.predict(6, 101)::numeric, 4) AS taken,
	   kpreco.predict(6, 999) AS unknown_course,
	   kpreco.predict(999, 101) AS unknown_user,
	   kpreco.predict(NULL, 101) AS null_user,
	   kpreco.predict(6, NULL) AS null_course;

-- Factors: one row per id, ascending.
SELECT user_id, array_length(factors, 1) AS n FROM kpreco.user_factors('courses');
SELECT course_id, (SELECT array_agg(round(f::numeric, 4)) FROM unnest(factors) f) AS factors
  FROM kpreco.course_factors('courses');

-- Set-returning functions also work in the select list.
SELECT (kpreco.recommend(6, 2)).course_id;
SELECT (kpreco.similar_courses(101, 2)).course_id;

-- A user who took every course gets nothing.
SELECT kpreco.train('complete', 'SELECT u AS user_id, c AS course_id FROM generate_series(1, 3) u, generate_series(1, 4) c',
	'{"factors": 2, "iterations": 3}');
SELECT count(*) AS recommended FROM kpreco.recommend(2, 10, 'complete');

-- A model of one course has no similar course.
SELECT kpreco.train('single', 'SELECT u AS user_id, 7 AS course_id FROM generate_series(1, 3) u',
	'{"factors": 2, "iterations": 3}');
SELECT * FROM kpreco.similar_courses(7, 5, 'single');
SELECT course_id, score, rank FROM kpreco.recommend(4, 5, 'single');

-- Now a model must be named.
SELECT * FROM kpreco.recommend(1);

-- Unknown models.
SELECT * FROM kpreco.recommend(1, 10, 'no_such_model');
SELECT * FROM kpreco.similar_courses(101, 10, 'no_such_model');
SELECT kpreco.predict(1, 101, 'no_such_model');
SELECT * FROM kpreco.user_factors('no_such_model');
SELECT * FROM kpreco.course_factors('');

TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;
