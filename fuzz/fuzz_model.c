/*
 * fuzz_model.c -- libFuzzer target: reading serialised models.
 *
 * The first input byte chooses how the rest is read:
 *   bit 0  as base64 text (the kpreco.model text form) instead of raw bytes;
 *   bit 1  with the checksum recomputed first, so that the structural
 *          checks behind it are reached;
 *   bits 2-5  k for scoring accepted models.
 * Bytes are copied to an 8-byte aligned buffer, as the server does.  Every
 * model kp_model_read accepts must serialise back to the same bytes, give
 * exact top-k results for its users, answer from its neighbour lists, and
 * survive removing a user (its lists edited to match).
 */
#include "fuzz.h"
#include "kp_ease.h"
#include "kp_idmap.h"
#include "kp_model.h"
#include "kp_model_edit.h"
#include "kp_neighbours.h"
#include "kp_topk.h"

#define MODE_BASE64 1
#define MODE_RESEAL 2

/* Recomputes the checksum as kp_model.h defines it. */
static void
reseal(unsigned char *buf, size_t size)
{
	uint64_t	h = kp_checksum(0, buf + 4, 52);

	h = kp_checksum(h, buf + KP_MODEL_HEADER_BYTES, size - KP_MODEL_HEADER_BYTES);
	memcpy(buf + 56, &h, sizeof(h));
}

static bool
is_base64_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Decoded text encodes back to itself without its white space: one encoding per value. */
static void
check_base64_round_trip(const uint8_t *text, size_t len, const unsigned char *decoded, size_t n)
{
	size_t		encoded_len = kp_base64_encoded_len(n);
	char	   *encoded = malloc(encoded_len + 1);
	size_t		i;
	size_t		j = 0;

	FUZZ_CHECK(encoded != NULL);
	kp_base64_encode(decoded, n, encoded, NULL, NULL);
	for (i = 0; i < len; i++)
	{
		if (is_base64_space(text[i]))
			continue;
		FUZZ_CHECK(j < encoded_len && encoded[j] == (char) text[i]);
		j++;
	}
	FUZZ_CHECK(j == encoded_len);
	free(encoded);
}

static void check_ease_serving(const kp_model *m, int32_t k);
static void check_audience(const kp_model *m, int32_t k, fuzz_allocator *alloc);
static void check_neighbour_lists(const kp_model *m, int32_t k);

static void
check_serving(const kp_model *m, unsigned k_choice)
{
	fuzz_allocator alloc;
	kp_qmatrix	Q;
	kp_score_scratch scratch;
	kp_idmap	users;
	kp_idmap	items;
	int32_t		k = 1 + (int32_t) (k_choice % 16);
	int32_t		i;

	fuzz_allocator_init(&alloc, 0);
	FUZZ_CHECK(kp_idmap_from_array(&users, &alloc.base, m->user_ids, m->n_users, NULL, NULL) == KP_OK);
	FUZZ_CHECK(kp_idmap_from_array(&items, &alloc.base, m->item_ids, m->n_items, NULL, NULL) == KP_OK);
	for (i = 0; i < m->n_users; i++)
		FUZZ_CHECK(kp_idmap_find(&users, m->user_ids[i]) == i);
	for (i = 0; i < m->n_items; i++)
		FUZZ_CHECK(kp_idmap_find(&items, m->item_ids[i]) == i);
	kp_idmap_free(&users);
	kp_idmap_free(&items);

	if (m->algorithm == KP_ALGO_EASE)
	{
		check_ease_serving(m, k);
		FUZZ_CHECK(alloc.live == 0);
		return;
	}
	FUZZ_CHECK(kp_qmatrix_build(&alloc.base, m->item_factors, m->n_items, m->factors, &Q, NULL, NULL) == KP_OK);
	FUZZ_CHECK(kp_score_scratch_init(&alloc.base, m->n_items, m->factors, &scratch) == KP_OK);
	/* the first users, the last one, and an unknown user (no factors excluded) */
	for (i = 0; i < m->n_users && i < 3; i++)
		fuzz_check_topk(&Q, m->item_factors, m->user_factors + (size_t) i * m->factors,
						m->seen_items + m->seen_indptr[i],
						m->seen_indptr[i + 1] - m->seen_indptr[i], k, &scratch);
	if (m->n_users > 3)
	{
		i = m->n_users - 1;
		fuzz_check_topk(&Q, m->item_factors, m->user_factors + (size_t) i * m->factors,
						m->seen_items + m->seen_indptr[i],
						m->seen_indptr[i + 1] - m->seen_indptr[i], k, &scratch);
	}
	/* similar courses: the first course's own row, itself excluded */
	i = 0;
	fuzz_check_topk(&Q, m->item_factors, m->item_factors, &i, 1, k, &scratch);
	kp_score_scratch_free(&alloc.base, &scratch);
	kp_qmatrix_free(&alloc.base, &Q);
	check_audience(m, k, &alloc);
	check_neighbour_lists(m, k);
	FUZZ_CHECK(alloc.live == 0);
}

