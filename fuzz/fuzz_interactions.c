/*
 * fuzz_interactions.c -- libFuzzer target: interactions to served
 * recommendations through the core, the way train_agg drives it.
 *
 * Input: four setting bytes, then records.
 *   byte 0  bit 0 Cholesky instead of CG, bits 1-2 cg_steps - 1,
 *           bit 3 alpha 1e6 instead of 1, bit 4 regularization 0,
 *           bit 5 declare one user too few (kp_csr_from_coo must refuse),
 *           bit 6 cancel from the iteration callback
 *   byte 1  allocation that fails (0: none)
 *   byte 2  call of the interrupt callback that cancels (0: none)
 *   byte 3  k for scoring
 *   record  a flag byte; the user id as 8 raw bytes (flag bit 0) or one
 *           signed byte; the course id likewise (bit 1); the weight as a raw
 *           float (bit 2) or one of a few usual values picked by one byte.
 * Ids go through kp_idmap (insert, find, sort), triples through
 * kp_csr_from_coo, which must match a plain reference, and
 * kp_csr_transpose; small matrices are trained (2 factors, 1 iteration) and
 * every user's top k is checked against a full sort.  Every step succeeds
 * or returns an error status, and nothing the core allocated stays live.
 */
#include <math.h>

#include "fuzz.h"
#include "kp_ials.h"
#include "kp_idmap.h"
#include "kp_sparse.h"

#define SETTING_CHOLESKY 0x01
#define SETTING_BIG_ALPHA 0x08
#define SETTING_NO_REGULARIZATION 0x10
#define SETTING_TOO_FEW_USERS 0x20
#define SETTING_CANCEL_ITERATION 0x40

/* Trained and scored only up to this size: one input must stay fast. */
#define MAX_TRAINED_ROWS 64

typedef struct interactions
{
	int64_t		n;
	int64_t    *users;
	int64_t    *courses;
	float	   *weights;
} interactions;

typedef struct triple
{
	int32_t		row;
	int32_t		col;
	float		value;
} triple;

typedef struct cancel_state
{
	int			calls;
	int			cancel_at;		/* 0: never */
	bool		cancelled;
} cancel_state;

