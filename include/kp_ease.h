/*
 * kp_ease.h -- EASE, the embarrassingly shallow autoencoder.
 *
 * Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019:
 * the item-item weights
 *     B = I − P·diag(1 ⊘ diag(P)),   P = (XᵀX + λI)⁻¹,
 * i.e. B[i][j] = −P[i][j] / P[j][j] for i ≠ j and B[j][j] = 0, are the
 * closed-form minimiser of ‖X − XB‖² + λ‖B‖² subject to diag(B) = 0.  X is
 * the users × items matrix of interaction weights as given (ones for
 * binary data).  A user with interaction row x scores item j as x·B[:, j].
 *
 * Training costs the Gram matrix (Σ over users of their item count squared,
 * halved) plus n³/2 multiply-adds in double for the inverse.  Measured on
 * one core of the development VM (OpenBLAS 0.3.21, AVX-512; CPU time, the
 * shared VM's wall clock being 2-4 times that under load), with 100,000
 * users and 4 million interactions: n = 5,000 items 4 s, n = 10,000 items
 * 25 s, of which the Gram matrix is 1-1.5 s (LAPACK's dpotrf + dpotri alone
 * take 20 s at 10,000, in two calls that cannot be interrupted).  The work
 * is split into BLAS calls of at most ~25 ms, between which the interrupt
 * callback runs: at n = 10,000 its calls were at most 0.11 s apart on the
 * loaded VM, and a cancelled training returned 0.16-0.37 s after the
 * callback's first nonzero answer, nearly all of it the release of the
 * 800 MB matrix (the same cost as PostgreSQL freeing it after an ERROR).
 *
 * The default λ ("auto", lambda = 0 in the parameters) is
 *     λ = KP_EASE_AUTO_LAMBDA_SCALE · sqrt(nnz / n_items) · (Σ w² / nnz),
 * 40 times the square root of the mean number of interactions per item,
 * times the mean squared weight.  For binary data that is 40·sqrt of the
 * mean diagonal of XᵀX.  Why this shape:
 *   - scale: multiplying every weight by s multiplies XᵀX by s² and leaves B
 *     unchanged only if λ follows, so λ is linear in the mean squared
 *     weight; weights in minutes or in points then need no retuning;
 *   - growth: more interactions per item make the co-occurrence counts in
 *     XᵀX more reliable (their noise grows like the square root of the
 *     counts), so less shrinkage relative to them is needed; λ grows like
 *     the square root of the counts, not in proportion;
 *   - measured: the best λ on MovieLens 100K (binary, mean 49 interactions
 *     per item) is 200 (NDCG@10 0.199; 0.191 at 50 and at 800); on
 *     recbench.py's synthetic sets the best λ was 300 (5,000 users × 3,000
 *     items, 26 per item), 300 (20,000 × 8,000, 39), 800 (20,000 × 3,000,
 *     104), 1,600 (20,000 × 1,000, 313), 1,600 (80,000 × 3,000, 418) and 600
 *     (50,000 × 500, 622, about 6 courses per user).  On each of these and
 *     two user subsamples of MovieLens, 40·sqrt gives at least 99.3% of the
 *     best NDCG@10 of a grid of λ (mean 99.7%).  A fixed λ = 200 gives at
 *     worst 98.4% (20,000 × 1,000); λ proportional to the mean count
 *     (4·mean, best on MovieLens) about 98%, and it would reach λ in the
 *     tens of thousands on large platforms, where Steck's published optima
 *     are 200-1,000.
 * On MovieLens 100K the rule gives λ = 281 and NDCG@10 0.197 (P@10 0.174,
 * MAP@10 0.103); on recbench.py --synthetic 20000 3000 400000 1, λ = 409 and
 * NDCG@10 0.280 (best 0.281 at λ = 800).
 */
#ifndef KP_EASE_H
#define KP_EASE_H

#include "kp_core.h"
#include "kp_sparse.h"

/*
 * Largest catalog EASE trains on.  The model stores B as n² float32 values
 * (400 MB at 10,000 items; a model must stay under KP_MODEL_MAX_BYTES,
 * 760 MB, so about 14,000 items at most), training holds an n×n matrix of
 * doubles (800 MB at 10,000, under PostgreSQL's 1 GB limit for one
 * allocation) besides B, and the time grows as n³ (25 s of CPU at 10,000).
 */
#define KP_EASE_MAX_ITEMS 10000

/* The automatic λ: see above. */
#define KP_EASE_AUTO_LAMBDA_SCALE 40.0
/* λ when there is nothing to scale by (no interactions): any λ > 0 gives B = 0. */
#define KP_EASE_AUTO_LAMBDA_FALLBACK 1.0

typedef struct kp_ease_params
{
	/*
	 * L2 regularisation λ: finite and > 0, or 0 (the default) for the
	 * automatic value kp_ease_auto_lambda computes from the data.  A caller
	 * that takes λ from a user should pass 0 only when none was given (EASE
	 * with λ = 0 is the unregularised inverse, which sparse data rarely has).
	 */
	float		lambda;
} kp_ease_params;

void		kp_ease_default_params(kp_ease_params *params);

/*
 * NULL when params are valid, else a static message that starts with the
 * option's name ("regularization must be ...").
 */
const char *kp_ease_check_params(const kp_ease_params *params);

/* The automatic λ for these interactions (X transposed, as for training). */
float		kp_ease_auto_lambda(const kp_csr *item_users);

/*
 * Bytes kp_ease_train allocates beyond its inputs and B, at most: n² doubles
 * plus a panel of 256 columns and a few megabytes.  0 if n_items is
 * negative or above KP_EASE_MAX_ITEMS.
 */
size_t		kp_ease_train_bytes(int32_t n_items);

/*
 * Trains B (n_items × n_items floats, row-major: B[i·n + j] is the weight of
 * item i in the score of item j) from item_users, X transposed: one row per
 * item, one column per user, values = interaction weights.  Items without
 * interactions get zero rows and columns.  lambda_used (may be NULL)
 * receives the λ applied.  Calls interrupt between blocks of work (at most
 * ~25 ms of CPU each at n = 10,000) and returns KP_ECANCELLED when it
 * returns nonzero, having freed what it allocated.
 * KP_EINVAL: bad params, or n_items above KP_EASE_MAX_ITEMS (checked before
 * allocating).  KP_ENUMERIC: XᵀX + λI not positive definite in working
 * precision (λ lost in rounding against huge weights), or an entry of B
 * beyond float range.  Same input and BLAS thread count: same bits.
 */
kp_status	kp_ease_train(const kp_allocator *alloc, const kp_csr *item_users,
						  const kp_ease_params *params, float *B, float *lambda_used,
						  kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * scores[j] = Σ_k weights[k]·B[items[k]][j] for j in [0, n_items): the
 * scores of every item for a user with these n items (weights NULL: all 1).
 * Items outside [0, n_items) are skipped.  The user's own items get scores
 * too; the caller excludes them.
 */
void		kp_ease_scores(const float *B, int32_t n_items, const int32_t *items,
						   const float *weights, int32_t n, float *scores);

#endif							/* KP_EASE_H */
