/*
 * train_agg.c -- the aggregate kpreco.train_agg(user_id, course_id, weight,
 * options): collects interactions, then trains in its final function.
 *
 * Rows are mapped to dense indices as they arrive (12 bytes a row), ids are
 * renumbered in ascending order before training so that the model depends
 * only on the set of rows, not on the order the scan returns them in.
 *
 * Every training keeps a record per iteration (its seconds, and the loss
 * when the option verbose asks for it).  The version id of the model is
 * only assigned when the row is inserted, after this aggregate has
 * finished, so the records of the last successful training stay in backend
 * memory and kpreco.train() files them in kpreco.training_log under the new
 * version through kpreco.last_training_log(), in the same transaction.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "kp_als.h"
#include "kp_bpr.h"
#include "kp_ease.h"
#include "kp_neighbours.h"
#include "kp_popular.h"
#include "kp_sparse.h"
#include "kpreco.h"

PG_FUNCTION_INFO_V1(kpreco_train_transfn);
PG_FUNCTION_INFO_V1(kpreco_train_finalfn);
PG_FUNCTION_INFO_V1(kpreco_last_training_log);

#define INITIAL_ROWS 4096

typedef struct BadRow
{
	int64		count;
	int64		row_number;		/* 1-based, of the first such row */
	int64		user_id;
	int64		course_id;
} BadRow;

typedef struct IterationRecord
{
	double		loss;			/* NaN when not computed */
	double		seconds;		/* of this iteration, without the loss */
	TimestampTz logged_at;
} IterationRecord;

typedef struct TrainState
{
	MemoryContext context;
	instr_time	started;		/* at the first row */
	kp_allocator alloc;
	KpTrainOptions options;
	kp_idmap	users;
	kp_idmap	items;
	int32	   *row_user;
	int32	   *row_item;
	float	   *row_weight;
	int64		n_rows;
	int64		capacity;
	int64		rows_read;
	int64		rows_null_id;
	int64		rows_zero_weight;
	BadRow		negative;
	BadRow		not_a_number;
	BadRow		infinite;
} TrainState;

/* What the iteration callback needs to time, log and report an iteration. */
typedef struct TrainingProgress
{
	const TrainState *state;
	const kp_csr *user_items;
	const float *user_factors;
	const float *item_factors;
	int32		dims;			/* floats per vector */
	int32		n_iterations;
	double		bpr_loss;		/* of bpr's last epoch */
	instr_time	iteration_started;
	IterationRecord *records;	/* n_iterations of them, at least 1 */
} TrainingProgress;

/* A trained model's vectors, laid out as kp_model.h describes. */
typedef struct TrainedVectors
{
	int32		dims;			/* the model's factors field */
	float	   *user_vectors;	/* NULL for ease */
	float	   *item_vectors;
	int32		n_records;		/* iteration records filled */
} TrainedVectors;

/* The iterations of the last training that completed in this backend. */
static MemoryContext last_log_context = NULL;
static IterationRecord *last_log = NULL;
static int32 last_log_count = 0;

static Size
max_training_bytes(void)
{
	return (Size) kpreco_max_training_memory_kb * 1024;
}

/* what: "training needs", "the interactions need" */
static void
refuse_memory(const char *what, Size needed)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s about %zu MB, more than kpreco.max_training_memory (%d MB)",
					what, needed / (1024 * 1024) + 1, kpreco_max_training_memory_kb / 1024),
			 errhint("Raise kpreco.max_training_memory, use fewer factors, or train on fewer interactions.")));
}

static TrainState *
create_state(MemoryContext aggcontext, Jsonb *options)
{
	MemoryContext old = MemoryContextSwitchTo(aggcontext);
	TrainState *state = palloc0(sizeof(TrainState));

	state->context = aggcontext;
	INSTR_TIME_SET_CURRENT(state->started);
	kpreco_allocator_init(&state->alloc, aggcontext);
	kpreco_parse_options(options, &state->options);
	/* ease's core reads lambda 0 as "scaled to the data", its default */
	if (state->options.algorithm == KP_ALGO_EASE && state->options.regularization_given &&
		state->options.ials.regularization == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"regularization\" must be greater than 0 for algorithm ease"),
				 errhint("Leave it out for a value scaled to the data.")));
	if (state->options.algorithm == KP_ALGO_AUTO)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("algorithm \"auto\" is chosen by kpreco.train(), not by the aggregate"),
				 errhint("Call kpreco.train(model, source, '{\"algorithm\": \"auto\"}'), or pick an algorithm for kpreco.train_agg.")));
	if (kp_idmap_init(&state->users, &state->alloc, 1024) != KP_OK ||
		kp_idmap_init(&state->items, &state->alloc, 1024) != KP_OK)
		kpreco_report_status(KP_ENOMEM, "collecting interactions");
	state->capacity = INITIAL_ROWS;
	state->row_user = palloc(sizeof(int32) * INITIAL_ROWS);
	state->row_item = palloc(sizeof(int32) * INITIAL_ROWS);
	state->row_weight = palloc(sizeof(float) * INITIAL_ROWS);
	MemoryContextSwitchTo(old);
	return state;
}

