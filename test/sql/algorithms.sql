-- Algorithms: every one trained with fixed seeds on a small data set, what
-- it serves, its model_info, and kpreco.evaluate() of it; kpreco.split().
\set SHOW_CONTEXT never
TRUNCATE kpreco.model_registry, kpreco.model_versions, kpreco.evaluations RESTART IDENTITY;

-- Users 1-4 take courses 101-103, users 5-8 courses 104-106; user 3 and
-- user 7 cross over.  Weights 1 to 3.
CREATE TEMP TABLE algo_rows (user_id bigint, course_id bigint, w real);
INSERT INTO algo_rows VALUES
	(1, 101, 1), (1, 102, 2), (1, 103, 1),
	(2, 101, 1), (2, 102, 1),
	(3, 102, 3), (3, 103, 1), (3, 104, 1),
	(4, 101, 2), (4, 103, 1),
	(5, 104, 1), (5, 105, 2), (5, 106, 1),
	(6, 105, 1), (6, 106, 1),
	(7, 104, 2), (7, 106, 1), (7, 101, 1),
	(8, 104, 1), (8, 105, 1);
-- Star ratings of the same users: the first group rates its courses high.
CREATE TEMP TABLE algo_ratings AS
SELECT user_id, course_id,
	   (CASE WHEN (user_id <= 4) = (course_id <= 103) THEN 4 ELSE 2 END + w::integer % 2)::real AS rating
  FROM algo_rows;
-- Held out: user 1 and user 2 each take one more course of their group,
-- user 6 one of the other group; user 9 is new; course 999 is unknown.
CREATE TEMP TABLE algo_test (user_id bigint, course_id bigint, rating real);
INSERT INTO algo_test VALUES
	(1, 104, 2), (2, 103, 5), (2, 999, 4), (6, 104, 5), (6, 102, 1), (9, 101, 3), (5, 105, 5);

-- ials (the default algorithm)
SELECT kpreco.train('algo_ials', 'algo_rows',
	'{"factors": 2, "iterations": 10, "regularization": 0.1, "solver": "cholesky", "weight_column": "w", "seed": 1}');
-- bpr
SELECT kpreco.train('algo_bpr', 'algo_rows',
	'{"algorithm": "bpr", "factors": 2, "epochs": 200, "learning_rate": 0.05, "weight_column": "w", "seed": 1}');
-- als, on the ratings
SELECT kpreco.train('algo_als', 'algo_ratings',
	'{"algorithm": "als", "factors": 2, "iterations": 10, "weight_column": "rating", "seed": 1}');
-- ease, with its default lambda
SELECT kpreco.train('algo_ease', 'algo_rows', '{"algorithm": "ease", "weight_column": "w"}');
-- popular
SELECT kpreco.train('algo_popular', 'algo_rows', '{"algorithm": "popular", "weight_column": "w"}');

SELECT name, version, algorithm, n_users, n_courses, n_interactions, active, validation
  FROM kpreco.models ORDER BY version;
SELECT name, options FROM kpreco.models ORDER BY version;
SELECT name, kpreco.model_info(model) - 'options' AS info FROM kpreco.model_versions ORDER BY version;

-- The two best courses of every user, and of an unknown one (user 9; popular:
-- the same list for everyone).
SELECT m.name, u AS user_id, r.course_id, round(r.score::numeric, 3) AS score, r.rank
  FROM kpreco.models m, generate_series(1, 9) u, LATERAL kpreco.recommend(u, 2, m.name) r
 ORDER BY m.version, u, r.rank;

