/*
 * test_als.c -- explicit-rating ALS with biases: every half-step against
 * the normal equations formed pair by pair and solved in double, the
 * objective, recovery of a low-rank matrix with biases, the augmented
 * layout, determinism and scale, cancellation, memory and bad input.
 */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "kp_als.h"
#include "kp_sparse.h"
#include "unit.h"

static uint64_t rng_state = 1942;

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

/* A ratings matrix and its transpose. */
typedef struct ratings
{
	kp_csr		R;
	kp_csr		Rt;
} ratings;

static void
ratings_from(int32_t n_users, int32_t n_items, int64_t n, const int32_t *rows,
			 const int32_t *cols, const float *vals, ratings *out)
{
	kp_csr_from_coo(&kp_malloc_allocator, n_users, n_items, n, rows, cols, vals,
					&out->R, NULL, NULL);
	kp_csr_transpose(&kp_malloc_allocator, &out->R, &out->Rt, NULL, NULL);
}

static void
ratings_free(ratings *r)
{
	kp_csr_free(&kp_malloc_allocator, &r->R);
	kp_csr_free(&kp_malloc_allocator, &r->Rt);
}

/*
 * Random ratings 1..5 (in steps of 0.5), about per_user per user; every
 * fifth user and the last two items have none.
 */
static void
random_ratings(int32_t n_users, int32_t n_items, int32_t per_user, ratings *out)
{
	int64_t		n = (int64_t) n_users * per_user;
	int32_t    *rows = malloc((size_t) n * sizeof(int32_t));
	int32_t    *cols = malloc((size_t) n * sizeof(int32_t));
	float	   *vals = malloc((size_t) n * sizeof(float));
	int64_t		used = 0;
	int64_t		k;

	for (k = 0; k < n; k++)
	{
		int32_t		user = (int32_t) (k / per_user);

		if (user % 5 == 4)
			continue;
		rows[used] = user;
		cols[used] = (int32_t) (rng_next() % (uint64_t) (n_items - 2));
		/* a duplicate pair would sum: keep each pair's value small */
		vals[used] = (float) (1 + rng_next() % 9) * 0.5f;
		used++;
	}
	ratings_from(n_users, n_items, used, rows, cols, vals, out);
	free(rows);
	free(cols);
	free(vals);
}

static float *
vectors(int32_t n_rows, int f)
{
	return malloc(sizeof(float) * (size_t) n_rows * KP_ALS_VECTOR_DIMS(f));
}

/* What the model's objective needs besides the vectors, in rating units. */
typedef struct model_constants
{
	double		mu;
	double		sigma;
	double		weight;			/* w per unrated pair */
	double		gap;			/* shift·σ */
	double		lambda;
} model_constants;

static int
row_empty(const kp_csr *m, int32_t row)
{
	return m->indptr[row] == m->indptr[row + 1];
}

