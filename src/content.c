/*
 * content.c -- the aggregate kpreco.content_agg(model, course_id, feature,
 * weight, options): content cold start.
 *
 * A course nobody has taken yet has no vector in a factor model, so it is
 * never recommended.  If it has features (category, teacher, tags, the words
 * of its title), a ridge regression learnt on the courses that have both
 * features and a trained vector predicts one:
 *
 *   W = argmin ‖X W − (Y − 1μᵀ)‖² + λ‖W‖²,   vector of a new course = xW + μ
 *
 * with X the courses × features matrix of the model's courses, Y their
 * vectors and μ their mean vector.  Every course with features that the
 * model does not know is a new course: it is added to the model (course ids
 * stay ascending) with the predicted vector and no training users, so
 * recommend, similar_courses and predict serve it like any other.
 *
 * The rows are collected as they arrive (course index, feature index,
 * weight: 12 bytes a row), feature strings are mapped to indices by a hash
 * table; course ids and feature names are renumbered in ascending order
 * before the regression, so that the result depends only on the set of rows.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/hashfn.h"
#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "kp_ridge.h"
#include "kp_sparse.h"
#include "kpreco.h"

PG_FUNCTION_INFO_V1(kpreco_content_transfn);
PG_FUNCTION_INFO_V1(kpreco_content_finalfn);

/* Option feature_regularization: λ of the ridge regression. */
#define DEFAULT_FEATURE_REGULARIZATION 1.0f
#define MAX_FEATURE_REGULARIZATION 1e6f

/* Bytes of a feature kept to name a bad row in an error. */
#define BAD_FEATURE_BYTES 200

#define INITIAL_ROWS 4096

/* A collected row: course index, feature index, weight. */
#define ROW_BYTES (2 * sizeof(int32) + sizeof(float))

/* Feature names to indices. */
typedef struct FeatureEntry
{
	const char *name;
	uint32		hash;
	int32		index;
	char		status;
} FeatureEntry;

#define SH_PREFIX featuremap
#define SH_ELEMENT_TYPE FeatureEntry
#define SH_KEY_TYPE const char *
#define SH_KEY name
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b) (strcmp((a), (b)) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct BadWeight
{
	int64		count;
	int64		row_number;		/* 1-based, of the first such row */
	int64		course_id;
	char	   *feature;
} BadWeight;

typedef struct ContentState
{
	MemoryContext context;
	kp_allocator alloc;
	struct varlena *model_value;	/* the model of the first row, a copy */
	kp_model	model;			/* its fields; arrays point into model_value */
	float		regularization;
	kp_idmap	courses;		/* course ids of the accepted rows */
	featuremap_hash *features;
	char	  **feature_names;	/* index -> name */
	int32		n_features;
	int32		names_capacity;
	Size		name_bytes;		/* of the names themselves */
	int32	   *row_course;
	int32	   *row_feature;
	float	   *row_weight;
	int64		n_rows;
	int64		capacity;
	int64		rows_read;
	int64		rows_null_course;
	int64		rows_no_feature;
	int64		rows_zero_weight;
	BadWeight	negative;
	BadWeight	not_a_number;
	BadWeight	infinite;
} ContentState;

static Size
max_training_bytes(void)
{
	return (Size) kpreco_max_training_memory_kb * 1024;
}

static void
refuse_memory(const char *what, Size needed)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s about %zu MB, more than kpreco.max_training_memory (%d MB)",
					what, needed / (1024 * 1024) + 1, kpreco_max_training_memory_kb / 1024),
			 errhint("Raise kpreco.max_training_memory, or give fewer distinct features (fewer tags, a text search configuration with stop words, shorter texts).")));
}

/* What collecting holds: the model copy, the rows, the id map and the features. */
static Size
collected_bytes(const ContentState *state)
{
	return VARSIZE(state->model_value) + (Size) state->capacity * ROW_BYTES +
		kp_idmap_bytes(&state->courses) +
		(Size) state->features->size * sizeof(FeatureEntry) +
		(Size) state->names_capacity * sizeof(char *) + state->name_bytes;
}

