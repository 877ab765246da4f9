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

/* Columns rounded up to whole groups of KP_SCORE_GROUP. */
static size_t
group_cols(int32_t n_cols)
{
	return ((size_t) n_cols + KP_SCORE_GROUP - 1) / KP_SCORE_GROUP * KP_SCORE_GROUP;
}

/* Offset of (column k, lane) in a block of codes. */
static inline size_t
code_offset(int32_t k, int32_t lane)
{
	return (size_t) (k / KP_SCORE_GROUP) * KP_SCORE_GROUP * KP_SCORE_BLOCK +
		(size_t) lane * KP_SCORE_GROUP + (size_t) (k % KP_SCORE_GROUP);
}

size_t
kp_qmatrix_bytes(int32_t n_rows, int32_t n_cols)
{
	size_t		padded = (size_t) block_count(n_rows) * KP_SCORE_BLOCK;

	return padded * group_cols(n_cols) + 2 * padded * sizeof(float) +
		5 * (size_t) block_count(n_rows) * sizeof(float) + (size_t) n_cols * sizeof(double) +
		2 * (size_t) n_rows * sizeof(int32_t);
}

typedef struct row_norm
{
	float		norm;
	float		along;			/* component along the direction, if any */
	int32_t		row;
} row_norm;

/* Rows of equal length class reordered by their component along the direction. */
#define DIRECTED_CHUNK 256

/* Rounding of the directed bound is far below this share of ‖x‖·‖y‖. */
#define DIRECTED_SLACK 1e-4f

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

/* Larger component along the direction first, then row order. */
static int
by_along_descending(const void *a, const void *b)
{
	const row_norm *ra = a;
	const row_norm *rb = b;

	if (ra->along != rb->along)
		return ra->along > rb->along ? -1 : 1;
	return ra->row < rb->row ? -1 : (ra->row > rb->row);
}

/*
 * Codes of a row of F into its lane of a block; returns the row's scale and
 * sets *code_l1 to the sum of the codes' magnitudes.
 */
static float
quantise_row(const float *row, int32_t n_cols, int8_t *block, int32_t lane, float *code_l1)
{
	float		max_abs = 0;
	float		inverse;
	int32_t		k;

	for (k = 0; k < n_cols; k++)
		if (fabsf(row[k]) > max_abs)
			max_abs = fabsf(row[k]);
	inverse = max_abs > 0 ? 127.0f / max_abs : 0;
	*code_l1 = 0;
	for (k = 0; k < n_cols; k++)
	{
		long		code = lrintf(row[k] * inverse);

		if (code > 127)
			code = 127;
		else if (code < -127)
			code = -127;
		block[code_offset(k, lane)] = (int8_t) code;
		*code_l1 += (float) labs(code);
	}
	return max_abs / 127.0f;
}


kp_status
kp_qmatrix_build(const kp_allocator *alloc, const float *F,
				 int32_t n_rows, int32_t n_cols, kp_qmatrix *out,
				 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	return kp_qmatrix_build_along(alloc, F, n_rows, n_cols, NULL, out, interrupt, interrupt_arg);
}

/* y·d (unit d) and ‖y‖², in double. */
static double
along_direction(const float *y, const double *direction, int32_t n_cols, double *squared)
{
	double		along = 0;
	int32_t		c;

	*squared = 0;
	for (c = 0; c < n_cols; c++)
	{
		along += (double) y[c] * direction[c];
		*squared += (double) y[c] * y[c];
	}
	return along;
}

/*
 * Per block: largest and smallest component along the direction and the
 * longest part across it, in double (the bound's DIRECTED_SLACK covers
 * their rounding to float); NaN or infinite rows make the block's bound
 * infinite so that it is never skipped.
 */