static void
constants_of(const ratings *r, const kp_als_params *params, model_constants *c)
{
	double		sum = 0.0;
	double		squares = 0.0;
	double		users = 0.0;
	double		items = 0.0;
	double		unrated;
	int64_t		k;
	int32_t		row;

	for (k = 0; k < r->R.nnz; k++)
		sum += r->R.values[k];
	c->mu = sum / (double) r->R.nnz;
	for (k = 0; k < r->R.nnz; k++)
		squares += (r->R.values[k] - c->mu) * (r->R.values[k] - c->mu);
	c->sigma = sqrt(squares / (double) r->R.nnz);
	for (row = 0; row < r->R.n_rows; row++)
		users += !row_empty(&r->R, row);
	for (row = 0; row < r->Rt.n_rows; row++)
		items += !row_empty(&r->Rt, row);
	unrated = users * items - (double) r->R.nnz;
	c->weight = unrated > 0 ? params->missing_weight * (double) r->R.nnz / unrated : 0.0;
	if (c->weight > 1.0)
		c->weight = 1.0;
	c->gap = params->missing_shift * c->sigma;
	c->lambda = params->regularization;
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

/* A += weight·y yᵀ, b += weight·t·y */
static void
add_pair(double *A, double *b, const double *y, double t, double weight, int n)
{
	int			j,
				l;

	for (j = 0; j < n; j++)
	{
		b[j] += weight * t * y[j];
		for (l = 0; l < n; l++)
			A[j * n + l] += weight * y[j] * y[l];
	}
}

/* Is (row, col) in m? */
static int
rated(const kp_csr *m, int32_t row, int32_t col, float *value)
{
	int64_t		k;

	for (k = m->indptr[row]; k < m->indptr[row + 1]; k++)
	{
		if (m->indices[k] == col)
		{
			*value = m->values[k];
			return 1;
		}
	}
	return 0;
}

/*
 * The exact [p_u, b_u] of a non-empty user given the items Y, from the
 * objective in kp_als.h written out pair by pair.
 */
static void
reference_user(const ratings *r, const float *Y, int f, const model_constants *c,
			   int32_t user, double *x)
{
	int			n = f + 1;
	size_t		dims = KP_ALS_VECTOR_DIMS(f);
	double	   *A = calloc((size_t) n * n, sizeof(double));
	double	   *y = malloc(sizeof(double) * n);
	double		count = (double) (r->R.indptr[user + 1] - r->R.indptr[user]);
	int32_t		item;
	int			j;

	memset(x, 0, sizeof(double) * n);
	for (item = 0; item < r->R.n_cols; item++)
	{
		const float *q = Y + item * dims;
		float		value;

		if (row_empty(&r->Rt, item))
			continue;
		for (j = 0; j < f; j++)
			y[j] = q[j];
		if (rated(&r->R, user, item, &value))
		{
			y[f] = 1.0;
			add_pair(A, x, y, value - c->mu - q[f], 1.0, n);
		}
		else
		{
			/* r_m − μ − b_u − b_i − p·q = −gap − b_i − p·q: no b_u */
			y[f] = 0.0;
			add_pair(A, x, y, -c->gap - q[f], c->weight, n);
		}
	}
	for (j = 0; j < f; j++)
		A[j * n + j] += c->lambda * c->sigma * count;
	A[f * n + f] += c->lambda * count;
	dense_solve(A, x, n);
	free(A);
	free(y);
}

/* The exact [q_i, b_i] of a non-empty item given the users X. */
static void
reference_item(const ratings *r, const float *X, int f, const model_constants *c,
			   int32_t item, double *x)
{
	int			n = f + 1;
	size_t		dims = KP_ALS_VECTOR_DIMS(f);
	double	   *A = calloc((size_t) n * n, sizeof(double));
	double	   *y = malloc(sizeof(double) * n);
	double		count = (double) (r->Rt.indptr[item + 1] - r->Rt.indptr[item]);
	int32_t		user;
	int			j;

	memset(x, 0, sizeof(double) * n);
	for (user = 0; user < r->R.n_rows; user++)
	{
		const float *p = X + user * dims;
		float		value;

		if (row_empty(&r->R, user))
			continue;
		for (j = 0; j < f; j++)
			y[j] = p[j];
		y[f] = 1.0;
		/* p[f + 1] = μ + b_u */
		if (rated(&r->Rt, item, user, &value))
			add_pair(A, x, y, value - p[f + 1], 1.0, n);
		else
			add_pair(A, x, y, -c->gap, c->weight, n);
	}
	for (j = 0; j < f; j++)
		A[j * n + j] += c->lambda * c->sigma * count;
	A[f * n + f] += c->lambda * count;
	dense_solve(A, x, n);
	free(A);
	free(y);
}

/*
 * Largest relative difference between the stored rows of one side and the
 * exact solutions; empty rows must be exactly [0…0, 1, μ] (users) or
 * [0…0, 0, 1] (items).
 */
static double
error_vs_reference(const ratings *r, const float *X, const float *Y, int f,
				   const model_constants *c, int users)
{
	size_t		dims = KP_ALS_VECTOR_DIMS(f);
	const kp_csr *m = users ? &r->R : &r->Rt;
	double	   *x = malloc(sizeof(double) * (f + 1));
	double		worst = 0.0;
	int32_t		row;
	int			j;

	for (row = 0; row < m->n_rows; row++)
	{
		const float *v = (users ? X : Y) + row * dims;
		double		bias;
		double		want_bias;

		if (row_empty(m, row))
		{
			for (j = 0; j < f; j++)
				if (v[j] != 0.0f)
					worst = INFINITY;
			if (users ? (v[f] != 1.0f || v[f + 1] != (float) c->mu) :
				(v[f] != 0.0f || v[f + 1] != 1.0f))
				worst = INFINITY;
			continue;
		}
		if (users)
			reference_user(r, Y, f, c, row, x);
		else
			reference_item(r, X, f, c, row, x);
		for (j = 0; j < f; j++)
		{
			double		err = fabs(v[j] - x[j]) / fmax(1.0, fabs(x[j]));

			if (!(err <= worst))
				worst = err;
		}
		bias = users ? v[f + 1] : v[f];
		want_bias = users ? c->mu + x[f] : x[f];
		if (!(fabs(bias - want_bias) / fmax(1.0, fabs(want_bias)) <= worst))
			worst = fabs(bias - want_bias) / fmax(1.0, fabs(want_bias));
	}
	free(x);
	return worst;
}

/* The objective of kp_als.h summed pair by pair, divided by the ratings. */
static double
brute_force_objective(const ratings *r, const float *X, const float *Y, int f,
					  const model_constants *c)
{
	size_t		dims = KP_ALS_VECTOR_DIMS(f);
	double		total = 0.0;
	int32_t		u,
				i;
	int			j;

	for (u = 0; u < r->R.n_rows; u++)
	{
		const float *p = X + u * dims;
		double		n_u = (double) (r->R.indptr[u + 1] - r->R.indptr[u]);
		double		b_u = p[f + 1] - c->mu;
		double		norm = 0.0;

		if (n_u == 0)
			continue;
		for (i = 0; i < r->R.n_cols; i++)
		{
			const float *q = Y + i * dims;
			double		pq = 0.0;
			float		value;

			if (row_empty(&r->Rt, i))
				continue;
			for (j = 0; j < f; j++)
				pq += (double) p[j] * q[j];
			if (rated(&r->R, u, i, &value))
			{
				double		e = value - (c->mu + b_u + q[f] + pq);

				total += e * e;
			}
			else
			{
				double		e = -c->gap - q[f] - pq;

				total += c->weight * e * e;
			}
		}
		for (j = 0; j < f; j++)
			norm += (double) p[j] * p[j];
		total += c->lambda * n_u * (c->sigma * norm + b_u * b_u);
	}
	for (i = 0; i < r->Rt.n_rows; i++)
	{
		const float *q = Y + i * dims;
		double		n_i = (double) (r->Rt.indptr[i + 1] - r->Rt.indptr[i]);
		double		norm = 0.0;

		for (j = 0; j < f; j++)
			norm += (double) q[j] * q[j];
		total += c->lambda * n_i * (c->sigma * norm + (double) q[f] * q[f]);
	}
	return total / (double) r->R.nnz;
}

static int
starts_with(const char *message, const char *prefix)
{
	return message && strncmp(message, prefix, strlen(prefix)) == 0;
}

static void
test_check_params(void)
{
	kp_als_params params;
	kp_als_params bad;

	kp_als_default_params(&params);
	unit_ok(kp_als_check_params(&params) == NULL &&
			params.factors == 32 && params.iterations == 15 &&
			params.regularization == 0.1f && params.missing_weight == 2.0f &&
			params.missing_shift == 2.0f && params.seed == KP_DEFAULT_SEED,
			"defaults are valid");
	bad = params;
	bad.factors = 0;
	unit_ok(starts_with(kp_als_check_params(&bad), "factors"), "factors = 0");
	bad = params;
	bad.factors = KP_MAX_FACTORS + 1;
	unit_ok(starts_with(kp_als_check_params(&bad), "factors"), "factors too large");
	bad = params;
	bad.iterations = -1;
	unit_ok(starts_with(kp_als_check_params(&bad), "iterations"), "negative iterations");
	bad = params;
	bad.iterations = KP_MAX_ITERATIONS + 1;
	unit_ok(starts_with(kp_als_check_params(&bad), "iterations"), "too many iterations");
	bad = params;
	bad.regularization = NAN;
	unit_ok(starts_with(kp_als_check_params(&bad), "regularization"), "NaN regularization");
	bad = params;
	bad.regularization = -0.01f;
	unit_ok(starts_with(kp_als_check_params(&bad), "regularization"), "negative regularization");
	bad = params;
	bad.regularization = INFINITY;
	unit_ok(starts_with(kp_als_check_params(&bad), "regularization"), "infinite regularization");
	bad = params;
	bad.missing_weight = -1.0f;
	unit_ok(starts_with(kp_als_check_params(&bad), "missing_weight"), "negative missing_weight");
	bad = params;
	bad.missing_weight = 101.0f;
	unit_ok(starts_with(kp_als_check_params(&bad), "missing_weight"), "missing_weight too large");
	bad = params;
	bad.missing_shift = NAN;
	unit_ok(starts_with(kp_als_check_params(&bad), "missing_shift"), "NaN missing_shift");
	bad = params;
	bad.missing_shift = -101.0f;
	unit_ok(starts_with(kp_als_check_params(&bad), "missing_shift"), "missing_shift too small");
	bad = params;
	bad.regularization = 0.0f;
	bad.missing_weight = 0.0f;
	bad.missing_shift = -3.0f;
	bad.iterations = 0;
	unit_ok(kp_als_check_params(&bad) == NULL, "0 regularization, weight and iterations, negative shift are valid");
	bad.factors = -5;
	unit_ok(kp_als_train_bytes(NULL, NULL, &bad) == SIZE_MAX,
			"kp_als_train_bytes of invalid params is SIZE_MAX");
}

/*
 * Half-steps against exact solves: training for k+1 iterations repeats the
 * first k bit for bit, so the users of iteration k+1 must solve their
 * systems given the items of iteration k, and the items of k+1 given those
 * users.
 */
static void
test_exact_half_steps(void)
{
	enum
	{
		N_USERS = 45, N_ITEMS = 32, F = 5
	};
	kp_als_params params;
	model_constants c;
	ratings		r;
	float	   *X = vectors(N_USERS, F);
	float	   *Y = vectors(N_ITEMS, F);
	float	   *Y_before = vectors(N_ITEMS, F);
	double		user_err;
	double		item_err;
	int			shift_case;

	random_ratings(N_USERS, N_ITEMS, 7, &r);
	for (shift_case = 0; shift_case < 3; shift_case++)
	{
		kp_als_default_params(&params);
		params.factors = F;
		params.regularization = 0.05f;
		params.missing_weight = shift_case == 0 ? 0.0f : 1.5f;
		params.missing_shift = shift_case == 2 ? -0.5f : 1.5f;
		constants_of(&r, &params, &c);

		params.iterations = 3;
		kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y_before,
					 NULL, NULL, NULL, NULL);
		params.iterations = 4;
		unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
							 NULL, NULL, NULL, NULL) == KP_OK,
				"training succeeds (missing_weight %g, shift %g)",
				params.missing_weight, params.missing_shift);
		user_err = error_vs_reference(&r, X, Y_before, F, &c, 1);
		item_err = error_vs_reference(&r, X, Y, F, &c, 0);
		unit_ok(user_err < 2e-5 && item_err < 2e-5,
				"users and items solve their normal equations, empty rows are [0, 1, μ] "
				"and [0, 0, 1] (rel. error %.2g, %.2g)", user_err, item_err);
	}
	unit_ok(c.weight > 0.0 && c.weight < 1.0, "the case has unrated pairs of weight %.3f", c.weight);

	ratings_free(&r);
	free(X);
	free(Y);
	free(Y_before);
}