/*
 * Options of the aggregate: feature_regularization only (kpreco.train()
 * handles course_features, course_text and text_search_config itself).
 */
static void
parse_content_options(Jsonb *options, ContentState *state)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	char	   *key = NULL;

	state->regularization = DEFAULT_FEATURE_REGULARIZATION;
	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("For example '{\"feature_regularization\": 1}'.")));
	it = JsonbIteratorInit(&options->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (token == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (strcmp(key, "feature_regularization") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%s\" of kpreco.content_agg", key),
						 errhint("Its only option is feature_regularization; kpreco.train() takes course_features, course_text and text_search_config.")));
		}
		else if (token == WJB_VALUE)
		{
			double		value = 0;

			if (v.type == jbvNumeric)
				value = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
														   NumericGetDatum(v.val.numeric)));
			if (v.type != jbvNumeric || !(value > 0) || value > MAX_FEATURE_REGULARIZATION)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"feature_regularization\" must be a number greater than 0 and at most 1000000")));
			state->regularization = (float) value;
			/* A value too small for real would make the regression singular. */
			if (!(state->regularization > 0))
				state->regularization = FLT_MIN;
		}
	}
}

static ContentState *
create_state(FunctionCallInfo fcinfo, MemoryContext aggcontext)
{
	MemoryContext old = MemoryContextSwitchTo(aggcontext);
	ContentState *state = palloc0(sizeof(ContentState));

	state->context = aggcontext;
	kpreco_allocator_init(&state->alloc, aggcontext);
	parse_content_options(PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5), state);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	state->model_value = PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(1));
	kpreco_model_parse(state->model_value, &state->model);
	if (state->model.algorithm != KP_ALGO_IALS && state->model.algorithm != KP_ALGO_BPR &&
		state->model.algorithm != KP_ALGO_ALS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("course features need a model of algorithm ials, bpr or als, not %s",
						kp_algorithm_name(state->model.algorithm)),
				 errhint("An ease or popular model has no course vectors that features could predict: train ials, bpr or als for new courses.")));

	if (kp_idmap_init(&state->courses, &state->alloc, 1024) != KP_OK)
		kpreco_report_status(KP_ENOMEM, "collecting course features");
	state->features = featuremap_create(aggcontext, 1024, NULL);
	state->names_capacity = 1024;
	state->feature_names = palloc(sizeof(char *) * state->names_capacity);
	state->capacity = INITIAL_ROWS;
	state->row_course = palloc(sizeof(int32) * INITIAL_ROWS);
	state->row_feature = palloc(sizeof(int32) * INITIAL_ROWS);
	state->row_weight = palloc(sizeof(float) * INITIAL_ROWS);
	MemoryContextSwitchTo(old);
	if (collected_bytes(state) > max_training_bytes())
		refuse_memory("the model and the course features need", collected_bytes(state));
	return state;
}

static void
grow_rows(ContentState *state)
{
	int64		capacity = state->capacity * 2;
	Size		needed = collected_bytes(state) + (Size) state->capacity * ROW_BYTES;

	if (needed > max_training_bytes())
		refuse_memory("the course features need", needed);
	state->row_course = repalloc_huge(state->row_course, sizeof(int32) * capacity);
	state->row_feature = repalloc_huge(state->row_feature, sizeof(int32) * capacity);
	state->row_weight = repalloc_huge(state->row_weight, sizeof(float) * capacity);
	state->capacity = capacity;
}