static void
block_cone(const float *F, int32_t n_cols, const double *direction, const int32_t *rows,
		   int32_t n, float *cone)
{
	double		along_max = -INFINITY;
	double		along_min = INFINITY;
	double		across_max = 0;
	int32_t		j;

	for (j = 0; j < n; j++)
	{
		double		squared;
		double		along = along_direction(F + (size_t) rows[j] * n_cols, direction, n_cols, &squared);

		if (!isfinite(along) || !isfinite(squared))
		{
			along_max = across_max = INFINITY;
			along_min = -INFINITY;
			break;
		}
		along_max = along > along_max ? along : along_max;
		along_min = along < along_min ? along : along_min;
		squared -= along * along;
		if (squared > across_max * across_max)
			across_max = sqrt(squared);
	}
	cone[0] = (float) along_max;
	cone[1] = (float) along_min;
	cone[2] = (float) across_max;
}

kp_status
kp_qmatrix_build_along(const kp_allocator *alloc, const float *F,
					   int32_t n_rows, int32_t n_cols, const float *direction,
					   kp_qmatrix *out, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		n_blocks;
	size_t		padded;
	size_t		code_bytes;
	row_norm   *norms;
	float		code_l1;
	int32_t		pos;

	memset(out, 0, sizeof(*out));
	if (n_rows < 0 || n_cols < 1 || n_cols > KP_SCORE_MAX_COLS)
		return KP_EINVAL;
	n_blocks = block_count(n_rows);
	if (direction != NULL)
	{
		double		length = 0;
		int32_t		c;

		out->direction = kp_alloc(alloc, (size_t) n_cols * sizeof(double));
		out->cone = kp_alloc(alloc, 3 * (size_t) n_blocks * sizeof(float) + 1);
		if (!out->direction || !out->cone)
		{
			kp_qmatrix_free(alloc, out);
			return KP_ENOMEM;
		}
		for (c = 0; c < n_cols; c++)
			length += (double) direction[c] * direction[c];
		length = sqrt(length);
		if (!(length > 0) || !isfinite(length))
		{
			kp_qmatrix_free(alloc, out);
			return KP_EINVAL;
		}
		for (c = 0; c < n_cols; c++)
			out->direction[c] = direction[c] / length;
	}
	padded = (size_t) n_blocks * KP_SCORE_BLOCK;
	if (!kp_mul_size(padded, group_cols(n_cols), &code_bytes))
	{
		kp_qmatrix_free(alloc, out);
		return KP_ENOMEM;
	}
	out->codes = kp_alloc(alloc, code_bytes);
	out->scales = kp_alloc(alloc, padded * sizeof(float));
	out->code_l1 = kp_alloc(alloc, padded * sizeof(float));
	out->block_max_norm = kp_alloc(alloc, (size_t) n_blocks * sizeof(float));
	out->stop_norm = kp_alloc(alloc, (size_t) n_blocks * sizeof(float) + 1);
	out->row_at = kp_alloc(alloc, (size_t) n_rows * sizeof(int32_t));
	out->position_of = kp_alloc(alloc, (size_t) n_rows * sizeof(int32_t));
	norms = kp_alloc(alloc, (size_t) n_rows * sizeof(row_norm));
	if (!out->codes || !out->scales || !out->code_l1 || !out->block_max_norm ||
		!out->stop_norm || !out->row_at || !out->position_of || !norms)
	{
		kp_free(alloc, norms);
		kp_qmatrix_free(alloc, out);
		return KP_ENOMEM;
	}
	memset(out->codes, 0, code_bytes);
	memset(out->scales, 0, padded * sizeof(float));
	memset(out->code_l1, 0, padded * sizeof(float));
	memset(out->block_max_norm, 0, (size_t) n_blocks * sizeof(float));
	out->n_rows = n_rows;
	out->n_cols = n_cols;

	for (pos = 0; pos < n_rows; pos++)
	{
		const float *row = F + (size_t) pos * n_cols;

		if (kp_interrupted(interrupt, interrupt_arg, pos))
			goto cancelled;

		norms[pos].norm = sqrtf(kp_dot(row, row, n_cols));
		norms[pos].along = 0;
		if (out->direction != NULL)
		{
			double		squared;

			norms[pos].along = (float) along_direction(row, out->direction, n_cols, &squared);
		}
		norms[pos].row = pos;
	}
	qsort(norms, (size_t) n_rows, sizeof(row_norm), by_norm_descending);
	/* rows of similar length and direction share blocks, whose bounds then prune */
	if (out->direction != NULL)
		for (pos = 0; pos < n_rows; pos += DIRECTED_CHUNK)
			qsort(norms + pos, (size_t) (n_rows - pos < DIRECTED_CHUNK ? n_rows - pos : DIRECTED_CHUNK),
				  sizeof(row_norm), by_along_descending);

	for (pos = 0; pos < n_rows; pos++)
	{
		int32_t		row = norms[pos].row;
		int32_t		block = pos / KP_SCORE_BLOCK;

		if (kp_interrupted(interrupt, interrupt_arg, pos))
			goto cancelled;

		out->row_at[pos] = row;
		out->position_of[row] = pos;
		out->scales[pos] = quantise_row(F + (size_t) row * n_cols, n_cols,
										out->codes + (size_t) block * group_cols(n_cols) * KP_SCORE_BLOCK,
										pos % KP_SCORE_BLOCK, &code_l1);
		out->code_l1[pos] = out->scales[pos] * code_l1;
		if (norms[pos].norm > out->block_max_norm[block])
			out->block_max_norm[block] = norms[pos].norm;
		if (out->scales[pos] > 0 && out->scales[pos] * 127.0f < TINY_VALUE)
			out->n_tiny_rows++;
	}
	for (pos = n_blocks - 1; pos >= 0; pos--)
	{
		if (kp_interrupted(interrupt, interrupt_arg, (int64_t) pos * KP_SCORE_BLOCK))
			goto cancelled;
		out->stop_norm[pos] = out->block_max_norm[pos];
		if (pos + 1 < n_blocks && !(out->stop_norm[pos + 1] <= out->stop_norm[pos]))
			out->stop_norm[pos] = out->stop_norm[pos + 1];
		if (out->direction != NULL)
		{
			int32_t		first = pos * KP_SCORE_BLOCK;

			block_cone(F, n_cols, out->direction, out->row_at + first,
					   n_rows - first < KP_SCORE_BLOCK ? n_rows - first : KP_SCORE_BLOCK,
					   out->cone + 3 * (size_t) pos);
		}
	}
	kp_free(alloc, norms);
	return KP_OK;

cancelled:
	kp_free(alloc, norms);
	kp_qmatrix_free(alloc, out);
	return KP_ECANCELLED;
}

