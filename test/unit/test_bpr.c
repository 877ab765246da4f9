/*
 * test_bpr.c -- BPR: one SGD step against a double re-implementation,
 * parameter checks, determinism, ranking on a planted data set, the
 * augmented layout, start values, sampling by weight, extreme weights,
 * empty rows, the per-epoch loss, cancellation, malformed input and memory
 * accounting.
 */
#include <stdint.h>
#include <string.h>

#include "kp_bpr.h"
#include "kp_sparse.h"
#include "unit.h"

static uint64_t rng_state = 7;

static uint64_t
rng_next(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Builds a CSR matrix from triples; the test fails loudly if that fails. */
static void
csr_from(int32_t n_rows, int32_t n_cols, int64_t n, const int32_t *rows,
		 const int32_t *cols, const float *vals, kp_csr *out)
{
	kp_status	status = kp_csr_from_coo(&kp_malloc_allocator, n_rows, n_cols, n,
										 rows, cols, vals, out, NULL, NULL);

	if (status != KP_OK)
	{
		printf("Bail out! kp_csr_from_coo: %s\n", kp_status_message(status));
		exit(1);
	}
}

/*
 * The planted set: users 0 .. 2·per_group − 1, the first half in group 0;
 * items likewise, items_per_group per group.  Each user has each item of
 * its own group with probability 1/2 (at least one) and nothing else.
 */
static void
planted_csr(int32_t per_group, int32_t items_per_group, kp_csr *out)
{
	int32_t		n_users = 2 * per_group;
	int64_t		cap = (int64_t) n_users * items_per_group;
	int32_t    *rows = malloc(sizeof(int32_t) * cap);
	int32_t    *cols = malloc(sizeof(int32_t) * cap);
	float	   *vals = malloc(sizeof(float) * cap);
	int64_t		n = 0;
	int32_t		user;
	int32_t		k;

	for (user = 0; user < n_users; user++)
	{
		int32_t		group = user < per_group ? 0 : 1;
		int64_t		row_start = n;

		for (k = 0; k < items_per_group; k++)
		{
			if (rng_next() & 1)
			{
				rows[n] = user;
				cols[n] = group * items_per_group + k;
				vals[n] = 1.0f;
				n++;
			}
		}
		if (n == row_start)
		{
			rows[n] = user;
			cols[n] = group * items_per_group;
			vals[n] = 1.0f;
			n++;
		}
	}
	csr_from(n_users, 2 * items_per_group, n, rows, cols, vals, out);
	free(rows);
	free(cols);
	free(vals);
}

static double
score(const float *user_vectors, const float *item_vectors, int32_t f,
	  int32_t user, int32_t item)
{
	size_t		width = (size_t) f + 1;
	double		sum = 0.0;
	int32_t		k;

	for (k = 0; k <= f; k++)
		sum += (double) user_vectors[user * width + k] * item_vectors[item * width + k];
	return sum;
}

static int
row_has(const kp_csr *m, int32_t row, int32_t col)
{
	int64_t		k;

	for (k = m->indptr[row]; k < m->indptr[row + 1]; k++)
	{
		if (m->indices[k] == col)
			return 1;
	}
	return 0;
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

static int
starts_with(const char *message, const char *prefix)
{
	return message && strncmp(message, prefix, strlen(prefix)) == 0;
}

static void
test_check_params(void)
{
	kp_bpr_params params;
	kp_bpr_params bad;
	kp_csr		m;
	int32_t		rows[] = {0};
	int32_t		cols[] = {0};
	float		vals[] = {1.0f};
	float		U[4];
	float		V[8];

	kp_bpr_default_params(&params);
	unit_ok(kp_bpr_check_params(&params) == NULL && params.factors == 64 &&
			params.epochs == 100 && params.learning_rate == 0.01f &&
			params.regularization == 0.01f && params.seed == KP_DEFAULT_SEED,
			"defaults are valid: 64 factors, 100 epochs, learning rate and regularization 0.01");

	bad = params;
	bad.factors = 0;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "factors"), "factors = 0");
	bad = params;
	bad.factors = KP_MAX_FACTORS + 1;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "factors"), "factors too large");
	bad = params;
	bad.epochs = -1;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "epochs"), "negative epochs");
	bad = params;
	bad.epochs = KP_BPR_MAX_EPOCHS + 1;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "epochs"), "too many epochs");
	bad = params;
	bad.learning_rate = 0.0f;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "learning_rate"), "learning_rate = 0");
	bad = params;
	bad.learning_rate = -0.01f;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "learning_rate"), "negative learning_rate");
	bad = params;
	bad.learning_rate = 1.5f;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "learning_rate"), "learning_rate > 1");
	bad = params;
	bad.learning_rate = NAN;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "learning_rate"), "NaN learning_rate");
	bad = params;
	bad.regularization = -0.1f;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "regularization"), "negative regularization");
	bad = params;
	bad.regularization = INFINITY;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "regularization"), "infinite regularization");
	bad = params;
	bad.regularization = NAN;
	unit_ok(starts_with(kp_bpr_check_params(&bad), "regularization"), "NaN regularization");

	params.factors = 3;
	params.learning_rate = 1.0f;
	params.regularization = 0.0f;
	params.epochs = 0;
	unit_ok(kp_bpr_check_params(&params) == NULL, "bounds are inclusive: learning_rate 1, "
			"regularization 0, epochs 0");

	csr_from(1, 2, 1, rows, cols, vals, &m);
	bad = params;
	bad.learning_rate = 2.0f;
	unit_ok(kp_bpr_train(&kp_malloc_allocator, &m, &bad, U, V, NULL, NULL, NULL,
						 NULL, NULL) == KP_EINVAL &&
			kp_bpr_train_bytes(&m, &bad) == SIZE_MAX,
			"kp_bpr_train and kp_bpr_train_bytes reject invalid params");
	unit_ok(kp_bpr_train(&kp_malloc_allocator, &m, &params, NULL, V, NULL, NULL, NULL,
						 NULL, NULL) == KP_EINVAL,
			"kp_bpr_train rejects missing output vectors");
	kp_csr_free(&kp_malloc_allocator, &m);
}

