/*
 * serve.c -- SQL functions that answer from a trained model:
 * recommend, similar_courses, predict, user_factors, course_factors.
 *
 * The k best courses come from kp_score_topk: an int8 pass over the
 * catalog bounds every score, and only the rows that can still make the
 * top k are scored exactly, so the result equals a full float scan without
 * reading the float factors of the whole catalog.  Set-returning functions
 * materialise their (at most k) rows into a tuplestore.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "kp_topk.h"
#include "kpreco.h"

PG_FUNCTION_INFO_V1(kpreco_recommend);
PG_FUNCTION_INFO_V1(kpreco_similar_courses);
PG_FUNCTION_INFO_V1(kpreco_predict);
PG_FUNCTION_INFO_V1(kpreco_user_factors);
PG_FUNCTION_INFO_V1(kpreco_course_factors);

/* Sets up materialised output (what InitMaterializedSRF does in 15+). */
KpResultSet
kpreco_begin_result_set(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	KpResultSet result;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (rsinfo->expectedDesc != NULL)
		result.desc = CreateTupleDescCopy(rsinfo->expectedDesc);
	else if (get_call_result_type(fcinfo, NULL, &result.desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "kpreco: return type must be a row type");
	result.store = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
										 false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = result.store;
	rsinfo->setDesc = result.desc;
	MemoryContextSwitchTo(old);
	return result;
}

static text *
model_name_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : PG_GETARG_TEXT_PP(argno);
}

/* k as asked, capped at what can be returned; NULL when k is NULL. */
static bool
get_k(FunctionCallInfo fcinfo, int argno, int32 *k)
{
	if (PG_ARGISNULL(argno))
		return false;
	*k = PG_GETARG_INT32(argno);
	if (*k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, not %d", *k)));
	return true;
}

static void
put_ranked_row(KpResultSet *result, int64 id, float score, bool score_null, int32 rank)
{
	Datum		values[3];
	bool		nulls[3] = {false, score_null, false};

	values[0] = Int64GetDatum(id);
	values[1] = Float4GetDatum(score);
	values[2] = Int32GetDatum(rank);
	tuplestore_putvalues(result->store, result->desc, values, nulls);
}

static void
put_top(KpResultSet *result, KpServingModel *s, const kp_qmatrix *Q, const float *F,
		const float *x, const int32 *excluded, int64 n_excluded, int32 k)
{
	int32		n = kp_score_topk(Q, F, x, excluded, n_excluded, k, &s->scratch,
								  s->top_index, s->top_score);
	int32		i;

	for (i = 0; i < n; i++)
		put_ranked_row(result, s->model.item_ids[s->top_index[i]], s->top_score[i], false, i + 1);
}

/*
 * Course indices of the known ids of a bigint[] argument, in the array's
 * order and with its repeats (NULLs and ids the model does not know are
 * dropped).
 */
static int32 *
course_indices(FunctionCallInfo fcinfo, int argno, KpServingModel *s, int32 *count)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(argno);
	const int64 *ids = NULL;
	Datum	   *elements = NULL;
	bool	   *nulls = NULL;
	int			n;
	int32	   *indices;
	int			i;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("course id arrays must have one dimension")));
	n = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	indices = palloc(sizeof(int32) * Max(n, 1));
	/* without NULLs, the ids are read in place */
	if (ARR_HASNULL(array))
		deconstruct_array(array, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE, &elements, &nulls, &n);
	else
		ids = (const int64 *) ARR_DATA_PTR(array);
	*count = 0;
	for (i = 0; i < n; i++)
	{
		int32		item;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (ids == NULL && nulls[i])
			continue;
		item = kp_idmap_find(&s->items, ids != NULL ? ids[i] : DatumGetInt64(elements[i]));
		if (item >= 0)
			indices[(*count)++] = item;
	}
	return indices;
}

/* The filter of arguments candidates and exclude (NULL: none). */
static void
get_filter(FunctionCallInfo fcinfo, int candidates_arg, int exclude_arg, KpServingModel *s,
		   KpCourseFilter *filter)
{
	memset(filter, 0, sizeof(*filter));
	filter->exclude_seen = true;
	/* a database not yet updated to 0.3.0 calls with fewer arguments */
	if (PG_NARGS() <= exclude_arg)
		return;
	if (!PG_ARGISNULL(candidates_arg))
	{
		filter->has_candidates = true;
		filter->candidates = course_indices(fcinfo, candidates_arg, s, &filter->n_candidates);
	}
	if (!PG_ARGISNULL(exclude_arg))
		filter->exclude = course_indices(fcinfo, exclude_arg, s, &filter->n_exclude);
}

static void
put_top_rows(KpResultSet *result, KpServingModel *s, int32 n)
{
	int32		i;

	for (i = 0; i < n; i++)
		put_ranked_row(result, s->model.item_ids[s->top_index[i]], s->top_score[i],
					   isnan(s->top_score[i]), i + 1);
}

/*
 * recommend(user_id, k, model, candidates, exclude, exclude_seen, diversity):
 * the k best eligible courses for a user: only candidates when given, never
 * those of exclude, and not the user's training courses unless exclude_seen
 * is false.  Filtering comes before the selection, so k rows come back
 * whenever k courses are eligible.  A user unknown to the model gets the
 * most popular eligible courses with a NULL score.
 */
