/*
 * test_ridge.c -- the feature → course vector mapping: exact recovery of a
 * noiseless linear map, both solution forms against dense normal equations
 * in double, several factorisation blocks checked by their residual,
 * shrinkage with λ, courses and features without values, limits, bad
 * input, allocation failures and cancellation.
 */
#include <stdint.h>
#include <string.h>

#include "kp_ridge.h"
#include "unit.h"

static uint64_t rng_state = 4242;

static double
rng_unit(void)
{
	return (double) (kp_mix64(rng_state += UINT64_C(0x9e3779b97f4a7c15)) >> 11) *
		(1.0 / 9007199254740992.0);
}

/* Each row gets per_row distinct features (ascending), values in [0.5, 2). */
static void
random_features(int32_t n_rows, int32_t n_cols, int32_t per_row, kp_csr *F)
{
	char	   *taken = calloc(n_cols, 1);
	int32_t		r;

	F->n_rows = n_rows;
	F->n_cols = n_cols;
	F->nnz = (int64_t) n_rows * per_row;
	F->indptr = malloc(sizeof(int64_t) * (n_rows + 1));
	F->indices = malloc(sizeof(int32_t) * (F->nnz + 1));
	F->values = malloc(sizeof(float) * (F->nnz + 1));
	F->indptr[0] = 0;
	for (r = 0; r < n_rows; r++)
	{
		int64_t		at = F->indptr[r];
		int32_t		placed = 0;
		int32_t		c;

		while (placed < per_row)
		{
			c = (int32_t) (rng_unit() * n_cols);
			if (!taken[c])
			{
				taken[c] = 1;
				placed++;
			}
		}
		for (c = 0; c < n_cols; c++)
		{
			if (taken[c])
			{
				F->indices[at] = c;
				F->values[at] = (float) (0.5 + 1.5 * rng_unit());
				at++;
				taken[c] = 0;
			}
		}
		F->indptr[r + 1] = at;
	}
	free(taken);
}

static void
free_csr(kp_csr *F)
{
	free(F->indptr);
	free(F->indices);
	free(F->values);
}

/* out (n_rows × d, double) = F·X for X (n_cols × d, float). */
static void
sparse_times(const kp_csr *F, const float *X, int d, double *out)
{
	int32_t		r;

	memset(out, 0, sizeof(double) * F->n_rows * d);
	for (r = 0; r < F->n_rows; r++)
	{
		int64_t		e;
		int			j;

		for (e = F->indptr[r]; e < F->indptr[r + 1]; e++)
			for (j = 0; j < d; j++)
				out[(size_t) r * d + j] += (double) F->values[e] * X[(size_t) F->indices[e] * d + j];
	}
}

/* out (n_cols × d) = Fᵀ·Y for Y (n_rows × d, double). */
static void
sparse_transpose_times(const kp_csr *F, const double *Y, int d, double *out)
{
	int32_t		r;

	memset(out, 0, sizeof(double) * F->n_cols * d);
	for (r = 0; r < F->n_rows; r++)
	{
		int64_t		e;
		int			j;

		for (e = F->indptr[r]; e < F->indptr[r + 1]; e++)
			for (j = 0; j < d; j++)
				out[(size_t) F->indices[e] * d + j] += (double) F->values[e] * Y[(size_t) r * d + j];
	}
}

/*
 * max |(FᵀF + λI)W − FᵀV| / max |FᵀV|: how well W satisfies the normal
 * equations, computed with sparse products in double.
 */