/*
 * One user with item 0 of two items and one epoch: exactly one triple,
 * (0, 0, 1), whose step is recomputed in double from kp_bpr_init's values.
 */
static void
test_one_step(void)
{
	kp_bpr_params params;
	kp_csr		m;
	int32_t		rows[] = {0};
	int32_t		cols[] = {0};
	float		vals[] = {1.0f};
	enum
	{
		F = 20, W = F + 1
	};
	float		U[W],
				V[2 * W],
				U0[W],
				V0[2 * W];
	double		x = 0.0;
	double		z;
	double		loss = -1.0;
	double		eta;
	double		lambda;
	double		worst = 0.0;
	int			k;
	kp_status	status;

	kp_bpr_default_params(&params);
	params.factors = F;
	params.epochs = 1;
	params.learning_rate = 0.25f;
	params.regularization = 0.5f;
	params.seed = 99;
	eta = params.learning_rate;
	lambda = params.regularization;
	csr_from(1, 2, 1, rows, cols, vals, &m);
	kp_bpr_init(U0, 1, V0, 2, F, params.seed);
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, &loss, NULL, NULL,
						  NULL, NULL);

	for (k = 0; k <= F; k++)
		x += (double) U0[k] * ((double) V0[k] - V0[W + k]);
	z = 1.0 / (1.0 + exp(x));
	for (k = 0; k < F; k++)
	{
		double		p = U0[k];
		double		qi = V0[k];
		double		qj = V0[W + k];
		double		want_p = p + eta * (z * (qi - qj) - lambda * p);
		double		want_qi = qi + eta * (z * p - lambda * qi);
		double		want_qj = qj + eta * (-z * p - lambda * qj);

		worst = fmax(worst, fabs(U[k] - want_p));
		worst = fmax(worst, fabs(V[k] - want_qi));
		worst = fmax(worst, fabs(V[W + k] - want_qj));
	}
	worst = fmax(worst, fabs(V[F] - (V0[F] + eta * (z - lambda * V0[F]))));
	worst = fmax(worst, fabs(V[W + F] - (V0[W + F] + eta * (-z - lambda * V0[W + F]))));
	unit_ok(status == KP_OK && worst < 1e-6,
			"one SGD step matches the update rule recomputed in double (max error %.2g)", worst);
	unit_ok(U[F] == 1.0f, "the step leaves the user's last component at 1");
	unit_ok(unit_close(loss, log1p(exp(-x)), 1e-5),
			"the epoch's loss is -ln sigma(x) of its one triple (%.6f)", loss);
	kp_csr_free(&kp_malloc_allocator, &m);
}