/* A user who rated more items than fit in one gathered block. */
static void
test_long_row(void)
{
	enum
	{
		N_ITEMS = 9000, F = 3
	};
	kp_als_params params;
	model_constants c;
	ratings		r;
	int32_t    *rows = malloc(sizeof(int32_t) * (N_ITEMS + 40));
	int32_t    *cols = malloc(sizeof(int32_t) * (N_ITEMS + 40));
	float	   *vals = malloc(sizeof(float) * (N_ITEMS + 40));
	float	   *X = vectors(4, F);
	float	   *Y = vectors(N_ITEMS, F);
	float	   *Y_before = vectors(N_ITEMS, F);
	int64_t		n = 0;
	int32_t		i;
	double		user_err;
	double		item_err;

	/* user 1 rates everything; users 0 and 2 a few items; user 3 nothing */
	for (i = 0; i < N_ITEMS; i++)
	{
		rows[n] = 1;
		cols[n] = i;
		vals[n++] = (float) (1.0 + 4.0 * rng_unit());
	}
	for (i = 0; i < 20; i++)
	{
		rows[n] = 0;
		cols[n] = i * 7;
		vals[n++] = (float) (1.0 + 4.0 * rng_unit());
		rows[n] = 2;
		cols[n] = i * 11 + 3;
		vals[n++] = (float) (1.0 + 4.0 * rng_unit());
	}
	ratings_from(4, N_ITEMS, n, rows, cols, vals, &r);
	kp_als_default_params(&params);
	params.factors = F;
	params.missing_weight = 0.5f;
	constants_of(&r, &params, &c);
	params.iterations = 2;
	kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y_before, NULL, NULL, NULL, NULL);
	params.iterations = 3;
	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
						 NULL, NULL, NULL, NULL) == KP_OK,
			"training with a 9000-rating user succeeds");
	user_err = error_vs_reference(&r, X, Y_before, F, &c, 1);
	item_err = error_vs_reference(&r, X, Y, F, &c, 0);
	unit_ok(user_err < 2e-5 && item_err < 2e-5,
			"a row longer than a gathered block is solved exactly (rel. error %.2g, %.2g)",
			user_err, item_err);

	ratings_free(&r);
	free(rows);
	free(cols);
	free(vals);
	free(X);
	free(Y);
	free(Y_before);
}

