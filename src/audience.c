/*
 * audience.c -- serving that ranks users: kpreco.audience (who should get
 * the coupon for this course), kpreco.similar_users, and segments of users
 * for campaigns, kpreco.segment_users and kpreco.segment_profile (k-means
 * on the user vectors, kp_kmeans.h).
 *
 * Ranking users is ranking rows of the user-vector matrix against a course
 * vector, so it uses the same exact pruned scan as recommend (kp_score.h)
 * over an int8 copy of the user vectors, built on first use per session.
 * ease keeps no user vectors: its audience is scored by summing the
 * course's column of B over each user's training courses.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "kp_kmeans.h"
#include "kp_topk.h"
#include "kpreco.h"

PG_FUNCTION_INFO_V1(kpreco_audience);
PG_FUNCTION_INFO_V1(kpreco_similar_users);
PG_FUNCTION_INFO_V1(kpreco_segment_users);
PG_FUNCTION_INFO_V1(kpreco_segment_profile);

#define KMEANS_MAX_ITERATIONS 100

static text *
model_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : PG_GETARG_TEXT_PP(argno);
}

static int32
k_arg(FunctionCallInfo fcinfo, int argno)
{
	int32		k = PG_GETARG_INT32(argno);

	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, not %d", k)));
	return k;
}

static void
require_user_vectors(KpServingModel *s, const char *what)
{
	if (s->model.algorithm == KP_ALGO_EASE || s->model.algorithm == KP_ALGO_POPULAR)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kpreco model \"%s\" (%s) has no user vectors for %s",
						s->name, kp_algorithm_name(s->model.algorithm), what),
				 errhint("Train a factor model (ials, bpr or als) for %s.", what)));
}

static void
put_user_row(KpResultSet *result, int64 id, float score, int32 rank)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = Int64GetDatum(id);
	values[1] = Float4GetDatum(score);
	values[2] = Int32GetDatum(rank);
	tuplestore_putvalues(result->store, result->desc, values, nulls);
}

/* The training users of every course (the transpose of the seen lists). */
static void
build_course_users(KpServingModel *s)
{
	const kp_model *m = &s->model;
	int64	   *next;
	int64	   *indptr;
	int32	   *users;
	int32		u;
	int32		i;

	if (s->course_users != NULL)
		return;
	/* published only once complete: a cancel half-way must not leave a partial list */
	indptr = MemoryContextAllocZero(s->context, sizeof(int64) * ((Size) m->n_items + 1));
	users = kpreco_alloc_huge(s->context, sizeof(int32) * (Size) Max(m->nnz, 1), "course users");
	for (u = 0; u < m->n_users; u++)
	{
		int64		k;

		for (k = m->seen_indptr[u]; k < m->seen_indptr[u + 1]; k++)
			indptr[m->seen_items[k] + 1]++;
	}
	for (i = 0; i < m->n_items; i++)
		indptr[i + 1] += indptr[i];
	next = palloc(sizeof(int64) * Max(m->n_items, 1));
	memcpy(next, indptr, sizeof(int64) * m->n_items);
	for (u = 0; u < m->n_users; u++)
	{
		int64		k;

		CHECK_FOR_INTERRUPTS();
		for (k = m->seen_indptr[u]; k < m->seen_indptr[u + 1]; k++)
			users[next[m->seen_items[k]]++] = u;
	}
	pfree(next);
	s->course_users_indptr = indptr;
	s->course_users = users;
}

/*
 * The int8 copy of the user vectors, laid out for pruning along the
 * principal direction of the course vectors, which audience's queries
 * share (kp_score.h); without one (all course vectors zero), by length only.
 */
