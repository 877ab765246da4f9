/*
 * test_rerank.c -- maximal marginal relevance: λ = 0 is the relevance
 * order, λ = 1 spreads over clusters, ties are deterministic, and random
 * cases match a direct transcription of the greedy rule.
 */
#include <stdint.h>
#include <string.h>

#include "kp_rerank.h"
#include "unit.h"

static uint64_t rng_state = 5;

static double
rng_unit(void)
{
	return (double) (kp_mix64(rng_state += UINT64_C(0x9e3779b97f4a7c15)) >> 11) *
		(1.0 / 9007199254740992.0);
}

static const float *sort_relevance;

static int
by_relevance_then_position(const void *a, const void *b)
{
	int32_t		ia = *(const int32_t *) a;
	int32_t		ib = *(const int32_t *) b;

	if (sort_relevance[ia] != sort_relevance[ib])
		return sort_relevance[ia] > sort_relevance[ib] ? -1 : 1;
	return ia < ib ? -1 : (ia > ib);
}

static double
cosine(const float *a, const float *b, int f)
{
	double		ab = 0,
				aa = 0,
				bb = 0;
	int			j;

	for (j = 0; j < f; j++)
	{
		ab += (double) a[j] * b[j];
		aa += (double) a[j] * a[j];
		bb += (double) b[j] * b[j];
	}
	return aa > 0 && bb > 0 ? ab / (sqrt(aa) * sqrt(bb)) : 0.0;
}

/* The greedy rule written out directly: O(k·n·picked·f). */
static int32_t
reference_mmr(const float *Y, int f, const int32_t *candidates, const float *relevance,
			  int32_t n, int32_t k, double lambda, int32_t *order)
{
	double		low = INFINITY,
				high = -INFINITY;
	char	   *picked = calloc(n, 1);
	int32_t		count = k < n ? k : n;
	int32_t		p;
	int32_t		i;

	for (i = 0; i < n; i++)
	{
		low = fmin(low, relevance[i]);
		high = fmax(high, relevance[i]);
	}
	for (p = 0; p < count; p++)
	{
		int32_t		best = -1;
		double		best_value = 0;

		for (i = 0; i < n; i++)
		{
			double		rel = high > low ? (relevance[i] - low) / (high - low) : 1.0;
			double		sim = -INFINITY;
			double		value;
			int32_t		q;

			if (picked[i])
				continue;
			for (q = 0; q < p; q++)
				sim = fmax(sim, cosine(Y + (size_t) candidates[i] * f,
									   Y + (size_t) candidates[order[q]] * f, f));
			value = (1 - lambda) * rel - lambda * (p > 0 ? sim : 0.0);
			if (best < 0 || value > best_value ||
				(value == best_value && relevance[i] > relevance[best]))
			{
				best = i;
				best_value = value;
			}
		}
		order[p] = best;
		picked[best] = 1;
	}
	free(picked);
	return count;
}

static void
test_pure_relevance(void)
{
	int32_t		n = 200;
	int			f = 6;
	float	   *Y = malloc(sizeof(float) * n * f);
	int32_t    *candidates = malloc(sizeof(int32_t) * n);
	float	   *relevance = malloc(sizeof(float) * n);
	int32_t    *expected = malloc(sizeof(int32_t) * n);
	int32_t    *order = malloc(sizeof(int32_t) * n);
	int32_t		count;
	kp_status	status;
	int32_t		i;

	for (i = 0; i < n * f; i++)
		Y[i] = (float) (rng_unit() - 0.5);
	for (i = 0; i < n; i++)
	{
		candidates[i] = (i * 37) % n;
		/* many exact ties */
		relevance[i] = (float) (int) (rng_unit() * 40) * 0.25f;
		expected[i] = i;
	}
	sort_relevance = relevance;
	qsort(expected, n, sizeof(int32_t), by_relevance_then_position);

	status = kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, n, 0.0f,
						   order, &count, NULL, NULL);
	unit_ok(status == KP_OK && count == n && memcmp(order, expected, sizeof(int32_t) * n) == 0,
			"diversity 0: exactly the relevance order, ties to the earlier candidate");
	status = kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, 10, 0.0f,
						   order, &count, NULL, NULL);
	unit_ok(status == KP_OK && count == 10 && memcmp(order, expected, sizeof(int32_t) * 10) == 0,
			"k = 10 of 200: the ten most relevant");

	/*
	 * Relevances whose rescaled values collapse in double (one huge
	 * negative outlier): the raw relevance still orders them.
	 */
	relevance[0] = -1e30f;
	for (i = 1; i < n; i++)
		relevance[i] = (float) i;
	status = kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, n - 1, 0.0f,
						   order, &count, NULL, NULL);
	{
		int			ok = status == KP_OK && count == n - 1;

		for (i = 0; i < count && ok; i++)
			ok = order[i] == n - 1 - i;
		unit_ok(ok, "relevances equal after rescaling still come out in raw order");
	}

	free(Y);
	free(candidates);
	free(relevance);
	free(expected);
	free(order);
}