typedef struct objective_trace
{
	const ratings *r;
	const float *X;
	const float *Y;
	int			f;
	const model_constants *c;
	double		objective[32];
	double		rmse[32];
	int			calls;
	int			stop_at;
} objective_trace;

static int
record_objective(void *arg, int32_t iteration)
{
	objective_trace *t = arg;

	t->objective[t->calls] = brute_force_objective(t->r, t->X, t->Y, t->f, t->c);
	t->rmse[t->calls] = kp_als_rmse(&t->r->R, t->X, t->Y, t->f);
	t->calls++;
	return iteration == t->stop_at;
}

/* RMSE over the ratings, pair by pair from the parts of the model. */
static double
brute_force_rmse(const kp_csr *R, const float *X, const float *Y, int f)
{
	size_t		dims = KP_ALS_VECTOR_DIMS(f);
	double		sum = 0.0;
	int32_t		u;
	int64_t		k;
	int			j;

	for (u = 0; u < R->n_rows; u++)
		for (k = R->indptr[u]; k < R->indptr[u + 1]; k++)
		{
			const float *p = X + u * dims;
			const float *q = Y + R->indices[k] * dims;
			double		pred = (double) p[f + 1] + q[f];
			double		e;

			for (j = 0; j < f; j++)
				pred += (double) p[j] * q[j];
			e = R->values[k] - pred;
			sum += e * e;
		}
	return sqrt(sum / (double) R->nnz);
}

