/*
 * test_ials.c -- iALS half-steps against dense normal equations solved in
 * double, the CG recipe against a double re-implementation, and training's
 * determinism, loss, cancellation and memory accounting.
 */
#include <stdint.h>
#include <string.h>

#include "kp_ials.h"
#include "kp_sparse.h"
#include "unit.h"

static uint64_t rng_state = 2024;

static uint64_t
rng_next(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static double
rng_unit(void)
{
	return (double) (rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * Random n_rows × n_cols interactions with about nnz_per_row entries per row,
 * every fifth row empty; weights in [0.5, 3).
 */
static void
random_csr(int32_t n_rows, int32_t n_cols, int32_t nnz_per_row, kp_csr *out)
{
	int64_t		n = (int64_t) n_rows * nnz_per_row;
	int32_t    *rows = malloc((size_t) n * sizeof(int32_t));
	int32_t    *cols = malloc((size_t) n * sizeof(int32_t));
	float	   *vals = malloc((size_t) n * sizeof(float));
	int64_t		k;
	int64_t		used = 0;

	for (k = 0; k < n; k++)
	{
		int32_t		row = (int32_t) (k / nnz_per_row);

		if (row % 5 == 4)
			continue;
		rows[used] = row;
		cols[used] = (int32_t) (rng_next() % (uint64_t) n_cols);
		vals[used] = (float) (0.5 + 2.5 * rng_unit());
		used++;
	}
	kp_csr_from_coo(&kp_malloc_allocator, n_rows, n_cols, used, rows, cols, vals, out, NULL, NULL);
	free(rows);
	free(cols);
	free(vals);
}

static void
random_factors(float *F, size_t n, double scale)
{
	size_t		k;

	for (k = 0; k < n; k++)
		F[k] = (float) (scale * rng_unit());
}

/* Solves A x = b (n×n, row-major, destroyed) by Gaussian elimination with pivoting. */
static void
dense_solve(double *A, double *b, int n)
{
	int			col;
	int			row;
	int			j;

	for (col = 0; col < n; col++)
	{
		int			pivot = col;

		for (row = col + 1; row < n; row++)
			if (fabs(A[row * n + col]) > fabs(A[pivot * n + col]))
				pivot = row;
		if (pivot != col)
		{
			double		t;

			for (j = 0; j < n; j++)
			{
				t = A[col * n + j];
				A[col * n + j] = A[pivot * n + j];
				A[pivot * n + j] = t;
			}
			t = b[col];
			b[col] = b[pivot];
			b[pivot] = t;
		}
		for (row = col + 1; row < n; row++)
		{
			double		factor = A[row * n + col] / A[col * n + col];

			for (j = col; j < n; j++)
				A[row * n + j] -= factor * A[col * n + j];
			b[row] -= factor * b[col];
		}
	}
	for (row = n - 1; row >= 0; row--)
	{
		double		sum = b[row];

		for (j = row + 1; j < n; j++)
			sum -= A[row * n + j] * b[j];
		b[row] = sum / A[row * n + row];
	}
}

/* A = YᵀY + λI + Σ (c−1) y yᵀ and b = Σ c y for one row, in double. */
static void
normal_equations(const kp_csr *R, int32_t row, const float *Y, int f,
				 double regularization, double alpha, double *A, double *b)
{
	int64_t		k;
	int32_t		i;
	int			j,
				l;

	memset(A, 0, sizeof(double) * f * f);
	memset(b, 0, sizeof(double) * f);
	for (i = 0; i < R->n_cols; i++)
		for (j = 0; j < f; j++)
			for (l = 0; l < f; l++)
				A[j * f + l] += (double) Y[(size_t) i * f + j] * Y[(size_t) i * f + l];
	for (j = 0; j < f; j++)
		A[j * f + j] += regularization;
	for (k = R->indptr[row]; k < R->indptr[row + 1]; k++)
	{
		const float *y = Y + (size_t) R->indices[k] * f;
		double		c = 1.0 + alpha * R->values[k];

		for (j = 0; j < f; j++)
		{
			b[j] += c * y[j];
			for (l = 0; l < f; l++)
				A[j * f + l] += (c - 1.0) * y[j] * y[l];
		}
	}
}

/* Largest |x − ref| / max(1, |ref|) over all rows of X against exact solves. */
static double
error_vs_exact(const kp_csr *R, const float *X, const float *Y, int f,
			   double regularization, double alpha)
{
	double	   *A = malloc(sizeof(double) * f * f);
	double	   *b = malloc(sizeof(double) * f);
	double		worst = 0.0;
	int32_t		row;
	int			j;

	for (row = 0; row < R->n_rows; row++)
	{
		if (R->indptr[row] == R->indptr[row + 1])
		{
			for (j = 0; j < f; j++)
				if (X[(size_t) row * f + j] != 0.0f)
					worst = INFINITY;
			continue;
		}
		normal_equations(R, row, Y, f, regularization, alpha, A, b);
		dense_solve(A, b, f);
		for (j = 0; j < f; j++)
		{
			double		err = fabs(X[(size_t) row * f + j] - b[j]) / fmax(1.0, fabs(b[j]));

			if (!(err <= worst))
				worst = err;
		}
	}
	free(A);
	free(b);
	return worst;
}

/*
 * Runs kp_ials_half_step over all rows with an exactly sized workspace
 * followed by a canary; returns the status and whether the canary survived.
 */
static kp_status
half_step(const kp_csr *R, const float *Y, float *X, const kp_ials_params *params,
		  int *canary_ok)
{
	float	   *G = malloc(sizeof(float) * params->factors * params->factors);
	int32_t		max_nnz = 0;
	int32_t		row;
	size_t		bytes;
	unsigned char *workspace;
	kp_status	status;
	size_t		k;

	for (row = 0; row < R->n_rows; row++)
		if (R->indptr[row + 1] - R->indptr[row] > max_nnz)
			max_nnz = (int32_t) (R->indptr[row + 1] - R->indptr[row]);
	bytes = kp_ials_workspace_bytes(params, max_nnz);
	workspace = malloc(bytes + 256);
	memset(workspace + bytes, 0xA5, 256);
	kp_ials_gram(Y, R->n_cols, params->factors, params->regularization, G);
	status = kp_ials_half_step(R, Y, G, X, params, 0, R->n_rows, workspace, NULL, NULL);
	*canary_ok = 1;
	for (k = 0; k < 256; k++)
		if (workspace[bytes + k] != 0xA5)
			*canary_ok = 0;
	free(workspace);
	free(G);
	return status;
}

static void
test_gram(void)
{
	int			f = 13;
	int32_t		n = 57;
	float	   *F = malloc(sizeof(float) * n * f);
	float	   *G = malloc(sizeof(float) * f * f);
	double		worst = 0.0;
	int			j,
				l;
	int32_t		i;

	random_factors(F, (size_t) n * f, 1.0);
	kp_ials_gram(F, n, f, 0.25f, G);
	for (j = 0; j < f; j++)
		for (l = 0; l < f; l++)
		{
			double		want = j == l ? 0.25 : 0.0;

			for (i = 0; i < n; i++)
				want += (double) F[i * f + j] * F[i * f + l];
			worst = fmax(worst, fabs(G[j * f + l] - want) / want);
		}
	unit_ok(worst < 1e-5, "gram = FᵀF + λI in both triangles (rel. error %.2g)", worst);
	kp_ials_gram(F, 0, f, 0.5f, G);
	unit_ok(G[0] == 0.5f && G[1] == 0.0f && G[f + 1] == 0.5f, "gram of no rows is λI");
	free(F);
	free(G);
}

static void
test_exact_solves(void)
{
	kp_ials_params params;
	kp_csr		R;
	int			f = 8;
	int32_t		n_rows = 40;
	int32_t		n_cols = 30;
	float	   *Y = malloc(sizeof(float) * n_cols * f);
	float	   *X = malloc(sizeof(float) * n_rows * f);
	int			canary_ok;
	double		err;

	kp_ials_default_params(&params);
	params.factors = f;
	params.regularization = 0.1f;
	params.alpha = 2.0f;
	random_csr(n_rows, n_cols, 6, &R);
	random_factors(Y, (size_t) n_cols * f, 1.0);

	params.solver = KP_SOLVER_CHOLESKY;
	random_factors(X, (size_t) n_rows * f, 1.0);
	unit_ok(half_step(&R, Y, X, &params, &canary_ok) == KP_OK && canary_ok,
			"Cholesky half-step stays inside its workspace");
	err = error_vs_exact(&R, X, Y, f, params.regularization, params.alpha);
	unit_ok(err < 1e-4, "Cholesky half-step = dense solve in double (rel. error %.2g), empty rows 0", err);

	params.solver = KP_SOLVER_CG;
	params.cg_steps = KP_MAX_CG_STEPS;
	random_factors(X, (size_t) n_rows * f, 1.0);
	unit_ok(half_step(&R, Y, X, &params, &canary_ok) == KP_OK && canary_ok,
			"CG half-step stays inside its workspace");
	err = error_vs_exact(&R, X, Y, f, params.regularization, params.alpha);
	unit_ok(err < 1e-3, "CG with many steps converges to the dense solve (rel. error %.2g)", err);

	kp_csr_free(&kp_malloc_allocator, &R);
	free(Y);
	free(X);
}

/* One row far longer than the gather block, so it is processed in chunks. */
static void
test_long_row(void)
{
	enum
	{
		N_COLS = 9000
	};
	kp_ials_params params;
	int32_t    *rows = malloc(sizeof(int32_t) * N_COLS);
	int32_t    *cols = malloc(sizeof(int32_t) * N_COLS);
	float	   *vals = malloc(sizeof(float) * N_COLS);
	float	   *Y;
	float		X[2 * 4];
	kp_csr		R;
	int			canary_ok;
	double		err;
	int32_t		i;

	kp_ials_default_params(&params);
	params.factors = 4;
	params.alpha = 0.5f;
	for (i = 0; i < N_COLS; i++)
	{
		rows[i] = 1;
		cols[i] = i;
		vals[i] = (float) (0.5 + rng_unit());
	}
	/* row 0 empty, row 1 has every column */
	kp_csr_from_coo(&kp_malloc_allocator, 2, N_COLS, N_COLS, rows, cols, vals, &R, NULL, NULL);
	Y = malloc(sizeof(float) * N_COLS * 4);
	random_factors(Y, (size_t) N_COLS * 4, 0.1);

	params.solver = KP_SOLVER_CHOLESKY;
	random_factors(X, 8, 1.0);
	unit_ok(half_step(&R, Y, X, &params, &canary_ok) == KP_OK && canary_ok,
			"Cholesky on a 9000-entry row stays inside its workspace");
	err = error_vs_exact(&R, X, Y, 4, params.regularization, params.alpha);
	unit_ok(err < 1e-3, "Cholesky on a 9000-entry row = dense solve (rel. error %.2g)", err);

	params.solver = KP_SOLVER_CG;
	params.cg_steps = KP_MAX_CG_STEPS;
	random_factors(X, 8, 1.0);
	unit_ok(half_step(&R, Y, X, &params, &canary_ok) == KP_OK && canary_ok,
			"CG on a 9000-entry row stays inside its workspace");
	err = error_vs_exact(&R, X, Y, 4, params.regularization, params.alpha);
	unit_ok(err < 1e-3, "CG on a 9000-entry row = dense solve (rel. error %.2g)", err);

	kp_csr_free(&kp_malloc_allocator, &R);
	free(rows);
	free(cols);
	free(vals);
	free(Y);
}

/* implicit's CG recipe for one row, in double. */
static void
reference_cg(const kp_csr *R, int32_t row, const float *Y, const double *G, int f,
			 double alpha, int steps, double *x)
{
	double	   *r = malloc(sizeof(double) * f);
	double	   *p = malloc(sizeof(double) * f);
	double	   *Ap = malloc(sizeof(double) * f);
	double		rsold;
	double		rsnew;
	int64_t		k;
	int			j,
				l,
				step;

	for (j = 0; j < f; j++)
	{
		r[j] = 0.0;
		for (l = 0; l < f; l++)
			r[j] -= G[j * f + l] * x[l];
	}
	for (k = R->indptr[row]; k < R->indptr[row + 1]; k++)
	{
		const float *y = Y + (size_t) R->indices[k] * f;
		double		c = 1.0 + alpha * R->values[k];
		double		yx = 0.0;

		for (j = 0; j < f; j++)
			yx += y[j] * x[j];
		for (j = 0; j < f; j++)
			r[j] += (c - (c - 1.0) * yx) * y[j];
	}
	memcpy(p, r, sizeof(double) * f);
	rsold = 0.0;
	for (j = 0; j < f; j++)
		rsold += r[j] * r[j];
	for (step = 0; step < steps && rsold >= 1e-20; step++)
	{
		double		pAp = 0.0;

		for (j = 0; j < f; j++)
		{
			Ap[j] = 0.0;
			for (l = 0; l < f; l++)
				Ap[j] += G[j * f + l] * p[l];
		}
		for (k = R->indptr[row]; k < R->indptr[row + 1]; k++)
		{
			const float *y = Y + (size_t) R->indices[k] * f;
			double		yp = 0.0;

			for (j = 0; j < f; j++)
				yp += y[j] * p[j];
			for (j = 0; j < f; j++)
				Ap[j] += alpha * R->values[k] * yp * y[j];
		}
		for (j = 0; j < f; j++)
			pAp += p[j] * Ap[j];
		rsnew = 0.0;
		for (j = 0; j < f; j++)
		{
			x[j] += rsold / pAp * p[j];
			r[j] -= rsold / pAp * Ap[j];
			rsnew += r[j] * r[j];
		}
		if (rsnew < 1e-20)
			break;
		for (j = 0; j < f; j++)
			p[j] = r[j] + rsnew / rsold * p[j];
		rsold = rsnew;
	}
	free(r);
	free(p);
	free(Ap);
}

static void
test_cg_recipe(void)
{
	kp_ials_params params;
	kp_csr		R;
	int			f = 12;
	int32_t		n_rows = 30;
	int32_t		n_cols = 50;
	float	   *Y = malloc(sizeof(float) * n_cols * f);
	float	   *X = malloc(sizeof(float) * n_rows * f);
	float	   *X0 = malloc(sizeof(float) * n_rows * f);
	double	   *G = malloc(sizeof(double) * f * f);
	double	   *x = malloc(sizeof(double) * f);
	double		worst = 0.0;
	double		moved = 0.0;
	int			canary_ok;
	int32_t		row;
	int			j,
				l;
	int32_t		i;

	kp_ials_default_params(&params);
	params.factors = f;
	params.cg_steps = 2;
	params.alpha = 3.0f;
	random_csr(n_rows, n_cols, 8, &R);
	random_factors(Y, (size_t) n_cols * f, 1.0);
	random_factors(X0, (size_t) n_rows * f, 1.0);
	memcpy(X, X0, sizeof(float) * n_rows * f);
	half_step(&R, Y, X, &params, &canary_ok);

	for (j = 0; j < f; j++)
		for (l = 0; l < f; l++)
		{
			G[j * f + l] = j == l ? params.regularization : 0.0;
			for (i = 0; i < n_cols; i++)
				G[j * f + l] += (double) Y[i * f + j] * Y[i * f + l];
		}
	for (row = 0; row < n_rows; row++)
	{
		if (R.indptr[row] == R.indptr[row + 1])
			continue;
		for (j = 0; j < f; j++)
			x[j] = X0[row * f + j];
		reference_cg(&R, row, Y, G, f, params.alpha, params.cg_steps, x);
		for (j = 0; j < f; j++)
		{
			worst = fmax(worst, fabs(X[row * f + j] - x[j]) / fmax(1.0, fabs(x[j])));
			moved = fmax(moved, fabs(x[j] - X0[row * f + j]));
		}
	}
	unit_ok(worst < 1e-4 && moved > 0.01,
			"two warm-started CG steps follow implicit's recipe (rel. error %.2g)", worst);

	kp_csr_free(&kp_malloc_allocator, &R);
	free(Y);
	free(X);
	free(X0);
	free(G);
	free(x);
}

static void
test_factors_init(void)
{
	float		a[20 * 7];
	float		b[10 * 7];
	float		c[20 * 7];
	int			in_range = 1;
	int			i;

	kp_factors_init(a, 20, 7, 99, 0);
	kp_factors_init(b, 10, 7, 99, 0);
	for (i = 0; i < 20 * 7; i++)
		in_range &= a[i] >= 0.0f && a[i] < 0.01f;
	unit_ok(in_range, "start values lie in [0, 0.01)");
	unit_ok(memcmp(a, b, sizeof(b)) == 0,
			"start values depend only on (seed, stream, row, column)");
	kp_factors_init(c, 20, 7, 99, 1);
	unit_ok(memcmp(a, c, sizeof(c)) != 0, "the item stream differs from the user stream");
	kp_factors_init(c, 20, 7, 100, 0);
	unit_ok(memcmp(a, c, sizeof(c)) != 0, "another seed gives other values");
}

typedef struct loss_trace
{
	const kp_csr *R;
	const float *X;
	const float *Y;
	const kp_ials_params *params;
	double		losses[16];
	int			calls;
	int			stop_at;
} loss_trace;

static int
record_loss(void *arg, int32_t iteration)
{
	loss_trace *t = arg;

	t->losses[t->calls++] = kp_ials_loss(t->R, t->X, t->Y, t->params);
	return iteration == t->stop_at;
}

/* Hu et al.'s objective summed over every (user, item) pair. */
static double
brute_force_loss(const kp_csr *R, const float *X, const float *Y, int f,
				 double regularization, double alpha)
{
	double		loss = 0.0;
	int32_t		u,
				i;
	int			j;

	for (u = 0; u < R->n_rows; u++)
	{
		int64_t		k = R->indptr[u];

		for (i = 0; i < R->n_cols; i++)
		{
			double		s = 0.0;
			double		c = 1.0;
			double		p = 0.0;

			for (j = 0; j < f; j++)
				s += (double) X[u * f + j] * Y[i * f + j];
			if (k < R->indptr[u + 1] && R->indices[k] == i)
			{
				c = 1.0 + alpha * R->values[k];
				p = 1.0;
				k++;
			}
			loss += c * (p - s) * (p - s);
		}
	}
	for (j = 0; j < R->n_rows * f; j++)
		loss += regularization * X[j] * X[j];
	for (j = 0; j < R->n_cols * f; j++)
		loss += regularization * Y[j] * Y[j];
	return loss / (double) R->nnz;
}

static void
test_training(void)
{
	enum
	{
		N_USERS = 300, N_ITEMS = 120, F = 40
	};
	kp_ials_params params;
	kp_csr		R,
				Rt,
				R2,
				Rt2;
	float	   *X = malloc(sizeof(float) * N_USERS * F);
	float	   *Y = malloc(sizeof(float) * N_ITEMS * F);
	float	   *X2 = malloc(sizeof(float) * N_USERS * F);
	float	   *Y2 = malloc(sizeof(float) * N_ITEMS * F);
	int32_t    *rows;
	int32_t    *cols;
	float	   *vals;
	unit_counting ctx = {0, 0, 0, 0};
	kp_allocator counted = unit_counting_allocator(&ctx);
	loss_trace	trace;
	double		brute;
	double		cholesky_loss;
	int			monotone = 1;
	int64_t		k;
	int32_t		r;
	int			i;

	kp_ials_default_params(&params);
	params.factors = F;
	params.iterations = 6;
	random_csr(N_USERS, N_ITEMS, 10, &R);
	kp_csr_transpose(&kp_malloc_allocator, &R, &Rt, NULL, NULL);

	unit_ok(kp_ials_train(&counted, &R, &Rt, &params, X, Y, NULL, NULL, NULL, NULL) == KP_OK,
			"CG training succeeds");
	unit_ok(ctx.live == 0 && ctx.total_bytes == kp_ials_train_bytes(&R, &Rt, &params),
			"training allocates exactly kp_ials_train_bytes and frees it");
	kp_ials_train(&kp_malloc_allocator, &R, &Rt, &params, X2, Y2, NULL, NULL, NULL, NULL);
	unit_ok(memcmp(X, X2, sizeof(float) * N_USERS * F) == 0 &&
			memcmp(Y, Y2, sizeof(float) * N_ITEMS * F) == 0,
			"two runs give identical bits");

	/* the same interactions, reversed and with the weight split in two */
	rows = malloc(sizeof(int32_t) * 2 * R.nnz);
	cols = malloc(sizeof(int32_t) * 2 * R.nnz);
	vals = malloc(sizeof(float) * 2 * R.nnz);
	k = 2 * R.nnz;
	for (r = 0; r < N_USERS; r++)
		for (i = (int) R.indptr[r]; i < R.indptr[r + 1]; i++)
		{
			k -= 2;
			rows[k] = rows[k + 1] = r;
			cols[k] = cols[k + 1] = R.indices[i];
			vals[k] = vals[k + 1] = R.values[i] * 0.5f;
		}
	kp_csr_from_coo(&kp_malloc_allocator, N_USERS, N_ITEMS, 2 * R.nnz, rows, cols, vals, &R2, NULL, NULL);
	kp_csr_transpose(&kp_malloc_allocator, &R2, &Rt2, NULL, NULL);
	kp_ials_train(&kp_malloc_allocator, &R2, &Rt2, &params, X2, Y2, NULL, NULL, NULL, NULL);
	unit_ok(memcmp(X, X2, sizeof(float) * N_USERS * F) == 0 &&
			memcmp(Y, Y2, sizeof(float) * N_ITEMS * F) == 0,
			"input order and split duplicates do not change the result");

	brute = brute_force_loss(&R, X, Y, F, params.regularization, params.alpha);
	unit_ok(unit_close(kp_ials_loss(&R, X, Y, &params), brute, 1e-6),
			"kp_ials_loss equals the objective summed over all pairs (%.6f)", brute);

	params.solver = KP_SOLVER_CHOLESKY;
	params.iterations = 8;
	trace.R = &R;
	trace.X = X;
	trace.Y = Y;
	trace.params = &params;
	trace.calls = 0;
	trace.stop_at = 0;
	kp_ials_train(&kp_malloc_allocator, &R, &Rt, &params, X, Y, NULL, NULL,
				  record_loss, &trace);
	for (i = 1; i < trace.calls; i++)
		monotone &= trace.losses[i] <= trace.losses[i - 1] * (1.0 + 1e-6);
	unit_ok(trace.calls == 8 && monotone,
			"exact ALS never increases the loss (%.4f -> %.4f)",
			trace.losses[0], trace.losses[trace.calls - 1]);
	cholesky_loss = trace.losses[trace.calls - 1];

	params.solver = KP_SOLVER_CG;
	params.iterations = 15;
	kp_ials_train(&kp_malloc_allocator, &R, &Rt, &params, X, Y, NULL, NULL, NULL, NULL);
	unit_ok(kp_ials_loss(&R, X, Y, &params) < cholesky_loss * 1.05,
			"CG training reaches the exact solver's loss within 5%%");

	trace.calls = 0;
	trace.stop_at = 2;
	unit_ok(kp_ials_train(&kp_malloc_allocator, &R, &Rt, &params, X, Y, NULL, NULL,
						  record_loss, &trace) == KP_ECANCELLED && trace.calls == 2,
			"on_iteration returning nonzero cancels after that iteration");

	unit_ok(kp_ials_train(&kp_malloc_allocator, &Rt, &Rt, &params, X, Y, NULL, NULL,
						  NULL, NULL) == KP_EINVAL,
			"item_users that is not the transpose's shape is rejected");

	kp_csr_free(&kp_malloc_allocator, &R);
	kp_csr_free(&kp_malloc_allocator, &Rt);
	kp_csr_free(&kp_malloc_allocator, &R2);
	kp_csr_free(&kp_malloc_allocator, &Rt2);
	free(rows);
	free(cols);
	free(vals);
	free(X);
	free(Y);
	free(X2);
	free(Y2);
}

static int
count_and_cancel(void *arg)
{
	int		   *calls = arg;

	return ++*calls >= 3;
}

static int
count_only(void *arg)
{
	int		   *calls = arg;

	++*calls;
	return 0;
}

static void
test_interrupts_and_failures(void)
{
	kp_ials_params params;
	kp_csr		R,
				Rt;
	int32_t		n_rows = 1000;
	float	   *X = malloc(sizeof(float) * n_rows * 8);
	float	   *Y = malloc(sizeof(float) * 20 * 8);
	float		G[64];
	void	   *workspace;
	int			calls = 0;
	kp_status	status;

	kp_ials_default_params(&params);
	params.factors = 8;
	random_csr(n_rows, 20, 3, &R);
	kp_csr_transpose(&kp_malloc_allocator, &R, &Rt, NULL, NULL);
	workspace = malloc(kp_ials_workspace_bytes(&params, 20));
	random_factors(X, (size_t) n_rows * 8, 1.0);
	random_factors(Y, 20 * 8, 1.0);
	kp_ials_gram(Y, 20, 8, params.regularization, G);

	status = kp_ials_half_step(&R, Y, G, X, &params, 0, n_rows, workspace,
							   count_only, &calls);
	unit_ok(status == KP_OK && calls >= 4,
			"the interrupt callback runs every few hundred rows (%d calls)", calls);
	calls = 0;
	unit_ok(kp_ials_train(&kp_malloc_allocator, &R, &Rt, &params, X, Y,
						  count_and_cancel, &calls, NULL, NULL) == KP_ECANCELLED,
			"an interrupt callback returning nonzero cancels training");
	unit_ok(kp_ials_half_step(&R, Y, G, X, &params, 10, 5, workspace, NULL, NULL) == KP_EINVAL &&
			kp_ials_half_step(&R, Y, G, X, &params, 0, n_rows + 1, workspace, NULL, NULL) == KP_EINVAL,
			"a bad row range is rejected");

	/* Y = 0 and λ = 0: the Cholesky system is singular */
	memset(Y, 0, sizeof(float) * 20 * 8);
	params.solver = KP_SOLVER_CHOLESKY;
	params.regularization = 0.0f;
	kp_ials_gram(Y, 20, 8, 0.0f, G);
	unit_ok(kp_ials_half_step(&R, Y, G, X, &params, 0, n_rows, workspace, NULL, NULL) == KP_ENUMERIC,
			"a singular system gives KP_ENUMERIC");

	params.solver = KP_SOLVER_CG;
	params.alpha = 3e38f;
	unit_ok(kp_ials_train(&kp_malloc_allocator, &R, &Rt, &params, X, Y, NULL, NULL,
						  NULL, NULL) == KP_ENUMERIC,
			"confidence overflowing to infinity gives KP_ENUMERIC");

	kp_csr_free(&kp_malloc_allocator, &R);
	kp_csr_free(&kp_malloc_allocator, &Rt);
	free(X);
	free(Y);
	free(workspace);
}

static int
starts_with(const char *message, const char *prefix)
{
	return message && strncmp(message, prefix, strlen(prefix)) == 0;
}

static void
test_check_params(void)
{
	kp_ials_params params;
	kp_ials_params bad;

	kp_ials_default_params(&params);
	unit_ok(kp_ials_check_params(&params) == NULL &&
			params.factors == 64 && params.iterations == 15 && params.cg_steps == 3 &&
			params.solver == KP_SOLVER_CG && params.seed == KP_DEFAULT_SEED,
			"defaults are valid");
	bad = params;
	bad.factors = 0;
	unit_ok(starts_with(kp_ials_check_params(&bad), "factors"), "factors = 0");
	bad = params;
	bad.factors = KP_MAX_FACTORS + 1;
	unit_ok(starts_with(kp_ials_check_params(&bad), "factors"), "factors too large");
	bad = params;
	bad.iterations = -1;
	unit_ok(starts_with(kp_ials_check_params(&bad), "iterations"), "negative iterations");
	bad = params;
	bad.regularization = NAN;
	unit_ok(starts_with(kp_ials_check_params(&bad), "regularization"), "NaN regularization");
	bad = params;
	bad.regularization = -0.1f;
	unit_ok(starts_with(kp_ials_check_params(&bad), "regularization"), "negative regularization");
	bad = params;
	bad.alpha = INFINITY;
	unit_ok(starts_with(kp_ials_check_params(&bad), "alpha"), "infinite alpha");
	bad = params;
	bad.solver = (kp_solver) 7;
	unit_ok(starts_with(kp_ials_check_params(&bad), "solver"), "unknown solver");
	bad = params;
	bad.cg_steps = KP_MAX_CG_STEPS + 1;
	unit_ok(starts_with(kp_ials_check_params(&bad), "cg_steps"), "too many CG steps");
}

int
main(void)
{
	test_gram();
	test_exact_solves();
	test_long_row();
	test_cg_recipe();
	test_factors_init();
	test_training();
	test_interrupts_and_failures();
	test_check_params();
	return unit_done();
}
