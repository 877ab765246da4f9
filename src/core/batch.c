/*
 * batch.c -- top-k for many users: sgemm scores in blocks, exact kp_dot
 * rescoring of the few courses that can still enter each user's top k.
 * See kp_batch.h for why the result equals kp_score_topk's.
 *
 * Loop order: for each block of users, for each block of courses, one
 * sgemm into a KP_BATCH_USERS × KP_BATCH_ITEMS buffer, then each user's row
 * of it is scanned against that user's threshold.  The users' heaps live in
 * the output arrays (like kp_topk's), so memory does not grow with k or
 * with the number of users.
 */
#include <math.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include <cblas.h>

#include "kp_batch.h"
#include "kp_heap.h"
#include "kp_score.h"

typedef struct batch_scratch
{
	float	   *U;				/* KP_BATCH_USERS × dims: the block's user vectors */
	float	   *S;				/* KP_BATCH_USERS × KP_BATCH_ITEMS: sgemm scores */
	double	   *user_norm;		/* KP_BATCH_USERS: ‖x‖ */
	float	   *threshold;		/* KP_BATCH_USERS: rescore only above this */
	int64_t    *seen_next;		/* KP_BATCH_USERS: next seen entry of each user */
	double	   *block_norm;		/* per block of courses: its longest ‖y‖ */
} batch_scratch;

size_t
kp_batch_bytes(int32_t n_items, int32_t dims)
{
	size_t		blocks;

	if (n_items < 0 || dims < 1 || dims > KP_BATCH_MAX_DIMS)
		return SIZE_MAX;
	blocks = ((size_t) n_items + KP_BATCH_ITEMS - 1) / KP_BATCH_ITEMS;
	return (size_t) KP_BATCH_USERS * dims * sizeof(float) +
		(size_t) KP_BATCH_USERS * KP_BATCH_ITEMS * sizeof(float) +
		(size_t) KP_BATCH_USERS * (sizeof(double) + sizeof(float) + sizeof(int64_t)) +
		(blocks + 1) * sizeof(double);
}

/* One user's heap of its k best (kp_dot scores), kept in its output slots. */
typedef struct user_heap
{
	int32_t    *index;
	float	   *score;
	int32_t    *size;
	int32_t		k;
	const float *x;
	double		slack;			/* rounding bound for the current block of courses */
	float	   *threshold;
} user_heap;

/* Course i (sgemm score above the threshold): rescore it and offer it. */
static void
offer(user_heap *h, const float *item_vectors, int32_t dims, int32_t i)
{
	float		score = kp_dot(h->x, item_vectors + (size_t) i * dims, dims);
	int32_t		size = *h->size;

	if (isnan(score) || score == -INFINITY)
		return;
	if (size < h->k)
	{
		h->index[size] = i;
		h->score[size] = score;
		kp_heap_sift_up(h->index, h->score, size);
		*h->size = ++size;
		if (size == h->k)
			*h->threshold = kp_lower_threshold(h->score[0], h->slack);
	}
	else if (score > h->score[0])
	{
		/* courses come in ascending order, so a tie with the root loses */
		h->index[0] = i;
		h->score[0] = score;
		kp_heap_sift_down(h->index, h->score, 0, size);
		*h->threshold = kp_lower_threshold(h->score[0], h->slack);
	}
}

/*
 * Offers every course of one row of scores (courses base .. base + n)
 * whose sgemm score is not <= the threshold (NaN scores are offered: kp_dot
 * decides).  Most rows offer nothing after the first blocks, so the scan
 * compares 16 scores at a time.
 */