/* A collected row: user index, course index, weight. */
#define ROW_BYTES (2 * sizeof(int32) + sizeof(float))

/* What collecting holds: the row arrays and both id maps. */
static Size
collected_bytes(const TrainState *state)
{
	return (Size) state->capacity * ROW_BYTES +
		kp_idmap_bytes(&state->users) + kp_idmap_bytes(&state->items);
}

static void
grow_rows(TrainState *state)
{
	int64		capacity = state->capacity * 2;
	Size		needed = collected_bytes(state) + (Size) state->capacity * ROW_BYTES;

	if (needed > max_training_bytes())
		refuse_memory("the interactions need", needed);
	state->row_user = repalloc_huge(state->row_user, sizeof(int32) * capacity);
	state->row_item = repalloc_huge(state->row_item, sizeof(int32) * capacity);
	state->row_weight = repalloc_huge(state->row_weight, sizeof(float) * capacity);
	state->capacity = capacity;
}

static void
note_bad_row(BadRow *bad, int64 row_number, int64 user_id, int64 course_id)
{
	if (bad->count++ == 0)
	{
		bad->row_number = row_number;
		bad->user_id = user_id;
		bad->course_id = course_id;
	}
}

/*
 * Maps id to its index, inserting it if new.  A new id that makes the map
 * grow is refused when the grown map does not fit beside what is collected.
 */
static void
map_id(TrainState *state, kp_idmap *map, int64 id, int32 *index)
{
	Size		growth = kp_idmap_growth_bytes(map);
	kp_status	status;

	if (growth > 0 && kp_idmap_find(map, id) < 0 &&
		collected_bytes(state) + growth > max_training_bytes())
		refuse_memory("the interactions need", collected_bytes(state) + growth);
	status = kp_idmap_insert(map, id, index);

	if (status == KP_EINVAL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct ids: at most %d users and %d courses per model",
						KP_IDMAP_MAX_IDS, KP_IDMAP_MAX_IDS)));
	kpreco_report_status(status, "collecting interactions");
}

Datum
kpreco_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	TrainState *state;
	int64		user_id;
	int64		course_id;
	float		weight;
	int32		user_index;
	int32		item_index;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "kpreco_train_transfn called in non-aggregate context");

	if (PG_ARGISNULL(0))
		state = create_state(aggcontext, PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4));
	else
		state = (TrainState *) PG_GETARG_POINTER(0);

	state->rows_read++;
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		state->rows_null_id++;
		PG_RETURN_POINTER(state);
	}
	user_id = PG_GETARG_INT64(1);
	course_id = PG_GETARG_INT64(2);
	weight = PG_ARGISNULL(3) ? 1.0f : PG_GETARG_FLOAT4(3);

	if (isnan(weight))
		note_bad_row(&state->not_a_number, state->rows_read, user_id, course_id);
	else if (isinf(weight))
		note_bad_row(&state->infinite, state->rows_read, user_id, course_id);
	else if (weight < 0)
		note_bad_row(&state->negative, state->rows_read, user_id, course_id);
	else if (weight == 0)
		state->rows_zero_weight++;
	else
	{
		if (state->n_rows == state->capacity)
			grow_rows(state);
		map_id(state, &state->users, user_id, &user_index);
		map_id(state, &state->items, course_id, &item_index);
		state->row_user[state->n_rows] = user_index;
		state->row_item[state->n_rows] = item_index;
		state->row_weight[state->n_rows] = weight;
		state->n_rows++;
	}
	PG_RETURN_POINTER(state);
}

