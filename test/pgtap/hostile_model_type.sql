-- Hostile values of the kpreco.model type: NULLs, random bytes and text from
-- a fixed-seed generator, truncations, binary input through COPY, and
-- values forged with a correct checksum whose fields lie.  Everything that
-- is not a model is refused with its SQLSTATE (README: 22P02 text, 22P03
-- binary, XX001 cast from bytea); forged values that do validate are served
-- without surprises.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(130);

-- After a backend crash the postmaster ends every session: this session
-- and its temporary table still being here at the end is the proof that
-- no case crashed the server.
CREATE TEMP TABLE hostile_session AS SELECT pg_backend_pid() AS pid;

-- How a statement ends: 'ok', or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- n pseudo-random bytes: md5 of seed:1, seed:2, ... (fixed, reproducible).
CREATE FUNCTION pg_temp.random_bytes(seed text, n integer) RETURNS bytea LANGUAGE sql AS $$
SELECT substring(coalesce(decode(string_agg(md5(seed || ':' || i), '' ORDER BY i), 'hex'), '') FROM 1 FOR n)
  FROM generate_series(1, (n + 15) / 16) i
$$;

-- Little-endian fields and the format's checksum (include/kp_model.h,
-- src/core/model_format.c), so that forged values get past the checksum
-- and reach the checks behind it.  64-bit products go through numeric.
CREATE FUNCTION pg_temp.u64_mul(a bigint, b bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN r >= 9223372036854775808 THEN (r - 18446744073709551616)::bigint ELSE r::bigint END
  FROM (SELECT mod((CASE WHEN a < 0 THEN a + 18446744073709551616 ELSE a::numeric END) *
				   (CASE WHEN b < 0 THEN b + 18446744073709551616 ELSE b::numeric END), 18446744073709551616) AS r) t
$$;
CREATE FUNCTION pg_temp.u64_shr(h bigint, n integer) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
SELECT (h >> n) & ((1::bigint << (64 - n)) - 1)
$$;
CREATE FUNCTION pg_temp.ck_step(h bigint, w bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
SELECT pg_temp.u64_mul((x << 29) | pg_temp.u64_shr(x, 35), -7046029254386353131) FROM (SELECT h # w AS x) t
$$;
CREATE FUNCTION pg_temp.le64(b bytea, off integer) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
SELECT ('x' || string_agg(CASE WHEN off + 7 - i < length(b) THEN lpad(to_hex(get_byte(b, off + 7 - i)), 2, '0') ELSE '00' END, '' ORDER BY i))::bit(64)::bigint
  FROM generate_series(0, 7) i
$$;
CREATE FUNCTION pg_temp.le32(b bytea, off integer) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
SELECT get_byte(b, off)::bigint | (get_byte(b, off + 1)::bigint << 8) | (get_byte(b, off + 2)::bigint << 16) | (get_byte(b, off + 3)::bigint << 24)
$$;
CREATE FUNCTION pg_temp.le64_bytes(w bigint) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
SELECT decode(string_agg(lpad(to_hex((w >> (8 * i)) & 255), 2, '0'), '' ORDER BY i), 'hex') FROM generate_series(0, 7) i
$$;
CREATE FUNCTION pg_temp.set_u32(b bytea, off integer, v bigint) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
SELECT overlay(b PLACING substring(pg_temp.le64_bytes(v) FROM 1 FOR 4) FROM off + 1)
$$;
CREATE FUNCTION pg_temp.set_u64(b bytea, off integer, v bigint) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
SELECT overlay(b PLACING pg_temp.le64_bytes(v) FROM off + 1)
$$;
CREATE FUNCTION pg_temp.f32(x real) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
SELECT decode(string_agg(lpad(to_hex(get_byte(float4send(x), 3 - i)), 2, '0'), '' ORDER BY i), 'hex') FROM generate_series(0, 3) i
$$;
CREATE FUNCTION pg_temp.kp_checksum(seed bigint, b bytea, start integer, len integer) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	nwords integer := len / 8;
	i integer := 0;
	v0 bigint := seed # 2611923443488327891;		-- 0x243F6A8885A308D3
	v1 bigint := 1376283091369227076;				-- 0x13198A2E03707344
	v2 bigint := -6626703657320631856;				-- 0xA4093822299F31D0
	v3 bigint := 589684135938649225;				-- 0x082EFA98EC4E6C89
	h bigint;
	part bytea := substring(b FROM start + 1 FOR len);
BEGIN
	WHILE i + 4 <= nwords LOOP
		v0 := pg_temp.ck_step(v0, pg_temp.le64(part, 8 * i));
		v1 := pg_temp.ck_step(v1, pg_temp.le64(part, 8 * i + 8));
		v2 := pg_temp.ck_step(v2, pg_temp.le64(part, 8 * i + 16));
		v3 := pg_temp.ck_step(v3, pg_temp.le64(part, 8 * i + 24));
		i := i + 4;
	END LOOP;
	h := pg_temp.ck_step(pg_temp.ck_step(pg_temp.ck_step(v0, v1), v2), v3);
	WHILE i < nwords LOOP
		h := pg_temp.ck_step(h, pg_temp.le64(part, 8 * i));
		i := i + 1;
	END LOOP;
	IF len % 8 <> 0 THEN
		h := pg_temp.ck_step(h, pg_temp.le64(part, 8 * nwords));
	END IF;
	h := pg_temp.ck_step(h, len);
	h := h # pg_temp.u64_shr(h, 33);
	h := pg_temp.u64_mul(h, -49064778989728563);	-- 0xFF51AFD7ED558CCD
	h := h # pg_temp.u64_shr(h, 33);
	h := pg_temp.u64_mul(h, -4265267296055464877);	-- 0xC4CEB9FE1A85EC53
	RETURN h # pg_temp.u64_shr(h, 33);
END
$$;
-- b with its checksum (bytes 56..63) recomputed, as kp_model_write does.
CREATE FUNCTION pg_temp.reseal(b bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
SELECT pg_temp.set_u64(b, 56, pg_temp.kp_checksum(pg_temp.kp_checksum(0, b, 4, 52), b, 64, length(b) - 64))
$$;
-- Byte offsets of a model's sections.
CREATE FUNCTION pg_temp.layout(b bytea, OUT n_users integer, OUT n_items integer, OUT factors integer, OUT nnz bigint,
	OUT user_ids integer, OUT item_ids integer, OUT user_factors integer, OUT item_factors integer,
	OUT seen_indptr integer, OUT seen_items integer, OUT total integer)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	n_users := pg_temp.le32(b, 16);
	n_items := pg_temp.le32(b, 20);
	factors := pg_temp.le32(b, 24);
	nnz := pg_temp.le64(b, 32);
	user_ids := 64 + (pg_temp.le32(b, 28) + 7) / 8 * 8;
	item_ids := user_ids + 8 * n_users;
	user_factors := item_ids + 8 * n_items;
	item_factors := user_factors + (4 * n_users * factors + 7) / 8 * 8;
	seen_indptr := item_factors + (4 * n_items * factors + 7) / 8 * 8;
	seen_items := seen_indptr + 8 * (n_users + 1);
	total := seen_items + (4 * nnz + 7) / 8 * 8;
END
$$;
-- b with the factor section ('user' or 'item') overwritten from vals, resealed.
CREATE FUNCTION pg_temp.with_factors(b bytea, section text, vals real[]) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	l record;
	encoded bytea := '';
	i integer;
BEGIN
	SELECT * INTO l FROM pg_temp.layout(b);
	FOR i IN 1 .. array_length(vals, 1) LOOP
		encoded := encoded || pg_temp.f32(vals[i]);
	END LOOP;
	RETURN pg_temp.reseal(overlay(b PLACING encoded FROM CASE section WHEN 'user' THEN l.user_factors ELSE l.item_factors END + 1));
END
$$;
-- Files a value in the catalog as the active version of model `name`.
CREATE FUNCTION pg_temp.file_model(model_name text, value bytea) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v bigint;
BEGIN
	INSERT INTO kpreco.model_registry (name, source) VALUES (model_name, NULL) ON CONFLICT (name) DO NOTHING;
	INSERT INTO kpreco.model_versions (name, algorithm, options, n_users, n_courses, n_interactions, model)
	SELECT model_name, i ->> 'algorithm', i -> 'options', (i ->> 'n_users')::int, (i ->> 'n_courses')::int, (i ->> 'n_interactions')::bigint, m
	  FROM (SELECT value::kpreco.model AS m) x, LATERAL kpreco.model_info(x.m) i
	RETURNING version INTO v;
	UPDATE kpreco.model_registry SET active_version = v WHERE name = model_name;
	RETURN v;
END
$$;

-- A real model: 5 users, 4 courses, 3 factors.
CREATE TEMP TABLE hostile_model AS
SELECT kpreco.train_agg(u, c, 1, '{"factors": 3, "iterations": 2}')::bytea AS b
  FROM generate_series(1, 5) u, generate_series(1, 4) c WHERE (u + c) % 3 <> 0;
CREATE TEMP TABLE hostile_layout AS SELECT l.* FROM hostile_model, pg_temp.layout(b) l;

-- NULLs --------------------------------------------------------------------------------

SELECT is(kpreco.model_info(NULL), NULL, 'model_info(NULL) is NULL');
SELECT is(kpreco.model(NULL::bytea)::bytea, NULL, 'kpreco.model(NULL) is NULL');
SELECT is(kpreco.model_bytes(NULL), NULL, 'kpreco.model_bytes(NULL) is NULL');
SELECT is(NULL::bytea::kpreco.model::bytea, NULL, 'NULL cast from bytea is NULL');
SELECT is(NULL::text::kpreco.model::text, NULL, 'NULL cast from text is NULL');
SELECT is(kpreco.model_in(NULL)::bytea, NULL, 'model_in(NULL) is NULL');
SELECT is(kpreco.model_out(NULL)::text, NULL, 'model_out(NULL) is NULL');
SELECT is(kpreco.model_send(NULL), NULL, 'model_send(NULL) is NULL');
SELECT is(kpreco.model_has_user(NULL, 1), NULL, 'model_has_user(NULL, user) is NULL');
SELECT is((SELECT kpreco.model_has_user(b::kpreco.model, NULL) FROM hostile_model), NULL, 'model_has_user(model, NULL) is NULL');
SELECT is(kpreco.model_without_user(NULL, 1)::bytea, NULL, 'model_without_user(NULL, user) is NULL');
SELECT is((SELECT kpreco.model_without_user(b::kpreco.model, NULL)::bytea FROM hostile_model), NULL, 'model_without_user(model, NULL) is NULL');
SELECT is((SELECT kpreco.model_send(b::kpreco.model) FROM hostile_model), (SELECT b FROM hostile_model),
	'model_send gives the bytes of the bytea cast');

-- Random bytes ---------------------------------------------------------------------------

SELECT is(pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', pg_temp.random_bytes('hostile-' || n, n))), 'XX001: ' || message,
	format('%s random bytes are refused', n))
  FROM (VALUES (0, 'invalid kpreco.model value'), (1, 'invalid kpreco.model value'), (3, 'invalid kpreco.model value'),
			   (8, 'invalid kpreco.model value'), (63, 'invalid kpreco.model value')) v(n, message);
SELECT alike(pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', pg_temp.random_bytes('hostile-' || n, n))), 'XX001: invalid kpreco.model value: %',
	format('%s random bytes are refused', n))
  FROM unnest(ARRAY[64, 65, 100, 127, 128, 1000, 4096, 65536]) n;
SELECT alike(pg_temp.outcome(format('SELECT kpreco.model(%L::bytea)', pg_temp.random_bytes('hostile-fn-' || n, n))), 'XX001: invalid kpreco.model value%',
	format('kpreco.model() of %s random bytes is refused', n))
  FROM unnest(ARRAY[0, 64, 4096]) n;
-- A valid header over a random body: only the checksum can tell.
SELECT alike(pg_temp.outcome(format('SELECT %L::bytea::kpreco.model',
		substring(b FROM 1 FOR 64) || pg_temp.random_bytes('hostile-body', length(b) - 64))), 'XX001: invalid kpreco.model value: %checksum%',
	'a real header over random bytes of the right length')
  FROM hostile_model;
SELECT alike(pg_temp.outcome(format('SELECT %L::bytea::kpreco.model',
		substring(b FROM 1 FOR 12) || pg_temp.random_bytes('hostile-after-version', length(b) - 12))), 'XX001: invalid kpreco.model value: %',
	'magic and version followed by random bytes')
  FROM hostile_model;
-- 200 random values of random lengths, each refused with XX001.
SELECT is((SELECT count(*) FROM generate_series(1, 200) i
			WHERE pg_temp.outcome(format('SELECT %L::bytea::kpreco.model',
				pg_temp.random_bytes('hostile-many-' || i, get_byte(pg_temp.random_bytes('hostile-len-' || i, 1), 0) * 3))) NOT LIKE 'XX001: %'),
	0::bigint, '200 random values of 0 to 765 bytes: all refused with XX001');
-- Every truncation and every single-bit flip of a real model.
SELECT is((SELECT count(*) FROM hostile_model, generate_series(0, length(b) - 1) n
			WHERE pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', substring(b FROM 1 FOR n))) NOT LIKE 'XX001: invalid kpreco.model value%'),
	0::bigint, 'every truncation of a real model is refused with XX001');
SELECT is((SELECT count(*) FROM hostile_model, generate_series(4 * 8, length(b) * 8 - 1, 7) bit
			WHERE pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', set_bit(b, bit, 1 - get_bit(b, bit)))) NOT LIKE 'XX001: invalid kpreco.model value%'),
	0::bigint, 'every 7th single-bit flip past the length word is refused with XX001');
SELECT alike((SELECT pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', b || '\x00'::bytea)) FROM hostile_model),
	'XX001: invalid kpreco.model value: %', 'a real model with one byte appended');

-- Random text ------------------------------------------------------------------------------

SELECT is(pg_temp.outcome(format('SELECT %L::kpreco.model', t)), '22P02: ' || message, description)
  FROM (VALUES ('', 'invalid kpreco.model value', 'empty text'),
			   (' ', 'invalid kpreco.model value', 'a space'),
			   ('not base64!', 'invalid input syntax for type kpreco.model', 'text that is not base64'),
			   ('====', 'invalid input syntax for type kpreco.model', 'only padding'),
			   ('QQ', 'invalid input syntax for type kpreco.model', 'base64 of one byte without its padding'),
			   ('QQ==', 'invalid kpreco.model value', 'base64 of one byte'),
			   ('模型', 'invalid input syntax for type kpreco.model', 'Chinese text'),
			   (E'\U0001F600', 'invalid input syntax for type kpreco.model', 'an emoji')) v(t, message, description);
SELECT alike(pg_temp.outcome(format('SELECT %L::kpreco.model', encode(pg_temp.random_bytes('hostile-text-' || n, n), 'base64'))),
	'22P02: invalid kpreco.model value%', format('base64 of %s random bytes', n))
  FROM unnest(ARRAY[3, 63, 64, 65, 4096]) n;
SELECT alike(pg_temp.outcome(format('SELECT %L::kpreco.model', translate(encode(pg_temp.random_bytes('hostile-printable', 3000), 'hex'), '0123456789', '!@#$%^&*()'))),
	'22P02: invalid input syntax for type kpreco.model', '6000 random printable characters');
SELECT alike(pg_temp.outcome(format('SELECT %L::kpreco.model', repeat('A', 1000000))),
	'22P02: invalid kpreco.model value%', 'one million A (base64 of zero bytes)');
SELECT is((SELECT count(*) FROM hostile_model, generate_series(1, length(encode(b, 'base64')), 13) p
			WHERE pg_temp.outcome(format('SELECT %L::kpreco.model', overlay(replace(encode(b, 'base64'), E'\n', '') PLACING '?' FROM p))) NOT LIKE '22P02: %'),
	0::bigint, 'a real model''s text with any 13th character replaced by ? is refused with 22P02');

-- Binary input (COPY ... FORMAT binary) -------------------------------------------------------

CREATE TEMP TABLE hostile_received (m kpreco.model);
-- COPY's binary stream with one row of one field, fed through a program.
CREATE FUNCTION pg_temp.copy_in(value bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	stream bytea := '\x5047434f50590aff0d0a00'::bytea || '\x00000000'::bytea || '\x00000000'::bytea
		|| '\x0001'::bytea || int4send(length(value)) || value || '\xffff'::bytea;
BEGIN
	EXECUTE format('COPY hostile_received FROM PROGRAM %L WITH (FORMAT binary)',
				   format('perl -e ''print pack("H*", "%s")''', encode(stream, 'hex')));
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT is(pg_temp.copy_in(b), 'ok', 'binary COPY of a real model') FROM hostile_model;
SELECT is((SELECT m::bytea FROM hostile_received), (SELECT b FROM hostile_model), 'arrives unchanged');
SELECT alike(pg_temp.copy_in(pg_temp.random_bytes('hostile-copy-' || n, n)), '22P03: invalid kpreco.model value%',
	format('binary COPY of %s random bytes is refused with 22P03', n))
  FROM unnest(ARRAY[0, 3, 64, 4096]) n;
SELECT alike(pg_temp.copy_in(substring(b FROM 1 FOR length(b) - 4)), '22P03: invalid kpreco.model value%',
	'binary COPY of a truncated model is refused with 22P03')
  FROM hostile_model;
SELECT is((SELECT count(*) FROM hostile_received), 1::bigint, 'only the real model was stored');

-- Forged values with a correct checksum ------------------------------------------------------

SELECT is(pg_temp.reseal(b), b, 'resealing a real model reproduces its checksum') FROM hostile_model;
SELECT is(pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', pg_temp.reseal(overlay(b PLACING '{"algorithm"' FROM 65)))),
	'ok', 'a resealed harmless change (the options renamed) validates')
  FROM hostile_model;
SELECT is(pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', pg_temp.reseal(forged))), 'XX001: invalid kpreco.model value: ' || reason,
	'forged: ' || what)
  FROM hostile_model, hostile_layout l, LATERAL (VALUES
	('magic in big-endian order', pg_temp.set_u32(b, 4, 1263555149),
		'model was written in big-endian byte order; kpreco models are little-endian and this one cannot be read'),
	('another magic', pg_temp.set_u32(b, 4, 1), 'not a kpreco model (magic 0x00000001, expected 0x4D52504B)'),
	('format version 4', pg_temp.set_u32(b, 8, 4), 'model format version 4 is newer than this kpreco supports (3); retrain the model or upgrade kpreco'),
	('format version 0', pg_temp.set_u32(b, 8, 0), 'unknown model format version 0'),
	('algorithm 2 in format 1', pg_temp.set_u32(b, 12, 2), 'model format version 1 has no algorithm bpr'),
	('algorithm 6', pg_temp.set_u32(b, 12, 6), 'unknown model algorithm 6'),
	('n_users -1', pg_temp.set_u32(b, 16, 4294967295), 'model has a negative user count (-1)'),
	('n_items 0', pg_temp.set_u32(b, 20, 0), 'model has an item count of 0, at least 1 is needed'),
	('factors 0', pg_temp.set_u32(b, 24, 0), 'model has 0 factors, outside 1..1024'),
	('factors 1025', pg_temp.set_u32(b, 24, 1025), 'model has 1025 factors, outside 1..1024'),
	('options of 70000 bytes', pg_temp.set_u32(b, 28, 70000), 'model options are 70000 bytes, more than the limit of 65536'),
	('nnz -1', pg_temp.set_u64(b, 32, -1), 'model has a negative training pair count (-1)'),
	('rows_read below nnz', pg_temp.set_u64(b, 40, 1), 'model''s rows_read (1) is less than its training pair count (13)'),
	('rows_skipped -1', pg_temp.set_u64(b, 48, -1), 'model''s rows_skipped is negative (-1)'),
	('n_users 2^31 - 1', pg_temp.set_u32(b, 16, 2147483647), 'model header describes a value larger than the limit of 796917760 bytes'),
	('one user more than the bytes hold', pg_temp.set_u32(b, 16, l.n_users + 1), 'model size mismatch: the header describes 512 bytes but the value has 488'),
	('a NUL byte in the options', set_byte(b, 67, 0), 'model options contain a NUL byte'),
	('a nonzero padding byte', set_byte(b, l.user_ids - 1, 1), 'model has nonzero padding bytes'),
	('user ids swapped', overlay(overlay(b PLACING substring(b FROM l.user_ids + 9 FOR 8) FROM l.user_ids + 1)
							   PLACING substring(b FROM l.user_ids + 1 FOR 8) FROM l.user_ids + 9),
		'model user_ids are not strictly ascending at user row 1'),
	('a duplicate course id', overlay(b PLACING substring(b FROM l.item_ids + 1 FOR 8) FROM l.item_ids + 9),
		'model item_ids are not strictly ascending at item row 1'),
	('a NaN user factor', overlay(b PLACING pg_temp.f32('NaN') FROM l.user_factors + 1), 'model user factor row 0 has a non-finite value (nan)'),
	('an infinite course factor', overlay(b PLACING pg_temp.f32('Infinity') FROM l.item_factors + 1), 'model item factor row 0 has a non-finite value (inf)'),
	('a course factor of 2e15', overlay(b PLACING pg_temp.f32('2e15') FROM l.item_factors + 1),
		'model item factor row 0 has a value of magnitude 2e+15, beyond the limit of 1e+15'),
	('seen_indptr starting at 1', pg_temp.set_u64(b, l.seen_indptr, 1), 'model seen_indptr starts at 1 instead of 0'),
	('seen_indptr beyond nnz', pg_temp.set_u64(b, l.seen_indptr + 8, 100), 'model seen_indptr at user row 0 exceeds the training pair count (13)'),
	('seen_indptr ending early', pg_temp.set_u64(b, l.seen_indptr + 8 * l.n_users, l.nnz - 1), 'model seen_indptr ends at 12 but the training pair count is 13'),
	('a seen course out of range', pg_temp.set_u32(b, l.seen_items, l.n_items), 'model seen item 4 of user row 0 is out of range (4 items)'),
	('a negative seen course', pg_temp.set_u32(b, l.seen_items, 4294967295), 'model seen item -1 of user row 0 is out of range (4 items)'),
	('a seen course twice', pg_temp.set_u32(b, l.seen_items + 4, pg_temp.le32(b, l.seen_items)), 'model seen items of user row 0 are not strictly ascending'),
	('a nonzero byte after the last section', set_byte(b, l.total - 1, 1), 'model has nonzero padding bytes')
  ) f(what, forged, reason);
-- The options must be JSON; a value that is not a model, however it is
-- damaged, is XX001 through the bytea cast.
SELECT alike(pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', pg_temp.reseal(overlay(b PLACING 'X' FROM 65)))),
	'XX001: %', 'forged: options that are not JSON are refused with XX001 like any damage')
  FROM hostile_model;
SELECT alike(pg_temp.outcome(format('SELECT %L::kpreco.model', encode(pg_temp.reseal(pg_temp.set_u32(b, 8, 4)), 'base64'))),
	'22P02: invalid kpreco.model value: model format version 4 is newer%', 'forged, as text: format version 4 is 22P02')
  FROM hostile_model;
SELECT alike(pg_temp.copy_in(pg_temp.reseal(pg_temp.set_u32(b, 24, 0))), '22P03: invalid kpreco.model value: model has 0 factors%',
	'forged, through binary COPY: 0 factors is 22P03')
  FROM hostile_model;

-- Forged values that validate are served sanely ---------------------------------------------

SELECT is(pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', pg_temp.reseal(pg_temp.set_u64(b, 40, 9223372036854775807)))),
	'ok', 'rows_read of 2^63 - 1 validates') FROM hostile_model;
SELECT is((SELECT kpreco.model_info(pg_temp.reseal(pg_temp.set_u64(b, 40, 9223372036854775807))::kpreco.model) ->> 'rows_read' FROM hostile_model),
	'9223372036854775807', 'and model_info reports it exactly');
SELECT is(pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', pg_temp.set_u32(b, 0, 5))), 'ok',
	'the length word is not checked') FROM hostile_model;

-- model_has_user and model_without_user at the edges.
SELECT is((SELECT array_agg(kpreco.model_has_user(b::kpreco.model, u) ORDER BY i) FROM hostile_model,
		   unnest(ARRAY[0, 1, 5, 6, 9223372036854775807, -9223372036854775807]) WITH ORDINALITY AS t(u, i)),
	ARRAY[false, true, true, false, false, false], 'model_has_user for known, unknown and extreme ids');
SELECT is((SELECT substring(kpreco.model_without_user(b::kpreco.model, 9223372036854775807)::bytea FROM 5) FROM hostile_model),
	(SELECT substring(b FROM 5) FROM hostile_model), 'model_without_user of an unknown user changes nothing');
CREATE FUNCTION pg_temp.without_users(m kpreco.model, users bigint[]) RETURNS kpreco.model LANGUAGE plpgsql AS $$
DECLARE
	u bigint;
BEGIN
	FOREACH u IN ARRAY users LOOP
		m := kpreco.model_without_user(m, u);
	END LOOP;
	RETURN m;
END
$$;
CREATE TEMP TABLE hostile_emptied AS
SELECT pg_temp.without_users(b::kpreco.model, ARRAY[3, 1, 5, 2, 4])::bytea AS b FROM hostile_model;
SELECT is((SELECT kpreco.model_info(b::kpreco.model) -> 'n_users' FROM hostile_emptied), '0', 'removing every user leaves a valid model without users');
SELECT is((SELECT pg_temp.outcome(format('SELECT %L::bytea::kpreco.model', b)) FROM hostile_emptied), 'ok', 'which passes the full validation');
SELECT is((SELECT kpreco.model_has_user(b::kpreco.model, 1) FROM hostile_emptied), false, 'and knows no user');

-- No users at all: 1 course (id 42) with factors (1, 0.5), options {}.
CREATE TEMP TABLE hostile_no_users AS
SELECT pg_temp.reseal(decode('00000000' || '4b50524d' || '01000000' || '01000000' || '00000000' || '01000000' || '02000000' || '02000000'
	|| repeat('00', 32) || '7b7d000000000000' || '2a00000000000000' || '0000803f0000003f' || '0000000000000000', 'hex')) AS b;
SELECT is((SELECT kpreco.model_info(b::kpreco.model) ->> 'n_users' FROM hostile_no_users), '0', 'a forged model with no users validates');
SELECT is((SELECT length(b) FROM hostile_no_users), 96, 'in 96 bytes (short enough for a 1-byte varlena header on disk)');
SELECT lives_ok($$SELECT pg_temp.file_model('hostile_no_users', b) FROM hostile_no_users$$, 'and is filed in the catalog');
SELECT results_eq($$SELECT * FROM kpreco.recommend(1, 5, 'hostile_no_users')$$, $$VALUES (42::bigint, NULL::real, 1)$$,
	'every user is unknown: the only course, not personal');
SELECT is_empty($$SELECT * FROM kpreco.similar_courses(42, 5, 'hostile_no_users')$$, 'the only course has no similar course');
SELECT is(kpreco.predict(1, 42, 'hostile_no_users'), NULL, 'predict is NULL');
SELECT is_empty($$SELECT * FROM kpreco.user_factors('hostile_no_users')$$, 'user_factors: no rows');
SELECT results_eq($$SELECT * FROM kpreco.course_factors('hostile_no_users')$$, $$VALUES (42::bigint, ARRAY[1, 0.5]::real[])$$,
	'course_factors: the forged factors');
CREATE TEMP TABLE hostile_short (m kpreco.model);
INSERT INTO hostile_short SELECT b::kpreco.model FROM hostile_no_users;
SELECT is((SELECT kpreco.model_info(m) ->> 'bytes' FROM hostile_short), '96', 'stored in a table and read back (short header)');
SELECT is((SELECT substring(m::text::kpreco.model::bytea FROM 5) FROM hostile_short), (SELECT substring(b FROM 5) FROM hostile_no_users),
	'its text form reads back');

-- Factors at the limits: zero, denormal, 1e15.  Exact top-k is checked against a
-- float scan done in SQL over course_factors / user_factors.
CREATE TEMP TABLE hostile_wide_catalog AS
SELECT kpreco.train_agg(u, c, 1, '{"factors": 2, "iterations": 1}')::bytea AS b
  FROM (SELECT 1 AS u, 1 AS c UNION ALL SELECT 2, c FROM generate_series(2, 40) c) r;
CREATE FUNCTION pg_temp.exact_top(model_name text, u bigint, k integer) RETURNS bigint[] LANGUAGE sql AS $$
SELECT array_agg(course_id ORDER BY score DESC, course_id) FROM (
	SELECT c.course_id, (uf.factors[1] * c.factors[1] + uf.factors[2] * c.factors[2])::real AS score
	  FROM kpreco.course_factors(model_name) c, kpreco.user_factors(model_name) uf
	 WHERE uf.user_id = u AND c.course_id <> 1
	 ORDER BY 2 DESC, 1 LIMIT k) t
$$;
SELECT lives_ok($$SELECT pg_temp.file_model('hostile_denormal', pg_temp.with_factors(pg_temp.with_factors(b, 'user', ARRAY[1, 0, 1, 0]::real[]), 'item',
	(SELECT array_agg(x ORDER BY i, d) FROM generate_series(1, 40) i,
		LATERAL (VALUES (1, (((i * 17) % 41) * 1.401298464324817e-45::float8)::real), (2, CASE WHEN i % 5 = 0 THEN -1 ELSE 0 END)) v(d, x))))
	FROM hostile_wide_catalog$$, 'a model whose course factors are denormal (and some -1)');
SELECT is((SELECT array_agg(course_id ORDER BY rank) FROM kpreco.recommend(1, 10, 'hostile_denormal')), pg_temp.exact_top('hostile_denormal', 1, 10),
	'its top 10 is the exact top 10');
SELECT ok((SELECT bool_and(score > 0) FROM kpreco.recommend(1, 10, 'hostile_denormal')), 'with the tiny positive scores');
SELECT lives_ok($$SELECT pg_temp.file_model('hostile_zero', pg_temp.with_factors(b, 'item', array_fill(0::real, ARRAY[80]))) FROM hostile_wide_catalog$$,
	'a model whose course factors are all zero');
SELECT results_eq($$SELECT score, rank FROM kpreco.recommend(1, 3, 'hostile_zero')$$, $$VALUES (0::real, 1), (0, 2), (0, 3)$$,
	'scores 0, ranks 1..3');
SELECT results_eq($$SELECT similarity FROM kpreco.similar_courses(2, 2, 'hostile_zero')$$, $$VALUES (0::real), (0)$$,
	'zero vectors have similarity 0, not NaN');
SELECT lives_ok($$SELECT pg_temp.file_model('hostile_huge', pg_temp.with_factors(pg_temp.with_factors(b, 'user', array_fill('1e15'::real, ARRAY[4])), 'item',
	(SELECT array_agg(CASE WHEN i % 3 = 0 THEN '-1e15'::real WHEN i % 3 = 1 THEN '1e15' ELSE '1e-45' END ORDER BY i) FROM generate_series(1, 80) i)))
	FROM hostile_wide_catalog$$, 'a model with factors of 1e15, the largest allowed');
SELECT is((SELECT array_agg(course_id ORDER BY rank) FROM kpreco.recommend(1, 10, 'hostile_huge')), pg_temp.exact_top('hostile_huge', 1, 10),
	'its top 10 is the exact top 10');
SELECT ok((SELECT bool_and(score BETWEEN '-1e31'::real AND '1e31') FROM kpreco.recommend(1, 40, 'hostile_huge')), 'every score finite');
SELECT ok((SELECT bool_and(similarity BETWEEN -1.0001 AND 1.0001) FROM kpreco.similar_courses(2, 40, 'hostile_huge')), 'every similarity within [-1, 1]');

-- Models stored compressed inline instead of uncompressed out of line: a
-- model of 400 courses with zero factors compresses well.
CREATE TEMP TABLE hostile_compressible AS
SELECT pg_temp.with_factors(kpreco.train_agg(u, c, 1, '{"factors": 2, "iterations": 1}')::bytea, 'item', array_fill(0::real, ARRAY[800])) AS b
  FROM generate_series(1, 3) u, generate_series(1, 400) c WHERE (u + c) % 2 = 0;
SELECT lives_ok($$SELECT pg_temp.file_model('hostile_plain', b) FROM hostile_compressible$$, 'a model of 400 courses is filed');
SELECT lives_ok($$ALTER TABLE kpreco.model_versions ALTER COLUMN model SET STORAGE main$$, 'the catalog column is switched to compressed inline storage');
SELECT lives_ok($$SELECT pg_temp.file_model('hostile_compressed', b) FROM hostile_compressible$$, 'the same model is filed again');
SELECT cmp_ok((SELECT pg_column_size(model) FROM kpreco.model_versions WHERE name = 'hostile_compressed'), '<',
	(SELECT length(b) FROM hostile_compressible) / 2, 'it is stored compressed');
SELECT results_eq($$SELECT * FROM kpreco.recommend(2, 5, 'hostile_compressed')$$, $$SELECT * FROM kpreco.recommend(2, 5, 'hostile_plain')$$,
	'and serves like the same model stored uncompressed');
SELECT results_eq($$SELECT * FROM kpreco.course_factors('hostile_compressed')$$, $$SELECT * FROM kpreco.course_factors('hostile_plain')$$,
	'with the same factors');

SELECT is((SELECT pid FROM hostile_session), pg_backend_pid(), 'same session as at the start: no backend crashed');
SELECT is((SELECT 1), 1, 'the server still answers');

SELECT * FROM finish();
ROLLBACK;
