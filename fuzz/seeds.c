/*
 * seeds.c -- writes the seed corpora of the fuzz targets (make fuzz-corpus):
 *
 *   fuzz/bin/seeds fuzz/corpus
 *
 * fuzz_model: valid models (empty, small, across a 16-row scoring block,
 * extreme factors, one trained by kp_ials_train), raw and as base64;
 * fuzz_options: option objects; fuzz_interactions: interaction streams.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kp_ials.h"
#include "kp_model.h"
#include "kp_neighbours.h"
#include "kp_sparse.h"

static const char *corpus_dir;

static void
write_seed(const char *target, const char *name, const void *data, size_t size)
{
	char		path[1024];
	FILE	   *file;

	snprintf(path, sizeof(path), "%s/%s", corpus_dir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
	{
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", corpus_dir, target, name);
	file = fopen(path, "wb");
	if (file == NULL || fwrite(data, 1, size, file) != size || fclose(file) != 0)
	{
		perror(path);
		exit(1);
	}
}

/* xorshift64*, so the corpus is the same on every run */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Du;
}

/*
 * Writes a model both raw and as base64.  The first byte is fuzz_model's
 * mode: 2 = raw with the checksum recomputed, 3 = base64 likewise, plus k.
 */
static void
write_model_seeds(const char *name, const kp_model *m, unsigned k)
{
	size_t		size = kp_model_bytes(m);
	unsigned char *buf = malloc(size + 8);
	char	   *text = malloc(kp_base64_encoded_len(size) + 1);
	char		seed_name[256];

	if (size == 0 || buf == NULL || text == NULL ||
		kp_model_write(m, buf + 8, size, NULL, NULL) != KP_OK)
	{
		fprintf(stderr, "cannot write model %s\n", name);
		exit(1);
	}
	buf[7] = (unsigned char) (2 | (k << 2));
	snprintf(seed_name, sizeof(seed_name), "model-%s.raw", name);
	write_seed("fuzz_model", seed_name, buf + 7, size + 1);
	text[0] = (char) (3 | (k << 2));
	kp_base64_encode(buf + 8, size, text + 1, NULL, NULL);
	snprintf(seed_name, sizeof(seed_name), "model-%s.b64", name);
	write_seed("fuzz_model", seed_name, text, kp_base64_encoded_len(size) + 1);
	free(buf);
	free(text);
}

/* A model with the given shape; value(i) gives the i-th factor. */
static void
synthetic_model(const char *name, int32_t n_users, int32_t n_items, int32_t factors,
				float (*value) (size_t), unsigned k)
{
	static const char options[] = "{\"algorithm\": \"ials\", \"factors\": 2}";
	kp_model	m;
	int64_t    *user_ids = malloc(((size_t) n_users + 1) * sizeof(int64_t));
	int64_t    *item_ids = malloc(((size_t) n_items + 1) * sizeof(int64_t));
	float	   *user_factors = malloc(((size_t) n_users * factors + 1) * sizeof(float));
	float	   *item_factors = malloc(((size_t) n_items * factors + 1) * sizeof(float));
	int64_t    *seen_indptr = malloc(((size_t) n_users + 1) * sizeof(int64_t));
	int32_t    *seen_items = malloc(((size_t) n_users * n_items + 1) * sizeof(int32_t));
	int64_t		nnz = 0;
	int32_t		u;
	int32_t		i;
	size_t		j;

	for (u = 0; u < n_users; u++)
		user_ids[u] = (int64_t) u * 1000 - 500;
	for (i = 0; i < n_items; i++)
		item_ids[i] = i == 0 ? INT64_MIN : (int64_t) i * 7;
	for (j = 0; j < (size_t) n_users * factors; j++)
		user_factors[j] = value(j);
	for (j = 0; j < (size_t) n_items * factors; j++)
		item_factors[j] = value(j + 1000);
	seen_indptr[0] = 0;
	for (u = 0; u < n_users; u++)
	{
		for (i = 0; i < n_items; i++)
			if ((rng_next() & 3) == 0)
				seen_items[nnz++] = i;
		seen_indptr[u + 1] = nnz;
	}

	memset(&m, 0, sizeof(m));
	m.algorithm = KP_ALGO_IALS;
	m.n_users = n_users;
	m.n_items = n_items;
	m.factors = factors;
	m.options_len = sizeof(options) - 1;
	m.nnz = nnz;
	m.rows_read = nnz + 3;
	m.rows_skipped = 1;
	m.options_json = options;
	m.user_ids = user_ids;
	m.item_ids = item_ids;
	m.user_factors = user_factors;
	m.item_factors = item_factors;
	m.seen_indptr = seen_indptr;
	m.seen_items = seen_items;
	write_model_seeds(name, &m, k);
	free(user_ids);
	free(item_ids);
	free(user_factors);
	free(item_factors);
	free(seen_indptr);
	free(seen_items);
}