static void
report_bad_rows(const BadRow *bad, const char *what)
{
	if (bad->count == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg_plural(INT64_FORMAT " interaction row has %s weight",
						   INT64_FORMAT " interaction rows have %s weight",
						   bad->count, bad->count, what),
			 errdetail("The first is row " INT64_FORMAT " (user_id " INT64_FORMAT ", course_id " INT64_FORMAT ").",
					   bad->row_number, bad->user_id, bad->course_id),
			 errhint("Weights must be finite and >= 0; filter or fix these rows in the source.")));
}

static void
check_rows(TrainState *state)
{
	if (state == NULL || state->rows_read == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no interactions to train on"),
				 errdetail("The source returned no rows."),
				 errhint("Check the source query or table.")));
	report_bad_rows(&state->not_a_number, "a NaN");
	report_bad_rows(&state->infinite, "an infinite");
	report_bad_rows(&state->negative, "a negative");
	if (state->n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no interactions to train on"),
				 errdetail("Of " INT64_FORMAT " rows read, " INT64_FORMAT " have a NULL id and " INT64_FORMAT " a zero weight.",
						   state->rows_read, state->rows_null_id, state->rows_zero_weight),
				 errhint("Training needs rows with both ids and a positive weight.")));
	if (state->rows_null_id > 0)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " of " INT64_FORMAT " rows with a NULL user or course id",
						state->rows_null_id, state->rows_read)));
}

/* Renumbers ids in ascending order and rewrites the collected rows. */
static void
sort_ids(TrainState *state, MemoryContext work)
{
	int32	   *user_remap = kpreco_alloc_huge(work, sizeof(int32) * (Size) state->users.count, "id remapping");
	int32	   *item_remap = kpreco_alloc_huge(work, sizeof(int32) * (Size) state->items.count, "id remapping");
	int64		row;

	kpreco_report_status(kp_idmap_sort(&state->users, user_remap, kpreco_check_interrupts, NULL),
						 "sorting user ids");
	kpreco_report_status(kp_idmap_sort(&state->items, item_remap, kpreco_check_interrupts, NULL),
						 "sorting course ids");
	for (row = 0; row < state->n_rows; row++)
	{
		if (row % (1 << 16) == 0)
			CHECK_FOR_INTERRUPTS();
		state->row_user[row] = user_remap[state->row_user[row]];
		state->row_item[row] = item_remap[state->row_item[row]];
	}
	pfree(user_remap);
	pfree(item_remap);
}

/*
 * Refuses, before anything is allocated for it, a training that would hold
 * more than kpreco.max_training_memory at some point.  The id maps stay to
 * the end; besides them, renumbering the ids holds the rows and the remap
 * arrays, building the first matrix the rows and that matrix (sized for
 * every row), training both matrices, the factors and the solver's
 * workspace, and building the model value the first matrix's structure, the
 * factors and the value.
 */
static void
check_memory(TrainState *state)
{
	Size		n_users = state->users.count;
	Size		n_items = state->items.count;
	Size		n_rows = state->n_rows;
	Size		factors = state->options.ials.factors;
	Size		rows = (Size) state->capacity * ROW_BYTES;
	Size		user_matrix = kp_csr_bytes(n_users, n_rows);
	Size		factor_bytes = (n_users + n_items) * factors * sizeof(float);
	Size		solver_bytes = factors * factors * sizeof(float) +
		kp_ials_workspace_bytes(&state->options.ials, (int32) Min(n_rows, PG_INT32_MAX));
	Size		list_bytes = n_users * state->options.similar_users * sizeof(int32);
	Size		value_bytes = KP_MODEL_HEADER_BYTES + (n_users + n_items) * sizeof(int64) +
		factor_bytes + (n_users + 1) * sizeof(int64) + n_rows * sizeof(int32) + list_bytes;
	Size		needed = rows + (n_users + n_items) * sizeof(int32);

	needed = Max(needed, rows + user_matrix);
	needed = Max(needed, user_matrix + kp_csr_bytes(n_items, n_rows) + factor_bytes + solver_bytes);
	/* the neighbour lists: unit-length user vectors, the lists, their heaps' scores and a block of scores */
	if (list_bytes > 0)
		needed = Max(needed, user_matrix - n_rows * sizeof(float) + factor_bytes +
					 n_users * factors * sizeof(float) + 2 * list_bytes + n_users * 2 * sizeof(int32) +
					 ((Size) 4 << 20));
	needed = Max(needed, user_matrix - n_rows * sizeof(float) + factor_bytes + value_bytes);
	needed += kp_idmap_bytes(&state->users) + kp_idmap_bytes(&state->items);
	if (needed > max_training_bytes())
		refuse_memory("training needs", needed);
}

