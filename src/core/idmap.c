/*
 * idmap.c -- open-addressing (linear probing) hash map from int64 ids to
 * dense int32 indices.
 *
 * The slot table is a power of two at most half full.  A map built by
 * kp_idmap_from_array borrows its ids array: id_capacity is 0 then, and the
 * map cannot take new ids or be sorted.
 */
#include <stdlib.h>
#include <string.h>

#include "kp_idmap.h"

#define MIN_SLOTS 16
#define MIN_ID_CAPACITY 16

/* Smallest power-of-two slot count that keeps n ids at most half full. */
static int
slots_for(int64_t n, uint64_t *capacity)
{
	uint64_t	c = MIN_SLOTS;

	while (c < 2 * (uint64_t) n)
		c *= 2;
	if (c > (uint64_t) UINT32_MAX + 1 || c > SIZE_MAX / sizeof(int32_t))
		return 0;
	*capacity = c;
	return 1;
}

/* Replaces the slot table with an empty one of the given size. */
static kp_status
alloc_slots(kp_idmap *map, uint64_t capacity)
{
	int32_t    *slots = kp_alloc(map->alloc, (size_t) capacity * sizeof(int32_t));

	if (!slots)
		return KP_ENOMEM;
	kp_free(map->alloc, map->slots);
	/* every byte 0xFF is -1 in each int32 slot */
	memset(slots, 0xFF, (size_t) capacity * sizeof(int32_t));
	map->slots = slots;
	map->mask = (uint32_t) (capacity - 1);
	return KP_OK;
}

/* Puts index into the first empty slot of id's probe sequence. */
static void
place(kp_idmap *map, int64_t id, int32_t index)
{
	uint32_t	pos = (uint32_t) kp_mix64((uint64_t) id) & map->mask;

	while (map->slots[pos] >= 0)
		pos = (pos + 1) & map->mask;
	map->slots[pos] = index;
}

static kp_status
rehash(kp_idmap *map, uint64_t capacity)
{
	kp_status	status = alloc_slots(map, capacity);
	int32_t		i;

	if (status != KP_OK)
		return status;
	for (i = 0; i < map->count; i++)
		place(map, map->ids[i], i);
	return KP_OK;
}

kp_status
kp_idmap_init(kp_idmap *map, const kp_allocator *alloc, int32_t expected)
{
	uint64_t	capacity;
	int32_t		id_capacity;
	kp_status	status;

	memset(map, 0, sizeof(*map));
	map->alloc = alloc;
	if (expected < 0 || expected > KP_IDMAP_MAX_IDS)
		return KP_EINVAL;
	id_capacity = expected > MIN_ID_CAPACITY ? expected : MIN_ID_CAPACITY;
	if (!slots_for(id_capacity, &capacity))
		return KP_ENOMEM;
	map->ids = kp_alloc(alloc, (size_t) id_capacity * sizeof(int64_t));
	if (!map->ids)
		return KP_ENOMEM;
	map->id_capacity = id_capacity;
	status = alloc_slots(map, capacity);
	if (status != KP_OK)
		kp_idmap_free(map);
	return status;
}

int32_t
kp_idmap_find(const kp_idmap *map, int64_t id)
{
	uint32_t	pos;

	if (!map->slots)
		return -1;
	pos = (uint32_t) kp_mix64((uint64_t) id) & map->mask;
	for (;;)
	{
		int32_t		index = map->slots[pos];

		if (index < 0 || map->ids[index] == id)
			return index;
		pos = (pos + 1) & map->mask;
	}
}

/* Makes room for one more id in the ids array. */
static kp_status
grow_ids(kp_idmap *map)
{
	int64_t		new_capacity = 2 * (int64_t) map->id_capacity;
	int64_t    *ids;

	if (new_capacity > KP_IDMAP_MAX_IDS)
		new_capacity = KP_IDMAP_MAX_IDS;
	if ((uint64_t) new_capacity > SIZE_MAX / sizeof(int64_t))
		return KP_ENOMEM;
	ids = kp_alloc(map->alloc, (size_t) new_capacity * sizeof(int64_t));
	if (!ids)
		return KP_ENOMEM;
	memcpy(ids, map->ids, (size_t) map->count * sizeof(int64_t));
	kp_free(map->alloc, map->ids);
	map->ids = ids;
	map->id_capacity = (int32_t) new_capacity;
	return KP_OK;
}

