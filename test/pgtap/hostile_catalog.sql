-- Hostile use of the catalog: model names at the 200-byte limit and beyond,
-- in Chinese, emoji, combining marks, right-to-left scripts and SQL-looking
-- text, all of which must round-trip through kpreco.models and serve;
-- registry rows edited by hand; the version sequence at its end; and a
-- version number reused within one transaction.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(150);

-- After a backend crash the postmaster ends every session: this session
-- and its temporary table still being here at the end is the proof that
-- no case crashed the server.
CREATE TEMP TABLE hostile_session AS SELECT pg_backend_pid() AS pid;

CREATE TEMP TABLE hostile_rows AS
SELECT u AS user_id, c AS course_id FROM generate_series(1, 12) u, generate_series(1, 6) c WHERE (u + c) % 3 <> 0;
CREATE TEMP TABLE hostile_victim AS SELECT 1 AS x;

-- Names that are valid: 1 to 200 bytes of any text.
CREATE TEMP TABLE hostile_names (label text, name text);
INSERT INTO hostile_names VALUES
	('200 ASCII bytes', repeat('n', 200)),
	('66 Chinese characters and 2 letters (200 bytes)', repeat('课', 66) || 'ab'),
	('50 emoji (200 bytes)', repeat(E'\U0001F4DA', 50)),
	('an emoji family joined with ZWJ', E'\U0001F468\u200D\U0001F469\u200D\U0001F467 courses'),
	('66 letters with a combining acute accent and 2 letters (200 bytes)', repeat(E'e\u0301', 66) || 'xy'),
	('café precomposed (NFC)', E'caf\u00E9'),
	('café decomposed (NFD)', E'cafe\u0301'),
	('Hebrew', 'קורסים מתקדמים'),
	('Arabic with a right-to-left mark', E'دورات\u200F متقدمة'),
	('a right-to-left override', E'\u202Eesruoc'),
	('a zero-width space', E'a\u200Bb'),
	('Chinese', '推荐课程'),
	('SQL in a name', $$x'); DROP TABLE hostile_victim; --$$),
	('format directives', '%s%n%%'),
	('a tab and a newline', E'tab\there\nnewline'),
	('the word NULL', 'NULL'),
	('one space', ' '),
	('a backslash and quotes', E'back\\slash "quoted"');

-- Every name trains, reads back byte for byte, serves and retrains ------------------------------

SELECT lives_ok(format('SELECT kpreco.train(%L, ''hostile_rows'', ''{"factors": 2, "iterations": 2}'')', name), 'trains: ' || label)
  FROM hostile_names ORDER BY label;
SELECT is((SELECT convert_to(m.name, 'UTF8') FROM kpreco.models m WHERE m.name = n.name), convert_to(n.name, 'UTF8'),
	'round-trips through kpreco.models: ' || label)
  FROM hostile_names n ORDER BY label;
SELECT is((SELECT count(*) FROM kpreco.recommend(999, 3, n.name)), 3::bigint, 'serves by its name: ' || label)
  FROM hostile_names n ORDER BY label;
CREATE FUNCTION pg_temp.retrain(model_name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	before bigint := (SELECT active_version FROM kpreco.model_registry WHERE name = model_name);
	after bigint := kpreco.train(model_name);
BEGIN
	RETURN CASE WHEN after > before AND after = (SELECT version FROM kpreco.models WHERE name = model_name AND active)
				THEN 'new version active' ELSE format('before %s, after %s', before, after) END;
END
$$;
SELECT is(pg_temp.retrain(name), 'new version active', 'retrains by its name: ' || label)
  FROM hostile_names ORDER BY label;
SELECT is((SELECT count(DISTINCT name) FROM kpreco.models WHERE name IN (SELECT name FROM hostile_names)), (SELECT count(*) FROM hostile_names),
	'every name is its own model (NFC and NFD are two names)');
SELECT is((SELECT count(*) FROM hostile_victim), 1::bigint, 'the name with SQL in it ran no SQL');
SELECT set_config('kpreco.default_model', E'cafe\u0301', true) IS NOT NULL AS set \gset
SELECT results_eq($$SELECT * FROM kpreco.course_factors()$$, format('SELECT * FROM kpreco.course_factors(%L)', E'cafe\u0301'),
	'kpreco.default_model set to a decomposed name picks that model');
RESET kpreco.default_model;
SELECT throws_ok(format('SELECT * FROM kpreco.recommend(1, 3, %L)', E'推荐课程\u200B'), '42704', NULL,
	'a known name with a zero-width space appended is another, unknown name');

-- Names that are refused --------------------------------------------------------------------------

SELECT throws_ok(format('SELECT kpreco.train(%L, ''hostile_rows'')', name), '22023', 'model name must be between 1 and 200 bytes long',
	'refused: ' || label)
  FROM (VALUES ('201 ASCII bytes', repeat('n', 201)),
			   ('67 Chinese characters (201 bytes)', repeat('课', 67)),
			   ('51 emoji (204 bytes)', repeat(E'\U0001F4DA', 51)),
			   ('49 emoji and 5 letters (201 bytes)', repeat(E'\U0001F4DA', 49) || 'abcde'),
			   ('67 letters with a combining accent (201 bytes)', repeat(E'e\u0301', 67)),
			   ('an empty name', '')) v(label, name);
SELECT is((SELECT count(*) FROM kpreco.model_registry WHERE octet_length(name) > 200 OR name = ''), 0::bigint,
	'none of them reached the registry');
SELECT throws_ok($$INSERT INTO kpreco.model_registry (name) VALUES (repeat('n', 201))$$, '23514', NULL,
	'the registry itself refuses a 201-byte name');
SELECT throws_ok($$INSERT INTO kpreco.model_registry (name) VALUES ('')$$, '23514', NULL, 'and an empty name');
SELECT throws_ok($$INSERT INTO kpreco.model_registry (name) VALUES ('推荐课程')$$, '23505', NULL, 'and a name twice');

-- Registry rows edited by hand --------------------------------------------------------------------

INSERT INTO kpreco.model_registry (name) VALUES ('hostile_no_source');
SELECT throws_ok($$SELECT kpreco.train('hostile_no_source')$$, '42704', 'kpreco model "hostile_no_source" does not exist',
	'train(model) of a registry row without a source');
SELECT throws_ok($$SELECT * FROM kpreco.recommend(1, 3, 'hostile_no_source')$$, '42704', 'kpreco model "hostile_no_source" does not exist',
	'recommend of a registry row without a version');
UPDATE kpreco.model_registry SET source = 'hostile_rows', options = '[1]' WHERE name = 'hostile_no_source';
SELECT throws_ok($$SELECT kpreco.train('hostile_no_source')$$, '22023', 'options must be a JSON object',
	'train(model) with stored options that are not an object');
UPDATE kpreco.model_registry SET options = '{"factors": "many"}' WHERE name = 'hostile_no_source';
SELECT throws_ok($$SELECT kpreco.train('hostile_no_source')$$, '22023', NULL, 'train(model) with stored options of the wrong type');
UPDATE kpreco.model_registry SET options = '{"user_column": 7}' WHERE name = 'hostile_no_source';
SELECT throws_ok($$SELECT kpreco.train('hostile_no_source')$$, '22023', 'option "user_column" must be a column name string',
	'train(model) with a stored column option that is not a string');
UPDATE kpreco.model_registry SET source = 'SELECT 1 AS user_id, 2 AS course_id; DROP TABLE hostile_victim', options = '{}' WHERE name = 'hostile_no_source';
SELECT throws_ok($$SELECT kpreco.train('hostile_no_source')$$, '42601', NULL, 'train(model) with a stored source of two statements');
SELECT is((SELECT count(*) FROM hostile_victim), 1::bigint, 'which ran neither');
CREATE TEMP TABLE hostile_dropped AS SELECT * FROM hostile_rows;
SELECT lives_ok($$SELECT kpreco.train('hostile_dropped', 'hostile_dropped', '{"factors": 2, "iterations": 2}')$$, 'a model from a table');
DROP TABLE hostile_dropped;
SELECT throws_ok($$SELECT kpreco.train('hostile_dropped')$$, '42P01', 'relation "hostile_dropped" does not exist',
	'train(model) after its table was dropped');
SELECT ok((SELECT count(*) FROM kpreco.recommend(999, 3, 'hostile_dropped')) = 3, 'and the trained version still serves');

-- Catalog functions with NULLs and names of nothing -----------------------------------------------

SELECT throws_ok(statement, code, message, description)
  FROM (VALUES
	('SELECT kpreco.lock_owned_model(NULL)', '22004', 'model name must not be NULL', 'lock_owned_model(NULL)'),
	($$SELECT kpreco.lock_owned_model('hostile_nothing')$$, '42704', 'kpreco model "hostile_nothing" does not exist', 'lock_owned_model of no model'),
	('SELECT kpreco.activate(NULL, NULL)', '22004', 'model name must not be NULL', 'activate(NULL, NULL)'),
	('SELECT kpreco.activate(NULL, 1)', '22004', 'model name must not be NULL', 'activate(NULL, version)'),
	($$SELECT kpreco.activate('推荐课程', NULL)$$, '22004', 'version must not be NULL', 'activate(model, NULL)'),
	($$SELECT kpreco.activate('hostile_nothing', 1)$$, '42704', 'kpreco model "hostile_nothing" does not exist', 'activate of no model'),
	('SELECT kpreco.drop_model(NULL)', '22004', 'model name must not be NULL', 'drop_model(NULL)'),
	($$SELECT kpreco.drop_model('hostile_nothing')$$, '42704', 'kpreco model "hostile_nothing" does not exist', 'drop_model of no model'),
	('SELECT kpreco.grant_model(NULL, NULL)', '22004', 'model name must not be NULL', 'grant_model(NULL, NULL)'),
	($$SELECT kpreco.grant_model('hostile_nothing', 'public')$$, '42704', 'kpreco model "hostile_nothing" does not exist', 'grant_model of no model'),
	('SELECT kpreco.revoke_model(NULL, NULL)', '22004', 'model name must not be NULL', 'revoke_model(NULL, NULL)'),
	($$SELECT kpreco.revoke_model('hostile_nothing', 'public')$$, '42704', 'kpreco model "hostile_nothing" does not exist', 'revoke_model of no model'),
	('SELECT kpreco.versions_removed()', '0A000', 'trigger functions can only be called as triggers', 'versions_removed() called directly'),
	('SELECT kpreco.catalog_changed()', 'XX000', 'kpreco_catalog_changed: not called by trigger manager', 'catalog_changed() called directly (a C trigger function, like PostgreSQL''s own)')
  ) v(statement, code, message, description);
SELECT is(kpreco.forget_user(NULL), 0, 'forget_user(NULL) changes nothing');
SELECT is(kpreco.forget_user(9223372036854775807), 0, 'forget_user of the largest bigint, known to no model, changes nothing');
SELECT is(kpreco.forget_user('-9223372036854775808'::bigint), 0, 'nor of the smallest');

-- activate, grant, revoke, drop and forget_user in the session that serves --------------------------

SELECT lives_ok($$SELECT kpreco.train('hostile_ops', 'hostile_rows', '{"factors": 2, "iterations": 2, "seed": 1}')$$, 'a model hostile_ops');
CREATE TEMP TABLE hostile_ops_first AS SELECT * FROM kpreco.recommend(1, 3, 'hostile_ops');
SELECT lives_ok($$SELECT kpreco.train('hostile_ops', 'hostile_rows', '{"factors": 2, "iterations": 2, "seed": 2}')$$, 'its second version');
SELECT throws_ok($$SELECT kpreco.activate('hostile_ops', -1)$$, '42704', 'kpreco model "hostile_ops" has no version -1', 'activate a version that does not exist');
SELECT throws_ok(format('SELECT kpreco.activate(''hostile_ops'', %s)', (SELECT min(version) FROM kpreco.models WHERE name = '推荐课程')),
	'42704', NULL, 'activate a version of another model');
SELECT throws_ok($$SELECT kpreco.activate('hostile_ops', 9223372036854775807)$$, '42704', NULL, 'activate the largest version number');
SELECT lives_ok($$SELECT kpreco.activate('hostile_ops', (SELECT min(version) FROM kpreco.models WHERE name = 'hostile_ops'))$$,
	'activate the first version again');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 3, 'hostile_ops')$$, $$SELECT * FROM hostile_ops_first$$, 'which this session serves at once');
