/*
 * kp_score.h -- exact top-k by inner product, pruned with an int8 copy.
 *
 * Scoring every course for one user is a matrix-vector product whose cost
 * is reading the factor matrix (10,000 × 64 floats = 2.5 MB, out of L2).
 * An int8 copy with one scale per row is a quarter of that and fits in L2.
 * The query is quantised too, x = t·qx + e with one step t and |e_k| <= t/2,
 * so the approximate score a_i = s_i·t·(qx·q_i) of row i (scale s_i, codes
 * q_i) is an exact integer dot product, and it differs from the float score
 * by at most b_i = (s_i/2)·‖x‖₁ + (t/2)·s_i·‖q_i‖₁ (each code is off by at
 * most half a step).  Every row whose upper bound a_i + b_i reaches the
 * k-th best lower bound is rescored in float and the rest can never enter
 * the top k.  The result is exactly the top k of the float scores; usually
 * a few dozen rows are rescored.  Codes are stored in blocks of 16 rows,
 * in groups of 4 columns (row-major within a group, the layout of the byte
 * dot products of AVX-512 VNNI and AVX2).
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
 *
 * Rows far less unequal in length (user vectors, which audience ranks) are
 * pruned along a direction d that the queries mostly share (the principal
 * direction of the course vectors): with y = a·d + y⊥ and x = x_d·d + x⊥,
 * x·y <= x_d·a + ‖x⊥‖·‖y⊥‖.  Rows are then grouped by length in chunks of
 * 256 and ordered by a within a chunk, so that each block has a narrow
 * range of a, and a block whose bound max(x_d·a) + ‖x⊥‖·max ‖y⊥‖ cannot
 * reach the k-th best lower bound is skipped without reading its codes.
 */
#ifndef KP_SCORE_H
#define KP_SCORE_H

#include "kp_core.h"

#define KP_SCORE_BLOCK 16
#define KP_SCORE_GROUP 4
#define KP_SCORE_CHECK_INTERVAL KP_CHECK_INTERVAL
/* Integer dot products of this many columns cannot overflow an int32. */
#define KP_SCORE_MAX_COLS 65536

typedef struct kp_qmatrix
{
	int32_t		n_rows;
	int32_t		n_cols;
	int8_t	   *codes;			/* ceil(n_rows/16) blocks of n_cols × 16 (n_cols rounded up to groups) */
	float	   *scales;			/* per position, padded to whole blocks */
	float	   *code_l1;		/* per position: s_i·‖q_i‖₁ */
	float	   *block_max_norm; /* longest row of each block */
	float	   *stop_norm;		/* longest row of each block and every later one */
	double	   *direction;		/* unit d, or NULL */
	float	   *cone;			/* per block: max a, min a, max ‖y⊥‖; or NULL */
	int32_t    *row_at;			/* position -> row of F */
	int32_t    *position_of;	/* row of F -> position */
	int32_t		n_tiny_rows;	/* nonzero rows whose bounds would underflow */
} kp_qmatrix;

/*
 * Quantises F (n_rows × n_cols, row-major; n_cols <= KP_SCORE_MAX_COLS,
 * else KP_EINVAL).  Calls interrupt (if not NULL)
 * every 65,536 rows; KP_ECANCELLED, with nothing left allocated, when it
 * returns nonzero.
 */
kp_status	kp_qmatrix_build(const kp_allocator *alloc, const float *F,
							 int32_t n_rows, int32_t n_cols, kp_qmatrix *out,
							 kp_interrupt_fn interrupt, void *interrupt_arg);
/*
 * kp_qmatrix_build with rows laid out for pruning along direction (n_cols
 * values, any nonzero length; KP_EINVAL when zero or not finite).
 */
