/*
 * ials.c -- implicit-feedback alternating least squares.
 *
 * Model and normal equations: Hu, Koren & Volinsky, "Collaborative Filtering
 * for Implicit Feedback Datasets", ICDM 2008.  Inexact solves by a few
 * warm-started conjugate gradient steps per row: Takács, Pilászy & Tikk,
 * "Applications of the conjugate gradient method for implicit feedback
 * collaborative filtering", RecSys 2011.
 *
 * The behaviour follows Ben Frederickson's `implicit` library (0.7, CPU), so
 * that the quality of the two can be compared like for like: start values
 * uniform in [0, 0.01), λ added to YᵀY unscaled, users updated before items,
 * and the same CG recurrence and stopping thresholds.
 *
 * Where the time goes, and why the code is shaped this way: with the default
 * three CG steps each row costs four products with the f×f Gram matrix plus
 * four passes over the rows of Y it interacted with (the starting residual
 * and one per step).  Those rows are scattered through Y, so each row's are
 * first copied into a contiguous block (prefetching ahead, since the copies
 * wait on memory), and every pass then runs two OpenBLAS sgemv calls over
 * that block.  These measured at least as fast as fused loops in plain C,
 * whose per-row horizontal sums gcc will not vectorise without -ffast-math.
 * Very long rows (popular items) are processed in blocks of GATHER_ROWS,
 * re-gathered per pass, so the workspace stays small.  The Cholesky solver
 * builds Yᵀ(C−I)Y from the same blocks with ssyrk.  All loops over rows are
 * single-threaded and in a fixed order, so results are bit-for-bit
 * reproducible for a given BLAS thread count.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "kp_ials.h"

/* LAPACK's Cholesky factorisation (Debian ships no lapacke header). */
void		spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);

/* Rows between calls to the interrupt callback. */
#define INTERRUPT_EVERY 256

/* CG stops once the squared residual norm falls below this, as in implicit. */
#define CG_TOLERANCE 1e-20f

/* Workspace arrays start at multiples of this many floats (64 bytes). */
#define WORKSPACE_ALIGN 16

/*
 * Rows of Y copied into one contiguous block: CG's passes then stream
 * through memory instead of chasing indices, while very popular items still
 * need bounded workspace.
 */
#define GATHER_ROWS 4096

/* How many rows ahead the gather prefetches: the copies are latency-bound. */
#define PREFETCH_ROWS 16

#if defined(__GNUC__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void) 0)
#endif

/* Independent partial sums let gcc vectorise dot products without -ffast-math. */
#define DOT_LANES 16

static inline float
dot(const float *restrict a, const float *restrict b, int32_t n)
{
	float		lanes[DOT_LANES] = {0};
	float		sum = 0.0f;
	int32_t		k = 0;
	int32_t		j;

	for (; k + DOT_LANES <= n; k += DOT_LANES)
		for (j = 0; j < DOT_LANES; j++)
			lanes[j] += a[k + j] * b[k + j];
	for (; k < n; k++)
		sum += a[k] * b[k];
	for (j = 0; j < DOT_LANES; j++)
		sum += lanes[j];
	return sum;
}

/* y += a·x */
static inline void
axpy(float a, const float *restrict x, float *restrict y, int32_t n)
{
	int32_t		k;

	for (k = 0; k < n; k++)
		y[k] += a * x[k];
}

/* out = G·v for a full symmetric f×f G, four rows of G per pass over out. */
static void
gram_matvec(const float *restrict G, const float *restrict v,
			float *restrict out, int32_t f)
{
	int32_t		k = 0;
	int32_t		j;

	memset(out, 0, (size_t) f * sizeof(float));
	for (; k + 4 <= f; k += 4)
	{
		const float *restrict g0 = G + (size_t) k * f;
		const float *restrict g1 = g0 + f;
		const float *restrict g2 = g1 + f;
		const float *restrict g3 = g2 + f;
		float		v0 = v[k];
		float		v1 = v[k + 1];
		float		v2 = v[k + 2];
		float		v3 = v[k + 3];

		for (j = 0; j < f; j++)
			out[j] += v0 * g0[j] + v1 * g1[j] + v2 * g2[j] + v3 * g3[j];
	}
	for (; k < f; k++)
		axpy(v[k], G + (size_t) k * f, out, f);
}