/*
 * Ratings of a repeated (user, course) pair are averaged, not summed: the
 * counts come from a second matrix over the same pairs with weight 1.
 */
static void
average_repeated_ratings(TrainState *state, const kp_allocator *alloc, kp_csr *user_items)
{
	float	   *ones = kpreco_alloc_huge(CurrentMemoryContext, sizeof(float) * (Size) Max(state->n_rows, 1), "rating counts");
	kp_csr		counts;
	int64		k;

	for (k = 0; k < state->n_rows; k++)
		ones[k] = 1.0f;
	kpreco_report_status(kp_csr_from_coo(alloc, state->users.count, state->items.count,
										 state->n_rows, state->row_user, state->row_item,
										 ones, &counts, kpreco_check_interrupts, NULL),
						 "counting repeated ratings");
	Assert(counts.nnz == user_items->nnz);
	for (k = 0; k < user_items->nnz; k++)
		user_items->values[k] /= counts.values[k];
	kp_csr_free(alloc, &counts);
	pfree(ones);
}

static double
seconds_since(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_DOUBLE(now);
}

/*
 * Called by the core after each iteration.  The time of the loss pass is
 * left out of the iteration's seconds, so that they do not depend on verbose.
 */
static int
on_iteration(void *arg, int32 iteration)
{
	TrainingProgress *progress = (TrainingProgress *) arg;
	const TrainState *state = progress->state;
	IterationRecord *record = &progress->records[iteration - 1];

	record->seconds = seconds_since(progress->iteration_started);
	record->logged_at = GetCurrentTimestamp();
	record->loss = get_float8_nan();
	CHECK_FOR_INTERRUPTS();
	if (state->options.verbose)
	{
		/*
		 * ials: its objective; bpr: mean -ln σ of the epoch; als: training
		 * RMSE; ease, solved in one step, has none.
		 */
		if (state->options.algorithm == KP_ALGO_BPR)
			record->loss = progress->bpr_loss;
		else if (state->options.algorithm == KP_ALGO_ALS)
			record->loss = kp_als_rmse(progress->user_items, progress->user_factors,
									   progress->item_factors, progress->dims - 2);
		else if (state->options.algorithm == KP_ALGO_IALS)
			record->loss = kp_ials_loss(progress->user_items, progress->user_factors,
										progress->item_factors, &state->options.ials);
		if (isnan(record->loss))
			ereport(NOTICE,
					(errmsg("iteration %d of %d done, %.2f s elapsed",
							iteration, progress->n_iterations, seconds_since(state->started))));
		else
			ereport(NOTICE,
					(errmsg("iteration %d of %d: loss %.6g, %.2f s elapsed",
							iteration, progress->n_iterations, record->loss,
							seconds_since(state->started))));
		CHECK_FOR_INTERRUPTS();
	}
	INSTR_TIME_SET_CURRENT(progress->iteration_started);
	return 0;
}

static void
check_core_params(const char *message)
{
	if (message != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s", message)));
}

/*
 * What the chosen algorithm needs beyond the interaction matrices: its
 * vectors, its workspace, and the model value built from them.  ease is
 * refused beyond the catalog size its dense n × n matrices allow.
 */
static void
check_algorithm_memory(const KpTrainOptions *o, const kp_csr *user_items,
					   const kp_csr *item_users, int32 dims)
{
	int32		n_users = user_items->n_rows;
	int32		n_items = user_items->n_cols;
	Size		matrices = kp_csr_bytes(n_users, user_items->nnz) + kp_csr_bytes(n_items, item_users->nnz);
	Size		vectors = ((Size) (o->algorithm == KP_ALGO_EASE ? 0 : n_users) + n_items) * dims * sizeof(float);
	Size		workspace = 0;

	switch (o->algorithm)
	{
		case KP_ALGO_BPR:
			{
				kp_bpr_params p;

				kp_bpr_default_params(&p);
				p.factors = o->ials.factors;
				workspace = kp_bpr_train_bytes(user_items, &p);
				break;
			}
		case KP_ALGO_ALS:
			{
				kp_als_params p;

				kp_als_default_params(&p);
				p.factors = o->ials.factors;
				workspace = kp_als_train_bytes(user_items, item_users, &p);
				break;
			}
		case KP_ALGO_EASE:
			if (n_items > KP_EASE_MAX_ITEMS)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("algorithm ease handles at most %d courses, and the source has %d",
								KP_EASE_MAX_ITEMS, n_items),
						 errhint("Use algorithm ials or bpr for larger catalogs, or train ease on the most popular courses.")));
			workspace = kp_ease_train_bytes(n_items);
			break;
		default:
			workspace = kp_ials_train_bytes(user_items, item_users, &o->ials);
			break;
	}
	if (workspace == SIZE_MAX || matrices + 2 * vectors + workspace > max_training_bytes())
		refuse_memory("training needs", matrices + 2 * vectors + Min(workspace, MaxAllocHugeSize));
}

