/*
 * foldin.c -- the implicit-ALS user step for one new user.
 *
 * Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback
 * Datasets", ICDM 2008, section 4: x = (YᵀY + λI + Yᵀ(C − I)Y)⁻¹ Yᵀ C p.
 * The system is assembled the way ials.c's Cholesky solver does it (rows of
 * Y scaled by sqrt(c − 1), added by a rank-k update), but in double: the
 * workspace is small (f ≤ 1026), the cost is dominated by O(n·f²) anyway,
 * and double keeps huge confidences from overflowing or swamping G.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "kp_foldin.h"

/* LAPACK's Cholesky factorisation (Debian ships no lapacke header). */
void		dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void		dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);

/*
 * Rows of Y scaled and added per rank-k update, and between calls to the
 * interrupt callback: 128·f² multiply-adds, about 10 ms at f = 1024.
 */
#define FOLDIN_BLOCK 128

size_t
kp_foldin_workspace_bytes(int32_t dims)
{
	size_t		f = (size_t) dims;

	if (dims < 1 || dims > KP_FOLDIN_MAX_DIMS)
		return SIZE_MAX;
	/* A (f×f), b (f), one block of scaled rows; f <= 1026 cannot overflow */
	return (f * f + f + (size_t) FOLDIN_BLOCK * f) * sizeof(double);
}

/* A (upper triangle, f×f) += blockᵀ·block for count rows of f doubles. */
static void
add_block(double *A, const double *block, int count, int f)
{
	if (count > 0)
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, f, count,
					1.0, block, f, 1.0, A, f);
}

/* A = YᵀY + λI (upper triangle) from the course vectors, block by block. */
static kp_status
form_gram(const float *Y, int32_t n_items, int f, double regularization,
		  double *A, double *block, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		start;
	int			j;

	memset(A, 0, (size_t) f * f * sizeof(double));
	for (start = 0; start < n_items; start += FOLDIN_BLOCK)
	{
		int			count = n_items - start < FOLDIN_BLOCK ? n_items - start : FOLDIN_BLOCK;
		size_t		k;

		if (interrupt && interrupt(interrupt_arg))
			return KP_ECANCELLED;
		for (k = 0; k < (size_t) count * f; k++)
			block[k] = Y[(size_t) start * f + k];
		add_block(A, block, count, f);
	}
	for (j = 0; j < f; j++)
		A[(size_t) j * f + j] += regularization;
	return KP_OK;
}