#define GOLDEN_GAMMA UINT64_C(0x9e3779b97f4a7c15)

/* Rows [row_begin, row_end) of kp_factors_init's matrix. */
static void
init_rows(float *factors, int32_t row_begin, int32_t row_end, int32_t n_factors,
		  uint64_t seed, uint64_t stream)
{
	uint64_t	stream_key = kp_mix64(kp_mix64(seed) + (stream + 1) * GOLDEN_GAMMA);
	int32_t		row;
	int32_t		col;

	for (row = row_begin; row < row_end; row++)
	{
		uint64_t	row_key = kp_mix64(stream_key + ((uint64_t) row + 1) * GOLDEN_GAMMA);
		float	   *out = factors + (size_t) row * n_factors;

		for (col = 0; col < n_factors; col++)
		{
			uint64_t	bits = kp_mix64(row_key + ((uint64_t) col + 1) * GOLDEN_GAMMA);

			/* top 24 bits: a float in [0, 1) without rounding up to 1 */
			out[col] = (float) (bits >> 40) * (1.0f / 16777216.0f) * 0.01f;
		}
	}
}

void
kp_factors_init(float *factors, int32_t n_rows, int32_t n_factors,
				uint64_t seed, uint64_t stream)
{
	init_rows(factors, 0, n_rows, n_factors, seed, stream);
}

/* kp_factors_init in slices, asking interrupt between them: big models take a while. */
static kp_status
init_factors_interruptibly(float *factors, int32_t n_rows, int32_t n_factors,
						   uint64_t seed, uint64_t stream,
						   kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		slice = 4096;
	int32_t		row;

	for (row = 0; row < n_rows; row += slice)
	{
		if (interrupt && interrupt(interrupt_arg))
			return KP_ECANCELLED;
		init_rows(factors, row, n_rows - row < slice ? n_rows : row + slice, n_factors, seed, stream);
	}
	return KP_OK;
}

void
kp_ials_default_params(kp_ials_params *params)
{
	params->factors = 64;
	params->iterations = 15;
	params->regularization = 0.01f;
	params->alpha = 1.0f;
	params->solver = KP_SOLVER_CG;
	params->cg_steps = 3;
	params->seed = KP_DEFAULT_SEED;
}

const char *
kp_ials_check_params(const kp_ials_params *params)
{
	if (params->factors < 1 || params->factors > KP_MAX_FACTORS)
		return "factors must be between 1 and 1024";
	if (params->iterations < 0 || params->iterations > KP_MAX_ITERATIONS)
		return "iterations must be between 0 and 1000";
	if (!isfinite(params->regularization) || params->regularization < 0.0f)
		return "regularization must be a finite number >= 0";
	if (!isfinite(params->alpha) || params->alpha < 0.0f)
		return "alpha must be a finite number >= 0";
	if (params->solver != KP_SOLVER_CG && params->solver != KP_SOLVER_CHOLESKY)
		return "solver must be cg or cholesky";
	if (params->cg_steps < 1 || params->cg_steps > KP_MAX_CG_STEPS)
		return "cg_steps must be between 1 and 64";
	return NULL;
}

void
kp_ials_gram(const float *F, int32_t n_rows, int32_t n_factors,
			 float regularization, float *G)
{
	int32_t		i;
	int32_t		j;

	memset(G, 0, (size_t) n_factors * n_factors * sizeof(float));
	if (n_rows > 0)
		cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n_factors, n_rows,
					1.0f, F, n_factors, 0.0f, G, n_factors);
	for (i = 0; i < n_factors; i++)
	{
		G[(size_t) i * n_factors + i] += regularization;
		for (j = i + 1; j < n_factors; j++)
			G[(size_t) j * n_factors + i] = G[(size_t) i * n_factors + j];
	}
}

/* n floats rounded up to a whole number of WORKSPACE_ALIGN blocks. */
static size_t
aligned_floats(size_t n)
{
	return (n + WORKSPACE_ALIGN - 1) / WORKSPACE_ALIGN * WORKSPACE_ALIGN;
}

