-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION kpreco" to load this file. \quit

-- The model type ------------------------------------------------------------

CREATE TYPE kpreco.model;

CREATE FUNCTION kpreco.model_in(cstring) RETURNS kpreco.model
	AS 'MODULE_PATHNAME', 'kpreco_model_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpreco.model_out(kpreco.model) RETURNS cstring
	AS 'MODULE_PATHNAME', 'kpreco_model_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpreco.model_recv(internal) RETURNS kpreco.model
	AS 'MODULE_PATHNAME', 'kpreco_model_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpreco.model_send(kpreco.model) RETURNS bytea
	AS 'MODULE_PATHNAME', 'kpreco_model_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Stored uncompressed: factor matrices do not compress, and serving then
-- reads the value without a decompression pass.
CREATE TYPE kpreco.model (
	INPUT = kpreco.model_in,
	OUTPUT = kpreco.model_out,
	RECEIVE = kpreco.model_recv,
	SEND = kpreco.model_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = double,
	STORAGE = external
);

CREATE FUNCTION kpreco.model(bytea) RETURNS kpreco.model
	AS 'MODULE_PATHNAME', 'kpreco_model_from_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (bytea AS kpreco.model) WITH FUNCTION kpreco.model(bytea);
CREATE FUNCTION kpreco.model_bytes(kpreco.model) RETURNS bytea
	AS 'MODULE_PATHNAME', 'kpreco_model_to_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (kpreco.model AS bytea) WITH FUNCTION kpreco.model_bytes(kpreco.model);

CREATE FUNCTION kpreco.model_info(kpreco.model) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'kpreco_model_info' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpreco.model_has_user(model kpreco.model, user_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'kpreco_model_has_user' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpreco.model_without_user(model kpreco.model, user_id bigint) RETURNS kpreco.model
	AS 'MODULE_PATHNAME', 'kpreco_model_without_user' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Training ------------------------------------------------------------------

CREATE FUNCTION kpreco.train_agg_transfn(internal, bigint, bigint, real, jsonb) RETURNS internal
	AS 'MODULE_PATHNAME', 'kpreco_train_transfn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION kpreco.train_agg_finalfn(internal) RETURNS kpreco.model
	AS 'MODULE_PATHNAME', 'kpreco_train_finalfn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE AGGREGATE kpreco.train_agg(user_id bigint, course_id bigint, weight real, options jsonb) (
	SFUNC = kpreco.train_agg_transfn,
	STYPE = internal,
	FINALFUNC = kpreco.train_agg_finalfn,
	FINALFUNC_MODIFY = READ_WRITE
);

-- Per-iteration records of the last training this session completed.
CREATE FUNCTION kpreco.last_training_log()
RETURNS TABLE (iteration integer, loss double precision, seconds double precision, logged_at timestamptz)
	AS 'MODULE_PATHNAME', 'kpreco_last_training_log'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- The catalog of named, versioned models --------------------------------------

CREATE TABLE kpreco.model_registry (
	name text PRIMARY KEY
		CHECK (name <> '' AND octet_length(name) <= 200),
	source text,
	options jsonb NOT NULL DEFAULT '{}',
	active_version bigint,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	owner name NOT NULL DEFAULT CURRENT_USER,
	readers name[] NOT NULL DEFAULT '{}'
);

CREATE SEQUENCE kpreco.model_version_seq;

CREATE TABLE kpreco.model_versions (
	version bigint PRIMARY KEY DEFAULT nextval('kpreco.model_version_seq'),
	name text NOT NULL,
	algorithm text NOT NULL,
	options jsonb NOT NULL,
	n_users integer NOT NULL,
	n_courses integer NOT NULL,
	n_interactions bigint NOT NULL,
	train_seconds double precision,
	created_at timestamptz NOT NULL DEFAULT now(),
	model kpreco.model NOT NULL
);
CREATE INDEX model_versions_name_idx ON kpreco.model_versions (name);
ALTER SEQUENCE kpreco.model_version_seq OWNED BY kpreco.model_versions.version;

CREATE TABLE kpreco.training_log (
	name text NOT NULL,
	version bigint NOT NULL,
	iteration integer NOT NULL,
	loss double precision,
	seconds double precision NOT NULL,
	logged_at timestamptz NOT NULL,
	PRIMARY KEY (version, iteration)
);

