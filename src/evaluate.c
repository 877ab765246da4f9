/*
 * evaluate.c -- the aggregate kpreco.evaluate_agg(model, user_id,
 * course_id, value, k): ranking metrics of a model on held-out
 * interactions, by the protocol of kp_metrics.h (the benchmark's):
 *
 *   - a user unknown to the model is not evaluated (counted as cold);
 *   - relevant = the user's distinct held-out courses that are not among
 *     the user's training courses; courses unknown to the model stay in it;
 *   - a user without relevant courses is not evaluated;
 *   - the user's candidates are every course but the training ones, ranked
 *     exactly as kpreco.recommend ranks them (kpreco_top_for_user);
 *   - metrics are averaged over users; coverage is the share of the
 *     catalog found in any evaluated user's top k; diversity is the mean
 *     intra-list diversity, 1 − cosine of the course vectors averaged over
 *     the pairs of each list (kp_metrics.h).
 * With values (a rating model), RMSE and MAE of the predicted values over
 * the held-out pairs whose user and course the model knows.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "kp_metrics.h"
#include "kpreco.h"

PG_FUNCTION_INFO_V1(kpreco_evaluate_named_transfn);
PG_FUNCTION_INFO_V1(kpreco_evaluate_value_transfn);
PG_FUNCTION_INFO_V1(kpreco_evaluate_finalfn);

typedef struct TestRow
{
	int64		user_id;
	int64		course_id;
	float		value;			/* NaN when NULL */
} TestRow;

typedef struct EvalState
{
	text	   *model_name;		/* NULL: the default model */
	struct varlena *model_value;	/* or a model value */
	int32		k;
	TestRow    *rows;
	int64		n_rows;
	int64		capacity;
	int64		rows_null_id;
} EvalState;

static EvalState *
get_state(FunctionCallInfo fcinfo, MemoryContext *aggcontext)
{
	EvalState  *state;

	if (!AggCheckCallContext(fcinfo, aggcontext))
		elog(ERROR, "kpreco evaluate_agg called in non-aggregate context");
	if (!PG_ARGISNULL(0))
		return (EvalState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be NULL")));
	state = MemoryContextAllocZero(*aggcontext, sizeof(EvalState));
	state->k = PG_GETARG_INT32(5);
	if (state->k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, not %d", state->k)));
	state->capacity = 1024;
	state->rows = MemoryContextAlloc(*aggcontext, sizeof(TestRow) * state->capacity);
	return state;
}

static void
add_row(FunctionCallInfo fcinfo, EvalState *state)
{
	TestRow    *row;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		state->rows_null_id++;
		return;
	}
	CHECK_FOR_INTERRUPTS();
	if (state->n_rows == state->capacity)
	{
		if ((Size) state->capacity * 2 * sizeof(TestRow) > MaxAllocHugeSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many held-out interactions to evaluate on")));
		state->capacity *= 2;
		state->rows = repalloc_huge(state->rows, sizeof(TestRow) * state->capacity);
	}
	row = &state->rows[state->n_rows++];
	row->user_id = PG_GETARG_INT64(2);
	row->course_id = PG_GETARG_INT64(3);
	row->value = PG_ARGISNULL(4) ? NAN : PG_GETARG_FLOAT4(4);
}

/* evaluate_agg(model text, ...): the active version of a catalog model. */
Datum
kpreco_evaluate_named_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	EvalState  *state = get_state(fcinfo, &aggcontext);

	if (PG_ARGISNULL(0) && !PG_ARGISNULL(1))
	{
		text	   *name = PG_GETARG_TEXT_PP(1);

		state->model_name = (text *) MemoryContextAlloc(aggcontext, VARSIZE_ANY(name));
		memcpy(state->model_name, name, VARSIZE_ANY(name));
	}
	add_row(fcinfo, state);
	PG_RETURN_POINTER(state);
}

/* evaluate_agg(model kpreco.model, ...): a model value, read once. */
Datum
kpreco_evaluate_value_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	EvalState  *state = get_state(fcinfo, &aggcontext);

	if (state->model_value == NULL)
	{
		MemoryContext old;

		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("model must not be NULL")));
		old = MemoryContextSwitchTo(aggcontext);
		state->model_value = PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(1));
		MemoryContextSwitchTo(old);
	}
	add_row(fcinfo, state);
	PG_RETURN_POINTER(state);
}

static int
compare_rows(const void *a, const void *b)
{
	const TestRow *x = a;
	const TestRow *y = b;

	if (x->user_id != y->user_id)
		return x->user_id < y->user_id ? -1 : 1;
	if (x->course_id != y->course_id)
		return x->course_id < y->course_id ? -1 : 1;
	return 0;
}

/* Whether item is among the (ascending) training courses of a user. */
static bool
is_seen(const kp_model *m, int32 user, int32 item)
{
	int64		low = m->seen_indptr[user];
	int64		high = m->seen_indptr[user + 1] - 1;

	while (low <= high)
	{
		int64		middle = low + (high - low) / 2;

		if (m->seen_items[middle] == item)
			return true;
		if (m->seen_items[middle] < item)
			low = middle + 1;
		else
			high = middle - 1;
	}
	return false;
}