size_t
kp_ials_workspace_bytes(const kp_ials_params *params, int32_t max_row_nnz)
{
	size_t		f = (size_t) params->factors;
	size_t		vector = aligned_floats(f);
	size_t		block_rows;
	size_t		total;

	if (kp_ials_check_params(params) != NULL || max_row_nnz < 0)
		return SIZE_MAX;
	block_rows = max_row_nnz < GATHER_ROWS ? (size_t) max_row_nnz : GATHER_ROWS;
	if (params->solver == KP_SOLVER_CG)
		total = 3 * vector + GATHER_ROWS;	/* r, p, Ap, dots */
	else
		total = aligned_floats(f * f) + vector; /* A, b */
	/* f <= KP_MAX_FACTORS, so none of this can overflow */
	total += block_rows * f;
	return total * sizeof(float);
}

/*
 * Copies rows indices[0 .. count) of Y (f columns) into block, prefetching
 * a few rows ahead.
 */
static void
gather_rows(const float *restrict Y, const int32_t *restrict indices,
			int32_t count, int32_t f, float *restrict block)
{
	size_t		row_bytes = (size_t) f * sizeof(float);
	int32_t		n;

	for (n = 0; n < count; n++)
	{
		if (n + PREFETCH_ROWS < count)
		{
			const char *ahead = (const char *) (Y + (size_t) indices[n + PREFETCH_ROWS] * f);
			size_t		offset;

			for (offset = 0; offset < row_bytes; offset += 64)
				PREFETCH(ahead + offset);
		}
		memcpy(block + (size_t) n * f, Y + (size_t) indices[n] * f, row_bytes);
	}
}

/* One row of R being solved by CG, with its gathered rows of Y. */
typedef struct cg_row
{
	const float *Y;
	const int32_t *indices;		/* the row's columns */
	const float *weights;		/* the row's raw weights w */
	int32_t		nnz;
	int32_t		f;
	float		alpha;
	int			resident;		/* all nnz rows sit in block, gathered once */
	float	   *block;			/* up to GATHER_ROWS rows of Y */
	float	   *dots;			/* GATHER_ROWS */
} cg_row;

/*
 * out += Σ_n t_n·y_n over the row's entries, where t_n = (c−1)·(y_n·v), or
 * for the starting residual t_n = c − (c−1)·(y_n·v).
 */
static void
cg_pass(const cg_row *row, const float *v, float *out, int residual)
{
	int32_t		f = row->f;
	int32_t		start;

	for (start = 0; start < row->nnz; start += GATHER_ROWS)
	{
		int32_t		count = row->nnz - start < GATHER_ROWS ? row->nnz - start : GATHER_ROWS;
		const float *weights = row->weights + start;
		float	   *dots = row->dots;
		int32_t		n;

		if (!row->resident)
			gather_rows(row->Y, row->indices + start, count, f, row->block);
		cblas_sgemv(CblasRowMajor, CblasNoTrans, count, f, 1.0f, row->block, f,
					v, 1, 0.0f, dots, 1);
		if (residual)
		{
			for (n = 0; n < count; n++)
			{
				float		c_minus_1 = row->alpha * weights[n];

				dots[n] = (1.0f + c_minus_1) - c_minus_1 * dots[n];
			}
		}
		else
		{
			for (n = 0; n < count; n++)
				dots[n] *= row->alpha * weights[n];
		}
		cblas_sgemv(CblasRowMajor, CblasTrans, count, f, 1.0f, row->block, f,
					dots, 1, 1.0f, out, 1);
	}
}

/*
 * x ← a few CG steps on (G + Yᵀ(C−I)Y) x = YᵀC·1, from the current x, in
 * implicit's order of operations.  r, p, Ap: f floats each.
 */
