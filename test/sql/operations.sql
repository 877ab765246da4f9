-- Operations: kept versions, activate, drop_model, forget_user, grants and the training log.
\set SHOW_CONTEXT never
TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;

CREATE TEMP TABLE enrollments AS
SELECT u AS user_id, c AS course_id
  FROM generate_series(1, 8) u, generate_series(1, 9) c WHERE (u + c) % 3 <> 0;

-- A training keeps the newest keep_versions versions (default 3).
SELECT kpreco.train('ops', 'enrollments', '{"factors": 2, "iterations": 3, "seed": 1}');
SELECT kpreco.train('ops');
SELECT kpreco.train('ops');
SELECT kpreco.train('ops');
SELECT version, active FROM kpreco.models WHERE name = 'ops' ORDER BY version;
SELECT kpreco.train('ops', 'enrollments', '{"factors": 2, "iterations": 3, "seed": 2, "keep_versions": 2}');
SELECT version, active FROM kpreco.models WHERE name = 'ops' ORDER BY version;
SELECT options ->> 'keep_versions' AS kept FROM kpreco.model_registry WHERE name = 'ops';
SELECT kpreco.train('ops', 'enrollments', '{"keep_versions": 0}');
SELECT kpreco.train('ops', 'enrollments', '{"keep_versions": 1001}');
SELECT kpreco.train('ops', 'enrollments', '{"keep_versions": "3"}');
SELECT version, active FROM kpreco.models WHERE name = 'ops' ORDER BY version;
SELECT kpreco.train('other', 'enrollments', '{"factors": 2, "iterations": 2, "keep_versions": 1}');

-- The training log: a row per iteration of every kept version, the loss only with verbose.
SELECT name, version, count(*) AS iterations, count(loss) AS losses, bool_and(seconds >= 0) AS timed,
	   bool_and(logged_at <= now()) AS logged
  FROM kpreco.training_log GROUP BY name, version ORDER BY version;
SET client_min_messages = warning;
SELECT kpreco.train('other', 'enrollments', '{"factors": 2, "iterations": 4, "keep_versions": 1, "verbose": true}');
RESET client_min_messages;
SELECT name, version, count(*) AS iterations, count(loss) AS losses
  FROM kpreco.training_log GROUP BY name, version ORDER BY version;
SELECT iteration, loss IS NOT NULL AS has_loss FROM kpreco.last_training_log();

-- activate: any kept version of the model; the one served changes at once.
CREATE TEMP TABLE served_5 AS SELECT * FROM kpreco.user_factors('ops');
SELECT kpreco.activate('ops', 4);
SELECT version, active FROM kpreco.models WHERE name = 'ops' ORDER BY version;
SELECT (SELECT array_agg(factors ORDER BY user_id) FROM kpreco.user_factors('ops')) <>
	   (SELECT array_agg(factors ORDER BY user_id) FROM served_5) AS serves_version_4;
SELECT kpreco.activate('ops', 5);
SELECT (SELECT array_agg(factors ORDER BY user_id) FROM kpreco.user_factors('ops')) =
	   (SELECT array_agg(factors ORDER BY user_id) FROM served_5) AS serves_version_5;
SELECT kpreco.activate('ops', 1);
SELECT kpreco.activate('ops', 7);
SELECT kpreco.activate('ops', NULL);
SELECT kpreco.activate('nope', 5);
SELECT kpreco.activate(NULL, 5);
SELECT version, active FROM kpreco.models WHERE name = 'ops' ORDER BY version;

-- forget_user: every stored version that knows the user, of every model.
SELECT name, version, n_users, n_interactions FROM kpreco.models ORDER BY version;
SELECT kpreco.forget_user(3);
SELECT name, version, n_users, n_interactions FROM kpreco.models ORDER BY version;
SELECT * FROM kpreco.recommend(3, 4, 'ops');
SELECT kpreco.activate('ops', 4);
SELECT * FROM kpreco.recommend(3, 4, 'ops');
SELECT * FROM kpreco.recommend(3, 4, 'other');
SELECT kpreco.predict(3, 1, 'ops') AS forgotten_score;
SELECT count(*) FILTER (WHERE score IS NOT NULL) AS personal FROM kpreco.recommend(4, 3, 'ops');
SELECT count(*) AS users FROM kpreco.user_factors('ops') WHERE user_id = 3;
SELECT kpreco.forget_user(3);
SELECT kpreco.forget_user(12345);
SELECT kpreco.forget_user(NULL);
SELECT kpreco.model_info(model) ->> 'rows_read' AS rows_read, kpreco.model_info(model) ->> 'n_interactions' AS pairs
  FROM kpreco.model_versions WHERE version = 4;
-- The editing functions themselves.
SELECT kpreco.model_has_user(model, 4) AS has_4, kpreco.model_has_user(model, 3) AS has_3,
	   kpreco.model_has_user(model, -1) AS has_minus_1
  FROM kpreco.model_versions WHERE version = 4;
SELECT kpreco.model_without_user(model, 3)::bytea = model::bytea AS unknown_user_unchanged,
	   kpreco.model_info(kpreco.model_without_user(model, 4)) ->> 'n_users' AS without_4
  FROM kpreco.model_versions WHERE version = 4;

-- grant_model and revoke_model: roles that exist, or public.
SELECT kpreco.grant_model('ops', 'PUBLIC');
SELECT kpreco.grant_model('ops', 'public');
SELECT readers FROM kpreco.model_registry WHERE name = 'ops';
SELECT kpreco.revoke_model('ops', 'public');
SELECT readers FROM kpreco.model_registry WHERE name = 'ops';
SELECT kpreco.grant_model('ops', 'no_such_role');
SELECT kpreco.grant_model('ops', NULL);
SELECT kpreco.grant_model('nope', 'public');
SELECT kpreco.revoke_model('nope', 'public');

-- drop_model: the model, its versions and its log are gone.
SELECT kpreco.drop_model('ops');
SELECT name, count(*) FROM kpreco.models GROUP BY name ORDER BY name;
SELECT count(*) AS log_rows FROM kpreco.training_log WHERE name = 'ops';
SELECT * FROM kpreco.recommend(1, 3, 'ops');
SELECT kpreco.drop_model('ops');
SELECT kpreco.drop_model(NULL);
SELECT kpreco.train('ops');

-- Versions deleted by hand take their log along, and so does TRUNCATE.
DELETE FROM kpreco.model_versions WHERE name = 'other';
SELECT count(*) AS log_rows FROM kpreco.training_log;
SELECT kpreco.train('other', 'enrollments', '{"factors": 2, "iterations": 2}');
TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;
SELECT count(*) AS log_rows FROM kpreco.training_log;
