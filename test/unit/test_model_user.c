/*
 * test_model_user.c -- kp_model_put_user replaces, inserts and removes a
 * user, leaves every other user and the course side as they were, and the
 * result validates.
 */
#include <string.h>

#include "kp_model_user.h"
#include "unit.h"

/* 3 users (ids 10, 20, 30), 4 courses, 2 factors. */
static const int64_t user_ids[] = {10, 20, 30};
static const int64_t item_ids[] = {1, 2, 3, 4};
static const float user_factors[] = {1, 2, 3, 4, 5, 6};
static const float item_factors[] = {1, 0, 0, 1, 1, 1, 2, 2};
/* an ease model's course vectors: B, one entry per course */
static const float item_weights[] = {0, 1, 2, 3, 1, 0, 1, 2, 2, 1, 0, 1, 3, 2, 1, 0};
static const int64_t seen_indptr[] = {0, 2, 3, 5};
static const int32_t seen_items[] = {0, 1, 2, 0, 3};

static kp_model
base_model(uint32_t algorithm)
{
	kp_model	m;

	memset(&m, 0, sizeof(m));
	m.algorithm = algorithm;
	m.n_users = 3;
	m.n_items = 4;
	m.factors = algorithm == KP_ALGO_EASE ? 4 : 2;
	m.options_json = "{}";
	m.options_len = 2;
	m.nnz = 5;
	m.rows_read = 9;
	m.user_ids = user_ids;
	m.item_ids = item_ids;
	m.user_factors = user_factors;
	m.item_factors = algorithm == KP_ALGO_EASE ? item_weights : item_factors;
	m.seen_indptr = seen_indptr;
	m.seen_items = seen_items;
	return m;
}

static int
validates(const kp_model *m)
{
	size_t		size = kp_model_bytes(m);
	void	   *buf = size ? malloc(size) : NULL;
	kp_model	back;
	char		err[200];
	int			ok = buf != NULL && kp_model_write(m, buf, size, NULL, NULL) == KP_OK &&
		kp_model_read(buf, size, &back, err, sizeof(err), NULL, NULL) == KP_OK;

	free(buf);
	return ok;
}

static int
cancel_now(void *arg)
{
	return 1;
}

int
main(void)
{
	const kp_allocator *a = &kp_malloc_allocator;
	kp_model	in = base_model(KP_ALGO_IALS);
	kp_model	out;
	float		v[2] = {9, 8};
	int32_t		items[] = {1, 2, 3};
	int32_t		bad[] = {2, 1};

	unit_ok(kp_model_put_user(a, &in, 20, v, items, 3, &out, NULL, NULL) == KP_OK &&
			out.n_users == 3 && out.nnz == 7 && out.rows_read == 11 &&
			out.user_factors[2] == 9 && out.user_factors[3] == 8 &&
			out.user_factors[0] == 1 && out.user_factors[5] == 6 &&
			out.seen_indptr[1] == 2 && out.seen_indptr[2] == 5 && out.seen_indptr[3] == 7 &&
			out.seen_items[2] == 1 && out.seen_items[4] == 3 && out.seen_items[5] == 0 &&
			validates(&out), "user 20 replaced: vector, courses and offsets");
	kp_model_user_free(a, &out);

	unit_ok(kp_model_put_user(a, &in, 15, v, items, 1, &out, NULL, NULL) == KP_OK &&
			out.n_users == 4 && out.user_ids[1] == 15 && out.user_ids[2] == 20 &&
			out.user_factors[2] == 9 && out.user_factors[4] == 3 &&
			out.seen_indptr[2] == 3 && out.seen_items[2] == 1 && out.seen_indptr[4] == 6 &&
			validates(&out), "user 15 inserted between 10 and 20");
	kp_model_user_free(a, &out);

	unit_ok(kp_model_put_user(a, &in, 40, v, items, 2, &out, NULL, NULL) == KP_OK &&
			out.n_users == 4 && out.user_ids[3] == 40 && out.seen_indptr[4] == 7 &&
			validates(&out), "user 40 appended");
	kp_model_user_free(a, &out);

	unit_ok(kp_model_put_user(a, &in, 5, v, items, 2, &out, NULL, NULL) == KP_OK &&
			out.user_ids[0] == 5 && out.seen_indptr[1] == 2 && out.seen_items[0] == 1 &&
			validates(&out), "user 5 prepended");
	kp_model_user_free(a, &out);

	unit_ok(kp_model_put_user(a, &in, 10, v, items, 0, &out, NULL, NULL) == KP_OK &&
			out.n_users == 2 && out.user_ids[0] == 20 && out.nnz == 3 && out.rows_read == 7 &&
			out.user_factors[0] == 3 && out.seen_indptr[1] == 1 && validates(&out),
			"no courses removes the user");
	kp_model_user_free(a, &out);

	unit_ok(kp_model_put_user(a, &in, 99, v, items, 0, &out, NULL, NULL) == KP_OK &&
			out.n_users == 3 && out.nnz == 5 && validates(&out),
			"an unknown user with no courses changes nothing");
	kp_model_user_free(a, &out);

	unit_ok(kp_model_put_user(a, &in, 20, v, bad, 2, &out, NULL, NULL) == KP_EINVAL,
			"courses out of order are refused");
	items[2] = 4;
	unit_ok(kp_model_put_user(a, &in, 20, v, items, 3, &out, NULL, NULL) == KP_EINVAL,
			"a course out of range is refused");
	items[2] = 3;
	unit_ok(kp_model_put_user(a, &in, 20, v, items, 3, &out, cancel_now, NULL) == KP_ECANCELLED &&
			out.user_ids == NULL, "cancelled, with nothing left allocated");

	in = base_model(KP_ALGO_EASE);
	unit_ok(kp_model_put_user(a, &in, 25, NULL, items, 2, &out, NULL, NULL) == KP_OK &&
			out.n_users == 4 && out.user_ids[2] == 25 && validates(&out),
			"ease: only the courses, no vector");
	kp_model_user_free(a, &out);
	return unit_done();
}