static void
cg_solve_row(cg_row *row, const float *restrict G, int32_t cg_steps,
			 float *restrict x, float *restrict r, float *restrict p,
			 float *restrict Ap)
{
	int32_t		f = row->f;
	int32_t		j;
	int32_t		step;
	float		rsold;
	float		rsnew;

	row->resident = row->nnz <= GATHER_ROWS;
	if (row->resident)
		gather_rows(row->Y, row->indices, row->nnz, f, row->block);

	/* r = Σ (c − (c−1)·(y·x))·y − G·x */
	gram_matvec(G, x, Ap, f);
	for (j = 0; j < f; j++)
		r[j] = -Ap[j];
	cg_pass(row, x, r, 1);
	memcpy(p, r, (size_t) f * sizeof(float));
	rsold = dot(r, r, f);
	if (rsold < CG_TOLERANCE)
		return;

	for (step = 0; step < cg_steps; step++)
	{
		float		step_size;
		float		beta;

		/* Ap = G·p + Σ (c−1)·(y·p)·y */
		gram_matvec(G, p, Ap, f);
		cg_pass(row, p, Ap, 0);
		step_size = rsold / dot(p, Ap, f);
		for (j = 0; j < f; j++)
		{
			x[j] += step_size * p[j];
			r[j] -= step_size * Ap[j];
		}
		rsnew = dot(r, r, f);
		if (rsnew < CG_TOLERANCE)
			break;
		beta = rsnew / rsold;
		for (j = 0; j < f; j++)
			p[j] = r[j] + beta * p[j];
		rsold = rsnew;
	}
}

/*
 * x ← exact solution of (G + Yᵀ(C−I)Y) x = YᵀC·1 by Cholesky.  A: f×f,
 * b: f, scaled: min(nnz, GATHER_ROWS)×f floats.
 */
static kp_status
cholesky_solve_row(const kp_csr *R, int32_t row, const float *restrict Y,
				   const float *restrict G, const kp_ials_params *params,
				   float *restrict x, float *restrict A, float *restrict b,
				   float *restrict scaled)
{
	int			f = params->factors;
	int64_t		begin = R->indptr[row];
	int64_t		end = R->indptr[row + 1];
	int64_t		start;
	int			info = 0;

	memcpy(A, G, (size_t) f * f * sizeof(float));
	memset(b, 0, (size_t) f * sizeof(float));
	for (start = begin; start < end; start += GATHER_ROWS)
	{
		int			count = end - start < GATHER_ROWS ? (int) (end - start) : GATHER_ROWS;
		int			n;

		gather_rows(Y, R->indices + start, count, f, scaled);
		for (n = 0; n < count; n++)
		{
			float	   *y = scaled + (size_t) n * f;
			float		c_minus_1 = params->alpha * R->values[start + n];
			float		scale = sqrtf(c_minus_1);
			int32_t		j;

			axpy(1.0f + c_minus_1, y, b, f);
			for (j = 0; j < f; j++)
				y[j] *= scale;
		}
		/* upper triangle of A += scaledᵀ·scaled */
		cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, f, count,
					1.0f, scaled, f, 1.0f, A, f);
	}

	/* row-major upper is column-major lower: A = UᵀU with U upper */
	spotrf_("L", &f, A, &f, &info);
	if (info != 0)
		return KP_ENUMERIC;
	cblas_strsv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, f, A, f, b, 1);
	cblas_strsv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, f, A, f, b, 1);
	memcpy(x, b, (size_t) f * sizeof(float));
	return KP_OK;
}

kp_status
kp_ials_half_step(const kp_csr *R, const float *Y, const float *G,
				  float *X, const kp_ials_params *params,
				  int32_t row_begin, int32_t row_end, void *workspace,
				  kp_interrupt_fn interrupt, void *interrupt_arg)
{
	size_t		f = (size_t) params->factors;
	size_t		vector = aligned_floats(f);
	float	   *floats = workspace;
	cg_row		cg;
	int32_t		row;

	if (kp_ials_check_params(params) != NULL ||
		row_begin < 0 || row_end > R->n_rows || row_begin > row_end)
		return KP_EINVAL;

	/* workspace layout: see kp_ials_workspace_bytes */
	cg.Y = Y;
	cg.f = params->factors;
	cg.alpha = params->alpha;
	cg.dots = floats + 3 * vector;
	cg.block = cg.dots + GATHER_ROWS;

	for (row = row_begin; row < row_end; row++)
	{
		float	   *x = X + (size_t) row * f;
		int64_t		begin = R->indptr[row];

		if ((row - row_begin) % INTERRUPT_EVERY == 0 && interrupt &&
			interrupt(interrupt_arg))
			return KP_ECANCELLED;

		if (begin == R->indptr[row + 1])
		{
			memset(x, 0, f * sizeof(float));
			continue;
		}
		if (params->solver == KP_SOLVER_CG)
		{
			cg.indices = R->indices + begin;
			cg.weights = R->values + begin;
			cg.nnz = (int32_t) (R->indptr[row + 1] - begin);
			cg_solve_row(&cg, G, params->cg_steps, x,
						 floats, floats + vector, floats + 2 * vector);
		}
		else
		{
			float	   *A = floats;
			float	   *b = A + aligned_floats(f * f);
			kp_status	status = cholesky_solve_row(R, row, Y, G, params, x,
													A, b, b + vector);

			if (status != KP_OK)
				return status;
		}
	}
	return KP_OK;
}

