/*
 * kp_popular.h -- the popularity baseline: every user gets the courses with
 * the largest summed interaction weight.  With time decay applied to the
 * weights upstream (option half_life_days) this is "trending".
 */
#ifndef KP_POPULAR_H
#define KP_POPULAR_H

#include "kp_core.h"
#include "kp_sparse.h"

/*
 * scores[i] = sum of row i of item_users (one row per course), summed in
 * double and rounded once.  Scores above FLT_MAX are clamped to FLT_MAX.
 */
void		kp_popular_scores(const kp_csr *item_users, float *scores);

#endif							/* KP_POPULAR_H */
