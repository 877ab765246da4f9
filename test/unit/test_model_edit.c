/*
 * test_model_edit.c -- finding and removing a user: the edited model
 * validates, keeps format version 1, keeps the item side bit for bit, and
 * holds every other user's ids, factors and training items unchanged.
 */
#include "kp_model_edit.h"
#include "unit.h"

#include <string.h>

static uint64_t rng_state = 0x2545F4914F6CDD1Du;

static int
rng_below(int n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (int) ((rng_state * 0x2545F4914F6CDD1Du) % (uint64_t) n);
}

/* Serialises a random model into a malloc'd (8-byte aligned) buffer. */
static unsigned char *
random_model(int n_users, int n_items, int factors, size_t *size)
{
	static const char options[] = "{\"factors\": 3, \"seed\": 5}";
	int64_t    *user_ids = malloc(sizeof(int64_t) * (n_users + 1));
	int64_t    *item_ids = malloc(sizeof(int64_t) * n_items);
	float	   *user_factors = malloc(sizeof(float) * (n_users * factors + 1));
	float	   *item_factors = malloc(sizeof(float) * n_items * factors);
	int64_t    *seen_indptr = malloc(sizeof(int64_t) * (n_users + 1));
	int32_t    *seen_items = malloc(sizeof(int32_t) * ((size_t) n_users * n_items + 1));
	kp_model	m;
	unsigned char *buf;
	int64_t		id = -500;
	int64_t		nnz = 0;
	int			u,
				i;

	for (u = 0; u < n_users; u++)
		user_ids[u] = (id += 1 + rng_below(100));
	for (i = 0; i < n_items; i++)
		item_ids[i] = 1000 + 3 * i;
	for (i = 0; i < n_users * factors; i++)
		user_factors[i] = (float) (rng_below(2001) - 1000) / 100.0f;
	for (i = 0; i < n_items * factors; i++)
		item_factors[i] = (float) (rng_below(2001) - 1000) / 100.0f;
	seen_indptr[0] = 0;
	for (u = 0; u < n_users; u++)
	{
		for (i = 0; i < n_items; i++)
			if (rng_below(3) == 0)
				seen_items[nnz++] = i;
		seen_indptr[u + 1] = nnz;
	}

	memset(&m, 0, sizeof(m));
	m.algorithm = KP_ALGO_IALS;
	m.n_users = n_users;
	m.n_items = n_items;
	m.factors = factors;
	m.options_json = options;
	m.options_len = (uint32_t) strlen(options);
	m.nnz = nnz;
	m.rows_read = nnz + 4;
	m.rows_skipped = 1;
	m.user_ids = user_ids;
	m.item_ids = item_ids;
	m.user_factors = user_factors;
	m.item_factors = item_factors;
	m.seen_indptr = seen_indptr;
	m.seen_items = seen_items;
	*size = kp_model_bytes(&m);
	buf = malloc(*size);
	if (kp_model_write(&m, buf, *size, NULL, NULL) != KP_OK)
	{
		free(buf);
		buf = NULL;
	}
	free(user_ids);
	free(item_ids);
	free(user_factors);
	free(item_factors);
	free(seen_indptr);
	free(seen_items);
	return buf;
}

static int
read_ok(const unsigned char *buf, size_t size, kp_model *out)
{
	char		err[256] = "";

	if (kp_model_read(buf, size, out, err, sizeof(err), NULL, NULL) == KP_OK)
		return 1;
	printf("# %s\n", err);
	return 0;
}

/* Does row `edited_row` of the edited model hold user row `row` of the original? */
static int
same_user(const kp_model *original, int32_t row, const kp_model *edited, int32_t edited_row)
{
	int64_t		n_seen = original->seen_indptr[row + 1] - original->seen_indptr[row];

	return original->user_ids[row] == edited->user_ids[edited_row] &&
		memcmp(original->user_factors + (size_t) row * original->factors,
			   edited->user_factors + (size_t) edited_row * edited->factors,
			   sizeof(float) * original->factors) == 0 &&
		edited->seen_indptr[edited_row + 1] - edited->seen_indptr[edited_row] == n_seen &&
		memcmp(original->seen_items + original->seen_indptr[row],
			   edited->seen_items + edited->seen_indptr[edited_row],
			   sizeof(int32_t) * n_seen) == 0;
}

