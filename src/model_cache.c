/*
 * model_cache.c -- per-backend cache of ready-to-score models.
 *
 * Serving must not detoast, validate and index a model on every call, yet a
 * version trained or activated in any session must be served by the next
 * call everywhere.  The catalog tables carry statement triggers that send a
 * relcache invalidation for the table at commit (kpreco_catalog_changed);
 * every backend receives it at its next transaction start or lock, and our
 * callback bumps a generation counter.  Between invalidations a call costs
 * one lookup by name in the cached registry.  The registry is read with the
 * latest snapshot, not the transaction's, so what is cached is what is
 * committed (or written by this very transaction, whose own invalidations
 * are replayed locally if it aborts).
 *
 * Row-level security decides which models a role may read, and the registry
 * is read through SPI as the current user: so the cached registry belongs to
 * the role that read it, and is read again when the current user changes
 * (SET ROLE, a SECURITY DEFINER function) or when role memberships or roles
 * change.  A loaded model is served only through an entry of the current
 * role's registry.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "kpreco.h"

PG_FUNCTION_INFO_V1(kpreco_catalog_changed);

typedef struct RegistryEntry
{
	char	   *name;
	int64		version;
	/*
	 * The row's inserting transaction and command: a version rewritten,
	 * or a number reused after a TRUNCATE, is a row with another pair.
	 */
	int64		row_xmin;
	int64		row_cmin;
} RegistryEntry;

typedef struct LoadedModel
{
	KpServingModel serving;
	int64		row_xmin;
	int64		row_cmin;
} LoadedModel;

static MemoryContext cache_context = NULL;
static MemoryContext registry_context = NULL;
static RegistryEntry *registry = NULL;
static int	registry_count = 0;
static bool registry_loaded = false;
static Oid	registry_user = InvalidOid;	/* the role the registry was read as */
static uint64 catalog_generation = 1;
static uint64 registry_generation = 0;
static Oid	registry_relid = InvalidOid;
static Oid	versions_relid = InvalidOid;
static List *loaded_models = NIL;	/* LoadedModel *, in cache_context */

static void
catalog_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == registry_relid || relid == versions_relid)
		catalog_generation++;
}

/* A role or a role membership changed: what a role may read may have too. */
static void
roles_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	catalog_generation++;
}

void
kpreco_cache_init(void)
{
	cache_context = AllocSetContextCreate(TopMemoryContext, "kpreco model cache",
										  ALLOCSET_SMALL_SIZES);
	registry_context = AllocSetContextCreate(cache_context, "kpreco registry",
											 ALLOCSET_SMALL_SIZES);
	CacheRegisterRelcacheCallback(catalog_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, roles_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, roles_syscache_callback, (Datum) 0);
}

/* Statement trigger on the catalog tables: tell every backend at commit. */
Datum
kpreco_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "kpreco_catalog_changed: not called by trigger manager");
	CacheInvalidateRelcache(trigdata->tg_relation);
	PG_RETURN_POINTER(NULL);
}

static void
lookup_catalog_relids(void)
{
	Oid			schema = get_namespace_oid(KPRECO_SCHEMA, true);

	registry_relid = OidIsValid(schema) ? get_relname_relid("model_registry", schema) : InvalidOid;
	versions_relid = OidIsValid(schema) ? get_relname_relid("model_versions", schema) : InvalidOid;
	if (!OidIsValid(registry_relid) || !OidIsValid(versions_relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("kpreco catalog tables not found"),
				 errhint("Run CREATE EXTENSION kpreco in this database.")));
}

/*
 * Runs a read-only query with the latest snapshot.  A parallel query may
 * not take one; there the statement's snapshot serves, and the caller does
 * not trust the result beyond this call.
 */
static void
execute_latest(const char *query, int nargs, Oid *argtypes, Datum *args)
{
	SPIPlanPtr	plan = SPI_prepare(query, nargs, argtypes);
	Snapshot	snapshot = IsInParallelMode() ? GetActiveSnapshot() : GetLatestSnapshot();
	int			rc;

	if (plan == NULL)
		elog(ERROR, "kpreco: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	rc = SPI_execute_snapshot(plan, args, NULL, snapshot, InvalidSnapshot,
							  true, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "kpreco: catalog query failed: %s", SPI_result_code_string(rc));
}