static double
normal_residual(const kp_csr *F, const float *V, const float *W, int d, double lambda)
{
	double	   *FW = malloc(sizeof(double) * F->n_rows * d);
	double	   *FtFW = malloc(sizeof(double) * F->n_cols * d);
	double	   *Vd = malloc(sizeof(double) * F->n_rows * d);
	double	   *FtV = malloc(sizeof(double) * F->n_cols * d);
	double		worst = 0.0;
	double		scale = 0.0;
	size_t		k;

	sparse_times(F, W, d, FW);
	sparse_transpose_times(F, FW, d, FtFW);
	for (k = 0; k < (size_t) F->n_rows * d; k++)
		Vd[k] = V[k];
	sparse_transpose_times(F, Vd, d, FtV);
	for (k = 0; k < (size_t) F->n_cols * d; k++)
	{
		worst = fmax(worst, fabs(FtFW[k] + lambda * W[k] - FtV[k]));
		scale = fmax(scale, fabs(FtV[k]));
	}
	free(FW);
	free(FtFW);
	free(Vd);
	free(FtV);
	return worst / fmax(scale, 1e-300);
}

/* Solves A X = B (n×n, n×d, row-major, destroyed) by Gaussian elimination with pivoting. */
static void
dense_solve(double *A, double *B, int n, int d)
{
	int			col,
				row,
				j;

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
		for (j = 0; j < d && pivot != col; j++)
		{
			double		t = B[col * d + j];

			B[col * d + j] = B[pivot * d + j];
			B[pivot * d + j] = t;
		}
		for (row = col + 1; row < n; row++)
		{
			double		factor = A[row * n + col] / A[col * n + col];

			for (j = col; j < n; j++)
				A[row * n + j] -= factor * A[col * n + j];
			for (j = 0; j < d; j++)
				B[row * d + j] -= factor * B[col * d + j];
		}
	}
	for (row = n - 1; row >= 0; row--)
		for (j = 0; j < d; j++)
		{
			double		sum = B[row * d + j];
			int			l;

			for (l = row + 1; l < n; l++)
				sum -= A[row * n + l] * B[l * d + j];
			B[row * d + j] = sum / A[row * n + row];
		}
}

/* W from the dense normal equations (FᵀF + λI)W = FᵀV in double. */
static void
reference_fit(const kp_csr *F, const float *V, int d, double lambda, double *W)
{
	int			n = F->n_cols;
	double	   *A = calloc((size_t) n * n, sizeof(double));
	double	   *Vd = malloc(sizeof(double) * F->n_rows * d);
	int32_t		r;
	size_t		k;

	for (r = 0; r < F->n_rows; r++)
	{
		int64_t		a,
					b;

		for (a = F->indptr[r]; a < F->indptr[r + 1]; a++)
			for (b = F->indptr[r]; b < F->indptr[r + 1]; b++)
				A[(size_t) F->indices[a] * n + F->indices[b]] += (double) F->values[a] * F->values[b];
	}
	for (r = 0; r < n; r++)
		A[(size_t) r * n + r] += lambda;
	for (k = 0; k < (size_t) F->n_rows * d; k++)
		Vd[k] = V[k];
	sparse_transpose_times(F, Vd, d, W);
	dense_solve(A, W, n, d);
	free(A);
	free(Vd);
}

static double
max_abs_difference(const float *a, const double *b, size_t n, double *scale)
{
	double		worst = 0.0;
	size_t		k;

	*scale = 0.0;
	for (k = 0; k < n; k++)
	{
		worst = fmax(worst, fabs(a[k] - b[k]));
		*scale = fmax(*scale, fabs(b[k]));
	}
	return worst;
}

