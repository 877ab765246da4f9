/*
 * topk.c -- the k best scores with a bounded min-heap.
 *
 * The heap lives in the caller's output arrays; its root is the worst entry
 * kept so far, so a new score only has to beat the root's to get in.
 */
#include <math.h>

#include "kp_heap.h"
#include "kp_topk.h"

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
		kp_heap_sift_up(out_label, out_score, size);
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
			kp_heap_sift_down(out_label, out_score, 0, size);
		}
	}

	/* heapsort: moving the worst to the back leaves the best first */
	for (i = size - 1; i > 0; i--)
	{
		if (kp_interrupted(interrupt, interrupt_arg, i))
			return -1;
		kp_heap_swap(out_label, out_score, 0, i);
		kp_heap_sift_down(out_label, out_score, 0, i);
	}
	return size;
}
