/*
 * test_batch.c -- kp_batch_topk must return, for every user, exactly what
 * kp_score_topk returns: same courses, same order, same score bits.  On
 * random vectors, on integer vectors full of exact ties, and on courses
 * whose scores differ only in the last bits (where sgemm's and kp_dot's
 * roundings disagree), across several blocks of users and of courses.
 */
#include <stdint.h>
#include <string.h>

#include <cblas.h>

#include "kp_batch.h"
#include "kp_score.h"
#include "unit.h"

static uint64_t rng_state = 31337;

static double
rng_unit(void)
{
	return (double) (kp_mix64(rng_state += UINT64_C(0x9e3779b97f4a7c15)) >> 11) *
		(1.0 / 9007199254740992.0);
}

/* Random sorted seen lists: user r sees about density·n_items courses. */
static void
random_seen(int32_t n_users, int32_t n_items, int64_t **indptr_out, int32_t **items_out)
{
	int64_t    *indptr = malloc(sizeof(int64_t) * (n_users + 1));
	int64_t		cap = 0;
	int32_t    *items;
	int32_t		r;
	int32_t		c;

	for (r = 0; r < n_users; r++)
		cap += r % 11 == 3 ? n_items : n_items / 20 + 2;
	items = malloc(sizeof(int32_t) * (cap + 1));
	indptr[0] = 0;
	for (r = 0; r < n_users; r++)
	{
		int64_t		at = indptr[r];

		if (r % 11 == 3)		/* every course seen, once or twice */
		{
			for (c = 0; c < n_items; c++)
				items[at++] = c;
			if (n_items > 0)
				items[at - 1] = items[at - 2 > indptr[r] ? at - 2 : at - 1];
		}
		else if (r % 5 != 0)	/* every fifth user has seen nothing */
		{
			for (c = 0; c < n_items; c++)
				if (rng_unit() < 0.03 && at - indptr[r] < n_items / 20 + 2)
					items[at++] = c;
			if (at - indptr[r] >= 2)
				items[at - 1] = items[at - 2];	/* a repeat */
		}
		indptr[r + 1] = at;
	}
	*indptr_out = indptr;
	*items_out = items;
}

/*
 * Runs kp_batch_topk and compares every requested user with kp_score_topk.
 * Returns the number of users that differ.
 */
static int32_t
compare_with_score_topk(const float *U, int32_t n_user_rows, const int32_t *users,
						int32_t n_users, const float *V, int32_t n_items, int32_t f,
						const int64_t *indptr, const int32_t *seen, int32_t k,
						kp_status *status_out)
{
	int32_t    *index = malloc(sizeof(int32_t) * (size_t) n_users * k);
	float	   *score = malloc(sizeof(float) * (size_t) n_users * k);
	int32_t    *count = malloc(sizeof(int32_t) * n_users);
	int32_t    *ref_index = malloc(sizeof(int32_t) * k);
	float	   *ref_score = malloc(sizeof(float) * k);
	kp_qmatrix	Q;
	kp_score_scratch scratch;
	int32_t		bad = 0;
	int32_t		i;

	*status_out = kp_batch_topk(&kp_malloc_allocator, U, n_user_rows, users, n_users, V,
								n_items, f, indptr, seen, k, index, score, count, NULL, NULL);
	kp_qmatrix_build(&kp_malloc_allocator, V, n_items, f, &Q, NULL, NULL);
	kp_score_scratch_init(&kp_malloc_allocator, n_items, f, &scratch);
	for (i = 0; i < n_users; i++)
	{
		int32_t		r = users ? users[i] : i;
		int32_t		n_ref;
		int32_t		j;
		int			same;

		n_ref = kp_score_topk(&Q, V, U + (size_t) r * f,
							  indptr ? seen + indptr[r] : NULL,
							  indptr ? indptr[r + 1] - indptr[r] : 0,
							  k, &scratch, ref_index, ref_score);
		same = count[i] == n_ref &&
			memcmp(index + (size_t) i * k, ref_index, sizeof(int32_t) * n_ref) == 0 &&
			memcmp(score + (size_t) i * k, ref_score, sizeof(float) * n_ref) == 0;
		for (j = n_ref; j < k && same; j++)
			same = index[(size_t) i * k + j] == -1 && isnan(score[(size_t) i * k + j]);
		if (!same)
			bad++;
	}
	kp_qmatrix_free(&kp_malloc_allocator, &Q);
	kp_score_scratch_free(&kp_malloc_allocator, &scratch);
	free(index);
	free(score);
	free(count);
	free(ref_index);
	free(ref_score);
	return bad;
}

