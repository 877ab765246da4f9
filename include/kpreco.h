/*
 * kpreco.h -- declarations shared by the PostgreSQL glue of kpreco.
 */
#ifndef KPRECO_H
#define KPRECO_H

#include "postgres.h"

#include "fmgr.h"
#include "access/tupdesc.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "kp_core.h"
#include "kp_ials.h"
#include "kp_idmap.h"
#include "kp_model.h"
#include "kp_neighbours.h"
#include "kp_options.h"
#include "kp_score.h"

#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

#define KPRECO_SCHEMA "kpreco"
#define KPRECO_MAX_MODEL_NAME 200	/* bytes */

/* Settings (kpreco.c). */
extern char *kpreco_default_model;
extern int	kpreco_blas_threads;
extern int	kpreco_max_training_memory_kb;

/* pg_alloc.c: the core's allocator and interrupt hook over PostgreSQL. */
extern void kpreco_allocator_init(kp_allocator *alloc, MemoryContext context);
extern int	kpreco_check_interrupts(void *arg);
extern void kpreco_apply_blas_threads(void);
extern void kpreco_report_status(kp_status status, const char *what);
extern void *kpreco_alloc_huge(MemoryContext context, Size size, const char *what);

/*
 * options.c: training options given as jsonb, parsed by the core
 * (kp_options.h): ials, keep_versions, verbose and the column names.
 */
typedef kp_train_options KpTrainOptions;

extern void kpreco_parse_options(Jsonb *options, KpTrainOptions *out);
extern char *kpreco_options_json(const KpTrainOptions *options);

/* model_type.c */
extern struct varlena *kpreco_model_build(const kp_model *fields);
extern void kpreco_model_parse(struct varlena *value, kp_model *out);
extern void kpreco_edit_neighbours(const kp_model *before, kp_model *after,
								   kp_neighbour_edit edit, int32 row);

/* serve.c: materialised output of set-returning functions. */
typedef struct KpResultSet
{
	Tuplestorestate *store;
	TupleDesc	desc;
} KpResultSet;

extern KpResultSet kpreco_begin_result_set(FunctionCallInfo fcinfo);

/* model_cache.c: ready-to-score models of this backend. */

/*
 * A course's nearest courses by cosine, best first, kept per session: a
 * course page asks for the same list again and again, and the list only
 * changes with the model.  Up to KPRECO_NEIGHBOURS are kept per course,
 * for at most KPRECO_NEIGHBOUR_CACHE_BYTES per model.
 */
#define KPRECO_NEIGHBOURS 50
#define KPRECO_NEIGHBOUR_CACHE_BYTES (16 * 1024 * 1024)

typedef struct KpNeighbours
{
	int32		count;
	int32		index[KPRECO_NEIGHBOURS];
	float		similarity[KPRECO_NEIGHBOURS];
} KpNeighbours;

typedef struct KpServingModel
{
	char	   *name;
	int64		version;
	kp_model	model;			/* arrays point into raw */
	struct varlena *raw;
	kp_idmap	users;
	kp_idmap	items;
	kp_qmatrix	items_q;		/* int8 copy that prunes scoring */
	float	   *item_unit;		/* unit-length course vectors, built on first use */
	kp_qmatrix	item_unit_q;
	KpNeighbours **neighbours;	/* per course, NULL until asked for */
	KpNeighbours uncached;		/* the answer when the cache is full */
	Size		neighbour_bytes;
	int32	   *popular_items;	/* items by descending interaction count */
	int32	   *popular_counts;
	kp_score_scratch scratch;
	int32	   *top_index;		/* n_items */
	float	   *top_score;		/* n_items */
	float	   *dense_scores;	/* n_items, for ease; allocated on first use */
	uint8	   *course_mask;	/* n_items, all zero between calls; on first use */
	bool		course_mask_marked; /* marks may be left by a cancelled call */
	/* Built on first use by audience.c and session.c: */
	kp_qmatrix	users_q;		/* int8 copy of user_factors (audience) */
	bool		users_q_built;
	float	   *user_unit;		/* unit-length user vectors (similar_users) */
	kp_qmatrix	user_unit_q;
	kp_score_scratch user_scratch;	/* for n_users rows */
	int64	   *course_users_indptr;	/* training users of each course */
	int32	   *course_users;
	float	   *gram;			/* YᵀY + λI of the course vectors (fold-in) */
	double	   *gram_inverse;	/* its inverse, for folding in a few courses */
	float		foldin_alpha;	/* alpha and λ of the model's options */
	float		foldin_regularization;
	MemoryContext context;		/* owns all of the above */
} KpServingModel;

extern void kpreco_cache_init(void);
extern KpServingModel *kpreco_serving_model(text *name);
extern KpServingModel *kpreco_serving_model_from_value(struct varlena *raw);
extern void kpreco_serving_model_free(KpServingModel *s);
extern const KpNeighbours *kpreco_course_neighbours(KpServingModel *s, int32 item);
extern void kpreco_prepare_similarity(KpServingModel *s);
extern void kpreco_unit_rows(const float *F, int32 n, int32 f, float *out);
extern Datum kpreco_catalog_changed(PG_FUNCTION_ARGS);

/*
 * scoring.c: scores of every algorithm (see kp_model.h).  The k best
 * courses of a known user, without the user's training courses, go to
 * s->top_index and s->top_score, best first; the count is returned.
 */
extern int32 kpreco_top_for_user(KpServingModel *s, int32 user, int32 k);

/*
 * Which courses may be returned: only those of candidates (when given), never
 * those of exclude, and (exclude_seen) never the user's training courses.
 * Arrays hold course indices, in any order and possibly repeated; unknown
 * ids are dropped by the caller.
 */
typedef struct KpCourseFilter
{
	bool		has_candidates;
	const int32 *candidates;
	int32		n_candidates;
	const int32 *exclude;
	int32		n_exclude;
	bool		exclude_seen;
} KpCourseFilter;

/*
 * The k best eligible courses for a user (-1: unknown, scored by
 * popularity with NaN scores), into s->top_index / s->top_score.
 */
extern int32 kpreco_top_filtered(KpServingModel *s, int32 user, int32 k,
								 const KpCourseFilter *filter);
/* kpreco_top_filtered re-ranked by maximal marginal relevance, diversity in (0, 1]. */
extern int32 kpreco_diverse_top(KpServingModel *s, int32 user, int32 k,
								const KpCourseFilter *filter, float diversity);
/* The k courses most similar to a course under a filter (the course itself never). */
extern int32 kpreco_similar_filtered(KpServingModel *s, int32 item, int32 k,
									 const KpCourseFilter *filter);
extern float kpreco_pair_score(KpServingModel *s, int32 user, int32 item);
extern const float *kpreco_ease_user_scores(KpServingModel *s, int32 user);

#endif							/* KPRECO_H */
