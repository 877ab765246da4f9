/*
 * test_score.c -- kp_score_topk must equal a full sort of kp_dot scores.
 */
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include "kp_score.h"
#include "unit.h"

static uint64_t rng_state = 12345;

static float
uniform(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (float) ((rng_state >> 40) / (double) (1 << 24)) * 2.0f - 1.0f;
}

static const float *sort_scores;

static int
by_score_then_index(const void *a, const void *b)
{
	int32_t		ia = *(const int32_t *) a;
	int32_t		ib = *(const int32_t *) b;

	if (sort_scores[ia] != sort_scores[ib])
		return sort_scores[ia] > sort_scores[ib] ? -1 : 1;
	return ia < ib ? -1 : (ia > ib);
}

/* Brute force: every non-excluded, non-NaN row scored and fully sorted. */
static int32_t
reference_topk(const float *F, const float *x, int32_t n, int32_t f,
			   const int32_t *excluded, int64_t n_excluded, int32_t k,
			   int32_t *out_index, float *out_score)
{
	float	   *scores = malloc(sizeof(float) * n);
	int32_t    *order = malloc(sizeof(int32_t) * n);
	char	   *skip = calloc(n, 1);
	int32_t		m = 0;
	int32_t		i;

	for (i = 0; i < n_excluded; i++)
		skip[excluded[i]] = 1;
	for (i = 0; i < n; i++)
	{
		scores[i] = kp_dot(x, F + (size_t) i * f, f);
		if (!skip[i] && !isnan(scores[i]))
			order[m++] = i;
	}
	sort_scores = scores;
	qsort(order, m, sizeof(int32_t), by_score_then_index);
	if (m > k)
		m = k;
	for (i = 0; i < m; i++)
	{
		out_index[i] = order[i];
		out_score[i] = scores[order[i]];
	}
	free(scores);
	free(order);
	free(skip);
	return m;
}

/* When set, check_case lays the rows out along this direction. */
static const float *check_direction;

static int
check_case(const char *name, const float *F, const float *x, int32_t n, int32_t f,
		   const int32_t *excluded, int64_t n_excluded, int32_t k)
{
	kp_qmatrix	Q;
	kp_score_scratch scratch;
	int32_t    *got_index = malloc(sizeof(int32_t) * (k + 1));
	float	   *got_score = malloc(sizeof(float) * (k + 1));
	int32_t    *want_index = malloc(sizeof(int32_t) * (k + 1));
	float	   *want_score = malloc(sizeof(float) * (k + 1));
	int32_t		got;
	int32_t		want;
	int			same;

	if (kp_qmatrix_build_along(&kp_malloc_allocator, F, n, f, check_direction, &Q, NULL, NULL) != KP_OK ||
		kp_score_scratch_init(&kp_malloc_allocator, n, f, &scratch) != KP_OK)
	{
		unit_ok(0, "%s: allocation", name);
		return 0;
	}
	got = kp_score_topk(&Q, F, x, excluded, n_excluded, k, &scratch, got_index, got_score);
	want = reference_topk(F, x, n, f, excluded, n_excluded, k, want_index, want_score);
	same = got == want &&
		memcmp(got_index, want_index, sizeof(int32_t) * got) == 0 &&
		memcmp(got_score, want_score, sizeof(float) * got) == 0;
	unit_ok(same, "%s: %d rows equal the full sort", name, got);
	kp_qmatrix_free(&kp_malloc_allocator, &Q);
	kp_score_scratch_free(&kp_malloc_allocator, &scratch);
	free(got_index);
	free(got_score);
	free(want_index);
	free(want_score);
	return same;
}

static int
cancel_on_second_check(void *arg)
{
	return ++*(int *) arg >= 2;
}

/* Building the int8 copy of a big matrix stops when asked, leaving nothing. */
static void
test_build_cancelled(void)
{
	int32_t		n = 200000;
	float	   *F = calloc((size_t) n * 4, sizeof(float));
	kp_qmatrix	Q;
	int			calls = 0;

	unit_ok(kp_qmatrix_build(&kp_malloc_allocator, F, n, 4, &Q, cancel_on_second_check, &calls) ==
			KP_ECANCELLED && calls == 2 && Q.codes == NULL,
			"quantising 200,000 rows is cancelled at the second check");
	free(F);
}

