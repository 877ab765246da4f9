/*
 * kp_sparse.h -- compressed sparse row matrices of interactions.
 */
#ifndef KP_SPARSE_H
#define KP_SPARSE_H

#include "kp_core.h"

/*
 * Row i holds columns indices[indptr[i] .. indptr[i+1]), strictly increasing,
 * with values[] alongside.  Every value is finite and > 0.
 */
typedef struct kp_csr
{
	int32_t		n_rows;
	int32_t		n_cols;
	int64_t		nnz;
	int64_t    *indptr;			/* n_rows + 1 */
	int32_t    *indices;		/* nnz */
	float	   *values;			/* nnz */
} kp_csr;

/*
 * Builds a CSR matrix from n coordinate triples (rows[k], cols[k], vals[k]).
 * Duplicate (row, col) pairs are summed (in double, rounded once to float);
 * pairs whose sum is <= 0 are dropped.  Every rows[k] must be in
 * [0, n_rows), cols[k] in [0, n_cols) and vals[k] finite and >= 0, else
 * KP_EINVAL.  The result does not depend on the order of the triples.
 * Calls interrupt (if not NULL) every few milliseconds and returns
 * KP_ECANCELLED, with nothing allocated, when it returns nonzero.
 */
kp_status	kp_csr_from_coo(const kp_allocator *alloc, int32_t n_rows, int32_t n_cols,
							int64_t n, const int32_t *rows, const int32_t *cols,
							const float *vals, kp_csr *out,
							kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * out = transpose of in (columns become rows), indices sorted.  Interrupted
 * like kp_csr_from_coo.
 */
kp_status	kp_csr_transpose(const kp_allocator *alloc, const kp_csr *in, kp_csr *out,
							 kp_interrupt_fn interrupt, void *interrupt_arg);

/* Frees the arrays and zeroes the struct; safe on a zeroed struct. */
void		kp_csr_free(const kp_allocator *alloc, kp_csr *m);

/* Bytes kp_csr_from_coo/kp_csr_transpose allocate for the given shape. */
size_t		kp_csr_bytes(int32_t n_rows, int64_t nnz);

#endif							/* KP_SPARSE_H */
