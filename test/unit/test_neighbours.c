/*
 * test_neighbours.c -- neighbour lists against a brute-force ranking by
 * kp_dot: every built list must hold exactly the best min(L, n − 1) other
 * rows (on data full of exact ties, zero rows and scores that sgemm and
 * kp_dot round differently), top-k from a list must be the exact scan's,
 * and after each of hundreds of random edits every list must still be
 * exactly the top |S| of its row's ranking.
 */
#include <stdint.h>
#include <string.h>

#include "kp_neighbours.h"
#include "kp_score.h"
#include "unit.h"

static uint64_t rng_state = 27182818;

/* Floors of the calls whose floor a test does not check. */
static float built_floor;
static float edited_floor;

static double
rng_unit(void)
{
	return (double) (kp_mix64(rng_state += UINT64_C(0x9e3779b97f4a7c15)) >> 11) *
		(1.0 / 9007199254740992.0);
}

static int32_t
rng_below(int32_t n)
{
	return (int32_t) (rng_unit() * n);
}

/* Box–Muller. */
static double
rng_gauss(void)
{
	double		a = rng_unit();
	double		b = rng_unit();

	return sqrt(-2.0 * log(1.0 - a)) * cos(6.283185307179586 * b);
}

/*
 * Row r of F (rows before it already set): mostly gaussian, sometimes zero,
 * a copy or a scaled copy of an earlier row (exact ties), or small
 * integers (exact ties between different rows).
 */
static void
random_row(float *F, int32_t r, int32_t dims)
{
	float	   *x = F + (size_t) r * dims;
	double		kind = rng_unit();
	int32_t		k;

	if (kind < 0.05)
		memset(x, 0, sizeof(float) * dims);
	else if (kind < 0.20 && r > 0)
	{
		const float *y = F + (size_t) rng_below(r) * dims;
		float		scale = kind < 0.15 ? 1.0f : 3.0f;

		for (k = 0; k < dims; k++)
			x[k] = y[k] * scale;
	}
	else if (kind < 0.30)
		for (k = 0; k < dims; k++)
			x[k] = (float) (rng_below(3) - 1);
	else
		for (k = 0; k < dims; k++)
			x[k] = (float) rng_gauss();
}

static void
random_rows(float *F, int32_t n, int32_t dims)
{
	int32_t		r;

	for (r = 0; r < n; r++)
		random_row(F, r, dims);
}

static const float *rank_scores;

/* Best first: higher score, then lower row. */
static int
cmp_rank(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a;
	int32_t		y = *(const int32_t *) b;

	if (rank_scores[x] != rank_scores[y])
		return rank_scores[x] > rank_scores[y] ? -1 : 1;
	return (x > y) - (x < y);
}

static int
cmp_row(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a;
	int32_t		y = *(const int32_t *) b;

	return (x > y) - (x < y);
}

/* Scratch for brute-force rankings of up to n rows. */
typedef struct brute
{
	int32_t    *order;
	float	   *scores;
	int32_t    *set;
} brute;

static brute
brute_alloc(int32_t n)
{
	brute		b;

	b.order = malloc(sizeof(int32_t) * (n + 1));
	b.scores = malloc(sizeof(float) * (n + 1));
	b.set = malloc(sizeof(int32_t) * (KP_NEIGHBOURS_MAX + 1));
	return b;
}

static void
brute_free(brute *b)
{
	free(b->order);
	free(b->scores);
	free(b->set);
}

/* Every row but v, best first by kp_dot against v; returns n − 1. */
static int32_t
rank_others(brute *b, const float *unit, int32_t n, int32_t dims, int32_t v)
{
	int32_t		count = 0;
	int32_t		r;

	for (r = 0; r < n; r++)
	{
		b->scores[r] = kp_dot(unit + (size_t) v * dims, unit + (size_t) r * dims, dims);
		if (r != v)
			b->order[count++] = r;
	}
	rank_scores = b->scores;
	qsort(b->order, count, sizeof(int32_t), cmp_rank);
	return count;
}

/*
 * Row v's list is well formed (ascending rows of [0, n) other than v,
 * then −1), holds exactly the first |S| rows of v's ranking, and top-k
 * from it is the ranking's first k for every k <= |S| and −1 beyond.
 * Returns |S|, or −1 when any of that fails.
 */
