/*
 * test_ease.c -- EASE weights against a dense inverse computed naively in
 * double, a closed form on two items, the automatic λ, determinism,
 * numerical failure, cancellation at every interrupt point and allocation
 * failure without leaks, and scoring.
 */
#include <stdint.h>
#include <string.h>

#include "kp_ease.h"
#include "kp_sparse.h"
#include "unit.h"

static uint64_t rng_state = 99;

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
 * Random interactions, X transposed (n_items rows): per user up to
 * per_user items, skewed towards low item numbers, weights in [0.5, 3);
 * every seventh item has none.
 */
static void
random_item_users(int32_t n_users, int32_t n_items, int32_t per_user, kp_csr *out)
{
	int64_t		n = (int64_t) n_users * per_user;
	int32_t    *rows = malloc((size_t) n * sizeof(int32_t));
	int32_t    *cols = malloc((size_t) n * sizeof(int32_t));
	float	   *vals = malloc((size_t) n * sizeof(float));
	int64_t		used = 0;
	int64_t		k;

	for (k = 0; k < n; k++)
	{
		double		x = rng_unit();
		int32_t		item = (int32_t) (x * x * n_items);

		if (item % 7 == 3)
			continue;
		rows[used] = item;
		cols[used] = (int32_t) (k / per_user);
		vals[used] = (float) (0.5 + 2.5 * rng_unit());
		used++;
	}
	if (kp_csr_from_coo(&kp_malloc_allocator, n_items, n_users, used, rows, cols, vals,
						out, NULL, NULL) != KP_OK)
		abort();
	free(rows);
	free(cols);
	free(vals);
}

/* Inverts A (n×n, row-major) in place by Gauss-Jordan with partial pivoting. */
static void
dense_inverse(double *A, int n)
{
	double	   *inv = calloc((size_t) n * n, sizeof(double));
	int			col;
	int			row;
	int			j;

	for (j = 0; j < n; j++)
		inv[(size_t) j * n + j] = 1.0;
	for (col = 0; col < n; col++)
	{
		int			pivot = col;
		double		p;

		for (row = col + 1; row < n; row++)
			if (fabs(A[(size_t) row * n + col]) > fabs(A[(size_t) pivot * n + col]))
				pivot = row;
		if (pivot != col)
		{
			for (j = 0; j < n; j++)
			{
				double		t = A[(size_t) col * n + j];

				A[(size_t) col * n + j] = A[(size_t) pivot * n + j];
				A[(size_t) pivot * n + j] = t;
				t = inv[(size_t) col * n + j];
				inv[(size_t) col * n + j] = inv[(size_t) pivot * n + j];
				inv[(size_t) pivot * n + j] = t;
			}
		}
		p = A[(size_t) col * n + col];
		for (j = 0; j < n; j++)
		{
			A[(size_t) col * n + j] /= p;
			inv[(size_t) col * n + j] /= p;
		}
		for (row = 0; row < n; row++)
		{
			double		f = A[(size_t) row * n + col];

			if (row == col || f == 0.0)
				continue;
			for (j = 0; j < n; j++)
			{
				A[(size_t) row * n + j] -= f * A[(size_t) col * n + j];
				inv[(size_t) row * n + j] -= f * inv[(size_t) col * n + j];
			}
		}
	}
	memcpy(A, inv, (size_t) n * n * sizeof(double));
	free(inv);
}

