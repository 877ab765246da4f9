/*
 * als.c -- explicit-rating matrix factorisation with biases, trained by
 * alternating least squares with weighted-λ regularisation.
 *
 * Zhou, Wilkinson, Schreiber & Pan, "Large-scale parallel collaborative
 * filtering for the Netflix Prize", AAIM 2008, extended with user and item
 * biases, and optionally with Steck's treatment of unrated pairs ("Training
 * and testing of recommender systems on data missing not at random", KDD
 * 2010).  kp_als.h describes the model, its parameters and the measurements
 * behind the defaults.
 *
 * How it is computed.  Each half-step solves, for every row with ratings,
 * one (f+1)×(f+1) system for x = [p_u, b_u] (or [q_i, b_i]) given the other
 * side.  Solving users, with y = [q_i, 1] and ỹ = [q_i, 0] (b_u cancels out
 * of an unrated pair's residual) and δ = shift·σ:
 *
 *     (Σ_rated y yᵀ + w·Σ_unrated ỹ ỹᵀ + Λ) x
 *         = Σ_rated (r − μ − b_i) y + w·Σ_unrated (−δ − b_i) ỹ
 *
 * and solving items, with y = [p_u, 1]:
 *
 *     (Σ_rated y yᵀ + w·Σ_unrated y yᵀ + Λ) x
 *         = Σ_rated (r − μ − b_u) y + w·Σ_unrated (−δ) y
 *
 * Λ is diagonal: λ·σ·n for the factors, λ·n for the bias, n the row's
 * number of ratings.  Σ_unrated is Σ_all minus Σ_rated: the sums over all
 * non-empty rows of the other side are formed once per half-step (dsyrk),
 * and each row adds its rated pairs' terms less their unrated-pair ones,
 * from that row's ratings only.  With w = 0 only the rated terms remain:
 * Zhou et al.'s explicit model.
 *
 * Everything is solved in double.  Ratings are first divided by a power of
 * four s >= the largest rating, and the factors by √s, so that nothing in
 * the solve can overflow whatever the magnitude of the ratings, and
 * multiplying every rating by a power of four multiplies the biases by it
 * and the factors by its square root, bit for bit.  The stored vectors are
 * always in the augmented serving layout, in rating units, so an
 * on_iteration callback can measure them with kp_als_rmse.
 *
 * All loops run single-threaded in a fixed order: the same input, params
 * and BLAS thread count give the same bits.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "kp_als.h"

/* LAPACK's Cholesky factorisation (Debian ships no lapacke header). */
void		dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);

/* Rows solved between calls to the interrupt callback, at most. */
#define INTERRUPT_EVERY 256

/* Floating-point operations between calls, at most: a few ms. */
#define WORK_PER_INTERRUPT 2e7

/* Ratings scanned between calls while checking them. */
#define RATINGS_PER_CHECK (1 << 20)

/*
 * At most this many rows are gathered into one block for dsyrk, and fewer
 * for wide models, so that one block is at most BLOCK_WORK operations.
 */
#define GATHER_ROWS 4096
#define BLOCK_WORK (1 << 24)

/* The all-pairs sums use blocks of at least this many rows (if there are as many). */
#define ALL_PAIRS_ROWS 256

/* Start values of the factors: uniform in ±INIT_SCALE·√s. */
#define INIT_SCALE 0.01

#define GOLDEN_GAMMA UINT64_C(0x9e3779b97f4a7c15)

void
kp_als_default_params(kp_als_params *params)
{
	params->factors = 32;
	params->iterations = 15;
	params->regularization = 0.1f;
	params->missing_weight = 2.0f;
	params->missing_shift = 2.0f;
	params->seed = KP_DEFAULT_SEED;
}

const char *
kp_als_check_params(const kp_als_params *params)
{
	if (params->factors < 1 || params->factors > KP_MAX_FACTORS)
		return "factors must be between 1 and 1024";
	if (params->iterations < 0 || params->iterations > KP_MAX_ITERATIONS)
		return "iterations must be between 0 and 1000";
	if (!isfinite(params->regularization) || params->regularization < 0.0f)
		return "regularization must be a finite number >= 0";
	if (!isfinite(params->missing_weight) || params->missing_weight < 0.0f ||
		params->missing_weight > KP_ALS_MAX_MISSING_WEIGHT)
		return "missing_weight must be between 0 and 100";
	if (!isfinite(params->missing_shift) ||
		fabsf(params->missing_shift) > KP_ALS_MAX_MISSING_SHIFT)
		return "missing_shift must be between -100 and 100";
	return NULL;
}