static int32_t
check_list(brute *b, const float *unit, int32_t n, int32_t dims,
		   const int32_t *list, int32_t L, int32_t v)
{
	int32_t		index[KP_NEIGHBOURS_MAX];
	float		score[KP_NEIGHBOURS_MAX];
	int32_t		size = 0;
	int32_t		slot;
	int32_t		k;

	while (size < L && list[size] >= 0)
	{
		if (list[size] >= n || list[size] == v || (size > 0 && list[size] <= list[size - 1]))
			return -1;
		size++;
	}
	for (slot = size; slot < L; slot++)
		if (list[slot] != -1)
			return -1;

	rank_others(b, unit, n, dims, v);
	memcpy(b->set, b->order, sizeof(int32_t) * size);
	qsort(b->set, size, sizeof(int32_t), cmp_row);
	if (memcmp(b->set, list, sizeof(int32_t) * size) != 0)
		return -1;

	for (k = 1; k <= size; k++)
	{
		if (kp_neighbours_topk(unit, dims, list, L, v, k, index, score) != k)
			return -1;
		for (slot = 0; slot < k; slot++)
			if (index[slot] != b->order[slot] || score[slot] != b->scores[b->order[slot]])
				return -1;
	}
	if (size < L && kp_neighbours_topk(unit, dims, list, L, v, size + 1, index, score) != -1)
		return -1;
	return size;
}

/* Size of a fresh list of a model of n rows. */
static int32_t
full_size(int32_t n, int32_t L)
{
	return n - 1 < L ? (n > 0 ? n - 1 : 0) : L;
}

/* Checks every list; returns the smallest |S| (0 for no rows), or −1 when a list fails. */
static int32_t
check_lists(const float *unit, int32_t n, int32_t dims, const int32_t *lists, int32_t L)
{
	brute		b = brute_alloc(n);
	int32_t		smallest = n > 0 ? L : 0;
	int32_t		v;

	for (v = 0; v < n; v++)
	{
		int32_t		size = check_list(&b, unit, n, dims, lists + (size_t) v * L, L, v);

		if (size < smallest)
			smallest = size;
		if (size < 0)
			break;
	}
	brute_free(&b);
	return smallest;
}

static void
test_unit_rows(void)
{
	int32_t		n = 200;
	int32_t		dims = 7;
	float	   *F = malloc(sizeof(float) * n * dims);
	float	   *unit = malloc(sizeof(float) * n * dims);
	int			norms_ok = 1;
	int			zeros_ok = 1;
	int			zero_rows = 0;
	int32_t		r;
	int32_t		k;

	random_rows(F, n, dims);
	for (k = 0; k < dims; k++)
		F[(size_t) 5 * dims + k] = 0.0f;
	F[(size_t) 6 * dims] = 1e-30f;	/* tiny, with underflowing squares in float */
	for (k = 1; k < dims; k++)
		F[(size_t) 6 * dims + k] = 0.0f;
	kp_unit_rows(F, n, dims, unit);
	for (r = 0; r < n; r++)
	{
		const float *x = F + (size_t) r * dims;
		const float *y = unit + (size_t) r * dims;
		double		norm2 = 0.0;
		double		unit2 = 0.0;

		for (k = 0; k < dims; k++)
		{
			norm2 += (double) x[k] * x[k];
			unit2 += (double) y[k] * y[k];
		}
		if (norm2 == 0.0)
		{
			zero_rows++;
			for (k = 0; k < dims; k++)
				zeros_ok &= y[k] == 0.0f;
			continue;
		}
		norms_ok &= fabs(sqrt(unit2) - 1.0) < 1e-6;
		for (k = 0; k < dims; k++)
			norms_ok &= y[k] == (float) (x[k] / sqrt(norm2));
	}
	unit_ok(norms_ok && unit[(size_t) 6 * dims] == 1.0f,
			"kp_unit_rows: unit norms, each value (float) (x / norm in double), tiny rows too");
	unit_ok(zeros_ok && zero_rows >= 2, "kp_unit_rows: %d zero rows stay zero", zero_rows);
	kp_unit_rows(F, n, dims, F);
	unit_ok(memcmp(F, unit, sizeof(float) * n * dims) == 0, "kp_unit_rows in place");
	free(F);
	free(unit);
}

