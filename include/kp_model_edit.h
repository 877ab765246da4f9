/*
 * kp_model_edit.h -- edits of a parsed model that keep its format version:
 * finding a user and removing one (to forget a person's data without
 * retraining).
 */
#ifndef KP_MODEL_EDIT_H
#define KP_MODEL_EDIT_H

#include "kp_model.h"

/* Row of user_id in m (user_ids ascending), or -1 if m has no such user. */
int32_t		kp_model_find_user(const kp_model *m, int64_t user_id);

/*
 * Removes user row `row` from the model that m describes, in place: the
 * user-side arrays (ids, factors, seen items and their offsets) are moved
 * down over the row, n_users drops by one, and nnz and rows_read drop by the
 * user's training pairs.  The item side and the neighbour lists are left as
 * they are (update the lists with kp_neighbours_edit).  m's arrays must
 * point into a buffer the caller owns and may change (for instance a private
 * copy read with kp_model_read); that buffer no longer validates afterwards,
 * so serialise the result with kp_model_write.  KP_EINVAL if row is out of
 * range.  Calls interrupt (if not NULL) every few MB moved; KP_ECANCELLED,
 * with the buffer half moved and m unchanged, when it returns nonzero.
 */
kp_status	kp_model_remove_user(kp_model *m, int32_t row,
								 kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * Offset of the user_ids section from the start of a value whose header is
 * m (only options_len matters), so that a reader can fetch the ids alone.
 */
size_t		kp_model_user_ids_offset(const kp_model *m);

#endif							/* KP_MODEL_EDIT_H */