static void
scan_row(user_heap *h, const float *scores, int32_t n, int32_t base,
		 const float *item_vectors, int32_t dims)
{
	int32_t		j = 0;

#if defined(__AVX512F__)
	for (; j + 16 <= n; j += 16)
	{
		__mmask16	above = _mm512_cmp_ps_mask(_mm512_loadu_ps(scores + j),
											   _mm512_set1_ps(*h->threshold), _CMP_NLE_UQ);

		while (above != 0)
		{
			int			lane = __builtin_ctz(above);

			if (!(scores[j + lane] <= *h->threshold))
				offer(h, item_vectors, dims, base + j + lane);
			above &= above - 1;
		}
	}
#elif defined(__AVX2__)
	for (; j + 16 <= n; j += 16)
	{
		__m256		t = _mm256_set1_ps(*h->threshold);
		__m256		low = _mm256_cmp_ps(_mm256_loadu_ps(scores + j), t, _CMP_NLE_UQ);
		__m256		high = _mm256_cmp_ps(_mm256_loadu_ps(scores + j + 8), t, _CMP_NLE_UQ);
		unsigned	above = (unsigned) _mm256_movemask_ps(low) |
			((unsigned) _mm256_movemask_ps(high) << 8);

		while (above != 0)
		{
			int			lane = __builtin_ctz(above);

			if (!(scores[j + lane] <= *h->threshold))
				offer(h, item_vectors, dims, base + j + lane);
			above &= above - 1;
		}
	}
#endif
	for (; j < n; j++)
		if (!(scores[j] <= *h->threshold))
			offer(h, item_vectors, dims, base + j);
}

/* Checks the seen list of user row r. */
static int
seen_list_ok(const int64_t *indptr, const int32_t *items, int32_t r, int32_t n_items)
{
	int64_t		begin = indptr[r];
	int64_t		end = indptr[r + 1];
	int64_t		e;

	if (begin < 0 || end < begin)
		return 0;
	for (e = begin; e < end; e++)
	{
		if (items[e] < 0 || items[e] >= n_items || (e > begin && items[e] < items[e - 1]))
			return 0;
	}
	return 1;
}