static void
test_start_values(void)
{
	kp_bpr_params params;
	kp_csr		m;
	/* user 1 has no interactions, item 3 nobody has */
	int32_t		rows[] = {0, 0, 2, 2};
	int32_t		cols[] = {0, 1, 1, 2};
	float		vals[] = {1.0f, 2.0f, 1.0f, 1.0f};
	enum
	{
		F = 5, W = F + 1
	};
	float		U[3 * W],
				V[4 * W],
				U0[3 * W],
				V0[4 * W];
	double		loss = -1.0;
	int			in_range = 1;
	int			k;
	kp_status	status;

	kp_bpr_default_params(&params);
	params.factors = F;
	params.epochs = 0;
	csr_from(3, 4, 4, rows, cols, vals, &m);
	kp_bpr_init(U0, 3, V0, 4, F, params.seed);
	for (k = 0; k < 3 * W; k++)
	{
		if (k % W != F && !(U0[k] >= -0.5f / F && U0[k] < 0.5f / F))
			in_range = 0;
	}
	for (k = 0; k < 4 * W; k++)
	{
		if (!(V0[k] >= -0.5f / F && V0[k] < 0.5f / F))
			in_range = 0;
	}
	unit_ok(in_range && U0[F] == 1.0f && U0[2 * W - 1] == 1.0f && U0[3 * W - 1] == 1.0f,
			"kp_bpr_init: factors and biases in [-0.5/f, 0.5/f), users' last component 1");

	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, &loss, NULL, NULL,
						  NULL, NULL);
	unit_ok(status == KP_OK && loss == 0.0, "epochs = 0 trains nothing; the loss is 0");
	unit_ok(memcmp(V, V0, sizeof(V)) == 0, "epochs = 0 leaves the items' start values");
	unit_ok(memcmp(U, U0, W * sizeof(float)) == 0 &&
			memcmp(U + 2 * W, U0 + 2 * W, W * sizeof(float)) == 0,
			"epochs = 0 leaves the start values of users with interactions");
	in_range = 1;
	for (k = 0; k < F; k++)
	{
		if (U[W + k] != 0.0f)
			in_range = 0;
	}
	unit_ok(in_range && U[W + F] == 1.0f,
			"a user without interactions gets zero factors and the final 1");

	kp_bpr_init(U, 3, V, 4, F, params.seed + 1);
	unit_ok(memcmp(U, U0, sizeof(U)) != 0 && memcmp(V, V0, sizeof(V)) != 0,
			"another seed gives other start values");
	kp_csr_free(&kp_malloc_allocator, &m);
}

/* on_epoch's record of the loss the trainer wrote before calling it. */
typedef struct loss_log
{
	const double *loss;
	double		values[64];
	int32_t		epochs_seen;
	int32_t		cancel_at;		/* 0: never */
} loss_log;

static int
record_loss(void *arg, int32_t epoch)
{
	loss_log   *seen = arg;

	if (epoch == seen->epochs_seen + 1 && epoch <= 64)
		seen->values[epoch - 1] = *seen->loss;
	seen->epochs_seen++;
	return seen->cancel_at != 0 && epoch >= seen->cancel_at;
}