#define DIRECTION_SAMPLE 8192
#define DIRECTION_ITERATIONS 100
#define DIRECTION_MAX_COLS 4096
/* Multiply-adds of the sampled FᵀF: about 0.1 s at most. */
#define DIRECTION_WORK (1 << 27)

kp_status
kp_principal_direction(const kp_allocator *alloc, const float *F, int32_t n_rows,
					   int32_t n_cols, float *out, kp_interrupt_fn interrupt,
					   void *interrupt_arg)
{
	int64_t		sample = DIRECTION_WORK / ((int64_t) n_cols * n_cols);
	int32_t		step;
	double	   *gram;
	double	   *v;
	double	   *next;
	double		length = 0;
	int32_t		used = 0;
	int			cancelled = 0;
	int32_t		r;
	int32_t		i;
	int32_t		j;
	int32_t		iteration;

	if (n_rows < 0 || n_cols < 1 || n_cols > DIRECTION_MAX_COLS)
		return KP_EINVAL;
	sample = sample < 16 ? 16 : (sample > DIRECTION_SAMPLE ? DIRECTION_SAMPLE : sample);
	step = n_rows > sample ? (int32_t) (n_rows / sample) : 1;
	gram = kp_alloc(alloc, (size_t) n_cols * n_cols * sizeof(double));
	v = kp_alloc(alloc, (size_t) n_cols * sizeof(double));
	next = kp_alloc(alloc, (size_t) n_cols * sizeof(double));
	if (!gram || !v || !next)
	{
		kp_free(alloc, gram);
		kp_free(alloc, v);
		kp_free(alloc, next);
		return KP_ENOMEM;
	}
	memset(gram, 0, (size_t) n_cols * n_cols * sizeof(double));
	for (i = 0; i < n_cols; i++)
		v[i] = 1.0;
	for (r = 0; r < n_rows; r += step)
	{
		const float *y = F + (size_t) r * n_cols;
		double		squared = 0;

		if (interrupt != NULL && interrupt(interrupt_arg))
		{
			cancelled = 1;
			break;
		}
		for (i = 0; i < n_cols; i++)
			squared += (double) y[i] * y[i];
		if (!isfinite(squared) || squared == 0)
			continue;
		used++;
		for (i = 0; i < n_cols; i++)
			for (j = 0; j < n_cols; j++)
				gram[(size_t) i * n_cols + j] += (double) y[i] * y[j];
	}
	/* power iteration: v ← FᵀF·v / ‖FᵀF·v‖ */
	for (iteration = 0; !cancelled && used > 0 && iteration < DIRECTION_ITERATIONS; iteration++)
	{
		if (interrupt != NULL && interrupt(interrupt_arg))
		{
			cancelled = 1;
			break;
		}
		length = 0;
		for (i = 0; i < n_cols; i++)
		{
			double		sum = 0;

			for (j = 0; j < n_cols; j++)
				sum += gram[(size_t) i * n_cols + j] * v[j];
			next[i] = sum;
			length += sum * sum;
		}
		length = sqrt(length);
		if (!(length > 0) || !isfinite(length))
			break;
		for (i = 0; i < n_cols; i++)
			v[i] = next[i] / length;
	}
	for (i = 0; i < n_cols; i++)
		out[i] = (float) v[i];
	kp_free(alloc, gram);
	kp_free(alloc, v);
	kp_free(alloc, next);
	if (cancelled)
		return KP_ECANCELLED;
	return used > 0 && length > 0 && isfinite(length) ? KP_OK : KP_EINVAL;
}

