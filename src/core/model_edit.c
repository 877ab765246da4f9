/*
 * model_edit.c -- edits of a parsed model (see kp_model_edit.h).
 */
#include "kp_model_edit.h"

#include <string.h>

/* Bytes moved between calls to the interrupt callback: a few milliseconds. */
#define INTERRUPT_BYTES ((size_t) 1 << 22)

/*
 * memmove(dst, src, bytes) for dst below src, in pieces from the front
 * (each piece's source lies beyond what earlier pieces wrote), asking the
 * interrupt callback between them; 0 when it asks to stop.
 */
static int
move_down(void *dst, const void *src, size_t bytes,
		  kp_interrupt_fn interrupt, void *interrupt_arg)
{
	size_t		done = 0;

	while (done < bytes)
	{
		size_t		step = bytes - done < INTERRUPT_BYTES ? bytes - done : INTERRUPT_BYTES;

		memmove((char *) dst + done, (const char *) src + done, step);
		done += step;
		if (interrupt != NULL && interrupt(interrupt_arg))
			return 0;
	}
	return 1;
}

int32_t
kp_model_find_user(const kp_model *m, int64_t user_id)
{
	int32_t		low = 0;
	int32_t		high = m->n_users - 1;

	while (low <= high)
	{
		int32_t		middle = low + (high - low) / 2;
		int64_t		id = m->user_ids[middle];

		if (id == user_id)
			return middle;
		if (id < user_id)
			low = middle + 1;
		else
			high = middle - 1;
	}
	return -1;
}

kp_status
kp_model_remove_user(kp_model *m, int32_t row,
					 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	/* The arrays are const in kp_model because readers point into values. */
	int64_t    *user_ids = (int64_t *) m->user_ids;
	float	   *user_factors = (float *) m->user_factors;
	int64_t    *seen_indptr = (int64_t *) m->seen_indptr;
	int32_t    *seen_items = (int32_t *) m->seen_items;
	size_t		factors = kp_model_user_rows(m) > 0 ? (size_t) m->factors : 0;
	size_t		rows_after;
	int64_t		first_seen;
	int64_t		removed_pairs;
	int32_t		u;

	if (row < 0 || row >= m->n_users)
		return KP_EINVAL;
	rows_after = (size_t) (m->n_users - 1 - row);
	first_seen = seen_indptr[row];
	removed_pairs = seen_indptr[row + 1] - first_seen;

	if (!move_down(user_ids + row, user_ids + row + 1, rows_after * sizeof(int64_t),
				   interrupt, interrupt_arg) ||
		!move_down(user_factors + (size_t) row * factors,
				   user_factors + ((size_t) row + 1) * factors,
				   rows_after * factors * sizeof(float), interrupt, interrupt_arg) ||
		!move_down(seen_items + first_seen, seen_items + first_seen + removed_pairs,
				   (size_t) (m->nnz - first_seen - removed_pairs) * sizeof(int32_t),
				   interrupt, interrupt_arg))
		return KP_ECANCELLED;
	for (u = row; u < m->n_users; u++)
	{
		if ((u - row) % (INTERRUPT_BYTES / sizeof(int64_t)) == 0 && u > row &&
			interrupt != NULL && interrupt(interrupt_arg))
			return KP_ECANCELLED;
		seen_indptr[u] = seen_indptr[u + 1] - removed_pairs;
	}

	m->n_users--;
	m->nnz -= removed_pairs;
	m->rows_read -= removed_pairs;
	return KP_OK;
}

size_t
kp_model_user_ids_offset(const kp_model *m)
{
	return KP_MODEL_HEADER_BYTES + (((size_t) m->options_len + 7) & ~(size_t) 7);
}
