/*
 * sparse.c -- building and transposing CSR matrices of interactions.
 */
#include <math.h>
#include <string.h>

#include "kp_sparse.h"

/* Rows at most this long are sorted by insertion sort, longer ones by heapsort. */
#define INSERTION_SORT_MAX 32
/* Entries handled between calls to the interrupt callback: a few milliseconds. */
#define INTERRUPT_EVERY (1 << 16)

/* Counts work and asks the interrupt callback once per INTERRUPT_EVERY units. */
typedef struct ticker
{
	kp_interrupt_fn interrupt;
	void	   *interrupt_arg;
	int64_t		work;
} ticker;

/* Adds work units; nonzero when the callback, if asked now, wants to stop. */
static inline int
ticker_cancelled(ticker *t, int64_t work)
{
	t->work += work;
	if (t->work < INTERRUPT_EVERY)
		return 0;
	t->work = 0;
	return t->interrupt != NULL && t->interrupt(t->interrupt_arg);
}

/*
 * Entry a goes before entry b: by column, then by value, so duplicates are
 * summed in an order that does not depend on the input order.
 */
static inline int
entry_before(const int32_t *cols, const float *vals, int64_t a, int64_t b)
{
	return cols[a] < cols[b] || (cols[a] == cols[b] && vals[a] < vals[b]);
}

static inline void
entry_swap(int32_t *cols, float *vals, int64_t a, int64_t b)
{
	int32_t		col = cols[a];
	float		val = vals[a];

	cols[a] = cols[b];
	vals[a] = vals[b];
	cols[b] = col;
	vals[b] = val;
}

static void
sift_down(int32_t *cols, float *vals, int64_t root, int64_t n)
{
	for (;;)
	{
		int64_t		child = 2 * root + 1;

		if (child >= n)
			return;
		if (child + 1 < n && entry_before(cols, vals, child, child + 1))
			child++;
		if (!entry_before(cols, vals, root, child))
			return;
		entry_swap(cols, vals, root, child);
		root = child;
	}
}

/*
 * Sorts the parallel arrays cols/vals (one row) in place without allocating.
 * KP_ECANCELLED when the interrupt callback asks to stop.
 */
static kp_status
sort_row(int32_t *cols, float *vals, int64_t n, ticker *t)
{
	int64_t		i;
	int			depth;

	if (n <= INSERTION_SORT_MAX)
	{
		for (i = 1; i < n; i++)
		{
			int64_t		j;

			for (j = i; j > 0 && entry_before(cols, vals, j, j - 1); j--)
				entry_swap(cols, vals, j, j - 1);
		}
		return ticker_cancelled(t, n) ? KP_ECANCELLED : KP_OK;
	}
	/* a sift-down visits up to log2(n) entries */
	for (depth = 1; ((int64_t) 1 << depth) < n; depth++)
		;
	for (i = n / 2; i-- > 0;)
	{
		sift_down(cols, vals, i, n);
		if (ticker_cancelled(t, depth))
			return KP_ECANCELLED;
	}
	for (i = n - 1; i > 0; i--)
	{
		entry_swap(cols, vals, 0, i);
		sift_down(cols, vals, 0, i);
		if (ticker_cancelled(t, depth))
			return KP_ECANCELLED;
	}
	return KP_OK;
}

size_t
kp_csr_bytes(int32_t n_rows, int64_t nnz)
{
	size_t		indptr_bytes;
	size_t		entry_bytes;

	if (n_rows < 0 || nnz < 0 || (uint64_t) nnz > SIZE_MAX ||
		!kp_mul_size((size_t) n_rows + 1, sizeof(int64_t), &indptr_bytes) ||
		!kp_mul_size((size_t) nnz, sizeof(int32_t) + sizeof(float), &entry_bytes) ||
		indptr_bytes > SIZE_MAX - entry_bytes)
		return SIZE_MAX;
	return indptr_bytes + entry_bytes;
}

/* Allocates the arrays of a CSR matrix with room for nnz entries. */
static kp_status
csr_alloc(const kp_allocator *alloc, int32_t n_rows, int32_t n_cols, int64_t nnz,
		  kp_csr *out)
{
	size_t		indptr_bytes;
	size_t		index_bytes;
	size_t		value_bytes;

	memset(out, 0, sizeof(*out));
	if (n_rows < 0 || n_cols < 0 || nnz < 0 || (uint64_t) nnz > SIZE_MAX)
		return KP_EINVAL;
	if (!kp_mul_size((size_t) n_rows + 1, sizeof(int64_t), &indptr_bytes) ||
		!kp_mul_size((size_t) nnz, sizeof(int32_t), &index_bytes) ||
		!kp_mul_size((size_t) nnz, sizeof(float), &value_bytes))
		return KP_ENOMEM;

	out->indptr = kp_alloc(alloc, indptr_bytes);
	out->indices = kp_alloc(alloc, index_bytes);
	out->values = kp_alloc(alloc, value_bytes);
	if (!out->indptr || !out->indices || !out->values)
	{
		kp_csr_free(alloc, out);
		return KP_ENOMEM;
	}
	out->n_rows = n_rows;
	out->n_cols = n_cols;
	out->nnz = nnz;
	return KP_OK;
}

/*
 * Counting sort by row straight into the output arrays (sized for all n
 * triples, which is what kp_csr_bytes(n_rows, n) reports), then per row: sort
 * by (column, value), merge duplicates and compact forward in place.
 */
