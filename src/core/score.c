/*
 * score.c -- exact top-k by inner product with an int8 pruning pass; see
 * kp_score.h for the bound that makes the pruning exact.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "kp_score.h"
#include "kp_topk.h"

/* Rounding of the approximate pass is far below 1% of the bound. */
#define BOUND_SLACK 1.01f

/* Below this, products and norms in the bounds can underflow (see kp_score.h). */
#define TINY_VALUE 0x1p-40f

static int32_t
block_count(int32_t n_rows)
{
	return (n_rows + KP_SCORE_BLOCK - 1) / KP_SCORE_BLOCK;
}

size_t
kp_qmatrix_bytes(int32_t n_rows, int32_t n_cols)
{
	size_t		padded = (size_t) block_count(n_rows) * KP_SCORE_BLOCK;

	return padded * (size_t) n_cols + padded * sizeof(float) +
		(size_t) block_count(n_rows) * sizeof(float) + 2 * (size_t) n_rows * sizeof(int32_t);
}

typedef struct row_norm
{
	float		norm;
	int32_t		row;
} row_norm;

/* Longest first; equal lengths keep row order, so the layout is deterministic. */
static int
by_norm_descending(const void *a, const void *b)
{
	const row_norm *ra = a;
	const row_norm *rb = b;

	if (ra->norm != rb->norm)
		return ra->norm > rb->norm ? -1 : 1;
	return ra->row < rb->row ? -1 : (ra->row > rb->row);
}

/* Codes of row `row` of F into position `pos`; returns the row's scale. */
static float
quantise_row(const float *row, int32_t n_cols, int8_t *block, int32_t lane)
{
	float		max_abs = 0;
	float		inverse;
	int32_t		k;

	for (k = 0; k < n_cols; k++)
		if (fabsf(row[k]) > max_abs)
			max_abs = fabsf(row[k]);
	inverse = max_abs > 0 ? 127.0f / max_abs : 0;
	for (k = 0; k < n_cols; k++)
	{
		long		code = lrintf(row[k] * inverse);

		if (code > 127)
			code = 127;
		else if (code < -127)
			code = -127;
		block[(size_t) k * KP_SCORE_BLOCK + lane] = (int8_t) code;
	}
	return max_abs / 127.0f;
}

/* Rows quantised between interrupt checks. */
#define ROWS_PER_CHECK 65536