void
kp_qmatrix_free(const kp_allocator *alloc, kp_qmatrix *q)
{
	kp_free(alloc, q->codes);
	kp_free(alloc, q->scales);
	kp_free(alloc, q->code_l1);
	kp_free(alloc, q->block_max_norm);
	kp_free(alloc, q->stop_norm);
	kp_free(alloc, q->direction);
	kp_free(alloc, q->cone);
	kp_free(alloc, q->row_at);
	kp_free(alloc, q->position_of);
	memset(q, 0, sizeof(*q));
}

/*
 * 2·γ_f < 2.0002·f·u for f <= 4096; we use 4·(f + 2)·u, and add 4·(f + 1)
 * times the smallest subnormal for products that underflow.
 */
double
kp_rescore_slack(int32_t f, double norm_product)
{
	return 4.0 * ((double) f + 2.0) * 0x1p-24 * norm_product + 4.0 * ((double) f + 1.0) * 0x1p-149;
}

/* kth − slack is computed in double, with room for its own rounding. */
float
kp_lower_threshold(float kth, double slack)
{
	double		t;
	float		rounded;

	if (kth == INFINITY)
		return INFINITY;
	t = (double) kth - slack - fabs((double) kth) * 0x1p-50;
	rounded = (float) t;
	if ((double) rounded > t)
		rounded = nextafterf(rounded, -INFINITY);
	return rounded;
}