static int32_t
max_row_nnz(const kp_csr *m)
{
	int64_t		longest = 0;
	int32_t		row;

	for (row = 0; row < m->n_rows; row++)
	{
		int64_t		nnz = m->indptr[row + 1] - m->indptr[row];

		if (nnz > longest)
			longest = nnz;
	}
	/* a row holds at most one entry per column, and columns are int32 */
	return (int32_t) longest;
}

/* Where the workspace's arrays start, in doubles, and its total size. */
typedef struct layout
{
	size_t		gram_all;		/* (f+1)², upper triangle */
	size_t		rhs_all;		/* f+1 */
	size_t		A;				/* (f+1)², upper triangle, then its factor */
	size_t		rhs;			/* f+1, then the solution */
	size_t		targets;		/* block_rows */
	size_t		block;			/* block_rows × (f+1) */
	size_t		total;
	int32_t		block_rows;
} layout;

static void
workspace_layout(int32_t factors, const kp_csr *user_items, const kp_csr *item_users,
				 layout *l)
{
	size_t		n = (size_t) factors + 1;
	int32_t		user_max = max_row_nnz(user_items);
	int32_t		item_max = max_row_nnz(item_users);
	int32_t		longest_side = user_items->n_rows > item_users->n_rows ?
		user_items->n_rows : item_users->n_rows;
	int32_t		rows = user_max > item_max ? user_max : item_max;

	if (rows < ALL_PAIRS_ROWS)
		rows = longest_side < ALL_PAIRS_ROWS ? longest_side : ALL_PAIRS_ROWS;
	if (rows > GATHER_ROWS)
		rows = GATHER_ROWS;
	if ((size_t) rows * n * n > BLOCK_WORK)
		rows = (int32_t) (BLOCK_WORK / (n * n));
	if (rows < 1)
		rows = 1;
	/* factors <= KP_MAX_FACTORS and rows <= GATHER_ROWS: no overflow */
	l->block_rows = rows;
	l->gram_all = 0;
	l->rhs_all = l->gram_all + n * n;
	l->A = l->rhs_all + n;
	l->rhs = l->A + n * n;
	l->targets = l->rhs + n;
	l->block = l->targets + (size_t) rows;
	l->total = l->block + (size_t) rows * n;
}

size_t
kp_als_train_bytes(const kp_csr *user_items, const kp_csr *item_users,
				   const kp_als_params *params)
{
	layout		l;
	size_t		bytes;

	if (kp_als_check_params(params) != NULL)
		return SIZE_MAX;
	workspace_layout(params->factors, user_items, item_users, &l);
	if (!kp_mul_size(l.total, sizeof(double), &bytes))
		return SIZE_MAX;
	return bytes;
}

/*
 * Which columns of the stored rows hold what, seen from the side being
 * solved (x) and the side held fixed (y).  Users are [p, 1, μ + b_u] and
 * items [q, b_i, 1].
 */
typedef struct side
{
	int32_t		y_bias_col;		/* the fixed side's bias column */
	double		y_offset;		/* added to it: μ when y are items, 0 for users */
	int32_t		x_bias_col;		/* where the solved bias goes */
	double		x_offset;		/* added to it before storing */
	int32_t		x_one_col;		/* the solved side's constant 1 */
	int			fixed_items;	/* solving users: items are held fixed */
} side;

/* Everything a half-step needs, in normalised units. */
typedef struct solver
{
	int32_t		f;
	double		factor_penalty; /* λ·σ, per rating of the row */
	double		bias_penalty;	/* λ, per rating of the row */
	double		missing_weight; /* w, per unrated pair */
	double		missing_gap;	/* δ: r_m = the user's μ + b_u − δ */
	double		scale;			/* s: stored = normalised·s (biases) */
	double		inv_scale;
	double		root;			/* √s: stored = normalised·√s (factors) */
	double		inv_root;
	double	   *gram_all;
	double	   *rhs_all;
	double	   *A;
	double	   *rhs;
	double	   *targets;
	double	   *block;
	int32_t		block_rows;
} solver;

