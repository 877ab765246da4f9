/*
 * kpreco_cli.c -- trains kpreco's iALS core on a TSV file and writes top-10
 * recommendations, to measure quality and speed without a server.
 *
 *   kpreco_cli TRAIN.tsv [--out RECS.tsv] [--factors N] [--iterations N]
 *       [--regularization X] [--alpha X] [--solver cg|cholesky] [--cg-steps N]
 *       [--seed N] [--threads N] [--use-values] [--compare-scorers]
 *       [--batch-topk] [--repeat N]
 *   kpreco_cli --sgemm-peak [--size N] [--repeat N] [--threads N]
 *
 * TRAIN.tsv: user_id <TAB> item_id <TAB> value [<TAB> ts], no header.  Every
 * distinct (user, item) pair gets weight 1 unless --use-values (then values
 * of duplicate pairs are summed).  RECS.tsv: user_id <TAB> item_id <TAB> rank
 * for every training user, excluding items the user has trained on, chosen
 * by kp_score_topk as the server does.  --compare-scorers also times the
 * plain scan (cblas_sgemv over every item + kp_topk) for every user and
 * counts users whose top 10 differ between the two.
 *
 * --batch-topk times kp_batch_topk (what kpreco.recommend_all runs) for
 * the top 10 of every training user, training courses excluded, best of
 * --repeat runs (default 3), and the same sequence of sgemm calls alone
 * (its KP_BATCH_USERS × KP_BATCH_ITEMS blocks, no scan), and prints
 * "key<TAB>value" lines on stdout: seconds and GFLOP/s, counting
 * 2·users·courses·factors floating-point operations, and the sum of the
 * user and course factors (to check they are the server's).  At least one
 * of --out and --batch-topk is needed.
 *
 * --sgemm-peak needs no data: it times cblas_sgemm of two N × N matrices
 * (default 4096), best of --repeat runs (default 3), with --threads BLAS
 * threads (default 1), and prints "key<TAB>value" lines: the size, the
 * best and median seconds and the GFLOP/s of the best (2·N³ operations).
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "kp_batch.h"
#include "kp_core.h"
#include "kp_ials.h"
#include "kp_score.h"
#include "kp_idmap.h"
#include "kp_sparse.h"
#include "kp_topk.h"

#define TOP_N 10

typedef struct triples
{
	int64_t    *users;
	int64_t    *items;
	float	   *values;
	int64_t		count;
	int64_t		capacity;
} triples;

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "kpreco_cli: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static void
check(kp_status status, const char *what)
{
	if (status != KP_OK)
		die(what, kp_status_message(status));
}

static void *
xrealloc(void *ptr, size_t size)
{
	void	   *p = realloc(ptr, size);

	if (!p)
		die("out of memory", NULL);
	return p;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
read_tsv(const char *path, triples *t)
{
	FILE	   *in = fopen(path, "r");
	char	   *line = NULL;
	size_t		line_size = 0;
	int64_t		line_no = 0;

	if (!in)
		die("cannot open", path);
	memset(t, 0, sizeof(*t));
	while (getline(&line, &line_size, in) > 0)
	{
		char	   *field = line;
		char	   *end;
		long long	user;
		long long	item;
		double		value;

		line_no++;
		if (line[0] == '\n')
			continue;
		user = strtoll(field, &end, 10);
		if (end == field || *end != '\t')
			die("malformed user id in", path);
		field = end + 1;
		item = strtoll(field, &end, 10);
		if (end == field || (*end != '\t' && *end != '\n' && *end != '\0'))
			die("malformed item id in", path);
		value = 1.0;
		if (*end == '\t')
		{
			field = end + 1;
			value = strtod(field, &end);
			if (end == field)
				die("malformed value in", path);
		}
		if (t->count == t->capacity)
		{
			t->capacity = t->capacity ? 2 * t->capacity : 1 << 16;
			t->users = xrealloc(t->users, t->capacity * sizeof(int64_t));
			t->items = xrealloc(t->items, t->capacity * sizeof(int64_t));
			t->values = xrealloc(t->values, t->capacity * sizeof(float));
		}
		t->users[t->count] = user;
		t->items[t->count] = item;
		t->values[t->count] = (float) value;
		t->count++;
	}
	free(line);
	fclose(in);
	if (line_no == 0)
		die("empty training file", path);
}

/* Maps ids to dense indices numbered in ascending id order. */
static void
map_ids(kp_idmap *map, const int64_t *ids, int64_t n, int32_t *indices)
{
	int32_t    *remap;
	int64_t		k;

	check(kp_idmap_init(map, &kp_malloc_allocator, 1024), "idmap");
	for (k = 0; k < n; k++)
		check(kp_idmap_insert(map, ids[k], &indices[k]), "idmap insert");
	remap = xrealloc(NULL, (size_t) map->count * sizeof(int32_t) + 1);
	check(kp_idmap_sort(map, remap, NULL, NULL), "idmap sort");
	for (k = 0; k < n; k++)
		indices[k] = remap[indices[k]];
	free(remap);
}