static uint64_t
read_u64(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Decodes records until the input runs out; a cut record is dropped. */
static void
decode(const uint8_t *data, size_t size, interactions *out)
{
	static const float usual_weights[8] = {1.0f, 0.0f, 2.0f, 0.5f, 5.0f, 1e-3f, 100.0f, 1e30f};
	size_t		pos = 0;
	size_t		capacity = size / 3 + 1;

	out->n = 0;
	out->users = malloc(capacity * sizeof(int64_t));
	out->courses = malloc(capacity * sizeof(int64_t));
	out->weights = malloc(capacity * sizeof(float));
	FUZZ_CHECK(out->users && out->courses && out->weights);
	for (;;)
	{
		uint8_t		flags;
		size_t		need;

		if (pos >= size)
			return;
		flags = data[pos];
		need = 1 + ((flags & 1) ? 8 : 1) + ((flags & 2) ? 8 : 1) + ((flags & 4) ? 4 : 1);
		if (size - pos < need)
			return;
		pos++;
		if (flags & 1)
		{
			out->users[out->n] = (int64_t) read_u64(data + pos);
			pos += 8;
		}
		else
			out->users[out->n] = (int8_t) data[pos++];
		if (flags & 2)
		{
			out->courses[out->n] = (int64_t) read_u64(data + pos);
			pos += 8;
		}
		else
			out->courses[out->n] = (int8_t) data[pos++];
		if (flags & 4)
		{
			memcpy(&out->weights[out->n], data + pos, sizeof(float));
			pos += 4;
		}
		else
			out->weights[out->n] = usual_weights[data[pos++] % 8];
		out->n++;
	}
}

static int
by_cell_then_value(const void *a, const void *b)
{
	const triple *x = a;
	const triple *y = b;

	if (x->row != y->row)
		return x->row < y->row ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->value < y->value ? -1 : (x->value > y->value);
}

/*
 * The CSR kp_csr_from_coo must build, summing duplicates in the order it
 * promises (ascending value, in double); returns false where it must refuse.
 */
static bool
reference_csr(int32_t n_rows, int64_t n, const int32_t *rows, const int32_t *cols,
			  const float *vals, int64_t *indptr, int32_t *indices, float *values)
{
	triple	   *t = malloc(((size_t) n + 1) * sizeof(triple));
	int64_t		k;
	int64_t		nnz = 0;
	int32_t		r;
	bool		ok = true;

	FUZZ_CHECK(t != NULL);
	for (k = 0; k < n; k++)
	{
		if (!(vals[k] >= 0) || isinf(vals[k]) || rows[k] >= n_rows)
			ok = false;
		t[k].row = rows[k];
		t[k].col = cols[k];
		t[k].value = vals[k];
	}
	if (ok)
	{
		qsort(t, (size_t) n, sizeof(triple), by_cell_then_value);
		memset(indptr, 0, ((size_t) n_rows + 1) * sizeof(int64_t));
		for (k = 0; k < n && ok;)
		{
			int64_t		start = k;
			double		sum = 0.0;
			float		rounded;

			for (; k < n && t[k].row == t[start].row && t[k].col == t[start].col; k++)
				sum += t[k].value;
			rounded = (float) sum;
			if (isinf(rounded))
				ok = false;
			else if (rounded > 0)
			{
				indices[nnz] = t[start].col;
				values[nnz] = rounded;
				nnz++;
				indptr[t[start].row + 1]++;
			}
		}
		for (r = 0; r < n_rows; r++)
			indptr[r + 1] += indptr[r];
	}
	free(t);
	return ok;
}

static void
check_same_csr(const kp_csr *a, const kp_csr *b)
{
	FUZZ_CHECK(a->n_rows == b->n_rows && a->n_cols == b->n_cols && a->nnz == b->nnz);
	FUZZ_CHECK(memcmp(a->indptr, b->indptr, ((size_t) a->n_rows + 1) * sizeof(int64_t)) == 0);
	FUZZ_CHECK(a->nnz == 0 || memcmp(a->indices, b->indices, (size_t) a->nnz * sizeof(int32_t)) == 0);
	FUZZ_CHECK(a->nnz == 0 || memcmp(a->values, b->values, (size_t) a->nnz * sizeof(float)) == 0);
}

/* Well formed: rows in order, columns strictly increasing and in range, values finite and > 0. */
static void
check_csr_shape(const kp_csr *m)
{
	int32_t		r;
	int64_t		k;

	FUZZ_CHECK(m->indptr[0] == 0 && m->indptr[m->n_rows] == m->nnz);
	for (r = 0; r < m->n_rows; r++)
	{
		FUZZ_CHECK(m->indptr[r] <= m->indptr[r + 1]);
		for (k = m->indptr[r]; k < m->indptr[r + 1]; k++)
		{
			FUZZ_CHECK(m->indices[k] >= 0 && m->indices[k] < m->n_cols);
			FUZZ_CHECK(k == m->indptr[r] || m->indices[k] > m->indices[k - 1]);
			FUZZ_CHECK(m->values[k] > 0 && isfinite(m->values[k]));
		}
	}
}

static int
interrupt_after(void *arg)
{
	cancel_state *c = arg;

	c->calls++;
	if (c->cancel_at != 0 && c->calls >= c->cancel_at)
		c->cancelled = true;
	return c->cancelled;
}

static int
cancel_iteration(void *arg, int32_t iteration)
{
	cancel_state *c = arg;

	c->cancelled = true;
	return 1;
}

/* Maps ids to indices; false when the allocator failed. */
static bool
map_ids(kp_idmap *map, const int64_t *ids, int64_t n, int32_t *index)
{
	int64_t		k;
	int32_t		i;
	int64_t    *before;
	int32_t    *remap;
	kp_status	status;

	for (k = 0; k < n; k++)
	{
		status = kp_idmap_insert(map, ids[k], &index[k]);
		if (status != KP_OK)
		{
			FUZZ_CHECK(status == KP_ENOMEM);
			return false;
		}
		FUZZ_CHECK(index[k] >= 0 && index[k] < map->count && map->ids[index[k]] == ids[k]);
	}
	for (k = 0; k < n; k++)
		FUZZ_CHECK(kp_idmap_find(map, ids[k]) == index[k]);

	before = malloc(((size_t) map->count + 1) * sizeof(int64_t));
	remap = malloc(((size_t) map->count + 1) * sizeof(int32_t));
	FUZZ_CHECK(before && remap);
	memcpy(before, map->ids, (size_t) map->count * sizeof(int64_t));
	/* the sort allocates nothing, so it cannot fail */
	FUZZ_CHECK(kp_idmap_sort(map, remap, NULL, NULL) == KP_OK);
	for (i = 0; i < map->count; i++)
	{
		FUZZ_CHECK(remap[i] >= 0 && remap[i] < map->count && map->ids[remap[i]] == before[i]);
		FUZZ_CHECK(i == 0 || map->ids[i] > map->ids[i - 1]);
		FUZZ_CHECK(kp_idmap_find(map, map->ids[i]) == i);
	}
	for (k = 0; k < n; k++)
		index[k] = remap[index[k]];
	free(before);
	free(remap);
	return true;
}

static void
train_and_score(fuzz_allocator *alloc, const kp_csr *user_items, const kp_csr *item_users,
				const uint8_t *settings)
{
	kp_ials_params params;
	cancel_state interrupts = {0, settings[2], false};
	cancel_state iterations = {0, 0, false};
	float	   *user_factors;
	float	   *item_factors;
	kp_qmatrix	Q;
	kp_score_scratch scratch;
	kp_status	status;
	size_t		live_before = alloc->live;
	int32_t		u;
	size_t		k;

	kp_ials_default_params(&params);
	params.factors = 2;
	params.iterations = 1;
	params.solver = (settings[0] & SETTING_CHOLESKY) ? KP_SOLVER_CHOLESKY : KP_SOLVER_CG;
	params.cg_steps = 1 + ((settings[0] >> 1) & 3);
	params.alpha = (settings[0] & SETTING_BIG_ALPHA) ? 1e6f : 1.0f;
	params.regularization = (settings[0] & SETTING_NO_REGULARIZATION) ? 0.0f : 0.01f;

	user_factors = malloc(((size_t) user_items->n_rows * 2 + 1) * sizeof(float));
	item_factors = malloc(((size_t) user_items->n_cols * 2 + 1) * sizeof(float));
	FUZZ_CHECK(user_factors && item_factors);
	status = kp_ials_train(&alloc->base, user_items, item_users, &params, user_factors, item_factors,
						   interrupt_after, &interrupts,
						   (settings[0] & SETTING_CANCEL_ITERATION) ? cancel_iteration : NULL, &iterations);
	FUZZ_CHECK(status != KP_EINVAL);
	FUZZ_CHECK(status != KP_ENOMEM || (alloc->fail_at != 0 && alloc->calls >= alloc->fail_at));
	FUZZ_CHECK((status == KP_ECANCELLED) == (interrupts.cancelled || iterations.cancelled));
	FUZZ_CHECK(alloc->live == live_before);
	if (status == KP_OK)
	{
		for (k = 0; k < (size_t) user_items->n_rows * 2; k++)
			FUZZ_CHECK(isfinite(user_factors[k]));
		for (k = 0; k < (size_t) user_items->n_cols * 2; k++)
			FUZZ_CHECK(isfinite(item_factors[k]));
		if (kp_qmatrix_build(&alloc->base, item_factors, user_items->n_cols, 2, &Q, NULL, NULL) == KP_OK)
		{
			if (kp_score_scratch_init(&alloc->base, user_items->n_cols, 2, &scratch) == KP_OK)
			{
				for (u = 0; u < user_items->n_rows; u++)
					fuzz_check_topk(&Q, item_factors, user_factors + (size_t) u * 2,
									user_items->indices + user_items->indptr[u],
									user_items->indptr[u + 1] - user_items->indptr[u],
									1 + settings[3] % 70, &scratch);
				kp_score_scratch_free(&alloc->base, &scratch);
			}
			kp_qmatrix_free(&alloc->base, &Q);
		}
		FUZZ_CHECK(alloc->live == live_before);
	}
	free(user_factors);
	free(item_factors);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *settings = data;
	fuzz_allocator alloc;
	interactions in;
	kp_idmap	users;
	kp_idmap	items;
	int32_t    *rows;
	int32_t    *cols;
	int32_t    *reversed_rows;
	int32_t    *reversed_cols;
	float	   *reversed_vals;
	kp_csr		user_items;
	kp_csr		again;
	kp_csr		item_users;
	kp_csr		back;
	kp_csr		expected;
	int32_t		n_rows;
	int64_t		k;
	bool		valid;
	kp_status	status;

	if (size < 4)
		return 0;
	decode(data + 4, size - 4, &in);
	fuzz_allocator_init(&alloc, settings[1]);
	rows = malloc(((size_t) in.n + 1) * sizeof(int32_t));
	cols = malloc(((size_t) in.n + 1) * sizeof(int32_t));
	reversed_rows = malloc(((size_t) in.n + 1) * sizeof(int32_t));
	reversed_cols = malloc(((size_t) in.n + 1) * sizeof(int32_t));
	reversed_vals = malloc(((size_t) in.n + 1) * sizeof(float));
	FUZZ_CHECK(rows && cols && reversed_rows && reversed_cols && reversed_vals);
	memset(&user_items, 0, sizeof(user_items));
	memset(&item_users, 0, sizeof(item_users));

	if (kp_idmap_init(&users, &alloc.base, 0) != KP_OK)
		goto done;
	if (kp_idmap_init(&items, &alloc.base, 0) != KP_OK)
	{
		kp_idmap_free(&users);
		goto done;
	}
	if (!map_ids(&users, in.users, in.n, rows) || !map_ids(&items, in.courses, in.n, cols))
		goto free_maps;

	n_rows = users.count;
	if ((settings[0] & SETTING_TOO_FEW_USERS) && n_rows > 0)
		n_rows--;
	expected.n_rows = n_rows;
	expected.indptr = malloc(((size_t) n_rows + 1) * sizeof(int64_t));
	expected.indices = malloc(((size_t) in.n + 1) * sizeof(int32_t));
	expected.values = malloc(((size_t) in.n + 1) * sizeof(float));
	FUZZ_CHECK(expected.indptr && expected.indices && expected.values);
	valid = reference_csr(n_rows, in.n, rows, cols, in.weights,
						  expected.indptr, expected.indices, expected.values);
	status = kp_csr_from_coo(&alloc.base, n_rows, items.count, in.n, rows, cols, in.weights, &user_items, NULL, NULL);
	FUZZ_CHECK(status == KP_OK || status == KP_EINVAL || status == KP_ENOMEM);
	FUZZ_CHECK(status == KP_ENOMEM || (status == KP_OK) == valid);
	if (status == KP_OK)
	{
		expected.n_cols = items.count;
		expected.nnz = expected.indptr[n_rows];
		check_csr_shape(&user_items);
		check_same_csr(&user_items, &expected);

		/* the result does not depend on the order of the triples */
		for (k = 0; k < in.n; k++)
		{
			reversed_rows[k] = rows[in.n - 1 - k];
			reversed_cols[k] = cols[in.n - 1 - k];
			reversed_vals[k] = in.weights[in.n - 1 - k];
		}
		if (kp_csr_from_coo(&alloc.base, n_rows, items.count, in.n, reversed_rows, reversed_cols,
							reversed_vals, &again, NULL, NULL) == KP_OK)
		{
			check_same_csr(&user_items, &again);
			kp_csr_free(&alloc.base, &again);
		}

		if (kp_csr_transpose(&alloc.base, &user_items, &item_users, NULL, NULL) == KP_OK)
		{
			check_csr_shape(&item_users);
			FUZZ_CHECK(item_users.n_rows == user_items.n_cols && item_users.nnz == user_items.nnz);
			if (kp_csr_transpose(&alloc.base, &item_users, &back, NULL, NULL) == KP_OK)
			{
				check_same_csr(&user_items, &back);
				kp_csr_free(&alloc.base, &back);
			}
			if (user_items.n_rows <= MAX_TRAINED_ROWS && user_items.n_cols <= MAX_TRAINED_ROWS &&
				user_items.n_cols > 0)
				train_and_score(&alloc, &user_items, &item_users, settings);
			kp_csr_free(&alloc.base, &item_users);
		}
		kp_csr_free(&alloc.base, &user_items);
	}
	free(expected.indptr);
	free(expected.indices);
	free(expected.values);

free_maps:
	kp_idmap_free(&users);
	kp_idmap_free(&items);
done:
	FUZZ_CHECK(alloc.live == 0);
	free(in.users);
	free(in.courses);
	free(in.weights);
	free(rows);
	free(cols);
	free(reversed_rows);
	free(reversed_cols);
	free(reversed_vals);
	return 0;
}
