/*
 * neighbours.c -- neighbour lists: built exactly from blocked sgemm scores
 * with kp_dot rescoring, and kept exact under single-row edits.
 *
 * The build visits each pair of row blocks (I, J), J >= I, once: one sgemm
 * gives the scores of I's rows against J's, and each score serves both
 * rows of its pair.  Every row has a bounded heap of its L best (kp_dot
 * scores, root = worst kept), held in its list slots, and a threshold: an
 * sgemm score at or below both rows' thresholds cannot enter either heap,
 * so a row of scores is compared 16 at a time against its row's threshold
 * and its columns' thresholds before any heap work.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include <cblas.h>

#include "kp_heap.h"
#include "kp_neighbours.h"
#include "kp_score.h"

/* 1024 × 1024 scores (4 MB): large enough for sgemm to run near its peak. */
#define BLOCK_ROWS 1024

#define EDIT_CHECK_ROWS 4096

/* Row a ranks after row b (scores against the same row): lower score, or equal and higher row. */
static inline int
ranks_after(float score_a, int32_t a, float score_b, int32_t b)
{
	return score_a < score_b || (score_a == score_b && a > b);
}

/*
 * Offers row `candidate` (not yet in the heap) with its score to a heap of
 * the best `capacity` rows.  Returns nonzero when the heap is full and its
 * root is new.  The comparison breaks ties by row, so the heap ends with
 * the same rows whatever the order of the offers.
 */
static int
heap_offer(int32_t *index, float *score, int32_t *size, int32_t capacity,
		   int32_t candidate, float candidate_score)
{
	if (*size < capacity)
	{
		index[*size] = candidate;
		score[*size] = candidate_score;
		kp_heap_sift_up(index, score, *size);
		return ++*size == capacity;
	}
	if (!ranks_after(score[0], index[0], candidate_score, candidate))
		return 0;
	index[0] = candidate;
	score[0] = candidate_score;
	kp_heap_sift_down(index, score, 0, capacity);
	return 1;
}

static int
by_row(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a;
	int32_t		y = *(const int32_t *) b;

	return (x > y) - (x < y);
}

/* A list's first `size` slots hold its set: ascending, then −1 padding. */
static void
finish_list(int32_t *list, int32_t size, int32_t L)
{
	qsort(list, (size_t) size, sizeof(int32_t), by_row);
	for (; size < L; size++)
		list[size] = -1;
}

void
kp_unit_rows(const float *F, int32_t n, int32_t dims, float *out)
{
	int32_t		r;

	for (r = 0; r < n; r++)
	{
		const float *x = F + (size_t) r * dims;
		float	   *y = out + (size_t) r * dims;
		double		norm = sqrt(kp_squared_norm(x, dims));
		int32_t		k;

		for (k = 0; k < dims; k++)
			y[k] = norm > 0.0 ? (float) (x[k] / norm) : 0.0f;
	}
}

/* Every row's heap of its L best, during the build. */
typedef struct neighbour_heaps
{
	const float *unit;
	int32_t		dims;
	int32_t		L;
	int32_t    *index;			/* n × L: the lists' slots */
	float	   *score;			/* n × L: kp_dot scores */
	int32_t    *size;			/* n */
	float	   *threshold;		/* n: −inf until the row's heap is full */
	double		slack;
} neighbour_heaps;

static void
offer(neighbour_heaps *h, int32_t row, int32_t candidate, float score)
{
	size_t		base = (size_t) row * h->L;

	if (heap_offer(h->index + base, h->score + base, h->size + row, h->L, candidate, score))
		h->threshold[row] = kp_lower_threshold(h->score[base], h->slack);
}

/*
 * Rows a and b, whose sgemm score is s: rescored when it may enter either
 * heap, and offered to each heap it may enter.
 */
static inline void
consider(neighbour_heaps *h, float s, int32_t a, int32_t b)
{
	int			to_a = !(s <= h->threshold[a]);
	int			to_b = !(s <= h->threshold[b]);

	if (to_a || to_b)
	{
		/* kp_dot(x, y) == kp_dot(y, x): the products are the same */
		float		score = kp_dot(h->unit + (size_t) a * h->dims,
								   h->unit + (size_t) b * h->dims, h->dims);

		if (to_a)
			offer(h, a, b, score);
		if (to_b)
			offer(h, b, a, score);
	}
}