static void
test_planted(void)
{
	kp_bpr_params params;
	kp_csr		m;
	int32_t		per_group = 30;
	int32_t		items_per_group = 20;
	int32_t		n_users = 2 * per_group;
	int32_t		n_items = 2 * items_per_group;
	int32_t		f;
	size_t		width;
	float	   *U;
	float	   *V;
	float	   *U2;
	float	   *V2;
	double		loss = 0.0;
	double		loss2 = 0.0;
	loss_log	epochs_log;
	int64_t		ordered = 0;
	int64_t		pairs = 0;
	int			users_right = 0;
	int			ones = 1;
	int32_t		user;
	int32_t		item;
	int32_t		other;
	kp_status	status;

	planted_csr(per_group, items_per_group, &m);
	kp_bpr_default_params(&params);
	params.factors = f = 4;
	params.regularization = 0.05f;
	params.epochs = 60;
	params.learning_rate = 0.05f;
	width = (size_t) f + 1;
	U = malloc(sizeof(float) * n_users * width);
	V = malloc(sizeof(float) * n_items * width);
	U2 = malloc(sizeof(float) * n_users * width);
	V2 = malloc(sizeof(float) * n_items * width);

	memset(&epochs_log, 0, sizeof(epochs_log));
	epochs_log.loss = &loss;
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, &loss, NULL, NULL,
						  record_loss, &epochs_log);
	unit_ok(status == KP_OK && epochs_log.epochs_seen == params.epochs,
			"training on the planted set succeeds; on_epoch runs once per epoch");

	/* unseen items of the user's own group above every item of the other */
	for (user = 0; user < n_users; user++)
	{
		int32_t		group = user < per_group ? 0 : 1;
		int			right = 1;

		for (item = group * items_per_group; item < (group + 1) * items_per_group; item++)
		{
			if (row_has(&m, user, item))
				continue;
			for (other = (1 - group) * items_per_group;
				 other < (2 - group) * items_per_group; other++)
			{
				int			ok = score(U, V, f, user, item) > score(U, V, f, user, other);

				ordered += ok;
				pairs++;
				right &= ok;
			}
		}
		users_right += right;
	}
	unit_ok(pairs > 0 && ordered == pairs,
			"every user ranks every unseen item of its group above the other group's "
			"(%lld of %lld pairs, %d of %d users)",
			(long long) ordered, (long long) pairs, users_right, n_users);

	for (user = 0; user < n_users; user++)
		ones &= U[user * width + f] == 1.0f;
	unit_ok(ones, "every user's last component is exactly 1 after training");
	unit_ok(all_finite(U, n_users * width) && all_finite(V, n_items * width),
			"all vectors are finite");

	/* the loss, as on_epoch sees it */
	unit_ok(fabs(epochs_log.values[0] - log(2.0)) < 0.05,
			"the first epoch's loss is about ln 2 from the small start values (%.4f)",
			epochs_log.values[0]);
	unit_ok(epochs_log.values[0] > epochs_log.values[4] && epochs_log.values[4] > epochs_log.values[19] &&
			epochs_log.values[19] > epochs_log.values[59],
			"the loss falls over the epochs (%.4f, %.4f, %.4f, %.4f after 1, 5, 20, 60)",
			epochs_log.values[0], epochs_log.values[4], epochs_log.values[19], epochs_log.values[59]);
	unit_ok(loss == epochs_log.values[59], "last_epoch_loss ends as the last epoch's loss");

	/* determinism */
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U2, V2, &loss2, NULL, NULL,
						  NULL, NULL);
	unit_ok(status == KP_OK && memcmp(U, U2, sizeof(float) * n_users * width) == 0 &&
			memcmp(V, V2, sizeof(float) * n_items * width) == 0 && loss == loss2,
			"the same input and params give the same bits");
	params.seed++;
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U2, V2, &loss2, NULL, NULL,
						  NULL, NULL);
	unit_ok(status == KP_OK && memcmp(U, U2, sizeof(float) * n_users * width) != 0 &&
			memcmp(V, V2, sizeof(float) * n_items * width) != 0,
			"another seed gives other vectors");

	/* cancellation from on_epoch */
	memset(&epochs_log, 0, sizeof(epochs_log));
	epochs_log.loss = &loss;
	epochs_log.cancel_at = 3;
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U2, V2, &loss, NULL, NULL,
						  record_loss, &epochs_log);
	unit_ok(status == KP_ECANCELLED && epochs_log.epochs_seen == 3,
			"on_epoch returning nonzero cancels after that epoch");

	kp_csr_free(&kp_malloc_allocator, &m);
	free(U);
	free(V);
	free(U2);
	free(V2);
}