static void
append_number(StringInfo buf, const char *key, double value, bool defined)
{
	if (defined)
		appendStringInfo(buf, ", \"%s\": %.17g", key, value);
	else
		appendStringInfo(buf, ", \"%s\": null", key);
}

Datum
kpreco_evaluate_finalfn(PG_FUNCTION_ARGS)
{
	EvalState  *state = PG_ARGISNULL(0) ? NULL : (EvalState *) PG_GETARG_POINTER(0);
	KpServingModel *s;
	const kp_model *m;
	int64	   *relevant;
	int64	   *recommended;
	bool	   *covered;
	int32		k;
	int64		first;
	int64		users = 0;
	int64		cold_users = 0;
	int64		covered_count = 0;
	int64		rated_pairs = 0;
	double		sum_precision = 0;
	double		sum_recall = 0;
	double		sum_ndcg = 0;
	double		sum_ap = 0;
	double		sum_diversity = 0;
	double		sum_squared_error = 0;
	double		sum_absolute_error = 0;
	bool		has_values = false;
	StringInfoData buf;

	if (state == NULL || state->n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no held-out interactions to evaluate on"),
				 errhint("The test source returned no rows with both ids.")));
	s = state->model_value != NULL ? kpreco_serving_model_from_value(state->model_value)
		: kpreco_serving_model(state->model_name);
	m = &s->model;
	k = Min(state->k, m->n_items);

	qsort(state->rows, state->n_rows, sizeof(TestRow), compare_rows);
	relevant = palloc(sizeof(int64) * Max(state->n_rows, 1));
	recommended = palloc(sizeof(int64) * k);
	covered = palloc0(sizeof(bool) * m->n_items);

	for (first = 0; first < state->n_rows;)
	{
		int64		user_id = state->rows[first].user_id;
		int64		last = first;
		int32		user = kp_idmap_find(&s->users, user_id);
		int32		n_relevant = 0;
		int64		i;

		CHECK_FOR_INTERRUPTS();
		while (last < state->n_rows && state->rows[last].user_id == user_id)
			last++;
		if (user < 0)
		{
			cold_users++;
			first = last;
			continue;
		}
		for (i = first; i < last; i++)
		{
			const TestRow *row = &state->rows[i];
			int32		item = kp_idmap_find(&s->items, row->course_id);

			if (!isnan(row->value))
			{
				has_values = true;
				if (item >= 0)
				{
					double		error = (double) kpreco_pair_score(s, user, item) - row->value;

					sum_squared_error += error * error;
					sum_absolute_error += fabs(error);
					rated_pairs++;
				}
			}
			if (i > first && row->course_id == state->rows[i - 1].course_id)
				continue;
			if (item >= 0 && is_seen(m, user, item))
				continue;
			relevant[n_relevant++] = row->course_id;
		}
		if (n_relevant > 0)
		{
			int32		n = kpreco_top_for_user(s, user, k);
			kp_rank_metrics metrics;

			for (i = 0; i < n; i++)
			{
				recommended[i] = m->item_ids[s->top_index[i]];
				if (!covered[s->top_index[i]])
				{
					covered[s->top_index[i]] = true;
					covered_count++;
				}
			}
			kp_rank_metrics_user(recommended, n, state->k, relevant, n_relevant, &metrics);
			sum_diversity += kp_intra_list_diversity(m->item_factors, m->factors, s->top_index, n,
													  kpreco_check_interrupts, NULL);
			sum_precision += metrics.precision;
			sum_recall += metrics.recall;
			sum_ndcg += metrics.ndcg;
			sum_ap += metrics.average_precision;
			users++;
		}
		first = last;
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"users\": " INT64_FORMAT ", \"cold_users\": " INT64_FORMAT,
					 users, cold_users);
	append_number(&buf, "precision", sum_precision / users, users > 0);
	append_number(&buf, "recall", sum_recall / users, users > 0);
	append_number(&buf, "ndcg", sum_ndcg / users, users > 0);
	append_number(&buf, "map", sum_ap / users, users > 0);
	append_number(&buf, "coverage", (double) covered_count / m->n_items, users > 0);
	append_number(&buf, "diversity", sum_diversity / users, users > 0);
	if (has_values)
	{
		appendStringInfo(&buf, ", \"rated_pairs\": " INT64_FORMAT, rated_pairs);
		append_number(&buf, "rmse", sqrt(sum_squared_error / rated_pairs), rated_pairs > 0);
		append_number(&buf, "mae", sum_absolute_error / rated_pairs, rated_pairs > 0);
	}
	appendStringInfo(&buf, ", \"version\": " INT64_FORMAT ", \"model\": ", s->version);
	escape_json(&buf, state->model_value != NULL ? "(model value)" : s->name);
	appendStringInfoChar(&buf, '}');

	if (state->model_value != NULL)
		kpreco_serving_model_free(s);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
