/*
 * model_user.c -- setting one user of a model (see kp_model_user.h).
 */
#include "kp_model_user.h"

#include <string.h>

/* Bytes copied between interrupt checks. */
#define COPY_CHUNK ((size_t) 4 << 20)

static int
copy_chunked(void *dst, const void *src, size_t bytes, kp_interrupt_fn interrupt, void *arg)
{
	size_t		done = 0;

	while (done < bytes)
	{
		size_t		chunk = bytes - done < COPY_CHUNK ? bytes - done : COPY_CHUNK;

		memcpy((char *) dst + done, (const char *) src + done, chunk);
		done += chunk;
		if (interrupt != NULL && interrupt(arg))
			return 0;
	}
	return 1;
}

void
kp_model_user_free(const kp_allocator *alloc, kp_model *m)
{
	kp_free(alloc, (void *) m->user_ids);
	kp_free(alloc, (void *) m->user_factors);
	kp_free(alloc, (void *) m->seen_indptr);
	kp_free(alloc, (void *) m->seen_items);
	m->user_ids = NULL;
	m->user_factors = NULL;
	m->seen_indptr = NULL;
	m->seen_items = NULL;
}

kp_status
kp_model_put_user(const kp_allocator *alloc, const kp_model *in, int64_t user_id,
				  const float *vector, const int32_t *items, int32_t n,
				  kp_model *out, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		low = 0;
	int32_t		high = in->n_users;
	int			present;
	int32_t		row;
	int32_t		n_users;
	int32_t		dims = in->algorithm == KP_ALGO_EASE ? 0 : in->factors;
	int64_t		old_count;
	int64_t		nnz;
	size_t		vector_bytes = (size_t) dims * sizeof(float);
	int64_t    *user_ids;
	float	   *user_factors;
	int64_t    *seen_indptr;
	int32_t    *seen_items;
	int32_t		i;
	int32_t		u;

	for (i = 0; i < n; i++)
		if (items[i] < 0 || items[i] >= in->n_items || (i > 0 && items[i] <= items[i - 1]))
			return KP_EINVAL;

	/* the first row whose id is >= user_id */
	while (low < high)
	{
		int32_t		middle = low + (high - low) / 2;

		if (in->user_ids[middle] < user_id)
			low = middle + 1;
		else
			high = middle;
	}
	row = low;
	present = row < in->n_users && in->user_ids[row] == user_id;
	old_count = present ? in->seen_indptr[row + 1] - in->seen_indptr[row] : 0;
	if (!present && n == 0)
		n_users = in->n_users;
	else
		n_users = in->n_users + (present ? 0 : 1) - (n == 0 ? 1 : 0);
	if (!present && in->n_users == INT32_MAX)
		return KP_EINVAL;
	nnz = in->nnz - old_count + n;

	*out = *in;
	user_ids = kp_alloc(alloc, sizeof(int64_t) * (size_t) n_users);
	user_factors = kp_alloc(alloc, vector_bytes * (size_t) n_users);
	seen_indptr = kp_alloc(alloc, sizeof(int64_t) * ((size_t) n_users + 1));
	seen_items = kp_alloc(alloc, sizeof(int32_t) * (size_t) nnz);
	out->user_ids = user_ids;
	out->user_factors = user_factors;
	out->seen_indptr = seen_indptr;
	out->seen_items = seen_items;
	if (user_ids == NULL || user_factors == NULL || seen_indptr == NULL || seen_items == NULL)
	{
		kp_model_user_free(alloc, out);
		return KP_ENOMEM;
	}

	{
		int32_t		after = present ? row + 1 : row;	/* first input row kept after */
		int32_t		out_row = row;
		int64_t		seen_before = in->seen_indptr[row];
		int64_t		seen_after_from = in->seen_indptr[after];
		int64_t		seen_after = in->nnz - seen_after_from;
		int64_t		shift;

		if (!copy_chunked(user_ids, in->user_ids, sizeof(int64_t) * (size_t) row, interrupt, interrupt_arg) ||
			!copy_chunked(user_factors, in->user_factors, vector_bytes * (size_t) row, interrupt, interrupt_arg) ||
			!copy_chunked(seen_items, in->seen_items, sizeof(int32_t) * (size_t) seen_before,
						  interrupt, interrupt_arg))
		{
			kp_model_user_free(alloc, out);
			return KP_ECANCELLED;
		}
		memcpy(seen_indptr, in->seen_indptr, sizeof(int64_t) * ((size_t) row + 1));
		if (n > 0)
		{
			user_ids[out_row] = user_id;
			if (dims > 0)
				memcpy(user_factors + (size_t) out_row * dims, vector, vector_bytes);
			memcpy(seen_items + seen_before, items, sizeof(int32_t) * (size_t) n);
			seen_indptr[out_row + 1] = seen_before + n;
			out_row++;
		}
		if (!copy_chunked(user_ids + out_row, in->user_ids + after,
						  sizeof(int64_t) * (size_t) (in->n_users - after), interrupt, interrupt_arg) ||
			!copy_chunked(user_factors + (size_t) out_row * dims, in->user_factors + (size_t) after * dims,
						  vector_bytes * (size_t) (in->n_users - after), interrupt, interrupt_arg) ||
			!copy_chunked(seen_items + seen_before + n, in->seen_items + seen_after_from,
						  sizeof(int32_t) * (size_t) seen_after, interrupt, interrupt_arg))
		{
			kp_model_user_free(alloc, out);
			return KP_ECANCELLED;
		}
		shift = (seen_before + n) - seen_after_from;
		for (u = after; u < in->n_users; u++)
			seen_indptr[out_row + (u - after) + 1] = in->seen_indptr[u + 1] + shift;
	}
	out->n_users = n_users;
	out->nnz = nnz;
	out->rows_read = in->rows_read - old_count + n;
	return KP_OK;
}