static float *
alloc_vectors(MemoryContext work, int32 rows, int32 dims, const char *what)
{
	return kpreco_alloc_huge(work, (Size) Max(rows, 1) * dims * sizeof(float), what);
}

/*
 * Each algorithm's own defaults for the shared keys (factors, iterations,
 * regularization) where the options did not give them; the options are
 * updated, so that the stored effective options say what was used.
 */
static void
resolve_shared_keys(KpTrainOptions *o, int32 *factors, int32 *iterations, float *regularization)
{
	if (o->factors_given)
		*factors = o->ials.factors;
	else
		o->ials.factors = *factors;
	if (o->iterations_given)
		*iterations = o->ials.iterations;
	else
		o->ials.iterations = *iterations;
	if (o->regularization_given)
		*regularization = o->ials.regularization;
	else
		o->ials.regularization = *regularization;
}

/*
 * Trains the algorithm of the options on the interaction matrices (whose
 * values are the summed weights); item_users is the transpose.
 */
static void
train_vectors(TrainState *state, const kp_allocator *alloc, MemoryContext work,
			  const kp_csr *user_items, const kp_csr *item_users,
			  TrainingProgress *progress, TrainedVectors *out)
{
	KpTrainOptions *o = &state->options;
	int32		n_users = user_items->n_rows;
	int32		n_items = user_items->n_cols;
	kp_status	status = KP_OK;

	memset(out, 0, sizeof(*out));
	switch (o->algorithm)
	{
		case KP_ALGO_IALS:
			out->dims = o->ials.factors;
			progress->n_iterations = o->ials.iterations;
			break;
		case KP_ALGO_BPR:
			out->dims = KP_BPR_VECTOR_DIMS(o->ials.factors);
			progress->n_iterations = o->epochs;
			break;
		case KP_ALGO_ALS:
			{
				kp_als_params p;
				int32		unused_iterations;

				kp_als_default_params(&p);
				unused_iterations = p.iterations;
				resolve_shared_keys(o, &p.factors, &unused_iterations, &p.regularization);
				out->dims = KP_ALS_VECTOR_DIMS(o->ials.factors);
				progress->n_iterations = o->ials.iterations;
				break;
			}
		case KP_ALGO_EASE:
			out->dims = n_items;
			progress->n_iterations = 1;
			break;
		case KP_ALGO_POPULAR:
			out->dims = 1;
			break;
	}
	check_algorithm_memory(o, user_items, item_users, out->dims);
	if (o->algorithm != KP_ALGO_EASE)
		out->user_vectors = alloc_vectors(work, n_users, out->dims, "user factors");
	out->item_vectors = alloc_vectors(work, n_items, out->dims, "course factors");
	progress->user_factors = out->user_vectors;
	progress->item_factors = out->item_vectors;
	progress->dims = out->dims;
	progress->records = MemoryContextAllocZero(work, sizeof(IterationRecord) * Max(progress->n_iterations, 1));
	INSTR_TIME_SET_CURRENT(progress->iteration_started);

	switch (o->algorithm)
	{
		case KP_ALGO_IALS:
			status = kp_ials_train(alloc, user_items, item_users, &o->ials,
								   out->user_vectors, out->item_vectors,
								   kpreco_check_interrupts, NULL, on_iteration, progress);
			out->n_records = o->ials.iterations;
			break;
		case KP_ALGO_BPR:
			{
				kp_bpr_params p;

				kp_bpr_default_params(&p);
				p.factors = o->ials.factors;
				p.regularization = o->ials.regularization;
				p.epochs = o->epochs;
				p.learning_rate = o->learning_rate;
				p.seed = o->ials.seed;
				check_core_params(kp_bpr_check_params(&p));
				status = kp_bpr_train(alloc, user_items, &p, out->user_vectors, out->item_vectors,
									  &progress->bpr_loss, kpreco_check_interrupts, NULL,
									  on_iteration, progress);
				out->n_records = p.epochs;
				break;
			}
		case KP_ALGO_ALS:
			{
				kp_als_params p;

				kp_als_default_params(&p);
				if (o->missing_weight_given)
					p.missing_weight = o->missing_weight;
				else
					o->missing_weight = p.missing_weight;
				p.factors = o->ials.factors;
				p.iterations = o->ials.iterations;
				p.regularization = o->ials.regularization;
				p.seed = o->ials.seed;
				check_core_params(kp_als_check_params(&p));
				status = kp_als_train(alloc, user_items, item_users, &p,
									  out->user_vectors, out->item_vectors,
									  kpreco_check_interrupts, NULL, on_iteration, progress);
				out->n_records = p.iterations;
				break;
			}
		case KP_ALGO_EASE:
			{
				kp_ease_params p;
				float		lambda_used = 0;

				kp_ease_default_params(&p);
				if (o->regularization_given)
					p.lambda = o->ials.regularization;
				check_core_params(kp_ease_check_params(&p));
				status = kp_ease_train(alloc, item_users, &p, out->item_vectors, &lambda_used,
									   kpreco_check_interrupts, NULL);
				o->ials.regularization = lambda_used;
				if (status == KP_OK)
				{
					on_iteration(progress, 1);
					out->n_records = 1;
				}
				break;
			}
		case KP_ALGO_POPULAR:
			{
				int32		u;

				for (u = 0; u < n_users; u++)
					out->user_vectors[u] = 1.0f;
				kp_popular_scores(item_users, out->item_vectors);
				break;
			}
	}
	kpreco_report_status(status, "training");
}