kp_status
kp_foldin(const float *item_vectors, int32_t n_items, int32_t dims,
		  const float *gram, const int32_t *items, const float *weights,
		  int32_t n, float alpha, float regularization, float *x,
		  void *workspace, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int			f = dims;
	double	   *A = workspace;
	double	   *b;
	double	   *block;
	double		mean_diagonal = 0.0;
	int32_t		active = 0;
	int32_t		i;
	int			count = 0;
	int			info = 0;
	int			j;
	kp_status	status;

	if (dims < 1 || dims > KP_FOLDIN_MAX_DIMS || n_items < 0 || n < 0 ||
		!isfinite(alpha) || alpha < 0.0f ||
		(gram == NULL && (!isfinite(regularization) || regularization < 0.0f)))
		return KP_EINVAL;
	for (i = 0; i < n; i++)
	{
		if (items[i] < 0 || items[i] >= n_items)
			return KP_EINVAL;
		if (weights && (!isfinite(weights[i]) || weights[i] < 0.0f))
			return KP_EINVAL;
		if (!weights || weights[i] > 0.0f)
			active++;
	}
	memset(x, 0, (size_t) f * sizeof(float));
	if (active == 0)
		return KP_OK;

	b = A + (size_t) f * f;
	block = b + f;

	/* A = G (both triangles are copied; only the upper one is used) */
	if (gram)
	{
		size_t		k;

		for (k = 0; k < (size_t) f * f; k++)
			A[k] = gram[k];
	}
	else
	{
		status = form_gram(item_vectors, n_items, f, regularization, A, block,
						   interrupt, interrupt_arg);
		if (status != KP_OK)
			return status;
	}
	for (j = 0; j < f; j++)
		mean_diagonal += A[(size_t) j * f + j];
	mean_diagonal /= f;

	/* A += Σ (c − 1)·y yᵀ, b = Σ c·y */
	memset(b, 0, (size_t) f * sizeof(double));
	for (i = 0; i < n; i++)
	{
		const float *y = item_vectors + (size_t) items[i] * f;
		double		w = weights ? (double) weights[i] : 1.0;
		double		norm2 = 0.0;
		double		c_minus_1;
		double		scale;
		double	   *row;

		if (w == 0.0)
			continue;
		for (j = 0; j < f; j++)
			norm2 += (double) y[j] * y[j];
		c_minus_1 = (double) alpha * w;
		if (norm2 > 0.0 &&
			c_minus_1 * norm2 > KP_FOLDIN_MAX_CONFIDENCE_RATIO * mean_diagonal)
			c_minus_1 = KP_FOLDIN_MAX_CONFIDENCE_RATIO * mean_diagonal / norm2;
		scale = sqrt(c_minus_1);
		row = block + (size_t) count * f;
		for (j = 0; j < f; j++)
		{
			b[j] += (1.0 + c_minus_1) * y[j];
			row[j] = scale * y[j];
		}
		if (++count == FOLDIN_BLOCK)
		{
			if (interrupt && interrupt(interrupt_arg))
				return KP_ECANCELLED;
			add_block(A, block, count, f);
			count = 0;
		}
	}
	add_block(A, block, count, f);
	if (interrupt && interrupt(interrupt_arg))
		return KP_ECANCELLED;

	/* row-major upper is column-major lower: A = UᵀU with U upper */
	dpotrf_("L", &f, A, &f, &info);
	if (info != 0)
		return KP_ENUMERIC;
	cblas_dtrsv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, f, A, f, b, 1);
	cblas_dtrsv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, f, A, f, b, 1);
	for (j = 0; j < f; j++)
	{
		float		value = (float) b[j];

		if (!isfinite(value))
		{
			memset(x, 0, (size_t) f * sizeof(float));
			return KP_ENUMERIC;
		}
		x[j] = value;
	}
	return KP_OK;
}

size_t
kp_foldin_inverse_workspace_bytes(int32_t dims)
{
	if (dims < 1 || dims > KP_FOLDIN_MAX_DIMS)
		return SIZE_MAX;
	return (size_t) dims * dims * sizeof(double);
}

kp_status
kp_foldin_gram_inverse(const float *gram, int32_t dims, double *inverse)
{
	int			f = dims;
	int			info = 0;
	int			i;
	int			j;
	size_t		k;

	if (dims < 1 || dims > KP_FOLDIN_MAX_DIMS)
		return KP_EINVAL;
	for (k = 0; k < (size_t) f * f; k++)
		inverse[k] = gram[k];
	dpotrf_("L", &f, inverse, &f, &info);
	if (info != 0)
		return KP_ENUMERIC;
	dpotri_("L", &f, inverse, &f, &info);
	if (info != 0)
		return KP_ENUMERIC;
	/* dpotri fills one triangle (the upper one in row-major terms): mirror it */
	for (i = 0; i < f; i++)
		for (j = 0; j < i; j++)
			inverse[(size_t) i * f + j] = inverse[(size_t) j * f + i];
	return KP_OK;
}

size_t
kp_foldin_lowrank_workspace_bytes(int32_t dims, int32_t n)
{
	if (dims < 1 || dims > KP_FOLDIN_MAX_DIMS || n < 0 || n > KP_FOLDIN_LOWRANK_MAX)
		return SIZE_MAX;
	/* U and W (n × f), S (n × n), b, z, t */
	return ((size_t) 2 * n * dims + (size_t) n * n + 2 * (size_t) dims + n + 1) * sizeof(double);
}

