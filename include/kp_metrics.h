/*
 * kp_metrics.h -- ranking metrics of top-k recommendations, and the
 * intra-list diversity of a recommendation list.
 *
 * The protocol is the one of shared/bench/recbench.py, so that a model
 * evaluated inside the server gets the numbers the benchmark gives:
 *
 *   relevant(u) = the user's distinct held-out items that are not among the
 *                 user's training items.  Items unknown to the model stay in
 *                 it: they can never be hit, but they count in |relevant|.
 *   P@k    = hits / k                      (always k, even with fewer recs)
 *   R@k    = hits / |relevant|
 *   NDCG@k = Σ_{hit at rank r <= k} 1/log2(r + 1)
 *            / Σ_{r <= min(|relevant|, k)} 1/log2(r + 1)
 *   AP@k   = Σ_{hit at rank r <= k} P@r / min(|relevant|, k)
 *
 * The benchmark averages each metric over the users with a training row and
 * a non-empty relevant set (a plain mean per user); users without relevant
 * items are not evaluated at all.
 */
#ifndef KP_METRICS_H
#define KP_METRICS_H

#include "kp_core.h"

typedef struct kp_rank_metrics
{
	int32_t		hits;			/* relevant items among the first k */
	double		precision;
	double		recall;
	double		ndcg;
	double		average_precision;
} kp_rank_metrics;

/*
 * Metrics of one user's recommendations at cutoff k.
 *
 * recs: item ids, best first; any number (fewer than k just means fewer
 * chances to hit).  A repeated id counts once, at its best rank, and the
 * entries after it move up, as recbench.py --score-recs reads a recs file;
 * only the first k distinct ids count.  Every value is an item id (there
 * is no "empty slot" value).
 *
 * relevant: distinct ids, in any order.  Strictly increasing ids are looked
 * up by binary search, others by a linear scan; kp_sort_unique_ids puts an
 * array in that order.  Repeated ids would count twice in |relevant|.
 *
 * Costs O(k·n_recs) for the repeat check plus O(k·log |relevant|) for
 * sorted relevant ids.  With k < 1 or no relevant items (a user the
 * protocol does not evaluate) every field is 0.
 */
void		kp_rank_metrics_user(const int64_t *recs, int32_t n_recs, int32_t k,
								 const int64_t *relevant, int32_t n_relevant,
								 kp_rank_metrics *out);

/* Sorts ids ascending in place, drops repeats; returns how many remain. */
int32_t		kp_sort_unique_ids(int64_t *ids, int32_t n);

/*
 * Intra-list diversity: the mean over the n(n−1)/2 pairs of listed items of
 * 1 − cos(v_a, v_b), where v_a is row rows[a] of vectors (dim floats per
 * row, row-major; every rows[a] must be a valid row).  Computed in double.
 * A pair involving a zero vector has cosine 0 (distance 1).  A listed row
 * repeated has distance 0 to itself.  0 when n < 2.  Ranges over [0, 2];
 * for vectors with nonnegative components, over [0, 1].  Calls interrupt
 * (if not NULL) before each listed item's pairs, every 64 items; NaN when
 * it asks to stop (a list of 10,000 items is 50 million pairs).
 */
double		kp_intra_list_diversity(const float *vectors, int32_t dim,
									const int32_t *rows, int32_t n,
									kp_interrupt_fn interrupt, void *interrupt_arg);

#endif							/* KP_METRICS_H */
