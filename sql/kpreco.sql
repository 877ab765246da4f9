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
	model kpreco.model NOT NULL,
	validation jsonb
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

-- One row per evaluation stored with kpreco.evaluate(..., '{"store": true}'):
-- a model's quality history.  Kept when versions are pruned, removed with
-- the model.
CREATE TABLE kpreco.evaluations (
	name text NOT NULL,
	version bigint NOT NULL,
	evaluated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	test_source text NOT NULL,
	k integer NOT NULL,
	metrics jsonb NOT NULL
);
CREATE INDEX evaluations_version_idx ON kpreco.evaluations (version, evaluated_at);
SELECT pg_catalog.pg_extension_config_dump('kpreco.evaluations', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON kpreco.evaluations TO PUBLIC;
ALTER TABLE kpreco.evaluations ENABLE ROW LEVEL SECURITY;
CREATE POLICY evaluations_read ON kpreco.evaluations FOR SELECT
	USING (EXISTS (SELECT 1 FROM kpreco.model_registry r WHERE r.name = evaluations.name));
CREATE POLICY evaluations_owner ON kpreco.evaluations
	USING (EXISTS (SELECT 1 FROM kpreco.model_registry r JOIN pg_catalog.pg_roles ro ON ro.rolname = r.owner
					WHERE r.name = evaluations.name AND pg_catalog.pg_has_role(ro.oid, 'USAGE')))
	WITH CHECK (EXISTS (SELECT 1 FROM kpreco.model_registry r JOIN pg_catalog.pg_roles ro ON ro.rolname = r.owner
						 WHERE r.name = evaluations.name AND pg_catalog.pg_has_role(ro.oid, 'USAGE')));

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
	   r.owner, v.validation,
	   (SELECT e.metrics FROM kpreco.evaluations e
		 WHERE e.version = v.version ORDER BY e.evaluated_at DESC LIMIT 1) AS evaluation
FROM kpreco.model_versions v
JOIN kpreco.model_registry r ON r.name = v.name
WHERE 'public' = ANY (r.readers)
   OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro
			   WHERE (ro.rolname = r.owner OR ro.rolname = ANY (r.readers))
				 AND pg_catalog.pg_has_role(ro.oid, 'USAGE'));
GRANT SELECT ON kpreco.models TO PUBLIC;

-- Interaction weights ---------------------------------------------------------

-- Seconds since 1970 of a time column of any of the usual types.
CREATE FUNCTION kpreco.epoch_seconds(timestamptz) RETURNS double precision
	LANGUAGE sql STABLE PARALLEL SAFE AS 'SELECT extract(epoch FROM $1)::double precision';
CREATE FUNCTION kpreco.epoch_seconds(timestamp) RETURNS double precision
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT extract(epoch FROM $1)::double precision';
CREATE FUNCTION kpreco.epoch_seconds(date) RETURNS double precision
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT extract(epoch FROM $1)::double precision';
CREATE FUNCTION kpreco.epoch_seconds(double precision) RETURNS double precision
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT $1';

-- weight · 0.5^(age_days / half_life_days), in double precision: a weight
-- too small for real becomes 0 (the row is then skipped), NaN and negative
-- weights pass through for the aggregate to report, a NULL age (no time)
-- gives 0.
CREATE FUNCTION kpreco.decayed_weight(weight double precision, age_days double precision,
									  half_life_days double precision)
RETURNS real
	AS 'MODULE_PATHNAME', 'kpreco_decayed_weight'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The weight expression of a training query over "src": option
-- weight_column, times option event_weights of option event_column, decayed
-- by option half_life_days of option time_column before newest (seconds).
CREATE FUNCTION kpreco.weight_expression(options jsonb, newest double precision)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	weight text := CASE WHEN options ? 'weight_column'
						THEN format('src.%I::real', options ->> 'weight_column') ELSE 'NULL::real' END;
	event_case text;
	event text;
	event_weight jsonb;
