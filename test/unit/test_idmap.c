/*
 * test_idmap.c -- the int64 -> int32 id map against sorted references.
 */
#include <stdint.h>
#include <string.h>

#include "kp_idmap.h"
#include "unit.h"

static uint64_t rng_state = 777;

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

static void
test_random_ids(void)
{
	enum
	{
		N = 1000000
	};
	int64_t    *ids = malloc(N * sizeof(int64_t));
	int64_t    *sorted = malloc(N * sizeof(int64_t));
	int32_t    *index = malloc(N * sizeof(int32_t));
	int32_t    *remap;
	int32_t		distinct = 0;
	int32_t		next_new = 0;
	int			first_seen_in_order = 1;
	int			consistent = 1;
	int			sorted_ok = 1;
	int			remap_ok = 1;
	int64_t    *before;
	kp_idmap	map;
	int			i;

	/* about a third repeat an earlier id; the rest are arbitrary int64 */
	for (i = 0; i < N; i++)
		ids[i] = (i > 0 && splitmix64(&rng_state) % 3 == 0) ?
			ids[splitmix64(&rng_state) % i] : (int64_t) splitmix64(&rng_state);
	memcpy(sorted, ids, N * sizeof(int64_t));
	qsort(sorted, N, sizeof(int64_t), cmp_int64);
	for (i = 0; i < N; i++)
		if (i == 0 || sorted[i] != sorted[i - 1])
			sorted[distinct++] = sorted[i];

	unit_ok(kp_idmap_init(&map, &kp_malloc_allocator, 0) == KP_OK, "init with no expected size");
	for (i = 0; i < N; i++)
	{
		if (kp_idmap_insert(&map, ids[i], &index[i]) != KP_OK)
			consistent = 0;
		if (index[i] == next_new)
			next_new++;
		else if (index[i] > next_new)
			first_seen_in_order = 0;
	}
	unit_ok(consistent && map.count == distinct,
			"1e6 inserts (growing from empty) keep one index per distinct id");
	unit_ok(first_seen_in_order && next_new == distinct,
			"indices are assigned in order of first insertion");
	for (i = 0; i < N; i++)
		if (map.ids[index[i]] != ids[i] || kp_idmap_find(&map, ids[i]) != index[i])
			consistent = 0;
	unit_ok(consistent, "find returns the inserted index for every id");
	unit_ok(kp_idmap_find(&map, sorted[0] - 1) == -1 || sorted[0] == INT64_MIN,
			"an absent id is not found");
	unit_ok((uint64_t) map.mask + 1 >= 2 * (uint64_t) map.count,
			"the slot table stays at most half full");

	before = malloc((size_t) map.count * sizeof(int64_t));
	memcpy(before, map.ids, (size_t) map.count * sizeof(int64_t));
	remap = malloc((size_t) map.count * sizeof(int32_t));
	unit_ok(kp_idmap_sort(&map, remap, NULL, NULL) == KP_OK, "sort succeeds");
	for (i = 0; i < map.count; i++)
	{
		if (map.ids[i] != sorted[i])
			sorted_ok = 0;
		if (map.ids[remap[i]] != before[i])
			remap_ok = 0;
		if (kp_idmap_find(&map, sorted[i]) != i)
			sorted_ok = 0;
	}
	unit_ok(sorted_ok, "after sort, indices follow ascending id order and find agrees");
	unit_ok(remap_ok, "remap[old] is the new index of the same id");

	kp_idmap_free(&map);
	free(ids);
	free(sorted);
	free(index);
	free(remap);
	free(before);
}

