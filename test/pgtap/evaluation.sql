-- kpreco.evaluate() on MovieLens 100K: its figures equal the protocol of
-- shared/bench/recbench.py computed here in plain SQL from
-- kpreco.recommend(), the quality targets of every algorithm, algorithm
-- "auto" and its validation record, stored evaluations, and RMSE/MAE of an
-- explicit-rating model against kpreco.predict().
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(78);

SELECT (to_regclass('ml100k_train') IS NOT NULL AND to_regclass('ml100k_test') IS NOT NULL
		AND EXISTS (SELECT 1 FROM ml100k_train) AND EXISTS (SELECT 1 FROM ml100k_test)) AS have_ml100k \gset

\if :have_ml100k

\set train_src '''SELECT user_id, item_id AS course_id FROM ml100k_train'''
\set test_src '''SELECT user_id, item_id AS course_id FROM ml100k_test'''

-- The held-out rows evaluated against the SQL protocol: the test split, plus
-- seven users the model never saw (cold), a course nobody trained on for
-- some users, repeated test rows, and training rows of user 1 (which are not
-- relevant: they are the user's training courses).
CREATE TEMP TABLE eval_test AS
SELECT user_id, item_id AS course_id FROM ml100k_test
UNION ALL SELECT 100000 + g, 1 + g FROM generate_series(1, 7) g
UNION ALL SELECT u, 999999 FROM generate_series(1, 30) u
UNION ALL SELECT user_id, item_id FROM ml100k_test WHERE user_id % 50 = 0
UNION ALL SELECT user_id, item_id FROM ml100k_train WHERE user_id = 1;

-- The protocol of recbench.py, from kpreco.recommend():
--   candidates: every course but the user's training ones (recommend does that);
--   relevant: the user's distinct test courses that are not training courses,
--     courses unknown to the model included (never hit, but counted);
--   evaluated: users with a training row and a relevant course; users
--     without training rows are cold, counted and skipped;
--   P@k = hits / k, R@k = hits / |rel|, NDCG@k with the ideal DCG over
--   min(|rel|, k) ranks, AP@k = sum of P@r at hits / min(|rel|, k);
--   coverage = distinct courses in any evaluated user's top k / courses in training;
--   diversity = per list, the mean of 1 - cosine of the course vectors over its
--     pairs (0 for lists shorter than 2; a zero vector has cosine 0), averaged
--     over the users (NULL unless asked for: slow for ease's long vectors).
CREATE FUNCTION pg_temp.protocol(model text, k integer, with_diversity boolean) RETURNS jsonb
LANGUAGE sql AS $$
WITH train AS (SELECT DISTINCT user_id, item_id AS course_id FROM ml100k_train),
test AS (SELECT DISTINCT user_id, course_id FROM eval_test),
cold AS (SELECT DISTINCT t.user_id FROM test t WHERE NOT EXISTS (SELECT 1 FROM train r WHERE r.user_id = t.user_id)),
relevant AS (
	SELECT t.user_id, t.course_id FROM test t
	 WHERE EXISTS (SELECT 1 FROM train r WHERE r.user_id = t.user_id)
	   AND NOT EXISTS (SELECT 1 FROM train r WHERE r.user_id = t.user_id AND r.course_id = t.course_id)),
evaluated AS (SELECT user_id, count(*) AS n_relevant FROM relevant GROUP BY user_id),
recs AS (
	SELECT e.user_id, r.course_id, r.rank,
		   EXISTS (SELECT 1 FROM relevant l WHERE l.user_id = e.user_id AND l.course_id = r.course_id) AS hit
	  FROM evaluated e, LATERAL kpreco.recommend(e.user_id, k, model) r),
ranked AS (
	SELECT *, count(*) FILTER (WHERE hit) OVER (PARTITION BY user_id ORDER BY rank) AS hits_so_far FROM recs),
vectors AS (
	SELECT c.course_id, c.factors, sqrt((SELECT sum(x::float8 * x::float8) FROM unnest(c.factors) x)) AS norm
	  FROM kpreco.course_factors(model) c WHERE with_diversity),
list_diversity AS (
	SELECT a.user_id,
		   avg(1 - CASE WHEN va.norm > 0 AND vb.norm > 0
						THEN greatest(-1, least(1, (SELECT sum(x::float8 * y::float8) FROM unnest(va.factors, vb.factors) AS t(x, y))
												   / (va.norm * vb.norm)))
						ELSE 0 END) AS diversity
	  FROM recs a JOIN recs b ON b.user_id = a.user_id AND b.rank > a.rank
	  JOIN vectors va ON va.course_id = a.course_id JOIN vectors vb ON vb.course_id = b.course_id
	 GROUP BY a.user_id),
per_user AS (
	SELECT e.user_id, e.n_relevant,
		   count(r.course_id) FILTER (WHERE r.hit) AS hits,
		   coalesce(sum(1 / log(2, r.rank + 1.0)) FILTER (WHERE r.hit), 0) AS dcg,
		   (SELECT sum(1 / log(2, i + 1.0)) FROM generate_series(1, least(e.n_relevant, k)) i) AS ideal_dcg,
		   coalesce(sum(r.hits_so_far::numeric / r.rank) FILTER (WHERE r.hit), 0) AS precision_sum
	  FROM evaluated e LEFT JOIN ranked r USING (user_id)
	 GROUP BY e.user_id, e.n_relevant)
SELECT jsonb_build_object(
	'precision', avg(hits::numeric / k)::double precision,
	'recall', avg(hits::numeric / n_relevant)::double precision,
	'ndcg', avg(dcg / ideal_dcg)::double precision,
	'map', avg(precision_sum / least(n_relevant, k))::double precision,
	'coverage', ((SELECT count(DISTINCT course_id) FROM recs)::numeric
				 / (SELECT count(DISTINCT course_id) FROM train))::double precision,
	'diversity', CASE WHEN with_diversity THEN (SELECT avg(coalesce(d.diversity, 0)) FROM evaluated e LEFT JOIN list_diversity d USING (user_id)) END,
	'users', count(*),
	'cold_users', (SELECT count(*) FROM cold))
  FROM per_user
$$;

-- evaluate() as jsonb.
CREATE FUNCTION pg_temp.figures(model text, test_source text, k integer DEFAULT 10) RETURNS jsonb
LANGUAGE sql AS $$
SELECT jsonb_object_agg(metric, value) FROM kpreco.evaluate(model, test_source, k)
$$;

-- Figures as evaluate() returns them (double precision), whatever digits
-- the jsonb spelled them with; without the model and version.
CREATE FUNCTION pg_temp.doubles(figures jsonb) RETURNS jsonb
LANGUAGE sql AS $$
SELECT jsonb_object_agg(key, (value #>> '{}')::double precision)
  FROM jsonb_each(figures - ARRAY['model', 'version'])
$$;

-- One test per metric: evaluate() equals the SQL protocol to 1e-9.
CREATE FUNCTION pg_temp.same_figures(model text, k integer, with_diversity boolean) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	got jsonb := pg_temp.figures(model, 'eval_test', k);
	want jsonb := pg_temp.protocol(model, k, with_diversity);
	metric text;
BEGIN
	FOREACH metric IN ARRAY ARRAY['precision', 'recall', 'ndcg', 'map', 'coverage', 'diversity'] LOOP
		CONTINUE WHEN metric = 'diversity' AND NOT with_diversity;
		RETURN NEXT ok(abs((got ->> metric)::double precision - (want ->> metric)::double precision) < 1e-9,
					   format('%s: %s@%s of evaluate() equals the SQL protocol (%s vs %s)',
							  model, metric, k, got ->> metric, want ->> metric));
	END LOOP;
	RETURN NEXT is((got ->> 'users')::bigint, (want ->> 'users')::bigint,
				   format('%s: users evaluated as the protocol counts them (%s)', model, want ->> 'users'));
	RETURN NEXT is((got ->> 'cold_users')::bigint, 7::bigint, model || ': the seven users without training rows are cold');
END
$$;

-- NDCG@10 of a model on the plain test split.
CREATE FUNCTION pg_temp.ndcg(model text) RETURNS double precision
LANGUAGE sql AS $$
SELECT value FROM kpreco.evaluate(model, 'SELECT user_id, item_id AS course_id, value FROM ml100k_test', 10) WHERE metric = 'ndcg'
$$;

-- The choice algorithm "auto" should make from its candidates: in order of
-- preference, a later candidate replaces the best so far only when its NDCG
-- is more than 1% higher.
CREATE FUNCTION pg_temp.expected_choice(validation jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	candidate jsonb;
	best jsonb;
BEGIN
	FOR candidate IN SELECT c FROM jsonb_array_elements(validation -> 'candidates') WITH ORDINALITY AS e(c, n) ORDER BY n LOOP
		IF best IS NULL OR (candidate ->> 'ndcg')::double precision > 1.01 * (best ->> 'ndcg')::double precision THEN
			best := candidate;
		END IF;
	END LOOP;
	RETURN best -> 'options';
END
$$;

-- evaluate() is the recbench protocol -------------------------------------------

SELECT lives_ok(format($$SELECT kpreco.train('evq_ials', %L, '{"seed": 42}')$$, :train_src),
	'ials trains on MovieLens 100K with its defaults and a fixed seed (42, the default)');
SELECT * FROM pg_temp.same_figures('evq_ials', 10, true);
SELECT * FROM pg_temp.same_figures('evq_ials', 3, true);
SELECT lives_ok(format($$SELECT kpreco.train('evq_ease', %L, '{"algorithm": "ease"}')$$, :train_src),
	'ease trains on MovieLens 100K');
SELECT * FROM pg_temp.same_figures('evq_ease', 10, false);
SELECT is(pg_temp.figures('evq_ials', 'eval_test', 10),
	(SELECT pg_temp.doubles(kpreco.evaluate_agg('evq_ials', user_id, course_id, NULL, 10)) FROM eval_test),
	'evaluate() returns what evaluate_agg over the catalog model returns');
SELECT is(pg_temp.figures('evq_ials', 'eval_test', 10),
	(SELECT pg_temp.doubles(kpreco.evaluate_agg(v.model, t.user_id, t.course_id, NULL, 10))
	   FROM eval_test t, kpreco.model_versions v WHERE v.name = 'evq_ials'),
	'and evaluate_agg over the model value');

-- Quality of every algorithm -----------------------------------------------------

SELECT ok(pg_temp.ndcg('evq_ials') >= 0.18, format('ials (defaults): NDCG@10 %s >= 0.18', pg_temp.ndcg('evq_ials')));
SELECT lives_ok(format($$SELECT kpreco.train('evq_popular', %L, '{"algorithm": "popular"}')$$, :train_src),
	'popular trains');
SELECT ok(abs(pg_temp.ndcg('evq_popular') - 0.1162) < 1e-3,
	format('popular: NDCG@10 %s is 0.1162 within 1e-3', pg_temp.ndcg('evq_popular')));
SELECT ok(pg_temp.ndcg('evq_ease') >= 0.195, format('ease (defaults): NDCG@10 %s >= 0.195', pg_temp.ndcg('evq_ease')));
SELECT lives_ok(format($$SELECT kpreco.train('evq_bpr', %L,
		'{"algorithm": "bpr", "factors": 64, "epochs": 100, "learning_rate": 0.01, "regularization": 0.01}')$$, :train_src),
	'bpr trains with 64 factors, 100 epochs, learning rate 0.01, regularization 0.01');
SELECT ok(pg_temp.ndcg('evq_bpr') >= 0.159, format('bpr: NDCG@10 %s >= 0.159', pg_temp.ndcg('evq_bpr')));

SELECT lives_ok(format($$SELECT kpreco.train('evq_auto', %L, '{"algorithm": "auto", "time_column": "ts"}')$$,
		'SELECT user_id, item_id AS course_id, ts FROM ml100k_train'),
	'auto trains, validating on the latest 20% of each user');
SELECT ok(pg_temp.ndcg('evq_auto') >= 0.195, format('auto: NDCG@10 %s >= 0.195', pg_temp.ndcg('evq_auto')));
SELECT is((SELECT array_agg(c -> 'options' ORDER BY n) FROM kpreco.models m,
				  jsonb_array_elements(m.validation -> 'candidates') WITH ORDINALITY AS e(c, n) WHERE m.name = 'evq_auto'),
	(SELECT array_agg(c) FROM kpreco.auto_candidates() c),
	'models.validation lists every candidate of kpreco.auto_candidates(), in order');
SELECT ok((SELECT bool_and(jsonb_typeof(c -> 'ndcg') = 'number' AND (c ->> 'ndcg')::float8 BETWEEN 0 AND 1
						   AND c ?& ARRAY['precision', 'recall', 'map', 'coverage', 'seconds'])
			 FROM kpreco.models m, jsonb_array_elements(m.validation -> 'candidates') c WHERE m.name = 'evq_auto'),
	'with the validation figures of each');
SELECT is((SELECT validation ->> 'metric' FROM kpreco.models WHERE name = 'evq_auto'), 'ndcg@10',
	'chosen by NDCG@10');
SELECT is((SELECT validation ->> 'holdout' FROM kpreco.models WHERE name = 'evq_auto'),
	'latest 20% of each user with 5 or more interactions', 'on the latest 20% of each user');
SELECT is((SELECT validation -> 'chosen' FROM kpreco.models WHERE name = 'evq_auto'),
	(SELECT pg_temp.expected_choice(validation) FROM kpreco.models WHERE name = 'evq_auto'),
	'the choice is the best candidate (a later one must win by more than 1%)');
SELECT is((SELECT algorithm FROM kpreco.models WHERE name = 'evq_auto'),
	(SELECT validation -> 'chosen' ->> 'algorithm' FROM kpreco.models WHERE name = 'evq_auto'),
	'the stored version is of the chosen algorithm');
SELECT ok((SELECT options @> (validation -> 'chosen') FROM kpreco.models WHERE name = 'evq_auto'),
	'with the chosen settings in its effective options');
SELECT is((SELECT validation FROM kpreco.model_versions WHERE name = 'evq_auto'),
	(SELECT validation FROM kpreco.models WHERE name = 'evq_auto'), 'model_versions.validation holds the same record');
SELECT is((SELECT count(*) FROM kpreco.models WHERE name LIKE 'evq%' AND name <> 'evq_auto' AND validation IS NOT NULL),
	0::bigint, 'other algorithms record no validation');

SELECT lives_ok(format($$SELECT kpreco.train('evq_als', %L, '{"algorithm": "als", "weight_column": "value"}')$$,
		'SELECT user_id, item_id AS course_id, value FROM ml100k_train'),
	'als trains on the ratings');
SELECT diag(format('NDCG@10 on MovieLens 100K: popular %s, ials %s, bpr %s, ease %s, auto %s (%s), als %s',
				   round(pg_temp.ndcg('evq_popular')::numeric, 4), round(pg_temp.ndcg('evq_ials')::numeric, 4),
				   round(pg_temp.ndcg('evq_bpr')::numeric, 4), round(pg_temp.ndcg('evq_ease')::numeric, 4),
				   round(pg_temp.ndcg('evq_auto')::numeric, 4),
				   (SELECT validation -> 'chosen' FROM kpreco.models WHERE name = 'evq_auto'),
				   round(pg_temp.ndcg('evq_als')::numeric, 4)));
-- als too: it fits unrated pairs to a rating below the user's level (kp_als.h).
SELECT ok(pg_temp.ndcg(m) > pg_temp.ndcg('evq_popular'), m || ' beats popular')
  FROM unnest(ARRAY['evq_ials', 'evq_bpr', 'evq_ease', 'evq_auto', 'evq_als']) m;

-- RMSE and MAE of the rating model, from kpreco.predict() ------------------------

CREATE TEMP TABLE als_test AS
SELECT user_id, item_id AS course_id, value FROM ml100k_test
UNION ALL SELECT 100000 + g, 1, 3 FROM generate_series(1, 3) g       -- cold users
UNION ALL SELECT 1, 999999, 4                                         -- an unknown course
UNION ALL SELECT user_id, item_id, value FROM ml100k_test WHERE user_id = 2;  -- repeated rows
SELECT jsonb_object_agg(metric, value) AS als_figures FROM kpreco.evaluate('evq_als', 'als_test', 10) \gset
WITH predicted AS (
	SELECT kpreco.predict(user_id, course_id, 'evq_als')::double precision - value AS error FROM als_test)
SELECT sqrt(avg(error * error)) AS sql_rmse, avg(abs(error)) AS sql_mae, count(error) AS sql_pairs
  FROM predicted \gset
SELECT ok(abs((:'als_figures'::jsonb ->> 'rmse')::float8 - :sql_rmse) < 1e-9,
	format('als: RMSE %s equals the RMSE of predict() over the known pairs (%s)', :'als_figures'::jsonb ->> 'rmse', :sql_rmse));
SELECT ok(abs((:'als_figures'::jsonb ->> 'mae')::float8 - :sql_mae) < 1e-9,
	format('als: MAE %s equals the MAE of predict() (%s)', :'als_figures'::jsonb ->> 'mae', :sql_mae));
SELECT is((:'als_figures'::jsonb ->> 'rated_pairs')::bigint, :sql_pairs::bigint,
	'als: rated_pairs counts the test rows whose user and course the model knows, repeats included');
SELECT is((:'als_figures'::jsonb ->> 'cold_users')::bigint, 3::bigint, 'als: cold users are counted');
SELECT ok(:sql_rmse < (SELECT sqrt(avg((t.value - m.mean) ^ 2)) FROM ml100k_test t,
						(SELECT avg(value) AS mean FROM ml100k_train) m),
	'als: RMSE below that of predicting the mean rating');
SELECT is((SELECT array_agg(metric) FROM kpreco.evaluate('evq_als', 'als_test', 10)),
	ARRAY['precision', 'recall', 'ndcg', 'map', 'coverage', 'diversity', 'users', 'cold_users', 'rmse', 'mae', 'rated_pairs'],
	'a rating model trained with a weight_column is scored on that column of the test source too');
SELECT ok(NOT EXISTS (SELECT 1 FROM kpreco.evaluate('evq_ials', 'eval_test', 10) WHERE metric IN ('rmse', 'mae', 'rated_pairs')),
	'a ranking model without value_column has no rmse, mae or rated_pairs');
SELECT ok(abs((SELECT value FROM kpreco.evaluate('evq_ials', 'als_test', 10, '{"value_column": "value"}') WHERE metric = 'rmse')
			  - (SELECT sqrt(avg((kpreco.predict(user_id, course_id, 'evq_ials')::float8 - value) ^ 2)) FROM als_test)) < 1e-9,
	'value_column scores any model''s predict() against the values');

-- Stored evaluations ---------------------------------------------------------------

SELECT is((SELECT count(*) FROM kpreco.evaluations WHERE name LIKE 'evq%'), 0::bigint,
	'nothing is stored without option store');
SELECT kpreco.train('evq_stored', :train_src, '{"algorithm": "popular", "keep_versions": 2}') AS stored_v1 \gset
SELECT is((SELECT count(*) FROM kpreco.evaluate('evq_stored', :test_src, 10, '{"store": true}')), 8::bigint,
	'store: true still returns the figures');
SELECT is((SELECT jsonb_build_object('name', name, 'version', version, 'test_source', test_source, 'k', k)
			 FROM kpreco.evaluations WHERE name = 'evq_stored'),
	jsonb_build_object('name', 'evq_stored', 'version', :stored_v1, 'test_source', :test_src, 'k', 10),
	'kpreco.evaluations holds the model, version, test source and k');
SELECT is((SELECT pg_temp.doubles(metrics) FROM kpreco.evaluations WHERE name = 'evq_stored'),
	pg_temp.figures('evq_stored', :test_src),
	'and the figures evaluate() returned');
SELECT is((SELECT evaluation FROM kpreco.models WHERE name = 'evq_stored' AND version = :stored_v1),
	(SELECT metrics FROM kpreco.evaluations WHERE name = 'evq_stored'),
	'kpreco.models.evaluation shows them');
SELECT ok((SELECT evaluated_at BETWEEN now() AND clock_timestamp() FROM kpreco.evaluations WHERE name = 'evq_stored'), 'with the time of the evaluation');
SELECT lives_ok(format($$SELECT * FROM kpreco.evaluate('evq_stored', %L, 5, '{"store": true}')$$, :test_src),
	'a second evaluation of the same version, at k = 5');
SELECT is((SELECT pg_temp.doubles(evaluation) FROM kpreco.models WHERE name = 'evq_stored' AND version = :stored_v1),
	pg_temp.figures('evq_stored', :test_src, 5), 'kpreco.models.evaluation shows the latest');
SELECT lives_ok(format($$SELECT * FROM kpreco.evaluate('evq_stored', %L, 10, '{"store": false}')$$, :test_src),
	'store: false');
SELECT is((SELECT count(*) FROM kpreco.evaluations WHERE name = 'evq_stored'), 2::bigint, 'stores nothing');

SELECT kpreco.train('evq_stored') AS stored_v2 \gset
SELECT is((SELECT evaluation FROM kpreco.models WHERE name = 'evq_stored' AND version = :stored_v2), NULL,
	'a new version has no evaluation yet');
SELECT lives_ok(format($$SELECT * FROM kpreco.evaluate('evq_stored', %L, 10, '{"store": true}')$$, :test_src),
	'evaluate() stores the active version''s figures');
SELECT is((SELECT array_agg(version ORDER BY k, version) FROM kpreco.evaluations WHERE name = 'evq_stored'),
	ARRAY[:stored_v1, :stored_v1, :stored_v2]::bigint[], 'under its version');
SELECT kpreco.train('evq_stored') AS stored_v3 \gset
SELECT is((SELECT array_agg(version ORDER BY version) FROM kpreco.models WHERE name = 'evq_stored'),
	ARRAY[:stored_v2, :stored_v3]::bigint[], 'a third version prunes the first (keep_versions 2)');
SELECT is((SELECT count(*) FROM kpreco.evaluations WHERE name = 'evq_stored' AND version = :stored_v1), 2::bigint,
	'the evaluations of the pruned version are kept');
SELECT is((SELECT count(*) FROM kpreco.evaluations WHERE name = 'evq_stored'), 3::bigint, 'the history is whole');
SELECT lives_ok($$SELECT kpreco.drop_model('evq_stored')$$, 'drop_model');
SELECT is((SELECT count(*) FROM kpreco.evaluations WHERE name = 'evq_stored'), 0::bigint,
	'removes the model''s stored evaluations');
SELECT lives_ok(format($$SELECT * FROM kpreco.evaluate('evq_ials', %L, 10, '{"store": true}')$$, :test_src),
	'another model stores an evaluation');
SELECT is((SELECT count(*) FROM kpreco.evaluations WHERE name = 'evq_ials'), 1::bigint,
	'which dropping evq_stored left alone');

\else
SELECT skip('MovieLens 100K is not loaded (tables ml100k_train and ml100k_test are empty or missing)', 78);
\endif

SELECT * FROM finish();
ROLLBACK;