/* The lowest score of a list member against its row; the empty floor when no list has one. */
static float
lowest_member_score(const float *unit, int32_t n, int32_t dims, const int32_t *lists, int32_t L)
{
	float		lowest = KP_NEIGHBOURS_EMPTY_FLOOR;
	int32_t		v;
	int32_t		slot;

	for (v = 0; v < n; v++)
		for (slot = 0; slot < L && lists[(size_t) v * L + slot] >= 0; slot++)
		{
			float		s = kp_dot(unit + (size_t) v * dims,
								   unit + (size_t) lists[(size_t) v * L + slot] * dims, dims);

			if (s < lowest)
				lowest = s;
		}
	return lowest;
}

/*
 * kp_neighbours_build on n rows of dims dimensions; near_ties rows are
 * copies of one vector changed in their last bits, where sgemm's and
 * kp_dot's orders disagree.
 */
static void
test_build(int32_t n, int32_t dims, int32_t L, int32_t near_ties)
{
	float	   *F = malloc(sizeof(float) * ((size_t) n * dims + 1));
	float	   *unit = malloc(sizeof(float) * ((size_t) n * dims + 1));
	int32_t    *lists = malloc(sizeof(int32_t) * ((size_t) n * L + 1));
	unit_counting counting = {0};
	kp_allocator alloc = unit_counting_allocator(&counting);
	kp_status	status;
	int32_t		smallest;
	int32_t		r;
	int32_t		k;

	random_rows(F, n, dims);
	for (r = 0; r < near_ties && r < n; r++)
		for (k = 0; k < dims; k++)
			F[(size_t) r * dims + k] = (float) (1.0 + k % 5) *
				(float) (1.0 + (rng_unit() - 0.5) * 4e-7);
	kp_unit_rows(F, n, dims, unit);
	status = kp_neighbours_build(&alloc, unit, n, dims, L, lists, &built_floor, NULL, NULL);
	smallest = status == KP_OK ? check_lists(unit, n, dims, lists, L) : -1;
	unit_ok(status == KP_OK && smallest == full_size(n, L) && counting.live == 0 &&
			built_floor == lowest_member_score(unit, n, dims, lists, L),
			"build n = %d, dims = %d, L = %d%s: every list the exact top %d, the floor its lowest score",
			n, dims, L, near_ties ? " (near ties)" : "", full_size(n, L));
	free(F);
	free(unit);
	free(lists);
}

