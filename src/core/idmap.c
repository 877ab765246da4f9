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
/* Ids handled between calls to the interrupt callback: a few milliseconds. */
#define INTERRUPT_EVERY (1 << 16)
/* Ranges of the id sort at most this long are sorted by insertion sort. */
#define INSERTION_SORT_MAX 16

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

/* Nonzero at every INTERRUPT_EVERY-th step of a loop when the callback asks to stop. */
static inline int
cancelled_at(int64_t step, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	return step % INTERRUPT_EVERY == 0 && step > 0 && interrupt != NULL &&
		interrupt(interrupt_arg);
}

/* Places every id into an empty slot table. */
static kp_status
place_all(kp_idmap *map, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		i;

	for (i = 0; i < map->count; i++)
	{
		if (cancelled_at(i, interrupt, interrupt_arg))
			return KP_ECANCELLED;
		place(map, map->ids[i], i);
	}
	return KP_OK;
}

static kp_status
rehash(kp_idmap *map, uint64_t capacity)
{
	kp_status	status = alloc_slots(map, capacity);

	if (status != KP_OK)
		return status;
	return place_all(map, NULL, NULL);
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
					const int64_t *ids, int32_t count,
					kp_interrupt_fn interrupt, void *interrupt_arg)
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
		if (cancelled_at(i, interrupt, interrupt_arg))
		{
			kp_idmap_free(map);
			return KP_ECANCELLED;
		}
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

/*
 * Sorting the ids with their old indices alongside: introsort (quicksort
 * with a median-of-three pivot, heapsort past a depth limit so that no
 * input takes quadratic time, insertion sort for short ranges) over the ids
 * array and an index array in place, asking the interrupt callback between
 * steps.  Ids are distinct, so the order is the same for every algorithm.
 */
typedef struct id_sort
{
	int64_t    *ids;
	int32_t    *index;
	kp_interrupt_fn interrupt;
	void	   *interrupt_arg;
	int64_t		work;			/* elements visited since the last callback */
} id_sort;

static inline void
swap_entries(id_sort *s, int64_t a, int64_t b)
{
	int64_t		id = s->ids[a];
	int32_t		index = s->index[a];

	s->ids[a] = s->ids[b];
	s->index[a] = s->index[b];
	s->ids[b] = id;
	s->index[b] = index;
}

/* Adds work elements; nonzero when the callback, asked every so often, wants to stop. */
static int
sort_cancelled(id_sort *s, int64_t work)
{
	s->work += work;
	if (s->work < INTERRUPT_EVERY)
		return 0;
	s->work = 0;
	return s->interrupt != NULL && s->interrupt(s->interrupt_arg);
}

static void
insertion_sort(id_sort *s, int64_t lo, int64_t hi)
{
	int64_t		i;

	for (i = lo + 1; i < hi; i++)
	{
		int64_t		j;

		for (j = i; j > lo && s->ids[j] < s->ids[j - 1]; j--)
			swap_entries(s, j, j - 1);
	}
}

/* Heap of the range starting at lo, n entries: sifts entry root down. */
static void
sift_down(id_sort *s, int64_t lo, int64_t root, int64_t n)
{
	for (;;)
	{
		int64_t		child = 2 * root + 1;

		if (child >= n)
			return;
		if (child + 1 < n && s->ids[lo + child] < s->ids[lo + child + 1])
			child++;
		if (s->ids[lo + root] > s->ids[lo + child])
			return;
		swap_entries(s, lo + root, lo + child);
		root = child;
	}
}

static kp_status
heap_sort(id_sort *s, int64_t lo, int64_t hi)
{
	int64_t		n = hi - lo;
	int64_t		i;
	int			depth;

	/* a sift-down visits up to log2(n) entries */
	for (depth = 1; ((int64_t) 1 << depth) < n; depth++)
		;
	for (i = n / 2; i-- > 0;)
	{
		sift_down(s, lo, i, n);
		if (sort_cancelled(s, depth))
			return KP_ECANCELLED;
	}
	for (i = n - 1; i > 0; i--)
	{
		swap_entries(s, lo, lo + i);
		sift_down(s, lo, 0, i);
		if (sort_cancelled(s, depth))
			return KP_ECANCELLED;
	}
	return KP_OK;
}

/*
 * Partitions [lo, hi) (at least 3 entries) around the median of its first,
 * middle and last id; returns the pivot's final position, or -1 when the
 * callback asked to stop.
 */
static int64_t
partition(id_sort *s, int64_t lo, int64_t hi)
{
	int64_t		last = hi - 1;
	int64_t		i = lo + 1;
	int64_t		j = last;
	int64_t		scanned = 0;
	int64_t		pivot;

	swap_entries(s, lo + (hi - lo) / 2, lo + 1);
	if (s->ids[lo + 1] < s->ids[lo])
		swap_entries(s, lo + 1, lo);
	if (s->ids[last] < s->ids[lo])
		swap_entries(s, last, lo);
	if (s->ids[last] < s->ids[lo + 1])
		swap_entries(s, last, lo + 1);
	/* ids[lo] < pivot < ids[last] stop the scans below */
	pivot = s->ids[lo + 1];
	for (;;)
	{
		do
			i++;
		while (s->ids[i] < pivot);
		do
			j--;
		while (s->ids[j] > pivot);
		if (i >= j)
			break;
		swap_entries(s, i, j);
		/* (i - lo) + (last - j) entries have been scanned so far */
		if (sort_cancelled(s, (i - lo) + (last - j) - scanned))
			return -1;
		scanned = (i - lo) + (last - j);
	}
	swap_entries(s, lo + 1, j);
	return j;
}

