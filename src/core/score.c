/*
 * score.c -- exact top-k by inner product with an int8 pruning pass; see
 * kp_score.h for the bound that makes the pruning exact.
 */
#include <math.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "kp_score.h"
#include "kp_topk.h"

/* Rounding of the approximate pass is far below 1% of the bound. */
#define BOUND_SLACK 1.01f

static int32_t
block_count(int32_t n_rows)
{
	return (n_rows + KP_SCORE_BLOCK - 1) / KP_SCORE_BLOCK;
}

size_t
kp_qmatrix_bytes(int32_t n_rows, int32_t n_cols)
{
	size_t		padded = (size_t) block_count(n_rows) * KP_SCORE_BLOCK;

	return padded * (size_t) n_cols + padded * sizeof(float);
}

kp_status
kp_qmatrix_build(const kp_allocator *alloc, const float *F,
				 int32_t n_rows, int32_t n_cols, kp_qmatrix *out)
{
	size_t		padded;
	size_t		code_bytes;
	int32_t		i;
	int32_t		k;

	memset(out, 0, sizeof(*out));
	if (n_rows < 0 || n_cols < 1)
		return KP_EINVAL;
	padded = (size_t) block_count(n_rows) * KP_SCORE_BLOCK;
	if (!kp_mul_size(padded, (size_t) n_cols, &code_bytes))
		return KP_ENOMEM;
	out->codes = kp_alloc(alloc, code_bytes);
	out->scales = kp_alloc(alloc, padded * sizeof(float));
	if (out->codes == NULL || out->scales == NULL)
	{
		kp_qmatrix_free(alloc, out);
		return KP_ENOMEM;
	}
	memset(out->codes, 0, code_bytes);
	memset(out->scales, 0, padded * sizeof(float));
	out->n_rows = n_rows;
	out->n_cols = n_cols;

	for (i = 0; i < n_rows; i++)
	{
		const float *row = F + (size_t) i * n_cols;
		int8_t	   *block = out->codes + (size_t) (i / KP_SCORE_BLOCK) * n_cols * KP_SCORE_BLOCK;
		float		max_abs = 0;
		float		inverse;

		for (k = 0; k < n_cols; k++)
			if (fabsf(row[k]) > max_abs)
				max_abs = fabsf(row[k]);
		out->scales[i] = max_abs / 127.0f;
		inverse = max_abs > 0 ? 127.0f / max_abs : 0;
		for (k = 0; k < n_cols; k++)
		{
			long		code = lrintf(row[k] * inverse);

			if (code > 127)
				code = 127;
			else if (code < -127)
				code = -127;
			block[(size_t) k * KP_SCORE_BLOCK + i % KP_SCORE_BLOCK] = (int8_t) code;
		}
	}
	return KP_OK;
}

void
kp_qmatrix_free(const kp_allocator *alloc, kp_qmatrix *q)
{
	kp_free(alloc, q->codes);
	kp_free(alloc, q->scales);
	memset(q, 0, sizeof(*q));
}

