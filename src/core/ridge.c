/*
 * ridge.c -- ridge regression from sparse features to course vectors; see
 * kp_ridge.h.
 *
 * Hoerl & Kennard, "Ridge Regression: Biased Estimation for Nonorthogonal
 * Problems", Technometrics 12(1), 1970; as an attribute-to-factor mapping
 * for cold start, Gantner et al., ICDM 2010.
 *
 * The m × m system K = FᵀF + λI (primal) or FFᵀ + λI (dual) is accumulated
 * in double from sparse outer products, one row of F (primal) or of Fᵀ
 * (dual) at a time, into the lower triangle of a row-major array.  It is
 * factored K = L·Lᵀ by the right-looking blocked algorithm (Golub & Van
 * Loan, "Matrix Computations", 4th ed., 2013, section 4.2.9): LAPACK's
 * dpotrf on each NB × NB diagonal block, dtrsm for the panel below it, and
 * the trailing update by dgemm/dsyrk one block row at a time, so that the
 * interrupt callback is asked every few hundred milliseconds at most even
 * for m = 20,000.  The triangular solves go by block rows the same way.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "kp_ridge.h"

/* LAPACK's Cholesky factorisation (Debian ships no lapacke header). */
void		dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);

/* Block size of the factorisation; block rows of the solves. */
#define NB 256
#define SOLVE_ROWS 128
/* Rows of a panel solved between interrupt checks. */
#define PANEL_ROWS 4096
/*
 * Multiply-adds between interrupt checks in the sparse loops: they land
 * scattered over K, mostly cache misses, so this is a few milliseconds.
 */
#define INTERRUPT_WORK (1 << 18)

typedef struct ticker
{
	kp_interrupt_fn interrupt;
	void	   *interrupt_arg;
	int64_t		work;
} ticker;

/* Adds work; asks the callback once per INTERRUPT_WORK units. */
static inline int
ticker_cancelled(ticker *t, int64_t work)
{
	t->work += work;
	if (t->work < INTERRUPT_WORK)
		return 0;
	t->work = 0;
	return t->interrupt != NULL && t->interrupt(t->interrupt_arg);
}

static inline int
asked_to_stop(ticker *t)
{
	return t->interrupt != NULL && t->interrupt(t->interrupt_arg);
}

/*
 * Checks F's structure and values and counts active courses and nonzero
 * entries; when feature_map (n_cols) is given, sets it to 1 for active
 * features and 0 for others and counts them.  Returns 0 if malformed.
 */
static int
scan_features(const kp_csr *F, int32_t *feature_map, int32_t *n_active_features,
			  int32_t *n_active_courses, int64_t *n_entries)
{
	int32_t		r;
	int32_t		features = 0;
	int32_t		courses = 0;
	int64_t		entries = 0;

	if (F->n_rows < 0 || F->n_cols < 0 || F->indptr == NULL || F->indptr[0] != 0)
		return 0;
	if (feature_map)
		memset(feature_map, 0, (size_t) F->n_cols * sizeof(int32_t));
	for (r = 0; r < F->n_rows; r++)
	{
		int64_t		e;
		int			active = 0;

		if (F->indptr[r + 1] < F->indptr[r])
			return 0;
		for (e = F->indptr[r]; e < F->indptr[r + 1]; e++)
		{
			int32_t		c = F->indices[e];

			if (c < 0 || c >= F->n_cols || (e > F->indptr[r] && c <= F->indices[e - 1]) ||
				!isfinite(F->values[e]))
				return 0;
			if (F->values[e] != 0.0f)
			{
				active = 1;
				entries++;
				if (feature_map && !feature_map[c])
				{
					feature_map[c] = 1;
					features++;
				}
			}
		}
		courses += active;
	}
	*n_active_courses = courses;
	*n_entries = entries;
	if (feature_map)
		*n_active_features = features;
	return 1;
}

/* Bytes for m unknowns: K, the right-hand sides, maps, and Fᵀ for the dual. */
static size_t
plan_bytes(const kp_csr *F, int32_t m, int dual, int64_t entries, int32_t dims)
{
	size_t		K;
	size_t		B;
	size_t		total;

	if (!kp_mul_size((size_t) m * m, sizeof(double), &K) ||
		!kp_mul_size((size_t) m * dims, sizeof(double), &B))
		return SIZE_MAX;
	total = K + B + (size_t) F->n_cols * sizeof(int32_t);	/* feature map */
	if (dual)
		total += (size_t) F->n_rows * sizeof(int32_t) +	/* course map */
			((size_t) F->n_cols + 1) * sizeof(int64_t) +	/* Fᵀ */
			(size_t) entries * (sizeof(int32_t) + sizeof(float));
	return total;
}