static void
test_collisions(void)
{
	int64_t		colliding[64];
	int64_t		absent_collider = 0;
	int			fit;
	int			found = 0;
	int			ok = 1;
	int32_t		index;
	int64_t		candidate;
	uint32_t	initial_mask;
	kp_idmap	map;
	int			i;

	kp_idmap_init(&map, &kp_malloc_allocator, 0);
	initial_mask = map.mask;
	fit = (int) (initial_mask + 1) / 2;

	/* ids that share one home slot in the initial table */
	for (candidate = 1; found < fit + 2; candidate++)
	{
		if ((kp_mix64((uint64_t) candidate) & initial_mask) != (kp_mix64(1) & initial_mask))
			continue;
		if (found <= fit)
			colliding[found] = candidate;
		else
			absent_collider = candidate;
		found++;
	}
	for (i = 0; i < fit; i++)
		ok &= kp_idmap_insert(&map, colliding[i], &index) == KP_OK && index == i;
	unit_ok(ok && map.mask == initial_mask,
			"ids sharing one home slot fill the initial table to half");
	for (i = 0; i < fit; i++)
		ok &= kp_idmap_find(&map, colliding[i]) == i;
	unit_ok(ok, "every id along the probe chain is found");
	unit_ok(kp_idmap_find(&map, absent_collider) == -1,
			"an absent id with the same home slot is not found");
	ok &= kp_idmap_insert(&map, colliding[fit], &index) == KP_OK && index == fit;
	for (i = 0; i <= fit; i++)
		ok &= kp_idmap_find(&map, colliding[i]) == i;
	unit_ok(ok && map.mask > initial_mask, "the table grows and rehashes colliding ids");
	kp_idmap_free(&map);
}

static void
test_extreme_ids(void)
{
	int64_t		ids[] = {0, -1, 1, INT64_MIN, INT64_MAX, (int64_t) 1 << 32,
	(int64_t) 2 << 32, -((int64_t) 1 << 32)};
	int			n = (int) (sizeof(ids) / sizeof(ids[0]));
	int32_t		remap[8];
	int32_t		index;
	kp_idmap	map;
	int			ok = 1;
	int			i;

	kp_idmap_init(&map, &kp_malloc_allocator, 2);
	for (i = 0; i < n; i++)
		ok &= kp_idmap_insert(&map, ids[i], &index) == KP_OK && index == i;
	for (i = 0; i < n; i++)
		ok &= kp_idmap_insert(&map, ids[i], &index) == KP_OK && index == i;
	unit_ok(ok && map.count == n, "0, -1, INT64_MIN/MAX and multiples of 2^32 are distinct keys");
	kp_idmap_sort(&map, remap, NULL, NULL);
	unit_ok(map.ids[0] == INT64_MIN && map.ids[n - 1] == INT64_MAX &&
			remap[3] == 0 && remap[4] == n - 1,
			"sort orders signed ids, INT64_MIN first");
	kp_idmap_free(&map);
}

static void
test_from_array(void)
{
	int64_t		ids[] = {50, -3, 7, 1000000000000};
	int64_t		dup[] = {1, 2, 1};
	int32_t		index;
	int32_t		remap[4];
	unit_counting ctx = {0, 0, 0, 0};
	kp_allocator a = unit_counting_allocator(&ctx);
	kp_idmap	map;
	int			ok = 1;
	int			i;

	unit_ok(kp_idmap_from_array(&map, &a, ids, 4, NULL, NULL) == KP_OK, "from_array succeeds");
	for (i = 0; i < 4; i++)
		ok &= kp_idmap_find(&map, ids[i]) == i;
	unit_ok(ok && map.ids == ids, "from_array indexes the borrowed array in place");
	unit_ok(kp_idmap_insert(&map, 7, &index) == KP_OK && index == 2,
			"inserting a known id into a read-only map returns its index");
	unit_ok(kp_idmap_insert(&map, 8, &index) == KP_EINVAL,
			"a read-only map refuses new ids");
	unit_ok(kp_idmap_sort(&map, remap, NULL, NULL) == KP_EINVAL, "a read-only map cannot be sorted");
	kp_idmap_free(&map);
	unit_ok(ctx.live == 0 && ids[0] == 50, "free leaves the borrowed array alone");
	unit_ok(kp_idmap_from_array(&map, &a, dup, 3, NULL, NULL) == KP_EINVAL && ctx.live == 0,
			"a duplicate id is rejected without leaking");
	unit_ok(kp_idmap_from_array(&map, &a, NULL, 0, NULL, NULL) == KP_OK &&
			kp_idmap_find(&map, 0) == -1, "an empty array gives an empty map");
	kp_idmap_free(&map);
}

