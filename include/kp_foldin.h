/*
 * kp_foldin.h -- a user vector from a set of courses, without retraining.
 *
 * Folding in is the user half-step of implicit ALS (Hu, Koren & Volinsky,
 * "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008) for
 * one user whose interactions were not part of training: with the model's
 * course vectors Y fixed, solve once
 *     (YᵀY + λI + Yᵀ(C − I)Y) x = Yᵀ C p
 * where p is 1 on the given courses and 0 elsewhere, and C has confidence
 * c = 1 + alpha·w on the given courses and 1 elsewhere.  YᵀY + λI is the
 * Gram matrix G of kp_ials_gram (kp_ials.h), which a server computes once
 * per model; each fold-in then costs O(n·f² + f³) for n courses and f
 * dimensions.  For an ials model with the model's alpha and
 * regularization this is exactly the equation training solves for each of
 * its users (with its Cholesky solver), against the final course vectors.
 * For other algorithms it gives an iALS-style vector against their course
 * vectors; scores are still dot products, but they are not what that
 * algorithm's own training would produce.
 */
#ifndef KP_FOLDIN_H
#define KP_FOLDIN_H

#include "kp_core.h"

/*
 * An item's added confidence alpha·w is capped so that
 * alpha·w·‖y‖² <= KP_FOLDIN_MAX_CONFIDENCE_RATIO · trace(G)/f.  Well below
 * the cap the solution has long stopped changing at float precision (it
 * has converged to the limit for infinite weight); the cap keeps the
 * system solvable for absurd weights (up to FLT_MAX), which would
 * otherwise overflow or make the factorisation fail.
 */
#define KP_FOLDIN_MAX_CONFIDENCE_RATIO 1e8

/* Course vectors of every model but ease (als: factors + 2 <= 1026). */
#define KP_FOLDIN_MAX_DIMS 1026

/*
 * Bytes of workspace one kp_foldin call needs for dims dimensions (the
 * system is formed and solved in double: about 8·dims² bytes, 10 MB at
 * dims = 1026, 35 KB at 64).  SIZE_MAX when dims is outside
 * [1, KP_FOLDIN_MAX_DIMS].  The workspace must be aligned for double (any
 * kp_alloc result is).
 */
size_t		kp_foldin_workspace_bytes(int32_t dims);

/*
 * Writes to x (dims floats) the implicit-ALS vector of a user who
 * interacted with items[0 .. n) (indices into item_vectors, n_items ×
 * dims, row-major) with weights[0 .. n), or weight 1 each when weights is
 * NULL.
 *
 * gram: kp_ials_gram(item_vectors, n_items, dims, regularization), dims ×
 * dims, full; regularization is then not used.  When gram is NULL it is
 * formed from item_vectors and regularization (O(n_items·dims²) per call).
 *
 * The caller deduplicates: a course listed twice counts twice, which is
 * not what training does with a repeated pair (it sums the weights into
 * one entry, so pass one entry with the summed weight).  Courses unknown to
 * the model are the caller's to drop; an index outside [0, n_items) is
 * KP_EINVAL.  Weights must be finite and >= 0; an entry of weight 0 is
 * ignored, as training drops such pairs.  No courses (n = 0, or all
 * weights 0) give the zero vector, as for a user without interactions in
 * training.  alpha and regularization must be finite and >= 0.
 *
 * Calls interrupt (if not NULL) every few milliseconds of work.
 * KP_ENUMERIC (x zeroed) when the system is not positive definite (e.g.
 * regularization 0 with rank-deficient course vectors) or the solution
 * does not fit in float.
 */
kp_status	kp_foldin(const float *item_vectors, int32_t n_items, int32_t dims,
					  const float *gram, const int32_t *items, const float *weights,
					  int32_t n, float alpha, float regularization, float *x,
					  void *workspace, kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * The same solve for a few courses through the Sherman-Morrison-Woodbury
 * identity (Woodbury 1950): with P = G⁻¹, computed once per model, and
 * A = G + U Uᵀ where the rows of U are √(c − 1)·y of the given courses,
 *     x = z − W (I + U Wᵀ)⁻¹ U z,   z = P b,   W = U P,
 * which costs O(f²n + f n² + n³) instead of forming and factoring A,
 * O(f³).  Same inputs, caps and result as kp_foldin, to rounding.
 * n <= KP_FOLDIN_LOWRANK_MAX; items and weights as for kp_foldin; gram is
 * G itself (for the confidence cap), gram_inverse from
 * kp_foldin_gram_inverse.  Runs in microseconds: no interrupt callback.
 */
#define KP_FOLDIN_LOWRANK_MAX 64

/* P = G⁻¹ (dims × dims doubles, full) by Cholesky; KP_ENUMERIC if G is not positive definite. */
kp_status	kp_foldin_gram_inverse(const float *gram, int32_t dims, double *inverse);
size_t		kp_foldin_inverse_workspace_bytes(int32_t dims);
size_t		kp_foldin_lowrank_workspace_bytes(int32_t dims, int32_t n);
kp_status	kp_foldin_lowrank(const float *item_vectors, int32_t n_items, int32_t dims,
							  const float *gram, const double *gram_inverse,
							  const int32_t *items, const float *weights, int32_t n,
							  float alpha, float *x, void *workspace);

#endif							/* KP_FOLDIN_H */