double
kp_squared_norm(const float *x, int32_t n)
{
	double		sum = 0.0;
	int32_t		i;

	for (i = 0; i < n; i++)
		sum += (double) x[i] * x[i];
	return sum;
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
kp_score_scratch_init(const kp_allocator *alloc, int32_t n_rows, int32_t n_cols,
					  kp_score_scratch *scratch)
{
	size_t		padded = (size_t) block_count(n_rows) * KP_SCORE_BLOCK;
	size_t		rows = n_rows > 0 ? (size_t) n_rows : 1;

	memset(scratch, 0, sizeof(*scratch));
	if (n_rows < 0 || n_cols < 1 || n_cols > KP_SCORE_MAX_COLS)
		return KP_EINVAL;
	scratch->n_cols = n_cols;
	scratch->query_groups = kp_alloc(alloc, group_cols(n_cols));
	scratch->lower = kp_alloc(alloc, padded * sizeof(float));
	scratch->excluded_lanes = kp_alloc(alloc, (size_t) block_count(n_rows) * sizeof(uint16_t) + 1);
	scratch->bound_heap = kp_alloc(alloc, rows * sizeof(float));
	scratch->candidates = kp_alloc(alloc, rows * sizeof(int32_t));
	scratch->candidate_scores = kp_alloc(alloc, rows * sizeof(float));
	if (!scratch->query_groups || !scratch->lower || !scratch->excluded_lanes || !scratch->bound_heap || !scratch->candidates ||
		!scratch->candidate_scores)
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
	kp_free(alloc, scratch->query_groups);
	kp_free(alloc, scratch->lower);
	kp_free(alloc, scratch->excluded_lanes);
	kp_free(alloc, scratch->bound_heap);
	kp_free(alloc, scratch->candidates);
	kp_free(alloc, scratch->candidate_scores);
	memset(scratch, 0, sizeof(*scratch));
}

/*
 * The bounds of the 16 rows of one block against the query's codes qx
 * (KP_SCORE_GROUP bytes per group, packed into one int32 each): with the
 * exact integer dot d_j = Σ_k qx_k·q_jk,
 * lower[j] = s_j·(step·d_j − half_l1) − half_step·l1_j.
 * The byte dot products take an unsigned and a signed operand, so |qx|
 * multiplies the codes with qx's signs: AVX-512 VNNI does 64 bytes by 4 per
 * instruction, AVX2 two steps of 32; the portable loop computes the same
 * integers.  Products stay within int16 pairs: 2·127·127 < 2^15.
 */
static void
block_lower_bounds(const int8_t *block, const int32_t *query_groups, int32_t n_groups,
				   const float *scales, const float *code_l1, float step, float half_l1,
				   float half_step, float *lower)
{
	int32_t		g;
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
	__m512i		sum0 = _mm512_setzero_si512();
	__m512i		sum1 = _mm512_setzero_si512();
	__m512		dot;

#define KP_GROUP_DOT(sum, gg) \
	do { \
		__m512i		query = _mm512_set1_epi32(query_groups[gg]); \
		__m512i		codes = _mm512_loadu_si512(block + (size_t) (gg) * 64); \
		codes = _mm512_mask_sub_epi8(codes, _mm512_movepi8_mask(query), _mm512_setzero_si512(), codes); \
		sum = _mm512_dpbusd_epi32(sum, _mm512_abs_epi8(query), codes); \
	} while (0)
	/* two independent sums, so that the dot products do not wait on each other */
	for (g = 0; g + 2 <= n_groups; g += 2)
	{
		KP_GROUP_DOT(sum0, g);
		KP_GROUP_DOT(sum1, g + 1);
	}
	if (g < n_groups)
		KP_GROUP_DOT(sum0, g);
#undef KP_GROUP_DOT
	dot = _mm512_cvtepi32_ps(_mm512_add_epi32(sum0, sum1));
	_mm512_storeu_ps(lower,
					 _mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(scales),
												 _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(step), dot),
															   _mm512_set1_ps(half_l1))),
								   _mm512_mul_ps(_mm512_set1_ps(half_step), _mm512_loadu_ps(code_l1))));