static void
test_training(void)
{
	enum
	{
		N_USERS = 120, N_ITEMS = 70, F = 6
	};
	kp_als_params params;
	model_constants c;
	ratings		r;
	float	   *X = vectors(N_USERS, F);
	float	   *Y = vectors(N_ITEMS, F);
	float	   *X2 = vectors(N_USERS, F);
	float	   *Y2 = vectors(N_ITEMS, F);
	size_t		user_bytes = sizeof(float) * N_USERS * KP_ALS_VECTOR_DIMS(F);
	size_t		item_bytes = sizeof(float) * N_ITEMS * KP_ALS_VECTOR_DIMS(F);
	unit_counting ctx = {0, 0, 0, 0};
	kp_allocator counted = unit_counting_allocator(&ctx);
	objective_trace trace;
	int			monotone = 1;
	int			layout_ok = 1;
	double		worst_predict = 0.0;
	int32_t		u,
				i;
	int			j;

	random_ratings(N_USERS, N_ITEMS, 12, &r);
	kp_als_default_params(&params);
	params.factors = F;
	params.iterations = 12;
	constants_of(&r, &params, &c);

	trace.r = &r;
	trace.X = X;
	trace.Y = Y;
	trace.f = F;
	trace.c = &c;
	trace.calls = 0;
	trace.stop_at = 0;
	unit_ok(kp_als_train(&counted, &r.R, &r.Rt, &params, X, Y, NULL, NULL,
						 record_objective, &trace) == KP_OK && trace.calls == 12,
			"training succeeds and reports every iteration");
	unit_ok(ctx.live == 0 && ctx.calls == 1 &&
			ctx.total_bytes == kp_als_train_bytes(&r.R, &r.Rt, &params),
			"training allocates exactly kp_als_train_bytes (%zu) and frees it", ctx.total_bytes);
	for (j = 1; j < trace.calls; j++)
		monotone &= trace.objective[j] <= trace.objective[j - 1] * (1.0 + 1e-6);
	unit_ok(monotone, "the objective never increases (%.5f -> %.5f)",
			trace.objective[0], trace.objective[trace.calls - 1]);
	unit_ok(unit_close(trace.rmse[trace.calls - 1], brute_force_rmse(&r.R, X, Y, F), 1e-9),
			"kp_als_rmse, called from on_iteration, is the RMSE of the parts (%.4f)",
			trace.rmse[trace.calls - 1]);

	for (u = 0; u < N_USERS; u++)
		layout_ok &= X[u * KP_ALS_VECTOR_DIMS(F) + F] == 1.0f;
	for (i = 0; i < N_ITEMS; i++)
		layout_ok &= Y[i * KP_ALS_VECTOR_DIMS(F) + F + 1] == 1.0f;
	unit_ok(layout_ok, "user component f and item component f+1 are exactly 1");

	for (u = 0; u < N_USERS; u++)
		for (i = 0; i < N_ITEMS; i++)
		{
			const float *p = X + u * KP_ALS_VECTOR_DIMS(F);
			const float *q = Y + i * KP_ALS_VECTOR_DIMS(F);
			double		parts = (double) p[F + 1] + q[F];
			double		dot = 0.0;

			for (j = 0; j < F; j++)
				parts += (double) p[j] * q[j];
			for (j = 0; j < F + 2; j++)
				dot += (double) p[j] * q[j];
			worst_predict = fmax(worst_predict, fabs(kp_als_predict(p, q, F) - parts));
			worst_predict = fmax(worst_predict, fabs(dot - parts));
		}
	unit_ok(worst_predict < 1e-5,
			"kp_als_predict = the dot product = μ + b_u + b_i + p·q (error %.2g)", worst_predict);

	kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X2, Y2, NULL, NULL, NULL, NULL);
	unit_ok(memcmp(X, X2, user_bytes) == 0 && memcmp(Y, Y2, item_bytes) == 0,
			"two runs give identical bits");
	params.seed = 7;
	kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X2, Y2, NULL, NULL, NULL, NULL);
	unit_ok(memcmp(X, X2, user_bytes) != 0, "another seed gives other bits");
	unit_ok(fabs(kp_als_rmse(&r.R, X2, Y2, F) - kp_als_rmse(&r.R, X, Y, F)) < 0.02,
			"and nearly the same fit (RMSE %.4f vs %.4f)",
			kp_als_rmse(&r.R, X2, Y2, F), kp_als_rmse(&r.R, X, Y, F));
	params.seed = KP_DEFAULT_SEED;

	/* on_iteration cancels */
	trace.calls = 0;
	trace.stop_at = 2;
	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y, NULL, NULL,
						 record_objective, &trace) == KP_ECANCELLED && trace.calls == 2,
			"on_iteration returning nonzero cancels after that iteration");

	/* allocation failure */
	ctx.calls = 0;
	ctx.fail_at = 1;
	ctx.live = 0;
	unit_ok(kp_als_train(&counted, &r.R, &r.Rt, &params, X, Y, NULL, NULL, NULL, NULL) == KP_ENOMEM &&
			ctx.live == 0, "an allocation failure gives KP_ENOMEM");

	ratings_free(&r);
	free(X);
	free(Y);
	free(X2);
	free(Y2);
}

/* RMSE of the model over the pairs (rows[k], cols[k]) against vals[k]. */
static double
rmse_on(const float *X, const float *Y, int f, int64_t n, const int32_t *rows,
		const int32_t *cols, const float *vals)
{
	size_t		dims = KP_ALS_VECTOR_DIMS(f);
	double		sum = 0.0;
	int64_t		k;

	for (k = 0; k < n; k++)
	{
		double		e = vals[k] - kp_als_predict(X + rows[k] * dims, Y + cols[k] * dims, f);

		sum += e * e;
	}
	return sqrt(sum / (double) n);
}

/*
 * A rank-3 matrix plus biases, μ + b_u + b_i + p_u·q_i: plain ALS-WR with
 * little regularisation fits it, and completes it from 70% of its entries.
 * The split between biases and factors is not identifiable there (adding a
 * to every p_u moves a·q_i into b_i), so biases are checked on a complete
 * matrix of centred biases alone, where the objective's minimum is known:
 * no factors, μ the mean, and b_u, b_i shrunk by 1/(1 + λ).
 */
