/*
 * kp_ridge.h -- course vectors from content features, for courses without
 * interactions (content cold start).
 *
 * Given a sparse course × feature matrix F (CSR; e.g. TF-IDF weights of
 * words, tags, categories, instructors) for courses whose vectors V
 * (n_courses × dims, from a trained model) are known, learn
 *     W = argmin ‖F·W − V‖² + λ‖W‖²      (n_features × dims)
 * by the normal equations (FᵀF + λI)·W = FᵀV (Hoerl & Kennard, "Ridge
 * Regression: Biased Estimation for Nonorthogonal Problems",
 * Technometrics 12(1), 1970), and predict a new course's vector from its
 * features f alone as fᵀW.  This is the linear mapping from attributes to
 * latent factors of Gantner et al., "Learning Attribute-to-Feature
 * Mappings for Cold-Start Recommendations", ICDM 2010.
 *
 * When there are fewer courses than features the equivalent dual form
 * W = Fᵀ·(FFᵀ + λI)⁻¹·V is solved instead (the same W for λ > 0; for
 * λ = 0 it is the minimum-norm interpolating W).  Either way the system
 * has m = min(active features, active courses) unknowns per dimension,
 * where a feature is active if some course has a nonzero value for it and
 * a course is active if it has a nonzero value; inactive features get
 * zero rows in W and inactive courses do not count.  The system is formed
 * and factored by a blocked Cholesky in double, with the callback asked
 * between blocks.
 *
 * Limits: m <= KP_RIDGE_MAX_UNKNOWNS (20,000).  Memory is about
 * 8·m² + 8·m·dims bytes (m = 5,000: 200 MB; 10,000: 800 MB; 20,000:
 * 3.2 GB), kp_ridge_fit_bytes exactly; time O(m³/3) for the factorisation
 * (20,000: 2.7·10¹² flops, minutes on one core) plus O(Σ nnz(row)²) to
 * form FᵀF or FFᵀ.
 */
#ifndef KP_RIDGE_H
#define KP_RIDGE_H

#include "kp_core.h"
#include "kp_sparse.h"

#define KP_RIDGE_MAX_UNKNOWNS 20000
#define KP_RIDGE_MAX_DIMS 1026		/* every model's course vectors but ease's */

/*
 * Bytes kp_ridge_fit allocates for these features (the counts of active
 * features and courses decide), or SIZE_MAX if the input is malformed or
 * m exceeds KP_RIDGE_MAX_UNKNOWNS.
 */
size_t		kp_ridge_fit_bytes(const kp_csr *features, int32_t dims);

/*
 * features: n_courses × n_features; each row's columns strictly
 * increasing, values finite (any sign; 0 is the same as absent).
 * course_vectors: n_courses × dims, finite.  regularization λ: finite,
 * >= 0.  Writes W (n_features × dims, row-major).  KP_EINVAL for malformed
 * input, dims outside [1, KP_RIDGE_MAX_DIMS] or m above
 * KP_RIDGE_MAX_UNKNOWNS; KP_ENUMERIC when the system is not positive
 * definite (λ = 0 with collinear features) or W does not fit in float.
 * Calls interrupt (if not NULL) every few milliseconds of work.
 */
kp_status	kp_ridge_fit(const kp_allocator *alloc, const kp_csr *features,
						 const float *course_vectors, int32_t dims, float regularization,
						 float *W, kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * out (dims floats) = Σ values[i]·W[features[i]] for one course's n
 * features (any order; summed in double).  No features: the zero vector.
 * KP_EINVAL for a feature outside [0, n_features) or a non-finite value.
 */
kp_status	kp_ridge_predict(const float *W, int32_t n_features, int32_t dims,
							 const int32_t *features, const float *values, int32_t n,
							 float *out);

#endif							/* KP_RIDGE_H */
