/*
 * pg_alloc.c -- how the numerical core meets the server: memory contexts,
 * query cancellation, OpenBLAS threads and error reporting.
 */
#include "postgres.h"

#include <cblas.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "kpreco.h"

static void *
context_alloc(void *ctx, size_t size)
{
	return MemoryContextAllocExtended((MemoryContext) ctx, size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
context_release(void *ctx, void *ptr)
{
	pfree(ptr);
}

void
kpreco_allocator_init(kp_allocator *alloc, MemoryContext context)
{
	alloc->alloc = context_alloc;
	alloc->release = context_release;
	alloc->ctx = context;
}

/*
 * The core calls this between units of work.  A pending cancel or
 * statement_timeout throws an ERROR from here; the core keeps nothing but
 * context memory across the call, so unwinding is safe.
 */
int
kpreco_check_interrupts(void *arg)
{
	CHECK_FOR_INTERRUPTS();
	return 0;
}

void
kpreco_apply_blas_threads(void)
{
	static int	applied = 0;

	if (applied != kpreco_blas_threads)
	{
		openblas_set_num_threads(kpreco_blas_threads);
		applied = kpreco_blas_threads;
	}
}

void *
kpreco_alloc_huge(MemoryContext context, Size size, const char *what)
{
	void	   *ptr = MemoryContextAllocExtended(context, size,
												 MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);

	if (ptr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory allocating %zu bytes for %s", (size_t) size, what),
				 errhint("Train on fewer interactions or with fewer factors.")));
	return ptr;
}

void
kpreco_report_status(kp_status status, const char *what)
{
	switch (status)
	{
		case KP_OK:
			return;
		case KP_ENOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory while %s", what),
					 errhint("Train on fewer interactions or with fewer factors, or lower kpreco.max_training_memory to be refused up front.")));
			break;
		case KP_ECANCELLED:
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("canceling statement while %s", what)));
			break;
		case KP_ENUMERIC:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("training diverged while %s", what),
					 errdetail("%s.", kp_status_message(status)),
					 errhint("Lower alpha or the interaction weights, or raise regularization.")));
			break;
		case KP_EINVAL:
		default:
			elog(ERROR, "kpreco: unexpected failure while %s: %s",
				 what, kp_status_message(status));
	}
}