static void
prepare_user_scan(KpServingModel *s)
{
	const kp_model *m = &s->model;
	kp_allocator alloc;
	float	   *direction;
	kp_status	status;

	if (s->users_q_built)
		return;
	kpreco_allocator_init(&alloc, s->context);
	direction = palloc(sizeof(float) * m->factors);
	if (kp_principal_direction(&alloc, m->item_factors, m->n_items, m->factors, direction,
							   kpreco_check_interrupts, NULL) == KP_OK)
		status = kp_qmatrix_build_along(&alloc, m->user_factors, m->n_users, m->factors, direction,
										&s->users_q, kpreco_check_interrupts, NULL);
	else
		status = kp_qmatrix_build(&alloc, m->user_factors, m->n_users, m->factors,
								  &s->users_q, kpreco_check_interrupts, NULL);
	pfree(direction);
	if (status != KP_OK ||
		(s->user_scratch.lower == NULL &&
		 kp_score_scratch_init(&alloc, s->model.n_users, s->model.factors, &s->user_scratch) != KP_OK))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory preparing the users of kpreco model \"%s\"", s->name)));
	s->user_scratch.interrupt = kpreco_check_interrupts;
	s->users_q_built = true;
}

/*
 * audience(course_id, k, model): the k users with the highest score for a
 * course among those who did not take it in training.  No rows for a
 * course the model does not know.
 */
Datum
kpreco_audience(PG_FUNCTION_ARGS)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	KpServingModel *s;
	const kp_model *m;
	int32		item;
	int32		k;
	int32	   *index;
	float	   *score;
	int32		n;
	int32		i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	k = k_arg(fcinfo, 1);
	s = kpreco_serving_model(model_arg(fcinfo, 2));
	m = &s->model;
	if (m->algorithm == KP_ALGO_POPULAR)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kpreco model \"%s\" (popular) scores every user alike", s->name),
				 errhint("Train a personal model (ials, bpr, als or ease) to rank users for a course.")));
	item = kp_idmap_find(&s->items, PG_GETARG_INT64(0));
	if (item < 0 || m->n_users == 0)
		return (Datum) 0;
	k = Min(k, m->n_users);
	build_course_users(s);
	index = palloc(sizeof(int32) * k);
	score = palloc(sizeof(float) * k);

	if (m->algorithm == KP_ALGO_EASE)
	{
		float	   *scores = kpreco_alloc_huge(CurrentMemoryContext, sizeof(float) * (Size) m->n_users, "scores");
		int32		u;
		int64		j;

		for (u = 0; u < m->n_users; u++)
		{
			if (u % 4096 == 0)
				CHECK_FOR_INTERRUPTS();
			scores[u] = kpreco_pair_score(s, u, item);
		}
		for (j = s->course_users_indptr[item]; j < s->course_users_indptr[item + 1]; j++)
			scores[s->course_users[j]] = -INFINITY;
		n = kp_topk_interruptible(scores, m->n_users, k, index, score,
								  kpreco_check_interrupts, NULL);
	}
	else
	{
		int64		first = s->course_users_indptr[item];

		prepare_user_scan(s);
		n = kp_score_topk(&s->users_q, m->user_factors, m->item_factors + (Size) item * m->factors,
						  s->course_users + first, s->course_users_indptr[item + 1] - first,
						  k, &s->user_scratch, index, score);
	}
	for (i = 0; i < n; i++)
		put_user_row(&result, m->user_ids[index[i]], score[i], i + 1);
	return (Datum) 0;
}

/* Unit-length user vectors and their int8 copy, on first use. */
static void
prepare_user_similarity(KpServingModel *s)
{
	const kp_model *m = &s->model;
	int32		f = m->factors;
	kp_allocator alloc;
	float	   *unit_vectors;

	if (s->user_unit != NULL)
		return;
	/* s->user_unit is set last: a cancel half-way leaves nothing half-built */
	unit_vectors = kpreco_alloc_huge(s->context, sizeof(float) * (Size) Max(m->n_users, 1) * f, "user vectors");
	kpreco_unit_rows(m->user_factors, m->n_users, f, unit_vectors);
	kpreco_allocator_init(&alloc, s->context);
	if (kp_qmatrix_build(&alloc, unit_vectors, m->n_users, f, &s->user_unit_q,
						 kpreco_check_interrupts, NULL) != KP_OK ||
		(s->user_scratch.lower == NULL &&
		 kp_score_scratch_init(&alloc, m->n_users, f, &s->user_scratch) != KP_OK))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory preparing the users of kpreco model \"%s\"", s->name)));
	s->user_scratch.interrupt = kpreco_check_interrupts;
	s->user_unit = unit_vectors;
}