/*
 * Every user has items 0 and 1, with weights w0 and w1, and no other item
 * of n_items; items 0 and 1 are therefore never negatives, and their
 * biases grow by η·σ(−x) each time they are drawn as positives.  Returns
 * the growth of the two biases over the epochs.
 */
static void
bias_growth(float w0, float w1, int32_t epochs, double *growth0, double *growth1)
{
	int32_t		n_users = 200;
	int32_t		n_items = 40;
	int32_t		f = 4;
	size_t		width = (size_t) f + 1;
	int32_t    *rows = malloc(sizeof(int32_t) * 2 * n_users);
	int32_t    *cols = malloc(sizeof(int32_t) * 2 * n_users);
	float	   *vals = malloc(sizeof(float) * 2 * n_users);
	float	   *U = malloc(sizeof(float) * n_users * width);
	float	   *V = malloc(sizeof(float) * n_items * width);
	float	   *V0 = malloc(sizeof(float) * n_items * width);
	kp_bpr_params params;
	kp_csr		m;
	int32_t		user;

	for (user = 0; user < n_users; user++)
	{
		rows[2 * user] = rows[2 * user + 1] = user;
		cols[2 * user] = 0;
		cols[2 * user + 1] = 1;
		vals[2 * user] = w0;
		vals[2 * user + 1] = w1;
	}
	csr_from(n_users, n_items, 2 * n_users, rows, cols, vals, &m);
	kp_bpr_default_params(&params);
	params.factors = f;
	params.epochs = epochs;
	params.learning_rate = 1e-5f;
	params.regularization = 0.0f;
	kp_bpr_init(U, n_users, V0, n_items, f, params.seed);
	if (kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, NULL, NULL,
					 NULL, NULL) != KP_OK)
		*growth0 = *growth1 = NAN;
	else
	{
		*growth0 = (double) V[f] - V0[f];
		*growth1 = (double) V[width + f] - V0[width + f];
	}
	kp_csr_free(&kp_malloc_allocator, &m);
	free(rows);
	free(cols);
	free(vals);
	free(U);
	free(V);
	free(V0);
}

static void
test_weights(void)
{
	double		g0;
	double		g1;

	bias_growth(1.0f, 1.0f, 20, &g0, &g1);
	unit_ok(g0 > 0.0 && g1 > 0.0 && fabs(g0 / g1 - 1.0) < 0.15,
			"equal weights: both positives are drawn about equally often (ratio %.3f)",
			g0 / g1);
	bias_growth(3.0f, 1.0f, 20, &g0, &g1);
	unit_ok(g1 > 0.0 && fabs(g0 / g1 - 3.0) < 0.35,
			"weights 3 and 1: the first positive is drawn about 3 times as often (ratio %.3f)",
			g0 / g1);
	bias_growth(100.0f, 1.0f, 20, &g0, &g1);
	unit_ok(g1 >= 0.0 && g0 > 30.0 * g1,
			"weights 100 and 1: the first positive's score rises far faster (%.4f against %.5f)",
			g0, g1);
	bias_growth(1e-30f, 1e-30f, 20, &g0, &g1);
	unit_ok(g0 > 0.0 && g1 > 0.0 && fabs(g0 / g1 - 1.0) < 0.15,
			"equal tiny weights (1e-30) sample like equal weights (ratio %.3f)", g0 / g1);
	bias_growth(3e30f, 1e30f, 20, &g0, &g1);
	unit_ok(g1 > 0.0 && fabs(g0 / g1 - 3.0) < 0.35,
			"weights 3e30 and 1e30 sample like 3 and 1 (ratio %.3f)", g0 / g1);
}