SELECT lives_ok($$SELECT kpreco.grant_model('hostile_ops', 'PUBLIC'); SELECT kpreco.grant_model('hostile_ops', 'public')$$, 'granted to PUBLIC twice');
SELECT is((SELECT readers FROM kpreco.model_registry WHERE name = 'hostile_ops'), ARRAY['public']::name[], 'listed once');
SELECT throws_ok($$SELECT kpreco.grant_model('hostile_ops', 'hostile_no_such_role')$$, '42704', 'role "hostile_no_such_role" does not exist',
	'grant_model to a role that does not exist');
SELECT lives_ok($$SELECT kpreco.revoke_model('hostile_ops', NULL); SELECT kpreco.revoke_model('hostile_ops', 'hostile_no_such_role')$$,
	'revoke_model of NULL and of a role never granted do nothing');
SELECT lives_ok($$SELECT kpreco.revoke_model('hostile_ops', 'public')$$, 'revoke_model of public');
SELECT is((SELECT readers FROM kpreco.model_registry WHERE name = 'hostile_ops'), '{}'::name[], 'leaves no reader');
SELECT is((SELECT count(*) FROM kpreco.recommend(1, 3, 'hostile_ops')), (SELECT count(*) FROM hostile_ops_first), 'the owner still serves it');
SELECT is((SELECT sum(kpreco.forget_user(user_id)) FROM (SELECT DISTINCT user_id FROM hostile_rows) u) >= 2, true,
	'forget_user of every user of the training data');