kp_status
kp_qmatrix_build(const kp_allocator *alloc, const float *F,
				 int32_t n_rows, int32_t n_cols, kp_qmatrix *out,
				 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		n_blocks;
	size_t		padded;
	size_t		code_bytes;
	row_norm   *norms;
	int32_t		pos;

	memset(out, 0, sizeof(*out));
	if (n_rows < 0 || n_cols < 1)
		return KP_EINVAL;
	n_blocks = block_count(n_rows);
	padded = (size_t) n_blocks * KP_SCORE_BLOCK;
	if (!kp_mul_size(padded, (size_t) n_cols, &code_bytes))
		return KP_ENOMEM;
	out->codes = kp_alloc(alloc, code_bytes);
	out->scales = kp_alloc(alloc, padded * sizeof(float));
	out->block_max_norm = kp_alloc(alloc, (size_t) n_blocks * sizeof(float));
	out->row_at = kp_alloc(alloc, (size_t) n_rows * sizeof(int32_t));
	out->position_of = kp_alloc(alloc, (size_t) n_rows * sizeof(int32_t));
	norms = kp_alloc(alloc, (size_t) n_rows * sizeof(row_norm));
	if (!out->codes || !out->scales || !out->block_max_norm || !out->row_at ||
		!out->position_of || !norms)
	{
		kp_free(alloc, norms);
		kp_qmatrix_free(alloc, out);
		return KP_ENOMEM;
	}
	memset(out->codes, 0, code_bytes);
	memset(out->scales, 0, padded * sizeof(float));
	memset(out->block_max_norm, 0, (size_t) n_blocks * sizeof(float));
	out->n_rows = n_rows;
	out->n_cols = n_cols;

	for (pos = 0; pos < n_rows; pos++)
	{
		const float *row = F + (size_t) pos * n_cols;

		if (pos % ROWS_PER_CHECK == 0 && interrupt != NULL && interrupt(interrupt_arg))
			goto cancelled;

		norms[pos].norm = sqrtf(kp_dot(row, row, n_cols));
		norms[pos].row = pos;
	}
	qsort(norms, (size_t) n_rows, sizeof(row_norm), by_norm_descending);

	for (pos = 0; pos < n_rows; pos++)
	{
		int32_t		row = norms[pos].row;
		int32_t		block = pos / KP_SCORE_BLOCK;

		if (pos % ROWS_PER_CHECK == 0 && interrupt != NULL && interrupt(interrupt_arg))
			goto cancelled;

		out->row_at[pos] = row;
		out->position_of[row] = pos;
		out->scales[pos] = quantise_row(F + (size_t) row * n_cols, n_cols,
										out->codes + (size_t) block * n_cols * KP_SCORE_BLOCK,
										pos % KP_SCORE_BLOCK);
		if (norms[pos].norm > out->block_max_norm[block])
			out->block_max_norm[block] = norms[pos].norm;
		if (out->scales[pos] > 0 && out->scales[pos] * 127.0f < TINY_VALUE)
			out->n_tiny_rows++;
	}
	kp_free(alloc, norms);
	return KP_OK;

cancelled:
	kp_free(alloc, norms);
	kp_qmatrix_free(alloc, out);
	return KP_ECANCELLED;
}

void
kp_qmatrix_free(const kp_allocator *alloc, kp_qmatrix *q)
{
	kp_free(alloc, q->codes);
	kp_free(alloc, q->scales);
	kp_free(alloc, q->block_max_norm);
	kp_free(alloc, q->row_at);
	kp_free(alloc, q->position_of);
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

	memset(scratch, 0, sizeof(*scratch));
	scratch->lower = kp_alloc(alloc, padded * sizeof(float));
	scratch->excluded_lanes = kp_alloc(alloc, (size_t) block_count(n_rows) * sizeof(uint16_t) + 1);
	scratch->bound_heap = kp_alloc(alloc, rows * sizeof(float));
	scratch->candidates = kp_alloc(alloc, rows * sizeof(int32_t));
	scratch->candidate_scores = kp_alloc(alloc, rows * sizeof(float));
	scratch->heap_index = kp_alloc(alloc, rows * sizeof(int32_t));
	scratch->heap_score = kp_alloc(alloc, rows * sizeof(float));
	if (!scratch->lower || !scratch->excluded_lanes || !scratch->bound_heap || !scratch->candidates ||
		!scratch->candidate_scores || !scratch->heap_index || !scratch->heap_score)
	{
		kp_score_scratch_free(alloc, scratch);
		return KP_ENOMEM;
	}
	memset(scratch->excluded_lanes, 0, (size_t) block_count(n_rows) * sizeof(uint16_t));
	return KP_OK;
}

