/*
 * kp_ials.h -- implicit-feedback alternating least squares.
 *
 * Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback
 * Datasets", ICDM 2008: for every observed pair confidence c = 1 + alpha*w
 * and preference 1, every other pair confidence 1 and preference 0.  Each
 * half-step solves, for every row u of X,
 *     (YᵀY + Yᵀ(C_u - I)Y + λI) x_u = Yᵀ C_u p_u
 * with YᵀY precomputed once per half-step (the Gram matrix G below, which
 * already includes λI).  The solve is either a few steps of conjugate
 * gradient warm-started from the previous x_u (Takács, Pilászy & Tikk,
 * "Applications of the conjugate gradient method for implicit feedback
 * collaborative filtering", RecSys 2011) or an exact Cholesky factorisation.
 *
 * kp_ials_gram and kp_ials_half_step are the reusable units: a distributed
 * trainer sums Gram matrices of shards and runs half-steps per shard.
 */
#ifndef KP_IALS_H
#define KP_IALS_H

#include "kp_core.h"
#include "kp_sparse.h"

#define KP_MAX_FACTORS 1024
#define KP_MAX_ITERATIONS 1000
#define KP_MAX_CG_STEPS 64

typedef enum kp_solver
{
	KP_SOLVER_CG = 0,
	KP_SOLVER_CHOLESKY = 1
} kp_solver;

typedef struct kp_ials_params
{
	int32_t		factors;		/* 1 .. KP_MAX_FACTORS, default 64 */
	int32_t		iterations;		/* 0 .. KP_MAX_ITERATIONS, default 15 */
	float		regularization; /* finite, >= 0, default 0.01 */
	float		alpha;			/* finite, >= 0, default 1.0 */
	kp_solver	solver;			/* default KP_SOLVER_CG */
	int32_t		cg_steps;		/* 1 .. KP_MAX_CG_STEPS, default 3 */
	uint64_t	seed;			/* default KP_DEFAULT_SEED */
} kp_ials_params;

#define KP_DEFAULT_SEED 42

/* Called after each full iteration (1-based); nonzero return cancels. */
typedef int (*kp_iteration_fn) (void *arg, int32_t iteration);

void		kp_ials_default_params(kp_ials_params *params);

/*
 * NULL when params are valid, else a static message that starts with the
 * offending option's name, e.g. "factors must be between 1 and 1024".
 */
const char *kp_ials_check_params(const kp_ials_params *params);

/*
 * Deterministic start values in [0, 0.01), a pure function of (seed,
 * stream, row, column): stream 0 for users, 1 for items.
 */
void		kp_factors_init(float *factors, int32_t n_rows, int32_t n_factors,
							uint64_t seed, uint64_t stream);

/* G = FᵀF + regularization·I, f×f, full (both triangles), row-major. */
void		kp_ials_gram(const float *F, int32_t n_rows, int32_t n_factors,
						 float regularization, float *G);

/* Bytes of workspace one kp_ials_half_step call needs. */
size_t		kp_ials_workspace_bytes(const kp_ials_params *params, int32_t max_row_nnz);

/*
 * Updates rows [row_begin, row_end) of X (R->n_rows × f, row-major) given
 * Y (R->n_cols × f) and G from kp_ials_gram(Y).  R holds raw weights w;
 * confidence is 1 + alpha·w.  Rows without interactions become zero.
 * workspace: kp_ials_workspace_bytes(params, max nnz of any row in range),
 * aligned for float.  Calls interrupt (if not NULL) every few hundred rows.
 * KP_ENUMERIC if the Cholesky factorisation fails.
 */
kp_status	kp_ials_half_step(const kp_csr *R, const float *Y, const float *G,
							  float *X, const kp_ials_params *params,
							  int32_t row_begin, int32_t row_end, void *workspace,
							  kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * Full training: initialises user_factors (user_items->n_rows × f) and
 * item_factors (user_items->n_cols × f) with kp_factors_init, then runs
 * params->iterations rounds of (users half-step, items half-step).
 * item_users must be the transpose of user_items.  on_iteration may be
 * NULL.  Same input + params + BLAS thread count: same bits out.
 * KP_ENUMERIC if a factor ends up NaN or infinite.
 */
kp_status	kp_ials_train(const kp_allocator *alloc, const kp_csr *user_items,
						  const kp_csr *item_users, const kp_ials_params *params,
						  float *user_factors, float *item_factors,
						  kp_interrupt_fn interrupt, void *interrupt_arg,
						  kp_iteration_fn on_iteration, void *iteration_arg);

/*
 * Bytes kp_ials_train allocates beyond its inputs and outputs (Gram
 * matrix and workspace), for up-front memory checks.
 */
size_t		kp_ials_train_bytes(const kp_csr *user_items, const kp_csr *item_users,
								const kp_ials_params *params);

/*
 * The weighted squared-error objective of Hu et al. (sum over all pairs of
 * c·(p − xᵀy)² plus λ(‖X‖² + ‖Y‖²)), divided by the number of observed
 * pairs; computed without touching unobserved pairs one by one.
 */
double		kp_ials_loss(const kp_csr *user_items, const float *user_factors,
						 const float *item_factors, const kp_ials_params *params);

#endif							/* KP_IALS_H */
