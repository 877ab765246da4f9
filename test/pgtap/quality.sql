-- Recommendation quality on MovieLens 100K, measured as shared/bench/recbench.py does.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(6);

-- Precision@k and NDCG@k, macro-averaged over users with train rows and relevant items.
CREATE FUNCTION pg_temp.evaluate(model text, k integer)
RETURNS TABLE (precision_at_k double precision, ndcg_at_k double precision, users bigint)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY
	WITH train AS (SELECT DISTINCT t.user_id, t.item_id FROM ml100k_train t),
	relevant AS (
		SELECT DISTINCT t.user_id, t.item_id FROM ml100k_test t
		 WHERE NOT EXISTS (SELECT 1 FROM train r WHERE r.user_id = t.user_id AND r.item_id = t.item_id)),
	evaluated AS (
		SELECT r.user_id, count(*) AS n_relevant FROM relevant r
		 WHERE r.user_id IN (SELECT user_id FROM train)
		 GROUP BY r.user_id),
	per_user AS (
		SELECT e.user_id,
			   count(rel.item_id)::double precision / k AS hits_over_k,
			   coalesce(sum(1 / log(2.0, rec.rank + 1.0)) FILTER (WHERE rel.item_id IS NOT NULL), 0)::double precision /
			   (SELECT sum(1 / log(2.0, i + 1.0)) FROM generate_series(1, least(e.n_relevant, k)) i)::double precision AS ndcg
		  FROM evaluated e
		  LEFT JOIN LATERAL kpreco.recommend(e.user_id, k, model) rec ON true
		  LEFT JOIN relevant rel ON rel.user_id = e.user_id AND rel.item_id = rec.course_id
		 GROUP BY e.user_id, e.n_relevant)
	SELECT avg(hits_over_k), avg(ndcg), count(*) FROM per_user;
END
$$;

CREATE FUNCTION pg_temp.quality(solver text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	model text := 'quality_ml100k_' || solver;
	result record;
BEGIN
	IF to_regclass('ml100k_train') IS NULL OR to_regclass('ml100k_test') IS NULL THEN
		RETURN NEXT skip('tables ml100k_train and ml100k_test do not exist', 3);
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM ml100k_train) OR NOT EXISTS (SELECT 1 FROM ml100k_test) THEN
		RETURN NEXT skip('MovieLens 100K is not loaded', 3);
		RETURN;
	END IF;
	RETURN NEXT lives_ok(
		format($sql$SELECT kpreco.train(%L, 'SELECT user_id, item_id AS course_id FROM ml100k_train',
			'{"factors": 64, "iterations": 15, "regularization": 0.01, "alpha": 1.0, "solver": %s}')$sql$,
			model, to_json(solver)),
		'trains on MovieLens 100K with ' || solver);
	SELECT * INTO result FROM pg_temp.evaluate(model, 10);
	RETURN NEXT diag(format('%s: P@10 %s, NDCG@10 %s over %s users', solver,
							round(result.precision_at_k::numeric, 4), round(result.ndcg_at_k::numeric, 4), result.users));
	RETURN NEXT cmp_ok(result.ndcg_at_k, '>=', 0.174::double precision, solver || ': NDCG@10 at least 0.174');
	RETURN NEXT cmp_ok(result.precision_at_k, '>=', 0.151::double precision, solver || ': P@10 at least 0.151');
END
$$;

SELECT * FROM pg_temp.quality('cg');
SELECT * FROM pg_temp.quality('cholesky');

SELECT * FROM finish();
ROLLBACK;