static const char *
option_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		die("missing value for", argv[*i]);
	return argv[++*i];
}

typedef struct scorers
{
	kp_qmatrix	items_q;
	kp_score_scratch scratch;
	float	   *scores;			/* for the plain scan */
} scorers;

static int32_t
top_pruned(scorers *sc, const kp_csr *user_items, const float *user_factors,
		   const float *item_factors, int32_t f, int32_t u, int32_t *best, float *best_score)
{
	int64_t		first = user_items->indptr[u];

	return kp_score_topk(&sc->items_q, item_factors, user_factors + (size_t) u * f,
						 user_items->indices + first, user_items->indptr[u + 1] - first,
						 TOP_N, &sc->scratch, best, best_score);
}

static int32_t
top_scan(scorers *sc, const kp_csr *user_items, const float *user_factors,
		 const float *item_factors, int32_t f, int32_t u, int32_t *best, float *best_score)
{
	int64_t		k;

	cblas_sgemv(CblasRowMajor, CblasNoTrans, user_items->n_cols, f, 1.0f,
				item_factors, f, user_factors + (size_t) u * f, 1,
				0.0f, sc->scores, 1);
	for (k = user_items->indptr[u]; k < user_items->indptr[u + 1]; k++)
		sc->scores[user_items->indices[k]] = -INFINITY;
	return kp_topk(sc->scores, user_items->n_cols, TOP_N, best, best_score);
}

/*
 * Both scorers over every user: time per user, and how many users get a
 * different list.  The scan's scores come from sgemv, so lists are
 * compared by item only.
 */
static void
compare_scorers(scorers *sc, const kp_csr *user_items, const float *user_factors,
				const float *item_factors, int32_t f)
{
	int32_t		best[TOP_N];
	float		best_score[TOP_N];
	int32_t		(*pruned_best)[TOP_N] = xrealloc(NULL, sizeof(*pruned_best) * (size_t) user_items->n_rows + 1);
	int32_t    *pruned_count = xrealloc(NULL, sizeof(int32_t) * (size_t) user_items->n_rows + 1);
	int32_t		different = 0;
	double		start;
	double		pruned_seconds;
	double		scan_seconds;
	int32_t		u;

	start = now_seconds();
	for (u = 0; u < user_items->n_rows; u++)
		pruned_count[u] = top_pruned(sc, user_items, user_factors, item_factors, f, u,
									 pruned_best[u], best_score);
	pruned_seconds = now_seconds() - start;

	start = now_seconds();
	for (u = 0; u < user_items->n_rows; u++)
	{
		int32_t		n = top_scan(sc, user_items, user_factors, item_factors, f, u, best, best_score);

		if (n != pruned_count[u] || memcmp(best, pruned_best[u], sizeof(int32_t) * n) != 0)
			different++;
	}
	scan_seconds = now_seconds() - start;
	fprintf(stderr, "top-%d over %d items: pruned %.1f us/user, sgemv scan %.1f us/user; "
			"%d of %d users differ\n", TOP_N, user_items->n_cols,
			pruned_seconds * 1e6 / user_items->n_rows, scan_seconds * 1e6 / user_items->n_rows,
			different, user_items->n_rows);
	free(pruned_best);
	free(pruned_count);
}

static int
compare_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Sorts the n timings and returns the median (times[0] is then the best). */
static double
sort_times(double *times, int n)
{
	qsort(times, n, sizeof(double), compare_double);
	return n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
}

/*
 * --sgemm-peak: C = A·B for N × N matrices of random floats, repeat times;
 * what one BLAS call reaches on this machine at a size where the kernel,
 * not memory, is the limit.
 */
