-- Training: kpreco.train(), the train_agg aggregate and the models view.
\set SHOW_CONTEXT never
TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;

-- Two groups of six users; within a group user u takes the first 7 - u courses.
CREATE TEMP TABLE enrollments (user_id bigint, course_id bigint, weight real);
INSERT INTO enrollments
SELECT u, 100 + j, 1 + (u + j) % 3
  FROM generate_series(1, 6) u, generate_series(1, 5) j WHERE j <= 7 - u
UNION ALL
SELECT 6 + u, 105 + j, 1 + (u + j) % 3
  FROM generate_series(1, 6) u, generate_series(1, 5) j WHERE j <= 7 - u
UNION ALL
VALUES (1, 106, 1), (7, 101, 1);

-- Compares the factors that two named models serve.
CREATE FUNCTION pg_temp.same_factors(a text, b text) RETURNS boolean
LANGUAGE sql AS $$
SELECT NOT EXISTS (
	(SELECT * FROM kpreco.user_factors(a) EXCEPT ALL SELECT * FROM kpreco.user_factors(b))
	UNION ALL
	(SELECT * FROM kpreco.user_factors(b) EXCEPT ALL SELECT * FROM kpreco.user_factors(a))
	UNION ALL
	(SELECT * FROM kpreco.course_factors(a) EXCEPT ALL SELECT * FROM kpreco.course_factors(b))
	UNION ALL
	(SELECT * FROM kpreco.course_factors(b) EXCEPT ALL SELECT * FROM kpreco.course_factors(a)))
$$;

-- First training: version 1, active.
SELECT kpreco.train('courses', 'enrollments',
	'{"factors": 3, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky"}');
SELECT name, version, algorithm, options, n_users, n_courses, n_interactions, active
  FROM kpreco.models ORDER BY version;
SELECT train_seconds >= 0 AS seconds_ok, created_at <= now() AS created_ok FROM kpreco.models;
SELECT name, source, options, active_version FROM kpreco.model_registry;

-- Retraining from the stored source and options: same seed, so the same model.
CREATE TEMP TABLE first_users AS SELECT * FROM kpreco.user_factors('courses');
CREATE TEMP TABLE first_courses AS SELECT * FROM kpreco.course_factors('courses');
SELECT kpreco.train('courses');
SELECT name, version, n_users, n_courses, n_interactions, active FROM kpreco.models ORDER BY version;
SELECT NOT EXISTS (
	(TABLE first_users EXCEPT ALL SELECT * FROM kpreco.user_factors('courses'))
	UNION ALL
	(SELECT * FROM kpreco.user_factors('courses') EXCEPT ALL TABLE first_users)) AS same_user_factors,
	NOT EXISTS (
	(TABLE first_courses EXCEPT ALL SELECT * FROM kpreco.course_factors('courses'))
	UNION ALL
	(SELECT * FROM kpreco.course_factors('courses') EXCEPT ALL TABLE first_courses)) AS same_course_factors;
SELECT (SELECT model::bytea FROM kpreco.model_versions WHERE version = 1) =
	   (SELECT model::bytea FROM kpreco.model_versions WHERE version = 2) AS identical_versions;

-- Another seed starts elsewhere and ends elsewhere.
SELECT kpreco.train('seeded', 'enrollments',
	'{"factors": 3, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky", "seed": 7}');
SELECT pg_temp.same_factors('courses', 'seeded') AS same_as_other_seed;

-- Every option is stored spelled out, in the model and in the view.
SELECT options FROM kpreco.models WHERE name = 'seeded';
SELECT kpreco.train('defaults', 'enrollments');
SELECT options, n_users, n_courses FROM kpreco.models WHERE name = 'defaults';

-- The same rows in another physical order give the very same bytes.
SELECT kpreco.train('reversed',
	'SELECT * FROM enrollments ORDER BY user_id DESC, course_id DESC',
	'{"factors": 3, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky"}');
SELECT (SELECT model::bytea FROM kpreco.model_versions WHERE name = 'reversed') =
	   (SELECT model::bytea FROM kpreco.model_versions WHERE version = 1) AS order_independent;

