/*
 * kp_idmap.h -- open-addressing hash map from external int64 ids to dense
 * int32 indices, assigned in order of first insertion.
 */
#ifndef KP_IDMAP_H
#define KP_IDMAP_H

#include "kp_core.h"

#define KP_IDMAP_MAX_IDS 0x7FFFFFF0	/* indices must fit in int32 */

typedef struct kp_idmap
{
	const kp_allocator *alloc;
	int64_t    *ids;			/* index -> id, count entries */
	int32_t    *slots;			/* capacity entries, -1 = empty */
	int32_t		count;
	int32_t		id_capacity;
	uint32_t	mask;			/* slot capacity - 1 (power of two) */
} kp_idmap;

kp_status	kp_idmap_init(kp_idmap *map, const kp_allocator *alloc, int32_t expected);

/* Index of id, inserting it if new.  KP_ENOMEM / KP_EINVAL (too many ids). */
kp_status	kp_idmap_insert(kp_idmap *map, int64_t id, int32_t *index);

/* Index of id, or -1 when absent. */
int32_t		kp_idmap_find(const kp_idmap *map, int64_t id);

/*
 * Builds a read-only map over an existing array of distinct ids where
 * ids[i] gets index i (the array is referenced, not copied).  KP_EINVAL on
 * a duplicate id.  Calls interrupt (if not NULL) every few milliseconds;
 * KP_ECANCELLED when it returns nonzero.  On failure nothing stays allocated.
 */
kp_status	kp_idmap_from_array(kp_idmap *map, const kp_allocator *alloc,
								const int64_t *ids, int32_t count,
								kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * Renumbers so that indices follow ascending id order: fills remap[old] =
 * new (remap has count entries) and reorders map->ids.  Makes training
 * independent of the order rows arrive in.  The hash slots are rebuilt.
 * Allocates nothing.  Calls interrupt (if not NULL) every few milliseconds;
 * on KP_ECANCELLED the map is left inconsistent and may only be freed.
 */
kp_status	kp_idmap_sort(kp_idmap *map, int32_t *remap,
						  kp_interrupt_fn interrupt, void *interrupt_arg);

/* Bytes the map holds: its slot table and, unless borrowed, its ids array. */
size_t		kp_idmap_bytes(const kp_idmap *map);

/*
 * How far above kp_idmap_bytes the map's memory peaks while kp_idmap_insert
 * adds one more new id: 0 when the map has room for it, else the grown
 * arrays, allocated while the old ones are still held.
 */
size_t		kp_idmap_growth_bytes(const kp_idmap *map);

void		kp_idmap_free(kp_idmap *map);

#endif							/* KP_IDMAP_H */