static int
sgemm_peak(int n, int repeat, int threads)
{
	size_t		count = (size_t) n * n;
	float	   *a = xrealloc(NULL, count * sizeof(float));
	float	   *b = xrealloc(NULL, count * sizeof(float));
	float	   *c = xrealloc(NULL, count * sizeof(float));
	double	   *times = xrealloc(NULL, sizeof(double) * repeat);
	double		flops = 2.0 * n * (double) n * n;
	double		median;
	uint64_t	state = 88172645463325252ULL;
	size_t		i;
	int			r;

	openblas_set_num_threads(threads);
	for (i = 0; i < count; i++)
	{
		/* xorshift64: values in [-1, 1) */
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		a[i] = (float) ((state >> 40) * 0x1p-23 - 1.0);
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		b[i] = (float) ((state >> 40) * 0x1p-23 - 1.0);
	}
	memset(c, 0, count * sizeof(float));
	for (r = 0; r < repeat; r++)
	{
		double		start = now_seconds();

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
					a, n, b, n, 0.0f, c, n);
		times[r] = now_seconds() - start;
		fprintf(stderr, "sgemm %d x %d x %d, %d thread%s: %.3f s, %.1f GFLOP/s\n",
				n, n, n, threads, threads == 1 ? "" : "s", times[r], flops / times[r] * 1e-9);
	}
	median = sort_times(times, repeat);
	printf("sgemm_size\t%d\n", n);
	printf("sgemm_threads\t%d\n", threads);
	printf("sgemm_runs\t%d\n", repeat);
	printf("sgemm_seconds_best\t%.4f\n", times[0]);
	printf("sgemm_seconds_median\t%.4f\n", median);
	printf("sgemm_gflops_best\t%.2f\n", flops / times[0] * 1e-9);
	printf("sgemm_gflops_median\t%.2f\n", flops / median * 1e-9);
	/* keep the product alive */
	fprintf(stderr, "checksum %g\n", (double) c[count / 2]);
	free(a);
	free(b);
	free(c);
	free(times);
	return 0;
}

/*
 * --batch-topk: kp_batch_topk for every user (top 10, training courses
 * excluded), as kpreco.recommend_all scores them, and the same sgemm calls
 * alone for comparison.
 */
static void
batch_topk(const kp_csr *user_items, const float *user_factors, const float *item_factors,
		   int32_t f, int repeat)
{
	int32_t		n_users = user_items->n_rows;
	int32_t		n_items = user_items->n_cols;
	int32_t    *index = xrealloc(NULL, sizeof(int32_t) * (size_t) n_users * TOP_N + 1);
	float	   *score = xrealloc(NULL, sizeof(float) * (size_t) n_users * TOP_N + 1);
	int32_t    *count = xrealloc(NULL, sizeof(int32_t) * (size_t) n_users + 1);
	float	   *S = xrealloc(NULL, sizeof(float) * KP_BATCH_USERS * KP_BATCH_ITEMS);
	double	   *times = xrealloc(NULL, sizeof(double) * repeat);
	double	   *sgemm_times = xrealloc(NULL, sizeof(double) * repeat);
	double		flops = 2.0 * n_users * (double) n_items * f;
	double		median;
	double		sgemm_median;
	double		user_sum = 0;
	double		item_sum = 0;
	int64_t		results = 0;
	int			r;
	int32_t		u;
	size_t		j;

	for (r = 0; r < repeat; r++)
	{
		double		start = now_seconds();

		check(kp_batch_topk(&kp_malloc_allocator, user_factors, n_users, NULL, n_users,
							item_factors, n_items, f, user_items->indptr, user_items->indices,
							TOP_N, index, score, count, NULL, NULL), "kp_batch_topk");
		times[r] = now_seconds() - start;
		fprintf(stderr, "kp_batch_topk, %d users x %d courses x %d factors, top %d: %.3f s, %.1f GFLOP/s\n",
				n_users, n_items, f, TOP_N, times[r], flops / times[r] * 1e-9);
	}
	for (u = 0; u < n_users; u++)
		results += count[u];

	/* the sgemm calls of kp_batch_topk, nothing else */
	for (r = 0; r < repeat; r++)
	{
		double		start = now_seconds();
		int32_t		ub;

		for (ub = 0; ub < n_users; ub += KP_BATCH_USERS)
		{
			int32_t		nu = n_users - ub < KP_BATCH_USERS ? n_users - ub : KP_BATCH_USERS;
			int32_t		base;

			for (base = 0; base < n_items; base += KP_BATCH_ITEMS)
			{
				int32_t		ni = n_items - base < KP_BATCH_ITEMS ? n_items - base : KP_BATCH_ITEMS;

				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nu, ni, f, 1.0f,
							user_factors + (size_t) ub * f, f, item_factors + (size_t) base * f, f,
							0.0f, S, ni);
			}
		}
		sgemm_times[r] = now_seconds() - start;
		fprintf(stderr, "its sgemm calls alone (%d x %d blocks): %.3f s, %.1f GFLOP/s\n",
				KP_BATCH_USERS, KP_BATCH_ITEMS, sgemm_times[r], flops / sgemm_times[r] * 1e-9);
	}

	for (j = 0; j < (size_t) n_users * f; j++)
		user_sum += user_factors[j];
	for (j = 0; j < (size_t) n_items * f; j++)
		item_sum += item_factors[j];
	median = sort_times(times, repeat);
	sgemm_median = sort_times(sgemm_times, repeat);
	printf("batch_users\t%d\n", n_users);
	printf("batch_courses\t%d\n", n_items);
	printf("batch_factors\t%d\n", f);
	printf("batch_k\t%d\n", TOP_N);
	printf("batch_rows\t%lld\n", (long long) results);
	printf("batch_runs\t%d\n", repeat);
	printf("batch_seconds_best\t%.4f\n", times[0]);
	printf("batch_seconds_median\t%.4f\n", median);
	printf("batch_gflops_best\t%.2f\n", flops / times[0] * 1e-9);
	printf("batch_gflops_median\t%.2f\n", flops / median * 1e-9);
	printf("batch_sgemm_only_seconds_best\t%.4f\n", sgemm_times[0]);
	printf("batch_sgemm_only_seconds_median\t%.4f\n", sgemm_median);
	printf("batch_sgemm_only_gflops_best\t%.2f\n", flops / sgemm_times[0] * 1e-9);
	printf("user_factor_sum\t%.9g\n", user_sum);
	printf("course_factor_sum\t%.9g\n", item_sum);
	free(index);
	free(score);
	free(count);
	free(S);
	free(times);
	free(sgemm_times);
}

