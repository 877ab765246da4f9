/*
 * kp_als.h -- explicit-rating matrix factorisation with biases, trained by
 * alternating least squares with weighted-λ regularisation.
 *
 * Zhou, Wilkinson, Schreiber & Pan, "Large-scale parallel collaborative
 * filtering for the Netflix Prize", AAIM 2008 (ALS-WR), with user and item
 * biases, and unrated pairs treated as in Steck, "Training and testing of
 * recommender systems on data missing not at random", KDD 2010.
 *
 * Model: r̂_ui = μ + b_u + b_i + p_u·q_i, μ the mean rating (fixed).  It
 * minimises
 *
 *     Σ_rated (r_ui − r̂_ui)²
 *   + w · Σ_unrated (r_m(u) − r̂_ui)²            r_m(u) = μ + b_u − shift·σ
 *   + λ · (Σ_u n_u (σ‖p_u‖² + b_u²) + Σ_i n_i (σ‖q_i‖² + b_i²))
 *
 * with n_u, n_i the numbers of ratings (Zhou et al.'s weighted-λ) and σ the
 * standard deviation of the ratings.  Each half-step solves one
 * (factors+1)×(factors+1) ridge system per user for [p_u, b_u] (and per item
 * for [q_i, b_i]) by Cholesky in double precision.
 *
 * Ratings.  Any finite values > 0.  kp_csr holds no zeros: kp_csr_from_coo
 * drops a rating of 0 upstream (and rejects negative ones), so the pair is
 * then unrated -- shift a rating scale that includes 0 before training.  It
 * also sums duplicate (user, item) pairs: give each pair one rating.  σ makes λ and shift independent of the rating scale: multiply
 * every rating by c and the same params give the same model with biases × c
 * and factors × √c (bit for bit when c is a power of 4, otherwise up to the
 * start values); with σ = 1 the penalty is Zhou et al.'s exactly, and 1–5
 * stars have σ ≈ 1.1.
 *
 * Unrated pairs.  With missing_weight = 0 the unrated pairs do not enter
 * and this is plain ALS-WR with biases: the best rating predictions, but a
 * poor top-N ranker, because an item with a few enthusiastic ratings gets a
 * high predicted rating whatever the chance that a user would pick it
 * (MovieLens 100K below: NDCG@10 0.023, a fifth of the popularity
 * baseline's).  Ratings are missing not at random -- people rate what they
 * chose to watch, and would mostly rate lower what they passed over -- so,
 * following Steck, every unrated pair (u, i) of a user and an item that both
 * have ratings is also fitted, with a small weight w, to an imputed rating
 * r_m(u): shift standard deviations below that user's own level μ + b_u.
 * Anchoring r_m on the user's level (Steck uses one global r_m) makes b_u
 * cancel out of every unrated pair's residual: the user biases stay fitted
 * to the ratings alone, which keeps each user's predictions centred on the
 * ratings, and the unrated pairs act only on the item biases and the
 * factors.  missing_weight is the weight of all the unrated pairs together
 * as a multiple of the number of ratings, so that it means the same for any
 * catalogue size and density: w = missing_weight · nnz / (number of unrated
 * pairs), at most 1.  The dot product stays a rating estimate -- of the
 * rating the user would give, lower for items the user would likely pass
 * over -- and ranking by it, as serving does, is the documented rule.
 *
 * Defaults, measured on MovieLens 100K (shared/data/ml-100k: per-user
 * temporal split, 79,619 training ratings 1–5; RMSE and MAE over the 20,293
 * test ratings of known users and items; NDCG@10 and P@10 by recbench.py:
 * top 10 per user among the items not rated in training, any test rating
 * relevant).  References on the same split: popularity NDCG@10 0.1162,
 * P@10 0.1052; global mean RMSE 1.204; biases alone, tuned, RMSE 0.988;
 * biased MF by SGD (Funk/Surprise-style, 50–100 factors) RMSE 0.976–0.990.
 *
 *   factors λ    missing_weight shift  RMSE   MAE    NDCG@10 P@10
 *   64      0.1  0              -      0.9654 0.7647 0.0261  0.0250
 *   32      0.1  0              -      0.9685 0.7662 0.0231  0.0228
 *   32      0.05 0              -      1.0126 0.7963 0.0363  0.0329
 *   32      0.15 0              -      0.9708 0.7719 0.0039  0.0049
 *   32      0.1  0.5            1      0.9692 0.7741 0.0946  0.0830
 *   32      0.1  1              2      0.9795 0.7878 0.1193  0.1060
 *   16      0.1  2              2      0.9828 0.7927 0.1290  0.1140
 *   32      0.1  2              2      0.9862 0.7963 0.1330  0.1163  default
 *   64      0.1  2              2      0.9922 0.8028 0.1373  0.1189
 *   32      0.05 2              2      0.9925 0.7962 0.1241  0.1068
 *   32      0.15 2              2      0.9984 0.8099 0.1218  0.1063
 *   32      0.1  4              2      1.0000 0.8101 0.1433  0.1253
 *   32      0.1  4              4      1.0806 0.8846 0.1672  0.1481
 *   32      0.1  4              6      1.2982 1.0722 0.1798  0.1603
 *
 * The defaults beat the popularity baseline by 14% in NDCG@10 (0.130 to
 * 0.133 over seeds) and 11% in P@10, while their rating predictions stay
 * within 2% of the best RMSE and slightly better than tuned biases alone.
 * Ranking keeps improving with more weight and shift (towards implicit
 * ALS's 0.178) at a growing cost in RMSE.  A global r_m, as in Steck's
 * paper, reached the default's NDCG@10 only at RMSE 1.015.  Shrinking the
 * biases of rarely rated items harder (a constant prior added to
 * weighted-λ) made RMSE worse on this split and left NDCG@10 below 0.09, so
 * it is not offered.  15 iterations converge (10 give the same to 0.001).
 * Training the defaults takes 0.44 s of one core (OpenBLAS, one thread).
 */