kp_status
kp_foldin_lowrank(const float *item_vectors, int32_t n_items, int32_t dims,
				  const float *gram, const double *gram_inverse,
				  const int32_t *items, const float *weights, int32_t n,
				  float alpha, float *x, void *workspace)
{
	int			f = dims;
	double	   *U = workspace;
	double	   *W;
	double	   *S;
	double	   *b;
	double	   *z;
	double	   *t;
	double		mean_diagonal = 0.0;
	int			m = 0;			/* columns of U: the courses of nonzero weight */
	int			info = 0;
	int32_t		i;
	int			j;

	if (dims < 1 || dims > KP_FOLDIN_MAX_DIMS || n_items < 0 || n < 0 ||
		n > KP_FOLDIN_LOWRANK_MAX || !isfinite(alpha) || alpha < 0.0f)
		return KP_EINVAL;
	for (i = 0; i < n; i++)
	{
		if (items[i] < 0 || items[i] >= n_items)
			return KP_EINVAL;
		if (weights && (!isfinite(weights[i]) || weights[i] < 0.0f))
			return KP_EINVAL;
	}
	W = U + (size_t) n * f;
	S = W + (size_t) n * f;
	b = S + (size_t) n * n;
	z = b + f;
	t = z + f;
	memset(x, 0, (size_t) f * sizeof(float));
	for (j = 0; j < f; j++)
		mean_diagonal += gram[(size_t) j * f + j];
	mean_diagonal /= f;

	/* b = Σ c·y and the rows u_i = √(c − 1)·y, capped as kp_foldin caps */
	memset(b, 0, (size_t) f * sizeof(double));
	for (i = 0; i < n; i++)
	{
		const float *y = item_vectors + (size_t) items[i] * f;
		double		w = weights ? (double) weights[i] : 1.0;
		double		norm2 = 0.0;
		double		c_minus_1;
		double		scale;

		if (w == 0.0)
			continue;
		for (j = 0; j < f; j++)
			norm2 += (double) y[j] * y[j];
		c_minus_1 = (double) alpha * w;
		if (norm2 > 0.0 &&
			c_minus_1 * norm2 > KP_FOLDIN_MAX_CONFIDENCE_RATIO * mean_diagonal)
			c_minus_1 = KP_FOLDIN_MAX_CONFIDENCE_RATIO * mean_diagonal / norm2;
		scale = sqrt(c_minus_1);
		for (j = 0; j < f; j++)
		{
			b[j] += (1.0 + c_minus_1) * y[j];
			U[(size_t) m * f + j] = scale * y[j];
		}
		m++;
	}
	if (m == 0)
		return KP_OK;

	/* z = P b, W = U P (rows), S = I + U Pᵀ Uᵀ = I + W Uᵀ */
	cblas_dsymv(CblasRowMajor, CblasUpper, f, 1.0, gram_inverse, f, b, 1, 0.0, z, 1);
	cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, m, f, 1.0, gram_inverse, f, U, f, 0.0, W, f);
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, f, 1.0, W, f, U, f, 0.0, S, m);
	for (j = 0; j < m; j++)
		S[(size_t) j * m + j] += 1.0;
	/* t = S⁻¹ (U z) */
	cblas_dgemv(CblasRowMajor, CblasNoTrans, m, f, 1.0, U, f, z, 1, 0.0, t, 1);
	dpotrf_("L", &m, S, &m, &info);
	if (info != 0)
		return KP_ENUMERIC;
	cblas_dtrsv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, m, S, m, t, 1);
	cblas_dtrsv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, m, S, m, t, 1);
	/* x = z − Wᵀ t */
	cblas_dgemv(CblasRowMajor, CblasTrans, m, f, -1.0, W, f, t, 1, 1.0, z, 1);
	for (j = 0; j < f; j++)
	{
		float		value = (float) z[j];

		if (!isfinite(value))
		{
			memset(x, 0, (size_t) f * sizeof(float));
			return KP_ENUMERIC;
		}
		x[j] = value;
	}
	return KP_OK;
}