void
kp_score_scratch_free(const kp_allocator *alloc, kp_score_scratch *scratch)
{
	kp_free(alloc, scratch->lower);
	kp_free(alloc, scratch->excluded_lanes);
	kp_free(alloc, scratch->bound_heap);
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

/* Bit j set when lower[j] > threshold. */
static uint32_t
block_above(const float *lower, float threshold)
{
#if defined(__AVX512F__)
	return _mm512_cmp_ps_mask(_mm512_loadu_ps(lower), _mm512_set1_ps(threshold), _CMP_GT_OQ);
#else
	uint32_t	mask = 0;
	int			j;

	for (j = 0; j < KP_SCORE_BLOCK; j++)
		if (lower[j] > threshold)
			mask |= 1u << j;
	return mask;
#endif
}

/* Marks (or, with on = 0, unmarks) the positions of excluded rows. */
static void
mark_excluded(const kp_qmatrix *Q, const int32_t *excluded, int64_t n_excluded,
			  uint16_t *lanes, int on)
{
	int64_t		e;

	for (e = 0; e < n_excluded; e++)
	{
		int32_t		pos;

		if (excluded[e] < 0 || excluded[e] >= Q->n_rows)
			continue;
		pos = Q->position_of[excluded[e]];
		if (on)
			lanes[pos / KP_SCORE_BLOCK] |= (uint16_t) (1u << (pos % KP_SCORE_BLOCK));
		else
			lanes[pos / KP_SCORE_BLOCK] = 0;
	}
}

/* Min-heap of the k best lower bounds seen; heap[0] is the k-th best. */
static void
bound_heap_offer(float *heap, int32_t *size, int32_t k, float value)
{
	int32_t		i;

	if (*size < k)
	{
		i = (*size)++;
		while (i > 0 && heap[(i - 1) / 2] > value)
		{
			heap[i] = heap[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		heap[i] = value;
		return;
	}
	if (!(value > heap[0]))
		return;
	i = 0;
	for (;;)
	{
		int32_t		child = 2 * i + 1;

		if (child >= k)
			break;
		if (child + 1 < k && heap[child + 1] < heap[child])
			child++;
		if (heap[child] >= value)
			break;
		heap[i] = heap[child];
		i = child;
	}
	heap[i] = value;
}

static int
by_row(const void *a, const void *b)
{
	int32_t		ra = *(const int32_t *) a;
	int32_t		rb = *(const int32_t *) b;

	return ra < rb ? -1 : (ra > rb);
}

static inline int
stop_requested(const kp_score_scratch *scratch, int64_t step)
{
	return scratch->interrupt != NULL && step % KP_SCORE_CHECK_INTERVAL == 0 &&
		scratch->interrupt(scratch->interrupt_arg);
}

/*
 * Puts the candidate rows in ascending order.  Past n/16 candidates (k in
 * the thousands and more) one pass over a flag per row, which heap_index
 * holds until selection, is cheaper than sorting and can be interrupted.
 */
static int
order_candidates(int32_t n_rows, int32_t n_candidates, kp_score_scratch *scratch)
{
	int32_t    *is_candidate = scratch->heap_index;
	int32_t		kept = 0;
	int32_t		i;

	if ((int64_t) n_candidates * 16 <= n_rows)
	{
		qsort(scratch->candidates, (size_t) n_candidates, sizeof(int32_t), by_row);
		return 0;
	}
	memset(is_candidate, 0, (size_t) n_rows * sizeof(int32_t));
	for (i = 0; i < n_candidates; i++)
		is_candidate[scratch->candidates[i]] = 1;
	for (i = 0; i < n_rows; i++)
	{
		if (stop_requested(scratch, i))
			return -1;
		if (is_candidate[i])
			scratch->candidates[kept++] = i;
	}
	return 0;
}

int32_t
kp_score_topk(const kp_qmatrix *Q, const float *F, const float *x,
			  const int32_t *excluded, int64_t n_excluded, int32_t k,
			  kp_score_scratch *scratch, int32_t *out_index, float *out_score)
{
	int32_t		n = Q->n_rows;
	int32_t		f = Q->n_cols;
	int32_t		n_blocks = block_count(n);
	float		half_l1 = 0;
	float		x_max = 0;
	float		x_norm;
	int			score_all;
	float		threshold = -INFINITY;
	int32_t		heap_size = 0;
	int32_t		scanned = 0;
	int32_t		n_candidates = 0;
	int32_t		selected;
	int32_t		pos;
	int32_t		i;

	if (k <= 0 || n <= 0)
		return 0;
	if (k > n)
		k = n;
	if (scratch->lanes_marked)
		memset(scratch->excluded_lanes, 0, (size_t) n_blocks * sizeof(uint16_t));
	for (i = 0; i < f; i++)
	{
		half_l1 += fabsf(x[i]);
		if (fabsf(x[i]) > x_max)
			x_max = fabsf(x[i]);
	}
	half_l1 *= 0.5f * BOUND_SLACK;
	x_norm = sqrtf(kp_dot(x, x, f)) * BOUND_SLACK;
	score_all = Q->n_tiny_rows > 0 || x_max < TINY_VALUE;

	scratch->lanes_marked = 1;
	mark_excluded(Q, excluded, n_excluded, scratch->excluded_lanes, 1);

	if (score_all)
		for (pos = 0; pos < n; pos++)
			if (!((scratch->excluded_lanes[pos / KP_SCORE_BLOCK] >> (pos % KP_SCORE_BLOCK)) & 1))
				scratch->candidates[n_candidates++] = Q->row_at[pos];

	/* Blocks in order of decreasing row length, until none can reach the top k. */
	for (; !score_all && scanned < n_blocks; scanned++)
	{
		float	   *lower = scratch->lower + (size_t) scanned * KP_SCORE_BLOCK;
		uint32_t	skip = scratch->excluded_lanes[scanned];
		uint32_t	offer;

		if (heap_size == k && x_norm * Q->block_max_norm[scanned] < threshold)
			break;
		if (stop_requested(scratch, (int64_t) scanned * KP_SCORE_BLOCK))
		{
			mark_excluded(Q, excluded, n_excluded, scratch->excluded_lanes, 0);
			scratch->lanes_marked = 0;
			return -1;
		}
		block_lower_bounds(Q->codes + (size_t) scanned * f * KP_SCORE_BLOCK, x, f,
						   Q->scales + (size_t) scanned * KP_SCORE_BLOCK, half_l1, lower);
		if (scanned == n_blocks - 1 && n % KP_SCORE_BLOCK != 0)
			skip |= ~((1u << (n % KP_SCORE_BLOCK)) - 1) & 0xFFFFu;
		for (offer = skip; offer != 0; offer &= offer - 1)
			lower[__builtin_ctz(offer)] = -INFINITY;
		for (offer = block_above(lower, threshold) & ~skip; offer != 0; offer &= offer - 1)
			bound_heap_offer(scratch->bound_heap, &heap_size, k, lower[__builtin_ctz(offer)]);
		if (heap_size == k)
			threshold = scratch->bound_heap[0];
	}

	mark_excluded(Q, excluded, n_excluded, scratch->excluded_lanes, 0);
	scratch->lanes_marked = 0;

	for (pos = 0; pos < scanned * KP_SCORE_BLOCK; pos += KP_SCORE_BLOCK)
	{
		uint32_t	mask = block_candidates(scratch->lower + pos, Q->scales + pos,
											2.0f * half_l1, threshold);

		while (mask != 0)
		{
			scratch->candidates[n_candidates++] = Q->row_at[pos + __builtin_ctz(mask)];
			mask &= mask - 1;
		}
	}

	/* Rows in ascending order, so that ties go to the lower row. */
	if (order_candidates(n, n_candidates, scratch) != 0)
		return -1;
	for (i = 0; i < n_candidates; i++)
	{
		if (stop_requested(scratch, i))
			return -1;
		scratch->candidate_scores[i] = kp_dot(x, F + (size_t) scratch->candidates[i] * f, f);
	}
	selected = kp_topk_interruptible(scratch->candidate_scores, n_candidates, k,
									 scratch->heap_index, scratch->heap_score,
									 scratch->interrupt, scratch->interrupt_arg);
	if (selected < 0)
		return -1;
	for (i = 0; i < selected; i++)
	{
		out_index[i] = scratch->candidates[scratch->heap_index[i]];
		out_score[i] = scratch->heap_score[i];
	}
	return selected;
}