#ifndef KP_ALS_H
#define KP_ALS_H

#include "kp_core.h"
#include "kp_ials.h"			/* KP_MAX_FACTORS, kp_iteration_fn, KP_DEFAULT_SEED */
#include "kp_sparse.h"

#define KP_ALS_MAX_MISSING_WEIGHT 100.0f
#define KP_ALS_MAX_MISSING_SHIFT 100.0f

/* Floats per user or item vector. */
#define KP_ALS_VECTOR_DIMS(factors) ((factors) + 2)

typedef struct kp_als_params
{
	int32_t		factors;		/* 1 .. KP_MAX_FACTORS, default 32 */
	int32_t		iterations;		/* 0 .. KP_MAX_ITERATIONS, default 15 */
	float		regularization; /* λ, finite, >= 0, default 0.1 */
	float		missing_weight; /* 0 .. 100, default 2; 0 = plain ALS-WR */
	float		missing_shift;	/* -100 .. 100 (σ), default 2 */
	uint64_t	seed;			/* default KP_DEFAULT_SEED */
} kp_als_params;

void		kp_als_default_params(kp_als_params *params);

/*
 * NULL when params are valid, else a static message that starts with the
 * offending option's name, e.g. "factors must be between 1 and 1024".
 */
const char *kp_als_check_params(const kp_als_params *params);

/*
 * Bytes kp_als_train allocates beyond its inputs and outputs (one
 * workspace), for up-front memory checks; SIZE_MAX for invalid params.
 */
size_t		kp_als_train_bytes(const kp_csr *user_items, const kp_csr *item_users,
							   const kp_als_params *params);

/*
 * Trains the model.  user_items holds the ratings (users × items) and
 * item_users its transpose.  Writes user_vectors (n_users rows) and
 * item_vectors (n_items rows), each row KP_ALS_VECTOR_DIMS(factors) floats,
 * augmented so that one dot product is the predicted rating:
 *
 *     user u = [p_u, 1, μ + b_u]      item i = [q_i, b_i, 1]
 *     user · item = μ + b_u + b_i + p_u·q_i
 *
 * A user without ratings gets [0…0, 1, μ], an item without ratings
 * [0…0, 0, 1].  Factors start uniform in a small interval, a pure function
 * of (seed, row, column); with 0 iterations that start is returned.  The
 * rows are complete after every iteration, so on_iteration (may be NULL;
 * nonzero return cancels) can report kp_als_rmse.  interrupt is called at
 * least every 256 rows and every few ms of work.  Same input, params and
 * BLAS thread count: same bits out.
 *
 * KP_EINVAL: bad params, shapes that do not match, or a rating that is not
 * finite and > 0.  KP_ECANCELLED: a callback asked to stop.  KP_ENUMERIC: a
 * system was not positive definite (possible only with λ = 0) or a value
 * came out NaN or infinite (ratings near FLT_MAX).  KP_ENOMEM.  On any
 * error the vectors' contents are unspecified.
 */
kp_status	kp_als_train(const kp_allocator *alloc, const kp_csr *user_items,
						 const kp_csr *item_users, const kp_als_params *params,
						 float *user_vectors, float *item_vectors,
						 kp_interrupt_fn interrupt, void *interrupt_arg,
						 kp_iteration_fn on_iteration, void *iteration_arg);

/* The predicted rating: the dot product of a user and an item row. */
float		kp_als_predict(const float *user_vector, const float *item_vector,
						   int32_t factors);

/*
 * Root mean squared error of the predictions over the ratings in
 * user_items (0 when there are none), for progress reports.
 */
double		kp_als_rmse(const kp_csr *user_items, const float *user_vectors,
						const float *item_vectors, int32_t factors);

#endif							/* KP_ALS_H */