static void
write_recommendations(const char *path, scorers *sc, const kp_csr *user_items,
					  const kp_idmap *users, const kp_idmap *items,
					  const float *user_factors, const float *item_factors,
					  int32_t f)
{
	FILE	   *out = fopen(path, "w");
	int32_t		best[TOP_N];
	float		best_score[TOP_N];
	int32_t		u;

	if (!out)
		die("cannot write", path);
	for (u = 0; u < user_items->n_rows; u++)
	{
		int32_t		n_best = top_pruned(sc, user_items, user_factors, item_factors, f, u,
										best, best_score);
		int32_t		rank;

		for (rank = 0; rank < n_best; rank++)
			fprintf(out, "%lld\t%lld\t%d\n", (long long) users->ids[u],
					(long long) items->ids[best[rank]], rank + 1);
	}
	if (fclose(out) != 0)
		die("cannot write", path);
}

int
main(int argc, char **argv)
{
	kp_ials_params params;
	const char *train_path = NULL;
	const char *out_path = NULL;
	int			threads = 1;
	int			use_values = 0;
	int			compare = 0;
	int			batch = 0;
	int			peak = 0;
	int			peak_size = 4096;
	int			repeat = 3;
	scorers		sc;
	const char *problem;
	triples		t;
	kp_idmap	users;
	kp_idmap	items;
	int32_t    *rows;
	int32_t    *cols;
	kp_csr		user_items;
	kp_csr		item_users;
	float	   *user_factors;
	float	   *item_factors;
	double		start;
	double		fit_seconds;
	int64_t		k;
	int			i;

	kp_ials_default_params(&params);
	for (i = 1; i < argc; i++)
	{
		const char *arg = argv[i];

		if (strcmp(arg, "--factors") == 0)
			params.factors = atoi(option_value(argc, argv, &i));
		else if (strcmp(arg, "--iterations") == 0)
			params.iterations = atoi(option_value(argc, argv, &i));
		else if (strcmp(arg, "--regularization") == 0)
			params.regularization = strtof(option_value(argc, argv, &i), NULL);
		else if (strcmp(arg, "--alpha") == 0)
			params.alpha = strtof(option_value(argc, argv, &i), NULL);
		else if (strcmp(arg, "--cg-steps") == 0)
			params.cg_steps = atoi(option_value(argc, argv, &i));
		else if (strcmp(arg, "--seed") == 0)
			params.seed = strtoull(option_value(argc, argv, &i), NULL, 10);
		else if (strcmp(arg, "--threads") == 0)
			threads = atoi(option_value(argc, argv, &i));
		else if (strcmp(arg, "--out") == 0)
			out_path = option_value(argc, argv, &i);
		else if (strcmp(arg, "--use-values") == 0)
			use_values = 1;
		else if (strcmp(arg, "--compare-scorers") == 0)
			compare = 1;
		else if (strcmp(arg, "--batch-topk") == 0)
			batch = 1;
		else if (strcmp(arg, "--sgemm-peak") == 0)
			peak = 1;
		else if (strcmp(arg, "--size") == 0)
			peak_size = atoi(option_value(argc, argv, &i));
		else if (strcmp(arg, "--repeat") == 0)
			repeat = atoi(option_value(argc, argv, &i));
		else if (strcmp(arg, "--solver") == 0)
		{
			const char *solver = option_value(argc, argv, &i);

			if (strcmp(solver, "cg") == 0)
				params.solver = KP_SOLVER_CG;
			else if (strcmp(solver, "cholesky") == 0)
				params.solver = KP_SOLVER_CHOLESKY;
			else
				die("solver must be cg or cholesky", NULL);
		}
		else if (arg[0] == '-' || train_path)
			die("unexpected argument", arg);
		else
			train_path = arg;
	}
	if (repeat < 1)
		die("repeat must be at least 1", NULL);
	if (threads < 1)
		die("threads must be at least 1", NULL);
	if (peak)
	{
		if (train_path || out_path || batch || compare)
			die("--sgemm-peak takes no data and no other mode", NULL);
		if (peak_size < 1 || peak_size > 32768)
			die("size must be between 1 and 32768", NULL);
		return sgemm_peak(peak_size, repeat, threads);
	}
	if (!train_path || (!out_path && !batch && !compare))
		die("usage: kpreco_cli TRAIN.tsv --out RECS.tsv | --batch-topk [options]; kpreco_cli --sgemm-peak", NULL);
	problem = kp_ials_check_params(&params);
	if (problem)
		die(problem, NULL);
	openblas_set_num_threads(threads);

	read_tsv(train_path, &t);
	rows = xrealloc(NULL, (size_t) t.count * sizeof(int32_t));
	cols = xrealloc(NULL, (size_t) t.count * sizeof(int32_t));
	map_ids(&users, t.users, t.count, rows);
	map_ids(&items, t.items, t.count, cols);
	if (!use_values)
	{
		for (k = 0; k < t.count; k++)
			t.values[k] = 1.0f;
	}
	check(kp_csr_from_coo(&kp_malloc_allocator, users.count, items.count, t.count,
						  rows, cols, t.values, &user_items, NULL, NULL), "building the matrix");
	if (!use_values)
	{
		/* duplicates were summed: binarise again */
		for (k = 0; k < user_items.nnz; k++)
			user_items.values[k] = 1.0f;
	}
	free(rows);
	free(cols);
	fprintf(stderr, "%d users, %d items, %lld interactions\n",
			user_items.n_rows, user_items.n_cols, (long long) user_items.nnz);

	user_factors = xrealloc(NULL, (size_t) users.count * params.factors * sizeof(float) + 1);
	item_factors = xrealloc(NULL, (size_t) items.count * params.factors * sizeof(float) + 1);

	start = now_seconds();
	check(kp_csr_transpose(&kp_malloc_allocator, &user_items, &item_users, NULL, NULL), "transpose");
	check(kp_ials_train(&kp_malloc_allocator, &user_items, &item_users, &params,
						user_factors, item_factors, NULL, NULL, NULL, NULL),
		  "training");
	fit_seconds = now_seconds() - start;
	fprintf(stderr, "fit %.3f s (%d factors, %d iterations, %s, %d thread%s)\n",
			fit_seconds, params.factors, params.iterations,
			params.solver == KP_SOLVER_CG ? "cg" : "cholesky",
			threads, threads == 1 ? "" : "s");

	check(kp_qmatrix_build(&kp_malloc_allocator, item_factors, items.count, params.factors,
						   &sc.items_q, NULL, NULL), "quantising item factors");
	check(kp_score_scratch_init(&kp_malloc_allocator, items.count, params.factors, &sc.scratch), "scratch");
	sc.scores = xrealloc(NULL, (size_t) items.count * sizeof(float) + 1);
	if (compare)
		compare_scorers(&sc, &user_items, user_factors, item_factors, params.factors);
	if (batch)
		batch_topk(&user_items, user_factors, item_factors, params.factors, repeat);
	if (out_path)
	{
		start = now_seconds();
		write_recommendations(out_path, &sc, &user_items, &users, &items,
							  user_factors, item_factors, params.factors);
		fprintf(stderr, "recommend %.3f s\n", now_seconds() - start);
	}
	kp_qmatrix_free(&kp_malloc_allocator, &sc.items_q);
	kp_score_scratch_free(&kp_malloc_allocator, &sc.scratch);
	free(sc.scores);

	kp_csr_free(&kp_malloc_allocator, &user_items);
	kp_csr_free(&kp_malloc_allocator, &item_users);
	kp_idmap_free(&users);
	kp_idmap_free(&items);
	free(user_factors);
	free(item_factors);
	free(t.users);
	free(t.items);
	free(t.values);
	return 0;
}