float
kp_dot(const float *x, const float *y, int32_t n)
{
	float		lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	float		tail = 0;
	int32_t		k = 0;
	int			j;

	for (; k + 8 <= n; k += 8)
		for (j = 0; j < 8; j++)
			lanes[j] += x[k + j] * y[k + j];
	for (; k < n; k++)
		tail += x[k] * y[k];
	return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
		((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) + tail;
}

kp_status
kp_score_scratch_init(const kp_allocator *alloc, int32_t n_rows, kp_score_scratch *scratch)
{
	size_t		padded = (size_t) block_count(n_rows) * KP_SCORE_BLOCK;
	size_t		rows = n_rows > 0 ? (size_t) n_rows : 1;

	scratch->lower = kp_alloc(alloc, padded * sizeof(float));
	scratch->candidates = kp_alloc(alloc, rows * sizeof(int32_t));
	scratch->candidate_scores = kp_alloc(alloc, rows * sizeof(float));
	scratch->heap_index = kp_alloc(alloc, rows * sizeof(int32_t));
	scratch->heap_score = kp_alloc(alloc, rows * sizeof(float));
	if (!scratch->lower || !scratch->candidates || !scratch->candidate_scores ||
		!scratch->heap_index || !scratch->heap_score)
	{
		kp_score_scratch_free(alloc, scratch);
		return KP_ENOMEM;
	}
	return KP_OK;
}

void
kp_score_scratch_free(const kp_allocator *alloc, kp_score_scratch *scratch)
{
	kp_free(alloc, scratch->lower);
	kp_free(alloc, scratch->candidates);
	kp_free(alloc, scratch->candidate_scores);
	kp_free(alloc, scratch->heap_index);
	kp_free(alloc, scratch->heap_score);
	memset(scratch, 0, sizeof(*scratch));
}

/*
 * lower[j] = s_j·(Σ_k x[k]·codes[k][j] − ‖x‖₁/2) for the 16 rows of one
 * block.  Compilers do not vectorise the int8 → float widening well, hence
 * the intrinsics, with independent sums so that the multiply-adds do not
 * wait on each other; the portable loop computes the same bound.
 */
static void
block_lower_bounds(const int8_t *block, const float *x, int32_t n_cols,
				   const float *scales, float half_l1, float *lower)
{
	int32_t		k = 0;
#if defined(__AVX512F__)
	__m512		sum0 = _mm512_setzero_ps();
	__m512		sum1 = _mm512_setzero_ps();
	__m512		sum2 = _mm512_setzero_ps();
	__m512		sum3 = _mm512_setzero_ps();

#define KP_CODES512(kk) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *) (block + (size_t) (kk) * KP_SCORE_BLOCK))))
	for (; k + 4 <= n_cols; k += 4)
	{
		sum0 = _mm512_fmadd_ps(_mm512_set1_ps(x[k]), KP_CODES512(k), sum0);
		sum1 = _mm512_fmadd_ps(_mm512_set1_ps(x[k + 1]), KP_CODES512(k + 1), sum1);
		sum2 = _mm512_fmadd_ps(_mm512_set1_ps(x[k + 2]), KP_CODES512(k + 2), sum2);
		sum3 = _mm512_fmadd_ps(_mm512_set1_ps(x[k + 3]), KP_CODES512(k + 3), sum3);
	}
	for (; k < n_cols; k++)
		sum0 = _mm512_fmadd_ps(_mm512_set1_ps(x[k]), KP_CODES512(k), sum0);
#undef KP_CODES512
	sum0 = _mm512_add_ps(_mm512_add_ps(sum0, sum1), _mm512_add_ps(sum2, sum3));
	_mm512_storeu_ps(lower, _mm512_mul_ps(_mm512_loadu_ps(scales),
										  _mm512_sub_ps(sum0, _mm512_set1_ps(half_l1))));
#elif defined(__AVX2__)
	__m256		low0 = _mm256_setzero_ps();
	__m256		low1 = _mm256_setzero_ps();
	__m256		high0 = _mm256_setzero_ps();
	__m256		high1 = _mm256_setzero_ps();

#define KP_CODES256(kk, half) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *) (block + (size_t) (kk) * KP_SCORE_BLOCK + 8 * (half)))))
	for (; k + 2 <= n_cols; k += 2)
	{
		__m256		x0 = _mm256_set1_ps(x[k]);
		__m256		x1 = _mm256_set1_ps(x[k + 1]);

		low0 = _mm256_fmadd_ps(x0, KP_CODES256(k, 0), low0);
		high0 = _mm256_fmadd_ps(x0, KP_CODES256(k, 1), high0);
		low1 = _mm256_fmadd_ps(x1, KP_CODES256(k + 1, 0), low1);
		high1 = _mm256_fmadd_ps(x1, KP_CODES256(k + 1, 1), high1);
	}
	for (; k < n_cols; k++)
	{
		__m256		x0 = _mm256_set1_ps(x[k]);

		low0 = _mm256_fmadd_ps(x0, KP_CODES256(k, 0), low0);
		high0 = _mm256_fmadd_ps(x0, KP_CODES256(k, 1), high0);
	}
#undef KP_CODES256
	_mm256_storeu_ps(lower, _mm256_mul_ps(_mm256_loadu_ps(scales),
										  _mm256_sub_ps(_mm256_add_ps(low0, low1), _mm256_set1_ps(half_l1))));
	_mm256_storeu_ps(lower + 8, _mm256_mul_ps(_mm256_loadu_ps(scales + 8),
											  _mm256_sub_ps(_mm256_add_ps(high0, high1), _mm256_set1_ps(half_l1))));
#else
	float		acc[KP_SCORE_BLOCK];
	int			j;

	for (j = 0; j < KP_SCORE_BLOCK; j++)
		acc[j] = 0;
	for (; k < n_cols; k++)
	{
		const int8_t *codes = block + (size_t) k * KP_SCORE_BLOCK;

		for (j = 0; j < KP_SCORE_BLOCK; j++)
			acc[j] += x[k] * (float) codes[j];
	}
	for (j = 0; j < KP_SCORE_BLOCK; j++)
		lower[j] = scales[j] * (acc[j] - half_l1);
#endif
}

/*
 * Bit j set when row j of the block may still make the top k: not excluded
 * (lower bound -inf) and upper bound lower + 2·s_j·‖x‖₁/2 >= threshold.
 */
static uint32_t
block_candidates(const float *lower, const float *scales, float width, float threshold)
{
#if defined(__AVX512F__)
	__m512		low = _mm512_loadu_ps(lower);
	__m512		upper = _mm512_fmadd_ps(_mm512_loadu_ps(scales), _mm512_set1_ps(width), low);

	return _mm512_cmp_ps_mask(low, _mm512_set1_ps(-INFINITY), _CMP_GT_OQ) &
		_mm512_cmp_ps_mask(upper, _mm512_set1_ps(threshold), _CMP_GE_OQ);
#else
	uint32_t	mask = 0;
	int			j;

	for (j = 0; j < KP_SCORE_BLOCK; j++)
		if (lower[j] > -INFINITY && lower[j] + scales[j] * width >= threshold)
			mask |= 1u << j;
	return mask;
#endif
}

/* lower[i] = a_i − b_i for every row, one block of 16 rows at a time. */
static void
approximate_lower_bounds(const kp_qmatrix *Q, const float *x, float half_l1, float *lower)
{
	int32_t		n_blocks = block_count(Q->n_rows);
	int32_t		b;

	for (b = 0; b < n_blocks; b++)
		block_lower_bounds(Q->codes + (size_t) b * Q->n_cols * KP_SCORE_BLOCK, x, Q->n_cols,
						   Q->scales + (size_t) b * KP_SCORE_BLOCK, half_l1,
						   lower + (size_t) b * KP_SCORE_BLOCK);
}

int32_t
kp_score_topk(const kp_qmatrix *Q, const float *F, const float *x,
			  const int32_t *excluded, int64_t n_excluded, int32_t k,
			  kp_score_scratch *scratch, int32_t *out_index, float *out_score)
{
	int32_t		n = Q->n_rows;
	int32_t		f = Q->n_cols;
	float		half_l1 = 0;
	float		threshold = -INFINITY;
	int32_t		n_candidates = 0;
	int32_t		selected;
	int32_t		i;
	int64_t		e;

	if (k <= 0 || n <= 0)
		return 0;
	for (i = 0; i < f; i++)
		half_l1 += fabsf(x[i]);
	half_l1 *= 0.5f * BOUND_SLACK;

	approximate_lower_bounds(Q, x, half_l1, scratch->lower);
	for (e = 0; e < n_excluded; e++)
		if (excluded[e] >= 0 && excluded[e] < n)
			scratch->lower[excluded[e]] = -INFINITY;

	/* The k-th best lower bound: no row whose upper bound is below it can win. */
	if (kp_topk(scratch->lower, n, k, scratch->heap_index, scratch->heap_score) == k)
		threshold = scratch->heap_score[k - 1];

	for (i = 0; i < n; i += KP_SCORE_BLOCK)
	{
		uint32_t	mask = block_candidates(scratch->lower + i, Q->scales + i,
											2.0f * half_l1, threshold);

		while (mask != 0)
		{
			int32_t		row = i + __builtin_ctz(mask);

			mask &= mask - 1;
			if (row >= n)
				break;
			scratch->candidates[n_candidates] = row;
			scratch->candidate_scores[n_candidates] = kp_dot(x, F + (size_t) row * f, f);
			n_candidates++;
		}
	}

	selected = kp_topk(scratch->candidate_scores, n_candidates, k,
					   scratch->heap_index, scratch->heap_score);
	for (i = 0; i < selected; i++)
	{
		out_index[i] = scratch->candidates[scratch->heap_index[i]];
		out_score[i] = scratch->heap_score[i];
	}
	return selected;
}
