-- The catalog: which model a call serves, versions, settings, unqualified names.
\set SHOW_CONTEXT never
TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;

CREATE TEMP TABLE enrollments AS
SELECT u AS user_id, c AS course_id
  FROM generate_series(1, 8) u, generate_series(1, 9) c WHERE (u + c) % 3 <> 0;

-- No model yet.
SELECT * FROM kpreco.recommend(1);
\echo :LAST_ERROR_SQLSTATE
SELECT kpreco.predict(1, 1);
SELECT count(*) FROM kpreco.models;

-- One model: served without naming it.
SELECT kpreco.train('alpha', 'enrollments', '{"factors": 2, "iterations": 5, "seed": 1}');
CREATE TEMP TABLE alpha_1 AS SELECT * FROM kpreco.user_factors('alpha');
SELECT count(*) = 3 AS served FROM kpreco.recommend(1, 3);
SELECT count(*) = 3 AS served FROM kpreco.similar_courses(1, 3);
SELECT kpreco.predict(1, 1) = kpreco.predict(1, 1, 'alpha') AS same_model;

-- Two models: a name is needed, or kpreco.default_model.
SELECT kpreco.train('beta', 'enrollments', '{"factors": 2, "iterations": 5, "seed": 2}');
SELECT * FROM kpreco.recommend(1);
\echo :LAST_ERROR_SQLSTATE
SELECT kpreco.predict(1, 1);
SELECT * FROM kpreco.user_factors();
SET kpreco.default_model = 'beta';
SHOW kpreco.default_model;
SELECT kpreco.predict(1, 1) = kpreco.predict(1, 1, 'beta') AS default_is_beta,
	   kpreco.predict(1, 1) <> kpreco.predict(1, 1, 'alpha') AS differs_from_alpha;
SELECT array_agg(course_id ORDER BY rank) = (SELECT array_agg(course_id ORDER BY rank) FROM kpreco.recommend(3, 4, 'beta'))
	   AS recommend_uses_default
  FROM kpreco.recommend(3, 4);
-- A name given in the call wins over the setting.
SELECT kpreco.predict(1, 1, 'alpha') <> kpreco.predict(1, 1) AS explicit_name_wins;
SET kpreco.default_model = 'gamma';
SELECT * FROM kpreco.recommend(1);
\echo :LAST_ERROR_SQLSTATE
RESET kpreco.default_model;

-- Versions: every training adds one and makes it active.
SELECT kpreco.train('alpha', 'enrollments', '{"factors": 2, "iterations": 5, "seed": 3}');
SELECT name, version, active FROM kpreco.models ORDER BY version;
SELECT name, active_version FROM kpreco.model_registry ORDER BY name;
-- Activating an older version by hand is served at once.
CREATE TEMP TABLE alpha_3 AS SELECT * FROM kpreco.user_factors('alpha');
UPDATE kpreco.model_registry SET active_version = 1 WHERE name = 'alpha';
SELECT name, version, active FROM kpreco.models ORDER BY version;
SELECT (SELECT array_agg(factors ORDER BY user_id) FROM kpreco.user_factors('alpha')) =
	   (SELECT array_agg(factors ORDER BY user_id) FROM alpha_1) AS serves_version_1,
	   (SELECT array_agg(factors ORDER BY user_id) FROM alpha_1) =
	   (SELECT array_agg(factors ORDER BY user_id) FROM alpha_3) AS versions_equal;
SELECT kpreco.model_info(model) -> 'options' -> 'seed' AS seed
  FROM kpreco.model_versions v JOIN kpreco.model_registry r ON v.version = r.active_version
 WHERE r.name = 'alpha';
-- A model whose rows are deleted is gone.
DELETE FROM kpreco.model_versions WHERE name = 'beta';
DELETE FROM kpreco.model_registry WHERE name = 'beta';
SELECT * FROM kpreco.recommend(1, 3, 'beta');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = 3 AS alpha_alone FROM kpreco.recommend(1, 3);
-- So is a model without an active version.
UPDATE kpreco.model_registry SET active_version = NULL WHERE name = 'alpha';
SELECT * FROM kpreco.recommend(1, 3);
SELECT * FROM kpreco.recommend(1, 3, 'alpha');
UPDATE kpreco.model_registry SET active_version = 3 WHERE name = 'alpha';

-- Unqualified names through the search path.
SET search_path = kpreco, public;
SELECT train('delta', 'SELECT * FROM enrollments WHERE user_id <= 6', '{"factors": 2, "iterations": 5}');
SELECT name, n_users, n_courses, active FROM models WHERE name = 'delta';
SELECT count(*) AS recommended FROM recommend(1, 3, 'delta');
SELECT count(*) AS similar FROM similar_courses(1, 3, 'delta');
SELECT predict(1, 1, 'delta') IS NOT NULL AS predicted;
SELECT count(*) AS users FROM user_factors('delta');
SELECT count(*) AS courses FROM course_factors('delta');
SELECT model_info(model) ->> 'n_users' AS n_users FROM model_versions WHERE name = 'delta';
SELECT model_info(train_agg(user_id, course_id, NULL, '{"factors": 1, "iterations": 1}')) ->> 'n_courses' AS n_courses
  FROM enrollments;
SELECT train('delta');
SELECT pg_typeof(model) FROM model_versions LIMIT 1;
RESET search_path;

-- Settings.
SHOW kpreco.default_model;
SHOW kpreco.blas_threads;
SHOW kpreco.max_training_memory;
SET kpreco.blas_threads = 0;
SET kpreco.blas_threads = 65;
SET kpreco.max_training_memory = '512kB';
SET kpreco.no_such_setting = 1;
-- More BLAS threads still train and serve.
SET kpreco.blas_threads = 2;
SELECT kpreco.train('threads', 'enrollments', '{"factors": 8, "iterations": 5, "solver": "cholesky"}');
SELECT count(*) AS recommended FROM kpreco.recommend(1, 3, 'threads');
RESET kpreco.blas_threads;
-- A training larger than kpreco.max_training_memory is refused before it starts.
SET kpreco.max_training_memory = '4MB';
SELECT kpreco.train('too_big', 'SELECT u AS user_id, u % 500 AS course_id FROM generate_series(1, 20000) u',
	'{"factors": 64}');
\echo :LAST_ERROR_SQLSTATE
RESET kpreco.max_training_memory;

-- The catalog is dumped with the database.
SELECT c.relname
  FROM pg_extension e, unnest(e.extconfig) AS t(oid), pg_class c
 WHERE e.extname = 'kpreco' AND c.oid = t.oid ORDER BY 1;

TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;