-- pg_dump dumps the contents of these, so models survive dump and restore.
SELECT pg_catalog.pg_extension_config_dump('kpreco.model_registry', '');
SELECT pg_catalog.pg_extension_config_dump('kpreco.model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('kpreco.model_version_seq', '');
SELECT pg_catalog.pg_extension_config_dump('kpreco.training_log', '');

-- Who may read and change what: every role may use the tables, and
-- row-level security shows each role the models it owns (directly or
-- through a role it has the privileges of) or was granted, and lets it
-- change only those it owns.  The expressions are spelled out in the
-- policies, which are parsed once here, so no search_path can alter them.
-- Superusers and the owner of the tables bypass row-level security.
GRANT USAGE ON SCHEMA kpreco TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE
	ON kpreco.model_registry, kpreco.model_versions, kpreco.training_log TO PUBLIC;
GRANT USAGE ON SEQUENCE kpreco.model_version_seq TO PUBLIC;
ALTER TABLE kpreco.model_registry ENABLE ROW LEVEL SECURITY;
ALTER TABLE kpreco.model_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE kpreco.training_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY model_registry_read ON kpreco.model_registry FOR SELECT
	USING ('public' = ANY (model_registry.readers)
		   OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro
					   WHERE (ro.rolname = model_registry.owner OR ro.rolname = ANY (model_registry.readers))
						 AND pg_catalog.pg_has_role(ro.oid, 'USAGE')));
CREATE POLICY model_registry_owner ON kpreco.model_registry
	USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro
					WHERE ro.rolname = model_registry.owner AND pg_catalog.pg_has_role(ro.oid, 'USAGE')))
	WITH CHECK (EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro
						 WHERE ro.rolname = model_registry.owner AND pg_catalog.pg_has_role(ro.oid, 'USAGE')));
CREATE POLICY model_versions_read ON kpreco.model_versions FOR SELECT
	USING (EXISTS (SELECT 1 FROM kpreco.model_registry r WHERE r.name = model_versions.name));
CREATE POLICY model_versions_owner ON kpreco.model_versions
	USING (EXISTS (SELECT 1 FROM kpreco.model_registry r JOIN pg_catalog.pg_roles ro ON ro.rolname = r.owner
					WHERE r.name = model_versions.name AND pg_catalog.pg_has_role(ro.oid, 'USAGE')))
	WITH CHECK (EXISTS (SELECT 1 FROM kpreco.model_registry r JOIN pg_catalog.pg_roles ro ON ro.rolname = r.owner
						 WHERE r.name = model_versions.name AND pg_catalog.pg_has_role(ro.oid, 'USAGE')));
CREATE POLICY training_log_read ON kpreco.training_log FOR SELECT
	USING (EXISTS (SELECT 1 FROM kpreco.model_registry r WHERE r.name = training_log.name));
CREATE POLICY training_log_owner ON kpreco.training_log
	USING (EXISTS (SELECT 1 FROM kpreco.model_registry r JOIN pg_catalog.pg_roles ro ON ro.rolname = r.owner
					WHERE r.name = training_log.name AND pg_catalog.pg_has_role(ro.oid, 'USAGE')))
	WITH CHECK (EXISTS (SELECT 1 FROM kpreco.model_registry r JOIN pg_catalog.pg_roles ro ON ro.rolname = r.owner
						 WHERE r.name = training_log.name AND pg_catalog.pg_has_role(ro.oid, 'USAGE')));

-- Any change to the catalog tells every session's model cache at commit.
CREATE FUNCTION kpreco.catalog_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'kpreco_catalog_changed' LANGUAGE C;
CREATE TRIGGER model_registry_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kpreco.model_registry
	FOR EACH STATEMENT EXECUTE FUNCTION kpreco.catalog_changed();
CREATE TRIGGER model_versions_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kpreco.model_versions
	FOR EACH STATEMENT EXECUTE FUNCTION kpreco.catalog_changed();

-- A version's training log goes with it, however the version is removed.
CREATE FUNCTION kpreco.versions_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		DELETE FROM kpreco.training_log;
	ELSE
		DELETE FROM kpreco.training_log WHERE version = OLD.version;
	END IF;
	RETURN NULL;