#elif defined(__AVX2__)
	__m256i		ones = _mm256_set1_epi16(1);
	__m256i		sum_low = _mm256_setzero_si256();
	__m256i		sum_high = _mm256_setzero_si256();
	int			half;

	for (g = 0; g < n_groups; g++)
	{
		__m256i		query = _mm256_set1_epi32(query_groups[g]);
		__m256i		magnitude = _mm256_abs_epi8(query);
		const int8_t *codes = block + (size_t) g * 64;

		sum_low = _mm256_add_epi32(sum_low, _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *) codes), query)), ones));
		sum_high = _mm256_add_epi32(sum_high, _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *) (codes + 32)), query)), ones));
	}
	for (half = 0; half < 2; half++)
	{
		__m256		dot = _mm256_cvtepi32_ps(half == 0 ? sum_low : sum_high);

		_mm256_storeu_ps(lower + 8 * half,
						 _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(scales + 8 * half),
													 _mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(step), dot),
																   _mm256_set1_ps(half_l1))),
									   _mm256_mul_ps(_mm256_set1_ps(half_step), _mm256_loadu_ps(code_l1 + 8 * half))));
	}
#else
	int32_t		sum[KP_SCORE_BLOCK];
	int			j;

	for (j = 0; j < KP_SCORE_BLOCK; j++)
		sum[j] = 0;
	for (g = 0; g < n_groups; g++)
	{
		const int8_t *codes = block + (size_t) g * KP_SCORE_GROUP * KP_SCORE_BLOCK;
		int8_t		query[KP_SCORE_GROUP];
		int			t;

		memcpy(query, &query_groups[g], KP_SCORE_GROUP);
		for (j = 0; j < KP_SCORE_BLOCK; j++)
			for (t = 0; t < KP_SCORE_GROUP; t++)
				sum[j] += (int32_t) codes[j * KP_SCORE_GROUP + t] * query[t];
	}
	for (j = 0; j < KP_SCORE_BLOCK; j++)
		lower[j] = scales[j] * (step * (float) sum[j] - half_l1) - half_step * code_l1[j];
#endif
}

/*
 * Bit j set when row j of the block may still make the top k: not excluded
 * (lower bound -inf) and upper bound lower + 2·(s_j·half_l1 +
 * half_step·l1_j) >= threshold.
 */
static uint32_t
block_candidates(const float *lower, const float *scales, const float *code_l1,
				 float l1, float step, float threshold)
{
#if defined(__AVX512F__)
	__m512		low = _mm512_loadu_ps(lower);
	__m512		upper = _mm512_add_ps(low, _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(scales), _mm512_set1_ps(l1)),
														 _mm512_mul_ps(_mm512_loadu_ps(code_l1), _mm512_set1_ps(step))));

	return _mm512_cmp_ps_mask(low, _mm512_set1_ps(-INFINITY), _CMP_GT_OQ) &
		_mm512_cmp_ps_mask(upper, _mm512_set1_ps(threshold), _CMP_GE_OQ);
#else
	uint32_t	mask = 0;
	int			j;

	for (j = 0; j < KP_SCORE_BLOCK; j++)
		if (lower[j] > -INFINITY && lower[j] + (scales[j] * l1 + code_l1[j] * step) >= threshold)
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

/* Candidate rows prefetched ahead of their rescoring (kp_prefetch). */
#define RESCORE_AHEAD 8

static inline int
stop_requested(const kp_score_scratch *scratch, int64_t step)
{
	return kp_interrupted(scratch->interrupt, scratch->interrupt_arg, step);
}

/*
 * The query's component along Q's direction and the length of the rest,
 * x = x_along·d + x_across·u with u ⟂ d, in double so that the difference
 * of squares keeps its precision.
 */
static void
query_cone(const kp_qmatrix *Q, const float *x, float *x_along, float *x_across)
{
	double		squared;
	double		along = along_direction(x, Q->direction, Q->n_cols, &squared);

	*x_along = (float) along;
	*x_across = (float) sqrt(squared - along * along > 0 ? squared - along * along : 0);
}

/*
 * Bound of x·y over a block: x·y = x_along·y_along + x_across·(u·y) and
 * |u·y| <= the longest part across d of the block's rows, plus a margin
 * for rounding of DIRECTED_SLACK·‖x‖·‖y‖ (norm_product).  NaN, never
 * below a threshold, when the block holds non-finite rows.
 */