SELECT is((SELECT max(n_users) FROM kpreco.models WHERE name = 'hostile_ops'), 0, 'leaves versions without users');
SELECT is((SELECT count(*) FROM kpreco.recommend(1, 3, 'hostile_ops') WHERE score IS NULL), 3::bigint,
	'a forgotten user gets popular courses, not personal ones');
SELECT is_empty($$SELECT * FROM kpreco.user_factors('hostile_ops')$$, 'no user factors are left');
SELECT lives_ok($$SELECT kpreco.drop_model('hostile_ops')$$, 'drop_model while this session serves it');
SELECT throws_ok($$SELECT * FROM kpreco.similar_courses(1, 3, 'hostile_ops')$$, '42704', 'kpreco model "hostile_ops" does not exist',
	'the next call says it does not exist');
SELECT is((SELECT count(*) FROM kpreco.training_log WHERE name = 'hostile_ops'), 0::bigint, 'and its training log is gone');
SELECT lives_ok($$SELECT kpreco.train('hostile_ops', 'hostile_rows', '{"factors": 2, "iterations": 2, "keep_versions": 1}')$$,
	'trained again, keeping one version');
SELECT lives_ok($$SELECT kpreco.train('hostile_ops')$$, 'retrained');
SELECT is((SELECT count(*) FROM kpreco.models WHERE name = 'hostile_ops'), 1::bigint, 'one version is kept');
SELECT is((SELECT count(*) FROM kpreco.recommend(999, 3, 'hostile_ops')), 3::bigint, 'and serves');

