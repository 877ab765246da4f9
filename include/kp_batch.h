/*
 * kp_batch.h -- top-k recommendations for many users at once.
 *
 * Scores of a block of users against a block of courses are one sgemm
 * (KP_BATCH_USERS × KP_BATCH_ITEMS at a time, 4 MB of scores, never the
 * full score matrix), and each user keeps a bounded heap of its k best.
 *
 * The results are exactly those of kp_score_topk (kp_score.h), user by
 * user: the same courses in the same order with the same float scores,
 * which are kp_dot's.  sgemm sums each dot product in another order than
 * kp_dot, so its scores can differ from kp_dot's in the last bits; they
 * only decide which courses are worth rescoring.  For dimension f, both
 * sums are within γ_f·Σ|x_j·y_j| <= γ_f·‖x‖·‖y‖ of the exact value
 * (γ_f = f·u/(1 − f·u), u = 2⁻²⁴; Higham, "Accuracy and Stability of
 * Numerical Algorithms", 2nd ed., 2002, section 3.1), whatever the order
 * or use of fused multiply-adds.  A course is rescored with kp_dot only
 * when its sgemm score exceeds the user's current k-th best kp_dot score
 * minus twice that bound (with a safety factor and room for underflow),
 * so no course that kp_score_topk would return is ever skipped, and the
 * heap holds kp_dot scores only, with kp_topk's rule: best first, ties to
 * the lower index, NaN and -inf never selected.  Typically a few dozen
 * courses per user are rescored.
 *
 * Vectors are assumed finite with dot products that do not overflow (true
 * of every model kp_model_read accepts: |value| <= 1e15, f <= 1026).
 * ease models have no user vectors and are not served by this.
 */
#ifndef KP_BATCH_H
#define KP_BATCH_H

#include "kp_core.h"

#define KP_BATCH_USERS 256
#define KP_BATCH_ITEMS 4096
#define KP_BATCH_MAX_DIMS 4096

/* Bytes kp_batch_topk allocates for n_items courses of dims dimensions. */
size_t		kp_batch_bytes(int32_t n_items, int32_t dims);

/*
 * For each of n_users users, the k courses with the largest dot product
 * with the user's vector, excluding the user's seen courses.
 *
 * users: n_users row indices into user_vectors (n_user_rows × dims) and
 * into the seen lists, any order, repeats allowed; NULL means rows 0 ..
 * n_users − 1 (then n_users <= n_user_rows).  item_vectors: n_items ×
 * dims.  Seen lists, CSR-like as in kp_model: row r's courses are
 * seen_items[seen_indptr[r] .. seen_indptr[r + 1]), ascending (repeats
 * allowed), within [0, n_items); seen_indptr NULL excludes nothing.
 *
 * Output for the i-th user (i in [0, n_users)): out_count[i] results in
 * out_index[i·k ..] and out_score[i·k ..], best first; the rest of its k
 * slots get index −1 and score NaN.  k >= 1 (k > n_items is allowed).
 *
 * KP_EINVAL for bad sizes, a user row outside [0, n_user_rows), or a
 * malformed seen list of a requested user.  Calls interrupt (if not NULL)
 * before every block of scores (a few milliseconds each); on
 * KP_ECANCELLED the outputs are incomplete.  Results do not depend on the
 * BLAS thread count.
 */
kp_status	kp_batch_topk(const kp_allocator *alloc,
						  const float *user_vectors, int32_t n_user_rows,
						  const int32_t *users, int32_t n_users,
						  const float *item_vectors, int32_t n_items, int32_t dims,
						  const int64_t *seen_indptr, const int32_t *seen_items,
						  int32_t k, int32_t *out_index, float *out_score,
						  int32_t *out_count,
						  kp_interrupt_fn interrupt, void *interrupt_arg);

#endif							/* KP_BATCH_H */