/* B by the definition: dense Gram matrix, dense inverse, B = I − P·diag(1/diag P). */
static void
naive_ease(const kp_csr *item_users, double lambda, double *B)
{
	int32_t		n = item_users->n_rows;
	kp_csr		user_items;
	double	   *P = calloc((size_t) n * n, sizeof(double));
	int32_t		u;
	int32_t		i;
	int32_t		j;

	if (kp_csr_transpose(&kp_malloc_allocator, item_users, &user_items, NULL, NULL) != KP_OK)
		abort();
	for (u = 0; u < user_items.n_rows; u++)
	{
		int64_t		a;
		int64_t		b;

		for (a = user_items.indptr[u]; a < user_items.indptr[u + 1]; a++)
			for (b = user_items.indptr[u]; b < user_items.indptr[u + 1]; b++)
				P[(size_t) user_items.indices[a] * n + user_items.indices[b]] +=
					(double) user_items.values[a] * user_items.values[b];
	}
	for (i = 0; i < n; i++)
		P[(size_t) i * n + i] += lambda;
	dense_inverse(P, n);
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			B[(size_t) i * n + j] = i == j ? 0.0 :
				-P[(size_t) i * n + j] / P[(size_t) j * n + j];
	kp_csr_free(&kp_malloc_allocator, &user_items);
	free(P);
}

static void
test_params(void)
{
	kp_ease_params p;

	kp_ease_default_params(&p);
	unit_ok(p.lambda == 0.0f && kp_ease_check_params(&p) == NULL,
			"default lambda is 0 (chosen from the data) and valid");
	p.lambda = 250.0f;
	unit_ok(kp_ease_check_params(&p) == NULL, "lambda 250 is valid");
	p.lambda = -1.0f;
	unit_ok(kp_ease_check_params(&p) != NULL, "negative lambda refused");
	p.lambda = NAN;
	unit_ok(kp_ease_check_params(&p) != NULL, "NaN lambda refused");
	p.lambda = INFINITY;
	unit_ok(kp_ease_check_params(&p) != NULL &&
			strncmp(kp_ease_check_params(&p), "regularization", 14) == 0,
			"infinite lambda refused, message names the option");
}

static void
test_sizes(void)
{
	kp_ease_params p;
	int64_t    *indptr = calloc(KP_EASE_MAX_ITEMS + 2, sizeof(int64_t));
	kp_csr		big = {KP_EASE_MAX_ITEMS + 1, 10, 0, indptr, NULL, NULL};
	float		B[4];
	unit_counting counting = {0};
	kp_allocator alloc = unit_counting_allocator(&counting);

	unit_ok(kp_ease_train_bytes(KP_EASE_MAX_ITEMS) >=
			(size_t) KP_EASE_MAX_ITEMS * KP_EASE_MAX_ITEMS * sizeof(double),
			"train bytes at the limit cover n² doubles (%zu)",
			kp_ease_train_bytes(KP_EASE_MAX_ITEMS));
	unit_ok(kp_ease_train_bytes(KP_EASE_MAX_ITEMS + 1) == 0 &&
			kp_ease_train_bytes(-1) == 0 && kp_ease_train_bytes(INT32_MAX) == 0,
			"train bytes 0 over the limit and for negative counts");
	unit_ok(kp_ease_train_bytes(0) > 0, "train bytes for an empty catalog");

	kp_ease_default_params(&p);
	unit_ok(kp_ease_train(&alloc, &big, &p, B, NULL, NULL, NULL) == KP_EINVAL &&
			counting.calls == 0,
			"%d items: KP_EINVAL before allocating", KP_EASE_MAX_ITEMS + 1);
	big.n_rows = 0;
	big.n_cols = 0;
	unit_ok(kp_ease_train(&alloc, &big, &p, B, NULL, NULL, NULL) == KP_OK &&
			counting.calls == 0, "empty catalog: nothing to do");
	big.n_rows = 1;
	p.lambda = -3.0f;
	unit_ok(kp_ease_train(&alloc, &big, &p, B, NULL, NULL, NULL) == KP_EINVAL,
			"bad lambda: KP_EINVAL");
	free(indptr);
}

/* Largest |got − expected| over the matrix, and the largest |expected|. */
static double
max_error(const float *got, const double *expected, size_t n, double *largest)
{
	double		worst = 0.0;
	size_t		k;

	*largest = 0.0;
	for (k = 0; k < n; k++)
	{
		double		e = fabs(got[k] - expected[k]);

		if (e > worst || isnan(e))
			worst = isnan(e) ? INFINITY : e;
		if (fabs(expected[k]) > *largest)
			*largest = fabs(expected[k]);
	}
	return worst;
}

