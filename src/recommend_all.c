/*
 * recommend_all.c -- kpreco.recommend_all(k, model, user_ids): the top k of
 * many users at once, for report tables and e-mail campaigns.
 *
 * Factor models score blocks of users against blocks of courses with one
 * sgemm each and keep a bounded heap per user (kp_batch.h), a chunk of
 * users at a time, so neither the score matrix nor all results are ever
 * held in memory: rows go to the tuplestore, which spills to disk beyond
 * work_mem.  The rows are exactly kpreco.recommend's.  ease and popular go
 * user by user through the same code as recommend.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "kp_batch.h"
#include "kpreco.h"

PG_FUNCTION_INFO_V1(kpreco_recommend_all);

/* Users scored per kp_batch_topk call. */
#define USERS_PER_CHUNK 4096

static void
put_row(KpResultSet *result, int64 user_id, int64 course_id, float score, int32 rank)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, isnan(score), false};

	values[0] = Int64GetDatum(user_id);
	values[1] = Int64GetDatum(course_id);
	values[2] = Float4GetDatum(score);
	values[3] = Int32GetDatum(rank);
	tuplestore_putvalues(result->store, result->desc, values, nulls);
}

/* One user through recommend's own path (-1: unknown, the popular courses). */
static void
put_one(KpResultSet *result, KpServingModel *s, int64 user_id, int32 user, int32 k)
{
	KpCourseFilter filter;
	int32		n;
	int32		i;

	memset(&filter, 0, sizeof(filter));
	filter.exclude_seen = true;
	n = user >= 0 ? kpreco_top_for_user(s, user, k) : kpreco_top_filtered(s, -1, k, &filter);
	for (i = 0; i < n; i++)
		put_row(result, user_id, s->model.item_ids[s->top_index[i]], s->top_score[i], i + 1);
}

Datum
kpreco_recommend_all(PG_FUNCTION_ARGS)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	KpServingModel *s;
	const kp_model *m;
	int32		k;
	int64	   *user_ids;		/* the users asked for, in order */
	int32	   *rows;			/* their rows, -1 when unknown */
	int32		n_users = 0;
	int32		first;
	bool		batch;

	if (PG_ARGISNULL(0))
		return (Datum) 0;
	k = PG_GETARG_INT32(0);
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, not %d", k)));
	s = kpreco_serving_model(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	m = &s->model;
	k = Min(k, m->n_items);

	if (PG_ARGISNULL(2))
	{
		int32		u;

		n_users = m->n_users;
		user_ids = (int64 *) m->user_ids;
		rows = kpreco_alloc_huge(CurrentMemoryContext, sizeof(int32) * (Size) Max(n_users, 1), "users");
		for (u = 0; u < n_users; u++)
			rows[u] = u;
	}
	else
	{
		ArrayType  *array = PG_GETARG_ARRAYTYPE_P(2);
		Datum	   *elements;
		bool	   *nulls;
		int			n;
		int			i;

		if (ARR_NDIM(array) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("user_ids must have one dimension")));
		deconstruct_array(array, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE, &elements, &nulls, &n);
		user_ids = palloc(sizeof(int64) * Max(n, 1));
		rows = palloc(sizeof(int32) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			if (nulls[i])
				continue;
			user_ids[n_users] = DatumGetInt64(elements[i]);
			rows[n_users] = kp_idmap_find(&s->users, user_ids[n_users]);
			n_users++;
		}
	}

	batch = m->algorithm != KP_ALGO_EASE && m->algorithm != KP_ALGO_POPULAR;
	for (first = 0; first < n_users; first += USERS_PER_CHUNK)
	{
		int32		chunk = Min(USERS_PER_CHUNK, n_users - first);
		int32		i;

		CHECK_FOR_INTERRUPTS();
		if (!batch)
		{
			for (i = 0; i < chunk; i++)
			{
				if (i % 256 == 0)
					CHECK_FOR_INTERRUPTS();
				put_one(&result, s, user_ids[first + i], rows[first + i], k);
			}
			continue;
		}
		{
			/* known users of the chunk through sgemm, unknown ones as recommend does */
			int32	   *known = palloc(sizeof(int32) * chunk);
			int32	   *position = palloc(sizeof(int32) * chunk);
			int32		n_known = 0;
			int32	   *index;
			float	   *score;
			int32	   *count;
			kp_allocator alloc;

			for (i = 0; i < chunk; i++)
			{
				position[i] = -1;
				if (rows[first + i] >= 0)
				{
					position[i] = n_known;
					known[n_known++] = rows[first + i];
				}
			}
			index = kpreco_alloc_huge(CurrentMemoryContext, sizeof(int32) * (Size) Max(n_known, 1) * k, "results");
			score = kpreco_alloc_huge(CurrentMemoryContext, sizeof(float) * (Size) Max(n_known, 1) * k, "results");
			count = palloc(sizeof(int32) * Max(n_known, 1));
			kpreco_allocator_init(&alloc, CurrentMemoryContext);
			if (n_known > 0)
				kpreco_report_status(kp_batch_topk(&alloc, m->user_factors, m->n_users, known, n_known,
												   m->item_factors, m->n_items, m->factors,
												   m->seen_indptr, m->seen_items, k,
												   index, score, count, kpreco_check_interrupts, NULL),
									 "scoring users");
			for (i = 0; i < chunk; i++)
			{
				int32		p = position[i];
				int32		r;

				CHECK_FOR_INTERRUPTS();
				if (p < 0)
				{
					put_one(&result, s, user_ids[first + i], -1, k);
					continue;
				}
				for (r = 0; r < count[p]; r++)
					put_row(&result, user_ids[first + i], m->item_ids[index[(Size) p * k + r]],
							score[(Size) p * k + r], r + 1);
			}
			pfree(known);
			pfree(position);
			pfree(index);
			pfree(score);
			pfree(count);
		}
	}
	return (Datum) 0;
}
