/*
 * fuzz.h -- helpers shared by the libFuzzer targets in fuzz/.
 */
#ifndef KP_FUZZ_H
#define KP_FUZZ_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_core.h"
#include "kp_score.h"

/* An invariant; a failure is a finding, so libFuzzer must see a crash. */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/* Larger requests get NULL: the sanitizers would abort on them instead. */
#define FUZZ_MAX_ALLOCATION ((size_t) 256 << 20)

/* Allocator that counts live blocks and fails the fail_at-th request. */
typedef struct fuzz_allocator
{
	kp_allocator base;
	size_t		live;
	size_t		calls;
	size_t		fail_at;		/* 1-based; 0 = never */
} fuzz_allocator;

static inline void *
fuzz_alloc(void *ctx, size_t size)
{
	fuzz_allocator *a = ctx;
	void	   *block;

	a->calls++;
	if ((a->fail_at != 0 && a->calls == a->fail_at) || size > FUZZ_MAX_ALLOCATION)
		return NULL;
	block = malloc(size);
	if (block != NULL)
		a->live++;
	return block;
}

static inline void
fuzz_release(void *ctx, void *ptr)
{
	fuzz_allocator *a = ctx;

	FUZZ_CHECK(a->live > 0);
	a->live--;
	free(ptr);
}

static inline void
fuzz_allocator_init(fuzz_allocator *a, size_t fail_at)
{
	memset(a, 0, sizeof(*a));
	a->base.alloc = fuzz_alloc;
	a->base.release = fuzz_release;
	a->base.ctx = a;
	a->fail_at = fail_at;
}

/*
 * The top k rows of F (n × f) by kp_dot with x, best first, ties to the
 * lower row, skipping excluded rows and scores that are NaN or -inf (as
 * kp_topk does), by plain selection: what kp_score_topk must return.
 */
static inline int32_t
fuzz_reference_topk(const float *F, int32_t n, int32_t f, const float *x,
					const bool *excluded, int32_t k, int32_t *out_index, float *out_score)
{
	int32_t		count = 0;
	int32_t		row;

	for (row = 0; row < n; row++)
	{
		float		score;
		int32_t		at;

		if (excluded[row])
			continue;
		score = kp_dot(x, F + (size_t) row * f, f);
		if (!(score > -INFINITY))
			continue;
		/* earlier rows win ties, so a new row goes after equal scores */
		for (at = count; at > 0 && out_score[at - 1] < score; at--)
			;
		if (at >= k)
			continue;
		if (count < k)
			count++;
		memmove(out_index + at + 1, out_index + at, (size_t) (count - 1 - at) * sizeof(int32_t));
		memmove(out_score + at + 1, out_score + at, (size_t) (count - 1 - at) * sizeof(float));
		out_index[at] = row;
		out_score[at] = score;
	}
	return count;
}

/*
 * kp_score_topk over (Q, F) for x, excluding the given rows, must return
 * exactly what fuzz_reference_topk returns.
 */
static inline void
fuzz_check_topk(const kp_qmatrix *Q, const float *F, const float *x,
				const int32_t *excluded, int64_t n_excluded, int32_t k,
				kp_score_scratch *scratch)
{
	int32_t		n = Q->n_rows;
	int32_t		f = Q->n_cols;
	bool	   *is_excluded = calloc((size_t) n + 1, sizeof(bool));
	int32_t    *got_index = malloc(((size_t) k + 1) * sizeof(int32_t));
	float	   *got_score = malloc(((size_t) k + 1) * sizeof(float));
	int32_t    *want_index = malloc(((size_t) k + 1) * sizeof(int32_t));
	float	   *want_score = malloc(((size_t) k + 1) * sizeof(float));
	int32_t		got;
	int32_t		want;
	int32_t		i;
	int64_t		e;

	FUZZ_CHECK(is_excluded && got_index && got_score && want_index && want_score);
	for (e = 0; e < n_excluded; e++)
		if (excluded[e] >= 0 && excluded[e] < n)
			is_excluded[excluded[e]] = true;
	got = kp_score_topk(Q, F, x, excluded, n_excluded, k, scratch, got_index, got_score);
	want = fuzz_reference_topk(F, n, f, x, is_excluded, k, want_index, want_score);
	if (got != want)
		fprintf(stderr, "top-%d: %d rows, expected %d\n", (int) k, (int) got, (int) want);
	FUZZ_CHECK(got == want);
	for (i = 0; i < got; i++)
	{
		if (got_index[i] != want_index[i])
			fprintf(stderr, "top-%d rank %d: row %d (%g), expected row %d (%g)\n", (int) k, (int) i,
					(int) got_index[i], (double) got_score[i], (int) want_index[i], (double) want_score[i]);
		FUZZ_CHECK(got_index[i] == want_index[i]);
		FUZZ_CHECK(memcmp(&got_score[i], &want_score[i], sizeof(float)) == 0);
	}
	/* the scratch must be clean for the next call */
	for (i = 0; i < (n + KP_SCORE_BLOCK - 1) / KP_SCORE_BLOCK; i++)
		FUZZ_CHECK(scratch->excluded_lanes[i] == 0);
	free(is_excluded);
	free(got_index);
	free(got_score);
	free(want_index);
	free(want_score);
}

#endif							/* KP_FUZZ_H */