END
$$;
-- A row trigger: a transition table would read every deleted model value.
CREATE TRIGGER model_versions_deleted
	AFTER DELETE ON kpreco.model_versions
	FOR EACH ROW EXECUTE FUNCTION kpreco.versions_removed();
CREATE TRIGGER model_versions_truncated
	AFTER TRUNCATE ON kpreco.model_versions
	FOR EACH STATEMENT EXECUTE FUNCTION kpreco.versions_removed();

-- The view reads the tables with its owner's rights, which bypass
-- row-level security: it filters like model_registry_read itself, behind a
-- security barrier so that no caller's condition sees the other rows.
CREATE VIEW kpreco.models WITH (security_barrier) AS
SELECT v.name, v.version, v.algorithm, v.options, v.n_users, v.n_courses,
	   v.n_interactions, v.train_seconds, v.created_at,
	   v.version IS NOT DISTINCT FROM r.active_version AS active,
	   r.owner
FROM kpreco.model_versions v
JOIN kpreco.model_registry r ON r.name = v.name
WHERE 'public' = ANY (r.readers)
   OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro
			   WHERE (ro.rolname = r.owner OR ro.rolname = ANY (r.readers))
				 AND pg_catalog.pg_has_role(ro.oid, 'USAGE'));
GRANT SELECT ON kpreco.models TO PUBLIC;

-- The FROM item for a source: a query in parentheses, or a checked relation name.
CREATE FUNCTION kpreco.source_clause(source text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF source IS NULL OR source !~ '[^[:space:]]' THEN
		RAISE EXCEPTION 'source must name a table or view, or be a query'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example kpreco.train(''courses'', ''enrollments'') or kpreco.train(''courses'', ''SELECT user_id, course_id FROM enrollments'').';
	END IF;
	IF source ~* '^\s*(\(|select\s|with\s|values\s|table\s)' THEN
		RETURN '(' || source || ')';
	END IF;
	RETURN source::regclass::text;
END
$$;

-- Locks the registry row of a model the current role owns; the error says
-- "does not exist" to a role that cannot read the model, and "must be owner"
-- to one that can only read it.
CREATE FUNCTION kpreco.lock_owned_model(model text)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF model IS NULL THEN
		RAISE EXCEPTION 'model name must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- Row-level security leaves only owned rows to lock.
	PERFORM 1 FROM kpreco.model_registry r WHERE r.name = lock_owned_model.model FOR UPDATE;
	IF FOUND THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM kpreco.model_registry r WHERE r.name = lock_owned_model.model) THEN
		RAISE EXCEPTION 'must be owner of kpreco model "%"', model
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only the owner of a model (or a member of the owning role) can train, activate, drop or grant it.';
	END IF;
	RAISE EXCEPTION 'kpreco model "%" does not exist', model
		USING ERRCODE = 'undefined_object',
			  HINT = 'SELECT DISTINCT name FROM kpreco.models lists the models this role can read.';
END
$$;