kp_status	kp_qmatrix_build_along(const kp_allocator *alloc, const float *F,
								   int32_t n_rows, int32_t n_cols, const float *direction,
								   kp_qmatrix *out, kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * The principal direction of the rows of F (top eigenvector of FᵀF, by power
 * iteration over evenly spaced rows: at most 8,192, fewer for wide rows so
 * that FᵀF costs about 2^27 multiply-adds) into out (n_cols values, unit
 * length).  KP_EINVAL when F has no finite nonzero row or more than 4,096
 * columns; KP_ECANCELLED when interrupt (if not NULL, called once per
 * sampled row and iteration) asks to stop.
 */
kp_status	kp_principal_direction(const kp_allocator *alloc, const float *F, int32_t n_rows,
								   int32_t n_cols, float *out, kp_interrupt_fn interrupt,
								   void *interrupt_arg);
void		kp_qmatrix_free(const kp_allocator *alloc, kp_qmatrix *q);
size_t		kp_qmatrix_bytes(int32_t n_rows, int32_t n_cols);

/* x·y in a fixed summation order; every score kpreco reports uses it. */
float		kp_dot(const float *x, const float *y, int32_t n);

/* ‖x‖², summed in double in index order. */
double		kp_squared_norm(const float *x, int32_t n);

/*
 * Rescoring sgemm scores with kp_dot (kp_batch.h, kp_neighbours.h): for
 * dimension f, any summation order of x·y, with or without fused
 * multiply-adds, is within γ_f·Σ|x_j·y_j| <= γ_f·‖x‖·‖y‖ of the exact value
 * (γ_f = f·u/(1 − f·u), u = 2⁻²⁴; Higham, "Accuracy and Stability of
 * Numerical Algorithms", 2nd ed., 2002, section 3.1), so an sgemm score and
 * kp_dot's differ by at most 2·γ_f·‖x‖·‖y‖.  kp_rescore_slack bounds that,
 * with a safety factor and room for underflow, for norm_product >= ‖x‖·‖y‖;
 * kp_lower_threshold(kth, slack) is the largest float t <= kth − slack: an
 * sgemm score at or below it cannot beat the kp_dot score kth.
 */
double		kp_rescore_slack(int32_t f, double norm_product);
float		kp_lower_threshold(float kth, double slack);

/* Scratch a kp_score_topk call needs: for n_rows rows of n_cols columns. */
typedef struct kp_score_scratch
{
	int32_t		n_cols;
	int32_t    *query_groups;	/* the query's codes, KP_SCORE_GROUP bytes each */
	float	   *lower;			/* per position, rounded up to a block */
	uint16_t   *excluded_lanes; /* per block; all zero between calls */
	float	   *bound_heap;		/* n_rows: the k best lower bounds so far */
	int32_t    *candidates;		/* n_rows */
	float	   *candidate_scores;	/* n_rows */
	int			lanes_marked;	/* a call stopped with exclusions marked */
	kp_interrupt_fn interrupt;	/* NULL after init; callers may set it */
	void	   *interrupt_arg;
} kp_score_scratch;

kp_status	kp_score_scratch_init(const kp_allocator *alloc, int32_t n_rows, int32_t n_cols,
								  kp_score_scratch *scratch);
void		kp_score_scratch_free(const kp_allocator *alloc, kp_score_scratch *scratch);

/*
 * The k rows of F with the largest F·x, best first, ties to the lower
 * index, skipping the n_excluded row indices in excluded (any order,
 * duplicates allowed) and rows whose score is NaN.  Q must be built from
 * F, and scratch initialised for Q's numbers of rows and columns.  Returns how many rows were written to out_index/out_score (room for
 * k each).  With scratch->interrupt set, calls it every
 * KP_SCORE_CHECK_INTERVAL rows of each pass and returns -1 when it asks to
 * stop; a callback that longjmps out instead leaves the scratch usable.
 */
int32_t		kp_score_topk(const kp_qmatrix *Q, const float *F, const float *x,
						  const int32_t *excluded, int64_t n_excluded, int32_t k,
						  kp_score_scratch *scratch, int32_t *out_index, float *out_score);

#endif							/* KP_SCORE_H */