/* The normalised offset c of a fixed-side row: μ + its bias. */
static inline double
offset_of(const solver *s, const side *sd, const float *y)
{
	return sd->y_offset + y[sd->y_bias_col] * s->inv_scale;
}

/* Copies a fixed-side row into the block as [q/√s, one]. */
static inline void
gather(const solver *s, const float *y, double one, double *out)
{
	int32_t		j;

	for (j = 0; j < s->f; j++)
		out[j] = y[j] * s->inv_root;
	out[s->f] = one;
}

/*
 * The target of an unrated pair, r_m − μ − b_u − b_i − p·q with r_m =
 * μ + b_u − δ, without the solved side's terms: −δ − b_i when solving
 * users, −δ when solving items.
 */
static inline double
missing_target(const solver *s, const side *sd, const float *y)
{
	return sd->fixed_items ? -s->missing_gap - y[sd->y_bias_col] * s->inv_scale :
		-s->missing_gap;
}

/*
 * Calls the interrupt callback every INTERRUPT_EVERY rows, and sooner when
 * WORK_PER_INTERRUPT floating-point operations have gone by since the last
 * call (wide models: one row with 1024 factors is 0.4 GFLOP).
 */
typedef struct pacer
{
	kp_interrupt_fn interrupt;
	void	   *interrupt_arg;
	double		work;
	int32_t		rows;
} pacer;

static inline int
pacer_stop(pacer *p, int32_t rows, double work)
{
	p->rows += rows;
	p->work += work;
	if (p->rows < INTERRUPT_EVERY && p->work < WORK_PER_INTERRUPT)
		return 0;
	p->rows = 0;
	p->work = 0.0;
	return p->interrupt != NULL && p->interrupt(p->interrupt_arg) != 0;
}

/*
 * gram_all = w·Σ y_m y_mᵀ and rhs_all = w·Σ t_m y_m over the non-empty rows
 * of the fixed side (Rt: its ratings, Y: its stored rows), where y_m is
 * [q, 0] when solving users (b_u cancels out of an unrated pair's residual)
 * and [p, 1] when solving items, and t_m is missing_target.
 */
static kp_status
all_pairs(const solver *s, const side *sd, const kp_csr *Rt, const float *Y,
		  pacer *pace)
{
	int			n = s->f + 1;
	size_t		stride = (size_t) s->f + 2;
	int32_t		row = 0;

	memset(s->gram_all, 0, (size_t) n * n * sizeof(double));
	memset(s->rhs_all, 0, (size_t) n * sizeof(double));
	if (s->missing_weight == 0.0)
		return KP_OK;
	while (row < Rt->n_rows)
	{
		int			rows = 0;

		for (; row < Rt->n_rows && rows < s->block_rows; row++)
		{
			const float *y = Y + (size_t) row * stride;

			if (Rt->indptr[row] == Rt->indptr[row + 1])
				continue;
			gather(s, y, sd->fixed_items ? 0.0 : 1.0, s->block + (size_t) rows * n);
			s->targets[rows] = missing_target(s, sd, y);
			rows++;
		}
		if (rows == 0)
			break;
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, rows,
					s->missing_weight, s->block, n, 1.0, s->gram_all, n);
		cblas_dgemv(CblasRowMajor, CblasTrans, rows, n, s->missing_weight,
					s->block, n, s->targets, 1, 1.0, s->rhs_all, 1);
		if (pacer_stop(pace, 0, (double) rows * n * n))
			return KP_ECANCELLED;
	}
	return KP_OK;
}

/*
 * One half-step: solves every row of X (R: its ratings) given Y, after
 * all_pairs(Y).  Rows without ratings get zero factors and zero bias.
 */
