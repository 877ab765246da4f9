/*
 * test_popular.c -- the popularity baseline sums each course's weights.
 */
#include <float.h>
#include <string.h>

#include "kp_popular.h"
#include "unit.h"

int
main(void)
{
	int32_t		rows[] = {0, 1, 2, 0, 1, 1};
	int32_t		cols[] = {0, 0, 0, 2, 2, 2};
	float		vals[] = {1, 2, 0.5f, 3e38f, 3e38f, 1};
	kp_csr		user_items;
	kp_csr		item_users;
	float		scores[3];

	unit_ok(kp_csr_from_coo(&kp_malloc_allocator, 3, 3, 6, rows, cols, vals, &user_items, NULL, NULL) == KP_OK &&
			kp_csr_transpose(&kp_malloc_allocator, &user_items, &item_users, NULL, NULL) == KP_OK,
			"interactions of 3 users and 3 courses");
	kp_popular_scores(&item_users, scores);
	unit_ok(scores[0] == 3.5f, "course 0 sums its weights: %g", scores[0]);
	unit_ok(scores[1] == 0, "a course without interactions scores 0");
	unit_ok(scores[2] == FLT_MAX, "a sum beyond the range of float is clamped: %g", scores[2]);
	kp_csr_free(&kp_malloc_allocator, &user_items);
	kp_csr_free(&kp_malloc_allocator, &item_users);
	return unit_done();
}