static float
small_value(size_t i)
{
	return (float) ((int) (rng_next() % 2001) - 1000) / 1000.0f;
}

/* The largest magnitude a model may hold, zeros, subnormals and near-ties. */
static float
extreme_value(size_t i)
{
	static const float values[] = {1e15f, -1e15f, 0.0f, -0.0f, 1e-40f, -1e-45f, 1.0f, 1.0000001f,
	1e-30f, 3.4e-38f};

	return values[(i * 7 + 3) % (sizeof(values) / sizeof(values[0]))];
}

static float
tied_value(size_t i)
{
	return (i % 3 == 0) ? 0.5f : 0.25f;
}

/* A model as training makes it: interactions, kp_ials_train, seen items. */
static void
trained_model(void)
{
	enum
	{
		n_users = 9, n_items = 20, factors = 3, n = 40
	};
	static const char options[] =
		"{\"algorithm\": \"ials\", \"factors\": 3, \"iterations\": 3, \"regularization\": 0.01, "
		"\"alpha\": 1, \"solver\": \"cg\", \"cg_steps\": 3, \"seed\": 42}";
	int32_t		rows[n];
	int32_t		cols[n];
	float		vals[n];
	int64_t		user_ids[n_users];
	int64_t		item_ids[n_items];
	float		user_factors[n_users * factors];
	float		item_factors[n_items * factors];
	float		unit[n_users * factors];
	int32_t		lists[n_users * 3];
	kp_csr		user_items;
	kp_csr		item_users;
	kp_ials_params params;
	kp_model	m;
	int			k;

	for (k = 0; k < n; k++)
	{
		rows[k] = (int32_t) (rng_next() % n_users);
		cols[k] = (int32_t) ((rng_next() % n_items) * (rng_next() % 2));
		vals[k] = (float) (1 + rng_next() % 5);
	}
	for (k = 0; k < n_users; k++)
		user_ids[k] = 100 + k;
	for (k = 0; k < n_items; k++)
		item_ids[k] = 5000 + 3 * k;
	kp_ials_default_params(&params);
	params.factors = factors;
	params.iterations = 3;
	if (kp_csr_from_coo(&kp_malloc_allocator, n_users, n_items, n, rows, cols, vals, &user_items, NULL, NULL) != KP_OK ||
		kp_csr_transpose(&kp_malloc_allocator, &user_items, &item_users, NULL, NULL) != KP_OK ||
		kp_ials_train(&kp_malloc_allocator, &user_items, &item_users, &params, user_factors,
					  item_factors, NULL, NULL, NULL, NULL) != KP_OK)
	{
		fprintf(stderr, "cannot train the seed model\n");
		exit(1);
	}
	memset(&m, 0, sizeof(m));
	m.algorithm = KP_ALGO_IALS;
	m.n_users = n_users;
	m.n_items = n_items;
	m.factors = factors;
	m.options_len = sizeof(options) - 1;
	m.nnz = user_items.nnz;
	m.rows_read = n;
	m.options_json = options;
	m.user_ids = user_ids;
	m.item_ids = item_ids;
	m.user_factors = user_factors;
	m.item_factors = item_factors;
	m.seen_indptr = user_items.indptr;
	m.seen_items = user_items.indices;
	write_model_seeds("trained", &m, 4);
	/* the same model with 3 neighbours per user: format 3 */
	kp_unit_rows(user_factors, n_users, factors, unit);
	if (kp_neighbours_build(&kp_malloc_allocator, unit, n_users, factors, 3, lists,
							&m.neighbours_floor, NULL, NULL) != KP_OK)
	{
		fprintf(stderr, "cannot build the seed neighbour lists\n");
		exit(1);
	}
	m.neighbours_per_user = 3;
	m.neighbours = lists;
	write_model_seeds("neighbours", &m, 5);
	kp_csr_free(&kp_malloc_allocator, &user_items);
	kp_csr_free(&kp_malloc_allocator, &item_users);
}

static void
model_seeds(void)
{
	synthetic_model("no-users", 0, 1, 1, small_value, 0);
	synthetic_model("small", 3, 4, 2, small_value, 1);
	synthetic_model("two-blocks", 5, 17, 3, small_value, 15);
	synthetic_model("extreme", 4, 33, 5, extreme_value, 6);
	synthetic_model("ties", 3, 18, 2, tied_value, 3);
	trained_model();
}