/* Cluster c's vectors: near-identical, along axis c. */
static void
cluster_vectors(float *Y, int32_t n, int f, int n_clusters, int32_t *cluster_of)
{
	int32_t		i;
	int			j;

	for (i = 0; i < n; i++)
	{
		cluster_of[i] = (int32_t) ((i + i / 7) % n_clusters);
		for (j = 0; j < f; j++)
			Y[(size_t) i * f + j] = (float) ((rng_unit() - 0.5) * 1e-3);
		Y[(size_t) i * f + cluster_of[i]] += 1.0f + (float) rng_unit();
	}
}

static void
test_spread(void)
{
	int32_t		n = 40;
	int			f = 8;
	float	   *Y = malloc(sizeof(float) * n * f);
	int32_t    *cluster_of = malloc(sizeof(int32_t) * n);
	int32_t    *candidates = malloc(sizeof(int32_t) * n);
	float	   *relevance = malloc(sizeof(float) * n);
	int32_t		order[40];
	int32_t		count;
	int			ok;
	int32_t		i;

	/* two clusters; every course of cluster 1 more relevant than any of cluster 0 */
	cluster_vectors(Y, n, f, 2, cluster_of);
	for (i = 0; i < n; i++)
	{
		candidates[i] = i;
		relevance[i] = (float) (cluster_of[i] * 100 + rng_unit() * 50);
	}
	kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, 4, 0.0f,
				  order, &count, NULL, NULL);
	ok = count == 4;
	for (i = 0; i < 4 && ok; i++)
		ok = cluster_of[order[i]] == 1;
	unit_ok(ok, "two clusters, diversity 0: the top picks all come from the more relevant one");

	kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, 2, 1.0f,
				  order, &count, NULL, NULL);
	{
		int32_t		top0 = -1,
					top1 = -1;

		for (i = 0; i < n; i++)
		{
			int32_t    *top = cluster_of[i] ? &top1 : &top0;

			if (*top < 0 || relevance[i] > relevance[*top])
				*top = i;
		}
		(void) top0;
		unit_ok(count == 2 && order[0] == top1 && cluster_of[order[1]] == 0,
				"diversity 1: the most relevant course, then one of the other cluster even "
				"though all of it is less relevant");
	}

	/* five clusters: diversity 1 visits every cluster before any twice */
	cluster_vectors(Y, n, f, 5, cluster_of);
	for (i = 0; i < n; i++)
		relevance[i] = (float) (cluster_of[i] == 2 ? 1000 + i : rng_unit());
	kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, 5, 1.0f,
				  order, &count, NULL, NULL);
	{
		int			seen[5] = {0};

		ok = count == 5 && cluster_of[order[0]] == 2;
		for (i = 0; i < count && ok; i++)
			ok = !seen[cluster_of[order[i]]]++;
		unit_ok(ok, "five clusters, diversity 1: one course from each before any repeats");
	}
	/* the share of the relevant cluster falls as diversity rises */
	{
		int			previous = 6;
		int			counts[5];
		int			step;

		ok = 1;
		for (i = 0; i < n; i++)
			relevance[i] = (float) (cluster_of[i] == 2 ? 1000 + i : 900.0 * rng_unit());
		for (step = 0; step < 5; step++)
		{
			int			from_top = 0;

			kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, 5,
						  0.25f * step, order, &count, NULL, NULL);
			for (i = 0; i < count; i++)
				from_top += cluster_of[order[i]] == 2;
			counts[step] = from_top;
			ok = ok && count == 5 && from_top <= previous;
			previous = from_top;
		}
		unit_ok(ok && counts[0] == 5 && counts[4] == 1,
				"picks from the most relevant cluster fall as diversity rises: %d %d %d %d %d "
				"for 0, 0.25, 0.5, 0.75, 1", counts[0], counts[1], counts[2], counts[3], counts[4]);
	}

	free(Y);
	free(cluster_of);
	free(candidates);
	free(relevance);
}

