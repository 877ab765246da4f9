/*
 * ease.c -- EASE item-item weights (Steck, WWW 2019); see kp_ease.h.
 *
 * Training is three steps over one n×n matrix of doubles A, stored
 * column-major with only its lower triangle meaningful (the upper one stays
 * zero):
 *
 * 1. Gram matrix.  XᵀX is accumulated pairwise from each user's items:
 *    Σ_u m_u(m_u+1)/2 multiply-adds for users with m_u items, instead of
 *    n² per user for a dense product.  The input holds X transposed (one
 *    row per item), so users are gathered a block at a time into a small
 *    user-major buffer of fixed capacity, through one cursor per item;
 *    memory stays independent of the number of users and interactions.
 *    See accumulate_gram for the order of the additions.
 *
 * 2. Cholesky factorisation A = LLᵀ, right-looking and blocked: panels of
 *    PANEL columns, each factored by LAPACK's dpotrf on its diagonal block
 *    and dtrsm below it, then the trailing matrix updated column block by
 *    column block (dsyrk on the diagonal, dgemm below).
 *
 * 3. Inverse.  W = L⁻¹ is formed a block column at a time by forward
 *    substitution on the columns of the identity (dgemm plus dtrsm on row
 *    blocks), in a panel buffer, and copied over the columns of L it no
 *    longer needs.  P = WᵀW is then formed in PANEL×PANEL tiles by dgemm,
 *    each tile turned straight into B's entries −P[i][j]/P[j][j]: P itself
 *    is never stored.
 *
 * LAPACK's dpotrf + dpotri on n = 10,000 take 20 s of CPU on the
 * development VM in two calls that cannot be interrupted; here every BLAS
 * call is at most about PANEL²·n multiply-adds (~25 ms on one core at
 * n = 10,000) and the interrupt callback runs between them.  The work is
 * the same n³/2 multiply-adds as LAPACK's; it took 25% more CPU (25 s),
 * whatever the block sizes tried (256 to 1024), OpenBLAS's own potrf,
 * trtri and lauum driving its kernels more directly.  Everything runs in a
 * fixed order, so the result is bit-for-bit the same for a given BLAS
 * thread count.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "kp_ease.h"

/* LAPACK's Cholesky factorisation (Debian ships no lapacke header). */
void		dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);

/*
 * Columns per panel of the factorisation and the inverse, rows per block
 * of the substitution, and the side of P's tiles.  256 keeps BLAS at full
 * speed while each call stays ~25 ms at n = 10,000 on one core.
 */
#define PANEL 256

/* Users gathered per block for the Gram matrix. */
#define USER_BLOCK 4096

/*
 * Interactions the gather buffer holds (at least n_items, so one user
 * always fits): 2 MB.
 */
#define GATHER_ENTRIES (1 << 18)

/* Multiply-adds of the Gram matrix between calls to the interrupt callback. */
#define GRAM_WORK_PER_CHECK ((int64_t) 1 << 22)

#define CHECK_INTERRUPT() \
	do { \
		if (interrupt && interrupt(interrupt_arg)) \
			return KP_ECANCELLED; \
	} while (0)

static int
min_int(int a, int b)
{
	return a < b ? a : b;
}

void
kp_ease_default_params(kp_ease_params *params)
{
	params->lambda = 0.0f;
}

const char *
kp_ease_check_params(const kp_ease_params *params)
{
	if (!isfinite(params->lambda) || params->lambda < 0.0f)
		return "regularization must be a finite number >= 0 (0 chooses it from the data)";
	return NULL;
}

float
kp_ease_auto_lambda(const kp_csr *item_users)
{
	double		sum_squares = 0.0;
	double		lambda = 0.0;
	int64_t		k;

	for (k = 0; k < item_users->nnz; k++)
		sum_squares += (double) item_users->values[k] * item_users->values[k];
	if (item_users->n_rows > 0 && item_users->nnz > 0)
	{
		double		per_item = (double) item_users->nnz / item_users->n_rows;
		double		mean_square = sum_squares / (double) item_users->nnz;

		lambda = KP_EASE_AUTO_LAMBDA_SCALE * sqrt(per_item) * mean_square;
	}
	if (!((float) lambda > 0.0f))
		lambda = KP_EASE_AUTO_LAMBDA_FALLBACK;
	if (!isfinite((float) lambda))
		lambda = FLT_MAX;
	return (float) lambda;
}

/*
 * Capacity of the gather buffer: GATHER_ENTRIES, or fewer when there are
 * fewer interactions, but never less than one user's n_items.
 */