kp_status
kp_idmap_insert(kp_idmap *map, int64_t id, int32_t *index)
{
	int32_t		found = kp_idmap_find(map, id);
	kp_status	status;

	if (found >= 0)
	{
		*index = found;
		return KP_OK;
	}
	if (map->id_capacity == 0 || map->count >= KP_IDMAP_MAX_IDS)
		return KP_EINVAL;
	if (map->count == map->id_capacity)
	{
		status = grow_ids(map);
		if (status != KP_OK)
			return status;
	}
	if (2 * ((uint64_t) map->count + 1) > (uint64_t) map->mask + 1)
	{
		uint64_t	capacity;

		if (!slots_for((int64_t) map->count + 1, &capacity))
			return KP_ENOMEM;
		status = rehash(map, capacity);
		if (status != KP_OK)
			return status;
	}
	map->ids[map->count] = id;
	place(map, id, map->count);
	*index = map->count++;
	return KP_OK;
}

kp_status
kp_idmap_from_array(kp_idmap *map, const kp_allocator *alloc,
					const int64_t *ids, int32_t count)
{
	uint64_t	capacity;
	int32_t		i;
	kp_status	status;

	memset(map, 0, sizeof(*map));
	map->alloc = alloc;
	if (count < 0 || count > KP_IDMAP_MAX_IDS || (count > 0 && !ids))
		return KP_EINVAL;
	if (!slots_for(count, &capacity))
		return KP_ENOMEM;
	status = alloc_slots(map, capacity);
	if (status != KP_OK)
		return status;
	/* borrowed: the map only reads the caller's array */
	map->ids = (int64_t *) ids;
	for (i = 0; i < count; i++)
	{
		if (kp_idmap_find(map, ids[i]) >= 0)
		{
			kp_idmap_free(map);
			return KP_EINVAL;
		}
		place(map, ids[i], i);
		map->count = i + 1;
	}
	return KP_OK;
}

typedef struct id_position
{
	int64_t		id;
	int32_t		index;
} id_position;

static int
id_position_cmp(const void *a, const void *b)
{
	int64_t		x = ((const id_position *) a)->id;
	int64_t		y = ((const id_position *) b)->id;

	return (x > y) - (x < y);
}

kp_status
kp_idmap_sort(kp_idmap *map, int32_t *remap)
{
	id_position *order;
	int32_t		i;

	if (map->id_capacity == 0 && map->count > 0)
		return KP_EINVAL;
	if (map->count == 0)
		return KP_OK;
	order = kp_alloc(map->alloc, (size_t) map->count * sizeof(id_position));
	if (!order)
		return KP_ENOMEM;
	for (i = 0; i < map->count; i++)
	{
		order[i].id = map->ids[i];
		order[i].index = i;
	}
	qsort(order, (size_t) map->count, sizeof(id_position), id_position_cmp);
	for (i = 0; i < map->count; i++)
	{
		map->ids[i] = order[i].id;
		remap[order[i].index] = i;
	}
	kp_free(map->alloc, order);

	/* same ids, new indices: rebuild the probe chains in place */
	memset(map->slots, 0xFF, ((size_t) map->mask + 1) * sizeof(int32_t));
	for (i = 0; i < map->count; i++)
		place(map, map->ids[i], i);
	return KP_OK;
}

void
kp_idmap_free(kp_idmap *map)
{
	if (map->alloc)
	{
		if (map->id_capacity > 0)
			kp_free(map->alloc, map->ids);
		kp_free(map->alloc, map->slots);
	}
	memset(map, 0, sizeof(*map));
}
