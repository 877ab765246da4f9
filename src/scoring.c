/*
 * scoring.c -- the scores every algorithm's model gives, shared by the
 * serving functions and evaluation so that both rank alike.
 *
 * Factor models (ials, bpr, als, popular) score a pair by the dot product of
 * the user's and the course's vector; the k best courses come from the
 * pruned int8 scan of kp_score_topk.  ease scores every course at once: the
 * sum of the rows of its item-item weights B over the user's training
 * courses (Steck 2019), then a partial selection.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "kp_rerank.h"
#include "kp_topk.h"
#include "kpreco.h"

/* The score of every course for a user of an ease model, in s->dense_scores. */
const float *
kpreco_ease_user_scores(KpServingModel *s, int32 user)
{
	const kp_model *m = &s->model;
	int64		first = m->seen_indptr[user];
	int64		last = m->seen_indptr[user + 1];
	int64		k;
	int32		j;

	if (s->dense_scores == NULL)
		s->dense_scores = kpreco_alloc_huge(s->context, sizeof(float) * (Size) m->n_items, "scores");
	memset(s->dense_scores, 0, sizeof(float) * (Size) m->n_items);
	for (k = first; k < last; k++)
	{
		const float *row = m->item_factors + (Size) m->seen_items[k] * m->n_items;

		for (j = 0; j < m->n_items; j++)
			s->dense_scores[j] += row[j];
	}
	return s->dense_scores;
}

int32
kpreco_top_for_user(KpServingModel *s, int32 user, int32 k)
{
	const kp_model *m = &s->model;
	int64		first = m->seen_indptr[user];
	int64		n_seen = m->seen_indptr[user + 1] - first;
	int64		i;

	if (m->algorithm == KP_ALGO_EASE)
	{
		float	   *scores = (float *) kpreco_ease_user_scores(s, user);

		for (i = 0; i < n_seen; i++)
			scores[m->seen_items[first + i]] = -INFINITY;
		return kp_topk(scores, m->n_items, k, s->top_index, s->top_score);
	}
	return kp_score_topk(&s->items_q, m->item_factors,
						 m->user_factors + (Size) user * m->factors,
						 m->seen_items + first, n_seen, k, &s->scratch,
						 s->top_index, s->top_score);
}

float
kpreco_pair_score(KpServingModel *s, int32 user, int32 item)
{
	const kp_model *m = &s->model;

	if (m->algorithm == KP_ALGO_EASE)
	{
		/* summed in the order kpreco_ease_user_scores sums, to the same bits */
		float		sum = 0;
		int64		k;

		for (k = m->seen_indptr[user]; k < m->seen_indptr[user + 1]; k++)
			sum += m->item_factors[(Size) m->seen_items[k] * m->n_items + item];
		return sum;
	}
	return kp_dot(m->user_factors + (Size) user * m->factors,
				  m->item_factors + (Size) item * m->factors, m->factors);
}

static int32 top_by_vector(KpServingModel *s, const kp_qmatrix *Q, const float *F,
							const float *x, int32 user, int32 also, int32 k,
							const KpCourseFilter *filter);

static uint8 *
course_mask(KpServingModel *s)
{
	if (s->course_mask == NULL)
		s->course_mask = MemoryContextAllocZero(s->context, (Size) s->model.n_items);
	return s->course_mask;
}

/*
 * Marks (value 1) the courses a filter excludes for a user; undone by
 * unmark.  A call cancelled in between leaves marks, cleared by the next.
 */
static void
mark_excluded(KpServingModel *s, int32 user, const KpCourseFilter *filter, int32 also)
{
	const kp_model *m = &s->model;
	uint8	   *mask = course_mask(s);
	int32		i;

	if (s->course_mask_marked)
		memset(mask, 0, (Size) m->n_items);
	s->course_mask_marked = true;

	for (i = 0; i < filter->n_exclude; i++)
		mask[filter->exclude[i]] = 1;
	if (filter->exclude_seen && user >= 0)
	{
		int64		k;

		for (k = m->seen_indptr[user]; k < m->seen_indptr[user + 1]; k++)
			mask[m->seen_items[k]] = 1;
	}
	if (also >= 0)
		mask[also] = 1;
}

static void
unmark(KpServingModel *s, int32 user, const KpCourseFilter *filter, int32 also)
{
	const kp_model *m = &s->model;
	uint8	   *mask = s->course_mask;
	int32		i;

	for (i = 0; i < filter->n_exclude; i++)
		mask[filter->exclude[i]] = 0;
	if (filter->exclude_seen && user >= 0)
	{
		int64		k;

		for (k = m->seen_indptr[user]; k < m->seen_indptr[user + 1]; k++)
			mask[m->seen_items[k]] = 0;
	}
	if (also >= 0)
		mask[also] = 0;
	s->course_mask_marked = false;
}

/* Value of a course's mask while it is taken as a candidate. */
#define TAKEN 2

/* Candidates whose vectors are prefetched ahead of their scoring (kp_prefetch). */
#define PREFETCH_AHEAD 8