static size_t
gather_entries(int32_t n_items, int64_t nnz)
{
	size_t		entries = nnz < GATHER_ENTRIES ? (size_t) nnz : GATHER_ENTRIES;

	return entries > (size_t) n_items ? entries : (size_t) n_items;
}

/*
 * Workspace beyond A, in doubles: panel, scale, cursors, user starts and
 * positions, and the gathered entries (an int32 and a float each).
 */
static size_t
workspace_doubles(int32_t n_items, size_t entries)
{
	size_t		n = (size_t) n_items;

	/* n <= KP_EASE_MAX_ITEMS: nothing here can overflow */
	return n * PANEL + n + n + 2 * (USER_BLOCK + 1) + entries;
}

size_t
kp_ease_train_bytes(int32_t n_items)
{
	size_t		cells;
	size_t		doubles;
	size_t		bytes;

	if (n_items < 0 || n_items > KP_EASE_MAX_ITEMS ||
		!kp_mul_size((size_t) n_items, (size_t) n_items, &cells))
		return 0;
	doubles = cells + workspace_doubles(n_items, gather_entries(n_items, INT64_MAX));
	if (doubles < cells || !kp_mul_size(doubles, sizeof(double), &bytes))
		return 0;
	return bytes;
}

/*
 * Lower triangle of A (n×n, column-major, zeroed by the caller) += XᵀX.
 * cursor: n; start, position: USER_BLOCK + 1 each; items/weights:
 * capacity entries each.
 *
 * Users are taken a block at a time.  The block's entries are gathered
 * user by user (each user's items ascending), then added item by item: for
 * item i and each of its users u in the block, column i of A gains
 * w_ui·w_uj at row j for every item j >= i of u.  All writes for one item
 * go to one column (80 KB at n = 10,000, which stays in cache), and u's
 * items from i onwards start at a per-user position that advances by one
 * each time u comes up, since items are visited in increasing order.  This
 * measured 1.5 times faster (CPU time) than adding each user's pairs in
 * turn, whose writes spread over as many columns as the user has items.
 */
static kp_status
accumulate_gram(const kp_csr *item_users, double *A, int64_t *cursor,
				int64_t *start, int64_t *position, int32_t *items, float *weights,
				int64_t capacity, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		n = item_users->n_rows;
	int32_t		n_users = item_users->n_cols;
	const int64_t *indptr = item_users->indptr;
	const int32_t *indices = item_users->indices;
	const float *values = item_users->values;
	int64_t		work = 0;
	int32_t		first = 0;
	int32_t		i;

	for (i = 0; i < n; i++)
		cursor[i] = indptr[i];

	while (first < n_users)
	{
		int32_t		width = n_users - first < USER_BLOCK ? n_users - first : USER_BLOCK;
		int32_t		limit = first + width;
		int64_t		total = 0;
		int32_t		u;

		CHECK_INTERRUPT();

		/* count each user's items in [first, limit) */
		memset(start, 0, (size_t) (width + 1) * sizeof(int64_t));
		for (i = 0; i < n; i++)
		{
			int64_t		k;

			for (k = cursor[i]; k < indptr[i + 1] && indices[k] < limit; k++)
				start[indices[k] - first + 1]++;
		}
		/* keep the users whose items fit; one always does (capacity >= n) */
		for (u = 0; u < width; u++)
		{
			if (total + start[u + 1] > capacity)
			{
				width = u;
				break;
			}
			total += start[u + 1];
			start[u + 1] = total;
		}
		limit = first + width;

		/* gather each user's items, in increasing order */
		for (u = 0; u < width; u++)
			position[u] = start[u];
		for (i = 0; i < n; i++)
		{
			int64_t		k;

			for (k = cursor[i]; k < indptr[i + 1] && indices[k] < limit; k++)
			{
				int64_t		at = position[indices[k] - first]++;

				items[at] = i;
				weights[at] = values[k];
			}
		}

		/* add the block, one column of A (one item) at a time */
		for (u = 0; u < width; u++)
			position[u] = start[u];
		for (i = 0; i < n; i++)
		{
			double	   *column = A + (size_t) i * n;
			int64_t		k;

			for (k = cursor[i]; k < indptr[i + 1] && indices[k] < limit; k++)
			{
				int32_t		user = indices[k] - first;
				int64_t		at = position[user]++;	/* items[at] == i */
				int64_t		end = start[user + 1];
				double		wi = weights[at];
				int64_t		b;

				for (b = at; b < end; b++)
					column[items[b]] += wi * weights[b];
				work += end - at + 1;
			}
			cursor[i] = k;
			if (work >= GRAM_WORK_PER_CHECK)
			{
				work = 0;
				CHECK_INTERRUPT();
			}
		}
		first = limit;
	}
	return KP_OK;
}