/*
 * Against the dense inverse: 600 items (panels of 256: two full ones and a
 * remainder) and 5000 users (user blocks of 4096; the first holds more
 * interactions than the gather buffer's 2^18, so it is cut short), and
 * catalogs smaller than one panel.
 */
static void
test_against_dense(void)
{
	struct
	{
		int32_t		users;
		int32_t		items;
		int32_t		per_user;
		float		lambda;
	}			cases[] = {
		{5000, 600, 100, 40.0f},
		{300, 37, 6, 2.5f},
		{50, 1, 1, 1.0f},
	};
	size_t		c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
	{
		kp_csr		iu;
		int32_t		n = cases[c].items;
		float	   *B = malloc((size_t) n * n * sizeof(float));
		double	   *expected = malloc((size_t) n * n * sizeof(double));
		kp_ease_params p = {cases[c].lambda};
		unit_counting counting = {0};
		kp_allocator alloc = unit_counting_allocator(&counting);
		kp_status	status;
		float		used = 0.0f;
		double		largest;
		double		err;
		int			diagonal_zero = 1;
		int32_t		i;

		random_item_users(cases[c].users, n, cases[c].per_user, &iu);
		status = kp_ease_train(&alloc, &iu, &p, B, &used, NULL, NULL);
		naive_ease(&iu, cases[c].lambda, expected);
		err = max_error(B, expected, (size_t) n * n, &largest);
		for (i = 0; i < n; i++)
			diagonal_zero &= B[(size_t) i * n + i] == 0.0f;
		unit_ok(status == KP_OK && used == cases[c].lambda && err <= 1e-5 &&
				err <= 1e-5 * largest + 1e-12,
				"%d users × %d items (%lld interactions), λ %g: B matches the dense inverse "
				"(max error %.2g, largest |B| %.3g)",
				cases[c].users, n, (long long) iu.nnz, cases[c].lambda, err, largest);
		unit_ok(diagonal_zero, "%d items: diagonal of B exactly 0", n);
		unit_ok(counting.live == 0 &&
				counting.total_bytes <= kp_ease_train_bytes(n),
				"%d items: everything freed; allocated %zu <= kp_ease_train_bytes %zu",
				n, counting.total_bytes, kp_ease_train_bytes(n));
		kp_csr_free(&kp_malloc_allocator, &iu);
		free(B);
		free(expected);
	}
}

/*
 * Two items: user 0 has both, user 1 only item 0 (weights 1).  XᵀX + λI =
 * [[2+λ, 1], [1, 1+λ]], so B[0][1] = 1/(2+λ) and B[1][0] = 1/(1+λ): with
 * two items EASE is a one-variable ridge regression.  An item nobody has
 * gets zero weights both ways.
 */
static void
test_closed_form(void)
{
	int32_t		rows[] = {0, 1, 0};
	int32_t		cols[] = {0, 0, 1};
	float		vals[] = {1, 1, 1};
	kp_csr		iu;
	float		B[9];
	kp_ease_params p = {3.0f};
	kp_status	status;

	kp_csr_from_coo(&kp_malloc_allocator, 3, 2, 3, rows, cols, vals, &iu, NULL, NULL);
	status = kp_ease_train(&kp_malloc_allocator, &iu, &p, B, NULL, NULL, NULL);
	unit_ok(status == KP_OK &&
			unit_close(B[0 * 3 + 1], 1.0 / 5.0, 1e-6) &&
			unit_close(B[1 * 3 + 0], 1.0 / 4.0, 1e-6) &&
			B[0] == 0.0f && B[4] == 0.0f,
			"two items, λ 3: B[0][1] = 1/5, B[1][0] = 1/4, diagonal 0 (got %.7g, %.7g)",
			B[1], B[3]);
	unit_ok(B[2] == 0.0f && B[5] == 0.0f && B[6] == 0.0f && B[7] == 0.0f && B[8] == 0.0f,
			"an item without interactions: zero row and column");
	kp_csr_free(&kp_malloc_allocator, &iu);
}

