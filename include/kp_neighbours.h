/*
 * kp_neighbours.h -- each user's nearest other users by cosine, stored.
 *
 * A model keeps, for every user row, the set of its L nearest other rows
 * ("neighbour list"), so that asking for a user's k <= L most similar
 * users reads L rows instead of scanning every user.
 *
 * Cosine is kp_dot over rows scaled to unit length by kp_unit_rows, the
 * score the exact scan reports.  Row a ranks before row b for query row v
 * when kp_dot(v, a) > kp_dot(v, b), or the scores are equal and a < b.
 * A list is L int32 slots: the rows of its set in ascending order, then -1
 * padding.  A row is never in its own list, and every stored set is
 * exactly the top |S| of the other rows under that order: a fresh list
 * holds the top min(L, n − 1); edits keep each set exact but may shorten
 * it.  Rows are assumed finite (every model kp_model_read accepts has
 * finite user vectors).
 */
#ifndef KP_NEIGHBOURS_H
#define KP_NEIGHBOURS_H

#include "kp_core.h"
#include "kp_model.h"

/* Largest L: as many as a model may store. */
#define KP_NEIGHBOURS_MAX KP_MODEL_MAX_NEIGHBOURS

/*
 * The lists' floor: no member of any list scores below it against the
 * list's row, so an edited row that scores below it joins no list.  Above
 * every score when the lists hold nobody.
 */
#define KP_NEIGHBOURS_EMPTY_FLOOR 2.0f

/*
 * out (n × dims) = the rows of F scaled to unit length: each row's norm is
 * computed in double and each value is (float) (value / norm).  Zero rows
 * stay zero.  out may be F.
 */
void		kp_unit_rows(const float *F, int32_t n, int32_t dims, float *out);

/*
 * The neighbour lists of all n rows of unit (n × dims, rows of unit
 * length) into lists (n × L), L in [1, KP_NEIGHBOURS_MAX]; n may be 0, and
 * with n = 1 the only list is all −1.  The lists are exactly those of a
 * brute-force ranking of every pair by kp_dot.
 *
 * Scores come from cblas_sgemm over pairs of blocks of rows, each pair of
 * blocks once (the score of rows a and b serves both a's list and b's),
 * and only the few pairs that can enter one of the two rows' lists are
 * rescored with kp_dot (see neighbours.c for the margin that makes this
 * exact).  Memory besides lists: 4·n·L + 8·n bytes of heaps, plus 4 MB
 * of scores.  Results do not depend on the BLAS thread count.
 *
 * *floor is set to the lowest score of a list member against its row, or
 * KP_NEIGHBOURS_EMPTY_FLOOR when n < 2.
 *
 * KP_EINVAL for n < 0, dims outside [1, KP_SCORE_MAX_COLS] (kp_score.h)
 * or L out of range; KP_ENOMEM.  Calls interrupt (if not NULL) before
 * every pair of blocks (a few milliseconds each); on KP_ECANCELLED the
 * lists are incomplete.
 */
kp_status	kp_neighbours_build(const kp_allocator *alloc, const float *unit,
								int32_t n, int32_t dims, int32_t L, int32_t *lists, float *floor,
								kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * The k best rows of row `row`'s list (its L slots: rows of unit, or
 * negative for none; `row` itself is ignored) by kp_dot against unit rows,
 * best first, ties to the lower row: writes index[0 .. k) and
 * score[0 .. k) and returns k.  Returns −1 when the list holds fewer than
 * k rows (or k < 1, or L out of range): the caller then scans every row.
 * When the list's set is exact (see above), the result is the exact
 * scan's.
 */
int32_t		kp_neighbours_topk(const float *unit, int32_t dims, const int32_t *list,
							   int32_t L, int32_t row, int32_t k,
							   int32_t *index, float *score);

/* Lists one edit fills again at most (each by a scan of every row). */
#define KP_NEIGHBOURS_REFILLS 64

/* Rows a stored list holds: the slots before its first -1. */
static inline int32_t
kp_neighbours_size(const int32_t *list, int32_t L)
{
	int32_t		size = 0;

	while (size < L && list[size] >= 0)
		size++;
	return size;
}

/* One edit of a model's user rows. */
typedef enum kp_neighbour_edit
{
	KP_NEIGHBOUR_REMOVE,		/* row `row` is gone; the rows above it move down one */
	KP_NEIGHBOUR_REPLACE,		/* row `row` has a new vector */
	KP_NEIGHBOUR_INSERT			/* a new row at `row`; the rows from it on move up one */
} kp_neighbour_edit;

/*
 * lists_out (n_new × L) = lists_in (n_old × L) after one edit at row
 * `row`, every set still exact.  n_new is n_old − 1 (REMOVE, row in
 * [0, n_old)), n_old (REPLACE, row in [0, n_old)) or n_old + 1 (INSERT,
 * row in [0, n_old]); else KP_EINVAL.  unit_new (n_new × dims) are the
 * unit rows after the edit: only the edited row may differ from before.
 * REMOVE may do without them (unit_new NULL), and then refills nothing.
 *
 * The edited row u's own list (REPLACE, INSERT) is rebuilt by a scan of
 * every row.  Every other row's set S loses u if it held it, which leaves
 * the exact top |S| of the rows other than u.  Then (REPLACE, INSERT) u
 * joins S when it ranks before S's worst member, S ∪ {u} then being the
 * exact top |S| + 1, and the worst member leaves if that makes L + 1.  A
 * set holding every row but u joins u regardless (capped at L the same
 * way), so that the lists of models with at most L + 1 users stay
 * complete.  A set the edit left smaller than it was (u left it and did
 * not come back, or was removed) is computed anew by a scan, for the first
 * KP_NEIGHBOURS_REFILLS such rows, so lists stay full as users change; the
 * others stay shorter, still exact, until the next build.
 *
 * floor_in is the lists' floor (no member scores below it; a lower value
 * is safe, only slower).  A row v that u scores below it against cannot
 * take u in, so the members of S are scored (|S| kp_dot) only for the few
 * rows u comes near, and per row the work is one kp_dot.  *floor_out is
 * the floor after the edit: removing members cannot lower it, the rebuilt
 * list of u and a set that takes u in regardless can.
 *
 * Entries of lists_in outside [0, n_old), and a row's own index, are
 * treated as absent.  lists_out must not overlap lists_in.  Calls
 * interrupt (if not NULL) every 4,096 rows; on KP_ECANCELLED lists_out is
 * incomplete.
 */
kp_status	kp_neighbours_edit(const int32_t *lists_in, int32_t n_old, int32_t L, float floor_in,
							   kp_neighbour_edit edit, int32_t row,
							   const float *unit_new, int32_t n_new, int32_t dims,
							   int32_t *lists_out, float *floor_out,
							   kp_interrupt_fn interrupt, void *interrupt_arg);

#endif							/* KP_NEIGHBOURS_H */