static kp_status
sort_with_index(id_sort *s, int64_t n)
{
	struct
	{
		int64_t		lo;
		int64_t		hi;
		int			depth;
	}			pending[64];
	int			n_pending = 0;
	int64_t		lo = 0;
	int64_t		hi = n;
	int			depth = 0;
	int64_t		m;

	for (m = n; m > 1; m /= 2)
		depth += 2;
	for (;;)
	{
		while (hi - lo > INSERTION_SORT_MAX)
		{
			int64_t		p;

			if (depth == 0)
			{
				if (heap_sort(s, lo, hi) != KP_OK)
					return KP_ECANCELLED;
				lo = hi;
				break;
			}
			depth--;
			p = partition(s, lo, hi);
			if (p < 0)
				return KP_ECANCELLED;
			/* the larger side waits: at most log2(n) ranges are pending */
			if (p - lo < hi - p - 1)
			{
				pending[n_pending].lo = p + 1;
				pending[n_pending].hi = hi;
				hi = p;
			}
			else
			{
				pending[n_pending].lo = lo;
				pending[n_pending].hi = p;
				lo = p + 1;
			}
			pending[n_pending++].depth = depth;
		}
		insertion_sort(s, lo, hi);
		if (sort_cancelled(s, hi - lo))
			return KP_ECANCELLED;
		if (n_pending == 0)
			return KP_OK;
		n_pending--;
		lo = pending[n_pending].lo;
		hi = pending[n_pending].hi;
		depth = pending[n_pending].depth;
	}
}

kp_status
kp_idmap_sort(kp_idmap *map, int32_t *remap,
			  kp_interrupt_fn interrupt, void *interrupt_arg)
{
	id_sort		s;
	int64_t		i;
	int64_t		n_slots = (int64_t) map->mask + 1;

	if (map->id_capacity == 0 && map->count > 0)
		return KP_EINVAL;
	if (map->count == 0)
		return KP_OK;

	/*
	 * The slot table is rebuilt at the end, so until then it carries each
	 * id's old index through the sort (it has at least count entries): the
	 * sort needs no memory of its own.
	 */
	for (i = 0; i < map->count; i++)
	{
		if (cancelled_at(i, interrupt, interrupt_arg))
			return KP_ECANCELLED;
		map->slots[i] = (int32_t) i;
	}
	s.ids = map->ids;
	s.index = map->slots;
	s.interrupt = interrupt;
	s.interrupt_arg = interrupt_arg;
	s.work = 0;
	if (sort_with_index(&s, map->count) != KP_OK)
		return KP_ECANCELLED;
	for (i = 0; i < map->count; i++)
	{
		if (cancelled_at(i, interrupt, interrupt_arg))
			return KP_ECANCELLED;
		remap[map->slots[i]] = (int32_t) i;
	}

	for (i = 0; i < n_slots; i += INTERRUPT_EVERY)
	{
		if (cancelled_at(i, interrupt, interrupt_arg))
			return KP_ECANCELLED;
		memset(map->slots + i, 0xFF,
			   (size_t) (n_slots - i < INTERRUPT_EVERY ? n_slots - i : INTERRUPT_EVERY) * sizeof(int32_t));
	}
	return place_all(map, interrupt, interrupt_arg);
}

size_t
kp_idmap_bytes(const kp_idmap *map)
{
	size_t		slot_bytes = map->slots ? ((size_t) map->mask + 1) * sizeof(int32_t) : 0;

	return (size_t) map->id_capacity * sizeof(int64_t) + slot_bytes;
}

size_t
kp_idmap_growth_bytes(const kp_idmap *map)
{
	size_t		now = kp_idmap_bytes(map);
	size_t		peak = now;
	size_t		ids_bytes = (size_t) map->id_capacity * sizeof(int64_t);
	size_t		slot_bytes = now - ids_bytes;
	uint64_t	capacity;

	/* the same decisions as kp_idmap_insert and grow_ids */
	if (map->id_capacity == 0 || map->count >= KP_IDMAP_MAX_IDS)
		return 0;
	if (map->count == map->id_capacity)
	{
		int64_t		new_capacity = 2 * (int64_t) map->id_capacity;

		if (new_capacity > KP_IDMAP_MAX_IDS)
			new_capacity = KP_IDMAP_MAX_IDS;
		peak = now + (size_t) new_capacity * sizeof(int64_t);
		ids_bytes = (size_t) new_capacity * sizeof(int64_t);
	}
	if (2 * ((uint64_t) map->count + 1) > (uint64_t) map->mask + 1 &&
		slots_for((int64_t) map->count + 1, &capacity))
	{
		size_t		rehash_peak = ids_bytes + slot_bytes + (size_t) capacity * sizeof(int32_t);

		if (rehash_peak > peak)
			peak = rehash_peak;
	}
	return peak - now;
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