/*
 * The sgemm scores of row `row` against the count rows from `first` on
 * (all above row).  Thresholds only rise while the row is scanned, so a lane
 * flagged against an older threshold is checked again before rescoring.
 */
static void
scan_scores(neighbour_heaps *h, const float *scores, int32_t count, int32_t row, int32_t first)
{
	int32_t		c = 0;

#if defined(__AVX512F__)
	for (; c + 16 <= count; c += 16)
	{
		__m512		t = _mm512_min_ps(_mm512_set1_ps(h->threshold[row]),
									  _mm512_loadu_ps(h->threshold + first + c));
		__mmask16	above = _mm512_cmp_ps_mask(_mm512_loadu_ps(scores + c), t, _CMP_NLE_UQ);

		while (above != 0)
		{
			int			lane = __builtin_ctz(above);

			consider(h, scores[c + lane], row, first + c + lane);
			above &= above - 1;
		}
	}
#elif defined(__AVX2__)
	for (; c + 16 <= count; c += 16)
	{
		__m256		r = _mm256_set1_ps(h->threshold[row]);
		__m256		low = _mm256_cmp_ps(_mm256_loadu_ps(scores + c),
										_mm256_min_ps(r, _mm256_loadu_ps(h->threshold + first + c)),
										_CMP_NLE_UQ);
		__m256		high = _mm256_cmp_ps(_mm256_loadu_ps(scores + c + 8),
										 _mm256_min_ps(r, _mm256_loadu_ps(h->threshold + first + c + 8)),
										 _CMP_NLE_UQ);
		unsigned	above = (unsigned) _mm256_movemask_ps(low) |
			((unsigned) _mm256_movemask_ps(high) << 8);

		while (above != 0)
		{
			int			lane = __builtin_ctz(above);

			consider(h, scores[c + lane], row, first + c + lane);
			above &= above - 1;
		}
	}
#endif
	for (; c < count; c++)
		consider(h, scores[c], row, first + c);
}

kp_status
kp_neighbours_build(const kp_allocator *alloc, const float *unit,
					int32_t n, int32_t dims, int32_t L, int32_t *lists, float *floor,
					kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		block = n < BLOCK_ROWS ? n : BLOCK_ROWS;
	size_t		score_bytes;
	double		longest = 0.0;
	neighbour_heaps h;
	float	   *scores;
	kp_status	status = KP_OK;
	int32_t		ib;
	int32_t		r;

	if (n < 0 || dims < 1 || dims > KP_SCORE_MAX_COLS || L < 1 || L > KP_NEIGHBOURS_MAX ||
		!kp_mul_size((size_t) n, (size_t) L, &score_bytes) ||
		!kp_mul_size(score_bytes, sizeof(float), &score_bytes))
		return KP_EINVAL;

	memset(&h, 0, sizeof(h));
	h.unit = unit;
	h.dims = dims;
	h.L = L;
	h.index = lists;
	h.score = kp_alloc(alloc, score_bytes);
	h.size = kp_alloc(alloc, (size_t) n * sizeof(int32_t));
	h.threshold = kp_alloc(alloc, (size_t) n * sizeof(float));
	scores = kp_alloc(alloc, (size_t) block * block * sizeof(float));
	if (!h.score || !h.size || !h.threshold || !scores)
	{
		status = KP_ENOMEM;
		goto done;
	}

	for (r = 0; r < n; r++)
	{
		double		norm2 = kp_squared_norm(unit + (size_t) r * dims, dims);

		if (norm2 > longest)
			longest = norm2;
		h.size[r] = 0;
		h.threshold[r] = -INFINITY;
	}
	/* the margin of kp_score.h, for the longest rows (about 1 for unit rows) */
	h.slack = kp_rescore_slack(dims, longest);

	for (ib = 0; ib < n; ib += block)
	{
		int32_t		ni = n - ib < block ? n - ib : block;
		int32_t		jb;

		for (jb = ib; jb < n; jb += block)
		{
			int32_t		nj = n - jb < block ? n - jb : block;
			int32_t		i;

			if (interrupt && interrupt(interrupt_arg))
			{
				status = KP_ECANCELLED;
				goto done;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ni, nj, dims,
						1.0f, unit + (size_t) ib * dims, dims, unit + (size_t) jb * dims, dims,
						0.0f, scores, nj);
			/* a block with itself: each pair once, above the diagonal */
			for (i = 0; i < ni; i++)
			{
				int32_t		skip = jb == ib ? i + 1 : 0;

				scan_scores(&h, scores + (size_t) i * nj + skip, nj - skip, ib + i, jb + skip);
			}
		}
	}

	/* each heap's root is its list's weakest member */
	*floor = KP_NEIGHBOURS_EMPTY_FLOOR;
	for (r = 0; r < n; r++)
		if (h.size[r] > 0 && h.score[(size_t) r * L] < *floor)
			*floor = h.score[(size_t) r * L];
	for (r = 0; r < n; r++)
		finish_list(lists + (size_t) r * L, h.size[r], L);

done:
	kp_free(alloc, h.score);
	kp_free(alloc, h.size);
	kp_free(alloc, h.threshold);
	kp_free(alloc, scores);
	return status;
}