static void
test_build_failures(void)
{
	int32_t		n = 1500;
	int32_t		dims = 4;
	float	   *unit = malloc(sizeof(float) * n * dims);
	int32_t    *lists = malloc(sizeof(int32_t) * n * 5);
	const kp_allocator *plain = &kp_malloc_allocator;
	int			nomem_ok = 1;
	int			fail_at;

	random_rows(unit, n, dims);
	kp_unit_rows(unit, n, dims, unit);
	unit_ok(kp_neighbours_build(plain, unit, -1, dims, 5, lists, &built_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_build(plain, unit, n, 0, 5, lists, &built_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_build(plain, unit, n, KP_SCORE_MAX_COLS + 1, 5, lists, &built_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_build(plain, unit, n, dims, 0, lists, &built_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_build(plain, unit, n, dims, KP_NEIGHBOURS_MAX + 1, lists, &built_floor, NULL, NULL) == KP_EINVAL,
			"build: KP_EINVAL for n < 0, dims 0 or too many, L 0 or above KP_NEIGHBOURS_MAX");
	for (fail_at = 1; fail_at <= 4; fail_at++)
	{
		unit_counting counting = {0};
		kp_allocator alloc = unit_counting_allocator(&counting);

		counting.fail_at = fail_at;
		nomem_ok &= kp_neighbours_build(&alloc, unit, n, dims, 5, lists, &built_floor, NULL, NULL) == KP_ENOMEM &&
			counting.live == 0;
	}
	unit_ok(nomem_ok, "build: each failed allocation gives KP_ENOMEM and frees the rest");
	free(unit);
	free(lists);
}

typedef struct stopper
{
	int			calls;
	int			stop_at;		/* 0: never */
} stopper;

static int
count_calls(void *arg)
{
	stopper    *s = arg;

	return ++s->calls == s->stop_at;
}

static void
test_cancel(void)
{
	int32_t		n = 2600;		/* 3 blocks: 6 pairs of blocks */
	int32_t		n_edit = 9000;	/* checks at rows 0, 4096 and 8192 */
	int32_t		dims = 3;
	float	   *unit = malloc(sizeof(float) * n * dims);
	int32_t    *lists = malloc(sizeof(int32_t) * (n_edit + 1) * 5);
	int32_t    *lists_out = malloc(sizeof(int32_t) * n_edit * 5);
	stopper		never = {0, 0};
	kp_status	status;
	int			stops_ok = 1;
	int			stop_at;

	random_rows(unit, n, dims);
	kp_unit_rows(unit, n, dims, unit);
	status = kp_neighbours_build(&kp_malloc_allocator, unit, n, dims, 5, lists, &built_floor, count_calls, &never);
	unit_ok(status == KP_OK && never.calls == 6,
			"build: a callback that never stops is called once per pair of blocks (%d)", never.calls);
	for (stop_at = 1; stop_at <= 6; stop_at++)
	{
		stopper		s = {0, stop_at};

		stops_ok &= kp_neighbours_build(&kp_malloc_allocator, unit, n, dims, 5, lists, &built_floor, count_calls, &s) ==
			KP_ECANCELLED && s.calls == stop_at;
	}
	unit_ok(stops_ok, "build: KP_ECANCELLED at each of its 6 checks when asked");

	memset(lists, 0xff, sizeof(int32_t) * (n_edit + 1) * 5);
	never.calls = 0;
	stops_ok = kp_neighbours_edit(lists, n_edit + 1, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REMOVE, 17, NULL, n_edit, 0,
								  lists_out, &edited_floor, count_calls, &never) == KP_OK && never.calls == 3;
	for (stop_at = 1; stop_at <= 3; stop_at++)
	{
		stopper		s = {0, stop_at};

		stops_ok &= kp_neighbours_edit(lists, n_edit + 1, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REMOVE, 17, NULL, n_edit, 0,
									   lists_out, &edited_floor, count_calls, &s) == KP_ECANCELLED && s.calls == stop_at;
	}
	unit_ok(stops_ok, "edit: called every 4,096 rows; KP_ECANCELLED at each check when asked");
	free(unit);
	free(lists);
	free(lists_out);
}

/* A model's rows and lists while it is edited: room for `capacity` rows. */
typedef struct edited
{
	int32_t		n;
	int32_t		dims;
	int32_t		L;
	float	   *F;
	float	   *unit;
	int32_t    *lists;
	float		floor;
	int32_t    *lists_next;
	int32_t    *lists_unfloored;	/* the same edit with no floor to skip by */
} edited;

static edited
edited_build(int32_t n, int32_t dims, int32_t L, int32_t capacity)
{
	edited		m;

	m.n = n;
	m.dims = dims;
	m.L = L;
	m.F = malloc(sizeof(float) * capacity * dims);
	m.unit = malloc(sizeof(float) * capacity * dims);
	m.lists = malloc(sizeof(int32_t) * capacity * L);
	m.lists_next = malloc(sizeof(int32_t) * capacity * L);
	m.lists_unfloored = malloc(sizeof(int32_t) * capacity * L);
	random_rows(m.F, n, dims);
	kp_unit_rows(m.F, n, dims, m.unit);
	kp_neighbours_build(&kp_malloc_allocator, m.unit, n, dims, L, m.lists, &m.floor, NULL, NULL);
	return m;
}

static void
edited_free(edited *m)
{
	free(m->F);
	free(m->unit);
	free(m->lists);
	free(m->lists_next);
	free(m->lists_unfloored);
}

/*
 * Applies one edit to the rows (a new random vector for REPLACE and
 * INSERT) and to the lists; returns the smallest |S| of the checked lists,
 * or −1 when the edit fails, a list is not an exact top set, the floor is
 * above a member's score, or the lists differ from those of the same edit
 * with the lowest floor (which skips no row).
 */
static int32_t
apply_edit(edited *m, kp_neighbour_edit edit, int32_t row)
{
	int32_t		dims = m->dims;
	int32_t		n_new = m->n + (edit == KP_NEIGHBOUR_INSERT) - (edit == KP_NEIGHBOUR_REMOVE);
	float	   *scratch_row = malloc(sizeof(float) * dims);
	int32_t    *swap;
	kp_status	status;

	if (edit == KP_NEIGHBOUR_REMOVE)
		memmove(m->F + (size_t) row * dims, m->F + (size_t) (row + 1) * dims,
				sizeof(float) * (m->n - row - 1) * dims);
	else
	{
		/* random_row may copy an earlier row: draw it at the end, then move it */
		random_row(m->F, m->n, dims);
		memcpy(scratch_row, m->F + (size_t) m->n * dims, sizeof(float) * dims);
		if (edit == KP_NEIGHBOUR_INSERT)
			memmove(m->F + (size_t) (row + 1) * dims, m->F + (size_t) row * dims,
					sizeof(float) * (m->n - row) * dims);
		memcpy(m->F + (size_t) row * dims, scratch_row, sizeof(float) * dims);
	}
	free(scratch_row);
	kp_unit_rows(m->F, n_new, dims, m->unit);

	status = kp_neighbours_edit(m->lists, m->n, m->L, m->floor, edit, row, m->unit, n_new, dims,
								m->lists_next, &m->floor, NULL, NULL);
	if (status == KP_OK)
		status = kp_neighbours_edit(m->lists, m->n, m->L, -2.0f, edit, row, m->unit, n_new, dims,
									m->lists_unfloored, &edited_floor, NULL, NULL);
	m->n = n_new;
	swap = m->lists;
	m->lists = m->lists_next;
	m->lists_next = swap;
	if (status != KP_OK ||
		memcmp(m->lists, m->lists_unfloored, sizeof(int32_t) * (size_t) n_new * m->L) != 0 ||
		m->floor > lowest_member_score(m->unit, n_new, dims, m->lists, m->L))
		return -1;
	return check_lists(m->unit, m->n, dims, m->lists, m->L);
}

/* Random edits that keep about n0 rows; every list checked after each. */
static void
test_edit_sequence(int32_t n0, int32_t dims, int32_t L, int32_t n_edits)
{
	edited		m = edited_build(n0, dims, L, 2 * n0 + n_edits + 1);
	int64_t		total = 0;
	int			ok = 1;
	int32_t		counts[3] = {0, 0, 0};
	int32_t		e;
	int32_t		v;

	ok = check_lists(m.unit, m.n, dims, m.lists, L) >= 0;
	for (e = 0; ok && e < n_edits; e++)
	{
		kp_neighbour_edit edit = m.n == 0 ? KP_NEIGHBOUR_INSERT : (kp_neighbour_edit) rng_below(3);
		int32_t		row = rng_below(edit == KP_NEIGHBOUR_INSERT ? m.n + 1 : m.n);
		int32_t		n_new = m.n + (edit == KP_NEIGHBOUR_INSERT) - (edit == KP_NEIGHBOUR_REMOVE);

		counts[edit]++;
		ok = apply_edit(&m, edit, row) == full_size(n_new, L);
	}
	for (v = 0; v < m.n; v++)
	{
		int32_t		slot;

		for (slot = 0; slot < L; slot++)
			total += m.lists[(size_t) v * L + slot] >= 0;
	}
	unit_ok(ok, "%d edits (%d removals, %d replacements, %d insertions) of ~%d rows, dims %d, L = %d: "
			"every list an exact top set, and full (refilled), after each (mean size %.2f at the end)",
			e, counts[0], counts[1], counts[2], n0, dims, L, m.n ? (double) total / m.n : 0.0);
	edited_free(&m);
}

/*
 * apply_edit, and when every list held all the other rows before, every
 * list holds all of them (at most L) after.
 */
static int
keeps_exact(edited *m, kp_neighbour_edit edit, int32_t row)
{
	int			complete = m->n - 1 <= m->L &&
		check_lists(m->unit, m->n, m->dims, m->lists, m->L) == full_size(m->n, m->L);
	int32_t		smallest = apply_edit(m, edit, row);

	return complete ? smallest == full_size(m->n, m->L) : smallest >= 0;
}

/* A model of 3 rows removed down to none and grown back to L + 2 rows. */
static void
test_edit_small(int32_t L)
{
	edited		m = edited_build(3, 4, L, L + 8);
	int			ok = check_lists(m.unit, m.n, m.dims, m.lists, L) == full_size(3, L);

	ok &= keeps_exact(&m, KP_NEIGHBOUR_REMOVE, 1);
	ok &= keeps_exact(&m, KP_NEIGHBOUR_REPLACE, 0);
	ok &= keeps_exact(&m, KP_NEIGHBOUR_REMOVE, 1);
	ok &= keeps_exact(&m, KP_NEIGHBOUR_REPLACE, 0) && m.lists[0] == -1;
	ok &= keeps_exact(&m, KP_NEIGHBOUR_REMOVE, 0) && m.n == 0;
	while (ok && m.n <= L + 1)
	{
		ok &= keeps_exact(&m, KP_NEIGHBOUR_INSERT, rng_below(m.n + 1));
		ok &= keeps_exact(&m, KP_NEIGHBOUR_REPLACE, rng_below(m.n));
	}
	unit_ok(ok && m.n == L + 2,
			"L = %d: 3 rows -> 0 -> %d; lists that hold every other row keep doing so", L, m.n);
	edited_free(&m);
}

/* Bad arguments, and lists_in entries out of range or a row's own. */
/*
 * A row in every list moves away: the first KP_NEIGHBOURS_REFILLS lists it
 * left are filled again, the others keep one row less, all still exact.
 */
static void
test_edit_refill_cap(void)
{
	int32_t		n = 200;
	int32_t		dims = 64;
	int32_t		L = 3;
	float	   *F = malloc(sizeof(float) * n * dims);
	float	   *unit = malloc(sizeof(float) * n * dims);
	int32_t    *lists = malloc(sizeof(int32_t) * n * L);
	int32_t    *lists_out = malloc(sizeof(int32_t) * n * L);
	float		floor;
	int32_t		full = 0;
	int32_t		shorter = 0;
	int32_t		v;
	int32_t		k;

	/*
	 * Row 0 on the axis, each other row the axis plus half a random unit
	 * vector orthogonal to it: in 63 dimensions those are nearly orthogonal
	 * to each other, so every row's nearest is row 0 (cosine 0.89 against
	 * about 0.8).
	 */
	for (v = 0; v < n; v++)
	{
		float	   *x = F + (size_t) v * dims;
		double		norm = 0;

		x[0] = 1.0f;
		for (k = 1; k < dims; k++)
		{
			x[k] = v == 0 ? 0.0f : (float) rng_gauss();
			norm += (double) x[k] * x[k];
		}
		for (k = 1; k < dims && v > 0; k++)
			x[k] = (float) (0.5 * x[k] / sqrt(norm));
	}
	kp_unit_rows(F, n, dims, unit);
	kp_neighbours_build(&kp_malloc_allocator, unit, n, dims, L, lists, &floor, NULL, NULL);
	F[0] = -1.0f;
	kp_unit_rows(F, n, dims, unit);
	kp_neighbours_edit(lists, n, L, floor, KP_NEIGHBOUR_REPLACE, 0, unit, n, dims, lists_out, &floor,
					   NULL, NULL);
	for (v = 1; v < n; v++)
	{
		full += lists_out[(size_t) v * L + L - 1] >= 0;
		shorter += lists_out[(size_t) v * L + L - 2] >= 0 && lists_out[(size_t) v * L + L - 1] < 0;
	}
	unit_ok(check_lists(unit, n, dims, lists_out, L) >= 0 && full == KP_NEIGHBOURS_REFILLS &&
			shorter == n - 1 - KP_NEIGHBOURS_REFILLS,
			"a row leaves all %d other lists: %d filled again, %d one shorter, all exact",
			n - 1, full, shorter);
	free(F);
	free(unit);
	free(lists);
	free(lists_out);
}

static void
test_edit_arguments(void)
{
	edited		m = edited_build(50, 4, 5, 52);
	int32_t    *out = malloc(sizeof(int32_t) * 52 * 5);
	float	   *unit = m.unit;
	int32_t    *in = m.lists;
	int32_t		v;

	unit_ok(kp_neighbours_edit(in, 50, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REMOVE, 50, NULL, 49, 0, out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REMOVE, -1, NULL, 49, 0, out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REMOVE, 3, NULL, 50, 0, out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REPLACE, 50, unit, 50, 4, out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REPLACE, 3, NULL, 50, 4, out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REPLACE, 3, unit, 50, 0, out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_INSERT, 51, unit, 51, 4, out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, 5, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_INSERT, 3, unit, 50, 4, out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, 0, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REMOVE, 3, NULL, 49, 0, out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, KP_NEIGHBOURS_MAX + 1, KP_NEIGHBOURS_EMPTY_FLOOR, KP_NEIGHBOUR_REMOVE, 3, NULL, 49, 0,
							   out, &edited_floor, NULL, NULL) == KP_EINVAL &&
			kp_neighbours_edit(in, 50, 5, KP_NEIGHBOURS_EMPTY_FLOOR, (kp_neighbour_edit) 7, 3, unit, 50, 4, out, &edited_floor, NULL, NULL) == KP_EINVAL,
			"edit: KP_EINVAL for a row out of range, a wrong n_new, no vectors, L out of range, an unknown edit");

	/* keep each list's 3 best (still exact) and fill the rest with junk */
	for (v = 0; v < 50; v++)
	{
		int32_t    *list = in + (size_t) v * 5;
		int32_t		index[3];
		float		score[3];

		kp_neighbours_topk(unit, 4, list, 5, v, 3, index, score);
		memcpy(list, index, sizeof(index));
		qsort(list, 3, sizeof(int32_t), cmp_row);
		list[3] = v % 2 ? v : -7;
		list[4] = v % 3 ? 50 + v * 1000 : INT32_MIN;
	}
	unit_ok(apply_edit(&m, KP_NEIGHBOUR_REPLACE, 7) >= 2 &&
			apply_edit(&m, KP_NEIGHBOUR_REMOVE, 0) >= 0,
			"edit: entries out of range and a row's own index are ignored");
	free(out);
	edited_free(&m);
}

static void
test_topk_short(void)
{
	int32_t		n = 30;
	int32_t		dims = 5;
	float	   *unit = malloc(sizeof(float) * n * dims);
	int32_t		list[8] = {2, 9, 17, -1, -1, -1, -1, -1};
	int32_t		index[8];
	float		score[8];

	random_rows(unit, n, dims);
	kp_unit_rows(unit, n, dims, unit);
	unit_ok(kp_neighbours_topk(unit, dims, list, 8, 4, 3, index, score) == 3 &&
			kp_neighbours_topk(unit, dims, list, 8, 4, 4, index, score) == -1 &&
			kp_neighbours_topk(unit, dims, list, 8, 4, 0, index, score) == -1 &&
			kp_neighbours_topk(unit, dims, list, 8, 9, 3, index, score) == -1,
			"topk: -1 for k beyond the list (its own row not counted) or k < 1");
	free(unit);
}

int
main(void)
{
	test_unit_rows();

	test_build(0, 3, 5, 0);
	test_build(1, 3, 5, 0);
	test_build(2, 3, 5, 0);
	test_build(2, 1, 1, 0);
	test_build(6, 3, 10, 0);
	test_build(11, 8, 10, 0);
	test_build(300, 1, 7, 0);
	test_build(700, 64, 100, 0);
	test_build(1100, 64, 20, 0);
	test_build(1300, 64, 10, 1000);
	test_build(1500, 8, 1, 0);
	test_build(2600, 3, 10, 0);
	test_build_failures();

	test_topk_short();

	test_edit_sequence(300, 8, 5, 250);
	test_edit_sequence(300, 8, 10, 250);
	test_edit_sequence(40, 2, 7, 400);
	test_edit_sequence(7, 3, 5, 400);
	test_edit_small(1);
	test_edit_small(5);
	test_edit_refill_cap();
	test_edit_arguments();

	test_cancel();
	return unit_done();
}