/*
 * Each user's most similar users (option similar_users), kept in the model
 * so that similar_users reads a short list instead of every user
 * (kp_neighbours.h): a pass over all pairs of users, quadratic in their
 * number.
 */
static int32 *
user_neighbours(const TrainState *state, const kp_allocator *alloc, MemoryContext work,
				const TrainedVectors *trained, int32 n_users, float *floor)
{
	int32		per_user = state->options.similar_users;
	float	   *unit = kpreco_alloc_huge(work, sizeof(float) * (Size) Max(n_users, 1) * trained->dims,
										 "unit-length user vectors");
	int32	   *lists = kpreco_alloc_huge(work, sizeof(int32) * (Size) Max(n_users, 1) * per_user,
										  "neighbour lists");

	kpreco_unit_rows(trained->user_vectors, n_users, trained->dims, unit);
	kpreco_report_status(kp_neighbours_build(alloc, unit, n_users, trained->dims, per_user, lists,
											 floor, kpreco_check_interrupts, NULL),
						 "finding each user's most similar users");
	pfree(unit);
	if (state->options.verbose)
		ereport(NOTICE,
				(errmsg("found the %d most similar users of each of %d users, %.2f s elapsed",
						per_user, n_users, seconds_since(state->started))));
	return lists;
}

/* Keeps the records of a completed training for kpreco.last_training_log(). */
static void
publish_log(const IterationRecord *records, int32 count)
{
	if (last_log_context == NULL)
		last_log_context = AllocSetContextCreate(TopMemoryContext, "kpreco training log",
												 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(last_log_context);
	last_log = MemoryContextAlloc(last_log_context, sizeof(IterationRecord) * Max(count, 1));
	memcpy(last_log, records, sizeof(IterationRecord) * count);
	last_log_count = count;
}

Datum
kpreco_train_finalfn(PG_FUNCTION_ARGS)
{
	TrainState *state = PG_ARGISNULL(0) ? NULL : (TrainState *) PG_GETARG_POINTER(0);
	MemoryContext work;
	MemoryContext old;
	kp_allocator alloc;
	kp_csr		user_items;
	kp_csr		item_users;
	TrainedVectors trained;
	kp_model	fields;
	char	   *options_json;
	struct varlena *result;
	TrainingProgress progress;
	kp_status	status;

	check_rows(state);
	if (state->options.verbose)
		ereport(NOTICE,
				(errmsg("read " INT64_FORMAT " rows: " INT64_FORMAT " interactions of %d users and %d courses, %.2f s elapsed",
						state->rows_read, state->n_rows, state->users.count, state->items.count,
						seconds_since(state->started))));
	check_memory(state);

	work = AllocSetContextCreate(CurrentMemoryContext, "kpreco training", ALLOCSET_DEFAULT_SIZES);
	kpreco_allocator_init(&alloc, work);
	kpreco_apply_blas_threads();

	sort_ids(state, work);
	status = kp_csr_from_coo(&alloc, state->users.count, state->items.count,
							 state->n_rows, state->row_user, state->row_item,
							 state->row_weight, &user_items, kpreco_check_interrupts, NULL);
	/* Every weight was checked as it arrived: only a sum can be out of range. */
	if (status == KP_EINVAL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the summed weight of a repeated (user, course) pair is infinite"),
				 errdetail("Repeated pairs are summed, and a sum exceeds the range of type real."),
				 errhint("Lower the weights of repeated interactions in the source.")));
	kpreco_report_status(status, "building the interaction matrix");
	if (state->options.algorithm == KP_ALGO_ALS)
		average_repeated_ratings(state, &alloc, &user_items);
	/* The row arrays are not needed any more: give the memory back now. */
	pfree(state->row_user);
	pfree(state->row_item);
	pfree(state->row_weight);
	state->row_user = state->row_item = NULL;
	state->row_weight = NULL;
	state->n_rows = state->capacity = 0;
	kpreco_check_interrupts(NULL);
	kpreco_report_status(kp_csr_transpose(&alloc, &user_items, &item_users,
										  kpreco_check_interrupts, NULL),
						 "transposing the interaction matrix");

	memset(&progress, 0, sizeof(progress));
	progress.state = state;
	progress.user_items = &user_items;
	train_vectors(state, &alloc, work, &user_items, &item_users, &progress, &trained);
	kp_csr_free(&alloc, &item_users);
	/* Only the structure of user_items goes into the model: drop the weights. */
	kp_free(&alloc, user_items.values);
	user_items.values = NULL;

	old = MemoryContextSwitchTo(work);
	options_json = kpreco_options_json(&state->options);
	MemoryContextSwitchTo(old);

	memset(&fields, 0, sizeof(fields));
	fields.algorithm = state->options.algorithm;
	fields.format_version = kp_model_format_for(fields.algorithm);
	fields.n_users = user_items.n_rows;
	fields.n_items = user_items.n_cols;
	fields.factors = trained.dims;
	fields.options_json = options_json;
	fields.options_len = strlen(options_json);
	fields.nnz = user_items.nnz;
	fields.rows_read = state->rows_read;
	fields.rows_skipped = state->rows_null_id;
	fields.user_ids = state->users.ids;
	fields.item_ids = state->items.ids;
	fields.user_factors = trained.user_vectors;
	fields.item_factors = trained.item_vectors;
	fields.seen_indptr = user_items.indptr;
	fields.seen_items = user_items.indices;
	if (state->options.similar_users > 0)
	{
		fields.neighbours_per_user = state->options.similar_users;
		fields.neighbours = user_neighbours(state, &alloc, work, &trained, fields.n_users,
											&fields.neighbours_floor);
	}
	CHECK_FOR_INTERRUPTS();
	result = kpreco_model_build(&fields);
	if (state->options.verbose)
		ereport(NOTICE,
				(errmsg("built the model: %zu bytes, %.2f s elapsed",
						(size_t) VARSIZE(result), seconds_since(state->started))));

	publish_log(progress.records, trained.n_records);
	MemoryContextDelete(work);
	PG_RETURN_POINTER(result);
}

/*
 * last_training_log(): iteration, loss, seconds and time of each iteration
 * of the last training that completed in this session.
 */
Datum
kpreco_last_training_log(PG_FUNCTION_ARGS)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	int32		i;

	for (i = 0; i < last_log_count; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, isnan(last_log[i].loss), false, false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = Float8GetDatum(last_log[i].loss);
		values[2] = Float8GetDatum(last_log[i].seconds);
		values[3] = TimestampTzGetDatum(last_log[i].logged_at);
		tuplestore_putvalues(result.store, result.desc, values, nulls);
	}
	return (Datum) 0;
}
