/*
 * metrics.c -- ranking metrics and intra-list diversity; see kp_metrics.h
 * for the protocol (that of shared/bench/recbench.py).
 */
#include <math.h>
#include <stdlib.h>

#include "kp_metrics.h"

static int
is_strictly_increasing(const int64_t *ids, int32_t n)
{
	int32_t		k;

	for (k = 1; k < n; k++)
	{
		if (ids[k - 1] >= ids[k])
			return 0;
	}
	return 1;
}

static int
contains(const int64_t *ids, int32_t n, int sorted, int64_t id)
{
	int32_t		k;

	if (sorted)
	{
		int32_t		low = 0;
		int32_t		high = n;

		while (low < high)
		{
			int32_t		mid = low + (high - low) / 2;

			if (ids[mid] < id)
				low = mid + 1;
			else
				high = mid;
		}
		return low < n && ids[low] == id;
	}
	for (k = 0; k < n; k++)
	{
		if (ids[k] == id)
			return 1;
	}
	return 0;
}

/* 1/log2(rank + 1), the discount of a hit at 1-based rank. */
static double
discount(int32_t rank)
{
	return 1.0 / log2((double) rank + 1.0);
}

void
kp_rank_metrics_user(const int64_t *recs, int32_t n_recs, int32_t k,
					 const int64_t *relevant, int32_t n_relevant,
					 kp_rank_metrics *out)
{
	int			sorted;
	int32_t		rank = 0;
	int32_t		ideal_ranks;
	int32_t		hits = 0;
	double		dcg = 0.0;
	double		ideal = 0.0;
	double		precision_sum = 0.0;
	int32_t		t;
	int32_t		r;

	out->hits = 0;
	out->precision = 0.0;
	out->recall = 0.0;
	out->ndcg = 0.0;
	out->average_precision = 0.0;
	if (k < 1 || n_relevant < 1)
		return;

	sorted = is_strictly_increasing(relevant, n_relevant);
	for (t = 0; t < n_recs && rank < k; t++)
	{
		int			repeated = 0;
		int32_t		s;

		for (s = 0; s < t; s++)
		{
			if (recs[s] == recs[t])
			{
				repeated = 1;
				break;
			}
		}
		if (repeated)
			continue;
		rank++;
		if (contains(relevant, n_relevant, sorted, recs[t]))
		{
			hits++;
			dcg += discount(rank);
			precision_sum += (double) hits / rank;
		}
	}

	ideal_ranks = n_relevant < k ? n_relevant : k;
	for (r = 1; r <= ideal_ranks; r++)
		ideal += discount(r);

	out->hits = hits;
	out->precision = (double) hits / k;
	out->recall = (double) hits / n_relevant;
	out->ndcg = dcg / ideal;
	out->average_precision = precision_sum / ideal_ranks;
}

static int
compare_ids(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return x < y ? -1 : x > y;
}

int32_t
kp_sort_unique_ids(int64_t *ids, int32_t n)
{
	int32_t		kept = 0;
	int32_t		k;

	if (n < 1)
		return 0;
	qsort(ids, (size_t) n, sizeof(int64_t), compare_ids);
	for (k = 0; k < n; k++)
	{
		if (kept == 0 || ids[kept - 1] != ids[k])
			ids[kept++] = ids[k];
	}
	return kept;
}

double
kp_intra_list_diversity(const float *vectors, int32_t dim,
						const int32_t *rows, int32_t n,
						kp_interrupt_fn interrupt, void *interrupt_arg)
{
	double		total = 0.0;
	int32_t		a;
	int32_t		b;

	if (n < 2)
		return 0.0;
	for (a = 0; a < n; a++)
	{
		const float *va = vectors + (size_t) rows[a] * dim;

		if (interrupt != NULL && a % 64 == 0 && interrupt(interrupt_arg))
			return NAN;
		for (b = a + 1; b < n; b++)
		{
			const float *vb = vectors + (size_t) rows[b] * dim;
			double		dot = 0.0;
			double		norm_a = 0.0;
			double		norm_b = 0.0;
			double		cosine = 0.0;
			int32_t		d;

			for (d = 0; d < dim; d++)
			{
				dot += (double) va[d] * vb[d];
				norm_a += (double) va[d] * va[d];
				norm_b += (double) vb[d] * vb[d];
			}
			if (norm_a > 0.0 && norm_b > 0.0)
			{
				cosine = dot / (sqrt(norm_a) * sqrt(norm_b));
				/* rounding can step just outside [-1, 1] */
				if (cosine > 1.0)
					cosine = 1.0;
				else if (cosine < -1.0)
					cosine = -1.0;
			}
			total += 1.0 - cosine;
		}
	}
	return total / ((double) n * (n - 1) / 2.0);
}
