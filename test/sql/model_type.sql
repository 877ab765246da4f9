-- The kpreco.model type: text and binary forms, bytea casts, validation, model_info.
\set SHOW_CONTEXT never
TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;

CREATE TEMP TABLE models AS
SELECT kpreco.train_agg(u, c, (u + c) % 3, '{"factors": 2, "iterations": 4, "seed": 3}') AS model
  FROM generate_series(1, 5) u, generate_series(10, 13) c;

SELECT kpreco.model_info(model) FROM models;
SELECT length(model::bytea) = (kpreco.model_info(model) ->> 'bytes')::int AS length_matches,
	   substring(model::bytea FROM 5 FOR 4) AS magic
  FROM models;
SELECT kpreco.model_info(NULL) IS NULL AS strict;

-- Text form: base64 of the bytes, read back to the same bytes.
SELECT model::text = translate(encode(model::bytea, 'base64'), E'\n', '') AS text_is_base64 FROM models;
SELECT model::text::kpreco.model::bytea = model::bytea AS text_round_trip FROM models;
-- Line breaks and spaces inside the base64 are ignored.
SELECT regexp_replace(model::text, '(.{60})', E'\\1\n ', 'g')::kpreco.model::bytea = model::bytea
	   AS whitespace_ignored FROM models;
-- bytea casts both ways.
SELECT model::bytea::kpreco.model::bytea = model::bytea AS bytea_round_trip FROM models;
-- The first four bytes are the value's own length word: whatever they hold is replaced.
SELECT overlay(model::bytea PLACING '\xffffffff' FROM 1)::kpreco.model::bytea = model::bytea
	   AS length_word_ignored FROM models;

-- Binary form through COPY.
CREATE TEMP TABLE copied (model kpreco.model);
\copy (SELECT model FROM models) TO 'results/model_type_copy.bin' WITH (FORMAT binary)
\copy copied FROM 'results/model_type_copy.bin' WITH (FORMAT binary)
SELECT c.model::bytea = m.model::bytea AS binary_round_trip FROM copied c, models m;
-- ... and through a text COPY.
TRUNCATE copied;
\copy (SELECT model FROM models) TO 'results/model_type_copy.txt'
\copy copied FROM 'results/model_type_copy.txt'
SELECT c.model::bytea = m.model::bytea AS text_copy_round_trip FROM copied c, models m;
-- Binary input is validated too.
\copy (SELECT set_byte(model::bytea, 100, 1) FROM models) TO 'results/model_type_damaged.bin' WITH (FORMAT binary)
\copy copied FROM 'results/model_type_damaged.bin' WITH (FORMAT binary)

-- A model stored in the catalog reads back the same way.
SELECT kpreco.train('stored', 'SELECT u AS user_id, c AS course_id FROM generate_series(1, 5) u, generate_series(10, 13) c WHERE (u + c) % 3 > 0');
SELECT kpreco.model_info(model) -> 'n_interactions' AS n_interactions,
	   kpreco.model_info(model) -> 'options' -> 'factors' AS factors
  FROM kpreco.model_versions;
SELECT v.model::text::kpreco.model::bytea = v.model::bytea AS stored_round_trip
  FROM kpreco.model_versions v;

-- Damaged values are refused, never stored.
SELECT (substring(model::bytea FROM 1 FOR length(model::bytea) - 8))::kpreco.model FROM models;
\echo :LAST_ERROR_SQLSTATE
SELECT (model::bytea || '\x00'::bytea)::kpreco.model FROM models;
SELECT set_byte(model::bytea, length(model::bytea) / 2,
				get_byte(model::bytea, length(model::bytea) / 2) # 16)::kpreco.model FROM models;
\echo :LAST_ERROR_SQLSTATE
SELECT set_byte(model::bytea, 4, ascii('X'))::kpreco.model FROM models;
SELECT set_byte(model::bytea, 8, 99)::kpreco.model FROM models;
SELECT decode(repeat('5a17c0de', 64), 'hex')::kpreco.model;
\echo :LAST_ERROR_SQLSTATE
SELECT '\x00'::bytea::kpreco.model;
SELECT ''::bytea::kpreco.model;
SELECT 'not a model!'::kpreco.model;
\echo :LAST_ERROR_SQLSTATE
SELECT ''::kpreco.model;
SELECT 'aGVsbG8gd29ybGQ='::kpreco.model;
SELECT encode(substring(model::bytea FROM 1 FOR 100), 'base64')::kpreco.model FROM models;
SELECT encode(set_byte(model::bytea, 70, 0), 'base64')::kpreco.model FROM models;
\echo :LAST_ERROR_SQLSTATE
CREATE TEMP TABLE damaged (model kpreco.model);
INSERT INTO damaged SELECT set_byte(model::bytea, 100, 1)::kpreco.model FROM models;
SELECT count(*) AS damaged_rows FROM damaged;

TRUNCATE kpreco.model_registry, kpreco.model_versions RESTART IDENTITY;