static void
test_recovery(void)
{
	kp_csr		F;
	int			d = 8;
	int32_t		n_courses = 400;
	int32_t		n_features = 50;
	float	   *W_true = malloc(sizeof(float) * n_features * d);
	double	   *V_double = malloc(sizeof(double) * n_courses * d);
	float	   *V = malloc(sizeof(float) * n_courses * d);
	float	   *W = malloc(sizeof(float) * n_features * d);
	double	   *W_true_double = malloc(sizeof(double) * n_features * d);
	double		scale;
	double		err;
	kp_status	status;
	int32_t		i;

	random_features(n_courses, n_features, 6, &F);
	for (i = 0; i < n_features * d; i++)
	{
		W_true[i] = (float) (rng_unit() * 2 - 1);
		W_true_double[i] = W_true[i];
	}
	sparse_times(&F, W_true, d, V_double);
	for (i = 0; i < n_courses * d; i++)
		V[i] = (float) V_double[i];

	status = kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 1e-9f, W, NULL, NULL);
	err = max_abs_difference(W, W_true_double, (size_t) n_features * d, &scale);
	unit_ok(status == KP_OK && err < 1e-4 * scale,
			"noiseless linear map (400 courses, 50 features): W recovered (error %.2g)", err / scale);

	/* and a course that was not in training, given only its features */
	{
		int32_t		feats[3] = {4, 17, 33};
		float		vals[3] = {0.5f, 1.25f, 2.0f};
		float		out[8];
		double		expected;
		int			j;
		int			ok;

		status = kp_ridge_predict(W, n_features, d, feats, vals, 3, out);
		ok = status == KP_OK;
		for (j = 0; j < d; j++)
		{
			expected = 0.5 * W_true[4 * d + j] + 1.25 * W_true[17 * d + j] + 2.0 * W_true[33 * d + j];
			ok = ok && fabs(out[j] - expected) < 1e-4;
		}
		unit_ok(ok, "a new course's vector predicted from its features alone");
	}

	free_csr(&F);
	free(W_true);
	free(V_double);
	free(V);
	free(W);
	free(W_true_double);
}

/* primal (features < courses) and dual (courses < features) against dense double */
static void
test_against_reference(void)
{
	int			d = 5;
	int			mode;

	for (mode = 0; mode < 2; mode++)
	{
		kp_csr		F;
		int32_t		n_courses = mode == 0 ? 150 : 40;
		int32_t		n_features = mode == 0 ? 60 : 120;
		float	   *V = malloc(sizeof(float) * n_courses * d);
		float	   *W = malloc(sizeof(float) * n_features * d);
		double	   *ref = malloc(sizeof(double) * n_features * d);
		double		scale;
		double		err;
		kp_status	status;
		int32_t		i;

		random_features(n_courses, n_features, 7, &F);
		for (i = 0; i < n_courses * d; i++)
			V[i] = (float) (rng_unit() * 2 - 1);
		status = kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 0.7f, W, NULL, NULL);
		reference_fit(&F, V, d, 0.7, ref);
		err = max_abs_difference(W, ref, (size_t) n_features * d, &scale);
		unit_ok(status == KP_OK && err < 1e-5 * scale,
				"%s form (%d courses, %d features), λ 0.7: the dense normal equations' W (error %.2g)",
				mode == 0 ? "primal" : "dual", n_courses, n_features, err / scale);
		free_csr(&F);
		free(V);
		free(W);
		free(ref);
	}

	/* fewer courses than features, λ → 0: W interpolates the training vectors */
	{
		kp_csr		F;
		int32_t		n_courses = 30;
		int32_t		n_features = 100;
		float	   *V = malloc(sizeof(float) * n_courses * d);
		float	   *W = malloc(sizeof(float) * n_features * d);
		double	   *FW = malloc(sizeof(double) * n_courses * d);
		double		worst = 0.0;
		kp_status	status;
		int32_t		i;

		random_features(n_courses, n_features, 8, &F);
		for (i = 0; i < n_courses * d; i++)
			V[i] = (float) (rng_unit() * 2 - 1);
		status = kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 1e-9f, W, NULL, NULL);
		sparse_times(&F, W, d, FW);
		for (i = 0; i < n_courses * d; i++)
			worst = fmax(worst, fabs(FW[i] - V[i]));
		unit_ok(status == KP_OK && worst < 1e-4,
				"30 courses, 100 features, λ ≈ 0: the training vectors are reproduced (error %.2g)",
				worst);
		free_csr(&F);
		free(V);
		free(W);
		free(FW);
	}
}