/* A = LLᵀ in place (lower triangle, column-major), blocked right-looking. */
static kp_status
cholesky(double *A, int n, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int			k;

	for (k = 0; k < n; k += PANEL)
	{
		int			kb = min_int(PANEL, n - k);
		int			below = n - k - kb;
		int			info = 0;
		int			j;

		CHECK_INTERRUPT();
		dpotrf_("L", &kb, A + k + (size_t) k * n, &n, &info);
		if (info != 0)
			return KP_ENUMERIC;
		if (below == 0)
			break;
		/* the panel below the diagonal block: A21 ← A21·L11⁻ᵀ */
		cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
					below, kb, 1.0, A + k + (size_t) k * n, n,
					A + (k + kb) + (size_t) k * n, n);
		/* trailing matrix A22 ← A22 − A21·A21ᵀ, one column block at a time */
		for (j = k + kb; j < n; j += PANEL)
		{
			int			jb = min_int(PANEL, n - j);
			int			rest = n - j - jb;

			CHECK_INTERRUPT();
			cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, jb, kb,
						-1.0, A + j + (size_t) k * n, n,
						1.0, A + j + (size_t) j * n, n);
			if (rest > 0)
				cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, rest, jb, kb,
							-1.0, A + (j + jb) + (size_t) k * n, n,
							A + j + (size_t) k * n, n,
							1.0, A + (j + jb) + (size_t) j * n, n);
		}
	}
	return KP_OK;
}

/*
 * L (lower triangle of A) ← W = L⁻¹.  Block column [j, j + jb) of W is
 * zero above row j and below it solves L[j:, j:]·X = the identity's
 * columns, by forward substitution over row blocks of the panel X
 * ((n − j) × jb).  Later block columns use only L[j + jb:, j + jb:], so X
 * then replaces L's block column.  The diagonal block's upper triangle
 * receives X's zeros, which keeps W's upper triangle zero.
 */
static kp_status
invert_lower(double *A, int n, double *X,
			 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int			j;

	for (j = 0; j < n; j += PANEL)
	{
		int			jb = min_int(PANEL, n - j);
		int			m = n - j;
		int			r;
		int			c;

		/* rows [j, j + jb): X = L[j:j+jb, j:j+jb]⁻¹ */
		CHECK_INTERRUPT();
		memset(X, 0, (size_t) m * jb * sizeof(double));
		for (c = 0; c < jb; c++)
			X[c + (size_t) c * m] = 1.0;
		cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
					jb, jb, 1.0, A + j + (size_t) j * n, n, X, m);

		/* rows [r, r + rb): X_r = −L[r,r]⁻¹ · L[r, j:r] · X[j:r] */
		for (r = j + jb; r < n; r += PANEL)
		{
			int			rb = min_int(PANEL, n - r);

			CHECK_INTERRUPT();
			cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, rb, jb, r - j,
						-1.0, A + r + (size_t) j * n, n, X, m,
						0.0, X + (r - j), m);
			cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
						rb, jb, 1.0, A + r + (size_t) r * n, n, X + (r - j), m);
		}
		for (c = 0; c < jb; c++)
			memcpy(A + j + (size_t) (j + c) * n, X + (size_t) c * m,
				   (size_t) m * sizeof(double));
	}
	return KP_OK;
}

/*
 * B[i·n + j] = −P[i][j] / P[j][j] (diagonal 0), with P = WᵀW and W lower
 * triangular in A.  scale: n doubles, tile: PANEL² doubles.
 */