static void
test_auto_lambda_and_determinism(void)
{
	kp_csr		iu;
	int32_t		n = 300;
	float	   *B1 = malloc((size_t) n * n * sizeof(float));
	float	   *B2 = malloc((size_t) n * n * sizeof(float));
	kp_ease_params p;
	float		used = 0.0f;
	float		expected;
	double		sum_sq = 0.0;
	kp_status	status;
	int64_t		k;

	random_item_users(2000, n, 20, &iu);
	for (k = 0; k < iu.nnz; k++)
		sum_sq += (double) iu.values[k] * iu.values[k];
	expected = (float) (KP_EASE_AUTO_LAMBDA_SCALE * sqrt((double) iu.nnz / n) * sum_sq / iu.nnz);
	kp_ease_default_params(&p);
	status = kp_ease_train(&kp_malloc_allocator, &iu, &p, B1, &used, NULL, NULL);
	unit_ok(status == KP_OK &&
			used == kp_ease_auto_lambda(&iu) && unit_close(used, expected, 1e-6),
			"lambda 0: λ = %g·sqrt(nnz/n)·mean(w²) = %g, reported",
			KP_EASE_AUTO_LAMBDA_SCALE, used);

	/* weights times 8 (exact in float): λ follows (×64), B stays (up to rounding) */
	{
		float		scaled_used = 0.0f;
		double		worst = 0.0;
		size_t		c;

		for (k = 0; k < iu.nnz; k++)
			iu.values[k] *= 8.0f;
		status = kp_ease_train(&kp_malloc_allocator, &iu, &p, B2, &scaled_used, NULL, NULL);
		for (c = 0; c < (size_t) n * n; c++)
			worst = fmax(worst, fabs(B2[c] - B1[c]));
		unit_ok(status == KP_OK && unit_close(scaled_used, 64.0 * used, 1e-6) && worst < 1e-6,
				"weights ×8: automatic λ ×64 (%g), B unchanged (max difference %.2g)",
				scaled_used, worst);
		for (k = 0; k < iu.nnz; k++)
			iu.values[k] /= 8.0f;
	}
	p.lambda = used;
	unit_ok(kp_ease_train(&kp_malloc_allocator, &iu, &p, B2, NULL, NULL, NULL) == KP_OK &&
			memcmp(B1, B2, (size_t) n * n * sizeof(float)) == 0,
			"the same λ given explicitly: the same bits");
	unit_ok(kp_ease_train(&kp_malloc_allocator, &iu, &p, B1, NULL, NULL, NULL) == KP_OK &&
			memcmp(B1, B2, (size_t) n * n * sizeof(float)) == 0,
			"training twice: the same bits");
	kp_csr_free(&kp_malloc_allocator, &iu);
	free(B1);
	free(B2);

	/* no interactions at all: the floor */
	{
		int64_t		indptr[4] = {0, 0, 0, 0};
		kp_csr		empty = {3, 5, 0, indptr, NULL, NULL};

		unit_ok(kp_ease_auto_lambda(&empty) == (float) KP_EASE_AUTO_LAMBDA_FALLBACK,
				"no interactions: λ is the fallback %g", KP_EASE_AUTO_LAMBDA_FALLBACK);
	}
}

/*
 * Two identical items with weights 1e20: XᵀX is rank one with entries
 * 1e40, and λ = 0.001 is lost in rounding, so the second pivot is 0.
 */
static void
test_numeric_failure(void)
{
	int32_t		rows[] = {0, 1};
	int32_t		cols[] = {0, 0};
	float		vals[] = {1e20f, 1e20f};
	kp_csr		iu;
	float		B[4];
	kp_ease_params p = {0.001f};
	unit_counting counting = {0};
	kp_allocator alloc = unit_counting_allocator(&counting);

	kp_csr_from_coo(&kp_malloc_allocator, 2, 1, 2, rows, cols, vals, &iu, NULL, NULL);
	unit_ok(kp_ease_train(&alloc, &iu, &p, B, NULL, NULL, NULL) == KP_ENUMERIC &&
			counting.live == 0,
			"singular to working precision: KP_ENUMERIC, nothing leaked");
	kp_csr_free(&kp_malloc_allocator, &iu);
}