/* several blocks of the factorisation and the solves: residual of the normal equations */
static void
test_blocks(void)
{
	int			d = 16;
	int			mode;

	for (mode = 0; mode < 2; mode++)
	{
		kp_csr		F;
		int32_t		n_courses = mode == 0 ? 2000 : 700;
		int32_t		n_features = mode == 0 ? 700 : 1500;
		float	   *V = malloc(sizeof(float) * n_courses * d);
		float	   *W = malloc(sizeof(float) * n_features * d);
		double		residual;
		kp_status	status;
		int32_t		i;

		random_features(n_courses, n_features, 12, &F);
		for (i = 0; i < n_courses * d; i++)
			V[i] = (float) (rng_unit() * 2 - 1);
		status = kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 1.0f, W, NULL, NULL);
		residual = normal_residual(&F, V, W, d, 1.0);
		unit_ok(status == KP_OK && residual < 1e-5,
				"%s form with %d unknowns (3 blocks): normal equations hold (residual %.2g)",
				mode == 0 ? "primal" : "dual", mode == 0 ? n_features : n_courses, residual);
		free_csr(&F);
		free(V);
		free(W);
	}
}

static double
frobenius(const float *W, size_t n)
{
	double		sum = 0.0;
	size_t		k;

	for (k = 0; k < n; k++)
		sum += (double) W[k] * W[k];
	return sqrt(sum);
}

static void
test_shrinkage_and_empty(void)
{
	kp_csr		F;
	int			d = 6;
	int32_t		n_courses = 120;
	int32_t		n_features = 40;
	float	   *V = malloc(sizeof(float) * (n_courses + 1) * d);
	float	   *W = malloc(sizeof(float) * n_features * d);
	float	   *W2 = malloc(sizeof(float) * n_features * d);
	double	   *FtV = malloc(sizeof(double) * n_features * d);
	double	   *Vd = malloc(sizeof(double) * n_courses * d);
	const float lambdas[] = {0.01f, 0.1f, 1.0f, 10.0f, 100.0f, 1000.0f};
	double		previous = INFINITY;
	int			shrinks = 1;
	int			l;
	int32_t		i;

	random_features(n_courses, n_features, 5, &F);
	for (i = 0; i < (n_courses + 1) * d; i++)
		V[i] = (float) (rng_unit() * 2 - 1);
	for (l = 0; l < 6; l++)
	{
		double		norm;

		kp_ridge_fit(&kp_malloc_allocator, &F, V, d, lambdas[l], W, NULL, NULL);
		norm = frobenius(W, (size_t) n_features * d);
		shrinks = shrinks && norm < previous;
		previous = norm;
	}
	unit_ok(shrinks, "‖W‖ falls strictly as λ grows from 0.01 to 1000");

	/* very large λ: W → FᵀV/λ */
	kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 1e7f, W, NULL, NULL);
	for (i = 0; i < n_courses * d; i++)
		Vd[i] = V[i];
	sparse_transpose_times(&F, Vd, d, FtV);
	{
		double		worst = 0.0;
		double		scale = 0.0;

		for (i = 0; i < n_features * d; i++)
		{
			worst = fmax(worst, fabs(W[i] - FtV[i] / 1e7));
			scale = fmax(scale, fabs(FtV[i] / 1e7));
		}
		unit_ok(worst < 1e-3 * scale, "λ = 1e7: W ≈ FᵀV/λ (relative %.2g)", worst / scale);
	}

	/* a course with no features: predicted as zero, and no effect on training */
	{
		float		out[6];
		float		zero[6] = {0};
		int			ok;

		memset(out, 0x7f, sizeof(out));
		ok = kp_ridge_predict(W, n_features, d, NULL, NULL, 0, out) == KP_OK &&
			memcmp(out, zero, sizeof(out)) == 0;
		unit_ok(ok, "a course with no features gets the zero vector");

		kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 0.5f, W, NULL, NULL);
		F.n_rows++;				/* one more course, with no features */
		F.indptr = realloc(F.indptr, sizeof(int64_t) * (F.n_rows + 1));
		F.indptr[F.n_rows] = F.indptr[F.n_rows - 1];
		kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 0.5f, W2, NULL, NULL);
		unit_ok(memcmp(W, W2, sizeof(float) * n_features * d) == 0,
				"a training course without features changes nothing");
		F.n_rows--;
	}

	/* a feature no course uses gets a zero row; an explicit 0 counts as absent */
	{
		int			ok = 1;
		int			j;

		for (i = 0; i < F.nnz; i++)
			if (F.indices[i] == 7)
				F.values[i] = 0.0f;
		kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 0.0f, W, NULL, NULL);
		for (j = 0; j < d; j++)
			ok = ok && W[7 * d + j] == 0.0f;
		unit_ok(ok && isfinite(W[8 * d]),
				"a feature whose values are all 0 gets a zero row, even with λ = 0");
	}

	free_csr(&F);
	free(V);
	free(W);
	free(W2);
	free(FtV);
	free(Vd);
}