static kp_status
weights_from_inverse(const double *A, int n, float *B, double *scale, double *tile,
					 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int			finite = 1;
	int			i0;
	int			j0;
	int			i;

	/* scale[i] = −1 / P[i][i], where P[i][i] = Σ_{k >= i} W[k][i]² */
	for (i = 0; i < n; i++)
	{
		const double *column = A + (size_t) i * n;
		double		sum = 0.0;
		int			k;

		for (k = i; k < n; k++)
			sum += column[k] * column[k];
		if (!(sum > 0.0) || !isfinite(sum))
			return KP_ENUMERIC;
		scale[i] = -1.0 / sum;
	}

	for (j0 = 0; j0 < n; j0 += PANEL)
	{
		int			jb = min_int(PANEL, n - j0);

		for (i0 = 0; i0 <= j0; i0 += PANEL)
		{
			int			ib = min_int(PANEL, n - i0);
			int			diagonal = i0 == j0;
			int			a;
			int			b;

			/*
			 * The tile P[i0 : i0+ib, j0 : j0+jb] = W[j0:, i0:]ᵀ·W[j0:, j0:]:
			 * W's columns j0 and beyond are zero above row j0.
			 */
			CHECK_INTERRUPT();
			cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, ib, jb, n - j0,
						1.0, A + j0 + (size_t) i0 * n, n, A + j0 + (size_t) j0 * n, n,
						0.0, tile, ib);

			/*
			 * Only pairs i < j (in the diagonal tile a < b), so that B[i][j]
			 * and B[j][i] come from the same value of P.
			 */
			for (b = 0; b < jb; b++)
			{
				const double *p = tile + (size_t) b * ib;
				float	   *row_j = B + (size_t) (j0 + b) * n + i0;
				int			a_end = diagonal ? b : ib;

				for (a = 0; a < a_end; a++)
				{
					row_j[a] = (float) (p[a] * scale[i0 + a]);
					finite &= isfinite(row_j[a]);
				}
			}
			for (a = 0; a < ib; a++)
			{
				float	   *row_i = B + (size_t) (i0 + a) * n + j0;

				for (b = diagonal ? a + 1 : 0; b < jb; b++)
				{
					row_i[b] = (float) (tile[a + (size_t) b * ib] * scale[j0 + b]);
					finite &= isfinite(row_i[b]);
				}
			}
		}
	}
	for (i = 0; i < n; i++)
		B[(size_t) i * n + i] = 0.0f;
	return finite ? KP_OK : KP_ENUMERIC;
}

kp_status
kp_ease_train(const kp_allocator *alloc, const kp_csr *item_users,
			  const kp_ease_params *params, float *B, float *lambda_used,
			  kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		n = item_users->n_rows;
	size_t		cells;
	size_t		entries;
	double	   *A;
	double	   *workspace;
	double	   *panel;
	double	   *scale;
	int64_t    *cursor;
	int64_t    *start;
	int64_t    *position;
	int32_t    *gathered_items;
	float	   *gathered_weights;
	double		lambda;
	kp_status	status;
	int32_t		i;

	if (kp_ease_check_params(params) != NULL ||
		n < 0 || n > KP_EASE_MAX_ITEMS || item_users->n_cols < 0 ||
		kp_ease_train_bytes(n) == 0)
		return KP_EINVAL;

	lambda = params->lambda > 0.0f ? params->lambda : kp_ease_auto_lambda(item_users);
	if (lambda_used)
		*lambda_used = (float) lambda;
	if (n == 0)
		return KP_OK;

	/* kp_ease_train_bytes checked that none of these sizes overflows */
	cells = (size_t) n * n;
	entries = gather_entries(n, item_users->nnz);
	A = kp_alloc(alloc, cells * sizeof(double));
	workspace = kp_alloc(alloc, workspace_doubles(n, entries) * sizeof(double));
	if (!A || !workspace)
	{
		kp_free(alloc, A);
		kp_free(alloc, workspace);
		return KP_ENOMEM;
	}
	panel = workspace;
	scale = panel + (size_t) n * PANEL;
	cursor = (int64_t *) (scale + n);
	start = cursor + n;
	position = start + USER_BLOCK + 1;
	gathered_items = (int32_t *) (position + USER_BLOCK + 1);
	gathered_weights = (float *) (gathered_items + entries);

	memset(A, 0, cells * sizeof(double));
	status = accumulate_gram(item_users, A, cursor, start, position, gathered_items,
							 gathered_weights, (int64_t) entries,
							 interrupt, interrupt_arg);
	if (status == KP_OK)
	{
		for (i = 0; i < n; i++)
			A[(size_t) i * n + i] += lambda;
		status = cholesky(A, n, interrupt, interrupt_arg);
	}
	if (status == KP_OK)
		status = invert_lower(A, n, panel, interrupt, interrupt_arg);
	if (status == KP_OK)
		status = weights_from_inverse(A, n, B, scale, panel, interrupt, interrupt_arg);

	kp_free(alloc, A);
	kp_free(alloc, workspace);
	return status;
}

void
kp_ease_scores(const float *B, int32_t n_items, const int32_t *items,
			   const float *weights, int32_t n, float *scores)
{
	int32_t		k;

	memset(scores, 0, (size_t) (n_items > 0 ? n_items : 0) * sizeof(float));
	for (k = 0; k < n; k++)
	{
		int32_t		item = items[k];

		if (item < 0 || item >= n_items)
			continue;
		cblas_saxpy(n_items, weights ? weights[k] : 1.0f,
					B + (size_t) item * n_items, 1, scores, 1);
	}
}
