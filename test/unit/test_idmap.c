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
	unit_ok(kp_idmap_sort(&map, remap) == KP_OK, "sort succeeds");
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
	kp_idmap_sort(&map, remap);
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

	unit_ok(kp_idmap_from_array(&map, &a, ids, 4) == KP_OK, "from_array succeeds");
	for (i = 0; i < 4; i++)
		ok &= kp_idmap_find(&map, ids[i]) == i;
	unit_ok(ok && map.ids == ids, "from_array indexes the borrowed array in place");
	unit_ok(kp_idmap_insert(&map, 7, &index) == KP_OK && index == 2,
			"inserting a known id into a read-only map returns its index");
	unit_ok(kp_idmap_insert(&map, 8, &index) == KP_EINVAL,
			"a read-only map refuses new ids");
	unit_ok(kp_idmap_sort(&map, remap) == KP_EINVAL, "a read-only map cannot be sorted");
	kp_idmap_free(&map);
	unit_ok(ctx.live == 0 && ids[0] == 50, "free leaves the borrowed array alone");
	unit_ok(kp_idmap_from_array(&map, &a, dup, 3) == KP_EINVAL && ctx.live == 0,
			"a duplicate id is rejected without leaking");
	unit_ok(kp_idmap_from_array(&map, &a, NULL, 0) == KP_OK &&
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

int
main(void)
{
	test_random_ids();
	test_collisions();
	test_extreme_ids();
	test_from_array();
	test_allocation_failure();
	return unit_done();
}
