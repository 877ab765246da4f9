/*
 * topk.c -- the k best scores with a bounded min-heap.
 *
 * The heap lives in the caller's output arrays; its root is the worst entry
 * kept so far, so a new score only has to beat the root's to get in.
 */
#include <math.h>

#include "kp_topk.h"

/* Entry a ranks below entry b: lower score, or equal score and higher index. */
static inline int
worse(const int32_t *index, const float *score, int32_t a, int32_t b)
{
	return score[a] < score[b] || (score[a] == score[b] && index[a] > index[b]);
}

static inline void
swap_entries(int32_t *index, float *score, int32_t a, int32_t b)
{
	int32_t		i = index[a];
	float		s = score[a];

	index[a] = index[b];
	score[a] = score[b];
	index[b] = i;
	score[b] = s;
}

static void
sift_down(int32_t *index, float *score, int32_t root, int32_t n)
{
	for (;;)
	{
		int32_t		child = 2 * root + 1;

		if (child >= n)
			return;
		if (child + 1 < n && worse(index, score, child + 1, child))
			child++;
		if (!worse(index, score, child, root))
			return;
		swap_entries(index, score, root, child);
		root = child;
	}
}

static void
sift_up(int32_t *index, float *score, int32_t child)
{
	while (child > 0)
	{
		int32_t		parent = (child - 1) / 2;

		if (!worse(index, score, child, parent))
			return;
		swap_entries(index, score, child, parent);
		child = parent;
	}
}

int32_t
kp_topk(const float *scores, int32_t n, int32_t k,
		int32_t *out_index, float *out_score)
{
	return kp_topk_interruptible(scores, n, k, out_index, out_score, NULL, NULL);
}

int32_t
kp_topk_interruptible(const float *scores, int32_t n, int32_t k,
					  int32_t *out_index, float *out_score,
					  kp_interrupt_fn interrupt, void *interrupt_arg)
{
	return kp_topk_labelled(scores, NULL, n, k, out_index, out_score, interrupt, interrupt_arg);
}

int32_t
kp_topk_labelled(const float *scores, const int32_t *labels, int32_t n, int32_t k,
				 int32_t *out_label, float *out_score,
				 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		size = 0;
	int32_t		i;

	if (k <= 0 || n <= 0)
		return 0;

	/* fill the heap with the first k selectable entries */
	for (i = 0; i < n && size < k; i++)
	{
		float		s = scores[i];

		if (kp_interrupted(interrupt, interrupt_arg, i))
			return -1;
		if (isnan(s) || s == -INFINITY)
			continue;
		out_label[size] = labels ? labels[i] : i;
		out_score[size] = s;
		sift_up(out_label, out_score, size);
		size++;
	}

	/*
	 * Without labels later entries have higher indices, so they lose ties
	 * with the root and must beat its score strictly; NaN and -inf fail the
	 * comparison too.
	 */
	for (; i < n; i++)
	{
		if (kp_interrupted(interrupt, interrupt_arg, i))
			return -1;
		if (scores[i] > out_score[0] ||
			(labels != NULL && scores[i] == out_score[0] && labels[i] < out_label[0]))
		{
			out_label[0] = labels ? labels[i] : i;
			out_score[0] = scores[i];
			sift_down(out_label, out_score, 0, size);
		}
	}

	/* heapsort: moving the worst to the back leaves the best first */
	for (i = size - 1; i > 0; i--)
	{
		if (kp_interrupted(interrupt, interrupt_arg, i))
			return -1;
		swap_entries(out_label, out_score, 0, i);
		sift_down(out_label, out_score, 0, i);
	}
	return size;
}
