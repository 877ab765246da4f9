/*
 * kp_bpr.h -- Bayesian Personalized Ranking by stochastic gradient descent.
 *
 * Rendle, Freudenthaler, Gantner & Schmidt-Thieme, "BPR: Bayesian
 * Personalized Ranking from Implicit Feedback", UAI 2009: LearnBPR, i.e.
 * SGD on Σ ln σ(x̂_uij) − λ‖Θ‖² over triples (u, i, j) where u interacted
 * with i and not with j, for the matrix factorisation model
 *     x̂_ui = p_u·q_i + b_i.
 *
 * Vectors are stored augmented, f + 1 floats a row, so serving is a plain
 * dot product: a user's last component is always exactly 1 and an item's
 * last component is its bias b_i.
 *
 * Sampling (see bpr.c for the details): each epoch draws as many triples
 * as there are interactions of users who can be trained; the (user,
 * positive) pair is drawn with probability proportional to its weight
 * (user_items->values, so upstream event weights and time decay matter;
 * all weights equal gives every interaction the same chance; weights steer
 * only the sampling, never the size of a step), and the negative is drawn
 * uniformly from the items the user has not interacted with.  Everything
 * runs on one thread in a fixed order: the same input and params give the
 * same bits.
 */
#ifndef KP_BPR_H
#define KP_BPR_H

#include "kp_core.h"
#include "kp_ials.h"			/* KP_MAX_FACTORS, KP_DEFAULT_SEED, kp_iteration_fn */
#include "kp_sparse.h"

#define KP_BPR_MAX_EPOCHS 10000

typedef struct kp_bpr_params
{
	int32_t		factors;		/* 1 .. KP_MAX_FACTORS, default 64 */
	int32_t		epochs;			/* 0 .. KP_BPR_MAX_EPOCHS, default 100 */
	float		learning_rate;	/* finite, > 0 and <= 1, default 0.01 */
	float		regularization; /* finite, >= 0, default 0.01 */
	uint64_t	seed;			/* default KP_DEFAULT_SEED */
} kp_bpr_params;

void		kp_bpr_default_params(kp_bpr_params *params);

/*
 * NULL when params are valid, else a static message that starts with the
 * offending option's name, e.g. "learning_rate must be ...".
 */
const char *kp_bpr_check_params(const kp_bpr_params *params);

/*
 * Bytes kp_bpr_train allocates beyond its inputs and outputs (the samplers'
 * tables and a membership filter), at its peak, for up-front memory checks;
 * SIZE_MAX if that does not fit in a size_t or params are invalid.  About
 * 20 bytes per user (12 of them only while the tables are built) and 1 byte
 * per interaction, plus 8 bytes per interaction when the weights are not
 * all equal; 0 when there are no interactions.
 */
size_t		kp_bpr_train_bytes(const kp_csr *user_items, const kp_bpr_params *params);

/*
 * Start values as kp_bpr_train sets them, a pure function of (seed, row,
 * column): items' f + 1 components (bias included) uniform in
 * [-0.5/f, 0.5/f); users' first f components likewise from another stream
 * and their last component 1.
 */
void		kp_bpr_init(float *user_vectors, int32_t n_users, float *item_vectors,
						int32_t n_items, int32_t factors, uint64_t seed);

/*
 * Trains user_vectors (user_items->n_rows × (f + 1)) and item_vectors
 * (user_items->n_cols × (f + 1)), row-major, from scratch: kp_bpr_init,
 * then params->epochs epochs of SGD.  score(u, i) = user_vectors[u] ·
 * item_vectors[i].
 *
 * Users without interactions end with zero factors (and the final 1), so
 * their scores are the item biases.  Items nobody interacted with keep
 * their small random factors; they are drawn as negatives like every other
 * item, which pushes their bias down.  Users who interacted with every
 * item have no negatives and keep their start values.
 *
 * last_epoch_loss, if not NULL, receives the mean of −ln σ(x̂_uij) over the
 * latest epoch's triples (each taken before its step), written after every
 * epoch and before on_epoch is called, so that on_epoch can report it; 0
 * before the first epoch and for an epoch without triples (no user has both
 * an interaction and a negative).  interrupt (may be NULL) is called every
 * few thousand triples and every few milliseconds of the preparatory
 * passes; on_epoch (may be NULL) after each epoch with its 1-based number;
 * a nonzero return from either gives KP_ECANCELLED.  KP_EINVAL for invalid
 * params or a malformed matrix, KP_ENOMEM if the allocator fails,
 * KP_ENUMERIC if a vector becomes NaN or infinite (checked after every
 * epoch).
 */
kp_status	kp_bpr_train(const kp_allocator *alloc, const kp_csr *user_items,
						 const kp_bpr_params *params,
						 float *user_vectors, float *item_vectors,
						 double *last_epoch_loss,
						 kp_interrupt_fn interrupt, void *interrupt_arg,
						 kp_iteration_fn on_epoch, void *epoch_arg);

#endif							/* KP_BPR_H */