static void
test_random(void)
{
	int32_t		n_users = 700;		/* three blocks of users */
	int32_t		n_items = 9000;		/* three blocks of courses, the last partial */
	int32_t		f = 24;
	float	   *U = malloc(sizeof(float) * n_users * f);
	float	   *V = malloc(sizeof(float) * n_items * f);
	int64_t    *indptr;
	int32_t    *seen;
	int32_t		users[300];
	kp_status	status;
	int32_t		bad;
	int32_t		i;

	for (i = 0; i < n_users * f; i++)
		U[i] = (float) (rng_unit() * 2 - 0.8);
	for (i = 0; i < n_items * f; i++)
		V[i] = (float) ((rng_unit() - 0.4) * (1 + (i / f) % 7));
	random_seen(n_users, n_items, &indptr, &seen);

	bad = compare_with_score_topk(U, n_users, NULL, n_users, V, n_items, f, indptr, seen, 10, &status);
	unit_ok(status == KP_OK && bad == 0,
			"700 users × 9000 courses, top 10: identical to kp_score_topk (%d users differ)", bad);
	bad = compare_with_score_topk(U, n_users, NULL, n_users, V, n_items, f, indptr, seen, 1, &status);
	unit_ok(status == KP_OK && bad == 0, "top 1: identical (%d differ)", bad);
	bad = compare_with_score_topk(U, n_users, NULL, n_users, V, n_items, f, NULL, NULL, 25, &status);
	unit_ok(status == KP_OK && bad == 0, "no seen lists, top 25: identical (%d differ)", bad);

	for (i = 0; i < 300; i++)
		users[i] = (int32_t) (rng_unit() * n_users);
	users[7] = users[8];		/* a repeat */
	users[9] = 3;				/* the user who has seen everything */
	bad = compare_with_score_topk(U, n_users, users, 300, V, n_items, f, indptr, seen, 10, &status);
	unit_ok(status == KP_OK && bad == 0,
			"a subset of users in any order, with repeats: identical (%d differ)", bad);

	/* fewer courses than k: everything unseen, then empty slots */
	bad = compare_with_score_topk(U, n_users, NULL, 40, V, 300, f, NULL, NULL, 310, &status);
	unit_ok(status == KP_OK && bad == 0, "k > n_items: every course, then slots −1/NaN (%d differ)", bad);
	free(indptr);
	free(seen);
	random_seen(n_users, 300, &indptr, &seen);
	bad = compare_with_score_topk(U, n_users, NULL, n_users, V, 300, f, indptr, seen, 300, &status);
	unit_ok(status == KP_OK && bad == 0,
			"k = n_items with seen lists, one user who has seen everything: identical (%d differ)", bad);

	free(U);
	free(V);
	free(indptr);
	free(seen);
}

/* Integer-valued vectors, many duplicate courses: scores are exact, ties everywhere. */
static void
test_ties(void)
{
	int32_t		n_users = 300;
	int32_t		n_items = 5000;
	int32_t		f = 8;
	float	   *U = malloc(sizeof(float) * n_users * f);
	float	   *V = malloc(sizeof(float) * n_items * f);
	int64_t    *indptr;
	int32_t    *seen;
	kp_status	status;
	int32_t		bad;
	int32_t		i;

	for (i = 0; i < n_users * f; i++)
		U[i] = (float) ((int) (rng_unit() * 5) - 2);
	for (i = 0; i < n_items * f; i++)
		V[i] = (float) ((int) (rng_unit() * 3) - 1);
	for (i = 0; i < n_items; i += 3)
		memcpy(V + (size_t) (n_items - 1 - i) * f, V + (size_t) i * f, sizeof(float) * f);
	random_seen(n_users, n_items, &indptr, &seen);
	bad = compare_with_score_topk(U, n_users, NULL, n_users, V, n_items, f, indptr, seen, 50, &status);
	unit_ok(status == KP_OK && bad == 0,
			"integer vectors, exact ties everywhere: identical, ties to the lower index (%d differ)", bad);
	free(U);
	free(V);
	free(indptr);
	free(seen);
}

/*
 * Courses that are one vector plus perturbations of a few ulps, and users
 * with large cancelling components: the top scores are separated by a few
 * ulps, where the summation order decides.
 */
