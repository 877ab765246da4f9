/*
 * test_sparse.c -- CSR construction and transpose against a dense reference.
 */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "kp_sparse.h"
#include "unit.h"

static uint64_t rng_state = 12345;

static uint64_t
rng_next(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint32_t
rng_below(uint32_t n)
{
	return (uint32_t) (rng_next() % n);
}

/* Allocator that counts live blocks and can fail the n-th allocation. */
static void
shuffle(int32_t *rows, int32_t *cols, float *vals, int64_t n)
{
	int64_t		i;

	for (i = n - 1; i > 0; i--)
	{
		int64_t		j = rng_below((uint32_t) i + 1);
		int32_t		r = rows[i],
					c = cols[i];
		float		v = vals[i];

		rows[i] = rows[j];
		cols[i] = cols[j];
		vals[i] = vals[j];
		rows[j] = r;
		cols[j] = c;
		vals[j] = v;
	}
}

/* The CSR is well formed and equals the dense matrix (zeros absent). */
static int
csr_equals_dense(const kp_csr *m, const double *dense, int32_t n_rows, int32_t n_cols)
{
	int32_t		r;
	int64_t		expected_nnz = 0;

	if (m->n_rows != n_rows || m->n_cols != n_cols || m->indptr[0] != 0)
		return 0;
	for (r = 0; r < n_rows; r++)
	{
		int32_t		c;
		int64_t		k = m->indptr[r];

		if (m->indptr[r + 1] < m->indptr[r])
			return 0;
		for (c = 0; c < n_cols; c++)
		{
			double		want = dense[(size_t) r * n_cols + c];

			if (want <= 0.0)
				continue;
			expected_nnz++;
			if (k >= m->indptr[r + 1] || m->indices[k] != c ||
				m->values[k] != (float) want)
				return 0;
			k++;
		}
		if (k != m->indptr[r + 1])
			return 0;
	}
	return m->nnz == expected_nnz && m->indptr[n_rows] == expected_nnz;
}

static int
csr_identical(const kp_csr *a, const kp_csr *b)
{
	return a->n_rows == b->n_rows && a->n_cols == b->n_cols && a->nnz == b->nnz &&
		memcmp(a->indptr, b->indptr, ((size_t) a->n_rows + 1) * sizeof(int64_t)) == 0 &&
		memcmp(a->indices, b->indices, (size_t) a->nnz * sizeof(int32_t)) == 0 &&
		memcmp(a->values, b->values, (size_t) a->nnz * sizeof(float)) == 0;
}

static void
test_against_dense(void)
{
	enum
	{
		N_ROWS = 200, N_COLS = 150, N = 20000
	};
	int32_t    *rows = malloc(N * sizeof(int32_t));
	int32_t    *cols = malloc(N * sizeof(int32_t));
	float	   *vals = malloc(N * sizeof(float));
	double	   *dense = calloc((size_t) N_ROWS * N_COLS, sizeof(double));
	double	   *dense_t = calloc((size_t) N_ROWS * N_COLS, sizeof(double));
	kp_csr		m,
				t,
				tt;
	int			k;

	for (k = 0; k < N; k++)
	{
		/* few distinct pairs, so most are duplicated; row 7 is long */
		rows[k] = k % 10 == 0 ? 7 : (int32_t) rng_below(N_ROWS);
		cols[k] = (int32_t) rng_below(N_COLS / 3) * 3;
		/* quarters: double sums are exact, so the reference is exact too */
		vals[k] = (float) rng_below(8) * 0.25f;
		dense[(size_t) rows[k] * N_COLS + cols[k]] += vals[k];
		dense_t[(size_t) cols[k] * N_ROWS + rows[k]] += vals[k];
	}
	unit_ok(kp_csr_from_coo(&kp_malloc_allocator, N_ROWS, N_COLS, N, rows, cols,
							vals, &m, NULL, NULL) == KP_OK, "from_coo succeeds");
	unit_ok(csr_equals_dense(&m, dense, N_ROWS, N_COLS),
			"CSR from duplicate-laden COO equals the dense sum, zero sums dropped");
	unit_ok(kp_csr_transpose(&kp_malloc_allocator, &m, &t, NULL, NULL) == KP_OK &&
			csr_equals_dense(&t, dense_t, N_COLS, N_ROWS),
			"transpose equals the dense transpose");
	unit_ok(kp_csr_transpose(&kp_malloc_allocator, &t, &tt, NULL, NULL) == KP_OK &&
			csr_identical(&m, &tt), "transposing twice gives back the same arrays");
	kp_csr_free(&kp_malloc_allocator, &m);
	kp_csr_free(&kp_malloc_allocator, &t);
	kp_csr_free(&kp_malloc_allocator, &tt);
	unit_ok(m.indptr == NULL && m.nnz == 0, "kp_csr_free zeroes the struct");

	free(rows);
	free(cols);
	free(vals);
	free(dense);
	free(dense_t);
}

static void
test_order_independence(void)
{
	enum
	{
		N_ROWS = 50, N_COLS = 400, N = 30000
	};
	int32_t    *rows = malloc(N * sizeof(int32_t));
	int32_t    *cols = malloc(N * sizeof(int32_t));
	float	   *vals = malloc(N * sizeof(float));
	kp_csr		first,
				again;
	int			same = 1;
	int			trial;
	int			k;

	for (k = 0; k < N; k++)
	{
		rows[k] = (int32_t) rng_below(N_ROWS);
		cols[k] = (int32_t) rng_below(N_COLS);
		/* arbitrary magnitudes: double sums would differ by order */
		vals[k] = ldexpf((float) (rng_next() >> 40), (int) rng_below(40) - 50);
	}
	kp_csr_from_coo(&kp_malloc_allocator, N_ROWS, N_COLS, N, rows, cols, vals, &first, NULL, NULL);
	for (trial = 0; trial < 3; trial++)
	{
		shuffle(rows, cols, vals, N);
		kp_csr_from_coo(&kp_malloc_allocator, N_ROWS, N_COLS, N, rows, cols, vals, &again, NULL, NULL);
		same &= csr_identical(&first, &again);
		kp_csr_free(&kp_malloc_allocator, &again);
	}
	unit_ok(same, "shuffled input gives bit-identical CSR (long rows, heapsort path)");
	kp_csr_free(&kp_malloc_allocator, &first);
	free(rows);
	free(cols);
	free(vals);
}

static void
test_invalid_input(void)
{
	int32_t		rows[] = {0, 1, 2};
	int32_t		cols[] = {0, 1, 2};
	float		vals[] = {1.0f, 2.0f, 3.0f};
	int32_t		bad_rows[] = {0, 3, 1};
	int32_t		bad_cols[] = {0, -1, 1};
	float		nan_vals[] = {1.0f, NAN, 1.0f};
	float		inf_vals[] = {1.0f, INFINITY, 1.0f};
	float		neg_vals[] = {1.0f, -0.5f, 1.0f};
	float		huge_vals[] = {FLT_MAX, FLT_MAX, 1.0f};
	int32_t		same_pair[] = {0, 0, 1};
	kp_csr		m;
	const kp_allocator *a = &kp_malloc_allocator;

	unit_ok(kp_csr_from_coo(a, 3, 3, 3, bad_rows, cols, vals, &m, NULL, NULL) == KP_EINVAL,
			"row out of range is rejected");
	unit_ok(kp_csr_from_coo(a, 3, 3, 3, rows, bad_cols, vals, &m, NULL, NULL) == KP_EINVAL,
			"negative column is rejected");
	unit_ok(kp_csr_from_coo(a, 3, 3, 3, rows, cols, nan_vals, &m, NULL, NULL) == KP_EINVAL,
			"NaN value is rejected");
	unit_ok(kp_csr_from_coo(a, 3, 3, 3, rows, cols, inf_vals, &m, NULL, NULL) == KP_EINVAL,
			"infinite value is rejected");
	unit_ok(kp_csr_from_coo(a, 3, 3, 3, rows, cols, neg_vals, &m, NULL, NULL) == KP_EINVAL,
			"negative value is rejected");
	unit_ok(kp_csr_from_coo(a, 3, 3, 3, same_pair, same_pair, huge_vals, &m, NULL, NULL) == KP_EINVAL,
			"duplicates summing beyond float range are rejected");
	unit_ok(kp_csr_from_coo(a, -1, 3, 0, NULL, NULL, NULL, &m, NULL, NULL) == KP_EINVAL,
			"negative shape is rejected");
	unit_ok(kp_csr_from_coo(a, 3, 3, -1, rows, cols, vals, &m, NULL, NULL) == KP_EINVAL,
			"negative count is rejected");

	unit_ok(kp_csr_from_coo(a, 4, 2, 0, NULL, NULL, NULL, &m, NULL, NULL) == KP_OK &&
			m.nnz == 0 && m.n_rows == 4 && m.indptr[4] == 0,
			"no triples: empty rows");
	kp_csr_free(a, &m);
	unit_ok(kp_csr_from_coo(a, 0, 0, 0, NULL, NULL, NULL, &m, NULL, NULL) == KP_OK &&
			m.nnz == 0 && m.indptr[0] == 0, "zero rows and columns");
	kp_csr_free(a, &m);
}

static void
test_allocation_failure(void)
{
	int32_t		rows[] = {0, 1, 1};
	int32_t		cols[] = {1, 0, 1};
	float		vals[] = {1.0f, 2.0f, 3.0f};
	unit_counting ctx = {0, 0, 0, 0};
	kp_allocator a = unit_counting_allocator(&ctx);
	kp_csr		m;
	int			fail_at;
	int			all_enomem = 1;

	for (fail_at = 1; fail_at <= 3; fail_at++)
	{
		ctx.calls = 0;
		ctx.fail_at = fail_at;
		all_enomem &= kp_csr_from_coo(&a, 2, 2, 3, rows, cols, vals, &m, NULL, NULL) == KP_ENOMEM;
	}
	unit_ok(all_enomem && ctx.live == 0,
			"every failed allocation gives KP_ENOMEM without leaking");
}

/* An interrupt callback that counts its calls and cancels at call cancel_at (0: never). */
typedef struct canceller
{
	int			calls;
	int			cancel_at;
} canceller;

static int
cancel_at_call(void *arg)
{
	canceller  *c = arg;

	return ++c->calls == c->cancel_at;
}

/*
 * Cancelled at calls of the callback spread over its whole run, from_coo
 * and transpose stop with KP_ECANCELLED and keep nothing: every phase
 * (checking the triples, counting, scattering, sorting the rows) is hit.
 */
static void
test_cancellation(void)
{
	enum
	{
		N_ROWS = 3000, N_COLS = 500, N = 1 << 19, LONG_ROW = 1 << 18, RUNS = 30
	};
	int32_t    *rows = malloc(N * sizeof(int32_t));
	int32_t    *cols = malloc(N * sizeof(int32_t));
	float	   *vals = malloc(N * sizeof(float));
	unit_counting ctx = {0, 0, 0, 0};
	kp_allocator a = unit_counting_allocator(&ctx);
	canceller	c = {0, 0};
	kp_csr		m,
				t,
				reference;
	int			coo_calls;
	int			transpose_calls;
	int			live;
	int			all_cancelled = 1;
	int			k;

	for (k = 0; k < N; k++)
	{
		rows[k] = (int32_t) rng_below(N_ROWS);
		cols[k] = (int32_t) rng_below(N_COLS);
		vals[k] = 1.0f;
	}
	kp_csr_from_coo(&kp_malloc_allocator, N_ROWS, N_COLS, N, rows, cols, vals, &reference, NULL, NULL);
	unit_ok(kp_csr_from_coo(&a, N_ROWS, N_COLS, N, rows, cols, vals, &m, cancel_at_call, &c) == KP_OK &&
			csr_identical(&m, &reference),
			"a callback that never cancels changes nothing");
	coo_calls = c.calls;
	unit_ok(coo_calls >= 4 * (N >> 16), "from_coo asks every 65536 entries of each pass (%d calls)",
			coo_calls);
	c.calls = 0;
	unit_ok(kp_csr_transpose(&a, &m, &t, cancel_at_call, &c) == KP_OK, "transpose with a callback");
	transpose_calls = c.calls;
	unit_ok(transpose_calls >= 2 * (m.nnz >> 16), "transpose asks every 65536 entries (%d calls)",
			transpose_calls);
	kp_csr_free(&a, &t);

	live = ctx.live;
	for (c.cancel_at = 1; c.cancel_at <= coo_calls; c.cancel_at += coo_calls / RUNS + 1)
	{
		c.calls = 0;
		all_cancelled &= kp_csr_from_coo(&a, N_ROWS, N_COLS, N, rows, cols, vals, &t,
										 cancel_at_call, &c) == KP_ECANCELLED &&
			c.calls == c.cancel_at && t.indptr == NULL;
	}
	unit_ok(all_cancelled && ctx.live == live,
			"from_coo cancelled at calls 1 to %d returns KP_ECANCELLED and frees its arrays",
			coo_calls);
	all_cancelled = 1;
	for (c.cancel_at = 1; c.cancel_at <= transpose_calls; c.cancel_at++)
	{
		c.calls = 0;
		all_cancelled &= kp_csr_transpose(&a, &m, &t, cancel_at_call, &c) == KP_ECANCELLED &&
			c.calls == c.cancel_at && t.indptr == NULL;
	}
	unit_ok(all_cancelled && ctx.live == live,
			"transpose cancelled at each of its %d calls returns KP_ECANCELLED and frees its arrays",
			transpose_calls);
	kp_csr_free(&a, &m);

	/* one long row: its sort (heapsort) asks too */
	for (k = 0; k < LONG_ROW; k++)
		rows[k] = 0;
	c.calls = 0;
	c.cancel_at = 0;
	kp_csr_from_coo(&a, N_ROWS, N_COLS, LONG_ROW, rows, cols, vals, &m, cancel_at_call, &c);
	kp_csr_free(&a, &m);
	c.cancel_at = c.calls;
	c.calls = 0;
	unit_ok(kp_csr_from_coo(&a, N_ROWS, N_COLS, LONG_ROW, rows, cols, vals, &m, cancel_at_call, &c) == KP_ECANCELLED &&
			ctx.live == 0, "cancelled while sorting one row of %d entries, without leaking", LONG_ROW);

	kp_csr_free(&kp_malloc_allocator, &reference);
	free(rows);
	free(cols);
	free(vals);
}

static void
test_bytes(void)
{
	unit_ok(kp_csr_bytes(10, 100) == 11 * sizeof(int64_t) + 100 * 8,
			"kp_csr_bytes counts indptr, indices and values");
	unit_ok(kp_csr_bytes(10, INT64_MAX) == SIZE_MAX,
			"kp_csr_bytes reports overflow as SIZE_MAX");
	unit_ok(kp_csr_bytes(-1, 0) == SIZE_MAX, "kp_csr_bytes rejects a negative shape");
}

int
main(void)
{
	test_against_dense();
	test_order_independence();
	test_invalid_input();
	test_allocation_failure();
	test_cancellation();
	test_bytes();
	return unit_done();
}
