/*
 * kp_score.h -- exact top-k by inner product, pruned with an int8 copy.
 *
 * Scoring every course for one user is a matrix-vector product whose cost
 * is reading the factor matrix (10,000 × 64 floats = 2.5 MB, out of L2).
 * An int8 copy with one scale per row is a quarter of that and fits in L2.
 * For row i with scale s_i and codes q_i, the approximate score
 * a_i = s_i·(x·q_i) differs from the float score by at most
 * b_i = (s_i/2)·‖x‖₁ (each code is off by at most half a step), so every
 * row whose upper bound a_i + b_i reaches the k-th best lower bound is
 * rescored in float and the rest can never enter the top k.  The result is
 * exactly the top k of the float scores; usually a few dozen rows are
 * rescored.  Codes are stored in blocks of 16 rows, dimension-major, so the
 * approximate pass is a vertical multiply-add over 16 rows at a time.
 *
 * Bounds computed in float underflow when values are tiny: with a nonzero
 * row or a query whose largest value is below 2^-40 (never the case for
 * trained factors), every row is scored instead.
 *
 * Rows are stored in order of decreasing length.  Since x·y_i <= ‖x‖·‖y_i‖,
 * the scan stops at the first block whose longest row cannot reach the
 * k-th best lower bound found so far.  With popularity as skewed as on
 * course platforms (popular courses have long factor vectors) most blocks
 * are never read.
 */
#ifndef KP_SCORE_H
#define KP_SCORE_H

#include "kp_core.h"

#define KP_SCORE_BLOCK 16
#define KP_SCORE_CHECK_INTERVAL 65536

typedef struct kp_qmatrix
{
	int32_t		n_rows;
	int32_t		n_cols;
	int8_t	   *codes;			/* ceil(n_rows/16) blocks of n_cols × 16 */
	float	   *scales;			/* per position, padded to whole blocks */
	float	   *block_max_norm; /* longest row of each block */
	int32_t    *row_at;			/* position -> row of F */
	int32_t    *position_of;	/* row of F -> position */
	int32_t		n_tiny_rows;	/* nonzero rows whose bounds would underflow */
} kp_qmatrix;

/*
 * Quantises F (n_rows × n_cols, row-major).  Calls interrupt (if not NULL)
 * every 65,536 rows; KP_ECANCELLED, with nothing left allocated, when it
 * returns nonzero.
 */
kp_status	kp_qmatrix_build(const kp_allocator *alloc, const float *F,
							 int32_t n_rows, int32_t n_cols, kp_qmatrix *out,
							 kp_interrupt_fn interrupt, void *interrupt_arg);
void		kp_qmatrix_free(const kp_allocator *alloc, kp_qmatrix *q);
size_t		kp_qmatrix_bytes(int32_t n_rows, int32_t n_cols);

/* x·y in a fixed summation order; every score kpreco reports uses it. */
float		kp_dot(const float *x, const float *y, int32_t n);

/* Scratch a kp_score_topk call needs: for n_rows rows. */
typedef struct kp_score_scratch
{
	float	   *lower;			/* per position, rounded up to a block */
	uint16_t   *excluded_lanes; /* per block; all zero between calls */
	float	   *bound_heap;		/* n_rows: the k best lower bounds so far */
	int32_t    *candidates;		/* n_rows */
	float	   *candidate_scores;	/* n_rows */
	int32_t    *heap_index;		/* n_rows */
	float	   *heap_score;		/* n_rows */
	int			lanes_marked;	/* a call stopped with exclusions marked */
	kp_interrupt_fn interrupt;	/* NULL after init; callers may set it */
	void	   *interrupt_arg;
} kp_score_scratch;

kp_status	kp_score_scratch_init(const kp_allocator *alloc, int32_t n_rows,
								  kp_score_scratch *scratch);
void		kp_score_scratch_free(const kp_allocator *alloc, kp_score_scratch *scratch);

/*
 * The k rows of F with the largest F·x, best first, ties to the lower
 * index, skipping the n_excluded row indices in excluded (any order,
 * duplicates allowed) and rows whose score is NaN.  Q must be built from
 * F.  Returns how many rows were written to out_index/out_score (room for
 * k each).  With scratch->interrupt set, calls it every
 * KP_SCORE_CHECK_INTERVAL rows of each pass and returns -1 when it asks to
 * stop; a callback that longjmps out instead leaves the scratch usable.
 */
int32_t		kp_score_topk(const kp_qmatrix *Q, const float *F, const float *x,
						  const int32_t *excluded, int64_t n_excluded, int32_t k,
						  kp_score_scratch *scratch, int32_t *out_index, float *out_score);

#endif							/* KP_SCORE_H */
