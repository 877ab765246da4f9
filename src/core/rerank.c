/*
 * rerank.c -- maximal marginal relevance; see kp_rerank.h.
 *
 * Carbonell & Goldstein, "The Use of MMR, Diversity-Based Reranking for
 * Reordering Documents and Producing Summaries", SIGIR 1998.  The
 * candidates' unit vectors are copied into the columns of a matrix first,
 * so that the cosines of one pick with every candidate are one vectorised
 * pass per dimension; each candidate keeps its largest
 * cosine to the courses picked so far, updated with one dot product per
 * pick, so k picks cost O(k·n·dims).
 */
#include <math.h>
#include <string.h>

#include "kp_rerank.h"

/* Columns of the unit-vector matrix come in whole chunks of this many. */
#define COLUMN_CHUNK 16

static size_t
padded_columns(int32_t n)
{
	return ((size_t) n + COLUMN_CHUNK - 1) / COLUMN_CHUNK * COLUMN_CHUNK;
}

size_t
kp_rerank_bytes(int32_t n_candidates, int32_t dims)
{
	size_t		n = n_candidates > 0 ? (size_t) n_candidates : 0;
	size_t		vectors;

	if (dims < 1 || !kp_mul_size(padded_columns(n_candidates > 0 ? n_candidates : 0),
								 (size_t) dims * sizeof(double), &vectors))
		return SIZE_MAX;
	/* unit vectors, rescaled relevance, cosines, largest cosines, picked flags */
	return vectors + (n + COLUMN_CHUNK) * (3 * sizeof(double) + 1);
}

typedef struct mmr_work
{
	double	   *unit;			/* dims × stride: column i is candidate i's unit vector */
	double	   *rel;			/* relevance rescaled to [0, 1] */
	double	   *cosine;			/* with the latest pick */
	double	   *max_cosine;		/* with any pick so far */
	char	   *picked;
} mmr_work;

static void
mmr_work_free(const kp_allocator *alloc, mmr_work *w)
{
	kp_free(alloc, w->unit);
	kp_free(alloc, w->rel);
	kp_free(alloc, w->cosine);
	kp_free(alloc, w->max_cosine);
	kp_free(alloc, w->picked);
}

/* ‖y‖² in double, with eight independent sums (no chain of dependent adds). */
static double
squared_norm(const float *y, int32_t dims)
{
	double		lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	double		tail = 0.0;
	int32_t		d = 0;
	int			l;

	for (; d + 8 <= dims; d += 8)
		for (l = 0; l < 8; l++)
			lanes[l] += (double) y[d + l] * y[d + l];
	for (; d < dims; d++)
		tail += (double) y[d] * y[d];
	return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
		((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) + tail;
}

/*
 * cosine[i] = unit_i · unit_best for every column of unit (dims × stride):
 * per chunk of columns, sums that stay in vector registers over all
 * dimensions.
 */
static void
cosines_with(const double *unit, size_t stride, int32_t dims, int32_t best, double *cosine)
{
	size_t		first;

	for (first = 0; first < stride; first += COLUMN_CHUNK)
	{
		double		sum[COLUMN_CHUNK];
		int32_t		d;
		int			j;

		for (j = 0; j < COLUMN_CHUNK; j++)
			sum[j] = 0.0;
		for (d = 0; d < dims; d++)
		{
			const double *row = unit + (size_t) d * stride;
			double		b = row[best];

			for (j = 0; j < COLUMN_CHUNK; j++)
				sum[j] += row[first + j] * b;
		}
		for (j = 0; j < COLUMN_CHUNK; j++)
			cosine[first + j] = sum[j];
	}
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
	size_t		stride;
	size_t		unit_bytes;
	mmr_work	w;
	int32_t		count;
	int32_t		i;

	*out_count = 0;
	if (dims < 1 || n_items < 0 || n < 0 || k < 0 ||
		!(diversity >= 0.0f && diversity <= 1.0f))
		return KP_EINVAL;
	for (i = 0; i < n; i++)
	{
		if (candidates[i] < 0 || candidates[i] >= n_items || !isfinite(relevance[i]))
			return KP_EINVAL;
		if (relevance[i] < low)
			low = relevance[i];
		if (relevance[i] > high)
			high = relevance[i];
	}
	count = k < n ? k : n;
	if (count == 0)
		return KP_OK;
	stride = padded_columns(n);
	if (!kp_mul_size(stride, (size_t) dims * sizeof(double), &unit_bytes))
		return KP_ENOMEM;

	w.unit = kp_alloc(alloc, unit_bytes);
	w.rel = kp_alloc(alloc, (size_t) n * sizeof(double));
	w.cosine = kp_alloc(alloc, stride * sizeof(double));
	w.max_cosine = kp_alloc(alloc, (size_t) n * sizeof(double));
	w.picked = kp_alloc(alloc, (size_t) n);
	if (!w.unit || !w.rel || !w.cosine || !w.max_cosine || !w.picked)
	{
		mmr_work_free(alloc, &w);
		return KP_ENOMEM;
	}
	memset(w.picked, 0, (size_t) n);
	memset(w.unit, 0, unit_bytes);
	for (i = 0; i < n; i++)
	{
		const float *y = item_vectors + (size_t) candidates[i] * dims;
		double		squares = squared_norm(y, dims);
		double		inverse;
		int32_t		d;

		if (!isfinite(squares))
		{
			mmr_work_free(alloc, &w);
			return KP_EINVAL;
		}
		/* a zero vector stays zero: cosine 0 with everything */
		inverse = squares > 0.0 ? 1.0 / sqrt(squares) : 0.0;
		for (d = 0; d < dims; d++)
			w.unit[(size_t) d * stride + i] = y[d] * inverse;
		w.rel[i] = high > low ? (relevance[i] - low) / (high - low) : 1.0;
		w.max_cosine[i] = 0.0;
	}

	for (*out_count = 0; *out_count < count; (*out_count)++)
	{
		int32_t		best = -1;
		double		best_value = 0.0;

		if (interrupt && interrupt(interrupt_arg))
		{
			mmr_work_free(alloc, &w);
			*out_count = 0;
			return KP_ECANCELLED;
		}
		for (i = 0; i < n; i++)
		{
			double		value = (1.0 - lambda) * w.rel[i] - lambda * w.max_cosine[i];

			if (w.picked[i])
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
		w.picked[best] = 1;

		cosines_with(w.unit, stride, dims, best, w.cosine);
		for (i = 0; i < n; i++)
			if (*out_count == 0 || w.cosine[i] > w.max_cosine[i])
				w.max_cosine[i] = w.cosine[i];
	}

	mmr_work_free(alloc, &w);
	return KP_OK;
}