size_t
kp_ridge_fit_bytes(const kp_csr *features, int32_t dims)
{
	int32_t		courses;
	int64_t		entries;
	int32_t		m;

	if (dims < 1 || dims > KP_RIDGE_MAX_DIMS ||
		!scan_features(features, NULL, NULL, &courses, &entries))
		return SIZE_MAX;
	/* without counting distinct features: m <= min(n_cols, active courses) */
	m = features->n_cols < courses ? features->n_cols : courses;
	if (m > KP_RIDGE_MAX_UNKNOWNS)
		return SIZE_MAX;
	return plan_bytes(features, m, 1, entries, dims);
}

/*
 * K (lower triangle, m × m row-major) += Σ over rows of the outer product
 * of the row's nonzero entries; entry indices are mapped through map and
 * must come out ascending within a row.
 */
static kp_status
add_outer_products(double *K, int32_t m, int32_t n_rows, const int64_t *indptr,
				   const int32_t *indices, const float *values, const int32_t *map,
				   ticker *t)
{
	int32_t		r;

	for (r = 0; r < n_rows; r++)
	{
		int64_t		begin = indptr[r];
		int64_t		end = indptr[r + 1];
		int64_t		a;

		for (a = begin; a < end; a++)
		{
			double		va = values[a];
			double	   *row;
			int64_t		b;

			if (va == 0.0)
				continue;
			row = K + (size_t) (map ? map[indices[a]] : indices[a]) * m;
			for (b = begin; b <= a; b++)
				if (values[b] != 0.0f)
					row[map ? map[indices[b]] : indices[b]] += va * values[b];
			if (ticker_cancelled(t, a - begin + 1))
				return KP_ECANCELLED;
		}
	}
	return KP_OK;
}

/* K = L·Lᵀ in place (lower triangle, row-major, n × n). */
static kp_status
cholesky(double *K, int n, ticker *t)
{
	int			kb;

	for (kb = 0; kb < n; kb += NB)
	{
		int			nk = n - kb < NB ? n - kb : NB;
		double	   *diagonal = K + (size_t) kb * n + kb;
		int			info = 0;
		int			rb;

		if (asked_to_stop(t))
			return KP_ECANCELLED;
		/* a row-major lower block is a column-major upper one */
		dpotrf_("U", &nk, diagonal, &n, &info);
		if (info != 0)
			return KP_ENUMERIC;

		/* panel below: P = A·L_kk⁻ᵀ */
		for (rb = kb + nk; rb < n; rb += PANEL_ROWS)
		{
			int			rows = n - rb < PANEL_ROWS ? n - rb : PANEL_ROWS;

			if (asked_to_stop(t))
				return KP_ECANCELLED;
			cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
						rows, nk, 1.0, diagonal, n, K + (size_t) rb * n + kb, n);
		}

		/* trailing lower triangle −= P·Pᵀ, one block row at a time */
		for (rb = kb + nk; rb < n; rb += NB)
		{
			int			rows = n - rb < NB ? n - rb : NB;
			const double *panel_rows = K + (size_t) rb * n + kb;
			int			left = rb - (kb + nk);

			if (asked_to_stop(t))
				return KP_ECANCELLED;
			if (left > 0)
				cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, left, nk,
							-1.0, panel_rows, n, K + (size_t) (kb + nk) * n + kb, n,
							1.0, K + (size_t) rb * n + kb + nk, n);
			cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, rows, nk,
						-1.0, panel_rows, n, 1.0, K + (size_t) rb * n + rb, n);
		}
	}
	return KP_OK;
}

/* B (n × d) ← (L·Lᵀ)⁻¹·B, by block rows. */
static kp_status
cholesky_solve(const double *L, int n, double *B, int d, ticker *t)
{
	int			rb;

	/* L·Y = B */
	for (rb = 0; rb < n; rb += SOLVE_ROWS)
	{
		int			rows = n - rb < SOLVE_ROWS ? n - rb : SOLVE_ROWS;

		if (asked_to_stop(t))
			return KP_ECANCELLED;
		if (rb > 0)
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, rb,
						-1.0, L + (size_t) rb * n, n, B, d, 1.0, B + (size_t) rb * d, d);
		cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
					rows, d, 1.0, L + (size_t) rb * n + rb, n, B + (size_t) rb * d, d);
	}
	/* Lᵀ·X = Y, from the last block row up */
	for (rb = (n - 1) / SOLVE_ROWS * SOLVE_ROWS; rb >= 0; rb -= SOLVE_ROWS)
	{
		int			rows = n - rb < SOLVE_ROWS ? n - rb : SOLVE_ROWS;
		int			below = n - (rb + rows);

		if (asked_to_stop(t))
			return KP_ECANCELLED;
		if (below > 0)
			cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, d, below,
						-1.0, L + (size_t) (rb + rows) * n + rb, n,
						B + (size_t) (rb + rows) * d, d, 1.0, B + (size_t) rb * d, d);
		cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit,
					rows, d, 1.0, L + (size_t) rb * n + rb, n, B + (size_t) rb * d, d);
	}
	return KP_OK;
}

