/*
 * popular.c -- the popularity baseline (see kp_popular.h).
 */
#include "kp_popular.h"

#include <float.h>

void
kp_popular_scores(const kp_csr *item_users, float *scores)
{
	int32_t		item;

	for (item = 0; item < item_users->n_rows; item++)
	{
		double		sum = 0;
		int64_t		k;

		for (k = item_users->indptr[item]; k < item_users->indptr[item + 1]; k++)
			sum += item_users->values[k];
		scores[item] = sum > FLT_MAX ? FLT_MAX : (float) sum;
	}
}
