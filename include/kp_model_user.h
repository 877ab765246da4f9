/*
 * kp_model_user.h -- a model with one user's vector and training courses
 * set anew (kpreco.refresh_user): the user is replaced where the model has
 * them, inserted in id order otherwise, and removed when given no courses.
 * The course side is shared with the input.
 */
#ifndef KP_MODEL_USER_H
#define KP_MODEL_USER_H

#include "kp_model.h"

/*
 * Fills *out with in's fields, except that the user-side arrays (user_ids,
 * user_factors, seen_indptr, seen_items) are new allocations from alloc that
 * hold user_id with vector (factors floats; ignored for ease, which has no
 * user vectors) and the course indices items[0 .. n) (strictly ascending,
 * each in [0, n_items)).  n = 0 removes the user.  rows_read follows nnz.
 * Free the four arrays with kp_model_user_free.  KP_EINVAL for items out of
 * order or range, KP_ENOMEM, KP_ECANCELLED when interrupt asks (called every
 * few MB copied).  out keeps in's neighbour lists, which then no longer
 * match its user rows: update them with kp_neighbours_edit.
 */
kp_status	kp_model_put_user(const kp_allocator *alloc, const kp_model *in, int64_t user_id,
							  const float *vector, const int32_t *items, int32_t n,
							  kp_model *out, kp_interrupt_fn interrupt, void *interrupt_arg);

void		kp_model_user_free(const kp_allocator *alloc, kp_model *m);

#endif							/* KP_MODEL_USER_H */