static int32
map_course(ContentState *state, int64 course_id)
{
	Size		growth = kp_idmap_growth_bytes(&state->courses);
	int32		index;
	kp_status	status;

	if (growth > 0 && kp_idmap_find(&state->courses, course_id) < 0 &&
		collected_bytes(state) + growth > max_training_bytes())
		refuse_memory("the course features need", collected_bytes(state) + growth);
	status = kp_idmap_insert(&state->courses, course_id, &index);
	if (status == KP_EINVAL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct courses: at most %d per model", KP_IDMAP_MAX_IDS)));
	kpreco_report_status(status, "collecting course features");
	return index;
}

static int32
map_feature(ContentState *state, const char *name)
{
	FeatureEntry *entry;
	bool		found;
	Size		len;

	entry = featuremap_lookup(state->features, name);
	if (entry != NULL)
		return entry->index;

	len = strlen(name) + 1;
	/* The table doubles when it fills; the name array likewise. */
	if (collected_bytes(state) + len + 2 * (Size) state->features->size * sizeof(FeatureEntry) +
		(Size) state->names_capacity * sizeof(char *) > max_training_bytes())
		refuse_memory("the course features need",
					  collected_bytes(state) + len + 2 * (Size) state->features->size * sizeof(FeatureEntry));
	if (state->n_features >= KP_IDMAP_MAX_IDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct features: at most %d", KP_IDMAP_MAX_IDS)));
	if (state->n_features == state->names_capacity)
	{
		state->names_capacity = (int32) Min((int64) state->names_capacity * 2, (int64) KP_IDMAP_MAX_IDS);
		state->feature_names = repalloc_huge(state->feature_names, sizeof(char *) * state->names_capacity);
	}
	state->feature_names[state->n_features] = MemoryContextStrdup(state->context, name);
	state->name_bytes += len;
	entry = featuremap_insert(state->features, state->feature_names[state->n_features], &found);
	Assert(!found);
	entry->index = state->n_features;
	return state->n_features++;
}

static void
note_bad_weight(ContentState *state, BadWeight *bad, int64 course_id, const char *feature)
{
	if (bad->count++ == 0)
	{
		int			len = strlen(feature);

		bad->row_number = state->rows_read;
		bad->course_id = course_id;
		len = pg_mbcliplen(feature, len, Min(len, BAD_FEATURE_BYTES));
		bad->feature = MemoryContextAlloc(state->context, len + 1);
		memcpy(bad->feature, feature, len);
		bad->feature[len] = '\0';
	}
}

/*
 * content_agg(model, course_id, feature, weight, options).  A row whose
 * course id and feature are both NULL is no row at all: it is what
 * "model LEFT JOIN features ON true" gives when there are no features.
 */
Datum
kpreco_content_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ContentState *state;
	int64		course_id;
	char	   *feature;
	float		weight;
	int32		course_index;
	int32		feature_index;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "kpreco_content_transfn called in non-aggregate context");

	if (PG_ARGISNULL(0))
		state = create_state(fcinfo, aggcontext);
	else
		state = (ContentState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(2) && PG_ARGISNULL(3))
		PG_RETURN_POINTER(state);
	state->rows_read++;
	if (PG_ARGISNULL(2))
	{
		state->rows_null_course++;
		PG_RETURN_POINTER(state);
	}
	if (PG_ARGISNULL(3) || VARSIZE_ANY_EXHDR(PG_GETARG_DATUM(3)) == 0)
	{
		state->rows_no_feature++;
		PG_RETURN_POINTER(state);
	}
	course_id = PG_GETARG_INT64(2);
	/* In the per-row context, which the aggregate resets. */
	feature = text_to_cstring(PG_GETARG_TEXT_PP(3));
	weight = PG_ARGISNULL(4) ? 1.0f : PG_GETARG_FLOAT4(4);

	if (isnan(weight))
		note_bad_weight(state, &state->not_a_number, course_id, feature);
	else if (isinf(weight))
		note_bad_weight(state, &state->infinite, course_id, feature);
	else if (weight < 0)
		note_bad_weight(state, &state->negative, course_id, feature);
	else if (weight == 0)
		state->rows_zero_weight++;
	else
	{
		if (state->n_rows == state->capacity)
			grow_rows(state);
		course_index = map_course(state, course_id);
		feature_index = map_feature(state, feature);
		state->row_course[state->n_rows] = course_index;
		state->row_feature[state->n_rows] = feature_index;
		state->row_weight[state->n_rows] = weight;
		state->n_rows++;
	}
	PG_RETURN_POINTER(state);
}

static void
report_bad_weights(const BadWeight *bad, const char *what)
{
	if (bad->count == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg_plural(INT64_FORMAT " course feature row has %s weight",
						   INT64_FORMAT " course feature rows have %s weight",
						   bad->count, bad->count, what),
			 errdetail("The first is row " INT64_FORMAT " (course_id " INT64_FORMAT ", feature \"%s\").",
					   bad->row_number, bad->course_id, bad->feature),
			 errhint("Feature weights must be finite and >= 0 (NULL counts as 1); filter or fix these rows.")));
}