static void
test_recovery(void)
{
	enum
	{
		N_USERS = 40, N_ITEMS = 30, RANK = 3
	};
	double		P[N_USERS][RANK];
	double		Q[N_ITEMS][RANK];
	double		bu[N_USERS];
	double		bi[N_ITEMS];
	double		centre;
	int32_t    *rows = malloc(sizeof(int32_t) * N_USERS * N_ITEMS);
	int32_t    *cols = malloc(sizeof(int32_t) * N_USERS * N_ITEMS);
	float	   *vals = malloc(sizeof(float) * N_USERS * N_ITEMS);
	float	   *X = vectors(N_USERS + 1, 4);
	float	   *Y = vectors(N_ITEMS + 1, 4);
	kp_als_params params;
	ratings		r;
	double		worst_user = 0.0;
	double		worst_item = 0.0;
	double		fit;
	double		held_out;
	int64_t		n;
	int64_t		n_train;
	int32_t		u,
				i;
	int			j;
	int			pass;
	kp_status	status;

	for (u = 0; u < N_USERS; u++)
	{
		bu[u] = rng_unit() - 0.5;
		for (j = 0; j < RANK; j++)
			P[u][j] = rng_unit() - 0.5;
	}
	for (i = 0; i < N_ITEMS; i++)
	{
		bi[i] = 0.8 * (rng_unit() - 0.5);
		for (j = 0; j < RANK; j++)
			Q[i][j] = 1.5 * (rng_unit() - 0.5);
	}
	/* centre the biases, so that μ is 3 */
	for (centre = 0, u = 0; u < N_USERS; u++)
		centre += bu[u] / N_USERS;
	for (u = 0; u < N_USERS; u++)
		bu[u] -= centre;
	for (centre = 0, i = 0; i < N_ITEMS; i++)
		centre += bi[i] / N_ITEMS;
	for (i = 0; i < N_ITEMS; i++)
		bi[i] -= centre;

	kp_als_default_params(&params);
	params.factors = RANK;
	params.iterations = 60;
	params.regularization = 1e-5f;
	params.missing_weight = 0.0f;

	/* the training pairs first, then the held-out ones (every third-ish) */
	n_train = 0;
	for (pass = 0; pass < 2; pass++)
		for (u = 0; u < N_USERS; u++)
			for (i = 0; i < N_ITEMS; i++)
			{
				double		v = 3.0 + bu[u] + bi[i];

				if ((pass == 0) == ((u * 7 + i * 3) % 10 < 3))
					continue;
				for (j = 0; j < RANK; j++)
					v += P[u][j] * Q[i][j];
				rows[n_train] = u;
				cols[n_train] = i;
				vals[n_train++] = (float) v;
			}
	n = n_train;
	for (n_train = 0; n_train < n && !((rows[n_train] * 7 + cols[n_train] * 3) % 10 < 3); n_train++)
		;

	ratings_from(N_USERS, N_ITEMS, n, rows, cols, vals, &r);
	status = kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y, NULL, NULL, NULL, NULL);
	fit = kp_als_rmse(&r.R, X, Y, RANK);
	unit_ok(status == KP_OK && fit < 2e-3,
			"a complete rank-3 matrix with biases is fitted (training RMSE %.2g)", fit);
	ratings_free(&r);

	ratings_from(N_USERS, N_ITEMS, n_train, rows, cols, vals, &r);
	status = kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y, NULL, NULL, NULL, NULL);
	fit = kp_als_rmse(&r.R, X, Y, RANK);
	held_out = rmse_on(X, Y, RANK, n - n_train, rows + n_train, cols + n_train, vals + n_train);
	unit_ok(status == KP_OK && fit < 2e-3 && held_out < 0.02,
			"and completed from %d%% of its entries (training RMSE %.2g, held-out %.2g)",
			(int) (100 * n_train / n), fit, held_out);
	ratings_free(&r);

	/* biases alone, with one user and one item without ratings */
	for (n = 0, u = 0; u < N_USERS; u++)
		for (i = 0; i < N_ITEMS; i++)
		{
			rows[n] = u;
			cols[n] = i;
			vals[n++] = (float) (3.0 + bu[u] + bi[i]);
		}
	ratings_from(N_USERS + 1, N_ITEMS + 1, n, rows, cols, vals, &r);
	params.factors = 4;
	params.iterations = 30;
	params.regularization = 0.05f;
	status = kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y, NULL, NULL, NULL, NULL);
	for (u = 0; u < N_USERS; u++)
		worst_user = fmax(worst_user, fabs(X[u * KP_ALS_VECTOR_DIMS(4) + 5] - (3.0 + bu[u] / (1 + params.regularization))));
	for (i = 0; i < N_ITEMS; i++)
		worst_item = fmax(worst_item, fabs(Y[i * KP_ALS_VECTOR_DIMS(4) + 4] - bi[i] / (1 + params.regularization)));
	unit_ok(status == KP_OK && worst_user < 1e-4 && worst_item < 1e-4,
			"biases alone: μ + b_u and b_i are recovered, shrunk by weighted-λ to "
			"b/(1 + λ) (worst errors %.2g, %.2g)", worst_user, worst_item);
	unit_ok(fabs(X[N_USERS * KP_ALS_VECTOR_DIMS(4) + 5] - 3.0) < 1e-5,
			"and μ, which a user without ratings holds, is the mean rating 3 (%.6f)",
			X[N_USERS * KP_ALS_VECTOR_DIMS(4) + 5]);
	ratings_free(&r);

	free(rows);
	free(cols);
	free(vals);
	free(X);
	free(Y);
}

/*
 * Ratings multiplied by 4: biases × 4 and factors × 2, bit for bit; huge
 * and tiny ratings train to finite vectors.
 */