/*
 * Scores of the eligible candidates (each once: a repeat finds its course
 * marked TAKEN), then a partial selection in which ties go to the lower
 * course index as everywhere else.  score_of gives a course's score;
 * candidates are few, so each is scored exactly on its own.  The rows of
 * vectors (factors floats each; NULL: none) that score_of reads are
 * prefetched, since candidates are scattered over the catalog.
 */
static int32
top_of_candidates(KpServingModel *s, int32 k, const KpCourseFilter *filter,
				  float (*score_of) (KpServingModel *s, int32 row, int32 item), int32 row,
				  const float *vectors)
{
	uint8	   *mask = s->course_mask;
	Size		row_bytes = sizeof(float) * (Size) s->model.factors;
	int32	   *index = palloc(sizeof(int32) * Max(filter->n_candidates, 1));
	float	   *scores = palloc(sizeof(float) * Max(filter->n_candidates, 1));
	int32		n = 0;
	int32		i;
	int32		count;

	for (i = 0; i < filter->n_candidates; i++)
	{
		int32		item = filter->candidates[i];

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (mask[item])
			continue;
		mask[item] = TAKEN;
		index[n++] = item;
	}
	for (i = 0; i < n; i++)
		mask[index[i]] = 0;
	for (i = 0; vectors != NULL && i < Min(n, PREFETCH_AHEAD); i++)
		kp_prefetch(vectors + (Size) index[i] * s->model.factors, row_bytes);
	for (i = 0; i < n; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (vectors != NULL && i + PREFETCH_AHEAD < n)
			kp_prefetch(vectors + (Size) index[i + PREFETCH_AHEAD] * s->model.factors, row_bytes);
		scores[i] = score_of(s, row, index[i]);
	}
	count = kp_topk_labelled(scores, index, n, k, s->top_index, s->top_score,
							 kpreco_check_interrupts, NULL);
	pfree(index);
	pfree(scores);
	return count;
}

static float
user_score(KpServingModel *s, int32 user, int32 item)
{
	return kpreco_pair_score(s, user, item);
}

/* A popular model scores everyone alike: its user vector is [1]. */
static const float everyone[1] = {1.0f};

static float
popularity_score(KpServingModel *s, int32 unused, int32 item)
{
	return s->model.item_factors[item];
}

/* An unknown user: the most popular eligible courses, with NaN scores. */
static int32
top_popular(KpServingModel *s, int32 k, const KpCourseFilter *filter)
{
	const kp_model *m = &s->model;
	uint8	   *mask = s->course_mask;
	int32		n = 0;
	int32		i;

	if (filter->has_candidates)
	{
		uint8	   *allowed = palloc0((Size) m->n_items);

		for (i = 0; i < filter->n_candidates; i++)
			allowed[filter->candidates[i]] = 1;
		for (i = 0; i < m->n_items && n < k; i++)
			if (allowed[s->popular_items[i]] && !mask[s->popular_items[i]])
				s->top_index[n++] = s->popular_items[i];
		pfree(allowed);
	}
	else
	{
		for (i = 0; i < m->n_items && n < k; i++)
			if (!mask[s->popular_items[i]])
				s->top_index[n++] = s->popular_items[i];
	}
	for (i = 0; i < n; i++)
		s->top_score[i] = NAN;
	return n;
}

int32
kpreco_top_filtered(KpServingModel *s, int32 user, int32 k, const KpCourseFilter *filter)
{
	const kp_model *m = &s->model;
	int32		n;

	mark_excluded(s, user, filter, -1);
	if (user < 0 && m->algorithm == KP_ALGO_POPULAR)
	{
		n = filter->has_candidates ? top_of_candidates(s, k, filter, popularity_score, 0, NULL)
			: top_by_vector(s, &s->items_q, m->item_factors, everyone, -1, -1, k, filter);
	}
	else if (user < 0)
		n = top_popular(s, k, filter);
	else if (filter->has_candidates)
		n = top_of_candidates(s, k, filter, user_score, user,
								  m->algorithm == KP_ALGO_EASE ? NULL : m->item_factors);
	else if (m->algorithm == KP_ALGO_EASE)
	{
		float	   *scores = (float *) kpreco_ease_user_scores(s, user);
		int32		i;

		for (i = 0; i < m->n_items; i++)
			if (s->course_mask[i])
				scores[i] = -INFINITY;
		n = kp_topk(scores, m->n_items, k, s->top_index, s->top_score);
	}
	else
		n = top_by_vector(s, &s->items_q, m->item_factors,
						  m->user_factors + (Size) user * m->factors, user, -1, k, filter);
	unmark(s, user, filter, -1);
	return n;
}

/*
 * The pruned scan of kp_score_topk with the filter's exclusions as a list
 * (any order, repeats allowed): the user's training courses when excluded,
 * the filter's exclude, and also (>= 0).
 */