static kp_status
solve_rows(const solver *s, const side *sd, const kp_csr *R, const float *Y,
		   float *X, pacer *pace)
{
	int			n = s->f + 1;
	size_t		stride = (size_t) s->f + 2;
	int32_t		row;

	for (row = 0; row < R->n_rows; row++)
	{
		float	   *x = X + (size_t) row * stride;
		int64_t		begin = R->indptr[row];
		int64_t		end = R->indptr[row + 1];
		double		count = (double) (end - begin);
		double		missing_sum = 0.0;
		int64_t		start;
		int			info = 0;
		int32_t		j;

		if (pacer_stop(pace, 1, (double) n * n * (n / 3.0 + 1.0)))
			return KP_ECANCELLED;
		if (begin == end)
		{
			memset(x, 0, (size_t) s->f * sizeof(float));
			x[sd->x_bias_col] = (float) (sd->x_offset * s->scale);
			x[sd->x_one_col] = 1.0f;
			continue;
		}

		memcpy(s->A, s->gram_all, (size_t) n * n * sizeof(double));
		memcpy(s->rhs, s->rhs_all, (size_t) n * sizeof(double));
		for (start = begin; start < end; start += s->block_rows)
		{
			int			rows = end - start < s->block_rows ? (int) (end - start) : s->block_rows;
			int			k;

			for (k = 0; k < rows; k++)
			{
				const float *y = Y + (size_t) R->indices[start + k] * stride;
				double		missing = missing_target(s, sd, y);

				gather(s, y, 1.0, s->block + (size_t) k * n);
				s->targets[k] = (R->values[start + k] * s->inv_scale - offset_of(s, sd, y)) -
					s->missing_weight * missing;
				missing_sum += missing;
			}

			/*
			 * The rated pair's own term, minus the unrated-pair term that
			 * all_pairs gave it too.  Solving users, the latter has no bias
			 * component: it comes off the factor block only, and the bias
			 * gets back its share of the target below.
			 */
			if (sd->fixed_items)
			{
				cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, rows,
							1.0, s->block, n, 1.0, s->A, n);
				if (s->missing_weight != 0.0)
					cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, s->f, rows,
								-s->missing_weight, s->block, n, 1.0, s->A, n);
			}
			else
				cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, rows,
							1.0 - s->missing_weight, s->block, n, 1.0, s->A, n);
			cblas_dgemv(CblasRowMajor, CblasTrans, rows, n, 1.0, s->block, n,
						s->targets, 1, 1.0, s->rhs, 1);
			if (pacer_stop(pace, 0, (double) rows * n * n))
				return KP_ECANCELLED;
		}
		if (sd->fixed_items)
			s->rhs[s->f] += s->missing_weight * missing_sum;
		for (j = 0; j < s->f; j++)
			s->A[(size_t) j * n + j] += s->factor_penalty * count;
		s->A[(size_t) s->f * n + s->f] += s->bias_penalty * count;

		/* row-major upper is column-major lower: A = UᵀU with U upper */
		dpotrf_("L", &n, s->A, &n, &info);
		if (info != 0)
			return KP_ENUMERIC;
		cblas_dtrsv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, n, s->A, n, s->rhs, 1);
		cblas_dtrsv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, n, s->A, n, s->rhs, 1);

		for (j = 0; j < s->f; j++)
			x[j] = (float) (s->rhs[j] * s->root);
		x[sd->x_bias_col] = (float) ((sd->x_offset + s->rhs[s->f]) * s->scale);
		x[sd->x_one_col] = 1.0f;
		for (j = 0; j < s->f + 2; j++)
		{
			if (!isfinite(x[j]))
				return KP_ENUMERIC;
		}
	}
	return KP_OK;
}

/*
 * Start values: factors uniform in ±INIT_SCALE·√s, a pure function of
 * (seed, stream, row, column); bias 0; rows without ratings all zero.
 */