/*
 * similar users from the lists of a model that has them: whatever rows a
 * valid list holds, the answer comes from them, best first, never the user.
 */
static void
check_neighbour_lists(const kp_model *m, int32_t k)
{
	int32_t		L = m->neighbours_per_user;
	float	   *unit;
	int32_t		index[KP_NEIGHBOURS_MAX];
	float		score[KP_NEIGHBOURS_MAX];
	int32_t		u;
	int32_t		j;

	if (L == 0 || m->n_users == 0)
		return;
	unit = malloc(sizeof(float) * (size_t) m->n_users * m->factors);
	FUZZ_CHECK(unit != NULL);
	kp_unit_rows(m->user_factors, m->n_users, m->factors, unit);
	for (u = 0; u < m->n_users && u < 3; u++)
	{
		const int32_t *list = m->neighbours + (size_t) u * L;
		int32_t		size = kp_neighbours_size(list, L);
		int32_t		got;

		got = kp_neighbours_topk(unit, m->factors, list, L, u, k, index, score);
		FUZZ_CHECK(got == (k <= size ? k : -1));
		for (j = 0; j < got; j++)
		{
			FUZZ_CHECK(index[j] != u && index[j] >= 0 && index[j] < m->n_users);
			FUZZ_CHECK(j == 0 || score[j] < score[j - 1] ||
					   (score[j] == score[j - 1] && index[j] > index[j - 1]));
		}
	}
	free(unit);
}

/*
 * audience: the users laid out along the principal direction of the course
 * vectors (when they have one), ranked for the first and the last course.
 */
static void
check_audience(const kp_model *m, int32_t k, fuzz_allocator *alloc)
{
	float	   *direction;
	kp_qmatrix	U;
	kp_score_scratch scratch;

	if (m->n_users == 0 || m->n_items == 0)
		return;
	direction = malloc(sizeof(float) * (size_t) m->factors);
	FUZZ_CHECK(direction != NULL);
	if (kp_principal_direction(&alloc->base, m->item_factors, m->n_items, m->factors, direction,
							   NULL, NULL) == KP_OK)
	{
		FUZZ_CHECK(kp_qmatrix_build_along(&alloc->base, m->user_factors, m->n_users, m->factors,
										  direction, &U, NULL, NULL) == KP_OK);
		FUZZ_CHECK(kp_score_scratch_init(&alloc->base, m->n_users, m->factors, &scratch) == KP_OK);
		fuzz_check_topk(&U, m->user_factors, m->item_factors, NULL, 0, k, &scratch);
		fuzz_check_topk(&U, m->user_factors, m->item_factors + (size_t) (m->n_items - 1) * m->factors,
						NULL, 0, k, &scratch);
		kp_score_scratch_free(&alloc->base, &scratch);
		kp_qmatrix_free(&alloc->base, &U);
	}
	free(direction);
}

/*
 * An ease model has no user vectors: a user's scores are the sum of the
 * rows of B over the user's training courses; the top k of them, without
 * those courses, are finite, distinct and in order.
 */
static void
check_ease_serving(const kp_model *m, int32_t k)
{
	float	   *scores = malloc(sizeof(float) * (size_t) m->n_items);
	int32_t    *index = malloc(sizeof(int32_t) * (size_t) k);
	float	   *top = malloc(sizeof(float) * (size_t) k);
	int32_t		u;

	FUZZ_CHECK(scores != NULL && index != NULL && top != NULL);
	for (u = 0; u < m->n_users && u < 3; u++)
	{
		const int32_t *seen = m->seen_items + m->seen_indptr[u];
		int32_t		n_seen = (int32_t) (m->seen_indptr[u + 1] - m->seen_indptr[u]);
		int32_t		n;
		int32_t		i;

		kp_ease_scores(m->item_factors, m->n_items, seen, NULL, n_seen, scores);
		for (i = 0; i < n_seen; i++)
			scores[seen[i]] = -INFINITY;
		n = kp_topk(scores, m->n_items, k, index, top);
		FUZZ_CHECK(n <= k && n <= m->n_items - n_seen);
		for (i = 0; i < n; i++)
		{
			FUZZ_CHECK(index[i] >= 0 && index[i] < m->n_items && top[i] > -INFINITY);
			FUZZ_CHECK(i == 0 || top[i] <= top[i - 1]);
		}
	}
	free(scores);
	free(index);
	free(top);
}