static inline float
cone_bound(const float *cone, float x_along, float x_across, float norm_product)
{
	float		along = x_along >= 0 ? x_along * cone[0] : x_along * cone[1];

	return along + x_across * cone[2] + DIRECTED_SLACK * norm_product;
}

int32_t
kp_score_topk(const kp_qmatrix *Q, const float *F, const float *x,
			  const int32_t *excluded, int64_t n_excluded, int32_t k,
			  kp_score_scratch *scratch, int32_t *out_index, float *out_score)
{
	int32_t		n = Q->n_rows;
	int32_t		f = Q->n_cols;
	int32_t		n_blocks = block_count(n);
	int32_t		n_groups = (int32_t) (group_cols(f) / KP_SCORE_GROUP);
	size_t		block_bytes = group_cols(f) * KP_SCORE_BLOCK;
	int8_t	   *query_codes = (int8_t *) scratch->query_groups;
	float		half_l1 = 0;
	float		x_max = 0;
	float		step;
	float		half_step;
	float		x_norm;
	float		x_along = 0;
	float		x_across = 0;
	int			score_all;
	float		threshold = -INFINITY;
	int32_t		heap_size = 0;
	int32_t		scanned = 0;
	int32_t		n_candidates = 0;
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
	if (Q->cone != NULL)
		query_cone(Q, x, &x_along, &x_across);
	/* the query's own codes: x_k = step·qx_k + e_k with |e_k| <= step/2 */
	step = x_max / 127.0f;
	half_step = 0.5f * step * BOUND_SLACK;
	memset(query_codes, 0, (size_t) n_groups * KP_SCORE_GROUP);
	for (i = 0; !score_all && i < f; i++)
	{
		long		code = lrintf(x[i] * (127.0f / x_max));

		query_codes[i] = (int8_t) (code > 127 ? 127 : (code < -127 ? -127 : code));
	}

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

		if (heap_size == k && x_norm * Q->stop_norm[scanned] < threshold)
			break;
		if (stop_requested(scratch, (int64_t) scanned * KP_SCORE_BLOCK))
		{
			mark_excluded(Q, excluded, n_excluded, scratch->excluded_lanes, 0);
			scratch->lanes_marked = 0;
			return -1;
		}
		if (heap_size == k && (x_norm * Q->block_max_norm[scanned] < threshold ||
							   (Q->cone != NULL &&
								cone_bound(Q->cone + 3 * (size_t) scanned, x_along, x_across,
										   x_norm * Q->block_max_norm[scanned]) < threshold)))
		{
			for (i = 0; i < KP_SCORE_BLOCK; i++)
				lower[i] = -INFINITY;
			continue;
		}
		block_lower_bounds(Q->codes + (size_t) scanned * block_bytes, scratch->query_groups,
						   n_groups, Q->scales + (size_t) scanned * KP_SCORE_BLOCK,
						   Q->code_l1 + (size_t) scanned * KP_SCORE_BLOCK, step, half_l1,
						   half_step, lower);
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
											Q->code_l1 + pos, 2.0f * half_l1,
											2.0f * half_step, threshold);

		while (mask != 0)
		{
			scratch->candidates[n_candidates++] = Q->row_at[pos + __builtin_ctz(mask)];
			mask &= mask - 1;
		}
	}

	for (i = 0; i < n_candidates && i < RESCORE_AHEAD; i++)
		kp_prefetch(F + (size_t) scratch->candidates[i] * f, (size_t) f * sizeof(float));
	for (i = 0; i < n_candidates; i++)
	{
		if (stop_requested(scratch, i))
			return -1;
		if (i + RESCORE_AHEAD < n_candidates)
			kp_prefetch(F + (size_t) scratch->candidates[i + RESCORE_AHEAD] * f, (size_t) f * sizeof(float));
		scratch->candidate_scores[i] = kp_dot(x, F + (size_t) scratch->candidates[i] * f, f);
	}
	/* ties go to the lower row */
	return kp_topk_labelled(scratch->candidate_scores, scratch->candidates, n_candidates, k,
							out_index, out_score, scratch->interrupt, scratch->interrupt_arg);
}