-- Weights: duplicate rows are summed, so splitting each weight changes nothing.
SELECT kpreco.train('summed', 'enrollments',
	'{"weight_column": "weight", "factors": 3, "iterations": 10, "solver": "cholesky"}');
SELECT kpreco.train('split',
	'SELECT user_id, course_id, 1 AS weight FROM enrollments, generate_series(1, weight::int)',
	'{"weight_column": "weight", "factors": 3, "iterations": 10, "solver": "cholesky"}');
SELECT name, n_users, n_courses, n_interactions FROM kpreco.models
 WHERE name IN ('summed', 'split') ORDER BY name;
SELECT kpreco.model_info(model) -> 'rows_read' AS rows_read FROM kpreco.model_versions
 WHERE name IN ('summed', 'split') ORDER BY name;
SELECT pg_temp.same_factors('summed', 'split') AS duplicates_summed;
-- ... and the weights matter.
SELECT pg_temp.same_factors('summed', 'courses') AS same_as_unweighted;

-- Zero weights are ignored: a user or course seen only with weight 0 is unknown.
SELECT kpreco.train('zeros',
	'SELECT user_id, course_id, weight FROM enrollments
	 UNION ALL VALUES (99, 101, 0), (1, 199, 0), (2, 101, 0)',
	'{"weight_column": "weight", "factors": 3, "iterations": 10, "solver": "cholesky"}');
SELECT n_users, n_courses, n_interactions FROM kpreco.models WHERE name = 'zeros';
SELECT pg_temp.same_factors('summed', 'zeros') AS zeros_ignored;
SELECT kpreco.predict(99, 101, 'zeros') AS zero_user, kpreco.predict(1, 199, 'zeros') AS zero_course;

-- Rows with a NULL id are skipped with a notice.
SELECT kpreco.train('nulls',
	'SELECT user_id, course_id FROM enrollments
	 UNION ALL VALUES (NULL, 101), (3, NULL), (NULL, NULL)',
	'{"factors": 3, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cholesky"}');
SELECT kpreco.model_info(model) -> 'rows_read' AS rows_read,
	   kpreco.model_info(model) -> 'rows_skipped' AS rows_skipped
  FROM kpreco.model_versions WHERE name = 'nulls';
SELECT pg_temp.same_factors('courses', 'nulls') AS nulls_ignored;

-- Both solvers train; on this data they agree on the best course for everyone.
SELECT kpreco.train('cg', 'enrollments',
	'{"factors": 3, "iterations": 20, "alpha": 5, "regularization": 0.1, "solver": "cg", "cg_steps": 3}');
SELECT options ->> 'solver' AS solver, n_users, n_courses FROM kpreco.models
 WHERE name IN ('courses', 'cg') AND active ORDER BY name;
SELECT u AS user_id, c.course_id AS cg_best, h.course_id AS cholesky_best
  FROM generate_series(1, 12) u,
	   LATERAL kpreco.recommend(u, 1, 'cg') c,
	   LATERAL kpreco.recommend(u, 1, 'courses') h
 ORDER BY u;

-- Ids use the whole bigint range.
SELECT kpreco.train('wide', $$VALUES
	(9223372036854775807, -9223372036854775808), (9223372036854775807, 4294967296),
	(-1, 4294967296), (-1, 0), (2147483648, 0), (2147483648, -9223372036854775808)$$,
	'{"user_column": "column1", "course_column": "column2", "factors": 2, "iterations": 5}');
SELECT user_id, array_length(factors, 1) AS factors FROM kpreco.user_factors('wide');
SELECT course_id FROM kpreco.course_factors('wide');
SELECT course_id, rank FROM kpreco.recommend(-1, 5, 'wide');
SELECT course_id, rank FROM kpreco.recommend(9223372036854775807, 5, 'wide');
SELECT course_id, rank FROM kpreco.recommend(-9223372036854775808, 5, 'wide');

-- The aggregate on its own: one model per group.
CREATE TEMP TABLE per_group AS
SELECT course_id <= 105 AS first_group,
	   kpreco.train_agg(user_id, course_id, weight, '{"factors": 2, "iterations": 5}') AS model
  FROM enrollments GROUP BY 1;
SELECT first_group, kpreco.model_info(model) - 'options' AS info
  FROM per_group ORDER BY first_group;