static jmp_buf escape;

static int
count_checks(void *arg)
{
	++*(int *) arg;
	return 0;
}

static int
stop_when_counted_down(void *arg)
{
	return --*(int *) arg <= 0;
}

/* The way the server's callback leaves: a longjmp out of kp_score_topk. */
static int
jump_when_counted_down(void *arg)
{
	if (--*(int *) arg <= 0)
		longjmp(escape, 1);
	return 0;
}

static int
lanes_clear(const kp_score_scratch *scratch, int32_t n)
{
	int32_t		b;

	for (b = 0; b < (n + KP_SCORE_BLOCK - 1) / KP_SCORE_BLOCK; b++)
		if (scratch->excluded_lanes[b] != 0)
			return 0;
	return 1;
}

/*
 * Every user of 300,000 ranked (k = n) with 1,000 rows excluded: each pass
 * (scan, ordering, scoring, selection) calls the callback every 65,536
 * rows.  Stopped at any of those checks, by a return or by a longjmp out
 * while exclusions are marked, the next call still gives the full answer.
 */
static void
test_topk_cancelled(void)
{
	int32_t		n = 300000;
	int32_t		f = 4;
	float	   *F = malloc(sizeof(float) * n * f);
	float		x[4] = {0.5f, -1.0f, 0.25f, 2.0f};
	int32_t		excluded[1000];
	int32_t    *first_index = malloc(sizeof(int32_t) * n);
	float	   *first_score = malloc(sizeof(float) * n);
	int32_t    *got_index = malloc(sizeof(int32_t) * n);
	float	   *got_score = malloc(sizeof(float) * n);
	int32_t    *want_index = malloc(sizeof(int32_t) * n);
	float	   *want_score = malloc(sizeof(float) * n);
	kp_qmatrix	Q;
	kp_score_scratch scratch;
	int32_t		first;
	int32_t		i;
	int			checks = 0;
	int			stop;
	int			stopped_ok = 1;
	int			jumped_ok = 1;

	for (i = 0; i < n * f; i++)
		F[i] = uniform() * ((i / f) % 11 == 0 ? 4.0f : 1.0f);
	for (i = 0; i < 1000; i++)
		excluded[i] = i * 293;
	if (kp_qmatrix_build(&kp_malloc_allocator, F, n, f, &Q, NULL, NULL) != KP_OK ||
		kp_score_scratch_init(&kp_malloc_allocator, n, f, &scratch) != KP_OK)
	{
		unit_ok(0, "allocation for 300,000 rows");
		return;
	}
	first = kp_score_topk(&Q, F, x, excluded, 1000, n, &scratch, first_index, first_score);
	unit_ok(first == reference_topk(F, x, n, f, excluded, 1000, n, want_index, want_score) &&
			memcmp(first_index, want_index, sizeof(int32_t) * first) == 0 &&
			memcmp(first_score, want_score, sizeof(float) * first) == 0,
			"300,000 rows, k = n, 1,000 excluded: equal to the full sort (%d rows)", first);

	scratch.interrupt = count_checks;
	scratch.interrupt_arg = &checks;
	stopped_ok = kp_score_topk(&Q, F, x, excluded, 1000, n, &scratch, got_index, got_score) == first &&
		memcmp(got_index, first_index, sizeof(int32_t) * first) == 0;
	unit_ok(stopped_ok && checks >= 15,
			"a callback that never stops: the same rows, %d checks over the three passes", checks);

	scratch.interrupt = stop_when_counted_down;
	for (stop = 1; stop <= checks; stop++)
	{
		int			countdown = stop;

		scratch.interrupt_arg = &countdown;
		stopped_ok &= kp_score_topk(&Q, F, x, excluded, 1000, n, &scratch, got_index, got_score) == -1 &&
			countdown == 0 && lanes_clear(&scratch, n);
	}
	unit_ok(stopped_ok, "stopped at each of the %d checks: -1, no exclusion left marked", checks);

	for (stop = 1; stop <= checks; stop++)
	{
		volatile int countdown = stop;

		scratch.interrupt = jump_when_counted_down;
		scratch.interrupt_arg = (void *) &countdown;
		if (setjmp(escape) == 0)
		{
			kp_score_topk(&Q, F, x, excluded, 1000, n, &scratch, got_index, got_score);
			jumped_ok = 0;
		}
		scratch.interrupt = NULL;
		jumped_ok &= kp_score_topk(&Q, F, x, excluded, 1000, n, &scratch, got_index, got_score) == first &&
			memcmp(got_index, first_index, sizeof(int32_t) * first) == 0 &&
			memcmp(got_score, first_score, sizeof(float) * first) == 0 && lanes_clear(&scratch, n);
	}
	unit_ok(jumped_ok, "left by a longjmp at each check: the next call gives the full answer");

	kp_qmatrix_free(&kp_malloc_allocator, &Q);
	kp_score_scratch_free(&kp_malloc_allocator, &scratch);
	free(F);
	free(first_index);
	free(first_score);
	free(got_index);
	free(got_score);
	free(want_index);
	free(want_score);
}