static int32
top_by_vector(KpServingModel *s, const kp_qmatrix *Q, const float *F, const float *x,
			  int32 user, int32 also, int32 k, const KpCourseFilter *filter)
{
	const kp_model *m = &s->model;
	int64		n_seen = filter->exclude_seen && user >= 0 ?
		m->seen_indptr[user + 1] - m->seen_indptr[user] : 0;
	int32	   *excluded = palloc(sizeof(int32) * (n_seen + filter->n_exclude + 1));
	int64		n_excluded = 0;
	int32		n;

	if (n_seen > 0)
	{
		memcpy(excluded, m->seen_items + m->seen_indptr[user], sizeof(int32) * n_seen);
		n_excluded = n_seen;
	}
	if (filter->n_exclude > 0)
		memcpy(excluded + n_excluded, filter->exclude, sizeof(int32) * filter->n_exclude);
	n_excluded += filter->n_exclude;
	if (also >= 0)
		excluded[n_excluded++] = also;
	n = kp_score_topk(Q, F, x, excluded, n_excluded, k, &s->scratch, s->top_index, s->top_score);
	pfree(excluded);
	return n;
}

static float
cosine_score(KpServingModel *s, int32 item, int32 other)
{
	int32		f = s->model.factors;

	return kp_dot(s->item_unit + (Size) item * f, s->item_unit + (Size) other * f, f);
}

static float
ease_weight(KpServingModel *s, int32 item, int32 other)
{
	return s->model.item_factors[(Size) item * s->model.n_items + other];
}

int32
kpreco_similar_filtered(KpServingModel *s, int32 item, int32 k, const KpCourseFilter *filter)
{
	const kp_model *m = &s->model;
	int32		n;

	mark_excluded(s, -1, filter, item);
	if (m->algorithm == KP_ALGO_POPULAR)
	{
		/* the popular model's own order, without a similarity */
		int32		i;

		n = filter->has_candidates ? top_of_candidates(s, k, filter, popularity_score, 0, NULL)
			: top_by_vector(s, &s->items_q, m->item_factors, everyone, -1, item, k, filter);
		for (i = 0; i < n; i++)
			s->top_score[i] = NAN;
	}
	else if (m->algorithm == KP_ALGO_EASE)
	{
		if (filter->has_candidates)
			n = top_of_candidates(s, k, filter, ease_weight, item, NULL);
		else
		{
			int32		i;

			if (s->dense_scores == NULL)
				s->dense_scores = kpreco_alloc_huge(s->context, sizeof(float) * (Size) m->n_items, "scores");
			memcpy(s->dense_scores, m->item_factors + (Size) item * m->n_items,
				   sizeof(float) * (Size) m->n_items);
			for (i = 0; i < m->n_items; i++)
				if (s->course_mask[i])
					s->dense_scores[i] = -INFINITY;
			n = kp_topk(s->dense_scores, m->n_items, k, s->top_index, s->top_score);
		}
	}
	else
	{
		kpreco_prepare_similarity(s);
		if (filter->has_candidates)
			n = top_of_candidates(s, k, filter, cosine_score, item, s->item_unit);
		else
			n = top_by_vector(s, &s->item_unit_q, s->item_unit,
							  s->item_unit + (Size) item * m->factors, -1, item, k, filter);
	}
	unmark(s, -1, filter, item);
	return n;
}

/*
 * The top of kpreco_top_filtered re-ranked by maximal marginal relevance
 * (kp_rerank.h) over the course vectors: a pool of the 5·k (at least 50)
 * most relevant eligible courses, of which k are picked.  Scores stay the
 * relevance scores; the rank is the order of the picks.
 */
int32
kpreco_diverse_top(KpServingModel *s, int32 user, int32 k, const KpCourseFilter *filter,
				   float diversity)
{
	const kp_model *m = &s->model;
	int32		pool_size = Min(m->n_items, Max(5 * k, 50));
	int32		n = kpreco_top_filtered(s, user, pool_size, filter);
	int32	   *pool = palloc(sizeof(int32) * Max(n, 1));
	float	   *pool_scores = palloc(sizeof(float) * Max(n, 1));
	float	   *relevance = palloc(sizeof(float) * Max(n, 1));
	int32	   *order = palloc(sizeof(int32) * Max(n, 1));
	kp_allocator alloc;
	int32		count;
	int32		i;

	for (i = 0; i < n; i++)
	{
		pool[i] = s->top_index[i];
		pool_scores[i] = s->top_score[i];
		/* an unknown user's pool has no scores: its popularity order is the relevance */
		relevance[i] = isnan(s->top_score[i]) ? (float) (n - i) : s->top_score[i];
	}
	kpreco_allocator_init(&alloc, CurrentMemoryContext);
	kpreco_report_status(kp_rerank_mmr(&alloc, m->item_factors, m->n_items, m->factors,
									   pool, relevance, n, k, diversity, order, &count,
									   kpreco_check_interrupts, NULL),
						 "re-ranking for diversity");
	for (i = 0; i < count; i++)
	{
		s->top_index[i] = pool[order[i]];
		s->top_score[i] = pool_scores[order[i]];
	}
	pfree(pool);
	pfree(pool_scores);
	pfree(relevance);
	pfree(order);
	return count;
}
