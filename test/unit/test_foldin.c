/*
 * test_foldin.c -- fold-in against dense normal equations in double, against
 * iALS's own Cholesky half-step and trained user vectors, and its edge
 * cases: no courses, huge weights, bad input, cancellation.
 *
 * The CSR matrices are built here by hand so that the test depends only on
 * the kp_csr struct, not on how kp_sparse builds one.
 */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "kp_foldin.h"
#include "kp_ials.h"
#include "kp_sparse.h"
#include "unit.h"

static uint64_t rng_state = 77;

static uint64_t
rng_next(void)
{
	return kp_mix64(rng_state += UINT64_C(0x9e3779b97f4a7c15));
}

/* uniform in [0, 1) */
static double
rng_unit(void)
{
	return (double) (rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * n_rows × n_cols interactions: each row gets each column with probability
 * density, weights in [0.5, 3); every seventh row empty.  Also builds the
 * transpose.
 */
static void
random_interactions(int32_t n_rows, int32_t n_cols, double density,
					kp_csr *R, kp_csr *Rt)
{
	int64_t		cap = (int64_t) n_rows * n_cols;
	int64_t		nnz = 0;
	int32_t		row;
	int32_t		col;
	int64_t		k;

	R->n_rows = n_rows;
	R->n_cols = n_cols;
	R->indptr = malloc(sizeof(int64_t) * (n_rows + 1));
	R->indices = malloc(sizeof(int32_t) * cap);
	R->values = malloc(sizeof(float) * cap);
	R->indptr[0] = 0;
	for (row = 0; row < n_rows; row++)
	{
		for (col = 0; col < n_cols && row % 7 != 6; col++)
		{
			if (rng_unit() < density)
			{
				R->indices[nnz] = col;
				R->values[nnz] = (float) (0.5 + 2.5 * rng_unit());
				nnz++;
			}
		}
		R->indptr[row + 1] = nnz;
	}
	R->nnz = nnz;

	Rt->n_rows = n_cols;
	Rt->n_cols = n_rows;
	Rt->nnz = nnz;
	Rt->indptr = calloc(n_cols + 1, sizeof(int64_t));
	Rt->indices = malloc(sizeof(int32_t) * (nnz + 1));
	Rt->values = malloc(sizeof(float) * (nnz + 1));
	for (k = 0; k < nnz; k++)
		Rt->indptr[R->indices[k] + 1]++;
	for (col = 0; col < n_cols; col++)
		Rt->indptr[col + 1] += Rt->indptr[col];
	{
		int64_t    *next = malloc(sizeof(int64_t) * (n_cols + 1));

		memcpy(next, Rt->indptr, sizeof(int64_t) * (n_cols + 1));
		for (row = 0; row < n_rows; row++)
			for (k = R->indptr[row]; k < R->indptr[row + 1]; k++)
			{
				int64_t		at = next[R->indices[k]]++;

				Rt->indices[at] = row;
				Rt->values[at] = R->values[k];
			}
		free(next);
	}
}

static void
free_csr(kp_csr *m)
{
	free(m->indptr);
	free(m->indices);
	free(m->values);
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
		for (j = 0; j < n && pivot != col; j++)
		{
			double		t = A[col * n + j];

			A[col * n + j] = A[pivot * n + j];
			A[pivot * n + j] = t;
		}
		if (pivot != col)
		{
			double		t = b[col];

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

/*
 * The paper's equation written out in full, over every course: confidence
 * c_i (1 for courses not listed) and preference p_i, in double:
 * (Σ_i c_i y_i y_iᵀ + λI) x = Σ_i c_i p_i y_i.
 */
static void
reference_foldin(const float *Y, int32_t n_items, int f, const int32_t *items,
				 const float *weights, int32_t n, double alpha, double lambda,
				 double *x)
{
	double	   *A = calloc((size_t) f * f, sizeof(double));
	double	   *c = malloc(sizeof(double) * n_items);
	double	   *p = calloc(n_items, sizeof(double));
	int32_t		i;
	int			j,
				l;

	for (i = 0; i < n_items; i++)
		c[i] = 1.0;
	for (i = 0; i < n; i++)
	{
		c[items[i]] = 1.0 + alpha * (weights ? weights[i] : 1.0);
		p[items[i]] = 1.0;
	}
	memset(x, 0, sizeof(double) * f);
	for (i = 0; i < n_items; i++)
	{
		const float *y = Y + (size_t) i * f;

		for (j = 0; j < f; j++)
		{
			x[j] += c[i] * p[i] * y[j];
			for (l = 0; l < f; l++)
				A[j * f + l] += c[i] * y[j] * y[l];
		}
	}
	for (j = 0; j < f; j++)
		A[j * f + j] += lambda;
	dense_solve(A, x, f);
	free(A);
	free(c);
	free(p);
}

static double
max_relative_error(const float *x, const double *ref, int f)
{
	double		worst = 0.0;
	int			j;

	for (j = 0; j < f; j++)
	{
		double		err = fabs(x[j] - ref[j]) / fmax(1.0, fabs(ref[j]));

		if (!(err <= worst))
			worst = err;
	}
	return worst;
}

static void
random_vectors(float *F, size_t n, double scale)
{
	size_t		k;

	for (k = 0; k < n; k++)
		F[k] = (float) (scale * (rng_unit() - 0.3));
}

static void
test_against_reference(void)
{
	int32_t		n_items = 60;
	int			f = 12;
	float	   *Y = malloc(sizeof(float) * n_items * f);
	float	   *G = malloc(sizeof(float) * f * f);
	void	   *workspace = malloc(kp_foldin_workspace_bytes(f));
	int32_t		items[] = {3, 17, 42, 0, 59, 8};
	float		weights[] = {1.0f, 2.5f, 0.5f, 7.0f, 1.0f, 3.0f};
	float		x[12];
	float		x2[12];
	double		ref[12];
	kp_status	status;

	random_vectors(Y, (size_t) n_items * f, 1.0);
	kp_ials_gram(Y, n_items, f, 0.1f, G);

	status = kp_foldin(Y, n_items, f, G, items, weights, 6, 2.0f, 0.1f, x, workspace, NULL, NULL);
	reference_foldin(Y, n_items, f, items, weights, 6, 2.0, 0.1, ref);
	unit_ok(status == KP_OK && max_relative_error(x, ref, f) < 1e-4,
			"weighted fold-in solves the paper's equation (error %.2g)",
			max_relative_error(x, ref, f));

	status = kp_foldin(Y, n_items, f, NULL, items, weights, 6, 2.0f, 0.1f, x2, workspace, NULL, NULL);
	unit_ok(status == KP_OK && max_relative_error(x2, ref, f) < 1e-4,
			"without a precomputed Gram matrix it forms one from the course vectors");

	status = kp_foldin(Y, n_items, f, G, items, NULL, 6, 40.0f, 0.1f, x, workspace, NULL, NULL);
	reference_foldin(Y, n_items, f, items, NULL, 6, 40.0, 0.1, ref);
	unit_ok(status == KP_OK && max_relative_error(x, ref, f) < 1e-4,
			"weights NULL means weight 1 each (error %.2g)", max_relative_error(x, ref, f));

	/* a zero weight is ignored, as training drops such pairs */
	weights[2] = 0.0f;
	kp_foldin(Y, n_items, f, G, items, weights, 6, 2.0f, 0.1f, x, workspace, NULL, NULL);
	{
		int32_t		items5[] = {3, 17, 0, 59, 8};
		float		weights5[] = {1.0f, 2.5f, 7.0f, 1.0f, 3.0f};

		kp_foldin(Y, n_items, f, G, items5, weights5, 5, 2.0f, 0.1f, x2, workspace, NULL, NULL);
	}
	unit_ok(memcmp(x, x2, sizeof(x)) == 0, "an entry of weight 0 is ignored");

	/* duplicates count twice, so they differ from one entry of the summed weight */
	{
		int32_t		dup[] = {5, 5};
		float		dup_w[] = {1.0f, 2.0f};
		int32_t		one[] = {5};
		float		one_w[] = {3.0f};

		kp_foldin(Y, n_items, f, G, dup, dup_w, 2, 1.0f, 0.1f, x, workspace, NULL, NULL);
		kp_foldin(Y, n_items, f, G, one, one_w, 1, 1.0f, 0.1f, x2, workspace, NULL, NULL);
		unit_ok(memcmp(x, x2, sizeof(x)) != 0,
				"a course listed twice counts twice (callers merge duplicates, as documented)");
	}

	free(Y);
	free(G);
	free(workspace);
}

/*
 * A training user's own courses, folded in against the trained course
 * vectors, give the user's trained vector: exactly what one more
 * Cholesky half-step would give, and after enough iterations that the
 * factors have converged, the trained vector itself.
 */
static void
test_training_users(void)
{
	kp_ials_params params;
	kp_csr		R,
				Rt;
	int32_t		n_users = 150;
	int32_t		n_items = 80;
	int			f = 10;
	float	   *X;
	float	   *Y;
	float	   *X_step;
	float	   *G;
	void	   *half_workspace;
	void	   *workspace;
	float		x[10];
	double		worst_step = 0.0;
	double		worst_trained = 0.0;
	double		worst_cg = 0.0;
	int			empty_zero = 1;
	int32_t		u;
	kp_status	status;

	random_interactions(n_users, n_items, 0.12, &R, &Rt);
	kp_ials_default_params(&params);
	params.factors = f;
	params.iterations = 300;
	params.solver = KP_SOLVER_CHOLESKY;
	params.regularization = 0.5f;
	params.alpha = 4.0f;
	X = malloc(sizeof(float) * n_users * f);
	Y = malloc(sizeof(float) * n_items * f);
	X_step = malloc(sizeof(float) * n_users * f);
	G = malloc(sizeof(float) * f * f);
	status = kp_ials_train(&kp_malloc_allocator, &R, &Rt, &params, X, Y, NULL, NULL, NULL, NULL);
	unit_ok(status == KP_OK, "training for the fold-in comparison");

	/* one more users half-step with the final course vectors */
	kp_ials_gram(Y, n_items, f, params.regularization, G);
	memcpy(X_step, X, sizeof(float) * n_users * f);
	half_workspace = malloc(kp_ials_workspace_bytes(&params, n_items));
	kp_ials_half_step(&R, Y, G, X_step, &params, 0, n_users, half_workspace, NULL, NULL);

	workspace = malloc(kp_foldin_workspace_bytes(f));
	for (u = 0; u < n_users; u++)
	{
		int64_t		begin = R.indptr[u];
		int32_t		n = (int32_t) (R.indptr[u + 1] - begin);
		int			j;

		status = kp_foldin(Y, n_items, f, G, R.indices + begin, R.values + begin, n,
						   params.alpha, params.regularization, x, workspace, NULL, NULL);
		if (status != KP_OK)
			worst_step = INFINITY;
		if (n == 0)
		{
			for (j = 0; j < f; j++)
				if (x[j] != 0.0f)
					empty_zero = 0;
			continue;
		}
		for (j = 0; j < f; j++)
		{
			double		step = fabs(x[j] - X_step[(size_t) u * f + j]) /
				fmax(1.0, fabs(X_step[(size_t) u * f + j]));
			double		trained = fabs(x[j] - X[(size_t) u * f + j]) /
				fmax(1.0, fabs(X[(size_t) u * f + j]));

			if (!(step <= worst_step))
				worst_step = step;
			if (!(trained <= worst_trained))
				worst_trained = trained;
		}
	}
	unit_ok(worst_step < 1e-4,
			"fold-in equals iALS's Cholesky half-step for every training user (error %.2g)",
			worst_step);
	unit_ok(worst_trained < 1e-3,
			"and reproduces the converged trained user vectors (error %.2g)", worst_trained);
	unit_ok(empty_zero, "a training user without courses folds in to the zero vector");

	/* a model trained by the default CG solver: close, not exact */
	params.solver = KP_SOLVER_CG;
	params.iterations = 40;
	kp_ials_train(&kp_malloc_allocator, &R, &Rt, &params, X, Y, NULL, NULL, NULL, NULL);
	kp_ials_gram(Y, n_items, f, params.regularization, G);
	for (u = 0; u < n_users; u++)
	{
		int64_t		begin = R.indptr[u];
		int			j;

		kp_foldin(Y, n_items, f, G, R.indices + begin, R.values + begin,
				  (int32_t) (R.indptr[u + 1] - begin), params.alpha,
				  params.regularization, x, workspace, NULL, NULL);
		for (j = 0; j < f; j++)
		{
			double		err = fabs(x[j] - X[(size_t) u * f + j]) /
				fmax(1.0, fabs(X[(size_t) u * f + j]));

			if (!(err <= worst_cg))
				worst_cg = err;
		}
	}
	unit_ok(worst_cg < 2e-2,
			"and is close to the user vectors of a CG-trained model (error %.2g)", worst_cg);

	free_csr(&R);
	free_csr(&Rt);
	free(X);
	free(Y);
	free(X_step);
	free(G);
	free(half_workspace);
	free(workspace);
}

static int
all_finite(const float *x, int f)
{
	int			j;

	for (j = 0; j < f; j++)
		if (!isfinite(x[j]))
			return 0;
	return 1;
}

static void
test_edge_cases(void)
{
	int32_t		n_items = 40;
	int			f = 8;
	float	   *Y = malloc(sizeof(float) * n_items * f);
	float	   *G = malloc(sizeof(float) * f * f);
	void	   *workspace = malloc(kp_foldin_workspace_bytes(f));
	int32_t		items[] = {1, 7, 30};
	float		weights[3];
	float		x[8];
	float		x_limit[8];
	float		zero[8] = {0};
	float		bad_weight[] = {1.0f, -1.0f, 1.0f};
	float		nan_weight[] = {1.0f, NAN, 1.0f};
	int32_t		bad_items[] = {1, 40, 2};
	int32_t		negative_items[] = {-1};
	kp_status	status;
	int			ok = 1;
	int			i;

	random_vectors(Y, (size_t) n_items * f, 1.0);
	kp_ials_gram(Y, n_items, f, 0.01f, G);

	memset(x, 0x7f, sizeof(x));
	status = kp_foldin(Y, n_items, f, G, items, NULL, 0, 1.0f, 0.01f, x, workspace, NULL, NULL);
	unit_ok(status == KP_OK && memcmp(x, zero, sizeof(x)) == 0, "no courses: the zero vector");
	weights[0] = weights[1] = weights[2] = 0.0f;
	memset(x, 0x7f, sizeof(x));
	status = kp_foldin(Y, n_items, f, G, items, weights, 3, 1.0f, 0.01f, x, workspace, NULL, NULL);
	unit_ok(status == KP_OK && memcmp(x, zero, sizeof(x)) == 0, "only weights 0: the zero vector");

	/*
	 * Huge confidences: the solution tends to the one with yᵀx = 1 on the
	 * given courses (3 courses, 8 dimensions: reachable); never NaN.
	 */
	weights[0] = weights[1] = weights[2] = 1e12f;
	status = kp_foldin(Y, n_items, f, G, items, weights, 3, 1.0f, 0.01f, x_limit, workspace, NULL, NULL);
	ok = status == KP_OK && all_finite(x_limit, f);
	{
		const float huge[][2] = {{1e5f, 1.0f}, {1e20f, 1.0f}, {1e30f, 1.0f}, {FLT_MAX, 1.0f},
		{FLT_MAX, FLT_MAX}, {1.0f, FLT_MAX}};
		double		worst = 0.0;
		int			h;

		for (h = 0; h < 6; h++)
		{
			weights[0] = weights[1] = weights[2] = huge[h][0];
			status = kp_foldin(Y, n_items, f, G, items, weights, 3, huge[h][1], 0.01f, x,
							   workspace, NULL, NULL);
			ok = ok && status == KP_OK && all_finite(x, f);
			for (i = 0; i < f && ok; i++)
				worst = fmax(worst, fabs(x[i] - x_limit[i]) / fmax(1.0, fabs(x_limit[i])));
		}
		for (i = 0; i < 3 && ok; i++)
		{
			double		dot = 0.0;
			int			j;

			for (j = 0; j < f; j++)
				dot += (double) x[j] * Y[(size_t) items[i] * f + j];
			ok = fabs(dot - 1.0) < 1e-3;
		}
		unit_ok(ok && worst < 1e-3,
				"weights from 1e5 up to FLT_MAX (and alpha FLT_MAX) give finite vectors at "
				"the limit yᵀx = 1 (spread %.2g)", worst);
	}
	/* one huge weight beside ordinary ones, more courses than dimensions */
	{
		int32_t		many[12];
		float		many_w[12];

		for (i = 0; i < 12; i++)
		{
			many[i] = i * 3;
			many_w[i] = i == 4 ? FLT_MAX : 1.0f + i;
		}
		status = kp_foldin(Y, n_items, f, G, many, many_w, 12, 10.0f, 0.01f, x, workspace, NULL, NULL);
		unit_ok(status == KP_OK && all_finite(x, f),
				"one weight FLT_MAX among ordinary ones: finite");
	}

	unit_ok(kp_foldin(Y, n_items, f, G, bad_items, NULL, 3, 1.0f, 0.01f, x, workspace, NULL, NULL) == KP_EINVAL &&
			kp_foldin(Y, n_items, f, G, negative_items, NULL, 1, 1.0f, 0.01f, x, workspace, NULL, NULL) == KP_EINVAL,
			"a course index outside the model is rejected");
	unit_ok(kp_foldin(Y, n_items, f, G, items, bad_weight, 3, 1.0f, 0.01f, x, workspace, NULL, NULL) == KP_EINVAL &&
			kp_foldin(Y, n_items, f, G, items, nan_weight, 3, 1.0f, 0.01f, x, workspace, NULL, NULL) == KP_EINVAL,
			"negative or NaN weights are rejected");
	unit_ok(kp_foldin(Y, n_items, f, G, items, NULL, 3, -1.0f, 0.01f, x, workspace, NULL, NULL) == KP_EINVAL &&
			kp_foldin(Y, n_items, f, G, items, NULL, 3, NAN, 0.01f, x, workspace, NULL, NULL) == KP_EINVAL &&
			kp_foldin(Y, n_items, f, NULL, items, NULL, 3, 1.0f, -1.0f, x, workspace, NULL, NULL) == KP_EINVAL,
			"bad alpha or regularization is rejected");
	unit_ok(kp_foldin_workspace_bytes(0) == SIZE_MAX &&
			kp_foldin_workspace_bytes(KP_FOLDIN_MAX_DIMS + 1) == SIZE_MAX &&
			kp_foldin_workspace_bytes(KP_FOLDIN_MAX_DIMS) < 12 * 1024 * 1024,
			"workspace sizes: bounded, and dims outside [1, 1026] refused");

	/* the widest vectors: als with 1024 factors has 1026 dimensions */
	{
		int			wide = KP_FOLDIN_MAX_DIMS;
		float	   *Z = malloc(sizeof(float) * 50 * wide);
		float	   *z = malloc(sizeof(float) * wide);
		void	   *big = malloc(kp_foldin_workspace_bytes(wide));

		random_vectors(Z, (size_t) 50 * wide, 0.1);
		status = kp_foldin(Z, 50, wide, NULL, items, NULL, 3, 5.0f, 0.1f, z, big, NULL, NULL);
		unit_ok(status == KP_OK && all_finite(z, wide) &&
				kp_foldin(Z, 50, wide + 1, NULL, items, NULL, 3, 5.0f, 0.1f, z, big, NULL, NULL) == KP_EINVAL,
				"1026 dimensions fold in; 1027 are refused");
		free(Z);
		free(z);
		free(big);
	}

	/* singular: no regularization and all course vectors zero */
	memset(Y, 0, sizeof(float) * n_items * f);
	kp_ials_gram(Y, n_items, f, 0.0f, G);
	memset(x, 0x7f, sizeof(x));
	status = kp_foldin(Y, n_items, f, G, items, NULL, 3, 1.0f, 0.0f, x, workspace, NULL, NULL);
	unit_ok(status == KP_ENUMERIC && memcmp(x, zero, sizeof(x)) == 0,
			"a singular system gives KP_ENUMERIC and the zero vector");

	free(Y);
	free(G);
	free(workspace);
}

static int
cancel_after(void *arg)
{
	int		   *calls = arg;

	return --*calls <= 0;
}

static void
test_cancellation(void)
{
	int32_t		n_items = 5000;
	int			f = 16;
	float	   *Y = malloc(sizeof(float) * n_items * f);
	void	   *workspace = malloc(kp_foldin_workspace_bytes(f));
	int32_t    *items = malloc(sizeof(int32_t) * 1000);
	float		x[16];
	int			calls;
	int32_t		i;

	random_vectors(Y, (size_t) n_items * f, 1.0);
	for (i = 0; i < 1000; i++)
		items[i] = i * 5;
	calls = 3;
	unit_ok(kp_foldin(Y, n_items, f, NULL, items, NULL, 1000, 1.0f, 0.1f, x, workspace,
					  cancel_after, &calls) == KP_ECANCELLED,
			"cancelled while forming the Gram matrix");
	calls = 1000000;
	kp_foldin(Y, n_items, f, NULL, items, NULL, 1000, 1.0f, 0.1f, x, workspace,
			  cancel_after, &calls);
	calls = 1000000 - calls;
	unit_ok(calls >= 40, "the callback runs every block of rows (%d calls)", calls);
	calls = 44;					/* past the Gram matrix's 40 blocks */
	unit_ok(kp_foldin(Y, n_items, f, NULL, items, NULL, 1000, 1.0f, 0.1f, x, workspace,
					  cancel_after, &calls) == KP_ECANCELLED,
			"cancelled while adding the user's courses");
	free(Y);
	free(workspace);
	free(items);
}

/* The Woodbury path gives kp_foldin's vector for few courses. */
static void
test_lowrank(void)
{
	int32_t		n_items = 300;
	int			f = 32;
	float	   *Y = malloc(sizeof(float) * n_items * f);
	float	   *G = malloc(sizeof(float) * f * f);
	double	   *P = malloc(kp_foldin_inverse_workspace_bytes(f));
	void	   *workspace = malloc(kp_foldin_workspace_bytes(f));
	void	   *small = malloc(kp_foldin_lowrank_workspace_bytes(f, KP_FOLDIN_LOWRANK_MAX));
	int32_t		items[KP_FOLDIN_LOWRANK_MAX];
	float		weights[KP_FOLDIN_LOWRANK_MAX];
	float		x[32];
	float		x_low[32];
	int			sizes[] = {1, 2, 3, 10, 64};
	int			s;
	int			i;

	random_vectors(Y, (size_t) n_items * f, 1.0);
	kp_ials_gram(Y, n_items, f, 0.05f, G);
	unit_ok(kp_foldin_gram_inverse(G, f, P) == KP_OK, "the Gram matrix inverts");
	for (s = 0; s < 5; s++)
	{
		double		worst = 0;
		int			k;

		for (i = 0; i < sizes[s]; i++)
		{
			items[i] = (i * 37 + 11) % n_items;
			weights[i] = 0.5f + (float) (i % 4);
		}
		weights[0] = sizes[s] > 1 ? 0.0f : weights[0];
		kp_foldin(Y, n_items, f, G, items, weights, sizes[s], 3.0f, 0.05f, x, workspace, NULL, NULL);
		unit_ok(kp_foldin_lowrank(Y, n_items, f, G, P, items, weights, sizes[s], 3.0f, x_low, small) == KP_OK,
				"%d courses through Woodbury", sizes[s]);
		for (k = 0; k < f; k++)
		{
			double		scale = fabs(x[k]) > 1e-3 ? fabs(x[k]) : 1e-3;
			double		error = fabs((double) x_low[k] - x[k]) / scale;

			if (error > worst)
				worst = error;
		}
		unit_ok(worst < 1e-3, "%d courses: the vector kp_foldin solves (error %.2g)", sizes[s], worst);
	}
	weights[0] = 1e30f;
	kp_foldin(Y, n_items, f, G, items, weights, 3, 3.0f, 0.05f, x, workspace, NULL, NULL);
	kp_foldin_lowrank(Y, n_items, f, G, P, items, weights, 3, 3.0f, x_low, small);
	unit_ok(isfinite(x_low[0]) && fabs(x_low[0] - x[0]) <= 1e-3 * (fabs(x[0]) + 1e-3),
			"a huge weight is capped alike");
	unit_ok(kp_foldin_lowrank(Y, n_items, f, G, P, items, weights, KP_FOLDIN_LOWRANK_MAX + 1, 3.0f,
							  x_low, small) == KP_EINVAL, "more courses than the low-rank limit are refused");
	weights[0] = 0.0f;
	weights[1] = 0.0f;
	unit_ok(kp_foldin_lowrank(Y, n_items, f, G, P, items, weights, 2, 3.0f, x_low, small) == KP_OK &&
			x_low[0] == 0 && x_low[f - 1] == 0, "only zero weights give the zero vector");
	free(Y);
	free(G);
	free(P);
	free(workspace);
	free(small);
}

int
main(void)
{
	test_lowrank();
	test_against_reference();
	test_training_users();
	test_edge_cases();
	test_cancellation();
	return unit_done();
}
