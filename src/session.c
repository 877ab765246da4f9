/*
 * session.c -- users who are not (yet) in the model as they are now:
 *
 *   kpreco.recommend_for_courses(course_ids, weights, k, model): a user
 *   vector folded in from a few courses with one least-squares solve
 *   against the model's course vectors (kp_foldin.h), for anonymous
 *   sessions and users who registered a minute ago;
 *   kpreco.model_with_user(model, user_id, course_ids, weights): the same
 *   solve, written into a model value (kpreco.refresh_user stores it).
 *
 * ease needs no solve: its scores are the weighted sum of the rows of its
 * item-item weights over the courses.  popular ranks everyone alike.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "kp_ease.h"
#include "kp_foldin.h"
#include "kp_model_edit.h"
#include "kp_model_user.h"
#include "kp_topk.h"
#include "kpreco.h"

PG_FUNCTION_INFO_V1(kpreco_recommend_for_courses);
PG_FUNCTION_INFO_V1(kpreco_model_with_user);

/* Courses given with weights, as distinct ascending course indices. */
typedef struct GivenCourses
{
	int32	   *items;
	float	   *weights;
	int32		n;
} GivenCourses;

typedef struct IdWeight
{
	int32		item;
	float		weight;
} IdWeight;

static int
compare_items(const void *a, const void *b)
{
	int32		x = ((const IdWeight *) a)->item;
	int32		y = ((const IdWeight *) b)->item;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Reads course_ids[] and weights[] (NULL: 1 each).  NULL ids and ids the
 * model does not know are dropped, a NULL weight counts as 1, repeated
 * courses have their weights summed and courses of weight 0 are dropped,
 * as in training.
 */
static void
read_courses(ArrayType *ids, ArrayType *weights, const kp_idmap *items, GivenCourses *out)
{
	Datum	   *id_values;
	bool	   *id_nulls;
	int			n_ids;
	Datum	   *weight_values = NULL;
	bool	   *weight_nulls = NULL;
	int			n_weights = 0;
	IdWeight   *pairs;
	int32		n = 0;
	int			i;

	if (ARR_NDIM(ids) > 1 || (weights != NULL && ARR_NDIM(weights) > 1))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("course_ids and weights must have one dimension")));
	deconstruct_array(ids, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE, &id_values, &id_nulls, &n_ids);
	if (weights != NULL)
	{
		deconstruct_array(weights, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT,
						  &weight_values, &weight_nulls, &n_weights);
		if (n_weights != n_ids)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weights has %d elements and course_ids %d", n_weights, n_ids),
					 errhint("Give one weight per course, or NULL for weight 1 each.")));
	}
	pairs = palloc(sizeof(IdWeight) * Max(n_ids, 1));
	for (i = 0; i < n_ids; i++)
	{
		float		w = (weights == NULL || weight_nulls[i]) ? 1.0f : DatumGetFloat4(weight_values[i]);
		int32		item;

		if (!(w >= 0) || isinf(w))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weight %d is %g; weights must be finite and >= 0", i + 1, w)));
		if (id_nulls[i] || w == 0)
			continue;
		item = kp_idmap_find(items, DatumGetInt64(id_values[i]));
		if (item < 0)
			continue;
		pairs[n].item = item;
		pairs[n].weight = w;
		n++;
	}
	qsort(pairs, n, sizeof(IdWeight), compare_items);
	out->items = palloc(sizeof(int32) * Max(n, 1));
	out->weights = palloc(sizeof(float) * Max(n, 1));
	out->n = 0;
	for (i = 0; i < n; i++)
	{
		if (out->n > 0 && out->items[out->n - 1] == pairs[i].item)
		{
			out->weights[out->n - 1] = (float) Min((double) out->weights[out->n - 1] + pairs[i].weight, FLT_MAX);
			continue;
		}
		out->items[out->n] = pairs[i].item;
		out->weights[out->n] = pairs[i].weight;
		out->n++;
	}
	pfree(pairs);
}

/* alpha and regularization of a model, from its stored options. */
static void
model_foldin_params(const kp_model *m, float *alpha, float *regularization)
{
	kp_train_options options;

	/* the options were written by training and read back checked */
	if (kp_train_options_parse(m->options_json, m->options_len, &options, NULL, 0, NULL, 0) != KP_OK)
		kp_train_options_default(&options);
	*alpha = options.ials.alpha;
	*regularization = options.ials.regularization;
}

/*
 * x (m->factors floats): the folded-in vector of a user with these
 * courses.  gram (m->factors² floats) may be NULL: it is then formed here.
 */
static void
fold_in(const kp_model *m, const float *gram, const GivenCourses *given, float *x)
{
	float		alpha;
	float		regularization;
	void	   *workspace;
	float	   *own_gram = NULL;

	model_foldin_params(m, &alpha, &regularization);
	if (gram == NULL)
	{
		own_gram = palloc(sizeof(float) * (Size) m->factors * m->factors);
		kp_ials_gram(m->item_factors, m->n_items, m->factors, regularization, own_gram);
		gram = own_gram;
	}
	workspace = palloc(kp_foldin_workspace_bytes(m->factors));
	kpreco_report_status(kp_foldin(m->item_factors, m->n_items, m->factors, gram,
								   given->items, given->weights, given->n, alpha, regularization,
								   x, workspace, kpreco_check_interrupts, NULL),
						 "folding in the courses");
	pfree(workspace);
	if (own_gram != NULL)
		pfree(own_gram);
}

/*
 * recommend_for_courses(course_ids, weights, k, model): the k best courses
 * for someone who took these (with these weights), the given courses
 * excluded.  No known course (or none at all): the most popular courses,
 * with a NULL score, as for an unknown user.
 */