-- NULL options mean the defaults, a NULL weight means 1.
SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, NULL, NULL)) -> 'options' AS options
  FROM enrollments;
SELECT kpreco.train_agg(user_id, course_id, NULL, NULL)::bytea
	   = kpreco.train_agg(user_id, course_id, 1, '{}')::bytea AS null_weight_is_one
  FROM enrollments;

-- Bad input.
SELECT kpreco.train_agg(user_id, course_id, NULL, NULL) FROM enrollments WHERE false;
SELECT kpreco.train('bad', 'SELECT * FROM enrollments WHERE false');
SELECT kpreco.train('bad', 'SELECT user_id, course_id, 0 AS weight FROM enrollments',
	'{"weight_column": "weight"}');
SELECT kpreco.train('bad', 'VALUES (NULL::bigint, 1), (1, NULL)',
	'{"user_column": "column1", "course_column": "column2"}');
SELECT kpreco.train('bad', 'SELECT user_id, course_id, CASE WHEN user_id > 10 THEN -1 ELSE weight END AS weight FROM enrollments ORDER BY user_id, course_id',
	'{"weight_column": "weight"}');
SELECT kpreco.train('bad', $$VALUES (1, 2, 1::real), (3, 4, 'NaN'), (5, 6, 'NaN'), (7, 8, -1)$$,
	'{"user_column": "column1", "course_column": "column2", "weight_column": "column3"}');
SELECT kpreco.train('bad', $$VALUES (1, 2, 1::real), (3, 4, -1), (5, 6, 'Infinity'), (7, 8, '-Infinity')$$,
	'{"user_column": "column1", "course_column": "column2", "weight_column": "column3"}');
SELECT kpreco.train('bad', 'no_such_table');
SELECT kpreco.train('bad', '');
SELECT kpreco.train('bad', NULL);
SELECT kpreco.train('', 'enrollments');
SELECT kpreco.train(repeat('x', 201), 'enrollments');
SELECT kpreco.train('no_such_model');
\set VERBOSITY sqlstate
SELECT kpreco.train('bad', 'enrollments', '{"user_column": "no_such_column"}');
\set VERBOSITY default
SELECT kpreco.train('bad', 'enrollments', '{"user_column": 1}');
SELECT kpreco.train('bad', 'enrollments', '[{"factors": 3}]');
SELECT kpreco.train('bad', 'enrollments', '"factors"');
SELECT kpreco.train('bad', 'enrollments', '{"factor": 3}');
SELECT kpreco.train('bad', 'enrollments', '{"factors": "3"}');
SELECT kpreco.train('bad', 'enrollments', '{"factors": 2.5}');
SELECT kpreco.train('bad', 'enrollments', '{"factors": 0}');
SELECT kpreco.train('bad', 'enrollments', '{"factors": 1025}');
SELECT kpreco.train('bad', 'enrollments', '{"iterations": -1}');
SELECT kpreco.train('bad', 'enrollments', '{"iterations": 1001}');
SELECT kpreco.train('bad', 'enrollments', '{"cg_steps": 0}');
SELECT kpreco.train('bad', 'enrollments', '{"cg_steps": 65}');
SELECT kpreco.train('bad', 'enrollments', '{"seed": -1}');
SELECT kpreco.train('bad', 'enrollments', '{"seed": "42"}');
SELECT kpreco.train('bad', 'enrollments', '{"regularization": -0.5}');
SELECT kpreco.train('bad', 'enrollments', '{"regularization": "0.1"}');
SELECT kpreco.train('bad', 'enrollments', '{"alpha": -1}');
SELECT kpreco.train('bad', 'enrollments', '{"alpha": 1e39}');
SELECT kpreco.train('bad', 'enrollments', '{"solver": 1}');
SELECT kpreco.train('bad', 'enrollments', '{"solver": "lu"}');
SELECT kpreco.train('bad', 'enrollments', '{"algorithm": "svd"}');
SELECT kpreco.train('bad', 'enrollments', '{"algorithm": ["ials"]}');
SELECT kpreco.train_agg(user_id, course_id, weight, '[]') FROM enrollments;
-- None of that left anything behind.
SELECT count(*) AS bad_models FROM kpreco.model_registry WHERE name IN ('bad', '');

TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;