Datum
kpreco_recommend(PG_FUNCTION_ARGS)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	KpServingModel *s;
	KpCourseFilter filter;
	int32		k;
	int32		user;
	float		diversity = 0;

	if (PG_ARGISNULL(0) || !get_k(fcinfo, 1, &k))
		return (Datum) 0;
	if (PG_NARGS() > 5 && PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("exclude_seen must not be NULL")));
	if (PG_NARGS() > 6)
	{
		diversity = PG_ARGISNULL(6) ? NAN : PG_GETARG_FLOAT4(6);
		if (!(diversity >= 0 && diversity <= 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("diversity must be between 0 and 1"),
					 errhint("0 ranks by relevance alone, 1 spreads the list as far as it goes.")));
	}
	s = kpreco_serving_model(model_name_arg(fcinfo, 2));
	k = Min(k, s->model.n_items);
	user = kp_idmap_find(&s->users, PG_GETARG_INT64(0));
	get_filter(fcinfo, 3, 4, s, &filter);
	if (PG_NARGS() > 5)
		filter.exclude_seen = PG_GETARG_BOOL(5);

	if (user >= 0 && !filter.has_candidates && filter.n_exclude == 0 && filter.exclude_seen &&
		diversity == 0)
		put_top_rows(&result, s, kpreco_top_for_user(s, user, k));
	else if (diversity > 0)
		put_top_rows(&result, s, kpreco_diverse_top(s, user, k, &filter, diversity));
	else
		put_top_rows(&result, s, kpreco_top_filtered(s, user, k, &filter));
	return (Datum) 0;
}

/*
 * similar_courses(course_id, k, model, candidates, exclude): the k courses
 * with the highest cosine similarity of factors, the course itself
 * excluded, filtered like recommend.  An ease model ranks by its item-item
 * weights B[course, ·] (what it predicts for someone who took only this
 * course); a popular model lists the most popular other courses, with a
 * NULL similarity.  No rows for a course the model does not know.  Up to
 * KPRECO_NEIGHBOURS come from the session's neighbour cache.
 */
Datum
kpreco_similar_courses(PG_FUNCTION_ARGS)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	KpServingModel *s;
	const kp_model *m;
	const KpNeighbours *neighbours;
	KpCourseFilter filter;
	int32		k;
	int32		item;
	int32		i;

	if (PG_ARGISNULL(0) || !get_k(fcinfo, 1, &k))
		return (Datum) 0;
	s = kpreco_serving_model(model_name_arg(fcinfo, 2));
	m = &s->model;
	item = kp_idmap_find(&s->items, PG_GETARG_INT64(0));
	if (item < 0)
		return (Datum) 0;
	k = Min(k, m->n_items - 1);
	get_filter(fcinfo, 3, 4, s, &filter);

	if (filter.has_candidates || filter.n_exclude > 0 || m->algorithm == KP_ALGO_EASE ||
		m->algorithm == KP_ALGO_POPULAR)
	{
		put_top_rows(&result, s, kpreco_similar_filtered(s, item, k, &filter));
		return (Datum) 0;
	}
	neighbours = kpreco_course_neighbours(s, item);
	if (k > KPRECO_NEIGHBOURS && neighbours->count == KPRECO_NEIGHBOURS)
	{
		put_top(&result, s, &s->item_unit_q, s->item_unit,
				s->item_unit + (Size) item * m->factors, &item, 1, k);
		return (Datum) 0;
	}
	for (i = 0; i < Min(k, neighbours->count); i++)
		put_ranked_row(&result, m->item_ids[neighbours->index[i]], neighbours->similarity[i],
					   false, i + 1);
	return (Datum) 0;
}

/* predict(user_id, course_id, model): the score, NULL if either is unknown. */
Datum
kpreco_predict(PG_FUNCTION_ARGS)
{
	KpServingModel *s;
	int32		user;
	int32		item;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	s = kpreco_serving_model(model_name_arg(fcinfo, 2));
	user = kp_idmap_find(&s->users, PG_GETARG_INT64(0));
	item = kp_idmap_find(&s->items, PG_GETARG_INT64(1));
	if (user < 0 || item < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT4(kpreco_pair_score(s, user, item));
}

static void
put_factor_rows(FunctionCallInfo fcinfo, const int64 *ids, const float *factors,
				int32 n_rows, int32 n_factors)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	Datum	   *elements = palloc(sizeof(Datum) * n_factors);
	int32		row;

	for (row = 0; row < n_rows; row++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		ArrayType  *array;
		int32		d;

		CHECK_FOR_INTERRUPTS();
		for (d = 0; d < n_factors; d++)
			elements[d] = Float4GetDatum(factors[(Size) row * n_factors + d]);
		array = construct_array(elements, n_factors, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT);
		values[0] = Int64GetDatum(ids[row]);
		values[1] = PointerGetDatum(array);
		tuplestore_putvalues(result.store, result.desc, values, nulls);
		pfree(array);
	}
}

Datum
kpreco_user_factors(PG_FUNCTION_ARGS)
{
	KpServingModel *s = kpreco_serving_model(model_name_arg(fcinfo, 0));

	if (s->model.algorithm == KP_ALGO_EASE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kpreco model \"%s\" (ease) has no user factors", s->name),
				 errdetail("An ease model scores a user by the courses the user took, through its course-to-course weights."),
				 errhint("kpreco.course_factors() returns those weights.")));
	put_factor_rows(fcinfo, s->model.user_ids, s->model.user_factors,
					s->model.n_users, s->model.factors);
	return (Datum) 0;
}

Datum
kpreco_course_factors(PG_FUNCTION_ARGS)
{
	KpServingModel *s = kpreco_serving_model(model_name_arg(fcinfo, 0));

	put_factor_rows(fcinfo, s->model.item_ids, s->model.item_factors,
					s->model.n_items, s->model.factors);
	return (Datum) 0;
}
