/*
 * test_fuzz_findings.c -- inputs the fuzz targets (fuzz/) found to break
 * an invariant, kept as regression tests; see docs/FUZZING.md.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kp_score.h"
#include "unit.h"

/* Top k by a full sort, ties to the lower row, NaN and -inf skipped. */
static int32_t
reference_topk(const float *F, int32_t n, int32_t f, const float *x, const bool *excluded,
			   int32_t k, int32_t *out_index, float *out_score)
{
	int32_t		count = 0;
	int32_t		row;

	for (row = 0; row < n; row++)
	{
		float		score = kp_dot(x, F + (size_t) row * f, f);
		int32_t		at;

		if (excluded[row] || !(score > -INFINITY))
			continue;
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

/* kp_score_topk gives exactly the reference for x over F. */
static int
topk_is_exact(const float *F, int32_t n, int32_t f, const float *x,
			  const int32_t *excluded, int32_t n_excluded, int32_t k)
{
	kp_qmatrix	Q;
	kp_score_scratch scratch;
	bool		is_excluded[64] = {false};
	int32_t		got_index[64];
	float		got_score[64];
	int32_t		want_index[64];
	float		want_score[64];
	int32_t		got;
	int32_t		want;
	int32_t		i;

	if (kp_qmatrix_build(&kp_malloc_allocator, F, n, f, &Q, NULL, NULL) != KP_OK ||
		kp_score_scratch_init(&kp_malloc_allocator, n, f, &scratch) != KP_OK)
		return 0;
	for (i = 0; i < n_excluded; i++)
		is_excluded[excluded[i]] = true;
	got = kp_score_topk(&Q, F, x, excluded, n_excluded, k, &scratch, got_index, got_score);
	want = reference_topk(F, n, f, x, is_excluded, k, want_index, want_score);
	kp_score_scratch_free(&kp_malloc_allocator, &scratch);
	kp_qmatrix_free(&kp_malloc_allocator, &Q);
	if (got != want)
		return 0;
	for (i = 0; i < got; i++)
		if (got_index[i] != want_index[i] || got_score[i] != want_score[i])
			return 0;
	return 1;
}

/*
 * fuzz_model: courses whose factors are subnormal (a model value can hold
 * them).  Quantising such a row divided by its tiny largest value, which
 * overflowed, and the bounds underflowed, so rows of the true top 4 were
 * pruned.
 */
static void
test_subnormal_factors(void)
{
	static const float items[18][2] = {
		{0.125f, 0.265625f}, {0.5f, 0.25f}, {0.25f, 0.5f}, {0.25f, 0.25f},
		{2.15239e-42f, 0}, {4.30479e-42f, 0}, {6.09845e-42f, 0}, {3.58732e-43f, 2.51113e-42f},
		{3.58732e-42f, 4.66352e-42f}, {5.73972e-42f, 6.09845e-42f}, {7.17465e-43f, 2.15239e-42f},
		{2.51113e-42f, 3.58732e-42f}, {4.30479e-42f, 4.66352e-42f}, {1.79366e-42f, 2.15239e-42f},
		{2.51113e-42f, 4.66352e-42f}, {5.73972e-42f, 0}, {2.51113e-41f, 0}, {2.76224e-41f, 0.5f},
	};
	static const float users[3][2] = {{0.5f, 0.25f}, {0.25f, 0.5f}, {0.25f, 2.32831e-10f}};
	static const int32_t seen[] = {0, 1, 2, 3, 17};
	/* a subnormal query over ordinary courses: its products underflow */
	static const float tiny_query[2] = {0x1.eap-139f, -0x1.26p-142f};
	static const float courses[30][2] = {
		{-0.952f, 0.31f}, {-0.368f, -0.959f}, {0.299f, 0.903f}, {0.036f, -0.545f},
		{-0.964f, -0.179f}, {0.384f, 0.108f}, {0.387f, 0.691f}, {-0.816f, 0.731f},
		{0.015f, 0.352f}, {0.564f, 0.713f}, {0.091f, 0.902f}, {-0.735f, 0.374f},
		{-0.007f, -0.177f}, {-0.935f, -0.282f}, {-0.496f, -0.068f}, {0.295f, -0.077f},
		{-0.889f, 0.807f}, {-0.625f, -0.72f}, {-0.552f, -0.455f}, {0.422f, -0.665f},
		{-0.365f, 0.474f}, {0.663f, 0.129f}, {0.59f, -0.787f}, {0.435f, 0.987f},
		{0.34f, 0.748f}, {0.439f, -0.858f}, {-0.06f, 0.286f}, {0.897f, 0.149f},
		{-0.798f, 0.09f}, {0.404f, -0.459f},
	};
	int			u;
	int			k;
	int			exact = 1;

	for (u = 0; u < 3; u++)
		for (k = 1; k <= 18; k++)
			exact &= topk_is_exact(&items[0][0], 18, 2, users[u], seen, 5, k) &
				topk_is_exact(&items[0][0], 18, 2, users[u], seen, 0, k);
	unit_ok(exact, "top-k over subnormal course factors is exact for every k");
	unit_ok(topk_is_exact(&items[4][0], 13, 2, users[0], seen, 0, 4),
			"... also when every course is tiny");
	unit_ok(topk_is_exact(&courses[0][0], 30, 2, tiny_query, seen, 0, 3),
			"a query with subnormal values over ordinary courses");
}

int
main(void)
{
	test_subnormal_factors();
	return unit_done();
}