kp_status
kp_csr_from_coo(const kp_allocator *alloc, int32_t n_rows, int32_t n_cols,
				int64_t n, const int32_t *rows, const int32_t *cols,
				const float *vals, kp_csr *out,
				kp_interrupt_fn interrupt, void *interrupt_arg)
{
	ticker		t = {interrupt, interrupt_arg, 0};
	int64_t    *indptr;
	int64_t		k;
	int64_t		raw_begin;
	int64_t		nnz;
	int32_t		r;
	kp_status	status;

	memset(out, 0, sizeof(*out));
	if (n_rows < 0 || n_cols < 0 || n < 0 ||
		(n > 0 && (!rows || !cols || !vals)))
		return KP_EINVAL;
	for (k = 0; k < n; k++)
	{
		if (rows[k] < 0 || rows[k] >= n_rows ||
			cols[k] < 0 || cols[k] >= n_cols ||
			!(vals[k] >= 0.0f) || isinf(vals[k]))
			return KP_EINVAL;
		if (ticker_cancelled(&t, 1))
			return KP_ECANCELLED;
	}

	status = csr_alloc(alloc, n_rows, n_cols, n, out);
	if (status != KP_OK)
		return status;
	indptr = out->indptr;

	/* indptr[r + 1] counts row r; after the prefix sum indptr[r] is its start */
	memset(indptr, 0, ((size_t) n_rows + 1) * sizeof(int64_t));
	for (k = 0; k < n; k++)
	{
		indptr[rows[k] + 1]++;
		if (ticker_cancelled(&t, 1))
			goto cancelled;
	}
	for (r = 0; r < n_rows; r++)
		indptr[r + 1] += indptr[r];

	/* scatter with indptr[r] as row r's cursor: it ends at row r's raw end */
	for (k = 0; k < n; k++)
	{
		int64_t		pos = indptr[rows[k]]++;

		out->indices[pos] = cols[k];
		out->values[pos] = vals[k];
		if (ticker_cancelled(&t, 1))
			goto cancelled;
	}

	nnz = 0;
	raw_begin = 0;
	for (r = 0; r < n_rows; r++)
	{
		int64_t		raw_end = indptr[r];

		if (sort_row(out->indices + raw_begin, out->values + raw_begin,
					 raw_end - raw_begin, &t) != KP_OK ||
			ticker_cancelled(&t, 1))
			goto cancelled;
		indptr[r] = nnz;
		k = raw_begin;
		while (k < raw_end)
		{
			int32_t		col = out->indices[k];
			double		sum = 0.0;
			float		rounded;

			for (; k < raw_end && out->indices[k] == col; k++)
				sum += out->values[k];
			rounded = (float) sum;
			if (isinf(rounded))
			{
				kp_csr_free(alloc, out);
				return KP_EINVAL;
			}
			if (rounded > 0.0f)
			{
				out->indices[nnz] = col;
				out->values[nnz] = rounded;
				nnz++;
			}
		}
		raw_begin = raw_end;
	}
	indptr[n_rows] = nnz;
	out->nnz = nnz;
	return KP_OK;

cancelled:
	kp_csr_free(alloc, out);
	return KP_ECANCELLED;
}

kp_status
kp_csr_transpose(const kp_allocator *alloc, const kp_csr *in, kp_csr *out,
				 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	ticker		t = {interrupt, interrupt_arg, 0};
	int64_t    *indptr;
	int64_t		k;
	int32_t		r;
	int32_t		c;
	kp_status	status;

	memset(out, 0, sizeof(*out));
	if (in->n_rows < 0 || in->n_cols < 0 || in->nnz < 0)
		return KP_EINVAL;
	status = csr_alloc(alloc, in->n_cols, in->n_rows, in->nnz, out);
	if (status != KP_OK)
		return status;
	indptr = out->indptr;

	memset(indptr, 0, ((size_t) in->n_cols + 1) * sizeof(int64_t));
	for (k = 0; k < in->nnz; k++)
	{
		indptr[in->indices[k] + 1]++;
		if (ticker_cancelled(&t, 1))
			goto cancelled;
	}
	for (c = 0; c < in->n_cols; c++)
		indptr[c + 1] += indptr[c];

	/* rows are visited in order, so each output row comes out sorted */
	for (r = 0; r < in->n_rows; r++)
	{
		for (k = in->indptr[r]; k < in->indptr[r + 1]; k++)
		{
			int64_t		pos = indptr[in->indices[k]]++;

			out->indices[pos] = r;
			out->values[pos] = in->values[k];
		}
		if (ticker_cancelled(&t, in->indptr[r + 1] - in->indptr[r] + 1))
			goto cancelled;
	}
	/* the cursors ended at each row's end: shift them back to starts */
	for (c = in->n_cols; c > 0; c--)
		indptr[c] = indptr[c - 1];
	indptr[0] = 0;
	return KP_OK;

cancelled:
	kp_csr_free(alloc, out);
	return KP_ECANCELLED;
}

void
kp_csr_free(const kp_allocator *alloc, kp_csr *m)
{
	kp_free(alloc, m->indptr);
	kp_free(alloc, m->indices);
	kp_free(alloc, m->values);
	memset(m, 0, sizeof(*m));
}