/* Mixed extreme weights, empty rows, a user with every item. */
static void
test_extremes(void)
{
	kp_bpr_params params;
	kp_csr		m;
	/*
	 * user 0: weights 1e30 and 1e-30; user 1: empty; user 2: all 1e30;
	 * user 3: all 1e-30; user 4: FLT_MAX-sized weights; user 5: every item;
	 * user 6: empty.
	 */
	int32_t		rows[] = {0, 0, 0, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5, 5, 5, 5};
	int32_t		cols[] = {0, 1, 2, 1, 3, 0, 2, 4, 4, 5, 0, 1, 2, 3, 4, 5};
	float		vals[] = {1e30f, 1e-30f, 1.0f, 1e30f, 1e30f, 1e-30f, 1e-30f, 1e-30f,
		3e38f, 3e38f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
	enum
	{
		F = 6, W = F + 1, N_USERS = 7, N_ITEMS = 6
	};
	float		U[N_USERS * W],
				V[N_ITEMS * W],
				U0[N_USERS * W],
				V0[N_ITEMS * W];
	double		loss = -1.0;
	int			zeros = 1;
	int			k;
	kp_status	status;

	csr_from(N_USERS, N_ITEMS, 16, rows, cols, vals, &m);
	kp_bpr_default_params(&params);
	params.factors = F;
	params.epochs = 200;
	params.learning_rate = 0.1f;
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, &loss, NULL, NULL,
						  NULL, NULL);
	unit_ok(status == KP_OK && all_finite(U, sizeof(U) / sizeof(float)) &&
			all_finite(V, sizeof(V) / sizeof(float)) && isfinite(loss) && loss > 0.0,
			"weights from 1e-30 to 3e38 train without NaN or infinity (loss %.4f)", loss);
	for (k = 0; k < F; k++)
		zeros &= U[W + k] == 0.0f && U[6 * W + k] == 0.0f;
	unit_ok(zeros && U[W + F] == 1.0f && U[6 * W + F] == 1.0f,
			"users without interactions end with zero factors and the final 1");
	kp_bpr_init(U0, N_USERS, V0, N_ITEMS, F, params.seed);
	unit_ok(memcmp(U + 5 * W, U0 + 5 * W, W * sizeof(float)) == 0,
			"a user who has every item has no negatives and keeps its start values");
	zeros = 1;
	for (k = 0; k < 4; k++)
		zeros &= score(U, V, F, 4, 4) > score(U, V, F, 4, k) &&
			score(U, V, F, 4, 5) > score(U, V, F, 4, k);
	unit_ok(zeros, "the user of the 3e38 weights ranks its items above the others");
	kp_csr_free(&kp_malloc_allocator, &m);
}

static void
test_no_triples(void)
{
	kp_bpr_params params;
	kp_csr		m;
	int32_t		rows[] = {1, 1};
	int32_t		cols[] = {0, 1};
	float		vals[] = {1.0f, 1.0f};
	float		U[3 * 5];
	float		V[2 * 5];
	double		loss = -1.0;
	loss_log	epochs_log;
	kp_status	status;

	kp_bpr_default_params(&params);
	params.factors = 4;
	params.epochs = 7;
	memset(&epochs_log, 0, sizeof(epochs_log));
	epochs_log.loss = &loss;

	csr_from(3, 2, 0, rows, cols, vals, &m);
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, &loss, NULL, NULL,
						  record_loss, &epochs_log);
	unit_ok(status == KP_OK && loss == 0.0 && epochs_log.epochs_seen == 7 && U[4] == 1.0f &&
			U[5] == 0.0f && all_finite(V, 10),
			"no interactions at all: every epoch is empty, the loss 0, on_epoch still runs");
	unit_ok(kp_bpr_train_bytes(&m, &params) == 0, "no interactions: no working memory");
	kp_csr_free(&kp_malloc_allocator, &m);

	/* the only user with interactions has every item */
	csr_from(3, 2, 2, rows, cols, vals, &m);
	epochs_log.epochs_seen = 0;
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, &loss, NULL, NULL,
						  record_loss, &epochs_log);
	unit_ok(status == KP_OK && loss == 0.0 && epochs_log.epochs_seen == 7,
			"no user with a negative: no triples, loss 0");
	kp_csr_free(&kp_malloc_allocator, &m);

	csr_from(0, 0, 0, rows, cols, vals, &m);
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, &loss, NULL, NULL,
						  NULL, NULL);
	unit_ok(status == KP_OK, "an empty 0 x 0 matrix trains to nothing");
	kp_csr_free(&kp_malloc_allocator, &m);
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