BEGIN
	IF NOT (options ? 'event_column' OR options ? 'half_life_days') THEN
		RETURN weight;
	END IF;
	weight := format('coalesce(%s::double precision, 1)', weight);
	IF options ? 'event_column' THEN
		event_case := '';
		FOR event, event_weight IN SELECT * FROM jsonb_each(options -> 'event_weights') LOOP
			event_case := event_case || format(' WHEN %L THEN %s', event, (event_weight #>> '{}')::double precision);
		END LOOP;
		weight := format('%s * coalesce(CASE src.%I::text%s END, 0)', weight,
						 options ->> 'event_column', event_case);
	END IF;
	IF options ? 'half_life_days' THEN
		RETURN format('kpreco.decayed_weight(%s, (%s - kpreco.epoch_seconds(src.%I)) / 86400, %s)',
					  weight, newest, options ->> 'time_column', (options ->> 'half_life_days')::double precision);
	END IF;
	RETURN format('kpreco.decayed_weight(%s, 0, NULL)', weight);
END
$$;

-- Checks the options kpreco.train() handles itself (the aggregate checks
-- the others) and returns the newest time of the source when there is
-- time decay.
CREATE FUNCTION kpreco.check_weight_options(options jsonb, source_clause text)
RETURNS double precision
LANGUAGE plpgsql STABLE AS $$
DECLARE
	key text;
	event_weight jsonb;
	newest double precision;
BEGIN
	FOREACH key IN ARRAY ARRAY['user_column', 'course_column', 'weight_column', 'event_column', 'time_column'] LOOP
		IF options ? key AND jsonb_typeof(options -> key) <> 'string' THEN
			RAISE EXCEPTION 'option "%" must be a column name string', key
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	IF options ? 'event_column' <> options ? 'event_weights' THEN
		RAISE EXCEPTION 'options "event_column" and "event_weights" go together'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example ''{"event_column": "event", "event_weights": {"view": 1, "favorite": 3, "purchase": 10}}''.';
	END IF;
	IF options ? 'event_weights' THEN
		IF jsonb_typeof(options -> 'event_weights') <> 'object' OR options -> 'event_weights' = '{}' THEN
			RAISE EXCEPTION 'option "event_weights" must be a non-empty JSON object of event names and weights'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'For example {"view": 1, "favorite": 3, "purchase": 10}; rows of other events are skipped.';
		END IF;
		FOR key, event_weight IN SELECT * FROM jsonb_each(options -> 'event_weights') LOOP
			IF jsonb_typeof(event_weight) <> 'number' OR (event_weight #>> '{}')::numeric < 0
			   OR (event_weight #>> '{}')::numeric > 1e6 THEN
				RAISE EXCEPTION 'weight of event "%" in option "event_weights" must be a number between 0 and 1000000', key
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END LOOP;
	END IF;
	IF options ? 'half_life_days' THEN
		IF jsonb_typeof(options -> 'half_life_days') <> 'number'
		   OR NOT (options ->> 'half_life_days')::numeric BETWEEN 0.001 AND 1e6 THEN
			RAISE EXCEPTION 'option "half_life_days" must be a number between 0.001 and 1000000'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF NOT options ? 'time_column' THEN
			RAISE EXCEPTION 'option "half_life_days" needs option "time_column"'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Name the column that holds when each interaction happened, e.g. ''{"time_column": "created_at", "half_life_days": 90}''.';
		END IF;
		EXECUTE format('SELECT max(kpreco.epoch_seconds(src.%I)) FROM %s AS src',
					   options ->> 'time_column', source_clause) INTO newest;
	END IF;
	RETURN newest;
END
$$;

-- Raises the error kpreco.train_agg would raise for these options.
CREATE FUNCTION kpreco.check_options(options jsonb) RETURNS void
	AS 'MODULE_PATHNAME', 'kpreco_check_options' LANGUAGE C STABLE PARALLEL SAFE;

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

-- The model a call names, or when it names none the one serving functions
-- use: kpreco.default_model, else the only model the role can read.
CREATE FUNCTION kpreco.resolve_model_name(model text)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	name text := coalesce(model, nullif(current_setting('kpreco.default_model', true), ''));
BEGIN
	IF name IS NULL THEN
		SELECT min(r.name) INTO name FROM kpreco.model_registry r HAVING count(*) = 1;
		IF name IS NULL THEN
			RAISE EXCEPTION 'no model was named, and the role cannot read exactly one'
				USING ERRCODE = 'ambiguous_parameter',
					  HINT = 'Pass the model name, or SET kpreco.default_model.';
		END IF;
	END IF;
	RETURN name;
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

-- Choosing an algorithm -----------------------------------------------------------

-- The candidates option "algorithm": "auto" tries, in order of preference:
-- a candidate replaces the best so far only if its NDCG@10 is more than 1%
-- higher.  ease is left out above 10,000 courses, its limit.
CREATE FUNCTION kpreco.auto_candidates() RETURNS SETOF jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	VALUES ('{"algorithm": "popular"}'::jsonb),
		   ('{"algorithm": "ials"}'),
		   ('{"algorithm": "ials", "factors": 128, "regularization": 5, "alpha": 5}'),
		   ('{"algorithm": "bpr"}'),
		   ('{"algorithm": "ease"}'),
		   ('{"algorithm": "ease", "regularization": 50}'),
		   ('{"algorithm": "ease", "regularization": 500}')
$$;

-- Holds out each user's latest interactions (by option time_column; by a
-- fixed hash of the pair without one) as a validation slice, trains every
-- candidate on the rest, and returns the best by NDCG@10 with every
-- candidate's figures.
CREATE FUNCTION kpreco.choose_algorithm(source_clause text, options jsonb, weight text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	common jsonb := options - ARRAY['algorithm', 'event_column', 'event_weights', 'time_column', 'half_life_days'];
	candidate jsonb;
	figures jsonb;
	results jsonb := '[]';
	best jsonb;
	n_courses bigint;
	started timestamptz;
BEGIN
	IF to_regclass('pg_temp.kpreco_validation') IS NOT NULL THEN
		DROP TABLE pg_temp.kpreco_validation;
	END IF;
	EXECUTE format(
		'CREATE TEMP TABLE kpreco_validation ON COMMIT DROP AS'
		' SELECT u, c, w, n >= 5 AND position > n - ceil(0.2 * n - 1e-9) AS held_out'
		'   FROM (SELECT u, c, w, row_number() OVER (PARTITION BY u ORDER BY t NULLS FIRST, c) AS position,'
		'                count(*) OVER (PARTITION BY u) AS n'
		'           FROM (SELECT src.%I::bigint AS u, src.%I::bigint AS c, %s AS w, %s AS t FROM %s AS src) s'
		'          WHERE u IS NOT NULL AND c IS NOT NULL AND coalesce(w, 1) <> 0) r',
		coalesce(options ->> 'user_column', 'user_id'), coalesce(options ->> 'course_column', 'course_id'),
		weight,
		CASE WHEN options ? 'time_column' THEN format('kpreco.epoch_seconds(src.%I)', options ->> 'time_column')
			 ELSE format('hashtextextended(src.%I::text || '':'' || src.%I::text, 0)::double precision',
						 coalesce(options ->> 'user_column', 'user_id'), coalesce(options ->> 'course_column', 'course_id')) END,
		source_clause);
	SELECT count(DISTINCT c) INTO n_courses FROM kpreco_validation WHERE NOT held_out;
	IF NOT EXISTS (SELECT 1 FROM kpreco_validation WHERE held_out) THEN
		RAISE EXCEPTION 'algorithm "auto" found no user with 5 or more interactions to validate on'
			USING ERRCODE = 'data_exception',
				  HINT = 'Choose an algorithm yourself, e.g. ''{"algorithm": "ials"}''.';
	END IF;

	FOR candidate IN SELECT * FROM kpreco.auto_candidates() LOOP
		CONTINUE WHEN candidate ->> 'algorithm' = 'ease' AND n_courses > 10000;
		started := clock_timestamp();
		SELECT kpreco.evaluate_agg(m.model, h.u, h.c, NULL, 10) INTO figures
		  FROM (SELECT kpreco.train_agg(u, c, w, common - 'verbose' || candidate) AS model
				  FROM kpreco_validation WHERE NOT held_out) m,
			   kpreco_validation h
		 WHERE h.held_out;
		figures := jsonb_build_object('options', candidate, 'ndcg', figures -> 'ndcg',
									  'precision', figures -> 'precision', 'recall', figures -> 'recall',
									  'map', figures -> 'map', 'coverage', figures -> 'coverage',
									  'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3));
		IF (options ->> 'verbose')::boolean THEN
			RAISE NOTICE 'auto: % has NDCG@10 % on the validation slice (% s)', candidate, figures -> 'ndcg', figures -> 'seconds';
		END IF;
		results := results || figures;
		-- Candidates come in order of preference: a later one has to beat
		-- the best so far by more than 1%, not by the noise of one slice.
		IF best IS NULL OR (figures ->> 'ndcg')::double precision > 1.01 * (best ->> 'ndcg')::double precision THEN
			best := figures;
		END IF;
	END LOOP;
	DROP TABLE pg_temp.kpreco_validation;
	RETURN jsonb_build_object('chosen', best -> 'options', 'metric', 'ndcg@10',
							  'holdout', CASE WHEN options ? 'time_column' THEN 'latest 20% of each user with 5 or more interactions'
											  ELSE 'a fixed 20% of each user with 5 or more interactions' END,
							  'candidates', results);
END
$$;

CREATE FUNCTION kpreco.train(model text, source text, options jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
	opts jsonb := coalesce(train.options, '{}');
	-- options applied here, in SQL, rather than by the aggregate
	sql_keys text[] := ARRAY['event_column', 'event_weights', 'time_column', 'half_life_days'];
	-- content cold start: course features and text, applied by kpreco.content_agg
	content_keys text[] := ARRAY['course_features', 'course_text', 'text_search_config', 'feature_regularization'];
	content boolean;
	trained text;
	aggregate_options jsonb;
	newest double precision;
	source_clause text;
	weight text;
	choice jsonb;
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
	source_clause := kpreco.source_clause(train.source);
	newest := kpreco.check_weight_options(opts, source_clause);
	weight := kpreco.weight_expression(opts, newest);
	aggregate_options := opts - sql_keys - content_keys;
	PERFORM kpreco.check_options(aggregate_options);
	content := kpreco.check_content_options(opts);

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

	IF opts ->> 'algorithm' = 'auto' THEN
		choice := kpreco.choose_algorithm(source_clause, opts, weight);
		aggregate_options := aggregate_options - 'algorithm' || (choice -> 'chosen');
	END IF;

	-- One statement from source to stored version: the model value is not
	-- copied into PL/pgSQL variables on the way.  The source is read with
	-- the caller's rights.
	trained := format(
		'SELECT kpreco.train_agg(src.%I::bigint, src.%I::bigint, %s, $1) AS trained'
		'                   FROM %s AS src',
		coalesce(opts ->> 'user_column', 'user_id'),
		coalesce(opts ->> 'course_column', 'course_id'),
		weight, source_clause);
	-- With course features or text, the trained model goes on through
	-- kpreco.content_agg, which adds the courses they describe that have no
	-- interactions; the LEFT JOIN keeps the model when there are no rows.
	IF content THEN
		trained := format(
			'SELECT kpreco.content_agg(t.trained, f.course_id, f.feature, f.weight, $6) AS trained'
			'  FROM (%s) t LEFT JOIN (%s) f ON true',
			trained, kpreco.content_rows(opts));
	END IF;
	query := format(
		'INSERT INTO kpreco.model_versions'
		'  (name, algorithm, options, n_users, n_courses, n_interactions, train_seconds, model, validation)'
		' SELECT $2, info ->> ''algorithm'', (info -> ''options'') || $5, (info ->> ''n_users'')::integer,'
		'        (info ->> ''n_courses'')::integer, (info ->> ''n_interactions'')::bigint,'
		'        extract(epoch FROM clock_timestamp() - $3), trained, $4'
		'   FROM (SELECT trained, kpreco.model_info(trained) AS info'
		'           FROM (%s) aggregated) described'
		' RETURNING version',
		trained);
	EXECUTE query INTO new_version
		USING aggregate_options, train.model, started, choice,
			  (SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM jsonb_each(opts)
				WHERE key = ANY (sql_keys || content_keys[1:3]))
			  || CASE WHEN opts ? 'course_text' AND NOT opts ? 'text_search_config'
					  THEN '{"text_search_config": "simple"}'::jsonb ELSE '{}'::jsonb END
			  -- the time decay was measured from (kpreco.refresh_user decays alike)
			  || CASE WHEN newest IS NULL THEN '{}' ELSE jsonb_build_object('decay_reference', newest) END,
			  -- the options of kpreco.content_agg
			  (SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM jsonb_each(opts) WHERE key = 'feature_regularization');

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
	DELETE FROM kpreco.evaluations WHERE name = drop_model.model;
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

CREATE FUNCTION kpreco.recommend(user_id bigint, k integer DEFAULT 10, model text DEFAULT NULL,
								 candidates bigint[] DEFAULT NULL, exclude bigint[] DEFAULT NULL,
								 exclude_seen boolean DEFAULT true, diversity real DEFAULT 0)
RETURNS TABLE (course_id bigint, score real, rank integer)
	AS 'MODULE_PATHNAME', 'kpreco_recommend'
	LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

CREATE FUNCTION kpreco.similar_courses(course_id bigint, k integer DEFAULT 10, model text DEFAULT NULL,
									   candidates bigint[] DEFAULT NULL, exclude bigint[] DEFAULT NULL)
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

-- Serving for campaigns ----------------------------------------------------------

CREATE FUNCTION kpreco.recommend_for_courses(course_ids bigint[], weights real[] DEFAULT NULL,
											 k integer DEFAULT 10, model text DEFAULT NULL)
RETURNS TABLE (course_id bigint, score real, rank integer)
	AS 'MODULE_PATHNAME', 'kpreco_recommend_for_courses'
	LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

CREATE FUNCTION kpreco.model_with_user(model kpreco.model, user_id bigint, course_ids bigint[], weights real[])
RETURNS kpreco.model
	AS 'MODULE_PATHNAME', 'kpreco_model_with_user' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Re-solves one user of the active version from the model's source, now.
CREATE FUNCTION kpreco.refresh_user(user_id bigint, model text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_variable
DECLARE
	name text := model;
	stored record;
	courses bigint[];
	weights real[];
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user_id must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	name := kpreco.resolve_model_name(name);
	PERFORM kpreco.lock_owned_model(name);
	SELECT r.source, r.options, r.active_version, v.options AS effective INTO stored
	  FROM kpreco.model_registry r JOIN kpreco.model_versions v ON v.version = r.active_version
	 WHERE r.name = name;
	IF NOT FOUND OR stored.source IS NULL THEN
		RAISE EXCEPTION 'kpreco model "%" has no active version trained from a source', name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Train it with kpreco.train(model, source, options).';
	END IF;
	EXECUTE format('SELECT array_agg(c), array_agg(w)'
				   '  FROM (SELECT src.%I::bigint AS c, %s AS w FROM %s AS src WHERE src.%I::bigint = $1) s'
				   ' WHERE c IS NOT NULL',
				   coalesce(stored.options ->> 'course_column', 'course_id'),
				   kpreco.weight_expression(stored.options, (stored.effective ->> 'decay_reference')::double precision),
				   kpreco.source_clause(stored.source),
				   coalesce(stored.options ->> 'user_column', 'user_id'))
		INTO courses, weights USING user_id;
	UPDATE kpreco.model_versions v
	   SET (model, n_users, n_interactions) =
		   (SELECT edited, (info ->> 'n_users')::integer, (info ->> 'n_interactions')::bigint
			  FROM (SELECT edited, kpreco.model_info(edited) AS info
					  FROM (SELECT kpreco.model_with_user(v.model, user_id, coalesce(courses, '{}'), weights) AS edited) e) d)
	 WHERE v.version = stored.active_version;
	RETURN coalesce(cardinality(courses), 0);
END
$$;

CREATE FUNCTION kpreco.recommend_all(k integer DEFAULT 10, model text DEFAULT NULL, user_ids bigint[] DEFAULT NULL)
RETURNS TABLE (user_id bigint, course_id bigint, score real, rank integer)
	AS 'MODULE_PATHNAME', 'kpreco_recommend_all'
	LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 100000;

CREATE FUNCTION kpreco.audience(course_id bigint, k integer, model text DEFAULT NULL)
RETURNS TABLE (user_id bigint, score real, rank integer)
	AS 'MODULE_PATHNAME', 'kpreco_audience'
	LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 100;

CREATE FUNCTION kpreco.similar_users(user_id bigint, k integer DEFAULT 10, model text DEFAULT NULL)
RETURNS TABLE (user_id bigint, similarity real, rank integer)
	AS 'MODULE_PATHNAME', 'kpreco_similar_users'
	LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

CREATE FUNCTION kpreco.segment_users(n_segments integer, model text DEFAULT NULL, seed integer DEFAULT 0)
RETURNS TABLE (user_id bigint, segment integer, distance real)
	AS 'MODULE_PATHNAME', 'kpreco_segment_users'
	LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION kpreco.segment_profile(n_segments integer, model text DEFAULT NULL, seed integer DEFAULT 0,
									   k integer DEFAULT 5)
RETURNS TABLE (segment integer, users integer, course_id bigint, score real, rank integer)
	AS 'MODULE_PATHNAME', 'kpreco_segment_profile'
	LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Content cold start ------------------------------------------------------------

-- The tokens of a text, for TF-IDF over course titles and descriptions:
-- the text is put in Unicode NFKC form (in a UTF8 database: fullwidth
-- letters and digits become ASCII), runs of Han, Hiragana, Katakana and
-- Hangul characters give their overlapping character bigrams (a run of one
-- character gives that character), and the rest goes through to_tsvector
-- with the text search configuration (lower case; stemming and stop words
-- as the configuration has them).  Words come first, in text order, one row
-- per occurrence (to_tsvector keeps at most 256 of one word), then the
-- bigrams, in text order.
CREATE FUNCTION kpreco.text_tokens(body text, config regconfig DEFAULT 'simple')
RETURNS SETOF text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 20 AS $$
DECLARE
	-- Han (with 々 and 〇, extensions A to G, compatibility ideographs),
	-- Hiragana, Katakana, Hangul syllables and jamo.
	cjk constant text := E'[\\u3005\\u3007\\u3041-\\u309F\\u30A0-\\u30FF\\u31F0-\\u31FF'
		|| E'\\u3400-\\u4DBF\\u4E00-\\u9FFF\\uF900-\\uFAFF\\U00020000-\\U0003134F'
		|| E'\\u1100-\\u11FF\\u3130-\\u318F\\uA960-\\uA97F\\uAC00-\\uD7AF\\uD7B0-\\uD7FF]';
	normalized text := body;
BEGIN
	IF pg_catalog.getdatabaseencoding() = 'UTF8' THEN
		normalized := pg_catalog.normalize(body, 'NFKC');
	END IF;
	RETURN QUERY
		SELECT w.lexeme
		  FROM pg_catalog.unnest(pg_catalog.to_tsvector(config, pg_catalog.regexp_replace(normalized, cjk || '+', ' ', 'g'))) w,
			   pg_catalog.unnest(w.positions) p (place)
		 ORDER BY p.place, w.lexeme;
	RETURN QUERY
		SELECT CASE WHEN pg_catalog.length(r.m[1]) = 1 THEN r.m[1] ELSE pg_catalog.substr(r.m[1], i, 2) END
		  FROM pg_catalog.regexp_matches(normalized, '(' || cjk || '+)', 'g') WITH ORDINALITY r (m, run),
			   pg_catalog.generate_series(1, greatest(pg_catalog.length(r.m[1]) - 1, 1)) i
		 ORDER BY r.run, i;
END
$$;
COMMENT ON FUNCTION kpreco.text_tokens(text, regconfig) IS
	'the tokens of a text for TF-IDF: to_tsvector words of its alphabetic part, overlapping character bigrams of its Chinese, Japanese and Korean runs';

CREATE FUNCTION kpreco.content_agg_transfn(internal, kpreco.model, bigint, text, real, jsonb) RETURNS internal
	AS 'MODULE_PATHNAME', 'kpreco_content_transfn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION kpreco.content_agg_transfn(internal, kpreco.model, bigint, text, real, jsonb) IS
	'transition function of kpreco.content_agg: collects course features';
CREATE FUNCTION kpreco.content_agg_finalfn(internal) RETURNS kpreco.model
	AS 'MODULE_PATHNAME', 'kpreco_content_finalfn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION kpreco.content_agg_finalfn(internal) IS
	'final function of kpreco.content_agg: learns the mapping and adds the new courses';

-- The model of the input rows with a vector for every course that has
-- features but is not in the model: a ridge regression from the features of
-- the model's courses to their vectors predicts it.  Only for ials, bpr and
-- als models.
CREATE AGGREGATE kpreco.content_agg(model kpreco.model, course_id bigint, feature text, weight real, options jsonb) (
	SFUNC = kpreco.content_agg_transfn,
	STYPE = internal,
	FINALFUNC = kpreco.content_agg_finalfn,
	FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE kpreco.content_agg(kpreco.model, bigint, text, real, jsonb) IS
	'the model with vectors for the courses that have features (course id, feature, weight) but no interactions, predicted by a ridge regression from features to course vectors; option feature_regularization';

-- Checks the options of content cold start (course_features, course_text,
-- text_search_config, feature_regularization) and the columns of their
-- queries; true when there is content to add.
CREATE FUNCTION kpreco.check_content_options(options jsonb)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	key text;
	algorithm text := coalesce(options ->> 'algorithm', 'ials');
	columns text;
BEGIN
	IF NOT options ?| ARRAY['course_features', 'course_text'] THEN
		FOREACH key IN ARRAY ARRAY['text_search_config', 'feature_regularization'] LOOP
			IF options ? key THEN
				RAISE EXCEPTION 'option "%" needs option "course_features" or "course_text"', key
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Give the courses'' features or text, e.g. ''{"course_text": "SELECT course_id, title AS text FROM courses"}''.';
			END IF;
		END LOOP;
		RETURN false;
	END IF;
	FOREACH key IN ARRAY ARRAY['course_features', 'course_text'] LOOP
		CONTINUE WHEN NOT options ? key;
		IF jsonb_typeof(options -> key) <> 'string' OR options ->> key !~ '[^[:space:]]' THEN
			RAISE EXCEPTION 'option "%" must be a query (or a table or view name) as a string', key
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = CASE key
						 WHEN 'course_features' THEN 'For example {"course_features": "SELECT course_id, ''category:'' || category AS feature, 1 AS weight FROM courses"}.'
						 ELSE 'For example {"course_text": "SELECT course_id, title || '' '' || description AS text FROM courses"}.' END;
		END IF;
	END LOOP;
	IF options ? 'text_search_config' THEN
		IF NOT options ? 'course_text' THEN
			RAISE EXCEPTION 'option "text_search_config" needs option "course_text"'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF jsonb_typeof(options -> 'text_search_config') <> 'string' THEN
			RAISE EXCEPTION 'option "text_search_config" must be the name of a text search configuration as a string'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'For example "english"; SELECT cfgname FROM pg_ts_config lists them.';
		END IF;
		BEGIN
			PERFORM (options ->> 'text_search_config')::regconfig;
		EXCEPTION WHEN syntax_error_or_access_rule_violation THEN
			RAISE EXCEPTION 'option "text_search_config": %', SQLERRM
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'SELECT cfgname FROM pg_ts_config lists the text search configurations; the default is "simple".';
		END;
	END IF;
	IF options ? 'feature_regularization'
	   AND (jsonb_typeof(options -> 'feature_regularization') <> 'number'
			OR NOT (options ->> 'feature_regularization')::numeric > 0
			OR (options ->> 'feature_regularization')::numeric > 1e6) THEN
		RAISE EXCEPTION 'option "feature_regularization" must be a number greater than 0 and at most 1000000'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF algorithm IN ('ease', 'popular', 'auto') THEN
		RAISE EXCEPTION 'options "course_features" and "course_text" need algorithm ials, bpr or als, not "%"', algorithm
			USING ERRCODE = 'feature_not_supported',
				  HINT = CASE algorithm
						 WHEN 'auto' THEN 'algorithm "auto" may choose ease or popular, which have no course vectors to predict: choose ials, bpr or als.'
						 WHEN 'ease' THEN 'An ease model has no course vectors that features could predict: train ials, bpr or als for new courses.'
						 ELSE 'A popular model has no course vectors that features could predict: train ials, bpr or als for new courses.' END;
	END IF;
	-- The columns are checked before anything is trained (LIMIT 0 reads no row).
	FOREACH key IN ARRAY ARRAY['course_features', 'course_text'] LOOP
		CONTINUE WHEN NOT options ? key;
		columns := CASE key WHEN 'course_features' THEN 's.course_id::bigint, s.feature::text, s.weight::real'
					ELSE 's.course_id::bigint, s."text"::text' END;
		BEGIN
			EXECUTE format('SELECT %s FROM %s AS s LIMIT 0', columns, kpreco.source_clause(options ->> key));
		EXCEPTION WHEN syntax_error_or_access_rule_violation THEN
			IF SQLSTATE = '42501' THEN
				RAISE;
			END IF;
			RAISE EXCEPTION 'option "%" must be a query returning columns %', key,
					CASE key WHEN 'course_features' THEN 'course_id, feature and weight' ELSE 'course_id and text' END
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = SQLERRM,
					  HINT = CASE key
						 WHEN 'course_features' THEN 'For example {"course_features": "SELECT course_id, ''category:'' || category AS feature, 1 AS weight FROM courses"}.'
						 ELSE 'For example {"course_text": "SELECT course_id, title || '' '' || description AS text FROM courses"}.' END;
		END;
	END LOOP;
	RETURN true;
END
$$;
COMMENT ON FUNCTION kpreco.check_content_options(jsonb) IS
	'checks options course_features, course_text, text_search_config and feature_regularization and the columns of their queries; true when they are given';

-- The rows kpreco.content_agg reads for options course_features and
-- course_text, as a query of (course_id, feature, weight): features as
-- given, prefixed "f:", and the tokens of the text prefixed "t:" with TF-IDF
-- weights, tf = the token's count / the course's tokens and idf =
-- ln(courses with tokens / courses with the token).  A text row with a NULL
-- course id gives one row with a NULL course id, to be counted.
CREATE FUNCTION kpreco.content_rows(options jsonb)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	parts text[] := '{}';
BEGIN
	IF options ? 'course_features' THEN
		parts := parts || format(
			'SELECT s.course_id::bigint AS course_id, ''f:'' || nullif(s.feature::text, '''') AS feature,'
			' s.weight::real AS weight FROM %s AS s',
			kpreco.source_clause(options ->> 'course_features'));
	END IF;
	IF options ? 'course_text' THEN
		parts := parts || format(
			'SELECT * FROM (WITH docs AS (SELECT s.course_id::bigint AS course_id, s."text"::text AS body FROM %s AS s),'
			' counts AS (SELECT d.course_id, t.token, count(*) AS n'
			'   FROM docs d CROSS JOIN LATERAL kpreco.text_tokens(d.body, %L::regconfig) AS t (token)'
			'  WHERE d.course_id IS NOT NULL GROUP BY d.course_id, t.token),'
			' lengths AS (SELECT c.course_id, sum(c.n) AS total FROM counts c GROUP BY c.course_id),'
			' df AS (SELECT c.token, count(*) AS n FROM counts c GROUP BY c.token),'
			' n_docs AS (SELECT count(*) AS n FROM lengths)'
			' SELECT c.course_id, ''t:'' || c.token AS feature,'
			'        (c.n::double precision / l.total * ln(n_docs.n::double precision / df.n))::real AS weight'
			'   FROM counts c JOIN lengths l ON l.course_id = c.course_id JOIN df ON df.token = c.token CROSS JOIN n_docs'
			' UNION ALL SELECT NULL::bigint, ''t:'', NULL::real FROM docs WHERE docs.course_id IS NULL) text_rows',
			kpreco.source_clause(options ->> 'course_text'),
			coalesce(options ->> 'text_search_config', 'simple'));
	END IF;
	RETURN array_to_string(parts, ' UNION ALL ');
END
$$;
COMMENT ON FUNCTION kpreco.content_rows(jsonb) IS
	'the query of (course_id, feature, weight) rows that options course_features and course_text give kpreco.content_agg: features prefixed "f:", text tokens prefixed "t:" with TF-IDF weights';

-- Evaluation --------------------------------------------------------------------

-- Ranking metrics of a model on held-out interactions, as jsonb: the
-- protocol of kpreco.evaluate().  The first form evaluates the active
-- version of a model of the catalog, the second a model value.
CREATE FUNCTION kpreco.evaluate_named_transfn(internal, text, bigint, bigint, real, integer) RETURNS internal
	AS 'MODULE_PATHNAME', 'kpreco_evaluate_named_transfn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION kpreco.evaluate_value_transfn(internal, kpreco.model, bigint, bigint, real, integer) RETURNS internal
	AS 'MODULE_PATHNAME', 'kpreco_evaluate_value_transfn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION kpreco.evaluate_finalfn(internal) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'kpreco_evaluate_finalfn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE AGGREGATE kpreco.evaluate_agg(model text, user_id bigint, course_id bigint, value real, k integer) (
	SFUNC = kpreco.evaluate_named_transfn,
	STYPE = internal,
	FINALFUNC = kpreco.evaluate_finalfn
);
CREATE AGGREGATE kpreco.evaluate_agg(model kpreco.model, user_id bigint, course_id bigint, value real, k integer) (
	SFUNC = kpreco.evaluate_value_transfn,
	STYPE = internal,
	FINALFUNC = kpreco.evaluate_finalfn
);

CREATE FUNCTION kpreco.evaluate(model text, test_source text, k integer DEFAULT 10, options jsonb DEFAULT '{}')
RETURNS TABLE (metric text, value double precision)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_variable
DECLARE
	opts jsonb := coalesce(options, '{}');
	key text;
	figures jsonb;
	value_column text;
	stored record;
BEGIN
	IF jsonb_typeof(opts) <> 'object' THEN
		RAISE EXCEPTION 'options must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example ''{"user_column": "member_id", "store": true}''.';
	END IF;
	FOR key IN SELECT jsonb_object_keys(opts) LOOP
		IF key NOT IN ('user_column', 'course_column', 'value_column', 'store') THEN
			RAISE EXCEPTION 'unknown option "%"', key
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Known options: user_column, course_column, value_column, store.';
		END IF;
		IF key <> 'store' AND jsonb_typeof(opts -> key) <> 'string' THEN
			RAISE EXCEPTION 'option "%" must be a column name string', key
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	IF opts ? 'store' AND jsonb_typeof(opts -> 'store') <> 'boolean' THEN
		RAISE EXCEPTION 'option "store" must be a boolean'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF k IS NULL OR k < 1 OR k > 100000 THEN
		RAISE EXCEPTION 'k must be between 1 and 100000, not %', coalesce(k::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	-- A rating model is also scored on the values it predicts.
	value_column := opts ->> 'value_column';
	IF value_column IS NULL THEN
		SELECT r.options ->> 'weight_column' INTO value_column
		  FROM kpreco.model_registry r
		 WHERE r.name = kpreco.resolve_model_name(model)
		   AND coalesce(r.options ->> 'algorithm', 'ials') = 'als';
	END IF;

	EXECUTE format('SELECT kpreco.evaluate_agg($1, src.%I::bigint, src.%I::bigint, %s, $2) FROM %s AS src',
				   coalesce(opts ->> 'user_column', 'user_id'), coalesce(opts ->> 'course_column', 'course_id'),
				   CASE WHEN value_column IS NULL THEN 'NULL::real' ELSE format('src.%I::real', value_column) END,
				   kpreco.source_clause(test_source))
		INTO figures USING model, k;

	IF (opts ->> 'store')::boolean THEN
		PERFORM kpreco.lock_owned_model(figures ->> 'model');
		INSERT INTO kpreco.evaluations (name, version, test_source, k, metrics)
			VALUES (figures ->> 'model', (figures ->> 'version')::bigint, test_source, k,
					figures - ARRAY['model', 'version']);
	END IF;

	RETURN QUERY
		SELECT m.metric, (figures ->> m.metric)::double precision
		  FROM unnest(ARRAY['precision', 'recall', 'ndcg', 'map', 'coverage', 'diversity', 'users', 'cold_users',
							'rmse', 'mae', 'rated_pairs']) WITH ORDINALITY AS m (metric, position)
		 WHERE figures ? m.metric
		 ORDER BY m.position;
END
$$;

-- Holdout splits ----------------------------------------------------------------

CREATE FUNCTION kpreco.split(source text, target_prefix text, options jsonb DEFAULT '{}')
RETURNS TABLE (part text, rows bigint, users bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_variable
DECLARE
	opts jsonb := coalesce(options, '{}');
	key text;
	method text := coalesce(opts ->> 'method', CASE WHEN opts ? 'time_column' THEN 'temporal' END);
	fraction double precision;
	min_interactions integer;
	seed bigint;
	user_column text := coalesce(opts ->> 'user_column', 'user_id');
	course_column text := coalesce(opts ->> 'course_column', 'course_id');
	order_by text;
	prefix text[];
	train_table text;
	test_table text;
	ranked text;
BEGIN
	IF jsonb_typeof(opts) <> 'object' THEN
		RAISE EXCEPTION 'options must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example ''{"time_column": "created_at", "fraction": 0.2}''.';
	END IF;
	FOR key IN SELECT jsonb_object_keys(opts) LOOP
		IF key NOT IN ('method', 'fraction', 'min_interactions', 'seed', 'time_column',
					   'user_column', 'course_column', 'replace') THEN
			RAISE EXCEPTION 'unknown option "%"', key
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Known options: method, fraction, min_interactions, seed, time_column, user_column, course_column, replace.';
		END IF;
	END LOOP;
	FOREACH key IN ARRAY ARRAY['user_column', 'course_column', 'time_column', 'method'] LOOP
		IF opts ? key AND jsonb_typeof(opts -> key) <> 'string' THEN
			RAISE EXCEPTION 'option "%" must be a string', key
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	IF method IS NULL OR method NOT IN ('temporal', 'random') THEN
		RAISE EXCEPTION 'option "method" must be "temporal" or "random"'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A temporal split needs option "time_column"; {"method": "random", "seed": 1} needs none.';
	END IF;
	IF method = 'temporal' AND NOT opts ? 'time_column' THEN
		RAISE EXCEPTION 'a temporal split needs option "time_column"'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name the column that holds when each interaction happened, or use {"method": "random"}.';
	END IF;
	IF opts ? 'fraction' AND (jsonb_typeof(opts -> 'fraction') <> 'number'
							  OR NOT (opts ->> 'fraction')::numeric > 0 OR NOT (opts ->> 'fraction')::numeric < 1) THEN
		RAISE EXCEPTION 'option "fraction" must be a number greater than 0 and less than 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	fraction := coalesce((opts ->> 'fraction')::double precision, 0.2);
	IF opts ? 'min_interactions' AND (jsonb_typeof(opts -> 'min_interactions') <> 'number'
									  OR (opts ->> 'min_interactions')::numeric <> trunc((opts ->> 'min_interactions')::numeric)
									  OR NOT (opts ->> 'min_interactions')::numeric BETWEEN 2 AND 1000000) THEN
		RAISE EXCEPTION 'option "min_interactions" must be an integer between 2 and 1000000'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	min_interactions := coalesce((opts ->> 'min_interactions')::integer, 5);
	IF opts ? 'seed' AND (jsonb_typeof(opts -> 'seed') <> 'number'
						  OR (opts ->> 'seed')::numeric <> trunc((opts ->> 'seed')::numeric)
						  OR NOT (opts ->> 'seed')::numeric BETWEEN 0 AND 9223372036854775807) THEN
		RAISE EXCEPTION 'option "seed" must be an integer between 0 and 9223372036854775807'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	seed := coalesce((opts ->> 'seed')::bigint, 0);
	IF opts ? 'replace' AND jsonb_typeof(opts -> 'replace') <> 'boolean' THEN
		RAISE EXCEPTION 'option "replace" must be a boolean'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	IF target_prefix IS NULL OR target_prefix = '' THEN
		RAISE EXCEPTION 'target_prefix must name the tables to write'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'kpreco.split(''enrollments'', ''eval'') writes eval_train and eval_test.';
	END IF;
	prefix := parse_ident(target_prefix);
	IF array_length(prefix, 1) > 2 THEN
		RAISE EXCEPTION 'target_prefix "%" has more than a schema and a name', target_prefix
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	train_table := CASE WHEN array_length(prefix, 1) = 2 THEN format('%I.', prefix[1]) ELSE '' END
				   || format('%I', prefix[array_length(prefix, 1)] || '_train');
	test_table := CASE WHEN array_length(prefix, 1) = 2 THEN format('%I.', prefix[1]) ELSE '' END
				  || format('%I', prefix[array_length(prefix, 1)] || '_test');
	IF (opts ->> 'replace')::boolean THEN
		IF to_regclass(train_table) IS NOT NULL THEN
			EXECUTE format('DROP TABLE %s', train_table);
		END IF;
		IF to_regclass(test_table) IS NOT NULL THEN
			EXECUTE format('DROP TABLE %s', test_table);
		END IF;
	END IF;

	-- Per user, rows in holdout order; ties go by course id, then by the row itself.
	order_by := CASE method
		WHEN 'temporal' THEN format('kpreco.epoch_seconds(src.%I) NULLS FIRST, src.%I, src::text', opts ->> 'time_column', course_column)
		ELSE format('hashtextextended(src.%I::text || '':'' || src.%I::text || '':'' || src::text, %s), src::text',
					user_column, course_column, seed) END;
	ranked := format(
		'SELECT r.src, (r.src).%1$I IS NOT NULL AND n >= %2$s AND position > n - ceil(%3$s * n - 1e-9) AS held_out'
		'  FROM (SELECT src, row_number() OVER w AS position, count(*) OVER (PARTITION BY src.%1$I) AS n'
		'          FROM %4$s AS src WINDOW w AS (PARTITION BY src.%1$I ORDER BY %5$s)) r',
		user_column, min_interactions, fraction, kpreco.source_clause(source), order_by);
	EXECUTE format('CREATE TABLE %s AS SELECT (s.src).* FROM (%s) s WHERE NOT s.held_out', train_table, ranked);
	EXECUTE format('CREATE TABLE %s AS SELECT (s.src).* FROM (%s) s WHERE s.held_out', test_table, ranked);

	RETURN QUERY EXECUTE format(
		'SELECT ''train''::text, count(*), count(DISTINCT %1$I) FROM %2$s'
		' UNION ALL SELECT ''test'', count(*), count(DISTINCT %1$I) FROM %3$s',
		user_column, train_table, test_table);
END
$$;

-- Descriptions -----------------------------------------------------------------

COMMENT ON TYPE kpreco.model IS
	'a trained model (ials, bpr, als, ease or popular): format version, options, id maps, float32 vectors, training courses per user and a checksum; validated on every way in';
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

COMMENT ON COLUMN kpreco.model_versions.validation IS
	'for algorithm "auto": the candidates tried, their figures on the validation slice, and the one chosen';
COMMENT ON TABLE kpreco.evaluations IS 'evaluations stored by kpreco.evaluate(..., ''{"store": true}''): the quality history of each model';
COMMENT ON COLUMN kpreco.evaluations.name IS 'model name';
COMMENT ON COLUMN kpreco.evaluations.version IS 'version evaluated (kept when the version is pruned)';
COMMENT ON COLUMN kpreco.evaluations.evaluated_at IS 'when the evaluation ran';
COMMENT ON COLUMN kpreco.evaluations.test_source IS 'held-out interactions evaluated on';
COMMENT ON COLUMN kpreco.evaluations.k IS 'length of the ranked lists';
COMMENT ON COLUMN kpreco.evaluations.metrics IS 'precision, recall, ndcg, map, coverage, diversity, users, cold_users (and rmse, mae, rated_pairs for rating models)';
COMMENT ON INDEX kpreco.evaluations_version_idx IS 'evaluations by version, newest last';
COMMENT ON POLICY evaluations_read ON kpreco.evaluations IS 'evaluations of the models the role can see';
COMMENT ON POLICY evaluations_owner ON kpreco.evaluations IS 'evaluations of the models the role owns';
COMMENT ON COLUMN kpreco.models.validation IS 'for algorithm "auto": candidates, their validation figures, the choice';
COMMENT ON COLUMN kpreco.models.evaluation IS 'the latest evaluation stored for the version';

COMMENT ON FUNCTION kpreco.epoch_seconds(timestamptz) IS 'seconds since 1970 (time decay and holdout order)';
COMMENT ON FUNCTION kpreco.epoch_seconds(timestamp) IS 'seconds since 1970 (time decay and holdout order)';
COMMENT ON FUNCTION kpreco.epoch_seconds(date) IS 'seconds since 1970 (time decay and holdout order)';
COMMENT ON FUNCTION kpreco.epoch_seconds(double precision) IS 'a time given as seconds since 1970, as it is';
COMMENT ON FUNCTION kpreco.decayed_weight(double precision, double precision, double precision) IS
	'weight halved every half_life_days of age, in double precision; 0 when too small for real or when the age is NULL';
COMMENT ON FUNCTION kpreco.weight_expression(jsonb, double precision) IS
	'the weight expression of a training query: weight_column, event_weights of event_column, time decay';
COMMENT ON FUNCTION kpreco.check_weight_options(jsonb, text) IS
	'checks the options kpreco.train() applies itself; returns the newest time of the source when there is time decay';
COMMENT ON FUNCTION kpreco.check_options(jsonb) IS 'raises the error kpreco.train_agg would raise for these options';
COMMENT ON FUNCTION kpreco.auto_candidates() IS 'the settings algorithm "auto" tries, in order of preference';
COMMENT ON FUNCTION kpreco.choose_algorithm(text, jsonb, text) IS
	'algorithm "auto": validates every candidate on each user''s latest interactions and returns the best with all figures';
COMMENT ON FUNCTION kpreco.evaluate_named_transfn(internal, text, bigint, bigint, real, integer) IS
	'transition function of kpreco.evaluate_agg over a catalog model';
COMMENT ON FUNCTION kpreco.evaluate_value_transfn(internal, kpreco.model, bigint, bigint, real, integer) IS
	'transition function of kpreco.evaluate_agg over a model value';
COMMENT ON FUNCTION kpreco.evaluate_finalfn(internal) IS 'final function of kpreco.evaluate_agg: the metrics as jsonb';
COMMENT ON AGGREGATE kpreco.evaluate_agg(text, bigint, bigint, real, integer) IS
	'ranking metrics (and RMSE, MAE with values) of the active version of a model on held-out rows (user id, course id, value, k)';
COMMENT ON AGGREGATE kpreco.evaluate_agg(kpreco.model, bigint, bigint, real, integer) IS
	'ranking metrics (and RMSE, MAE with values) of a model value on held-out rows (user id, course id, value, k)';
COMMENT ON FUNCTION kpreco.evaluate(text, text, integer, jsonb) IS
	'precision, recall, NDCG, MAP at k, catalog coverage, intra-list diversity, users evaluated (RMSE, MAE for rating models) of a model on held-out interactions; option store keeps them';
COMMENT ON FUNCTION kpreco.split(text, text, jsonb) IS
	'writes <prefix>_train and <prefix>_test: each user''s latest (or randomly drawn) fraction of interactions held out';

COMMENT ON FUNCTION kpreco.recommend_for_courses(bigint[], real[], integer, text) IS
	'the k best courses for someone who took these courses (with these weights): one least-squares fold-in against the course vectors, no retraining';
COMMENT ON FUNCTION kpreco.model_with_user(kpreco.model, bigint, bigint[], real[]) IS
	'the model with a user''s training courses set to these (NULL weights: 1 each) and the user''s vector folded in from them; no known course (or NULL course_ids) removes the user; NULL model or user_id gives NULL';
COMMENT ON FUNCTION kpreco.refresh_user(bigint, text) IS
	're-solves one user of the active version from the model''s source now; returns the user''s interactions read';
COMMENT ON FUNCTION kpreco.recommend_all(integer, text, bigint[]) IS
	'kpreco.recommend for every user (or the given users), scored in blocks with sgemm: for report tables and campaigns';
COMMENT ON FUNCTION kpreco.audience(bigint, integer, text) IS
	'the k users most likely to take a course among those who have not: for coupons, repurchase and cross-sell campaigns';
COMMENT ON FUNCTION kpreco.similar_users(bigint, integer, text) IS 'the k users with the most similar vectors (cosine)';
COMMENT ON FUNCTION kpreco.segment_users(integer, text, integer) IS
	'every user''s segment (k-means with k-means++ seeding on the user vectors) and distance to its centre';
COMMENT ON FUNCTION kpreco.segment_profile(integer, text, integer, integer) IS
	'each segment''s size and the k courses its members are recommended more than the average user';

COMMENT ON FUNCTION kpreco.source_clause(text) IS
	'the FROM item for a training source: a query in parentheses, or a checked relation name';
COMMENT ON FUNCTION kpreco.resolve_model_name(text) IS
	'the model named, or kpreco.default_model, or the only model the role can read';
COMMENT ON FUNCTION kpreco.lock_owned_model(text) IS
	'locks the registry row of a model the current role owns, or raises "does not exist" or "must be owner"';
COMMENT ON FUNCTION kpreco.train(text, text, jsonb) IS
	'trains a model (algorithm ials, bpr, als, ease, popular or auto) from a table, view or query, stores a new version, makes it active, prunes old versions, returns the version id';
COMMENT ON FUNCTION kpreco.train(text) IS 'retrains a model with its stored source and options';
COMMENT ON FUNCTION kpreco.activate(text, bigint) IS 'makes a stored version of a model the one served';
COMMENT ON FUNCTION kpreco.drop_model(text) IS 'removes a model, all its versions, its training log and its stored evaluations';
COMMENT ON FUNCTION kpreco.grant_model(text, name) IS 'lets a role (or ''public'') read and serve a model';
COMMENT ON FUNCTION kpreco.revoke_model(text, name) IS 'takes back what kpreco.grant_model gave';
COMMENT ON FUNCTION kpreco.forget_user(bigint) IS
	'removes a user''s factors and training courses from every version of every model the caller owns; returns the number of versions changed';

COMMENT ON FUNCTION kpreco.recommend(bigint, integer, text, bigint[], bigint[], boolean, real) IS
	'the k best courses for a user among candidates (all when NULL), without exclude and (exclude_seen) the user''s training courses, re-ranked for diversity in [0, 1]; an unknown user gets the most popular courses with a NULL score';
COMMENT ON FUNCTION kpreco.similar_courses(bigint, integer, text, bigint[], bigint[]) IS
	'the k courses most similar to a course: cosine similarity of factors (ease: its item-item weights; popular: the most popular other courses)';
COMMENT ON FUNCTION kpreco.predict(bigint, bigint, text) IS 'the score of a (user, course) pair; NULL if either is unknown';
COMMENT ON FUNCTION kpreco.user_factors(text) IS 'the factor vector of every user';
COMMENT ON FUNCTION kpreco.course_factors(text) IS 'the factor vector of every course';