static void
test_scale(void)
{
	enum
	{
		N_USERS = 50, N_ITEMS = 40, F = 4
	};
	kp_als_params params;
	ratings		r;
	ratings		scaled;
	float	   *X = vectors(N_USERS, F);
	float	   *Y = vectors(N_ITEMS, F);
	float	   *X4 = vectors(N_USERS, F);
	float	   *Y4 = vectors(N_ITEMS, F);
	size_t		dims = KP_ALS_VECTOR_DIMS(F);
	int			exact = 1;
	int			finite;
	double		rel_rmse[3];
	double		factors[3] = {4.0, 1e36, 1e-36};
	int			c;
	int32_t		row;
	int64_t		k;
	size_t		j;

	random_ratings(N_USERS, N_ITEMS, 10, &r);
	kp_als_default_params(&params);
	params.factors = F;
	kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y, NULL, NULL, NULL, NULL);

	for (c = 0; c < 3; c++)
	{
		/* the same pattern as r with every rating multiplied */
		scaled.R = r.R;
		scaled.Rt = r.Rt;
		scaled.R.values = malloc(sizeof(float) * r.R.nnz);
		scaled.Rt.values = malloc(sizeof(float) * r.R.nnz);
		for (k = 0; k < r.R.nnz; k++)
		{
			scaled.R.values[k] = (float) (r.R.values[k] * factors[c]);
			scaled.Rt.values[k] = (float) (r.Rt.values[k] * factors[c]);
		}
		unit_ok(kp_als_train(&kp_malloc_allocator, &scaled.R, &scaled.Rt, &params, X4, Y4,
							 NULL, NULL, NULL, NULL) == KP_OK,
				"ratings × %g train", factors[c]);
		finite = 1;
		for (j = 0; j < N_USERS * dims; j++)
			finite &= isfinite(X4[j]);
		for (j = 0; j < N_ITEMS * dims; j++)
			finite &= isfinite(Y4[j]);
		rel_rmse[c] = kp_als_rmse(&scaled.R, X4, Y4, F) / factors[c];
		/* the same up to the start values, which are not scaled alike */
		unit_ok(finite && unit_close(rel_rmse[c], kp_als_rmse(&r.R, X, Y, F), 1e-2),
				"ratings × %g: finite vectors, RMSE × %g (%.4f vs %.4f)", factors[c], factors[c],
				rel_rmse[c], kp_als_rmse(&r.R, X, Y, F));
		if (c == 0)
		{
			for (row = 0; row < N_USERS; row++)
			{
				for (j = 0; j < (size_t) F; j++)
					exact &= X4[row * dims + j] == 2.0f * X[row * dims + j];
				exact &= X4[row * dims + F] == 1.0f;
				exact &= X4[row * dims + F + 1] == 4.0f * X[row * dims + F + 1];
			}
			for (row = 0; row < N_ITEMS; row++)
			{
				for (j = 0; j < (size_t) F; j++)
					exact &= Y4[row * dims + j] == 2.0f * Y[row * dims + j];
				exact &= Y4[row * dims + F] == 4.0f * Y[row * dims + F];
				exact &= Y4[row * dims + F + 1] == 1.0f;
			}
			unit_ok(exact, "ratings × 4: factors × 2 and biases × 4, bit for bit");
		}
		free(scaled.R.values);
		free(scaled.Rt.values);
	}

	/* ratings at the top of float: never NaN, at worst KP_ENUMERIC */
	{
		ratings		top = r;
		kp_status	status;

		top.R.values = malloc(sizeof(float) * r.R.nnz);
		top.Rt.values = malloc(sizeof(float) * r.R.nnz);
		for (k = 0; k < r.R.nnz; k++)
		{
			top.R.values[k] = FLT_MAX / (float) (1 + k % 3);
			top.Rt.values[k] = FLT_MAX;
		}
		/* a consistent transpose: values by (item, user) lookup */
		for (row = 0; row < r.Rt.n_rows; row++)
			for (k = r.Rt.indptr[row]; k < r.Rt.indptr[row + 1]; k++)
			{
				int32_t		user = r.Rt.indices[k];
				int64_t		m;

				for (m = r.R.indptr[user]; m < r.R.indptr[user + 1]; m++)
					if (r.R.indices[m] == row)
						top.Rt.values[k] = top.R.values[m];
			}
		status = kp_als_train(&kp_malloc_allocator, &top.R, &top.Rt, &params, X4, Y4,
							  NULL, NULL, NULL, NULL);
		finite = 1;
		for (j = 0; j < N_USERS * dims; j++)
			finite &= isfinite(X4[j]);
		for (j = 0; j < N_ITEMS * dims; j++)
			finite &= isfinite(Y4[j]);
		unit_ok((status == KP_OK && finite) || status == KP_ENUMERIC,
				"ratings near FLT_MAX: finite vectors or KP_ENUMERIC, never NaN (status %d)",
				(int) status);
		free(top.R.values);
		free(top.Rt.values);
	}

	ratings_free(&r);
	free(X);
	free(Y);
	free(X4);
	free(Y4);
}

