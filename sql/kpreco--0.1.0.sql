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

-- The catalog of named, versioned models --------------------------------------

CREATE TABLE kpreco.model_registry (
	name text PRIMARY KEY
		CHECK (name <> '' AND octet_length(name) <= 200),
	source text,
	options jsonb NOT NULL DEFAULT '{}',
	active_version bigint,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
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

-- pg_dump dumps the contents of these, so models survive dump and restore.
SELECT pg_catalog.pg_extension_config_dump('kpreco.model_registry', '');
SELECT pg_catalog.pg_extension_config_dump('kpreco.model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('kpreco.model_version_seq', '');

-- Any change to the catalog tells every session's model cache at commit.
CREATE FUNCTION kpreco.catalog_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'kpreco_catalog_changed' LANGUAGE C;
CREATE TRIGGER model_registry_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kpreco.model_registry
	FOR EACH STATEMENT EXECUTE FUNCTION kpreco.catalog_changed();
CREATE TRIGGER model_versions_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kpreco.model_versions
	FOR EACH STATEMENT EXECUTE FUNCTION kpreco.catalog_changed();

CREATE VIEW kpreco.models AS
SELECT v.name, v.version, v.algorithm, v.options, v.n_users, v.n_courses,
	   v.n_interactions, v.train_seconds, v.created_at,
	   v.version IS NOT DISTINCT FROM r.active_version AS active
FROM kpreco.model_versions v
JOIN kpreco.model_registry r ON r.name = v.name;

-- The FROM item for a source: a query in parentheses, or a checked relation name.
CREATE FUNCTION kpreco.source_clause(source text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF source IS NULL OR btrim(source) = '' THEN
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
	-- copied into PL/pgSQL variables on the way.
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

	-- One training per model name at a time: the second waits on this row.
	INSERT INTO kpreco.model_registry (name, source, options)
		VALUES (train.model, train.source, opts)
		ON CONFLICT (name) DO NOTHING;
	PERFORM 1 FROM kpreco.model_registry WHERE name = train.model FOR UPDATE;

	EXECUTE query INTO new_version USING opts, train.model, started;

	UPDATE kpreco.model_registry
	   SET source = train.source, options = opts, active_version = new_version, updated_at = now()
	 WHERE name = train.model;
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