static int
cancel_at_once(void *arg)
{
	(void) arg;
	return 1;
}

/* A random matrix: n_rows users with about per_row items each of n_cols. */
static void
random_csr(int32_t n_rows, int32_t n_cols, int32_t per_row, int weighted, kp_csr *out)
{
	int64_t		n = (int64_t) n_rows * per_row;
	int32_t    *rows = malloc(sizeof(int32_t) * n);
	int32_t    *cols = malloc(sizeof(int32_t) * n);
	float	   *vals = malloc(sizeof(float) * n);
	int64_t		k;

	for (k = 0; k < n; k++)
	{
		rows[k] = (int32_t) (k / per_row);
		cols[k] = (int32_t) (rng_next() % (uint64_t) n_cols);
		vals[k] = (float) (1 + rng_next() % 5);
	}
	csr_from(n_rows, n_cols, n, rows, cols, vals, out);
	/* all weights equal, duplicates included */
	for (k = 0; k < out->nnz && !weighted; k++)
		out->values[k] = 1.0f;
	free(rows);
	free(cols);
	free(vals);
}

static void
test_interrupts_and_memory(void)
{
	kp_bpr_params params;
	kp_csr		m;
	int32_t		n_users = 3000;
	int32_t		n_items = 500;
	float	   *U = malloc(sizeof(float) * n_users * 9);
	float	   *V = malloc(sizeof(float) * n_items * 9);
	unit_counting counting;
	kp_allocator alloc;
	int			calls = 0;
	int			weighted;
	int			fail_at;
	int			leaks = 0;
	int			enomem = 1;
	kp_status	status;

	kp_bpr_default_params(&params);
	params.factors = 8;
	params.epochs = 3;
	random_csr(n_users, n_items, 10, 0, &m);

	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, count_only, &calls,
						  NULL, NULL);
	unit_ok(status == KP_OK && calls >= 3 * (int) (m.nnz / 4096),
			"the interrupt callback runs every few thousand triples (%d calls for %lld "
			"triples)", calls, (long long) (3 * m.nnz));
	calls = 0;
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, count_and_cancel,
						  &calls, NULL, NULL);
	unit_ok(status == KP_ECANCELLED && calls == 3,
			"an interrupt callback returning nonzero cancels training");

	for (weighted = 0; weighted <= 1; weighted++)
	{
		size_t		bytes;

		if (weighted)
		{
			kp_csr_free(&kp_malloc_allocator, &m);
			random_csr(n_users, n_items, 10, 1, &m);
		}
		bytes = kp_bpr_train_bytes(&m, &params);
		memset(&counting, 0, sizeof(counting));
		alloc = unit_counting_allocator(&counting);
		status = kp_bpr_train(&alloc, &m, &params, U, V, NULL, NULL, NULL, NULL, NULL);
		unit_ok(status == KP_OK && counting.live == 0 && counting.total_bytes == bytes,
				"%s: kp_bpr_train allocates what kp_bpr_train_bytes says (%zu bytes) and "
				"frees it", weighted ? "weighted" : "unweighted", bytes);
		unit_ok(weighted ? bytes >= (size_t) m.nnz * 9 : bytes < (size_t) m.nnz * 2 +
				(size_t) n_users * 20 + 64,
				"%s: %s", weighted ? "weighted" : "unweighted",
				weighted ? "8 bytes per interaction for the positives' tables"
				: "no per-interaction tables");

		for (fail_at = 1; fail_at <= 4; fail_at++)
		{
			memset(&counting, 0, sizeof(counting));
			counting.fail_at = fail_at;
			alloc = unit_counting_allocator(&counting);
			status = kp_bpr_train(&alloc, &m, &params, U, V, NULL, NULL, NULL, NULL, NULL);
			if (counting.live != 0)
				leaks++;
			if (counting.calls >= fail_at && status != KP_ENOMEM)
				enomem = 0;
		}
		unit_ok(enomem && leaks == 0,
				"%s: each failing allocation gives KP_ENOMEM and leaks nothing",
				weighted ? "weighted" : "unweighted");

		memset(&counting, 0, sizeof(counting));
		alloc = unit_counting_allocator(&counting);
		status = kp_bpr_train(&alloc, &m, &params, U, V, NULL, cancel_at_once, NULL,
							  NULL, NULL);
		unit_ok(status == KP_ECANCELLED && counting.live == 0,
				"%s: cancelled before the first epoch, nothing leaks",
				weighted ? "weighted" : "unweighted");
	}

	/* a step that overshoots: λη > 1 flips the sign and grows without bound */
	params.learning_rate = 1.0f;
	params.regularization = 1e30f;
	params.epochs = 20;
	status = kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, NULL, NULL,
						  NULL, NULL);
	unit_ok(status == KP_ENUMERIC, "diverging vectors give KP_ENUMERIC");

	kp_csr_free(&kp_malloc_allocator, &m);
	free(U);
	free(V);
}