/* Index of id among the model's ascending course ids, or -1. */
static int32
model_course_index(const kp_model *m, int64 id)
{
	int32		lo = 0;
	int32		hi = m->n_items - 1;

	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (m->item_ids[mid] < id)
			lo = mid + 1;
		else if (m->item_ids[mid] > id)
			hi = mid - 1;
		else
			return mid;
	}
	return -1;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Renumbers features in ascending order of their names: remap[old] = new.
 * The names are sorted in place; each entry of the table holds its old index.
 */
static int32 *
sort_features(ContentState *state, MemoryContext work)
{
	int32	   *remap = kpreco_alloc_huge(work, sizeof(int32) * (Size) Max(state->n_features, 1), "feature numbering");
	int32		i;

	CHECK_FOR_INTERRUPTS();
	qsort(state->feature_names, state->n_features, sizeof(char *), compare_names);
	CHECK_FOR_INTERRUPTS();
	for (i = 0; i < state->n_features; i++)
	{
		FeatureEntry *entry = featuremap_lookup(state->features, state->feature_names[i]);

		Assert(entry != NULL);
		remap[entry->index] = i;
		if (i % 65536 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return remap;
}

/*
 * The options of the new model: those of the input with the effective
 * feature_regularization and the number of courses whose vectors come from
 * features.
 */
static char *
content_options_json(const kp_model *m, float regularization, int32 from_features)
{
	char	   *old_text = pnstrdup(m->options_json, m->options_len);
	StringInfoData added;
	Datum		old_jsonb;
	Datum		merged;
	Jsonb	   *result;

	initStringInfo(&added);
	appendStringInfo(&added, "{\"feature_regularization\": %s, \"courses_from_features\": %d}",
					 float_to_shortest_decimal(regularization), from_features);
	old_jsonb = DirectFunctionCall1(jsonb_in, CStringGetDatum(old_text));
	merged = DirectFunctionCall2(jsonb_concat, old_jsonb,
								 DirectFunctionCall1(jsonb_in, CStringGetDatum(added.data)));
	result = DatumGetJsonbP(merged);
	return JsonbToCString(NULL, &result->root, VARSIZE(result));
}

/* Floats per course vector that the regression predicts; als keeps its constant 1 last. */
static int32
predicted_dims(const kp_model *m)
{
	return m->algorithm == KP_ALGO_ALS ? m->factors - 1 : m->factors;
}

/*
 * Refuses, before it is allocated, a mapping that would hold more than
 * kpreco.max_training_memory at some point: besides what is collected, the
 * feature matrices and the targets, either the regression (its workspace,
 * W and the predictions) or the new model (its arrays and its value).
 * regression is 0 before the matrices are built, when it is not known yet.
 */
static void
check_memory(ContentState *state, int32 n_known, int32 n_new, int64 known_nnz, int64 new_nnz,
			 Size regression)
{
	const kp_model *m = &state->model;
	Size		dims = m->factors;
	Size		out_dims = predicted_dims(m);
	Size		n_items = (Size) m->n_items + n_new;
	Size		matrices = kp_csr_bytes(n_known, known_nnz) + kp_csr_bytes(n_new, new_nnz);
	Size		targets = (Size) n_known * out_dims * sizeof(float);
	Size		mapping = (Size) state->n_features * out_dims * sizeof(float);
	Size		predictions = (Size) n_new * out_dims * sizeof(float);
	Size		new_arrays = n_items * (sizeof(int64) + dims * sizeof(float)) + (Size) m->nnz * sizeof(int32);
	Size		value = VARSIZE(state->model_value) + (Size) n_new * (sizeof(int64) + dims * sizeof(float));
	Size		needed;

	needed = collected_bytes(state) + matrices + targets + predictions +
		Max(regression + mapping, new_arrays + value);
	if (needed > max_training_bytes())
		refuse_memory("the regression from features to course vectors needs", needed);
}

/*
 * The vectors of the new courses: W from the known courses' features to
 * their vectors less the mean vector μ, then xW + μ for each new course.
 */
static void
predict_vectors(ContentState *state, const kp_allocator *alloc, const kp_csr *known_x,
				float *known_y, int32 out_dims, const kp_csr *new_x, float *predicted,
				int32 n_new, int64 known_nnz, int64 new_nnz)
{
	int32		n_known = known_x->n_rows;
	double	   *mean = palloc0(sizeof(double) * out_dims);
	float	   *W;
	Size		regression;
	int32		c;
	int32		d;
	kp_status	status;

	regression = kp_ridge_fit_bytes(known_x, out_dims);
	if (regression == SIZE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many course features for the regression: both the courses with interactions and the features they have exceed %d",
						KP_RIDGE_MAX_UNKNOWNS),
				 errdetail("%d courses with interactions have features, %d distinct features in all.",
						   n_known, state->n_features),
				 errhint("Give fewer distinct features: drop rare tags or words (a text search configuration with stop words helps).")));
	check_memory(state, n_known, n_new, known_nnz, new_nnz, regression);

	for (c = 0; c < n_known; c++)
	{
		for (d = 0; d < out_dims; d++)
			mean[d] += known_y[(Size) c * out_dims + d];
		if (c % 65536 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	for (d = 0; d < out_dims; d++)
		mean[d] /= n_known;
	for (c = 0; c < n_known; c++)
		for (d = 0; d < out_dims; d++)
			known_y[(Size) c * out_dims + d] -= (float) mean[d];

	W = kpreco_alloc_huge(CurrentMemoryContext, sizeof(float) * (Size) Max(state->n_features, 1) * out_dims,
						  "the mapping from features to course vectors");
	status = kp_ridge_fit(alloc, known_x, known_y, out_dims, state->regularization, W,
						  kpreco_check_interrupts, NULL);
	if (status == KP_ENUMERIC)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the regression from course features to course vectors failed"),
				 errdetail("%s.", kp_status_message(status)),
				 errhint("Raise feature_regularization, or lower the feature weights.")));
	kpreco_report_status(status, "learning the mapping from course features to vectors");

	for (c = 0; c < n_new; c++)
	{
		float	   *out = predicted + (Size) c * out_dims;
		int64		begin = new_x->indptr[c];

		status = kp_ridge_predict(W, state->n_features, out_dims, new_x->indices + begin,
								  new_x->values + begin, (int32) (new_x->indptr[c + 1] - begin), out);
		kpreco_report_status(status, "predicting course vectors from features");
		for (d = 0; d < out_dims; d++)
			out[d] += (float) mean[d];
		if (c % 4096 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(W);
	pfree(mean);
}

Datum
kpreco_content_finalfn(PG_FUNCTION_ARGS)
{
	ContentState *state = PG_ARGISNULL(0) ? NULL : (ContentState *) PG_GETARG_POINTER(0);
	const kp_model *m;
	MemoryContext work;
	kp_allocator alloc;
	int32	   *feature_remap;
	int32	   *course_remap;
	int32	   *course_row;		/* sorted course -> row in known or new matrix */
	bool	   *course_known;
	int32		n_courses;
	int32		n_known = 0;
	int32		n_new = 0;
	int32		dims;
	int32		out_dims;
	int64		known_nnz = 0;
	int64		new_nnz = 0;
	int64		row;
	int32		c;
	int32	   *coo_row;
	int32	   *coo_col;
	float	   *coo_val;
	int64		n_coo_known;
	int64		n_coo_new;
	kp_csr		known_x;
	kp_csr		new_x;
	float	   *known_y;
	float	   *predicted;
	int64	   *new_ids;
	int64	   *item_ids;
	float	   *item_vectors;
	int32	   *old_to_new;
	int32	   *seen_items;
	int32		i,
				j,
				k;
	kp_model	fields;
	char	   *options_json;
	struct varlena *result;
	kp_status	status;

	/* No row at all: there is no model to return. */
	if (state == NULL)
		PG_RETURN_NULL();
	m = &state->model;

	report_bad_weights(&state->not_a_number, "a NaN");
	report_bad_weights(&state->infinite, "an infinite");
	report_bad_weights(&state->negative, "a negative");
	if (state->rows_null_course > 0)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " of " INT64_FORMAT " course feature rows with a NULL course id",
						state->rows_null_course, state->rows_read)));
	if (state->n_rows == 0)
	{
		ereport(NOTICE,
				(errmsg("no course features: the model is unchanged"),
				 errdetail("Of " INT64_FORMAT " feature rows, " INT64_FORMAT " have a NULL course id, "
						   INT64_FORMAT " a NULL or empty feature and " INT64_FORMAT " a zero weight.",
						   state->rows_read, state->rows_null_course, state->rows_no_feature,
						   state->rows_zero_weight)));
		PG_RETURN_POINTER(state->model_value);
	}

	work = AllocSetContextCreate(CurrentMemoryContext, "kpreco content cold start", ALLOCSET_DEFAULT_SIZES);
	kpreco_allocator_init(&alloc, work);
	kpreco_apply_blas_threads();
	dims = m->factors;
	out_dims = predicted_dims(m);

	/* Courses in ascending id order, each known to the model or new. */
	n_courses = state->courses.count;
	course_remap = kpreco_alloc_huge(work, sizeof(int32) * (Size) n_courses, "course numbering");
	kpreco_report_status(kp_idmap_sort(&state->courses, course_remap, kpreco_check_interrupts, NULL),
						 "sorting course ids");
	feature_remap = sort_features(state, work);
	course_row = kpreco_alloc_huge(work, sizeof(int32) * (Size) n_courses, "course rows");
	course_known = kpreco_alloc_huge(work, sizeof(bool) * (Size) n_courses, "course rows");
	for (c = 0; c < n_courses; c++)
	{
		int32		index = model_course_index(m, state->courses.ids[c]);

		course_known[c] = index >= 0;
		course_row[c] = index >= 0 ? n_known++ : n_new++;
		if (c % 65536 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	if (n_known == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("none of the %d courses with features is in the model", n_courses),
				 errdetail("The mapping from features to course vectors is learnt on courses that have both."),
				 errhint("Give features for the courses of the interactions too, not only for the new ones.")));

	for (row = 0; row < state->n_rows; row++)
	{
		int32		sorted = course_remap[state->row_course[row]];

		state->row_course[row] = sorted;
		state->row_feature[row] = feature_remap[state->row_feature[row]];
		if (course_known[sorted])
			known_nnz++;
		else
			new_nnz++;
		if (row % 65536 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	if ((int64) m->n_items + n_new > KP_IDMAP_MAX_IDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct courses: at most %d per model", KP_IDMAP_MAX_IDS)));
	check_memory(state, n_known, n_new, known_nnz, new_nnz, 0);

	/* The feature matrices of the known and the new courses. */
	coo_row = kpreco_alloc_huge(work, sizeof(int32) * (Size) Max(state->n_rows, 1), "course features");
	coo_col = kpreco_alloc_huge(work, sizeof(int32) * (Size) Max(state->n_rows, 1), "course features");
	coo_val = kpreco_alloc_huge(work, sizeof(float) * (Size) Max(state->n_rows, 1), "course features");
	n_coo_known = 0;
	n_coo_new = known_nnz;
	for (row = 0; row < state->n_rows; row++)
	{
		int32		sorted = state->row_course[row];
		int64		at = course_known[sorted] ? n_coo_known++ : n_coo_new++;

		coo_row[at] = course_row[sorted];
		coo_col[at] = state->row_feature[row];
		coo_val[at] = state->row_weight[row];
		if (row % 65536 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	/* The collected rows are not needed any more. */
	pfree(state->row_course);
	pfree(state->row_feature);
	pfree(state->row_weight);
	state->row_course = state->row_feature = NULL;
	state->row_weight = NULL;
	state->capacity = 0;

	status = kp_csr_from_coo(&alloc, n_known, state->n_features, known_nnz, coo_row, coo_col, coo_val,
							 &known_x, kpreco_check_interrupts, NULL);
	if (status == KP_OK)
		status = kp_csr_from_coo(&alloc, n_new, state->n_features, new_nnz, coo_row + known_nnz,
								 coo_col + known_nnz, coo_val + known_nnz, &new_x,
								 kpreco_check_interrupts, NULL);
	if (status == KP_EINVAL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the summed weight of a repeated (course, feature) pair is infinite"),
				 errhint("Lower the weights of repeated features.")));
	kpreco_report_status(status, "building the course feature matrix");
	pfree(coo_row);
	pfree(coo_col);
	pfree(coo_val);

	/* Targets: the known courses' vectors (for als without the constant 1). */
	known_y = kpreco_alloc_huge(work, sizeof(float) * (Size) n_known * out_dims, "course vectors");
	for (c = 0; c < n_courses; c++)
	{
		if (!course_known[c])
			continue;
		memcpy(known_y + (Size) course_row[c] * out_dims,
			   m->item_factors + (Size) model_course_index(m, state->courses.ids[c]) * dims,
			   sizeof(float) * out_dims);
		if (c % 65536 == 0)
			CHECK_FOR_INTERRUPTS();
	}

	predicted = kpreco_alloc_huge(work, sizeof(float) * (Size) Max(n_new, 1) * out_dims, "predicted course vectors");
	if (n_new > 0)
		predict_vectors(state, &alloc, &known_x, known_y, out_dims, &new_x, predicted,
						n_new, known_nnz, new_nnz);
	kp_csr_free(&alloc, &known_x);
	kp_csr_free(&alloc, &new_x);
	pfree(known_y);

	/* The new model: old and new courses merged in ascending id order. */
	new_ids = kpreco_alloc_huge(work, sizeof(int64) * (Size) Max(n_new, 1), "new course ids");
	for (c = 0; c < n_courses; c++)
		if (!course_known[c])
			new_ids[course_row[c]] = state->courses.ids[c];
	item_ids = kpreco_alloc_huge(work, sizeof(int64) * ((Size) m->n_items + n_new), "course ids");
	item_vectors = kpreco_alloc_huge(work, sizeof(float) * ((Size) m->n_items + n_new) * dims, "course vectors");
	old_to_new = kpreco_alloc_huge(work, sizeof(int32) * (Size) Max(m->n_items, 1), "course numbering");
	for (i = 0, j = 0, k = 0; i < m->n_items || j < n_new; k++)
	{
		float	   *to = item_vectors + (Size) k * dims;

		if (j >= n_new || (i < m->n_items && m->item_ids[i] < new_ids[j]))
		{
			item_ids[k] = m->item_ids[i];
			memcpy(to, m->item_factors + (Size) i * dims, sizeof(float) * dims);
			old_to_new[i++] = k;
		}
		else
		{
			int32		d;

			item_ids[k] = new_ids[j];
			for (d = 0; d < out_dims; d++)
			{
				float		x = predicted[(Size) j * out_dims + d];

				/* Within what the model format accepts (and finite). */
				to[d] = isfinite(x) ? Max(Min(x, KP_MODEL_MAX_ABS_FACTOR), -KP_MODEL_MAX_ABS_FACTOR) : 0.0f;
			}
			if (m->algorithm == KP_ALGO_ALS)
				to[dims - 1] = 1.0f;
			j++;
		}
		if (k % 65536 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	seen_items = kpreco_alloc_huge(work, sizeof(int32) * (Size) Max(m->nnz, 1), "training courses");
	for (row = 0; row < m->nnz; row++)
	{
		seen_items[row] = old_to_new[m->seen_items[row]];
		if (row % (1 << 20) == 0)
			CHECK_FOR_INTERRUPTS();
	}

	options_json = content_options_json(m, state->regularization, n_new);
	fields = *m;
	fields.n_items = m->n_items + n_new;
	fields.options_json = options_json;
	fields.options_len = strlen(options_json);
	fields.item_ids = item_ids;
	fields.item_factors = item_vectors;
	fields.seen_items = seen_items;
	CHECK_FOR_INTERRUPTS();
	result = kpreco_model_build(&fields);
	MemoryContextDelete(work);
	PG_RETURN_POINTER(result);
}