/*
 * The k most similar users from the user's stored neighbour list, scored as
 * the scan scores them; -1 when the list holds fewer than k users.  Only
 * the user's and the list's vectors are made unit-length, into rows
 * numbered in the list's (ascending) order, so that ties still go to the
 * lower row.
 */
static int32
similar_from_list(const kp_model *m, int32 user, int32 k, int32 *index, float *score)
{
	int32		per_user = m->neighbours_per_user;
	int32		f = m->factors;
	const int32 *list = m->neighbours + (Size) user * per_user;
	int32		local[KP_MODEL_MAX_NEIGHBOURS];
	float	   *unit;
	int32		n = kp_neighbours_size(list, per_user);
	int32		got;
	int32		j;

	if (n < k)
		return -1;
	unit = palloc(sizeof(float) * (Size) (n + 1) * f);
	for (j = 0; j < per_user; j++)
	{
		local[j] = j < n ? j : -1;
		if (j < n)
			kp_unit_rows(m->user_factors + (Size) list[j] * f, 1, f, unit + (Size) j * f);
	}
	kp_unit_rows(m->user_factors + (Size) user * f, 1, f, unit + (Size) n * f);
	got = kp_neighbours_topk(unit, f, local, per_user, n, k, index, score);
	for (j = 0; j < got; j++)
		index[j] = list[index[j]];
	pfree(unit);
	return got;
}

/*
 * similar_users(user_id, k, model): the k users whose vectors have the
 * highest cosine similarity with the user's, the user excluded.  No rows
 * for a user the model does not know.  From the user's stored list when the
 * model keeps at least k (option similar_users), else by scanning every
 * user.
 */
Datum
kpreco_similar_users(PG_FUNCTION_ARGS)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	KpServingModel *s;
	const kp_model *m;
	int32		user;
	int32		k;
	int32	   *index;
	float	   *score;
	int32		n;
	int32		i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	k = k_arg(fcinfo, 1);
	s = kpreco_serving_model(model_arg(fcinfo, 2));
	m = &s->model;
	require_user_vectors(s, "similar_users");
	user = kp_idmap_find(&s->users, PG_GETARG_INT64(0));
	if (user < 0)
		return (Datum) 0;
	k = Min(k, m->n_users - 1);
	if (k < 1)
		return (Datum) 0;
	index = palloc(sizeof(int32) * k);
	score = palloc(sizeof(float) * k);
	n = k <= m->neighbours_per_user ? similar_from_list(m, user, k, index, score) : -1;
	if (n < 0)
	{
		prepare_user_similarity(s);
		n = kp_score_topk(&s->user_unit_q, s->user_unit, s->user_unit + (Size) user * m->factors,
						  &user, 1, k, &s->user_scratch, index, score);
	}
	for (i = 0; i < n; i++)
		put_user_row(&result, m->user_ids[index[i]], score[i], i + 1);
	return (Datum) 0;
}

/* k-means++ and Lloyd on the user vectors; deterministic for a seed. */
static void
segment(KpServingModel *s, int32 n_segments, int64 seed, int32 *assignments,
		float *distances, float *centroids)
{
	const kp_model *m = &s->model;
	kp_allocator alloc;
	kp_kmeans_info info;
	Size		needed = kp_kmeans_bytes(m->n_users, m->factors, n_segments);

	if (needed == SIZE_MAX || needed > MaxAllocHugeSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("segmenting %d users into %d segments needs too much memory",
						m->n_users, n_segments)));
	kpreco_allocator_init(&alloc, CurrentMemoryContext);
	kpreco_report_status(kp_kmeans(&alloc, m->user_factors, m->n_users, m->factors, n_segments,
								   KMEANS_MAX_ITERATIONS, (uint64) seed, assignments, distances,
								   centroids, &info, kpreco_check_interrupts, NULL),
						 "segmenting users");
}

static KpServingModel *
segment_model(FunctionCallInfo fcinfo, int32 *n_segments, int64 *seed)
{
	KpServingModel *s;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("n_segments must not be NULL")));
	*n_segments = PG_GETARG_INT32(0);
	*seed = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	s = kpreco_serving_model(model_arg(fcinfo, 1));
	require_user_vectors(s, "segments");
	/* checked before anything is allocated for the segments */
	if (*n_segments < 1 || *n_segments > s->model.n_users)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_segments must be between 1 and the number of users (%d), not %d",
						s->model.n_users, *n_segments)));
	if (*seed < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seed must be at least 0")));
	return s;
}

