/*
 * rerank.c -- maximal marginal relevance; see kp_rerank.h.
 *
 * Carbonell & Goldstein, "The Use of MMR, Diversity-Based Reranking for
 * Reordering Documents and Producing Summaries", SIGIR 1998.  Each
 * candidate keeps its largest cosine to the courses picked so far, updated
 * with one dot product per pick, so k picks cost O(k·n·dims).
 */
#include <math.h>
#include <string.h>

#include "kp_rerank.h"

size_t
kp_rerank_bytes(int32_t n_candidates, int32_t dims)
{
	size_t		n = n_candidates > 0 ? (size_t) n_candidates : 0;

	(void) dims;
	/* norms, largest cosines, picked flags; n < 2^31 cannot overflow */
	return n * (2 * sizeof(double) + 1);
}

static double
dot_double(const float *a, const float *b, int32_t n)
{
	double		sum = 0.0;
	int32_t		j;

	for (j = 0; j < n; j++)
		sum += (double) a[j] * b[j];
	return sum;
}

kp_status
kp_rerank_mmr(const kp_allocator *alloc, const float *item_vectors,
			  int32_t n_items, int32_t dims, const int32_t *candidates,
			  const float *relevance, int32_t n_candidates, int32_t k,
			  float diversity, int32_t *out_order, int32_t *out_count,
			  kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		n = n_candidates;
	double		lambda = diversity;
	double		low = INFINITY;
	double		high = -INFINITY;
	double	   *norms;
	double	   *max_cosine;
	char	   *picked;
	int32_t		count;
	int32_t		i;

	*out_count = 0;
	if (dims < 1 || n_items < 0 || n < 0 || k < 0 ||
		!(diversity >= 0.0f && diversity <= 1.0f))
		return KP_EINVAL;
	for (i = 0; i < n; i++)
	{
		const float *y;
		int32_t		j;

		if (candidates[i] < 0 || candidates[i] >= n_items || !isfinite(relevance[i]))
			return KP_EINVAL;
		y = item_vectors + (size_t) candidates[i] * dims;
		for (j = 0; j < dims; j++)
			if (!isfinite(y[j]))
				return KP_EINVAL;
		if (relevance[i] < low)
			low = relevance[i];
		if (relevance[i] > high)
			high = relevance[i];
	}
	count = k < n ? k : n;
	if (count == 0)
		return KP_OK;

	norms = kp_alloc(alloc, (size_t) n * sizeof(double));
	max_cosine = kp_alloc(alloc, (size_t) n * sizeof(double));
	picked = kp_alloc(alloc, (size_t) n);
	if (!norms || !max_cosine || !picked)
	{
		kp_free(alloc, norms);
		kp_free(alloc, max_cosine);
		kp_free(alloc, picked);
		return KP_ENOMEM;
	}
	memset(picked, 0, (size_t) n);
	for (i = 0; i < n; i++)
	{
		const float *y = item_vectors + (size_t) candidates[i] * dims;

		norms[i] = sqrt(dot_double(y, y, dims));
		max_cosine[i] = -INFINITY;
	}

	for (*out_count = 0; *out_count < count; (*out_count)++)
	{
		int32_t		best = -1;
		double		best_value = 0.0;
		const float *last;

		if (interrupt && interrupt(interrupt_arg))
		{
			kp_free(alloc, norms);
			kp_free(alloc, max_cosine);
			kp_free(alloc, picked);
			*out_count = 0;
			return KP_ECANCELLED;
		}
		for (i = 0; i < n; i++)
		{
			double		rel = high > low ? (relevance[i] - low) / (high - low) : 1.0;
			double		similarity = *out_count > 0 ? max_cosine[i] : 0.0;
			double		value = (1.0 - lambda) * rel - lambda * similarity;

			if (picked[i])
				continue;
			/* positions ascend, so a later candidate wins only strictly */
			if (best < 0 || value > best_value ||
				(value == best_value && relevance[i] > relevance[best]))
			{
				best = i;
				best_value = value;
			}
		}
		out_order[*out_count] = best;
		picked[best] = 1;

		last = item_vectors + (size_t) candidates[best] * dims;
		for (i = 0; i < n; i++)
		{
			double		cosine = 0.0;

			if (picked[i])
				continue;
			if (norms[i] > 0.0 && norms[best] > 0.0)
				cosine = dot_double(item_vectors + (size_t) candidates[i] * dims, last, dims) /
					(norms[i] * norms[best]);
			if (cosine > max_cosine[i])
				max_cosine[i] = cosine;
		}
	}

	kp_free(alloc, norms);
	kp_free(alloc, max_cosine);
	kp_free(alloc, picked);
	return KP_OK;
}
