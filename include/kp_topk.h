/*
 * kp_topk.h -- partial selection of the k best scores.
 */
#ifndef KP_TOPK_H
#define KP_TOPK_H

#include "kp_core.h"

/*
 * Selects up to k indices with the largest scores, best first; ties go to
 * the lower index.  Entries that are NaN or -inf are never selected (callers
 * mark excluded items with -INFINITY).  Uses a bounded min-heap: O(n log k)
 * worst case, O(n) when most scores fall below the running threshold.
 * out_index and out_score need room for k entries; returns how many were
 * written (min(k, number of selectable entries)).
 */
int32_t		kp_topk(const float *scores, int32_t n, int32_t k,
					int32_t *out_index, float *out_score);

/* Entries between two calls of interrupt in kp_topk_interruptible. */
#define KP_TOPK_CHECK_INTERVAL KP_CHECK_INTERVAL

/*
 * kp_topk that calls interrupt (if not NULL) every KP_TOPK_CHECK_INTERVAL
 * entries of each pass, so that selecting among millions with k in the
 * millions can be cancelled; returns -1 when it asks to stop.
 */
int32_t		kp_topk_interruptible(const float *scores, int32_t n, int32_t k,
								  int32_t *out_index, float *out_score,
								  kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * kp_topk_interruptible over entries labelled by labels[i] (any order,
 * distinct) instead of their index: writes labels to out_label, and ties
 * go to the lower label.  With labels NULL, the label of entry i is i.
 */
int32_t		kp_topk_labelled(const float *scores, const int32_t *labels, int32_t n, int32_t k,
							 int32_t *out_label, float *out_score,
							 kp_interrupt_fn interrupt, void *interrupt_arg);

#endif							/* KP_TOPK_H */