kp_status
kp_batch_topk(const kp_allocator *alloc,
			  const float *user_vectors, int32_t n_user_rows,
			  const int32_t *users, int32_t n_users,
			  const float *item_vectors, int32_t n_items, int32_t dims,
			  const int64_t *seen_indptr, const int32_t *seen_items,
			  int32_t k, int32_t *out_index, float *out_score,
			  int32_t *out_count,
			  kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		n_blocks;
	batch_scratch s;
	kp_status	status = KP_OK;
	int32_t		ub;
	int32_t		i;

	if (dims < 1 || dims > KP_BATCH_MAX_DIMS || n_items < 0 || n_user_rows < 0 ||
		n_users < 0 || k < 1 || (users == NULL && n_users > n_user_rows))
		return KP_EINVAL;
	for (i = 0; i < n_users; i++)
	{
		int32_t		r = users ? users[i] : i;

		if (r < 0 || r >= n_user_rows)
			return KP_EINVAL;
		if (seen_indptr && !seen_list_ok(seen_indptr, seen_items, r, n_items))
			return KP_EINVAL;
	}
	for (i = 0; i < n_users; i++)
		out_count[i] = 0;
	if (n_users == 0)
		return KP_OK;

	n_blocks = (int32_t) (((int64_t) n_items + KP_BATCH_ITEMS - 1) / KP_BATCH_ITEMS);
	memset(&s, 0, sizeof(s));
	s.U = kp_alloc(alloc, (size_t) KP_BATCH_USERS * dims * sizeof(float));
	s.S = kp_alloc(alloc, (size_t) KP_BATCH_USERS * KP_BATCH_ITEMS * sizeof(float));
	s.user_norm = kp_alloc(alloc, (size_t) KP_BATCH_USERS * sizeof(double));
	s.threshold = kp_alloc(alloc, (size_t) KP_BATCH_USERS * sizeof(float));
	s.seen_next = kp_alloc(alloc, (size_t) KP_BATCH_USERS * sizeof(int64_t));
	s.block_norm = kp_alloc(alloc, ((size_t) n_blocks + 1) * sizeof(double));
	if (!s.U || !s.S || !s.user_norm || !s.threshold || !s.seen_next || !s.block_norm)
	{
		status = KP_ENOMEM;
		goto done;
	}

	/* longest course vector of each block, for the rounding bound */
	for (i = 0; i < n_blocks; i++)
	{
		int32_t		end = n_items - i * KP_BATCH_ITEMS < KP_BATCH_ITEMS ?
			n_items : (i + 1) * KP_BATCH_ITEMS;
		double		longest = 0.0;
		int32_t		c;

		if (interrupt && interrupt(interrupt_arg))
		{
			status = KP_ECANCELLED;
			goto done;
		}
		for (c = i * KP_BATCH_ITEMS; c < end; c++)
		{
			double		norm2 = kp_squared_norm(item_vectors + (size_t) c * dims, dims);

			if (norm2 > longest)
				longest = norm2;
		}
		s.block_norm[i] = sqrt(longest);
	}

	for (ub = 0; ub < n_users; ub += KP_BATCH_USERS)
	{
		int32_t		nu = n_users - ub < KP_BATCH_USERS ? n_users - ub : KP_BATCH_USERS;
		int32_t		b;
		int32_t		u;

		for (u = 0; u < nu; u++)
		{
			int32_t		r = users ? users[ub + u] : ub + u;
			const float *x = user_vectors + (size_t) r * dims;

			memcpy(s.U + (size_t) u * dims, x, (size_t) dims * sizeof(float));
			s.user_norm[u] = sqrt(kp_squared_norm(x, dims));
			s.seen_next[u] = seen_indptr ? seen_indptr[r] : 0;
		}

		for (b = 0; b < n_blocks; b++)
		{
			int32_t		base = b * KP_BATCH_ITEMS;
			int32_t		ni = n_items - base < KP_BATCH_ITEMS ? n_items - base : KP_BATCH_ITEMS;

			if (interrupt && interrupt(interrupt_arg))
			{
				status = KP_ECANCELLED;
				goto done;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nu, ni, dims,
						1.0f, s.U, dims, item_vectors + (size_t) base * dims, dims,
						0.0f, s.S, ni);

			for (u = 0; u < nu; u++)
			{
				int32_t		r = users ? users[ub + u] : ub + u;
				float	   *row = s.S + (size_t) u * ni;
				user_heap	h;

				/* seen courses of this block can never be offered */
				if (seen_indptr)
				{
					int64_t		end = seen_indptr[r + 1];
					int64_t		e = s.seen_next[u];

					for (; e < end && seen_items[e] < base + ni; e++)
						row[seen_items[e] - base] = -INFINITY;
					s.seen_next[u] = e;
				}
				h.index = out_index + (size_t) (ub + u) * k;
				h.score = out_score + (size_t) (ub + u) * k;
				h.size = out_count + ub + u;
				h.k = k;
				h.x = s.U + (size_t) u * dims;
				h.slack = kp_rescore_slack(dims, (double) s.user_norm[u] * s.block_norm[b]);
				h.threshold = s.threshold + u;
				*h.threshold = *h.size == k ? kp_lower_threshold(h.score[0], h.slack) : -INFINITY;
				scan_row(&h, row, ni, base, item_vectors, dims);
			}
		}

		/* heapsort each user's heap: best first; unused slots marked */
		for (u = 0; u < nu; u++)
		{
			int32_t    *index = out_index + (size_t) (ub + u) * k;
			float	   *score = out_score + (size_t) (ub + u) * k;
			int32_t		size = out_count[ub + u];
			int32_t		j;

			for (j = size - 1; j > 0; j--)
			{
				kp_heap_swap(index, score, 0, j);
				kp_heap_sift_down(index, score, 0, j);
			}
			for (j = size; j < k; j++)
			{
				index[j] = -1;
				score[j] = NAN;
			}
		}
	}

done:
	kp_free(alloc, s.U);
	kp_free(alloc, s.S);
	kp_free(alloc, s.user_norm);
	kp_free(alloc, s.threshold);
	kp_free(alloc, s.seen_next);
	kp_free(alloc, s.block_norm);
	return status;
}