/* Removes user row `row` from a model of n_users and checks the result. */
static void
check_removal(int n_users, int32_t row, const char *where)
{
	size_t		size;
	unsigned char *original_buf = random_model(n_users, 7, 3, &size);
	unsigned char *work_buf = malloc(size);
	unsigned char *edited_buf;
	size_t		edited_size;
	kp_model	original;
	kp_model	work;
	kp_model	edited;
	int64_t		removed_id;
	int64_t		removed_pairs;
	int32_t		u;
	int			users_kept = 1;

	memcpy(work_buf, original_buf, size);
	if (!read_ok(original_buf, size, &original) || !read_ok(work_buf, size, &work))
	{
		unit_ok(0, "%s: the test model validates", where);
		return;
	}
	removed_id = original.user_ids[row];
	removed_pairs = original.seen_indptr[row + 1] - original.seen_indptr[row];

	unit_ok(kp_model_remove_user(&work, row, NULL, NULL) == KP_OK, "%s: removed", where);
	edited_size = kp_model_bytes(&work);
	edited_buf = malloc(edited_size);
	unit_ok(kp_model_write(&work, edited_buf, edited_size, NULL, NULL) == KP_OK &&
			read_ok(edited_buf, edited_size, &edited),
			"%s: the edited model is written and validates", where);
	unit_ok(edited.format_version == 1 && edited.n_users == n_users - 1 &&
			edited.nnz == original.nnz - removed_pairs &&
			edited.rows_read == original.rows_read - removed_pairs &&
			edited.rows_skipped == original.rows_skipped,
			"%s: format 1, one user and %lld pairs fewer", where, (long long) removed_pairs);
	unit_ok(kp_model_find_user(&edited, removed_id) == -1,
			"%s: the user is gone", where);
	for (u = 0; u < edited.n_users; u++)
		users_kept &= same_user(&original, u < row ? u : u + 1, &edited, u);
	unit_ok(users_kept, "%s: every other user is unchanged", where);
	unit_ok(edited.n_items == original.n_items &&
			memcmp(edited.item_ids, original.item_ids, sizeof(int64_t) * original.n_items) == 0 &&
			memcmp(edited.item_factors, original.item_factors,
				   sizeof(float) * original.n_items * original.factors) == 0 &&
			edited.options_len == original.options_len &&
			memcmp(edited.options_json, original.options_json, original.options_len) == 0,
			"%s: items and options are unchanged", where);
	free(original_buf);
	free(work_buf);
	free(edited_buf);
}

static void
test_find_user(void)
{
	size_t		size;
	unsigned char *buf = random_model(50, 5, 2, &size);
	kp_model	m;
	int32_t		u;
	int			all_found = 1;

	if (!read_ok(buf, size, &m))
	{
		unit_ok(0, "find: the test model validates");
		return;
	}
	for (u = 0; u < m.n_users; u++)
		all_found &= kp_model_find_user(&m, m.user_ids[u]) == u;
	unit_ok(all_found, "find: every user id gives its row");
	unit_ok(kp_model_find_user(&m, m.user_ids[0] - 1) == -1 &&
			kp_model_find_user(&m, m.user_ids[49] + 1) == -1 &&
			kp_model_find_user(&m, INT64_MIN) == -1 &&
			kp_model_find_user(&m, INT64_MAX) == -1,
			"find: ids below, above and at the extremes are absent");
	unit_ok(m.user_ids[1] - m.user_ids[0] < 2 ||
			kp_model_find_user(&m, m.user_ids[0] + 1) == -1,
			"find: an id between two users is absent");
	unit_ok(kp_model_user_ids_offset(&m) == 64 + 32,
			"find: the ids follow the padded options");
	unit_ok(kp_model_remove_user(&m, -1, NULL, NULL) == KP_EINVAL &&
			kp_model_remove_user(&m, 50, NULL, NULL) == KP_EINVAL,
			"remove: a row out of range is refused");
	free(buf);

	buf = random_model(0, 5, 2, &size);
	unit_ok(read_ok(buf, size, &m) && kp_model_find_user(&m, 0) == -1,
			"find: a model without users has none");
	free(buf);
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
 * Removing the first user of a model of some 25 MB moves nearly all of it:
 * the interrupt callback is asked every few MB, and cancelling at any of
 * its calls returns KP_ECANCELLED with the model's fields unchanged.
 */
static void
test_cancellation(void)
{
	size_t		size;
	unsigned char *original = random_model(50000, 20, 128, &size);
	unsigned char *work_buf = malloc(size);
	unsigned char *reference_buf = malloc(size);
	canceller	c = {0, 0};
	kp_model	work;
	kp_model	reference;
	int			calls;
	int			all_cancelled = 1;

	memcpy(work_buf, original, size);
	memcpy(reference_buf, original, size);
	read_ok(work_buf, size, &work);
	read_ok(reference_buf, size, &reference);
	kp_model_remove_user(&reference, 0, NULL, NULL);
	unit_ok(kp_model_remove_user(&work, 0, cancel_at_call, &c) == KP_OK &&
			memcmp(work_buf, reference_buf, size) == 0 && work.n_users == reference.n_users,
			"cancel: with a callback that never cancels, the same edit");
	calls = c.calls;
	unit_ok(calls >= (int) (size >> 22) - 1, "cancel: asked every 4 MB moved (%d calls)", calls);
	for (c.cancel_at = 1; c.cancel_at <= calls; c.cancel_at++)
	{
		memcpy(work_buf, original, size);
		read_ok(work_buf, size, &work);
		c.calls = 0;
		all_cancelled &= kp_model_remove_user(&work, 0, cancel_at_call, &c) == KP_ECANCELLED &&
			c.calls == c.cancel_at && work.n_users == 50000;
	}
	unit_ok(all_cancelled, "cancel: cancelled at each call, KP_ECANCELLED and the fields unchanged");
	free(original);
	free(work_buf);
	free(reference_buf);
}

int
main(void)
{
	test_find_user();
	check_removal(1, 0, "the only user");
	check_removal(20, 0, "the first of 20");
	check_removal(20, 9, "the tenth of 20");
	check_removal(20, 19, "the last of 20");
	check_removal(200, 123, "one of 200");
	test_cancellation();
	return unit_done();
}