/* One small model of each algorithm of format 2, in the layout kp_model.h gives. */
static void
format_2_models(void)
{
	static const struct
	{
		const char *name;
		uint32_t	algorithm;
		const char *options;
	}			models[] = {
		{"bpr", KP_ALGO_BPR, "{\"algorithm\": \"bpr\", \"factors\": 2, \"epochs\": 3}"},
		{"als", KP_ALGO_ALS, "{\"algorithm\": \"als\", \"factors\": 1}"},
		{"popular", KP_ALGO_POPULAR, "{\"algorithm\": \"popular\"}"},
		{"ease", KP_ALGO_EASE, "{\"algorithm\": \"ease\", \"regularization\": 200}"},
	};
	int64_t		user_ids[] = {-3, 5, 8, 1000};
	int64_t		item_ids[] = {1, 2, 30, 400, 5000};
	int64_t		seen_indptr[] = {0, 2, 3, 3, 6};
	int32_t		seen_items[] = {0, 3, 1, 0, 2, 4};
	float		factors[5 * 5];
	size_t		i;
	size_t		j;
	char		name[64];

	for (j = 0; j < sizeof(factors) / sizeof(factors[0]); j++)
		factors[j] = (float) ((int) (j * 7 % 11) - 5) / 4.0f;
	for (i = 0; i < sizeof(models) / sizeof(models[0]); i++)
	{
		kp_model	m;

		memset(&m, 0, sizeof(m));
		m.algorithm = models[i].algorithm;
		m.n_users = 4;
		m.n_items = 5;
		m.factors = models[i].algorithm == KP_ALGO_EASE ? 5 :
			models[i].algorithm == KP_ALGO_POPULAR ? 1 :
			models[i].algorithm == KP_ALGO_ALS ? 3 : 3;
		m.options_json = models[i].options;
		m.options_len = (uint32_t) strlen(models[i].options);
		m.nnz = 6;
		m.rows_read = 6;
		m.user_ids = user_ids;
		m.item_ids = item_ids;
		m.user_factors = factors;
		m.item_factors = factors;
		m.seen_indptr = seen_indptr;
		m.seen_items = seen_items;
		snprintf(name, sizeof(name), "format2-%s", models[i].name);
		write_model_seeds(name, &m, 1);
	}
}

static void
option_seeds(void)
{
	static const char *const seeds[][2] = {
		{"empty", "{}"},
		{"every-key", "{\"algorithm\": \"ials\", \"factors\": 8, \"iterations\": 20, \"regularization\": 0.1, "
		"\"alpha\": 5, \"solver\": \"cholesky\", \"cg_steps\": 7, \"seed\": 9223372036854775807, "
		"\"user_column\": \"member_id\", \"course_column\": \"product_id\", \"weight_column\": \"w\", "
		"\"keep_versions\": 10, \"verbose\": true}"},
		{"numbers", "{\"factors\": 6.4e1, \"iterations\": -0, \"alpha\": 1E-3, \"regularization\": 0.0000001e+2}"},
		{"escapes", "{\"f\\u0061ctors\": 3, \"user_column\": \"\\u00e9\\uD83D\\uDE00\\\"\\\\\\/\\b\\f\\n\\r\\t\"}"},
		{"duplicates", "{\"factors\": \"x\", \"factors\": 5, \"verbose\": false, \"verbose\": true}"},
		{"nested", "{\"x\": [1, {\"y\": [true, false, null, \"z\"]}, [[[]]]], \"factors\": 2}"},
		{"nulls", "{\"user_column\": null, \"user_column\": \"u\", \"weight_column\": null}"},
		{"bad-type", "{\"factors\": \"64\", \"solver\": 1, \"verbose\": 1}"},
		{"not-object", "[{\"factors\": 64}]"},
		{"utf8", "{\"weight_column\": \"\xe6\x9d\x83\xe9\x87\x8d\", \"solver\": \"cg\"}"},
		{"jsonb-text", "{\"seed\": 7, \"alpha\": 5, \"solver\": \"cholesky\", \"factors\": 3, "
		"\"iterations\": 20, \"regularization\": 0.1}"},
		{"bpr", "{\"algorithm\": \"bpr\", \"factors\": 32, \"epochs\": 50, \"learning_rate\": 0.05, \"regularization\": 0.001}"},
		{"als", "{\"algorithm\": \"als\", \"missing_weight\": 0, \"iterations\": 10}"},
		{"ease", "{\"algorithm\": \"ease\", \"regularization\": 500}"},
		{"auto", "{\"algorithm\": \"auto\", \"keep_versions\": 2}"},
		{"similar-users", "{\"similar_users\": 20, \"algorithm\": \"bpr\", \"similar_users\": 100}"},
		{"not-applicable", "{\"algorithm\": \"popular\", \"alpha\": 2}"},
	};
	size_t		i;
	char		name[64];

	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
	{
		snprintf(name, sizeof(name), "options-%s.json", seeds[i][0]);
		write_seed("fuzz_options", name, seeds[i][1], strlen(seeds[i][1]));
	}
}

