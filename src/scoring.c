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
