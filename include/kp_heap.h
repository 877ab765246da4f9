/*
 * kp_heap.h -- a bounded heap of (index, score) entries, kept in two
 * parallel arrays, whose root is the worst entry: the lowest score, and of
 * equal scores the highest index.  Keeping the best k in it and sorting it
 * at the end gives kp_topk's order: best first, ties to the lower index.
 * The top-k selections of the core (topk.c, batch.c, neighbours.c) share it.
 */
#ifndef KP_HEAP_H
#define KP_HEAP_H

#include "kp_core.h"

/* Entry a ranks below entry b: lower score, or equal score and higher index. */
static inline int
kp_heap_worse(const int32_t *index, const float *score, int32_t a, int32_t b)
{
	return score[a] < score[b] || (score[a] == score[b] && index[a] > index[b]);
}

static inline void
kp_heap_swap(int32_t *index, float *score, int32_t a, int32_t b)
{
	int32_t		i = index[a];
	float		s = score[a];

	index[a] = index[b];
	score[a] = score[b];
	index[b] = i;
	score[b] = s;
}

/* Restores the heap of n entries below root, after the root was replaced. */
static inline void
kp_heap_sift_down(int32_t *index, float *score, int32_t root, int32_t n)
{
	for (;;)
	{
		int32_t		child = 2 * root + 1;

		if (child >= n)
			return;
		if (child + 1 < n && kp_heap_worse(index, score, child + 1, child))
			child++;
		if (!kp_heap_worse(index, score, child, root))
			return;
		kp_heap_swap(index, score, root, child);
		root = child;
	}
}

/* Restores the heap after entry child was appended. */
static inline void
kp_heap_sift_up(int32_t *index, float *score, int32_t child)
{
	while (child > 0)
	{
		int32_t		parent = (child - 1) / 2;

		if (!kp_heap_worse(index, score, child, parent))
			return;
		kp_heap_swap(index, score, child, parent);
		child = parent;
	}
}

#endif							/* KP_HEAP_H */