static void
load_registry(void)
{
	uint64		generation = catalog_generation;
	uint64		row;
	bool		isnull;

	lookup_catalog_relids();
	MemoryContextReset(registry_context);
	registry = NULL;
	registry_count = 0;
	registry_loaded = false;

	SPI_connect();
	execute_latest("SELECT r.name, r.active_version, v.xmin::text::int8, v.cmin::text::int8"
				   " FROM kpreco.model_registry r"
				   " JOIN kpreco.model_versions v ON v.version = r.active_version",
				   0, NULL, NULL);
	registry = MemoryContextAllocZero(registry_context,
									  sizeof(RegistryEntry) * (SPI_processed + 1));
	for (row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		RegistryEntry *entry = &registry[row];

		entry->name = MemoryContextStrdup(registry_context,
										  TextDatumGetCString(SPI_getbinval(tuple, desc, 1, &isnull)));
		entry->version = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
		entry->row_xmin = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
		entry->row_cmin = DatumGetInt64(SPI_getbinval(tuple, desc, 4, &isnull));
	}
	registry_count = (int) SPI_processed;
	SPI_finish();

	registry_generation = IsInParallelMode() ? 0 : generation;
	registry_user = GetUserId();
	registry_loaded = true;
}

static const RegistryEntry *
find_entry(const char *name, int len)
{
	int			i;

	for (i = 0; i < registry_count; i++)
		if (strlen(registry[i].name) == (size_t) len &&
			memcmp(registry[i].name, name, len) == 0)
			return &registry[i];
	return NULL;
}

static const RegistryEntry *
resolve_model(text *name)
{
	const char *wanted;
	int			len;
	const RegistryEntry *entry;

	if (name != NULL)
	{
		wanted = VARDATA_ANY(name);
		len = VARSIZE_ANY_EXHDR(name);
	}
	else if (kpreco_default_model != NULL && kpreco_default_model[0] != '\0')
	{
		wanted = kpreco_default_model;
		len = strlen(wanted);
	}
	else if (registry_count == 1)
		return &registry[0];
	else if (registry_count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no kpreco model has been trained in this database"),
				 errhint("Train one with SELECT kpreco.train('courses', 'enrollments');")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("there are %d kpreco models and no model was named", registry_count),
				 errhint("Pass the model name, or SET kpreco.default_model.")));

	entry = find_entry(wanted, len);
	if (entry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("kpreco model \"%.*s\" does not exist", len, wanted),
				 errhint("SELECT DISTINCT name FROM kpreco.models lists the models this role can read.")));
	return entry;
}

/* Rows of work between interrupt checks while a model is prepared. */
#define INTERRUPT_EVERY (1 << 16)

/*
 * Sets items to 0 .. n - 1 by descending count, ties by ascending index:
 * a radix sort, stable, one byte of the count per pass, so that a big
 * catalog is ordered in linear time with interrupt checks along the way.
 */
static void
sort_by_popularity(int32 *items, const int32 *counts, int32 n, MemoryContext context)
{
	int32	   *buffer = kpreco_alloc_huge(context, sizeof(int32) * (Size) Max(n, 1), "popularity");
	int32	   *from = items;
	int32	   *to = buffer;
	int			shift;
	int32		i;

	for (i = 0; i < n; i++)
		items[i] = i;
	/* four passes: the last one writes into items */
	for (shift = 0; shift < 32; shift += 8)
	{
		int32		start[257];
		int32	   *swap;
		int			digit;

		memset(start, 0, sizeof(start));
		/* ~count orders larger counts first */
		for (i = 0; i < n; i++)
			start[((~(uint32) counts[from[i]] >> shift) & 0xFF) + 1]++;
		for (digit = 0; digit < 256; digit++)
			start[digit + 1] += start[digit];
		for (i = 0; i < n; i++)
		{
			if (i % INTERRUPT_EVERY == 0)
				CHECK_FOR_INTERRUPTS();
			to[start[(~(uint32) counts[from[i]] >> shift) & 0xFF]++] = from[i];
		}
		swap = from;
		from = to;
		to = swap;
	}
	pfree(buffer);
}

static void prepare_similarity(KpServingModel *s);