/* Record encoders of fuzz_interactions (see its header). */
static size_t
put_record(unsigned char *out, size_t at, int64_t user, int64_t course, int weight_index)
{
	out[at++] = 0;
	out[at++] = (unsigned char) (int8_t) user;
	out[at++] = (unsigned char) (int8_t) course;
	out[at++] = (unsigned char) weight_index;
	return at;
}

static size_t
put_raw_record(unsigned char *out, size_t at, int64_t user, int64_t course, float weight)
{
	out[at++] = 7;
	memcpy(out + at, &user, 8);
	memcpy(out + at + 8, &course, 8);
	memcpy(out + at + 16, &weight, 4);
	return at + 20;
}

static void
interaction_seeds(void)
{
	unsigned char buf[1024];
	size_t		n;
	int			u;
	int			c;

	/* two groups of users with their own courses, CG */
	n = 0;
	buf[n++] = 0x04;
	buf[n++] = 0;
	buf[n++] = 0;
	buf[n++] = 5;
	for (u = 1; u <= 6; u++)
		for (c = 1; c <= 7 - u; c++)
			n = put_record(buf, n, u, 20 + c, c % 3 == 0 ? 2 : 0);
	for (u = 7; u <= 12; u++)
		for (c = 1; c <= 13 - u; c++)
			n = put_record(buf, n, u, 40 + c, 4);
	write_seed("fuzz_interactions", "interactions-groups", buf, n);

	/* the same with Cholesky and 20 courses, so scoring spans two blocks */
	buf[0] = 0x01;
	buf[3] = 11;
	for (c = 0; c < 20; c++)
		n = put_record(buf, n, c % 5, -c, 0);
	write_seed("fuzz_interactions", "interactions-cholesky", buf, n);

	/* duplicates, zero weights, bigint ids, weights that sum past FLT_MAX */
	n = 0;
	buf[n++] = 0x18;
	buf[n++] = 0;
	buf[n++] = 0;
	buf[n++] = 2;
	n = put_record(buf, n, 1, 1, 1);
	n = put_record(buf, n, 1, 1, 1);
	n = put_record(buf, n, 2, 1, 6);
	n = put_raw_record(buf, n, INT64_MAX, INT64_MIN, 1.5f);
	n = put_raw_record(buf, n, INT64_MIN, INT64_MIN, 0.25f);
	n = put_raw_record(buf, n, -1, 4294967296, 3e38f);
	write_seed("fuzz_interactions", "interactions-edges", buf, n);
	n = put_raw_record(buf, n, -1, 4294967296, 3e38f);
	write_seed("fuzz_interactions", "interactions-overflow", buf, n);

	/* bad weights: negative, NaN */
	n = 0;
	buf[n++] = 0;
	buf[n++] = 0;
	buf[n++] = 0;
	buf[n++] = 1;
	n = put_record(buf, n, 1, 2, 0);
	n = put_raw_record(buf, n, 3, 4, -1.0f);
	n = put_raw_record(buf, n, 5, 6, nanf(""));
	write_seed("fuzz_interactions", "interactions-bad-weights", buf, n);

	/* failing allocations and cancellation */
	n = 0;
	buf[n++] = 0x40;
	buf[n++] = 9;
	buf[n++] = 2;
	buf[n++] = 3;
	for (c = 0; c < 12; c++)
		n = put_record(buf, n, c % 4, c % 6, c % 8);
	write_seed("fuzz_interactions", "interactions-failures", buf, n);
}

int
main(int argc, char **argv)
{
	if (argc != 2)
	{
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	corpus_dir = argv[1];
	if (mkdir(corpus_dir, 0755) != 0 && errno != EEXIST)
	{
		perror(corpus_dir);
		return 1;
	}
	model_seeds();
	format_2_models();
	option_seeds();
	interaction_seeds();
	return 0;
}