int32_t
kp_neighbours_topk(const float *unit, int32_t dims, const int32_t *list,
				   int32_t L, int32_t row, int32_t k,
				   int32_t *index, float *score)
{
	int32_t		heap_index[KP_NEIGHBOURS_MAX];
	float		heap_score[KP_NEIGHBOURS_MAX];
	const float *x = unit + (size_t) row * dims;
	int32_t		members = 0;
	int32_t		size = 0;
	int32_t		slot;
	int32_t		i;

	if (k < 1 || L < 1 || L > KP_NEIGHBOURS_MAX)
		return -1;
	for (slot = 0; slot < L; slot++)
		if (list[slot] >= 0 && list[slot] != row)
			members++;
	if (members < k)
		return -1;

	for (slot = 0; slot < L; slot++)
		if (list[slot] >= 0 && list[slot] != row)
			heap_offer(heap_index, heap_score, &size, k, list[slot],
					   kp_dot(x, unit + (size_t) list[slot] * dims, dims));
	/* heapsort: the root is the worst, so it goes last */
	for (i = k - 1; i >= 0; i--)
	{
		index[i] = heap_index[0];
		score[i] = heap_score[0];
		kp_heap_swap(heap_index, heap_score, 0, i);
		kp_heap_sift_down(heap_index, heap_score, 0, i);
	}
	return k;
}

/*
 * Row u's list (L slots) by a scan of every other row of unit (n rows);
 * lowers *floor to its weakest member's score.
 */
static void
scan_list(const float *unit, int32_t n, int32_t dims, int32_t L, int32_t u, int32_t *list,
		  float *floor)
{
	float		score[KP_NEIGHBOURS_MAX];
	const float *x = unit + (size_t) u * dims;
	int32_t		size = 0;
	int32_t		r;

	for (r = 0; r < n; r++)
		if (r != u)
			heap_offer(list, score, &size, L, r, kp_dot(x, unit + (size_t) r * dims, dims));
	if (size > 0 && score[0] < *floor)
		*floor = score[0];
	finish_list(list, size, L);
}

/* Inserts row u into the ascending entries[0 .. count); returns count + 1. */
static int32_t
insert_row(int32_t *entries, int32_t count, int32_t u)
{
	int32_t		at = count;

	while (at > 0 && entries[at - 1] > u)
	{
		entries[at] = entries[at - 1];
		at--;
	}
	entries[at] = u;
	return count + 1;
}

/*
 * Row v's set entries[0 .. count) (ascending, the exact top count of the
 * rows other than v and u; room for L + 1) once u has its new vector:
 * returns its new size.  `others` is the number of rows other than v and u.
 * Every member scores at least *floor against v, so a u that scores less
 * cannot join, which spares the scores of the members for nearly every v;
 * *floor is lowered when u joins below it.
 */