static void
test_ties_and_reference(void)
{
	int32_t		n = 12;
	int			f = 3;
	float		Y[12 * 3];
	int32_t		candidates[12];
	float		relevance[12];
	int32_t		order[12];
	int32_t		order2[12];
	int32_t		expected[12];
	int32_t		count;
	int			ok = 1;
	int			trial;
	int32_t		i;

	/* identical vectors, equal relevance: everything ties, positions decide */
	for (i = 0; i < n; i++)
	{
		Y[i * 3] = 1.0f;
		Y[i * 3 + 1] = 2.0f;
		Y[i * 3 + 2] = -1.0f;
		candidates[i] = i;
		relevance[i] = 0.5f;
	}
	kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, n, 1.0f,
				  order, &count, NULL, NULL);
	for (i = 0; i < n; i++)
		ok = ok && order[i] == i;
	kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, n, 0.3f,
				  order2, &count, NULL, NULL);
	unit_ok(ok && memcmp(order, order2, sizeof(order)) == 0,
			"complete ties: candidates come out in their given order");

	/* identical vectors, distinct relevance: cosine ties broken by relevance */
	for (i = 0; i < n; i++)
		relevance[i] = (float) ((i * 7) % n);
	kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, n, 1.0f,
				  order, &count, NULL, NULL);
	for (i = 0; i < n; i++)
		expected[i] = i;
	sort_relevance = relevance;
	qsort(expected, n, sizeof(int32_t), by_relevance_then_position);
	unit_ok(memcmp(order, expected, sizeof(order)) == 0,
			"equal MMR values go to the more relevant candidate");

	/* a zero vector has cosine 0 with everything: picked right after the first */
	Y[0] = Y[1] = Y[2] = 0.0f;	/* candidate 0, the least relevant */
	kp_rerank_mmr(&kp_malloc_allocator, Y, n, f, candidates, relevance, n, 3, 1.0f,
				  order, &count, NULL, NULL);
	unit_ok(count == 3 && order[0] == expected[0] && order[1] == 0 && order[2] == expected[1],
			"a zero course vector counts as dissimilar to every course");

	/* random vectors with cosines of both signs, against the direct rule */
	for (trial = 0; trial < 20 && ok; trial++)
	{
		int32_t		m = 60;
		int			g = 5;
		float	   *Z = malloc(sizeof(float) * 100 * g);
		int32_t    *cand = malloc(sizeof(int32_t) * m);
		float	   *rel = malloc(sizeof(float) * m);
		int32_t    *got = malloc(sizeof(int32_t) * m);
		int32_t    *want = malloc(sizeof(int32_t) * m);
		float		lambda = (float) (trial % 5) * 0.25f;
		int32_t		want_count;

		for (i = 0; i < 100 * g; i++)
			Z[i] = (float) (rng_unit() - 0.5);
		for (i = 0; i < m; i++)
		{
			cand[i] = (int32_t) (rng_unit() * 100);
			rel[i] = (float) (rng_unit() * 3 - 1);
		}
		want_count = reference_mmr(Z, g, cand, rel, m, 25, lambda, want);
		ok = kp_rerank_mmr(&kp_malloc_allocator, Z, 100, g, cand, rel, m, 25, lambda,
						   got, &count, NULL, NULL) == KP_OK &&
			count == want_count && memcmp(got, want, sizeof(int32_t) * count) == 0;
		free(Z);
		free(cand);
		free(rel);
		free(got);
		free(want);
	}
	unit_ok(ok, "20 random cases (repeated courses, diversity 0 .. 1) match the greedy rule");
}