-- The version sequence at its end ---------------------------------------------------------------
-- (ALTER SEQUENCE ... RESTART is transactional: ROLLBACK puts it back; setval would not.)

ALTER SEQUENCE kpreco.model_version_seq RESTART WITH 9223372036854775807;
SELECT is(kpreco.train('hostile_last_version', 'hostile_rows', '{"factors": 2, "iterations": 2}'), 9223372036854775807,
	'a training gets the last version number');
SELECT is((SELECT count(*) FROM kpreco.recommend(999, 3, 'hostile_last_version')), 3::bigint, 'which serves');
SELECT throws_ok($$SELECT kpreco.train('hostile_last_version', 'hostile_rows', '{"factors": 2, "iterations": 2, "seed": 2}')$$,
	'2200H', NULL, 'the next training finds the sequence exhausted');
SELECT is((SELECT active_version FROM kpreco.model_registry WHERE name = 'hostile_last_version'), 9223372036854775807,
	'and leaves the last version active');
SELECT is((SELECT count(*) FROM kpreco.recommend(999, 3, 'hostile_last_version')), 3::bigint, 'serving');

-- A version number reused within one transaction ------------------------------------------------
-- TRUNCATE ... RESTART IDENTITY (as test scripts do) then a retraining:
-- the new version has the same number and, in this transaction, the same
-- xmin as the one this session has cached.  The model trained last must
-- be the one served.  These statements run at top level on purpose (not
-- inside lives_ok, whose subtransaction would give the rows another xmin).

TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;
SELECT kpreco.train('hostile_reused', 'SELECT user_id, course_id FROM hostile_rows WHERE (user_id * course_id) % 4 <> 0',
	'{"factors": 3, "iterations": 3}') AS first_version \gset
SELECT count(*) AS first_served FROM kpreco.recommend(1, 3, 'hostile_reused') \gset
TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;
SELECT kpreco.train('hostile_reused', 'SELECT user_id, course_id FROM hostile_rows WHERE (user_id * course_id) % 4 = 0',
	'{"factors": 3, "iterations": 3}') AS second_version \gset
SELECT kpreco.train('hostile_reference', 'SELECT user_id, course_id FROM hostile_rows WHERE (user_id * course_id) % 4 = 0',
	'{"factors": 3, "iterations": 3}') AS reference_version \gset
SELECT is(:second_version::bigint, :first_version::bigint, 'the retraining reused version number ' || :first_version);
SELECT results_eq($$SELECT course_id, rank FROM kpreco.recommend(1, 3, 'hostile_reused')$$,
	$$SELECT course_id, rank FROM kpreco.recommend(1, 3, 'hostile_reference')$$,
	'the model trained last is served, not the one cached before under the same version number');
SELECT results_eq($$SELECT * FROM kpreco.course_factors('hostile_reused')$$, $$SELECT * FROM kpreco.course_factors('hostile_reference')$$,
	'and its factors are the ones exported');

-- The same within one transaction through forget_user: the version row is
-- rewritten by the transaction that trained it.
SELECT kpreco.train('hostile_forget', 'hostile_rows', '{"factors": 3, "iterations": 3}') AS forget_version \gset
SELECT count(*) AS forget_served FROM kpreco.recommend(1, 3, 'hostile_forget') \gset
SELECT kpreco.forget_user(1) AS forgotten \gset
SELECT is(kpreco.model_has_user((SELECT model FROM kpreco.model_versions WHERE version = :forget_version), 1), false,
	'forget_user removed user 1 from the stored version');
SELECT is((SELECT count(*) FROM kpreco.recommend(1, 3, 'hostile_forget') WHERE score IS NOT NULL), 0::bigint,
	'and user 1 gets no personal recommendation any more in this transaction');

SELECT is((SELECT pid FROM hostile_session), pg_backend_pid(), 'same session as at the start: no backend crashed');
SELECT is((SELECT 1), 1, 'the server still answers');

SELECT * FROM finish();
ROLLBACK;