CREATE FUNCTION kpreco.train(model text, source text, options jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
	opts jsonb := coalesce(train.options, '{}');
	key text;
	query text;
	started timestamptz := clock_timestamp();
	new_version bigint;
	keep integer;
BEGIN
	IF train.model IS NULL OR train.model = '' OR octet_length(train.model) > 200 THEN
		RAISE EXCEPTION 'model name must be between 1 and 200 bytes long'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF jsonb_typeof(opts) <> 'object' THEN
		RAISE EXCEPTION 'options must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example ''{"factors": 64, "weight_column": "weight"}''.';
	END IF;
	FOREACH key IN ARRAY ARRAY['user_column', 'course_column', 'weight_column'] LOOP
		IF opts ? key AND jsonb_typeof(opts -> key) <> 'string' THEN
			RAISE EXCEPTION 'option "%" must be a column name string', key
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;

	-- One statement from source to stored version: the model value is not
	-- copied into PL/pgSQL variables on the way.  The source is read with
	-- the caller's rights.
	query := format(
		'INSERT INTO kpreco.model_versions'
		'  (name, algorithm, options, n_users, n_courses, n_interactions, train_seconds, model)'
		' SELECT $2, info ->> ''algorithm'', info -> ''options'', (info ->> ''n_users'')::integer,'
		'        (info ->> ''n_courses'')::integer, (info ->> ''n_interactions'')::bigint,'
		'        extract(epoch FROM clock_timestamp() - $3), trained'
		'   FROM (SELECT trained, kpreco.model_info(trained) AS info'
		'           FROM (SELECT kpreco.train_agg(src.%I::bigint, src.%I::bigint, %s, $1) AS trained'
		'                   FROM %s AS src) aggregated) described'
		' RETURNING version',
		coalesce(opts ->> 'user_column', 'user_id'),
		coalesce(opts ->> 'course_column', 'course_id'),
		CASE WHEN opts ? 'weight_column'
			 THEN format('src.%I::real', opts ->> 'weight_column')
			 ELSE 'NULL::real' END,
		kpreco.source_clause(train.source));

	-- A new model belongs to the current role.  One training per model name
	-- at a time: the second waits on this row.
	INSERT INTO kpreco.model_registry (name, source, options)
		VALUES (train.model, train.source, opts)
		ON CONFLICT (name) DO NOTHING;
	IF NOT EXISTS (SELECT 1 FROM kpreco.model_registry r WHERE r.name = train.model) THEN
		RAISE EXCEPTION 'kpreco model name "%" is taken by a model this role cannot read', train.model
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Model names are unique in a database: choose another name.';
	END IF;
	PERFORM kpreco.lock_owned_model(train.model);

	EXECUTE query INTO new_version USING opts, train.model, started;

	UPDATE kpreco.model_registry
	   SET source = train.source, options = opts, active_version = new_version, updated_at = now()
	 WHERE name = train.model;
	INSERT INTO kpreco.training_log (name, version, iteration, loss, seconds, logged_at)
		SELECT train.model, new_version, l.iteration, l.loss, l.seconds, l.logged_at
		  FROM kpreco.last_training_log() l;

	-- Keep the newest versions (3 is the default of option keep_versions).
	keep := coalesce((opts ->> 'keep_versions')::numeric::integer, 3);
	DELETE FROM kpreco.model_versions v
	 WHERE v.name = train.model AND v.version <> new_version
	   AND v.version NOT IN (SELECT k.version FROM kpreco.model_versions k
							  WHERE k.name = train.model ORDER BY k.version DESC LIMIT keep);
	RETURN new_version;
END
$$;

-- Retrain with the source and options stored for the model (for pg_cron).
CREATE FUNCTION kpreco.train(model text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
	stored record;
BEGIN
	SELECT source, options INTO stored FROM kpreco.model_registry WHERE name = train.model;
	IF NOT FOUND OR stored.source IS NULL THEN
		RAISE EXCEPTION 'kpreco model "%" does not exist', train.model
			USING ERRCODE = 'undefined_object',
				  HINT = 'Train it once with kpreco.train(model, source, options).';
	END IF;
	RETURN kpreco.train(train.model, stored.source, stored.options);
END
$$;

CREATE FUNCTION kpreco.activate(model text, version bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
	owning_model text;
BEGIN
	PERFORM kpreco.lock_owned_model(activate.model);
	IF activate.version IS NULL THEN
		RAISE EXCEPTION 'version must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM kpreco.model_versions v
					WHERE v.name = activate.model AND v.version = activate.version) THEN
		SELECT v.name INTO owning_model FROM kpreco.model_versions v WHERE v.version = activate.version;
		IF FOUND THEN
			RAISE EXCEPTION 'kpreco model "%" has no version %', activate.model, activate.version
				USING ERRCODE = 'undefined_object',
					  DETAIL = format('Version %s belongs to kpreco model "%s".', activate.version, owning_model),
					  HINT = format('SELECT version FROM kpreco.models WHERE name = %L lists its versions.', activate.model);
		END IF;
		RAISE EXCEPTION 'kpreco model "%" has no version %', activate.model, activate.version
			USING ERRCODE = 'undefined_object',
				  HINT = format('SELECT version FROM kpreco.models WHERE name = %L lists its versions.', activate.model);
	END IF;
	UPDATE kpreco.model_registry
	   SET active_version = activate.version, updated_at = now()
	 WHERE name = activate.model;
END
$$;

CREATE FUNCTION kpreco.drop_model(model text)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
	PERFORM kpreco.lock_owned_model(drop_model.model);
	DELETE FROM kpreco.model_versions WHERE name = drop_model.model;
	DELETE FROM kpreco.model_registry WHERE name = drop_model.model;
END
$$;

-- 'public' lets every role read the model.
CREATE FUNCTION kpreco.grant_model(model text, reader name)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
	grantee name := CASE WHEN lower(grant_model.reader) = 'public' THEN 'public' ELSE grant_model.reader END;
BEGIN
	PERFORM kpreco.lock_owned_model(grant_model.model);
	IF grantee IS NULL THEN
		RAISE EXCEPTION 'role name must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF grantee <> 'public' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = grantee) THEN
		RAISE EXCEPTION 'role "%" does not exist', grantee
			USING ERRCODE = 'undefined_object';
	END IF;
	UPDATE kpreco.model_registry
	   SET readers = array_append(readers, grantee)
	 WHERE name = grant_model.model AND NOT grantee = ANY (readers);
END
$$;

CREATE FUNCTION kpreco.revoke_model(model text, reader name)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
	grantee name := CASE WHEN lower(revoke_model.reader) = 'public' THEN 'public' ELSE revoke_model.reader END;
BEGIN
	PERFORM kpreco.lock_owned_model(revoke_model.model);
	UPDATE kpreco.model_registry
	   SET readers = array_remove(readers, grantee)
	 WHERE name = revoke_model.model AND grantee = ANY (readers);
END
$$;

-- Rewrites every stored version that knows the user, of every model the
-- caller owns.  Registry rows are locked first, so that a training running
-- now commits before and its version is rewritten too.
CREATE FUNCTION kpreco.forget_user(user_id bigint)
RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_variable
DECLARE
	changed integer;
BEGIN
	IF user_id IS NULL THEN
		RETURN 0;
	END IF;
	PERFORM 1 FROM kpreco.model_registry r ORDER BY r.name FOR UPDATE;
	UPDATE kpreco.model_versions v
	   SET (model, n_users, n_interactions) =
		   (SELECT edited, (info ->> 'n_users')::integer, (info ->> 'n_interactions')::bigint
			  FROM (SELECT edited, kpreco.model_info(edited) AS info
					  FROM (SELECT kpreco.model_without_user(v.model, user_id) AS edited) e) d)
	 WHERE kpreco.model_has_user(v.model, user_id);
	GET DIAGNOSTICS changed = ROW_COUNT;
	RETURN changed;
END
$$;

-- Serving -------------------------------------------------------------------

CREATE FUNCTION kpreco.recommend(user_id bigint, k integer DEFAULT 10, model text DEFAULT NULL)
RETURNS TABLE (course_id bigint, score real, rank integer)
	AS 'MODULE_PATHNAME', 'kpreco_recommend'
	LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

CREATE FUNCTION kpreco.similar_courses(course_id bigint, k integer DEFAULT 10, model text DEFAULT NULL)
RETURNS TABLE (course_id bigint, similarity real, rank integer)
	AS 'MODULE_PATHNAME', 'kpreco_similar_courses'
	LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

CREATE FUNCTION kpreco.predict(user_id bigint, course_id bigint, model text DEFAULT NULL)
RETURNS real
	AS 'MODULE_PATHNAME', 'kpreco_predict'
	LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION kpreco.user_factors(model text DEFAULT NULL)
RETURNS TABLE (user_id bigint, factors real[])
	AS 'MODULE_PATHNAME', 'kpreco_user_factors'
	LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION kpreco.course_factors(model text DEFAULT NULL)
RETURNS TABLE (course_id bigint, factors real[])
	AS 'MODULE_PATHNAME', 'kpreco_course_factors'
	LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Descriptions -----------------------------------------------------------------

COMMENT ON TYPE kpreco.model IS
	'a trained model: format version, options, id maps, float32 factors, training courses per user and a checksum; validated on every way in';
COMMENT ON FUNCTION kpreco.model_in(cstring) IS 'text input of kpreco.model (base64), validated';
COMMENT ON FUNCTION kpreco.model_out(kpreco.model) IS 'text output of kpreco.model (base64)';
COMMENT ON FUNCTION kpreco.model_recv(internal) IS 'binary input of kpreco.model, validated';
COMMENT ON FUNCTION kpreco.model_send(kpreco.model) IS 'binary output of kpreco.model: the bytes of the value';
COMMENT ON FUNCTION kpreco.model(bytea) IS 'the model these bytes hold, validated (the cast from bytea)';
COMMENT ON FUNCTION kpreco.model_bytes(kpreco.model) IS 'the bytes of a model (the cast to bytea)';
COMMENT ON CAST (bytea AS kpreco.model) IS 'validates the bytes as a model';
COMMENT ON CAST (kpreco.model AS bytea) IS 'the bytes of a model';
COMMENT ON FUNCTION kpreco.model_info(kpreco.model) IS
	'format version, algorithm, sizes, rows read and skipped, and options of a model';
COMMENT ON FUNCTION kpreco.model_has_user(kpreco.model, bigint) IS
	'whether the model has factors for the user; reads only the header and the user ids';
COMMENT ON FUNCTION kpreco.model_without_user(kpreco.model, bigint) IS
	'the model without the user''s factors and training courses (course factors unchanged)';

COMMENT ON FUNCTION kpreco.train_agg_transfn(internal, bigint, bigint, real, jsonb) IS
	'transition function of kpreco.train_agg: collects interactions';
COMMENT ON FUNCTION kpreco.train_agg_finalfn(internal) IS
	'final function of kpreco.train_agg: trains and builds the model';
COMMENT ON AGGREGATE kpreco.train_agg(bigint, bigint, real, jsonb) IS
	'trains a model on its input rows (user id, course id, weight, options)';
COMMENT ON FUNCTION kpreco.last_training_log() IS
	'iteration, loss (NULL unless the option verbose was set), seconds and end time of each iteration of the last training this session completed';

COMMENT ON TABLE kpreco.model_registry IS 'one row per named model: where it trains from, which version is served, who may read it';
COMMENT ON COLUMN kpreco.model_registry.name IS 'model name, unique in the database';
COMMENT ON COLUMN kpreco.model_registry.source IS 'table, view or query the model trains from';
COMMENT ON COLUMN kpreco.model_registry.options IS 'training options as given';
COMMENT ON COLUMN kpreco.model_registry.active_version IS 'the version that is served';
COMMENT ON COLUMN kpreco.model_registry.created_at IS 'when the model was first trained';
COMMENT ON COLUMN kpreco.model_registry.updated_at IS 'when a version was last trained or activated';
COMMENT ON COLUMN kpreco.model_registry.owner IS 'role that owns the model: it and its members may train, activate, grant and drop it';
COMMENT ON COLUMN kpreco.model_registry.readers IS 'roles granted to read and serve the model (''public'': every role)';

COMMENT ON SEQUENCE kpreco.model_version_seq IS 'version ids, shared by all models';
COMMENT ON TABLE kpreco.model_versions IS 'trained versions of the models';
COMMENT ON COLUMN kpreco.model_versions.version IS 'version id';
COMMENT ON COLUMN kpreco.model_versions.name IS 'model the version belongs to';
COMMENT ON COLUMN kpreco.model_versions.algorithm IS 'training algorithm';
COMMENT ON COLUMN kpreco.model_versions.options IS 'effective training options, every key spelled out';
COMMENT ON COLUMN kpreco.model_versions.n_users IS 'users with factors';
COMMENT ON COLUMN kpreco.model_versions.n_courses IS 'courses with factors';
COMMENT ON COLUMN kpreco.model_versions.n_interactions IS 'distinct (user, course) training pairs';
COMMENT ON COLUMN kpreco.model_versions.train_seconds IS 'seconds from the start of kpreco.train() to the stored version';
COMMENT ON COLUMN kpreco.model_versions.created_at IS 'when the training started';
COMMENT ON COLUMN kpreco.model_versions.model IS 'the trained model';
COMMENT ON INDEX kpreco.model_versions_name_idx IS 'versions by model name';

COMMENT ON TABLE kpreco.training_log IS 'one row per iteration of every training through kpreco.train()';
COMMENT ON COLUMN kpreco.training_log.name IS 'model name';
COMMENT ON COLUMN kpreco.training_log.version IS 'version the training produced';
COMMENT ON COLUMN kpreco.training_log.iteration IS 'iteration, from 1';
COMMENT ON COLUMN kpreco.training_log.loss IS 'training loss after the iteration; NULL unless the option verbose was set';
COMMENT ON COLUMN kpreco.training_log.seconds IS 'seconds the iteration took, without computing the loss';
COMMENT ON COLUMN kpreco.training_log.logged_at IS 'when the iteration ended';

COMMENT ON FUNCTION kpreco.catalog_changed() IS
	'trigger function: tells every session''s model cache at commit that the catalog changed';
COMMENT ON TRIGGER model_registry_changed ON kpreco.model_registry IS 'invalidates the model caches of all sessions';
COMMENT ON TRIGGER model_versions_changed ON kpreco.model_versions IS 'invalidates the model caches of all sessions';
COMMENT ON FUNCTION kpreco.versions_removed() IS
	'trigger function: removes the training log of removed versions';
COMMENT ON TRIGGER model_versions_deleted ON kpreco.model_versions IS 'removes the training log of deleted versions';
COMMENT ON TRIGGER model_versions_truncated ON kpreco.model_versions IS 'empties the training log with the versions';
COMMENT ON POLICY model_registry_read ON kpreco.model_registry IS
	'a model is visible to its owner, its readers and the roles that have their privileges';
COMMENT ON POLICY model_registry_owner ON kpreco.model_registry IS
	'only the owner (or a role with its privileges) creates, changes and deletes a model';
COMMENT ON POLICY model_versions_read ON kpreco.model_versions IS 'versions of the models the role can see';
COMMENT ON POLICY model_versions_owner ON kpreco.model_versions IS 'versions of the models the role owns';
COMMENT ON POLICY training_log_read ON kpreco.training_log IS 'training log of the models the role can see';
COMMENT ON POLICY training_log_owner ON kpreco.training_log IS 'training log of the models the role owns';

COMMENT ON VIEW kpreco.models IS 'the versions of every model the current role can read';
COMMENT ON COLUMN kpreco.models.name IS 'model name';
COMMENT ON COLUMN kpreco.models.version IS 'version id';
COMMENT ON COLUMN kpreco.models.algorithm IS 'training algorithm';
COMMENT ON COLUMN kpreco.models.options IS 'effective training options';
COMMENT ON COLUMN kpreco.models.n_users IS 'users with factors';
COMMENT ON COLUMN kpreco.models.n_courses IS 'courses with factors';
COMMENT ON COLUMN kpreco.models.n_interactions IS 'distinct (user, course) training pairs';
COMMENT ON COLUMN kpreco.models.train_seconds IS 'seconds the training took';
COMMENT ON COLUMN kpreco.models.created_at IS 'when the training started';
COMMENT ON COLUMN kpreco.models.active IS 'whether this version is served';
COMMENT ON COLUMN kpreco.models.owner IS 'role that owns the model';

COMMENT ON FUNCTION kpreco.source_clause(text) IS
	'the FROM item for a training source: a query in parentheses, or a checked relation name';
COMMENT ON FUNCTION kpreco.lock_owned_model(text) IS
	'locks the registry row of a model the current role owns, or raises "does not exist" or "must be owner"';
COMMENT ON FUNCTION kpreco.train(text, text, jsonb) IS
	'trains a model from a table, view or query, stores a new version, makes it active, prunes old versions, returns the version id';
COMMENT ON FUNCTION kpreco.train(text) IS 'retrains a model with its stored source and options';
COMMENT ON FUNCTION kpreco.activate(text, bigint) IS 'makes a stored version of a model the one served';
COMMENT ON FUNCTION kpreco.drop_model(text) IS 'removes a model, all its versions and its training log';
COMMENT ON FUNCTION kpreco.grant_model(text, name) IS 'lets a role (or ''public'') read and serve a model';
COMMENT ON FUNCTION kpreco.revoke_model(text, name) IS 'takes back what kpreco.grant_model gave';
COMMENT ON FUNCTION kpreco.forget_user(bigint) IS
	'removes a user''s factors and training courses from every version of every model the caller owns; returns the number of versions changed';

COMMENT ON FUNCTION kpreco.recommend(bigint, integer, text) IS
	'the k best courses for a user, without those of the user''s training data; an unknown user gets the most popular courses with a NULL score';
COMMENT ON FUNCTION kpreco.similar_courses(bigint, integer, text) IS
	'the k courses most similar to a course (cosine similarity of factors)';
COMMENT ON FUNCTION kpreco.predict(bigint, bigint, text) IS 'the score of a (user, course) pair; NULL if either is unknown';
COMMENT ON FUNCTION kpreco.user_factors(text) IS 'the factor vector of every user';
COMMENT ON FUNCTION kpreco.course_factors(text) IS 'the factor vector of every course';
