/*
 * kp_rerank.h -- re-ranking recommendations for diversity.
 *
 * Maximal marginal relevance (Carbonell & Goldstein, "The Use of MMR,
 * Diversity-Based Reranking for Reordering Documents and Producing
 * Summaries", SIGIR 1998): from candidates with relevance scores, pick k
 * one at a time, each time the candidate maximising
 *     (1 − λ)·rel(i) − λ·max_{j picked} cos(y_i, y_j)
 * where λ = diversity in [0, 1]: 0 keeps the relevance order, 1 picks the
 * most relevant candidate first and then always the one least similar to
 * those already picked.  With nothing picked yet the similarity term is 0.
 *
 * rel is the relevance rescaled to [0, 1] over the candidates:
 * (r − min r)/(max r − min r), or 1 for all when every relevance is equal,
 * so that λ weighs the two terms on the same scale whatever the scores'
 * units (iALS scores near 1, ALS ratings, EASE sums).  cos is the cosine
 * of the course vectors; a zero vector has cosine 0 with everything.  Equal
 * MMR values go to the higher raw relevance, then to the earlier candidate.
 * The computation is in double, O(k·n·dims) for n candidates.
 */
#ifndef KP_RERANK_H
#define KP_RERANK_H

#include "kp_core.h"

/* Bytes kp_rerank_mmr allocates, or SIZE_MAX if the sizes overflow. */
size_t		kp_rerank_bytes(int32_t n_candidates, int32_t dims);

/*
 * candidates[0 .. n_candidates): course indices into item_vectors (n_items
 * × dims, row-major); a course may appear twice (its copies then have
 * cosine 1).  relevance[0 .. n_candidates): finite scores, higher is
 * better.  Writes to out_order the positions (indices into candidates, not
 * course indices) of min(k, n_candidates) picks, in the order picked, and
 * their number to *out_count.  diversity must be in [0, 1]; k >= 0.
 * KP_EINVAL for a course index outside [0, n_items), a non-finite
 * relevance or course vector value, or a bad diversity.  Calls interrupt
 * (if not NULL) once per pick.
 */
kp_status	kp_rerank_mmr(const kp_allocator *alloc, const float *item_vectors,
						  int32_t n_items, int32_t dims, const int32_t *candidates,
						  const float *relevance, int32_t n_candidates, int32_t k,
						  float diversity, int32_t *out_order, int32_t *out_count,
						  kp_interrupt_fn interrupt, void *interrupt_arg);

#endif							/* KP_RERANK_H */