static int32_t
max_row_nnz(const kp_csr *m)
{
	int64_t		longest = 0;
	int32_t		row;

	for (row = 0; row < m->n_rows; row++)
	{
		int64_t		nnz = m->indptr[row + 1] - m->indptr[row];

		if (nnz > longest)
			longest = nnz;
	}
	/* a row holds at most one entry per column, and columns are int32 */
	return (int32_t) longest;
}

size_t
kp_ials_train_bytes(const kp_csr *user_items, const kp_csr *item_users,
					const kp_ials_params *params)
{
	int32_t		user_max = max_row_nnz(user_items);
	int32_t		item_max = max_row_nnz(item_users);
	size_t		gram_bytes;
	size_t		workspace_bytes;

	if (!kp_mul_size((size_t) params->factors * params->factors, sizeof(float),
					 &gram_bytes))
		return SIZE_MAX;
	workspace_bytes = kp_ials_workspace_bytes(params,
											  user_max > item_max ? user_max : item_max);
	if (workspace_bytes > SIZE_MAX - gram_bytes)
		return SIZE_MAX;
	return gram_bytes + workspace_bytes;
}

static int
all_finite(const float *values, size_t n)
{
	size_t		k;

	for (k = 0; k < n; k++)
	{
		if (!isfinite(values[k]))
			return 0;
	}
	return 1;
}

kp_status
kp_ials_train(const kp_allocator *alloc, const kp_csr *user_items,
			  const kp_csr *item_users, const kp_ials_params *params,
			  float *user_factors, float *item_factors,
			  kp_interrupt_fn interrupt, void *interrupt_arg,
			  kp_iteration_fn on_iteration, void *iteration_arg)
{
	int32_t		f = params->factors;
	int32_t		n_users = user_items->n_rows;
	int32_t		n_items = user_items->n_cols;
	int32_t		user_max;
	int32_t		item_max;
	size_t		workspace_bytes;
	float	   *G;
	void	   *workspace;
	int32_t		iteration;
	kp_status	status = KP_OK;

	if (kp_ials_check_params(params) != NULL ||
		item_users->n_rows != n_items || item_users->n_cols != n_users ||
		item_users->nnz != user_items->nnz)
		return KP_EINVAL;

	user_max = max_row_nnz(user_items);
	item_max = max_row_nnz(item_users);
	workspace_bytes = kp_ials_workspace_bytes(params,
											  user_max > item_max ? user_max : item_max);
	if (workspace_bytes == SIZE_MAX)
		return KP_ENOMEM;
	G = kp_alloc(alloc, (size_t) f * f * sizeof(float));
	workspace = kp_alloc(alloc, workspace_bytes);
	if (!G || !workspace)
	{
		kp_free(alloc, G);
		kp_free(alloc, workspace);
		return KP_ENOMEM;
	}

	status = init_factors_interruptibly(user_factors, n_users, f, params->seed, 0,
										interrupt, interrupt_arg);
	if (status == KP_OK)
		status = init_factors_interruptibly(item_factors, n_items, f, params->seed, 1,
											interrupt, interrupt_arg);
	if (status != KP_OK)
	{
		kp_free(alloc, G);
		kp_free(alloc, workspace);
		return status;
	}

	for (iteration = 1; iteration <= params->iterations; iteration++)
	{
		kp_ials_gram(item_factors, n_items, f, params->regularization, G);
		status = kp_ials_half_step(user_items, item_factors, G, user_factors,
								   params, 0, n_users, workspace,
								   interrupt, interrupt_arg);
		if (status != KP_OK)
			break;
		kp_ials_gram(user_factors, n_users, f, params->regularization, G);
		status = kp_ials_half_step(item_users, user_factors, G, item_factors,
								   params, 0, n_items, workspace,
								   interrupt, interrupt_arg);
		if (status != KP_OK)
			break;
		if (on_iteration && on_iteration(iteration_arg, iteration))
		{
			status = KP_ECANCELLED;
			break;
		}
	}
	kp_free(alloc, G);
	kp_free(alloc, workspace);

	if (status == KP_OK &&
		(!all_finite(user_factors, (size_t) n_users * f) ||
		 !all_finite(item_factors, (size_t) n_items * f)))
		status = KP_ENUMERIC;
	return status;
}