static kp_status
init_rows(const kp_csr *R, float *X, const solver *s, const side *sd,
		  uint64_t seed, uint64_t stream, pacer *pace)
{
	uint64_t	stream_key = kp_mix64(kp_mix64(seed) + (stream + 1) * GOLDEN_GAMMA);
	size_t		stride = (size_t) s->f + 2;
	int32_t		row;
	int32_t		col;

	for (row = 0; row < R->n_rows; row++)
	{
		uint64_t	row_key = kp_mix64(stream_key + ((uint64_t) row + 1) * GOLDEN_GAMMA);
		float	   *x = X + (size_t) row * stride;
		int			empty = R->indptr[row] == R->indptr[row + 1];

		if (pacer_stop(pace, 0, 16.0 * s->f))
			return KP_ECANCELLED;
		for (col = 0; col < s->f; col++)
		{
			uint64_t	bits = kp_mix64(row_key + ((uint64_t) col + 1) * GOLDEN_GAMMA);
			double		u = (double) (bits >> 11) * (1.0 / 9007199254740992.0);

			x[col] = empty ? 0.0f : (float) ((2.0 * u - 1.0) * INIT_SCALE * s->root);
		}
		x[sd->x_bias_col] = (float) (sd->x_offset * s->scale);
		x[sd->x_one_col] = 1.0f;
	}
	return KP_OK;
}

static int32_t
nonempty_rows(const kp_csr *m)
{
	int32_t		count = 0;
	int32_t		row;

	for (row = 0; row < m->n_rows; row++)
		count += m->indptr[row] != m->indptr[row + 1];
	return count;
}

/* The cheap structural checks: shapes agree and the row pointers bracket nnz. */
static int
shapes_ok(const kp_csr *user_items, const kp_csr *item_users)
{
	return user_items->n_rows >= 0 && user_items->n_cols >= 0 &&
		item_users->n_rows == user_items->n_cols &&
		item_users->n_cols == user_items->n_rows &&
		user_items->nnz >= 0 && item_users->nnz == user_items->nnz &&
		user_items->indptr[0] == 0 &&
		user_items->indptr[user_items->n_rows] == user_items->nnz &&
		item_users->indptr[0] == 0 &&
		item_users->indptr[item_users->n_rows] == item_users->nnz;
}

/*
 * Checks that every rating is finite and > 0 and measures them: *exponent
 * (even, 4^(exponent/2) >= the largest), and the mean and the standard
 * deviation of the ratings divided by 2^exponent.  Ratings that are all
 * equal have no spread; their size stands in for it.
 */
static kp_status
rating_stats(const kp_csr *R, pacer *pace, int *exponent, double *mean,
			 double *sigma)
{
	const float *ratings = R->values;
	float		largest = 0.0f;
	double		inv_scale;
	double		sum = 0.0;
	double		squares = 0.0;
	int64_t		k;

	*exponent = 0;
	*mean = 0.0;
	*sigma = 1.0;
	for (k = 0; k < R->nnz; k++)
	{
		if (k % RATINGS_PER_CHECK == 0 && pacer_stop(pace, 0, WORK_PER_INTERRUPT))
			return KP_ECANCELLED;
		if (!(ratings[k] > 0.0f && ratings[k] <= FLT_MAX))
			return KP_EINVAL;
		if (ratings[k] > largest)
			largest = ratings[k];
	}
	if (R->nnz == 0)
		return KP_OK;
	frexp(largest, exponent);
	*exponent += *exponent & 1;
	inv_scale = ldexp(1.0, -*exponent);
	for (k = 0; k < R->nnz; k++)
		sum += ratings[k] * inv_scale;
	*mean = sum / (double) R->nnz;
	for (k = 0; k < R->nnz; k++)
	{
		double		d = ratings[k] * inv_scale - *mean;

		squares += d * d;
	}
	*sigma = squares > 0.0 ? sqrt(squares / (double) R->nnz) : *mean;
	return KP_OK;
}