static int
all_finite(const float *values, size_t n)
{
	size_t		k;

	for (k = 0; k < n; k++)
		if (!isfinite(values[k]))
			return 0;
	return 1;
}

kp_status
kp_ridge_fit(const kp_allocator *alloc, const kp_csr *features,
			 const float *course_vectors, int32_t dims, float regularization,
			 float *W, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	const kp_csr *F = features;
	int32_t		n_courses = F->n_rows;
	int32_t		n_features = F->n_cols;
	int32_t		n_active_features = 0;
	int32_t		n_active_courses = 0;
	int64_t		entries = 0;
	int32_t    *feature_map = NULL;
	int32_t    *course_map = NULL;
	int64_t    *t_indptr = NULL;
	int32_t    *t_indices = NULL;
	float	   *t_values = NULL;
	double	   *K = NULL;
	double	   *B = NULL;
	ticker		t = {interrupt, interrupt_arg, 0};
	kp_status	status = KP_OK;
	size_t		vector_values;
	int			dual;
	int32_t		m;
	int32_t		r;
	int32_t		j;

	if (dims < 1 || dims > KP_RIDGE_MAX_DIMS || !isfinite(regularization) ||
		regularization < 0.0f || n_courses < 0 || n_features < 0 ||
		!kp_mul_size((size_t) n_courses, (size_t) dims, &vector_values) ||
		!all_finite(course_vectors, vector_values))
		return KP_EINVAL;

	feature_map = kp_alloc(alloc, (size_t) n_features * sizeof(int32_t));
	if (!feature_map)
		return KP_ENOMEM;
	if (!scan_features(F, feature_map, &n_active_features, &n_active_courses, &entries))
	{
		kp_free(alloc, feature_map);
		return KP_EINVAL;
	}
	dual = n_active_courses < n_active_features;
	m = dual ? n_active_courses : n_active_features;
	if (m > KP_RIDGE_MAX_UNKNOWNS)
	{
		kp_free(alloc, feature_map);
		return KP_EINVAL;
	}
	memset(W, 0, (size_t) n_features * dims * sizeof(float));
	if (m == 0)
	{
		kp_free(alloc, feature_map);
		return KP_OK;
	}
	/* active features get ascending indices 0 .. n_active_features − 1 */
	for (j = 0, r = 0; j < n_features; j++)
		feature_map[j] = feature_map[j] ? r++ : -1;

	K = kp_alloc(alloc, (size_t) m * m * sizeof(double));
	B = kp_alloc(alloc, (size_t) m * dims * sizeof(double));
	if (dual)
	{
		course_map = kp_alloc(alloc, (size_t) n_courses * sizeof(int32_t));
		t_indptr = kp_alloc(alloc, ((size_t) n_features + 1) * sizeof(int64_t));
		t_indices = kp_alloc(alloc, (size_t) entries * sizeof(int32_t));
		t_values = kp_alloc(alloc, (size_t) entries * sizeof(float));
	}
	if (!K || !B || (dual && (!course_map || !t_indptr || !t_indices || !t_values)))
	{
		status = KP_ENOMEM;
		goto done;
	}
	memset(B, 0, (size_t) m * dims * sizeof(double));

	if (!dual)
	{
		/* K = FᵀF + λI over active features; B = FᵀV */
		int64_t		e;

		for (r = 0; r < m; r++)
		{
			if (r % 1024 == 0 && asked_to_stop(&t))
			{
				status = KP_ECANCELLED;
				goto done;
			}
			memset(K + (size_t) r * m, 0, (size_t) m * sizeof(double));
		}
		status = add_outer_products(K, m, n_courses, F->indptr, F->indices, F->values,
									feature_map, &t);
		if (status != KP_OK)
			goto done;
		for (r = 0; r < n_courses; r++)
		{
			const float *v = course_vectors + (size_t) r * dims;

			for (e = F->indptr[r]; e < F->indptr[r + 1]; e++)
			{
				double		value = F->values[e];
				double	   *b = B + (size_t) feature_map[F->indices[e]] * dims;

				if (value == 0.0)
					continue;
				for (j = 0; j < dims; j++)
					b[j] += value * v[j];
			}
			if (ticker_cancelled(&t, (F->indptr[r + 1] - F->indptr[r]) * (int64_t) dims))
			{
				status = KP_ECANCELLED;
				goto done;
			}
		}
	}
	else
	{
		/* Fᵀ over active courses (columns ascending); K = FFᵀ + λI; B = V */
		int64_t		e;

		memset(t_indptr, 0, ((size_t) n_features + 1) * sizeof(int64_t));
		for (r = 0, j = 0; r < n_courses; r++)
		{
			int			active = 0;

			for (e = F->indptr[r]; e < F->indptr[r + 1]; e++)
			{
				if (F->values[e] != 0.0f)
				{
					t_indptr[F->indices[e] + 1]++;
					active = 1;
				}
			}
			course_map[r] = active ? j++ : -1;
		}
		for (j = 0; j < n_features; j++)
			t_indptr[j + 1] += t_indptr[j];
		for (r = 0; r < n_courses; r++)
		{
			for (e = F->indptr[r]; e < F->indptr[r + 1]; e++)
			{
				if (F->values[e] != 0.0f)
				{
					/* t_indptr[c] runs ahead while filling, and is restored below */
					int64_t		at = t_indptr[F->indices[e]]++;

					t_indices[at] = course_map[r];
					t_values[at] = F->values[e];
				}
			}
		}
		for (j = n_features; j > 0; j--)
			t_indptr[j] = t_indptr[j - 1];
		t_indptr[0] = 0;

		for (r = 0; r < m; r++)
		{
			if (r % 1024 == 0 && asked_to_stop(&t))
			{
				status = KP_ECANCELLED;
				goto done;
			}
			memset(K + (size_t) r * m, 0, (size_t) m * sizeof(double));
		}
		status = add_outer_products(K, m, n_features, t_indptr, t_indices, t_values, NULL, &t);
		if (status != KP_OK)
			goto done;
		for (r = 0; r < n_courses; r++)
		{
			if (course_map[r] >= 0)
				for (j = 0; j < dims; j++)
					B[(size_t) course_map[r] * dims + j] = course_vectors[(size_t) r * dims + j];
		}
	}
	for (r = 0; r < m; r++)
		K[(size_t) r * m + r] += regularization;

	status = cholesky(K, m, &t);
	if (status == KP_OK)
		status = cholesky_solve(K, m, B, dims, &t);
	if (status != KP_OK)
		goto done;

	if (!dual)
	{
		for (j = 0; j < n_features; j++)
		{
			int32_t		d;

			if (feature_map[j] < 0)
				continue;
			for (d = 0; d < dims; d++)
				W[(size_t) j * dims + d] = (float) B[(size_t) feature_map[j] * dims + d];
		}
	}
	else
	{
		/* W = Fᵀ·X, each feature's row summed in double */
		double		sum[KP_RIDGE_MAX_DIMS];

		for (j = 0; j < n_features; j++)
		{
			int64_t		e;
			int32_t		d;

			memset(sum, 0, (size_t) dims * sizeof(double));
			for (e = t_indptr[j]; e < t_indptr[j + 1]; e++)
			{
				const double *x = B + (size_t) t_indices[e] * dims;
				double		value = t_values[e];

				for (d = 0; d < dims; d++)
					sum[d] += value * x[d];
			}
			for (d = 0; d < dims; d++)
				W[(size_t) j * dims + d] = (float) sum[d];
			if (ticker_cancelled(&t, (t_indptr[j + 1] - t_indptr[j]) * (int64_t) dims))
			{
				status = KP_ECANCELLED;
				goto done;
			}
		}
	}
	if (!all_finite(W, (size_t) n_features * dims))
	{
		memset(W, 0, (size_t) n_features * dims * sizeof(float));
		status = KP_ENUMERIC;
	}

done:
	kp_free(alloc, feature_map);
	kp_free(alloc, course_map);
	kp_free(alloc, t_indptr);
	kp_free(alloc, t_indices);
	kp_free(alloc, t_values);
	kp_free(alloc, K);
	kp_free(alloc, B);
	return status;
}

kp_status
kp_ridge_predict(const float *W, int32_t n_features, int32_t dims,
				 const int32_t *features, const float *values, int32_t n, float *out)
{
	double		sum[KP_RIDGE_MAX_DIMS];
	int32_t		i;
	int32_t		d;

	if (dims < 1 || dims > KP_RIDGE_MAX_DIMS || n < 0)
		return KP_EINVAL;
	for (i = 0; i < n; i++)
		if (features[i] < 0 || features[i] >= n_features || !isfinite(values[i]))
			return KP_EINVAL;
	memset(sum, 0, (size_t) dims * sizeof(double));
	for (i = 0; i < n; i++)
	{
		const float *w = W + (size_t) features[i] * dims;

		for (d = 0; d < dims; d++)
			sum[d] += (double) values[i] * w[d];
	}
	for (d = 0; d < dims; d++)
		out[d] = (float) sum[d];
	return KP_OK;
}