typedef struct cancel_state
{
	int			calls;
	int			cancel_at;		/* 0 = never */
} cancel_state;

static int
cancel_after(void *arg)
{
	cancel_state *s = arg;

	s->calls++;
	return s->cancel_at && s->calls >= s->cancel_at;
}

/* Cancelled at every interrupt point in turn, and allocations failing in turn. */
static void
test_cancellation(void)
{
	kp_csr		iu;
	int32_t		n = 600;
	float	   *B = malloc((size_t) n * n * sizeof(float));
	kp_ease_params p = {50.0f};
	cancel_state state = {0, 0};
	int			total;
	int			point;
	int			wrong = 0;
	int			leaks = 0;
	kp_status	status;

	random_item_users(5000, n, 40, &iu);
	status = kp_ease_train(&kp_malloc_allocator, &iu, &p, B, NULL, cancel_after, &state);
	unit_ok(status == KP_OK,
			"uncancelled run calls the interrupt %d times", state.calls);
	total = state.calls;
	for (point = 1; point <= total; point++)
	{
		unit_counting counting = {0};
		kp_allocator alloc = unit_counting_allocator(&counting);
		cancel_state s = {0, point};

		if (kp_ease_train(&alloc, &iu, &p, B, NULL, cancel_after, &s) != KP_ECANCELLED ||
			s.calls != point)
			wrong++;
		if (counting.live != 0)
			leaks++;
	}
	unit_ok(wrong == 0 && leaks == 0,
			"cancelled at each of the %d interrupt points: KP_ECANCELLED at once (%d wrong), "
			"nothing leaked (%d)", total, wrong, leaks);

	for (point = 1; point <= 2; point++)
	{
		unit_counting counting = {0};
		kp_allocator alloc = unit_counting_allocator(&counting);

		counting.fail_at = point;
		unit_ok(kp_ease_train(&alloc, &iu, &p, B, NULL, NULL, NULL) == KP_ENOMEM &&
				counting.live == 0,
				"allocation %d fails: KP_ENOMEM, nothing leaked", point);
	}
	kp_csr_free(&kp_malloc_allocator, &iu);
	free(B);
}

static void
test_scores(void)
{
	int32_t		n = 5;
	float		B[25];
	float		scores[5];
	int32_t		items[] = {1, 3, 7, -1};
	float		weights[] = {2.0f, 0.5f, 9.0f, 9.0f};
	int			ok = 1;
	int32_t		i;
	int32_t		j;

	for (i = 0; i < n * n; i++)
		B[i] = (float) ((i * 7) % 11) - 5.0f;
	kp_ease_scores(B, n, items, NULL, 2, scores);
	for (j = 0; j < n; j++)
		ok &= scores[j] == B[1 * n + j] + B[3 * n + j];
	unit_ok(ok, "scores without weights: sum of the user's items' rows");
	ok = 1;
	kp_ease_scores(B, n, items, weights, 4, scores);
	for (j = 0; j < n; j++)
		ok &= scores[j] == 2.0f * B[1 * n + j] + 0.5f * B[3 * n + j];
	unit_ok(ok, "weighted scores; items outside the catalog are skipped");
	kp_ease_scores(B, n, items, NULL, 0, scores);
	ok = 1;
	for (j = 0; j < n; j++)
		ok &= scores[j] == 0.0f;
	unit_ok(ok, "no items: all scores 0");
}

int
main(void)
{
	test_params();
	test_sizes();
	test_closed_form();
	test_against_dense();
	test_auto_lambda_and_determinism();
	test_numeric_failure();
	test_cancellation();
	test_scores();
	return unit_done();
}