/* Side of the square blocks in which kp_ials_loss forms Gram matrices. */
#define LOSS_BLOCK 32

/*
 * Σ_jk (XᵀX)_jk (YᵀY)_jk = Σ_u Σ_i (x_u·y_i)², the unobserved-pair part of
 * the loss, formed block by block on the stack since the loss takes no
 * allocator.
 */
static double
gram_inner_product(const float *X, int32_t n_x, const float *Y, int32_t n_y,
				   int32_t f)
{
	double		gram_x[LOSS_BLOCK][LOSS_BLOCK];
	double		gram_y[LOSS_BLOCK][LOSS_BLOCK];
	double		total = 0.0;
	int32_t		jb;
	int32_t		kb;

	for (jb = 0; jb < f; jb += LOSS_BLOCK)
	{
		int32_t		nj = f - jb < LOSS_BLOCK ? f - jb : LOSS_BLOCK;

		for (kb = jb; kb < f; kb += LOSS_BLOCK)
		{
			int32_t		nk = f - kb < LOSS_BLOCK ? f - kb : LOSS_BLOCK;
			double		block_sum = 0.0;
			int32_t		row;
			int32_t		j;
			int32_t		k;

			memset(gram_x, 0, sizeof(gram_x));
			memset(gram_y, 0, sizeof(gram_y));
			for (row = 0; row < n_x; row++)
			{
				const float *v = X + (size_t) row * f;

				for (j = 0; j < nj; j++)
					for (k = 0; k < nk; k++)
						gram_x[j][k] += (double) v[jb + j] * v[kb + k];
			}
			for (row = 0; row < n_y; row++)
			{
				const float *v = Y + (size_t) row * f;

				for (j = 0; j < nj; j++)
					for (k = 0; k < nk; k++)
						gram_y[j][k] += (double) v[jb + j] * v[kb + k];
			}
			for (j = 0; j < nj; j++)
				for (k = 0; k < nk; k++)
					block_sum += gram_x[j][k] * gram_y[j][k];
			/* blocks below the diagonal mirror those above it */
			total += kb == jb ? block_sum : 2.0 * block_sum;
		}
	}
	return total;
}

static double
squared_norm(const float *F, size_t n)
{
	double		sum = 0.0;
	size_t		k;

	for (k = 0; k < n; k++)
		sum += (double) F[k] * F[k];
	return sum;
}

double
kp_ials_loss(const kp_csr *user_items, const float *user_factors,
			 const float *item_factors, const kp_ials_params *params)
{
	int32_t		f = params->factors;
	int32_t		n_users = user_items->n_rows;
	int32_t		n_items = user_items->n_cols;
	double		loss;
	int32_t		row;

	/* every pair as if unobserved: c = 1, p = 0 */
	loss = gram_inner_product(user_factors, n_users, item_factors, n_items, f);

	/* observed pairs: swap s² for c·(1 − s)² */
	for (row = 0; row < n_users; row++)
	{
		const float *x = user_factors + (size_t) row * f;
		int64_t		k;

		for (k = user_items->indptr[row]; k < user_items->indptr[row + 1]; k++)
		{
			const float *y = item_factors + (size_t) user_items->indices[k] * f;
			double		c = 1.0 + (double) params->alpha * user_items->values[k];
			double		s = 0.0;
			int32_t		j;

			for (j = 0; j < f; j++)
				s += (double) x[j] * y[j];
			loss += c * (1.0 - s) * (1.0 - s) - s * s;
		}
	}
	loss += params->regularization *
		(squared_norm(user_factors, (size_t) n_users * f) +
		 squared_norm(item_factors, (size_t) n_items * f));
	return user_items->nnz > 0 ? loss / (double) user_items->nnz : loss;
}