/*
 * Rows sharing one direction (user vectors against course vectors that
 * mostly point one way), laid out along it: the blocks the bound skips
 * must never hold a row of the top k.
 */
static void
test_directed(void)
{
	int32_t		n = 6000;
	int32_t		f = 24;
	float	   *F = malloc(sizeof(float) * n * f);
	float	   *Q = malloc(sizeof(float) * 200 * f);
	float		axis[24];
	float		direction[24];
	float		x[24];
	int32_t		excluded[30];
	kp_qmatrix	q;
	int32_t		i;
	int32_t		d;
	int			trial;
	double		cosine = 0;

	for (d = 0; d < f; d++)
		axis[d] = 0.5f + 0.02f * (float) d;
	for (i = 0; i < n; i++)
		for (d = 0; d < f; d++)
			F[(size_t) i * f + d] = (1.0f + (float) (i % 3)) * (uniform() + 0.4f * uniform() * axis[d]);
	/* queries: mostly the axis, scaled 1 to 3, plus noise */
	for (i = 0; i < 200; i++)
		for (d = 0; d < f; d++)
			Q[(size_t) i * f + d] = (float) (1 + i % 3) * axis[d] + 0.3f * uniform();
	unit_ok(kp_principal_direction(&kp_malloc_allocator, Q, 200, f, direction, NULL, NULL) == KP_OK,
			"principal direction of the queries");
	{
		double		axis_length = 0;
		double		length = 0;

		for (d = 0; d < f; d++)
		{
			cosine += (double) direction[d] * axis[d];
			axis_length += (double) axis[d] * axis[d];
			length += (double) direction[d] * direction[d];
		}
		cosine = fabs(cosine) / sqrt(axis_length * length);
		unit_ok(cosine > 0.99 && fabs(length - 1) < 1e-5,
				"it is the queries' shared axis, unit length (cosine %.4f)", cosine);
	}
	check_direction = direction;
	for (trial = 0; trial < 12; trial++)
	{
		char		name[80];

		memcpy(x, Q + (size_t) (trial * 7) * f, sizeof(x));
		if (trial % 4 == 3)
			for (d = 0; d < f; d++)
				x[d] = -x[d];	/* a query against the axis */
		for (i = 0; i < 30; i++)
			excluded[i] = (int32_t) ((uniform() + 1.0f) * 0.5f * (n - 1));
		snprintf(name, sizeof(name), "directed layout, query %d, k=10", trial);
		check_case(name, F, x, n, f, excluded, trial % 2 ? 30 : 0, 10);
		snprintf(name, sizeof(name), "directed layout, query %d, k=100", trial);
		check_case(name, F, x, n, f, excluded, 30, 100);
	}
	F[(size_t) 17 * f + 3] = NAN;
	F[(size_t) 4000 * f] = NAN;
	check_case("directed layout with NaN rows", F, Q, n, f, NULL, 0, 20);
	check_direction = NULL;

	memset(x, 0, sizeof(x));
	unit_ok(kp_qmatrix_build_along(&kp_malloc_allocator, F, n, f, x, &q, NULL, NULL) == KP_EINVAL &&
			q.codes == NULL, "a zero direction is refused");
	x[0] = NAN;
	unit_ok(kp_qmatrix_build_along(&kp_malloc_allocator, F, n, f, x, &q, NULL, NULL) == KP_EINVAL,
			"a NaN direction is refused");
	memset(Q, 0, sizeof(float) * 200 * f);
	unit_ok(kp_principal_direction(&kp_malloc_allocator, Q, 200, f, direction, NULL, NULL) == KP_EINVAL,
			"zero rows have no principal direction");
	{
		int			calls = 0;
		int32_t		wide = 1024;
		float	   *W = malloc(sizeof(float) * 3000 * (size_t) wide);
		float	   *w_direction = malloc(sizeof(float) * (size_t) wide);

		for (i = 0; i < 3000 * wide; i++)
			W[i] = (i % wide == 5 ? 4.0f : 0.0f) + 0.01f * uniform();
		unit_ok(kp_principal_direction(&kp_malloc_allocator, W, 3000, wide, w_direction, NULL, NULL) == KP_OK &&
				fabsf(w_direction[5]) > 0.99f,
				"1,024 columns: a sample of rows finds the dominant column");
		unit_ok(kp_principal_direction(&kp_malloc_allocator, W, 3000, wide, w_direction,
									   cancel_on_second_check, &calls) == KP_ECANCELLED && calls == 2,
				"stops when the interrupt asks");
		unit_ok(kp_principal_direction(&kp_malloc_allocator, W, 1, 4097, w_direction, NULL, NULL) == KP_EINVAL,
				"more than 4,096 columns are refused");
		free(W);
		free(w_direction);
	}
	free(F);
	free(Q);
}