-- The two courses most like each course (popular: the most popular other
-- courses, by the model's summed weights).
SELECT m.name, c AS course_id, s.course_id AS similar, round(s.similarity::numeric, 3) AS similarity, s.rank
  FROM kpreco.models m, generate_series(101, 106) c, LATERAL kpreco.similar_courses(c, 2, m.name) s
 ORDER BY m.version, c, s.rank;

-- Scores of one pair: a rating for als, a summed weight for popular.
SELECT name, round(kpreco.predict(3, 101, name)::numeric, 3) AS predict_3_101,
	   round(kpreco.predict(5, 104, name)::numeric, 3) AS predict_5_104
  FROM kpreco.models ORDER BY version;

-- ease keeps no user vectors.
SELECT * FROM kpreco.user_factors('algo_ease');
SELECT count(*) AS courses, min(array_length(factors, 1)) AS weights_per_course
  FROM kpreco.course_factors('algo_ease');

-- Evaluation at k = 2: user 9 is cold, course 999 is relevant and never
-- found, (5, 105) was trained on and is not relevant.
SELECT m.name, e.metric, round(e.value::numeric, 6) AS value
  FROM kpreco.models m, LATERAL kpreco.evaluate(m.name, 'algo_test', 2) e
 WHERE m.name <> 'algo_als'
 ORDER BY m.version;
-- als is also scored on the ratings (its weight_column).
SELECT metric, round(value::numeric, 6) AS value FROM kpreco.evaluate('algo_als', 'algo_test', 2);
SELECT metric, round(value::numeric, 6) AS value
  FROM kpreco.evaluate('algo_popular', 'algo_test', 2, '{"store": true}') WHERE metric = 'ndcg';
SELECT name, version, test_source, k, metrics FROM kpreco.evaluations;
SELECT name, version, evaluation FROM kpreco.models WHERE evaluation IS NOT NULL;

-- auto needs users with 5 or more interactions to validate on.
SELECT kpreco.train('algo_auto', 'algo_rows', '{"algorithm": "auto"}');
-- A key the algorithm has no use for.
SELECT kpreco.train('algo_bad', 'algo_rows', '{"algorithm": "ease", "factors": 2}');
SELECT kpreco.train_agg(user_id, course_id, w, '{"algorithm": "auto"}') FROM algo_rows;

-- Event weights and time decay, with popular: the scores are summed weights.
CREATE TEMP TABLE algo_events (user_id bigint, course_id bigint, event text, at date);
INSERT INTO algo_events VALUES
	(1, 101, 'view', '2025-06-30'), (1, 101, 'purchase', '2025-06-30'), (2, 101, 'view', '2025-05-31'),
	(2, 102, 'purchase', '2025-05-01'), (3, 102, 'view', '2025-06-30'), (3, 103, 'wishlist', '2025-06-30'),
	(4, 103, NULL, '2025-06-30'), (4, 102, 'view', NULL);
SELECT kpreco.train('algo_events', 'algo_events',
	'{"algorithm": "popular", "event_column": "event", "event_weights": {"view": 1, "purchase": 10},
	  "time_column": "at", "half_life_days": 30}');
SELECT course_id, score, rank FROM kpreco.recommend(99, 10, 'algo_events');
SELECT options, n_interactions FROM kpreco.models WHERE name = 'algo_events';

-- split: each user's latest 20% (5 rows or more), ties by course id.
CREATE TEMP TABLE algo_log AS
SELECT u AS user_id, c AS course_id, date '2025-01-01' + (c % 4) AS day
  FROM generate_series(1, 3) u, generate_series(1, 3 + 2 * u) c;
SELECT * FROM kpreco.split('algo_log', 'algo_split', '{"time_column": "day"}');
SELECT * FROM algo_split_test ORDER BY user_id, course_id;
SELECT * FROM kpreco.split('algo_log', 'algo_split', '{"method": "random", "seed": 7, "fraction": 0.5, "replace": true}');
SELECT user_id, count(*) AS held_out FROM algo_split_test GROUP BY user_id ORDER BY user_id;

DROP TABLE algo_split_train, algo_split_test;
SELECT kpreco.drop_model(name) FROM kpreco.model_registry ORDER BY name;
SELECT count(*) AS evaluations_left FROM kpreco.evaluations;