/* Everything a call needs besides the model itself, computed once. */
static void
prepare_serving(KpServingModel *s)
{
	const kp_model *m = &s->model;
	int32		f = m->factors;
	kp_allocator alloc;
	int64		j;

	kpreco_allocator_init(&alloc, s->context);
	if (kp_idmap_from_array(&s->users, &alloc, m->user_ids, m->n_users,
							kpreco_check_interrupts, NULL) != KP_OK ||
		kp_idmap_from_array(&s->items, &alloc, m->item_ids, m->n_items,
							kpreco_check_interrupts, NULL) != KP_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory preparing kpreco model \"%s\"", s->name)));

	s->popular_counts = kpreco_alloc_huge(s->context, sizeof(int32) * (Size) m->n_items, "popularity");
	s->popular_items = kpreco_alloc_huge(s->context, sizeof(int32) * (Size) m->n_items, "popularity");
	memset(s->popular_counts, 0, sizeof(int32) * (Size) m->n_items);
	for (j = 0; j < m->nnz; j++)
	{
		if (j % INTERRUPT_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		s->popular_counts[m->seen_items[j]]++;
	}
	sort_by_popularity(s->popular_items, s->popular_counts, m->n_items, s->context);

	/* ease scores by summing rows of its item-item weights: no int8 copy */
	if ((m->algorithm != KP_ALGO_EASE &&
		 kp_qmatrix_build(&alloc, m->item_factors, m->n_items, f, &s->items_q,
						  kpreco_check_interrupts, NULL) != KP_OK) ||
		kp_score_scratch_init(&alloc, m->n_items, f, &s->scratch) != KP_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory preparing kpreco model \"%s\"", s->name)));
	s->scratch.interrupt = kpreco_check_interrupts;
	s->top_index = kpreco_alloc_huge(s->context, sizeof(int32) * (Size) m->n_items, "scores");
	s->top_score = kpreco_alloc_huge(s->context, sizeof(float) * (Size) m->n_items, "scores");
}

/* kp_unit_rows in pieces, so that a cancel is seen within milliseconds. */
void
kpreco_unit_rows(const float *F, int32 n, int32 f, float *out)
{
	int32		i;

	for (i = 0; i < n; i += INTERRUPT_EVERY)
	{
		CHECK_FOR_INTERRUPTS();
		kp_unit_rows(F + (Size) i * f, Min(INTERRUPT_EVERY, n - i), f, out + (Size) i * f);
	}
}

/* Unit-length course vectors and their int8 copy, on the first similarity query. */
void
kpreco_prepare_similarity(KpServingModel *s)
{
	if (s->item_unit != NULL)
		return;
	prepare_similarity(s);
}

static void
prepare_similarity(KpServingModel *s)
{
	const kp_model *m = &s->model;
	int32		f = m->factors;
	float	   *unit = kpreco_alloc_huge(s->context, sizeof(float) * (Size) m->n_items * f, "course vectors");
	kp_allocator alloc;

	kpreco_unit_rows(m->item_factors, m->n_items, f, unit);
	kpreco_allocator_init(&alloc, s->context);
	if (kp_qmatrix_build(&alloc, unit, m->n_items, f, &s->item_unit_q,
						 kpreco_check_interrupts, NULL) != KP_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory preparing kpreco model \"%s\"", s->name)));
	s->neighbours = kpreco_alloc_huge(s->context, sizeof(KpNeighbours *) * (Size) m->n_items, "course neighbours");
	memset(s->neighbours, 0, sizeof(KpNeighbours *) * (Size) m->n_items);
	s->item_unit = unit;
}

/*
 * The nearest courses of one course (at most KPRECO_NEIGHBOURS), computed
 * on the first request and kept while the cache has room.
 */
const KpNeighbours *
kpreco_course_neighbours(KpServingModel *s, int32 item)
{
	KpNeighbours *entry;
	bool		keep;

	kpreco_prepare_similarity(s);
	if (s->neighbours[item] != NULL)
		return s->neighbours[item];

	keep = s->neighbour_bytes + sizeof(KpNeighbours) <= KPRECO_NEIGHBOUR_CACHE_BYTES;
	entry = keep ? MemoryContextAlloc(s->context, sizeof(KpNeighbours)) : &s->uncached;
	entry->count = kp_score_topk(&s->item_unit_q, s->item_unit,
								 s->item_unit + (Size) item * s->model.factors, &item, 1,
								 KPRECO_NEIGHBOURS, &s->scratch, entry->index, entry->similarity);
	if (keep)
	{
		s->neighbours[item] = entry;
		s->neighbour_bytes += sizeof(KpNeighbours);
	}
	return entry;
}

