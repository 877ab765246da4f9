/*
 * kpreco.c -- module entry point and settings.
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "kpreco.h"

PG_MODULE_MAGIC;

char	   *kpreco_default_model = NULL;
int			kpreco_blas_threads = 1;
int			kpreco_max_training_memory_kb = 2 * 1024 * 1024;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * OpenBLAS starts its thread pool when the library is loaded; that must
	 * happen in each backend, never in the postmaster that forks them.
	 */
	if (process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kpreco must not be loaded through shared_preload_libraries"),
				 errhint("Remove kpreco from shared_preload_libraries; each session loads it on first use.")));

	DefineCustomStringVariable("kpreco.default_model",
							   "Model used when a kpreco function is called without a model name.",
							   "Empty means: the only model in kpreco.models, if there is exactly one.",
							   &kpreco_default_model,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("kpreco.blas_threads",
							"Number of OpenBLAS threads a session uses for training and scoring.",
							"Results are bit-for-bit reproducible for a given thread count.",
							&kpreco_blas_threads,
							1, 1, 64,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kpreco.max_training_memory",
							"Largest amount of memory one training may use.",
							"Training estimates its memory before allocating and refuses to start above this.",
							&kpreco_max_training_memory_kb,
							2 * 1024 * 1024, 1024, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("kpreco");

	kpreco_cache_init();
}