kp_status
kp_als_train(const kp_allocator *alloc, const kp_csr *user_items,
			 const kp_csr *item_users, const kp_als_params *params,
			 float *user_vectors, float *item_vectors,
			 kp_interrupt_fn interrupt, void *interrupt_arg,
			 kp_iteration_fn on_iteration, void *iteration_arg)
{
	pacer		pace = {interrupt, interrupt_arg, 0.0, 0};
	int			exponent;
	double		mu;
	double		sigma;
	double		unrated;
	layout		l;
	size_t		bytes;
	double	   *workspace;
	solver		s;
	side		users;
	side		items;
	int32_t		iteration;
	kp_status	status;

	if (kp_als_check_params(params) != NULL || !shapes_ok(user_items, item_users))
		return KP_EINVAL;
	status = rating_stats(user_items, &pace, &exponent, &mu, &sigma);
	if (status != KP_OK)
		return status;

	s.f = params->factors;
	s.scale = ldexp(1.0, exponent);
	s.inv_scale = ldexp(1.0, -exponent);
	s.root = ldexp(1.0, exponent / 2);
	s.inv_root = ldexp(1.0, -exponent / 2);
	s.factor_penalty = params->regularization * sigma;
	s.bias_penalty = params->regularization;
	s.missing_gap = params->missing_shift * sigma;
	unrated = (double) nonempty_rows(user_items) * (double) nonempty_rows(item_users) -
		(double) user_items->nnz;
	s.missing_weight = unrated > 0.0 ?
		params->missing_weight * (double) user_items->nnz / unrated : 0.0;
	if (s.missing_weight > 1.0)
		s.missing_weight = 1.0;

	users.y_bias_col = s.f;
	users.y_offset = mu;
	users.x_bias_col = s.f + 1;
	users.x_offset = mu;
	users.x_one_col = s.f;
	users.fixed_items = 1;
	items.y_bias_col = s.f + 1;
	items.y_offset = 0.0;
	items.x_bias_col = s.f;
	items.x_offset = 0.0;
	items.x_one_col = s.f + 1;
	items.fixed_items = 0;

	workspace_layout(s.f, user_items, item_users, &l);
	if (!kp_mul_size(l.total, sizeof(double), &bytes))
		return KP_ENOMEM;
	workspace = kp_alloc(alloc, bytes);
	if (!workspace)
		return KP_ENOMEM;
	s.gram_all = workspace + l.gram_all;
	s.rhs_all = workspace + l.rhs_all;
	s.A = workspace + l.A;
	s.rhs = workspace + l.rhs;
	s.targets = workspace + l.targets;
	s.block = workspace + l.block;
	s.block_rows = l.block_rows;

	status = init_rows(user_items, user_vectors, &s, &users, params->seed, 0, &pace);
	if (status == KP_OK)
		status = init_rows(item_users, item_vectors, &s, &items, params->seed, 1, &pace);

	for (iteration = 1; status == KP_OK && iteration <= params->iterations; iteration++)
	{
		status = all_pairs(&s, &users, item_users, item_vectors, &pace);
		if (status == KP_OK)
			status = solve_rows(&s, &users, user_items, item_vectors, user_vectors, &pace);
		if (status == KP_OK)
			status = all_pairs(&s, &items, user_items, user_vectors, &pace);
		if (status == KP_OK)
			status = solve_rows(&s, &items, item_users, user_vectors, item_vectors, &pace);
		if (status == KP_OK && on_iteration && on_iteration(iteration_arg, iteration))
			status = KP_ECANCELLED;
	}
	kp_free(alloc, workspace);
	return status;
}

float
kp_als_predict(const float *user_vector, const float *item_vector, int32_t factors)
{
	double		sum = 0.0;
	int32_t		j;

	for (j = 0; j < factors + 2; j++)
		sum += (double) user_vector[j] * item_vector[j];
	return (float) sum;
}

double
kp_als_rmse(const kp_csr *user_items, const float *user_vectors,
			const float *item_vectors, int32_t factors)
{
	size_t		stride = (size_t) factors + 2;
	double		sum = 0.0;
	int32_t		row;

	if (user_items->nnz == 0)
		return 0.0;
	for (row = 0; row < user_items->n_rows; row++)
	{
		const float *x = user_vectors + (size_t) row * stride;
		int64_t		k;

		for (k = user_items->indptr[row]; k < user_items->indptr[row + 1]; k++)
		{
			const float *y = item_vectors + (size_t) user_items->indices[k] * stride;
			double		dot = 0.0;
			double		err;
			int32_t		j;

			for (j = 0; j < factors + 2; j++)
				dot += (double) x[j] * y[j];
			err = user_items->values[k] - dot;
			sum += err * err;
		}
	}
	return sqrt(sum / (double) user_items->nnz);
}