static int
cancel_after(void *arg)
{
	int		   *calls = arg;

	return --*calls <= 0;
}

static void
test_failures(void)
{
	float		Y[4 * 2] = {1, 0, 0, 1, 1, 1, -1, 0};
	int32_t		candidates[3] = {0, 2, 3};
	int32_t		bad_candidates[3] = {0, 4, 3};
	float		relevance[3] = {1, 2, 3};
	float		nan_relevance[3] = {1, NAN, 3};
	int32_t		order[3];
	int32_t		count = 99;
	unit_counting counting = {0};
	kp_allocator alloc = unit_counting_allocator(&counting);
	int			calls = 2;
	int			at;
	int			ok = 1;

	unit_ok(kp_rerank_mmr(&kp_malloc_allocator, Y, 4, 2, candidates, relevance, 3, 0, 0.5f,
						  order, &count, NULL, NULL) == KP_OK && count == 0,
			"k = 0: nothing picked");
	unit_ok(kp_rerank_mmr(&kp_malloc_allocator, Y, 4, 2, candidates, relevance, 0, 5, 0.5f,
						  order, &count, NULL, NULL) == KP_OK && count == 0,
			"no candidates: nothing picked");
	unit_ok(kp_rerank_mmr(&kp_malloc_allocator, Y, 4, 2, bad_candidates, relevance, 3, 3, 0.5f,
						  order, &count, NULL, NULL) == KP_EINVAL &&
			kp_rerank_mmr(&kp_malloc_allocator, Y, 4, 2, candidates, nan_relevance, 3, 3, 0.5f,
						  order, &count, NULL, NULL) == KP_EINVAL &&
			kp_rerank_mmr(&kp_malloc_allocator, Y, 4, 2, candidates, relevance, 3, 3, 1.5f,
						  order, &count, NULL, NULL) == KP_EINVAL &&
			kp_rerank_mmr(&kp_malloc_allocator, Y, 4, 2, candidates, relevance, 3, 3, NAN,
						  order, &count, NULL, NULL) == KP_EINVAL &&
			kp_rerank_mmr(&kp_malloc_allocator, Y, 4, 2, candidates, relevance, 3, -1, 0.5f,
						  order, &count, NULL, NULL) == KP_EINVAL,
			"bad course index, NaN relevance, diversity outside [0, 1], negative k are rejected");
	Y[5] = INFINITY;
	unit_ok(kp_rerank_mmr(&kp_malloc_allocator, Y, 4, 2, candidates, relevance, 3, 3, 0.5f,
						  order, &count, NULL, NULL) == KP_EINVAL,
			"an infinite course vector value is rejected");
	Y[5] = 1;

	unit_ok(kp_rerank_mmr(&alloc, Y, 4, 2, candidates, relevance, 3, 3, 0.5f,
						  order, &count, cancel_after, &calls) == KP_ECANCELLED &&
			counting.live == 0 && count == 0,
			"cancelled between picks, nothing leaked");
	for (at = 1; at <= 3; at++)
	{
		counting = (unit_counting) {0};
		counting.fail_at = at;
		alloc = unit_counting_allocator(&counting);
		ok = ok && kp_rerank_mmr(&alloc, Y, 4, 2, candidates, relevance, 3, 3, 0.5f,
								 order, &count, NULL, NULL) == KP_ENOMEM && counting.live == 0;
	}
	unit_ok(ok && kp_rerank_bytes(3, 2) >= 3 * 16,
			"allocation failures give KP_ENOMEM, nothing leaked");
}

int
main(void)
{
	test_pure_relevance();
	test_spread();
	test_ties_and_reference();
	test_failures();
	return unit_done();
}