/*
 * A serving model over a value that is not in the catalog (kpreco.evaluate
 * of a model value), in a context of its own under the current one; raw
 * must outlive it.  kpreco_serving_model_free releases it.
 */
KpServingModel *
kpreco_serving_model_from_value(struct varlena *raw)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext, "kpreco model",
												  ALLOCSET_DEFAULT_SIZES);
	KpServingModel *s = MemoryContextAllocZero(context, sizeof(KpServingModel));

	kpreco_apply_blas_threads();
	s->context = context;
	s->name = MemoryContextStrdup(context, "(model value)");
	s->raw = raw;
	kpreco_model_parse(s->raw, &s->model);
	prepare_serving(s);
	return s;
}

void
kpreco_serving_model_free(KpServingModel *s)
{
	MemoryContextDelete(s->context);
}

/*
 * Loads a version into a context that hangs off the current (transient)
 * context while it is being built, so an error half-way frees it; only a
 * complete model is moved under the cache.  NULL when the version is not
 * there (any more) for the current role.
 */
static LoadedModel *
load_model(const RegistryEntry *entry)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext, "kpreco model",
												  ALLOCSET_DEFAULT_SIZES);
	LoadedModel *loaded = MemoryContextAllocZero(context, sizeof(LoadedModel));
	KpServingModel *s = &loaded->serving;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	bool		isnull;
	Datum		value;
	MemoryContext old;

	s->context = context;
	s->name = MemoryContextStrdup(context, entry->name);
	s->version = entry->version;

	args[0] = Int64GetDatum(entry->version);
	SPI_connect();
	execute_latest("SELECT model, xmin::text::int8, cmin::text::int8 FROM kpreco.model_versions WHERE version = $1",
				   1, argtypes, args);
	if (SPI_processed != 1)
	{
		SPI_finish();
		MemoryContextDelete(context);
		return NULL;
	}
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "kpreco: model value of version " INT64_FORMAT " is NULL", entry->version);
	/* The row may have been rewritten since the registry was read. */
	loaded->row_xmin = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	loaded->row_cmin = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	old = MemoryContextSwitchTo(context);
	s->raw = PG_DETOAST_DATUM_COPY(value);
	MemoryContextSwitchTo(old);
	SPI_finish();

	kpreco_model_parse(s->raw, &s->model);
	prepare_serving(s);
	MemoryContextSetParent(context, cache_context);
	return loaded;
}

/* Drops cached models whose name is no longer in the registry. */
static void
prune_models(void)
{
	ListCell   *cell;

	foreach(cell, loaded_models)
	{
		LoadedModel *loaded = lfirst(cell);

		if (find_entry(loaded->serving.name, strlen(loaded->serving.name)) == NULL)
		{
			loaded_models = foreach_delete_current(loaded_models, cell);
			MemoryContextDelete(loaded->serving.context);
		}
	}
}

static void
refresh_registry(void)
{
	load_registry();
	prune_models();
}

KpServingModel *
kpreco_serving_model(text *name)
{
	const RegistryEntry *entry;
	ListCell   *cell;
	LoadedModel *loaded;
	MemoryContext old;

	/* serving's BLAS calls (fold-in, segments, recommend_all) run with the session's setting */
	kpreco_apply_blas_threads();
	if (!registry_loaded || registry_generation != catalog_generation ||
		registry_user != GetUserId())
		refresh_registry();
	entry = resolve_model(name);

	foreach(cell, loaded_models)
	{
		loaded = lfirst(cell);
		if (strcmp(loaded->serving.name, entry->name) != 0)
			continue;
		if (loaded->serving.version == entry->version && loaded->row_xmin == entry->row_xmin &&
			loaded->row_cmin == entry->row_cmin)
			return &loaded->serving;
		loaded_models = list_delete_ptr(loaded_models, loaded);
		MemoryContextDelete(loaded->serving.context);
		break;
	}

	loaded = load_model(entry);
	if (loaded == NULL)
	{
		/*
		 * The version was dropped, pruned or rewritten since the registry was
		 * read: read it again, so that a dropped model gives the usual error.
		 */
		refresh_registry();
		entry = resolve_model(name);
		loaded = load_model(entry);
		if (loaded == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("kpreco model \"%s\" is changing", entry->name),
					 errhint("Try again.")));
	}
	old = MemoryContextSwitchTo(cache_context);
	loaded_models = lappend(loaded_models, loaded);
	MemoryContextSwitchTo(old);
	return &loaded->serving;
}