/*
 * segment_users(n_segments, model, seed): every user's segment (1-based)
 * and distance to the segment's centre.
 */
Datum
kpreco_segment_users(PG_FUNCTION_ARGS)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	int32		n_segments;
	int64		seed;
	KpServingModel *s = segment_model(fcinfo, &n_segments, &seed);
	const kp_model *m = &s->model;
	int32	   *assignments = kpreco_alloc_huge(CurrentMemoryContext, sizeof(int32) * (Size) Max(m->n_users, 1), "segments");
	float	   *distances = kpreco_alloc_huge(CurrentMemoryContext, sizeof(float) * (Size) Max(m->n_users, 1), "segments");
	float	   *centroids = palloc(sizeof(float) * (Size) Max(n_segments, 1) * m->factors);
	int32		u;

	segment(s, n_segments, seed, assignments, distances, centroids);
	for (u = 0; u < m->n_users; u++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum(m->user_ids[u]);
		values[1] = Int32GetDatum(assignments[u] + 1);
		values[2] = Float4GetDatum(distances[u]);
		tuplestore_putvalues(result.store, result.desc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * segment_profile(n_segments, model, seed, k): per segment (as
 * segment_users numbers them), its size and the k courses that set it
 * apart: highest (centre − mean of all users) · course vector, i.e. what
 * its members are recommended more than the average user.
 */
Datum
kpreco_segment_profile(PG_FUNCTION_ARGS)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	int32		n_segments;
	int64		seed;
	KpServingModel *s = segment_model(fcinfo, &n_segments, &seed);
	const kp_model *m = &s->model;
	int32		f = m->factors;
	int32		k = PG_ARGISNULL(3) ? 5 : k_arg(fcinfo, 3);
	int32	   *assignments = kpreco_alloc_huge(CurrentMemoryContext, sizeof(int32) * (Size) Max(m->n_users, 1), "segments");
	float	   *distances = kpreco_alloc_huge(CurrentMemoryContext, sizeof(float) * (Size) Max(m->n_users, 1), "segments");
	float	   *centroids = palloc(sizeof(float) * (Size) Max(n_segments, 1) * f);
	int32	   *sizes = palloc0(sizeof(int32) * Max(n_segments, 1));
	double	   *mean = palloc0(sizeof(double) * f);
	float	   *contrast = palloc(sizeof(float) * f);
	float	   *scores = kpreco_alloc_huge(CurrentMemoryContext, sizeof(float) * (Size) m->n_items, "scores");
	int32	   *index = palloc(sizeof(int32) * Min(k, m->n_items));
	float	   *top = palloc(sizeof(float) * Min(k, m->n_items));
	int32		u;
	int32		c;
	int32		d;

	segment(s, n_segments, seed, assignments, distances, centroids);
	for (u = 0; u < m->n_users; u++)
	{
		sizes[assignments[u]]++;
		for (d = 0; d < f; d++)
			mean[d] += m->user_factors[(Size) u * f + d];
	}
	for (d = 0; d < f; d++)
		mean[d] /= m->n_users;
	for (c = 0; c < n_segments; c++)
	{
		int32		i;
		int32		n;

		CHECK_FOR_INTERRUPTS();
		for (d = 0; d < f; d++)
			contrast[d] = (float) (centroids[(Size) c * f + d] - mean[d]);
		for (i = 0; i < m->n_items; i++)
			scores[i] = kp_dot(contrast, m->item_factors + (Size) i * f, f);
		n = kp_topk(scores, m->n_items, Min(k, m->n_items), index, top);
		for (i = 0; i < n; i++)
		{
			Datum		values[5];
			bool		nulls[5] = {false, false, false, false, false};

			values[0] = Int32GetDatum(c + 1);
			values[1] = Int32GetDatum(sizes[c]);
			values[2] = Int64GetDatum(m->item_ids[index[i]]);
			values[3] = Float4GetDatum(top[i]);
			values[4] = Int32GetDatum(i + 1);
			tuplestore_putvalues(result.store, result.desc, values, nulls);
		}
	}
	return (Datum) 0;
}