/* Iterations 0, empty rows, no ratings at all, equal ratings. */
static void
test_edges(void)
{
	enum
	{
		N_USERS = 30, N_ITEMS = 20, F = 3
	};
	kp_als_params params;
	model_constants c;
	ratings		r;
	ratings		none;
	float	   *X = vectors(N_USERS, F);
	float	   *Y = vectors(N_ITEMS, F);
	size_t		dims = KP_ALS_VECTOR_DIMS(F);
	int			ok = 1;
	int			small = 1;
	int32_t		row;
	int			j;

	random_ratings(N_USERS, N_ITEMS, 6, &r);
	kp_als_default_params(&params);
	params.factors = F;
	params.iterations = 0;
	constants_of(&r, &params, &c);
	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
						 NULL, NULL, NULL, NULL) == KP_OK, "0 iterations succeed");
	for (row = 0; row < N_USERS; row++)
	{
		const float *x = X + row * dims;

		ok &= x[F] == 1.0f && x[F + 1] == (float) c.mu;
		for (j = 0; j < F; j++)
		{
			ok &= row_empty(&r.R, row) ? x[j] == 0.0f : x[j] != 0.0f;
			small &= fabsf(x[j]) < 0.1f;
		}
	}
	for (row = 0; row < N_ITEMS; row++)
	{
		const float *y = Y + row * dims;

		ok &= y[F] == 0.0f && y[F + 1] == 1.0f;
		for (j = 0; j < F; j++)
		{
			ok &= row_empty(&r.Rt, row) ? y[j] == 0.0f : y[j] != 0.0f;
			small &= fabsf(y[j]) < 0.1f;
		}
	}
	unit_ok(ok && small,
			"0 iterations: small start factors (zero for empty rows), zero biases, μ = %.3f", c.mu);
	unit_ok(fabs(kp_als_predict(X, Y, F) - c.mu) < 0.01, "and every prediction is about μ");

	/* no ratings at all */
	ratings_from(5, 4, 0, NULL, NULL, NULL, &none);
	params.iterations = 3;
	ok = kp_als_train(&kp_malloc_allocator, &none.R, &none.Rt, &params, X, Y,
					  NULL, NULL, NULL, NULL) == KP_OK;
	for (row = 0; row < 5; row++)
		for (j = 0; j < F + 2; j++)
			ok &= X[row * dims + j] == (j == F ? 1.0f : 0.0f);
	for (row = 0; row < 4; row++)
		for (j = 0; j < F + 2; j++)
			ok &= Y[row * dims + j] == (j == F + 1 ? 1.0f : 0.0f);
	unit_ok(ok && kp_als_rmse(&none.R, X, Y, F) == 0.0,
			"no ratings: users [0, 1, 0], items [0, 0, 1], RMSE 0");
	ratings_free(&none);

	/* every rating the same: no spread, still finite and exact */
	{
		int32_t		rows[6] = {0, 0, 1, 2, 2, 3};
		int32_t		cols[6] = {0, 1, 1, 0, 2, 2};
		float		vals[6] = {4, 4, 4, 4, 4, 4};

		kp_status	status;
		double		fit;

		ratings_from(4, 3, 6, rows, cols, vals, &none);
		params.iterations = 5;
		params.missing_weight = 0.0f;
		status = kp_als_train(&kp_malloc_allocator, &none.R, &none.Rt, &params, X, Y,
							  NULL, NULL, NULL, NULL);
		fit = kp_als_rmse(&none.R, X, Y, F);
		unit_ok(status == KP_OK && fit < 1e-3,
				"equal ratings train and are predicted (RMSE %.2g)", fit);
		params.missing_weight = 2.0f;
		status = kp_als_train(&kp_malloc_allocator, &none.R, &none.Rt, &params, X, Y,
							  NULL, NULL, NULL, NULL);
		fit = kp_als_rmse(&none.R, X, Y, F);
		unit_ok(status == KP_OK && isfinite(fit),
				"and with unrated pairs weighing as much as 1 each (RMSE %.2g)", fit);
		ratings_free(&none);
	}

	ratings_free(&r);
	free(X);
	free(Y);
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
test_interrupts_and_bad_input(void)
{
	enum
	{
		N_USERS = 2000, N_ITEMS = 60, F = 4
	};
	kp_als_params params;
	ratings		r;
	float	   *X = vectors(N_USERS, F);
	float	   *Y = vectors(N_ITEMS, F);
	int			calls = 0;
	float		saved;
	kp_csr		wrong;
	kp_status	status;

	random_ratings(N_USERS, N_ITEMS, 3, &r);
	kp_als_default_params(&params);
	params.factors = F;
	params.iterations = 2;

	status = kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
						  count_only, &calls, NULL, NULL);
	unit_ok(status == KP_OK && calls >= 2 * (N_USERS / 256),
			"the interrupt callback runs at least every 256 rows (%d calls)", calls);
	calls = 0;
	status = kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
						  count_and_cancel, &calls, NULL, NULL);
	unit_ok(status == KP_ECANCELLED && calls == 3,
			"an interrupt callback returning nonzero cancels training at once");

	saved = r.R.values[5];
	r.R.values[5] = NAN;
	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
						 NULL, NULL, NULL, NULL) == KP_EINVAL, "a NaN rating is rejected");
	r.R.values[5] = INFINITY;
	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
						 NULL, NULL, NULL, NULL) == KP_EINVAL, "an infinite rating is rejected");
	r.R.values[5] = 0.0f;
	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
						 NULL, NULL, NULL, NULL) == KP_EINVAL, "a rating of 0 is rejected");
	r.R.values[5] = -2.0f;
	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
						 NULL, NULL, NULL, NULL) == KP_EINVAL, "a negative rating is rejected");
	r.R.values[5] = saved;

	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.R, &params, X, Y,
						 NULL, NULL, NULL, NULL) == KP_EINVAL,
			"item_users that is not the transpose's shape is rejected");
	wrong = r.Rt;
	wrong.nnz--;
	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &wrong, &params, X, Y,
						 NULL, NULL, NULL, NULL) == KP_EINVAL,
			"a transpose with another number of ratings is rejected");
	params.factors = 0;
	unit_ok(kp_als_train(&kp_malloc_allocator, &r.R, &r.Rt, &params, X, Y,
						 NULL, NULL, NULL, NULL) == KP_EINVAL, "invalid params are rejected");

	/* λ = 0 and users with fewer ratings than factors: singular systems */
	{
		int32_t		rows[4] = {0, 1, 1, 2};
		int32_t		cols[4] = {0, 0, 1, 1};
		float		vals[4] = {3, 4, 2, 5};
		ratings		few;
		int			finite = 1;
		int			j;

		ratings_from(3, 2, 4, rows, cols, vals, &few);
		params.factors = 8;
		params.regularization = 0.0f;
		params.missing_weight = 0.0f;
		status = kp_als_train(&kp_malloc_allocator, &few.R, &few.Rt, &params, X, Y,
							  NULL, NULL, NULL, NULL);
		for (j = 0; j < 3 * KP_ALS_VECTOR_DIMS(8); j++)
			finite &= isfinite(X[j]);
		unit_ok(status == KP_ENUMERIC || (status == KP_OK && finite),
				"λ = 0 with fewer ratings than factors: KP_ENUMERIC, never NaN (status %d)",
				(int) status);
		ratings_free(&few);
	}

	ratings_free(&r);
	free(X);
	free(Y);
}

int
main(void)
{
	test_check_params();
	test_exact_half_steps();
	test_long_row();
	test_training();
	test_recovery();
	test_scale();
	test_edges();
	test_interrupts_and_bad_input();
	return unit_done();
}