static int
cancel_after(void *arg)
{
	int		   *calls = arg;

	return --*calls <= 0;
}

static void
test_failures(void)
{
	kp_csr		F;
	int			d = 8;
	int32_t		n_courses = 3000;
	int32_t		n_features = 1200;
	float	   *V = malloc(sizeof(float) * n_courses * d);
	float	   *W = malloc(sizeof(float) * n_features * d);
	unit_counting counting = {0};
	kp_allocator alloc = unit_counting_allocator(&counting);
	int			total_calls;
	int			calls;
	int			all = 1;
	int			at;
	int32_t		i;

	random_features(n_courses, n_features, 10, &F);
	for (i = 0; i < n_courses * d; i++)
		V[i] = (float) (rng_unit() - 0.5);

	calls = 1 << 30;
	all = kp_ridge_fit(&alloc, &F, V, d, 0.1f, W, cancel_after, &calls) == KP_OK;
	unit_ok(all && counting.live == 0 && counting.total_bytes <= kp_ridge_fit_bytes(&F, d) &&
			counting.total_bytes >= 1200 * 1200 * sizeof(double),
			"memory within kp_ridge_fit_bytes (%.1f of %.1f MB), all released",
			counting.total_bytes / 1e6, kp_ridge_fit_bytes(&F, d) / 1e6);
	total_calls = (1 << 30) - calls;
	unit_ok(total_calls >= 20, "the callback runs between blocks (%d calls)", total_calls);
	for (at = 1; at <= total_calls; at += total_calls / 13 + 1)
	{
		counting = (unit_counting) {0};
		alloc = unit_counting_allocator(&counting);
		calls = at;
		all = all && kp_ridge_fit(&alloc, &F, V, d, 0.1f, W, cancel_after, &calls) == KP_ECANCELLED &&
			counting.live == 0;
	}
	unit_ok(all, "cancelled wherever the callback says so, nothing leaked");
	free_csr(&F);

	/* the dual form allocates more pieces */
	random_features(40, 100, 5, &F);
	for (at = 1; at <= 7; at++)
	{
		counting = (unit_counting) {0};
		counting.fail_at = at;
		alloc = unit_counting_allocator(&counting);
		all = all && kp_ridge_fit(&alloc, &F, V, d, 0.1f, W, NULL, NULL) == KP_ENOMEM &&
			counting.live == 0;
	}
	unit_ok(all, "every allocation failure gives KP_ENOMEM, nothing leaked");

	/* malformed input */
	F.indices[3] = F.indices[2];
	unit_ok(kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 0.1f, W, NULL, NULL) == KP_EINVAL,
			"a row with repeated or unsorted features is rejected");
	F.indices[3] = 100;
	unit_ok(kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 0.1f, W, NULL, NULL) == KP_EINVAL,
			"a feature index outside the matrix is rejected");
	F.indices[3] = F.indices[2] + 1 < F.indices[4] ? F.indices[2] + 1 : F.indices[4] - 1;
	F.values[3] = NAN;
	unit_ok(kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 0.1f, W, NULL, NULL) == KP_EINVAL,
			"a NaN feature value is rejected");
	F.values[3] = 1.0f;
	V[5] = INFINITY;
	unit_ok(kp_ridge_fit(&kp_malloc_allocator, &F, V, d, 0.1f, W, NULL, NULL) == KP_EINVAL &&
			kp_ridge_fit(&kp_malloc_allocator, &F, V + 8, d, -1.0f, W, NULL, NULL) == KP_EINVAL &&
			kp_ridge_fit(&kp_malloc_allocator, &F, V + 8, 0, 0.1f, W, NULL, NULL) == KP_EINVAL &&
			kp_ridge_fit(&kp_malloc_allocator, &F, V + 8, KP_RIDGE_MAX_DIMS + 1, 0.1f, W, NULL, NULL) == KP_EINVAL,
			"an infinite course vector, negative λ, or dims outside [1, 1026] is rejected");
	{
		float		out[8];
		int32_t		feats[1] = {100};
		float		vals[1] = {1.0f};

		unit_ok(kp_ridge_predict(W, 100, d, feats, vals, 1, out) == KP_EINVAL,
				"predicting with a feature outside W is rejected");
	}
	free_csr(&F);

	/* λ = 0 with two identical feature columns: singular */
	{
		kp_csr		G;
		int64_t		indptr[4] = {0, 2, 4, 6};
		int32_t		indices[6] = {0, 1, 0, 1, 1, 2};
		float		values[6] = {1, 1, 2, 2, 3, 1};
		float		v[3 * 2] = {1, 2, 3, 4, 5, 6};
		float		w[3 * 2];

		G.n_rows = 3;
		G.n_cols = 3;
		G.nnz = 6;
		G.indptr = indptr;
		G.indices = indices;
		G.values = values;
		values[4] = 3;
		indices[4] = 0;
		indices[5] = 1;
		values[5] = 3;
		unit_ok(kp_ridge_fit(&kp_malloc_allocator, &G, v, 2, 0.0f, w, NULL, NULL) == KP_ENUMERIC,
				"λ = 0 with collinear features: KP_ENUMERIC");
		unit_ok(kp_ridge_fit(&kp_malloc_allocator, &G, v, 2, 0.01f, w, NULL, NULL) == KP_OK,
				"and λ > 0 solves it");
	}

	/* past the limit: 20,001 courses, each with its own feature */
	{
		kp_csr		H;
		int32_t		n = KP_RIDGE_MAX_UNKNOWNS + 1;

		H.n_rows = n;
		H.n_cols = n;
		H.nnz = n;
		H.indptr = malloc(sizeof(int64_t) * (n + 1));
		H.indices = malloc(sizeof(int32_t) * n);
		H.values = malloc(sizeof(float) * n);
		for (i = 0; i <= n; i++)
			H.indptr[i] = i;
		for (i = 0; i < n; i++)
		{
			H.indices[i] = i;
			H.values[i] = 1.0f;
		}
		counting = (unit_counting) {0};
		alloc = unit_counting_allocator(&counting);
		unit_ok(kp_ridge_fit_bytes(&H, 4) == SIZE_MAX &&
				kp_ridge_fit(&alloc, &H, NULL, 0, 1.0f, NULL, NULL, NULL) == KP_EINVAL &&
				counting.live == 0,
				"20,001 unknowns: refused");
		free_csr(&H);
	}

	free(V);
	free(W);
}

int
main(void)
{
	test_recovery();
	test_against_reference();
	test_blocks();
	test_shrinkage_and_empty();
	test_failures();
	return unit_done();
}