static void
test_rounding(void)
{
	int32_t		n_users = 260;
	int32_t		n_items = 4500;
	int32_t		f = 64;
	float	   *U = malloc(sizeof(float) * n_users * f);
	float	   *V = malloc(sizeof(float) * n_items * f);
	float	   *S = malloc(sizeof(float) * n_users * n_items);
	int64_t		differ = 0;
	kp_status	status;
	int32_t		bad;
	int32_t		i;
	int32_t		j;

	for (j = 0; j < f; j++)
		V[j] = (float) (rng_unit() * 2 - 1);
	for (i = 1; i < n_items; i++)
		for (j = 0; j < f; j++)
			V[(size_t) i * f + j] = V[j] * (float) (1.0 + (rng_unit() - 0.5) * 4e-7);
	for (i = 0; i < n_users * f; i++)
		U[i] = (float) ((rng_unit() - 0.5) * 100.0);

	/* how often does sgemm disagree with kp_dot here? */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_users, n_items, f, 1.0f, U, f, V, f,
				0.0f, S, n_items);
	for (i = 0; i < n_users; i++)
		for (j = 0; j < n_items; j++)
			differ += S[(size_t) i * n_items + j] != kp_dot(U + (size_t) i * f, V + (size_t) j * f, f);

	bad = compare_with_score_topk(U, n_users, NULL, n_users, V, n_items, f, NULL, NULL, 20, &status);
	unit_ok(status == KP_OK && bad == 0,
			"scores a few ulps apart (sgemm and kp_dot disagree on %.0f%% of them): "
			"identical (%d users differ)", 100.0 * differ / ((double) n_users * n_items), bad);
	free(U);
	free(V);
	free(S);
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
	int32_t		n_users = 600;
	int32_t		n_items = 9000;
	int32_t		f = 16;
	float	   *U = calloc((size_t) n_users * f, sizeof(float));
	float	   *V = calloc((size_t) n_items * f, sizeof(float));
	int32_t    *index = malloc(sizeof(int32_t) * n_users * 5);
	float	   *score = malloc(sizeof(float) * n_users * 5);
	int32_t    *count = malloc(sizeof(int32_t) * n_users);
	int64_t		indptr[4] = {0, 2, 4, 6};
	int32_t		unsorted[6] = {1, 2, 5, 4, 0, 0};
	int32_t		outside[6] = {1, 2, 3, 9000, 0, 0};
	int32_t		bad_user[1] = {600};
	unit_counting counting = {0};
	kp_allocator alloc = unit_counting_allocator(&counting);
	int			calls;
	int			all = 1;
	int			at;

	calls = 1 << 30;
	kp_batch_topk(&alloc, U, n_users, NULL, n_users, V, n_items, f, NULL, NULL, 5,
				  index, score, count, cancel_after, &calls);
	calls = (1 << 30) - calls;
	unit_ok(calls == 3 + 3 * 3 && counting.live == 0 &&
			counting.total_bytes == kp_batch_bytes(n_items, f),
			"the callback runs before every block (%d calls); memory as kp_batch_bytes says", calls);
	for (at = 1; at <= 12; at++)
	{
		counting = (unit_counting) {0};
		alloc = unit_counting_allocator(&counting);
		calls = at;
		all = all && kp_batch_topk(&alloc, U, n_users, NULL, n_users, V, n_items, f, NULL, NULL,
								   5, index, score, count, cancel_after, &calls) == KP_ECANCELLED &&
			counting.live == 0;
	}
	unit_ok(all, "cancelled at every block, nothing leaked");
	for (at = 1; at <= 6; at++)
	{
		counting = (unit_counting) {0};
		counting.fail_at = at;
		alloc = unit_counting_allocator(&counting);
		all = all && kp_batch_topk(&alloc, U, n_users, NULL, n_users, V, n_items, f, NULL, NULL,
								   5, index, score, count, NULL, NULL) == KP_ENOMEM &&
			counting.live == 0;
	}
	unit_ok(all, "every allocation failure gives KP_ENOMEM, nothing leaked");

	unit_ok(kp_batch_topk(&kp_malloc_allocator, U, n_users, NULL, 3, V, n_items, f, indptr, unsorted,
						  5, index, score, count, NULL, NULL) == KP_EINVAL &&
			kp_batch_topk(&kp_malloc_allocator, U, n_users, NULL, 3, V, n_items, f, indptr, outside,
						  5, index, score, count, NULL, NULL) == KP_EINVAL,
			"an unsorted seen list or a seen course outside the model is rejected");
	unit_ok(kp_batch_topk(&kp_malloc_allocator, U, n_users, bad_user, 1, V, n_items, f, NULL, NULL,
						  5, index, score, count, NULL, NULL) == KP_EINVAL &&
			kp_batch_topk(&kp_malloc_allocator, U, n_users, NULL, n_users + 1, V, n_items, f, NULL, NULL,
						  5, index, score, count, NULL, NULL) == KP_EINVAL &&
			kp_batch_topk(&kp_malloc_allocator, U, n_users, NULL, 3, V, n_items, f, NULL, NULL,
						  0, index, score, count, NULL, NULL) == KP_EINVAL &&
			kp_batch_topk(&kp_malloc_allocator, U, n_users, NULL, 3, V, n_items, 0, NULL, NULL,
						  5, index, score, count, NULL, NULL) == KP_EINVAL,
			"a user row outside the model, k = 0 or dims = 0 are rejected");
	unit_ok(kp_batch_topk(&kp_malloc_allocator, U, n_users, NULL, 3, V, 0, f, NULL, NULL,
						  5, index, score, count, NULL, NULL) == KP_OK &&
			count[0] == 0 && count[2] == 0 && index[14] == -1 && isnan(score[14]),
			"no courses: no results, slots −1/NaN");
	unit_ok(kp_batch_topk(&kp_malloc_allocator, U, n_users, NULL, 0, V, n_items, f, NULL, NULL,
						  5, index, score, count, NULL, NULL) == KP_OK,
			"no users: nothing to do");

	free(U);
	free(V);
	free(index);
	free(score);
	free(count);
}

int
main(void)
{
	test_random();
	test_ties();
	test_rounding();
	test_failures();
	return unit_done();
}