Datum
kpreco_recommend_for_courses(PG_FUNCTION_ARGS)
{
	KpResultSet result = kpreco_begin_result_set(fcinfo);
	KpServingModel *s;
	const kp_model *m;
	GivenCourses given;
	KpCourseFilter filter;
	int32		k;
	int32		n;
	int32		i;

	if (PG_ARGISNULL(2))
		return (Datum) 0;
	k = PG_GETARG_INT32(2);
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, not %d", k)));
	s = kpreco_serving_model(PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3));
	m = &s->model;
	k = Min(k, m->n_items);
	memset(&given, 0, sizeof(given));
	if (!PG_ARGISNULL(0))
		read_courses(PG_GETARG_ARRAYTYPE_P(0), PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1),
					 &s->items, &given);
	memset(&filter, 0, sizeof(filter));
	filter.exclude = given.items;
	filter.n_exclude = given.n;

	if (given.n == 0 || m->algorithm == KP_ALGO_POPULAR)
		n = kpreco_top_filtered(s, -1, k, &filter);
	else if (m->algorithm == KP_ALGO_EASE)
	{
		float	   *scores = kpreco_alloc_huge(CurrentMemoryContext, sizeof(float) * (Size) m->n_items, "scores");

		kp_ease_scores(m->item_factors, m->n_items, given.items, given.weights, given.n, scores);
		for (i = 0; i < given.n; i++)
			scores[given.items[i]] = -INFINITY;
		n = kp_topk(scores, m->n_items, k, s->top_index, s->top_score);
	}
	else
	{
		float	   *x = palloc(sizeof(float) * m->factors);

		if (s->gram == NULL)
		{
			float		alpha;
			float		regularization;
			float	   *gram = MemoryContextAlloc(s->context, sizeof(float) * (Size) m->factors * m->factors);
			double	   *inverse = MemoryContextAlloc(s->context, kp_foldin_inverse_workspace_bytes(m->factors));

			model_foldin_params(m, &alpha, &regularization);
			kp_ials_gram(m->item_factors, m->n_items, m->factors, regularization, gram);
			kpreco_report_status(kp_foldin_gram_inverse(gram, m->factors, inverse),
								 "inverting the Gram matrix of the course vectors");
			s->foldin_alpha = alpha;
			s->foldin_regularization = regularization;
			s->gram = gram;
			s->gram_inverse = inverse;
		}
		if (given.n <= KP_FOLDIN_LOWRANK_MAX)
		{
			void	   *workspace = palloc(kp_foldin_lowrank_workspace_bytes(m->factors, given.n));

			kpreco_report_status(kp_foldin_lowrank(m->item_factors, m->n_items, m->factors, s->gram,
												   s->gram_inverse, given.items, given.weights,
												   given.n, s->foldin_alpha, x, workspace),
								 "folding in the courses");
			pfree(workspace);
		}
		else
			fold_in(m, s->gram, &given, x);
		n = kp_score_topk(&s->items_q, m->item_factors, x, given.items, given.n, k,
						  &s->scratch, s->top_index, s->top_score);
	}
	for (i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, isnan(s->top_score[i]), false};

		values[0] = Int64GetDatum(m->item_ids[s->top_index[i]]);
		values[1] = Float4GetDatum(s->top_score[i]);
		values[2] = Int32GetDatum(i + 1);
		tuplestore_putvalues(result.store, result.desc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * model_with_user(model, user_id, course_ids, weights): the model with the
 * user's training courses set to these and the user's vector folded in
 * from them (ease and popular: only the courses).  No known course removes
 * the user.
 */
Datum
kpreco_model_with_user(PG_FUNCTION_ARGS)
{
	struct varlena *value;
	kp_model	m;
	kp_model	edited;
	kp_idmap	items;
	kp_allocator alloc;
	GivenCourses given;
	float	   *x = NULL;
	struct varlena *result;
	int64		user_id;
	int32		row;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	value = PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	user_id = PG_GETARG_INT64(1);
	kpreco_model_parse(value, &m);
	row = kp_model_find_user(&m, user_id);
	kpreco_allocator_init(&alloc, CurrentMemoryContext);
	if (kp_idmap_from_array(&items, &alloc, m.item_ids, m.n_items, kpreco_check_interrupts, NULL) != KP_OK)
		kpreco_report_status(KP_ENOMEM, "indexing the courses");
	memset(&given, 0, sizeof(given));
	if (!PG_ARGISNULL(2))
		read_courses(PG_GETARG_ARRAYTYPE_P(2), PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
					 &items, &given);
	if (m.algorithm != KP_ALGO_EASE)
	{
		x = palloc0(sizeof(float) * m.factors);
		if (m.algorithm == KP_ALGO_POPULAR)
			x[0] = 1.0f;
		else if (given.n > 0)
			fold_in(&m, NULL, &given, x);
	}
	kpreco_report_status(kp_model_put_user(&alloc, &m, user_id, x, given.items, given.n,
										   &edited, kpreco_check_interrupts, NULL),
						 "setting the user");
	if (row >= 0)
		kpreco_edit_neighbours(&m, &edited, given.n > 0 ? KP_NEIGHBOUR_REPLACE : KP_NEIGHBOUR_REMOVE, row);
	else if (given.n > 0)
		kpreco_edit_neighbours(&m, &edited, KP_NEIGHBOUR_INSERT, kp_model_find_user(&edited, user_id));
	result = kpreco_model_build(&edited);
	kp_model_user_free(&alloc, &edited);
	PG_RETURN_POINTER(result);
}