static void
test_malformed(void)
{
	kp_bpr_params params;
	kp_csr		m;
	int32_t		rows[] = {0, 0, 1};
	int32_t		cols[] = {0, 2, 1};
	float		vals[] = {1.0f, 1.0f, 1.0f};
	float		U[2 * 5];
	float		V[3 * 5];
	int32_t		saved_col;
	float		saved_val;
	int64_t		saved_ptr;

	kp_bpr_default_params(&params);
	params.factors = 4;
	params.epochs = 2;
	csr_from(2, 3, 3, rows, cols, vals, &m);
	unit_ok(kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, NULL, NULL,
						 NULL, NULL) == KP_OK, "a well-formed matrix trains");

	saved_col = m.indices[1];
	m.indices[1] = 0;
	unit_ok(kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, NULL, NULL,
						 NULL, NULL) == KP_EINVAL, "columns not increasing in a row: KP_EINVAL");
	m.indices[1] = 3;
	unit_ok(kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, NULL, NULL,
						 NULL, NULL) == KP_EINVAL, "a column out of range: KP_EINVAL");
	m.indices[1] = saved_col;

	saved_val = m.values[2];
	m.values[2] = 0.0f;
	unit_ok(kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, NULL, NULL,
						 NULL, NULL) == KP_EINVAL, "a zero weight: KP_EINVAL");
	m.values[2] = NAN;
	unit_ok(kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, NULL, NULL,
						 NULL, NULL) == KP_EINVAL, "a NaN weight: KP_EINVAL");
	m.values[2] = INFINITY;
	unit_ok(kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, NULL, NULL,
						 NULL, NULL) == KP_EINVAL, "an infinite weight: KP_EINVAL");
	m.values[2] = saved_val;

	saved_ptr = m.indptr[1];
	m.indptr[1] = 5;
	unit_ok(kp_bpr_train(&kp_malloc_allocator, &m, &params, U, V, NULL, NULL, NULL,
						 NULL, NULL) == KP_EINVAL, "row pointers beyond nnz: KP_EINVAL");
	m.indptr[1] = saved_ptr;
	kp_csr_free(&kp_malloc_allocator, &m);
}

int
main(void)
{
	test_check_params();
	test_one_step();
	test_start_values();
	test_planted();
	test_weights();
	test_extremes();
	test_no_triples();
	test_interrupts_and_memory();
	test_malformed();
	return unit_done();
}