static void
test_allocation_failure(void)
{
	unit_counting ctx = {0, 0, 0, 0};
	kp_allocator a = unit_counting_allocator(&ctx);
	kp_idmap	map;
	int32_t		index;
	int64_t		id;
	kp_status	status = KP_OK;
	int			ok = 1;

	kp_idmap_init(&map, &a, 0);
	ctx.fail_at = ctx.calls + 1;
	for (id = 0; id < 100 && status == KP_OK; id++)
		status = kp_idmap_insert(&map, id * 3, &index);
	unit_ok(status == KP_ENOMEM, "growth reports KP_ENOMEM when the allocator fails");
	for (id = 0; id < map.count; id++)
		ok &= kp_idmap_find(&map, id * 3) == id;
	ctx.fail_at = 0;
	ok &= kp_idmap_insert(&map, 999, &index) == KP_OK && index == map.count - 1;
	unit_ok(ok, "the map stays usable after a failed growth");
	kp_idmap_free(&map);
	unit_ok(ctx.live == 0, "free releases everything");
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

/* Inserts ids[0 .. n) into a fresh map, sorts it and checks order and remap. */
static int
sorts_correctly(const int64_t *ids, int32_t n)
{
	kp_idmap	map;
	int32_t    *remap = malloc((size_t) n * sizeof(int32_t));
	int32_t		index;
	int			ok = kp_idmap_init(&map, &kp_malloc_allocator, 0) == KP_OK;
	int32_t		i;

	for (i = 0; i < n; i++)
		ok &= kp_idmap_insert(&map, ids[i], &index) == KP_OK && index == i;
	ok &= kp_idmap_sort(&map, remap, NULL, NULL) == KP_OK;
	for (i = 0; i < n; i++)
		ok &= map.ids[remap[i]] == ids[i] && (i == 0 || map.ids[i] > map.ids[i - 1]) &&
			kp_idmap_find(&map, map.ids[i]) == i;
	kp_idmap_free(&map);
	free(remap);
	return ok;
}

static void
test_sort_orders(void)
{
	/*
	 * A median-of-three killer for this quicksort (made with McIlroy's
	 * antiqsort): it would take 20 partitions, so past the depth limit the
	 * rest is heapsorted.
	 */
	static const int64_t killer[] = {
		0, 20, 2, 21, 4, 22, 6, 23, 8, 24, 10, 25, 12, 26, 14, 27, 16, 28, 18, 29,
		3, 5, 7, 9, 11, 13, 15, 17, 19, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 1
	};
	enum
	{
		N = 100000
	};
	int64_t    *ids = malloc(N * sizeof(int64_t));
	int			i;

	unit_ok(sorts_correctly(killer, 40), "a median-of-three killer sorts (heapsort past the depth limit)");
	for (i = 0; i < N; i++)
		ids[i] = (int64_t) i * 3;
	unit_ok(sorts_correctly(ids, N), "ascending ids sort");
	for (i = 0; i < N; i++)
		ids[i] = (int64_t) (N - i) * 3;
	unit_ok(sorts_correctly(ids, N), "descending ids sort");
	for (i = 0; i < N; i++)
		ids[i] = i < N / 2 ? 2 * (int64_t) i : 2 * (int64_t) (N - i) + 1;
	unit_ok(sorts_correctly(ids, N), "organ-pipe ids sort");
	for (i = 0; i < 17; i++)
		ids[i] = 17 - i;
	unit_ok(sorts_correctly(ids, 1) && sorts_correctly(ids, 16) && sorts_correctly(ids, 17),
			"1, 16 and 17 ids sort");
	free(ids);
}

/*
 * Cancelled at calls spread over their run, sort and from_array stop with
 * KP_ECANCELLED; the map can then be freed without leaking.
 */
static void
test_cancellation(void)
{
	enum
	{
		N = 1 << 20, RUNS = 10
	};
	int64_t    *ids = malloc(N * sizeof(int64_t));
	int32_t    *remap = malloc(N * sizeof(int32_t));
	unit_counting ctx = {0, 0, 0, 0};
	kp_allocator a = unit_counting_allocator(&ctx);
	canceller	c = {0, 0};
	kp_idmap	map;
	int32_t		index;
	int			sort_calls;
	int			from_array_calls;
	int			all_cancelled = 1;
	int			ok = 1;
	int			i;

	for (i = 0; i < N; i++)
		ids[i] = (int64_t) splitmix64(&rng_state);
	kp_idmap_init(&map, &a, 0);
	for (i = 0; i < N; i++)
		kp_idmap_insert(&map, ids[i], &index);
	unit_ok(kp_idmap_sort(&map, remap, cancel_at_call, &c) == KP_OK,
			"sort with a callback that never cancels");
	sort_calls = c.calls;
	for (i = 0; i < N; i++)
		ok &= map.ids[remap[i]] == ids[i] && (i == 0 || map.ids[i] > map.ids[i - 1]);
	unit_ok(ok && sort_calls >= 16 * (N >> 16),
			"sorts as without one, asking every 65536 ids visited (%d calls)", sort_calls);
	kp_idmap_free(&map);

	for (c.cancel_at = 1; c.cancel_at <= sort_calls; c.cancel_at += sort_calls / RUNS + 1)
	{
		kp_idmap_init(&map, &a, 0);
		for (i = 0; i < N; i++)
			kp_idmap_insert(&map, ids[i], &index);
		c.calls = 0;
		all_cancelled &= kp_idmap_sort(&map, remap, cancel_at_call, &c) == KP_ECANCELLED &&
			c.calls == c.cancel_at;
		kp_idmap_free(&map);
	}
	unit_ok(all_cancelled && ctx.live == 0,
			"sort cancelled at calls 1 to %d returns KP_ECANCELLED; free releases everything",
			sort_calls);

	/* distinct ids in ascending order, as a model stores them */
	qsort(ids, N, sizeof(int64_t), cmp_int64);
	c.calls = 0;
	c.cancel_at = 0;
	unit_ok(kp_idmap_from_array(&map, &a, ids, N, cancel_at_call, &c) == KP_OK &&
			kp_idmap_find(&map, ids[N / 2]) == N / 2, "from_array with a callback");
	from_array_calls = c.calls;
	unit_ok(from_array_calls == N / 65536 - 1, "from_array asks every 65536 ids (%d calls)",
			from_array_calls);
	kp_idmap_free(&map);
	all_cancelled = 1;
	for (c.cancel_at = 1; c.cancel_at <= from_array_calls; c.cancel_at++)
	{
		c.calls = 0;
		all_cancelled &= kp_idmap_from_array(&map, &a, ids, N, cancel_at_call, &c) == KP_ECANCELLED &&
			c.calls == c.cancel_at;
	}
	unit_ok(all_cancelled && ctx.live == 0,
			"from_array cancelled at each call returns KP_ECANCELLED without leaking");
	free(ids);
	free(remap);
}

/* An allocator that knows the bytes it holds and their peak. */
typedef struct byte_counting
{
	size_t		live;
	size_t		peak;
} byte_counting;

static void *
byte_counting_alloc(void *ctx, size_t size)
{
	byte_counting *c = ctx;
	size_t	   *block = malloc(sizeof(size_t) * 2 + size);

	block[0] = size;
	c->live += size;
	if (c->live > c->peak)
		c->peak = c->live;
	return block + 2;
}

static void
byte_counting_release(void *ctx, void *ptr)
{
	byte_counting *c = ctx;
	size_t	   *block = (size_t *) ptr - 2;

	c->live -= block[0];
	free(block);
}

static void
test_bytes(void)
{
	byte_counting c = {0, 0};
	kp_allocator a = {byte_counting_alloc, byte_counting_release, &c};
	kp_idmap	map;
	int64_t		borrowed[3] = {1, 2, 3};
	int32_t		index;
	int			held = 1;
	int			peak = 1;
	int			grew = 0;
	int64_t		id;

	kp_idmap_init(&map, &a, 0);
	for (id = 0; id < 100000; id++)
	{
		size_t		growth = kp_idmap_growth_bytes(&map);
		size_t		before = c.live;

		c.peak = c.live;
		kp_idmap_insert(&map, id * 7, &index);
		held &= c.live == kp_idmap_bytes(&map);
		peak &= c.peak - before == growth;
		grew += growth > 0;
	}
	unit_ok(held, "kp_idmap_bytes is what the map holds");
	unit_ok(peak && grew > 10,
			"kp_idmap_growth_bytes is how far an insert takes the memory above it (%d growths)", grew);
	kp_idmap_free(&map);
	kp_idmap_from_array(&map, &a, borrowed, 3, NULL, NULL);
	unit_ok(kp_idmap_bytes(&map) == c.live && kp_idmap_growth_bytes(&map) == 0,
			"a borrowed map holds its slot table only and never grows");
	kp_idmap_free(&map);
}

int
main(void)
{
	test_random_ids();
	test_collisions();
	test_extreme_ids();
	test_from_array();
	test_allocation_failure();
	test_sort_orders();
	test_cancellation();
	test_bytes();
	return unit_done();
}