/* Removing a user from a private copy gives a model that reads back. */
static void
check_remove_user(const unsigned char *buf, size_t size, const kp_model *original)
{
	unsigned char *copy = malloc(size);
	unsigned char *rewritten;
	int32_t    *lists = NULL;
	kp_model	m;
	kp_model	before;
	kp_model	back;
	int32_t		row = original->n_users / 2;
	int64_t		pairs = original->seen_indptr[row + 1] - original->seen_indptr[row];
	size_t		new_size;
	char		err[256];

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, buf, size);
	FUZZ_CHECK(kp_model_read(copy, size, &m, err, sizeof(err), NULL, NULL) == KP_OK);
	FUZZ_CHECK(kp_model_find_user(&m, m.user_ids[row]) == row);
	if (m.user_ids[0] > INT64_MIN)
		FUZZ_CHECK(kp_model_find_user(&m, m.user_ids[0] - 1) == -1);
	FUZZ_CHECK(kp_model_remove_user(&m, m.n_users, NULL, NULL) == KP_EINVAL);
	before = m;
	FUZZ_CHECK(kp_model_remove_user(&m, row, NULL, NULL) == KP_OK);
	FUZZ_CHECK(m.n_users == original->n_users - 1 && m.nnz == original->nnz - pairs);
	if (m.neighbours_per_user > 0)
	{
		/* as forget_user does: with the unit vectors, so the lists that lose the user are filled again */
		float	   *unit = malloc(sizeof(float) * ((size_t) m.n_users * m.factors + 1));

		lists = malloc(sizeof(int32_t) * ((size_t) m.n_users * m.neighbours_per_user + 1));
		FUZZ_CHECK(lists != NULL && unit != NULL);
		kp_unit_rows(m.user_factors, m.n_users, m.factors, unit);
		FUZZ_CHECK(kp_neighbours_edit(before.neighbours, before.n_users, m.neighbours_per_user,
									  before.neighbours_floor, KP_NEIGHBOUR_REMOVE, row, unit,
									  m.n_users, m.factors, lists, &m.neighbours_floor, NULL, NULL) == KP_OK);
		FUZZ_CHECK(m.neighbours_floor <= before.neighbours_floor);
		m.neighbours = lists;
		free(unit);
	}
	new_size = kp_model_bytes(&m);
	FUZZ_CHECK(new_size > 0 && new_size <= size);
	rewritten = malloc(new_size);
	FUZZ_CHECK(rewritten != NULL);
	FUZZ_CHECK(kp_model_write(&m, rewritten, new_size, NULL, NULL) == KP_OK);
	FUZZ_CHECK(kp_model_read(rewritten, new_size, &back, err, sizeof(err), NULL, NULL) == KP_OK);
	FUZZ_CHECK(kp_model_find_user(&back, original->user_ids[row]) == -1);
	free(rewritten);
	free(lists);
	free(copy);
}

static void
check_accepted(const unsigned char *buf, size_t size, const kp_model *m, unsigned k_choice)
{
	unsigned char *rewritten;
	kp_model	header;
	char		err[256];

	FUZZ_CHECK(m->n_users >= 0 && m->n_items >= 1 && m->factors >= 1 && m->nnz >= 0);
	FUZZ_CHECK(kp_model_bytes(m) == size);
	FUZZ_CHECK(kp_model_read_header(buf, KP_MODEL_HEADER_BYTES, size, &header, err, sizeof(err)) == KP_OK);
	FUZZ_CHECK(header.n_users == m->n_users && header.n_items == m->n_items && header.nnz == m->nnz);
	FUZZ_CHECK(kp_model_user_ids_offset(m) == (size_t) ((const unsigned char *) m->user_ids - buf));

	rewritten = malloc(size);
	FUZZ_CHECK(rewritten != NULL);
	FUZZ_CHECK(kp_model_write(m, rewritten, size, NULL, NULL) == KP_OK);
	FUZZ_CHECK(memcmp(rewritten + 4, buf + 4, size - 4) == 0);
	free(rewritten);

	check_serving(m, k_choice);
	if (m->n_users > 0)
		check_remove_user(buf, size, m);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		mode;
	unsigned char *buf;
	size_t		n;
	kp_model	m;
	char		err[256];
	kp_status	status;

	if (size == 0)
		return 0;
	mode = data[0];
	data++;
	size--;
	/* malloc's alignment is at least 8; one spare byte for the misaligned read */
	buf = malloc(size + 1);
	FUZZ_CHECK(buf != NULL);
	if (mode & MODE_BASE64)
	{
		if (kp_base64_decode((const char *) data, size, buf, size, &n, NULL, NULL) != KP_OK)
		{
			free(buf);
			return 0;
		}
		check_base64_round_trip(data, size, buf, n);
	}
	else
	{
		memcpy(buf, data, size);
		n = size;
	}
	if ((mode & MODE_RESEAL) && n >= KP_MODEL_HEADER_BYTES)
		reseal(buf, n);

	err[0] = '\0';
	status = kp_model_read(buf, n, &m, err, sizeof(err), NULL, NULL);
	FUZZ_CHECK(status == KP_OK || status == KP_EINVAL);
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (status == KP_OK)
		check_accepted(buf, n, &m, mode >> 2);
	else
		FUZZ_CHECK(err[0] != '\0');

	if (n >= KP_MODEL_HEADER_BYTES)
	{
		memmove(buf + 1, buf, n);
		FUZZ_CHECK(kp_model_read(buf + 1, n, &m, err, sizeof(err), NULL, NULL) == KP_EINVAL);
	}
	free(buf);
	return 0;
}