int
main(void)
{
	test_build_cancelled();
	test_topk_cancelled();
	test_directed();
	int32_t		sizes[][2] = {{1, 1}, {15, 3}, {16, 64}, {17, 13}, {1000, 64}, {5003, 32}, {20000, 64}};
	int			s;
	int			trial;

	for (s = 0; s < (int) (sizeof(sizes) / sizeof(sizes[0])); s++)
	{
		int32_t		n = sizes[s][0];
		int32_t		f = sizes[s][1];
		float	   *F = malloc(sizeof(float) * n * f);
		float	   *x = malloc(sizeof(float) * f);
		int32_t    *excluded = malloc(sizeof(int32_t) * 50);
		int32_t		i;

		/* Rows of very different lengths, like popular and rare courses. */
		for (i = 0; i < n; i++)
		{
			float		length = (i % 7 == 0) ? 3.0f : 0.2f + (float) (i % 5) * 0.1f;
			int32_t		d;

			for (d = 0; d < f; d++)
				F[(size_t) i * f + d] = uniform() * length;
		}
		for (trial = 0; trial < 4; trial++)
		{
			char		name[64];
			int32_t		d;

			for (d = 0; d < f; d++)
				x[d] = uniform();
			for (i = 0; i < 50; i++)
				excluded[i] = (int32_t) ((uniform() + 1.0f) * 0.5f * (n - 1));
			snprintf(name, sizeof(name), "n=%d f=%d trial %d k=10", n, f, trial);
			check_case(name, F, x, n, f, excluded, trial == 0 ? 0 : 50, 10);
			snprintf(name, sizeof(name), "n=%d f=%d trial %d k=n+5", n, f, trial);
			check_case(name, F, x, n, f, excluded, 50, n + 5);
		}

		memset(x, 0, sizeof(float) * f);
		check_case("zero user vector: all ties, lowest indices win", F, x, n, f, excluded, 0, 10);
		free(F);
		free(x);
		free(excluded);
	}

	{
		/* Identical rows: every score ties. */
		float		F[40 * 8];
		float		x[8] = {1, -2, 3, 0.5f, 0, 0, 1, 1};
		int32_t		all[40];
		int32_t		i;

		for (i = 0; i < 40 * 8; i++)
			F[i] = (float) (i % 8) * 0.25f;
		check_case("identical rows", F, x, 40, 8, NULL, 0, 7);
		for (i = 0; i < 40; i++)
			all[i] = i;
		check_case("every row excluded", F, x, 40, 8, all, 40, 5);
		x[2] = NAN;
		check_case("NaN user vector selects nothing", F, x, 40, 8, NULL, 0, 5);
	}
	return unit_done();
}