static int32_t
with_edited_row(const float *unit, int32_t dims, int32_t L, int32_t v, int32_t u,
				int32_t *entries, int32_t count, int32_t others, float *floor)
{
	const float *x = unit + (size_t) v * dims;
	float		u_score;
	float		worst_score;
	int32_t		worst = 0;
	int32_t		m;

	if (count == 0 && others > 0)
		return 0;
	u_score = kp_dot(x, unit + (size_t) u * dims, dims);
	if (count < L && count == others)
	{
		if (u_score < *floor)
			*floor = u_score;
		return insert_row(entries, count, u);
	}
	if (u_score < *floor)
		return count;

	for (m = 0; m < count; m++)
		kp_prefetch(unit + (size_t) entries[m] * dims, (size_t) dims * sizeof(float));
	worst_score = kp_dot(x, unit + (size_t) entries[0] * dims, dims);
	for (m = 1; m < count; m++)
	{
		float		s = kp_dot(x, unit + (size_t) entries[m] * dims, dims);

		if (ranks_after(s, entries[m], worst_score, entries[worst]))
		{
			worst = m;
			worst_score = s;
		}
	}
	if (!ranks_after(worst_score, entries[worst], u_score, u))
		return count;
	if (count >= L)
	{
		memmove(entries + worst, entries + worst + 1,
				(size_t) (count - worst - 1) * sizeof(int32_t));
		count--;
	}
	return insert_row(entries, count, u);
}

/* Index after the edit of old row r (not the removed row). */
static int32_t
renumbered(kp_neighbour_edit edit, int32_t row, int32_t r)
{
	if (edit == KP_NEIGHBOUR_REMOVE && r > row)
		return r - 1;
	if (edit == KP_NEIGHBOUR_INSERT && r >= row)
		return r + 1;
	return r;
}

kp_status
kp_neighbours_edit(const int32_t *lists_in, int32_t n_old, int32_t L, float floor_in,
				   kp_neighbour_edit edit, int32_t row,
				   const float *unit_new, int32_t n_new, int32_t dims,
				   int32_t *lists_out, float *floor_out,
				   kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int64_t		change;
	int32_t		refills = 0;
	int32_t		v;

	switch (edit)
	{
		case KP_NEIGHBOUR_REMOVE:
			change = -1;
			break;
		case KP_NEIGHBOUR_REPLACE:
			change = 0;
			break;
		case KP_NEIGHBOUR_INSERT:
			change = 1;
			break;
		default:
			return KP_EINVAL;
	}
	if (L < 1 || L > KP_NEIGHBOURS_MAX || n_old < 0 || (int64_t) n_new != n_old + change ||
		row < 0 || row >= (edit == KP_NEIGHBOUR_INSERT ? n_new : n_old) ||
		(edit != KP_NEIGHBOUR_REMOVE && unit_new == NULL) || (unit_new != NULL && dims < 1))
		return KP_EINVAL;
	/* dropping members only raises a list's weakest score */
	*floor_out = floor_in;

	for (v = 0; v < n_new; v++)
	{
		int32_t		entries[KP_NEIGHBOURS_MAX + 1];
		int32_t    *out = lists_out + (size_t) v * L;
		const int32_t *in;
		int32_t		old_v;
		int32_t		count = 0;
		int32_t		held_row = 0;
		int32_t		before;
		int32_t		slot;

		if (v % EDIT_CHECK_ROWS == 0 && interrupt && interrupt(interrupt_arg))
			return KP_ECANCELLED;
		if (v == row && edit != KP_NEIGHBOUR_REMOVE)
		{
			scan_list(unit_new, n_new, dims, L, row, out, floor_out);
			continue;
		}

		if (edit == KP_NEIGHBOUR_REMOVE)
			old_v = v >= row ? v + 1 : v;
		else
			old_v = edit == KP_NEIGHBOUR_INSERT && v > row ? v - 1 : v;
		in = lists_in + (size_t) old_v * L;
		for (slot = 0; slot < L; slot++)
		{
			int32_t		r = in[slot];

			if (r < 0 || r >= n_old || r == old_v)
				continue;
			if (r == row && edit != KP_NEIGHBOUR_INSERT)
			{
				held_row = 1;
				continue;
			}
			entries[count++] = renumbered(edit, row, r);
		}
		before = count + held_row;
		if (edit != KP_NEIGHBOUR_REMOVE)
			count = with_edited_row(unit_new, dims, L, v, row, entries, count, n_new - 2, floor_out);
		/* a list this edit made shorter is filled again, up to a bounded number of them */
		if (count < before && unit_new != NULL && refills < KP_NEIGHBOURS_REFILLS)
		{
			scan_list(unit_new, n_new, dims, L, v, out, floor_out);
			refills++;
			continue;
		}

		memcpy(out, entries, (size_t) count * sizeof(int32_t));
		for (slot = count; slot < L; slot++)
			out[slot] = -1;
	}
	return KP_OK;
}
