/*
 * test_model_format.c -- the serialised model: round trip, rejection of
 * every truncation and bit flip, structural checks behind a valid checksum,
 * and base64.
 */
#include "kp_model.h"
#include "unit.h"

#include <string.h>

/* xorshift64*, so runs are reproducible */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Du;
}

static int
rng_below(int n)
{
	return (int) (rng_next() % (uint64_t) n);
}

/* A model's arrays, owned by the test. */
typedef struct test_model
{
	kp_model	m;
	char	   *options;
	int64_t    *user_ids;
	int64_t    *item_ids;
	float	   *user_factors;
	float	   *item_factors;
	int64_t    *seen_indptr;
	int32_t    *seen_items;
} test_model;

static char *
copy_bytes(const char *src, size_t n)
{
	char	   *dst = malloc(n + 1);

	memcpy(dst, src, n);
	return dst;
}

static void
make_model(test_model *t, int n_users, int n_items, int factors, const char *options)
{
	int			u,
				i;
	int64_t		id = -1000;
	int64_t		nnz = 0;

	memset(t, 0, sizeof(*t));
	t->options = copy_bytes(options, strlen(options));
	t->user_ids = malloc(sizeof(int64_t) * (n_users + 1));
	t->item_ids = malloc(sizeof(int64_t) * (n_items + 1));
	t->user_factors = malloc(sizeof(float) * (n_users * factors + 1));
	t->item_factors = malloc(sizeof(float) * (n_items * factors + 1));
	t->seen_indptr = malloc(sizeof(int64_t) * (n_users + 1));
	t->seen_items = malloc(sizeof(int32_t) * ((size_t) n_users * n_items + 1));

	for (u = 0; u < n_users; u++)
		t->user_ids[u] = (id += 1 + rng_below(1000));
	for (i = 0; i < n_items; i++)
		t->item_ids[i] = (id += 1 + rng_below(1000));
	for (i = 0; i < n_users * factors; i++)
		t->user_factors[i] = (float) (rng_below(20001) - 10000) / 1000.0f;
	for (i = 0; i < n_items * factors; i++)
		t->item_factors[i] = (float) (rng_below(20001) - 10000) / 1000.0f;
	t->seen_indptr[0] = 0;
	for (u = 0; u < n_users; u++)
	{
		for (i = 0; i < n_items; i++)
			if (rng_below(4) == 0)
				t->seen_items[nnz++] = i;
		t->seen_indptr[u + 1] = nnz;
	}

	t->m.format_version = 1;
	t->m.algorithm = KP_ALGO_IALS;
	t->m.n_users = n_users;
	t->m.n_items = n_items;
	t->m.factors = factors;
	t->m.options_len = (uint32_t) strlen(options);
	t->m.nnz = nnz;
	t->m.rows_read = nnz + 7;
	t->m.rows_skipped = 3;
	t->m.options_json = t->options;
	t->m.user_ids = t->user_ids;
	t->m.item_ids = t->item_ids;
	t->m.user_factors = t->user_factors;
	t->m.item_factors = t->item_factors;
	t->m.seen_indptr = t->seen_indptr;
	t->m.seen_items = t->seen_items;
}

static void
free_model(test_model *t)
{
	free(t->options);
	free(t->user_ids);
	free(t->item_ids);
	free(t->user_factors);
	free(t->item_factors);
	free(t->seen_indptr);
	free(t->seen_items);
}

/* Serialises t->m into a fresh malloc'd (so 8-byte aligned) buffer. */
static unsigned char *
write_model(const test_model *t, size_t *size)
{
	unsigned char *buf;

	*size = kp_model_bytes(&t->m);
	if (*size == 0)
		return NULL;
	buf = malloc(*size);
	if (kp_model_write(&t->m, buf, *size, NULL, NULL) != KP_OK)
	{
		free(buf);
		return NULL;
	}
	return buf;
}

/* Recomputes the checksum as the format defines it (see kp_model.h). */
static void
reseal(unsigned char *buf, size_t size)
{
	uint64_t	h = kp_checksum(0, buf + 4, 52);

	h = kp_checksum(h, buf + 64, size - 64);
	memcpy(buf + 56, &h, 8);
}

static int
same_model(const kp_model *a, const kp_model *b)
{
	size_t		nuf = (size_t) a->n_users * a->factors;
	size_t		nif = (size_t) a->n_items * a->factors;

	return a->format_version == b->format_version &&
		a->algorithm == b->algorithm &&
		a->n_users == b->n_users &&
		a->n_items == b->n_items &&
		a->factors == b->factors &&
		a->options_len == b->options_len &&
		a->nnz == b->nnz &&
		a->rows_read == b->rows_read &&
		a->rows_skipped == b->rows_skipped &&
		memcmp(a->options_json, b->options_json, a->options_len) == 0 &&
		memcmp(a->user_ids, b->user_ids, sizeof(int64_t) * a->n_users) == 0 &&
		memcmp(a->item_ids, b->item_ids, sizeof(int64_t) * a->n_items) == 0 &&
		memcmp(a->user_factors, b->user_factors, sizeof(float) * nuf) == 0 &&
		memcmp(a->item_factors, b->item_factors, sizeof(float) * nif) == 0 &&
		memcmp(a->seen_indptr, b->seen_indptr, sizeof(int64_t) * (a->n_users + 1)) == 0 &&
		memcmp(a->seen_items, b->seen_items, sizeof(int32_t) * a->nnz) == 0 &&
		a->neighbours_per_user == b->neighbours_per_user &&
		(a->neighbours_per_user == 0 ||
		 memcmp(a->neighbours, b->neighbours,
				sizeof(int32_t) * a->n_users * a->neighbours_per_user) == 0);
}

/* Reads buf; true if rejected with a message containing expect. */
static int
rejected_with(const unsigned char *buf, size_t size, const char *expect)
{
	kp_model	m;
	char		err[256] = "";

	if (kp_model_read(buf, size, &m, err, sizeof(err), NULL, NULL) != KP_EINVAL)
		return 0;
	if (strstr(err, expect) == NULL)
	{
		printf("# message was: %s\n", err);
		return 0;
	}
	return 1;
}

static void
test_round_trip(void)
{
	int			round;

	for (round = 0; round < 20; round++)
	{
		test_model t;
		kp_model	back;
		size_t		size;
		unsigned char *buf;
		char		err[256] = "";
		int			n_users = round == 0 ? 0 : rng_below(30);
		int			n_items = 1 + rng_below(30);
		int			factors = 1 + rng_below(9);

		make_model(&t, n_users, n_items, factors,
				   round % 3 == 0 ? "" : "{\"factors\": 8, \"alpha\": 40}");
		buf = write_model(&t, &size);
		unit_ok(buf != NULL && size % 8 == 0, "round %d: written, %zu bytes", round, size);
		if (buf == NULL)
			continue;
		unit_ok(kp_model_read(buf, size, &back, err, sizeof(err), NULL, NULL) == KP_OK &&
				same_model(&t.m, &back) &&
				(const unsigned char *) back.options_json >= buf &&
				(const unsigned char *) back.seen_items <= buf + size,
				"round %d: %d users, %d items, %d factors, %lld pairs read back %s",
				round, n_users, n_items, factors, (long long) t.m.nnz, err);
		free(buf);
		free_model(&t);
	}
}

static void
test_write(void)
{
	test_model t;
	size_t		size;
	unsigned char *buf;
	unsigned char *raw;
	kp_model	back;
	kp_model	m;
	char		err[256] = "";

	make_model(&t, 5, 4, 3, "{}");
	size = kp_model_bytes(&t.m);
	buf = malloc(size + 8);
	memset(buf, 0xAB, size);
	unit_ok(kp_model_write(&t.m, buf, size, NULL, NULL) == KP_OK &&
			buf[0] == 0xAB && buf[1] == 0xAB && buf[2] == 0xAB && buf[3] == 0xAB,
			"write leaves bytes 0..3 alone");
	memset(buf, 0x5C, 4);
	unit_ok(kp_model_read(buf, size, &back, err, sizeof(err), NULL, NULL) == KP_OK,
			"read ignores bytes 0..3");
	unit_ok(memcmp(buf + 4, "KPRM", 4) == 0 && buf[8] == 1 &&
			buf[16] == 5 && buf[17] == 0 && buf[20] == 4 && buf[24] == 3,
			"header is little-endian with magic \"KPRM\"");
	unit_ok(buf[64] == '{' && buf[65] == '}' && buf[66] == 0 && buf[71] == 0,
			"options are zero-padded to 8");
	unit_ok(kp_model_write(&t.m, buf, size + 8, NULL, NULL) == KP_EINVAL &&
			kp_model_write(&t.m, buf, size - 8, NULL, NULL) == KP_EINVAL,
			"write refuses a buffer of the wrong size");
	raw = malloc(size + 8);
	unit_ok(kp_model_write(&t.m, raw + 4, size, NULL, NULL) == KP_EINVAL,
			"write refuses a misaligned buffer");

	m = t.m;
	m.algorithm = 99;
	unit_ok(kp_model_write(&m, buf, size, NULL, NULL) == KP_EINVAL, "write refuses an unknown algorithm");
	m = t.m;
	m.rows_read = m.nnz - 1;
	unit_ok(kp_model_write(&m, buf, size, NULL, NULL) == KP_EINVAL, "write refuses rows_read < nnz");

	free(raw);
	free(buf);
	free_model(&t);
}

static void
test_model_bytes(void)
{
	kp_model	m;
	kp_model	big;

	memset(&m, 0, sizeof(m));
	m.n_users = 3;
	m.n_items = 5;
	m.factors = 3;
	m.options_len = 10;
	m.nnz = 7;
	/* 64 + 16 + 24 + 40 + 40 (36 padded) + 64 (60 padded) + 32 + 32 (28 padded) */
	unit_ok(kp_model_bytes(&m) == 312, "kp_model_bytes pads every section to 8 (%zu)",
			kp_model_bytes(&m));

	big = m;
	big.n_users = -1;
	unit_ok(kp_model_bytes(&big) == 0, "negative n_users gives 0");
	big = m;
	big.n_items = -1;
	unit_ok(kp_model_bytes(&big) == 0, "negative n_items gives 0");
	big = m;
	big.nnz = -1;
	unit_ok(kp_model_bytes(&big) == 0, "negative nnz gives 0");
	big = m;
	big.factors = 0;
	unit_ok(kp_model_bytes(&big) == 0, "0 factors gives 0");
	big.factors = 1025;
	unit_ok(kp_model_bytes(&big) == 0, "1025 factors gives 0");
	big.factors = 1024;
	unit_ok(kp_model_bytes(&big) != 0, "1024 factors is allowed");
	big = m;
	big.options_len = KP_MODEL_MAX_OPTIONS_BYTES + 1;
	unit_ok(kp_model_bytes(&big) == 0, "options longer than the limit give 0");
	big.options_len = KP_MODEL_MAX_OPTIONS_BYTES;
	unit_ok(kp_model_bytes(&big) != 0, "options at the limit are allowed");
	big = m;
	big.n_users = INT32_MAX;
	big.factors = 1024;
	unit_ok(kp_model_bytes(&big) == 0, "INT32_MAX users x 1024 factors gives 0");
	big = m;
	big.nnz = INT64_MAX;
	unit_ok(kp_model_bytes(&big) == 0, "INT64_MAX pairs gives 0");
	big = m;
	big.nnz = (int64_t) (KP_MODEL_MAX_BYTES / 4);
	unit_ok(kp_model_bytes(&big) == 0, "a model just over 1 GB gives 0");
}

static void
test_truncation_and_bit_flips(void)
{
	test_model t;
	size_t		size;
	size_t		len;
	size_t		bit;
	unsigned char *buf;
	unsigned char *copy;
	kp_model	m;
	int			accepted = 0;
	int			ignored_ok = 1;

	make_model(&t, 25, 20, 6, "{\"factors\": 6, \"regularization\": 0.01}");
	buf = write_model(&t, &size);
	copy = malloc(size);
	unit_ok(size > 1500 && size < 5000, "small model has %zu bytes", size);

	for (len = 0; len < size; len++)
	{
		memcpy(copy, buf, len);
		if (kp_model_read(copy, len, &m, NULL, 0, NULL, NULL) != KP_EINVAL)
			accepted++;
	}
	unit_ok(accepted == 0, "every truncation (0..%zu bytes) is rejected", size - 1);

	accepted = 0;
	memcpy(copy, buf, size);
	for (bit = 0; bit < size * 8; bit++)
	{
		kp_status	status;

		copy[bit / 8] ^= (unsigned char) (1u << (bit % 8));
		status = kp_model_read(copy, size, &m, NULL, 0, NULL, NULL);
		copy[bit / 8] ^= (unsigned char) (1u << (bit % 8));
		if (bit < 32)
			ignored_ok &= status == KP_OK;
		else if (status != KP_EINVAL)
		{
			printf("# flip of bit %zu accepted\n", bit);
			accepted++;
		}
	}
	unit_ok(accepted == 0, "every single-bit flip of bytes 4..%zu is rejected", size - 1);
	unit_ok(ignored_ok, "bit flips in the reserved bytes 0..3 are ignored");

	free(copy);
	free(buf);
	free_model(&t);
}

static void
test_header_checks(void)
{
	test_model t;
	size_t		size;
	unsigned char *buf;
	unsigned char *copy;
	unsigned char *raw;
	kp_model	m;
	char		err[256];
	static const char *const newer =
	"model format version 4 is newer than this kpreco supports (3); retrain the model or upgrade kpreco";

	make_model(&t, 6, 5, 2, "{}");
	buf = write_model(&t, &size);
	copy = malloc(size);

#define RESET() memcpy(copy, buf, size)

	RESET();
	copy[8] = 4;
	unit_ok(kp_model_read(copy, size, &m, err, sizeof(err), NULL, NULL) == KP_EINVAL &&
			strcmp(err, newer) == 0, "newer version: %s", err);
	RESET();
	copy[8] = 0;
	unit_ok(rejected_with(copy, size, "unknown model format version 0"), "version 0 is unknown");

	RESET();
	memcpy(copy + 4, "PNG\0", 4);
	unit_ok(rejected_with(copy, size, "not a kpreco model"), "bad magic");
	RESET();
	memcpy(copy + 4, "MRPK", 4);
	unit_ok(rejected_with(copy, size, "big-endian"), "byte-swapped magic is named as such");

	RESET();
	copy[12] = 7;
	unit_ok(rejected_with(copy, size, "unknown model algorithm 7"), "unknown algorithm");
	RESET();
	copy[19] = 0x80;
	unit_ok(rejected_with(copy, size, "negative user count"), "negative n_users");
	RESET();
	memset(copy + 20, 0, 4);
	unit_ok(rejected_with(copy, size, "item count of 0"), "zero n_items");
	RESET();
	copy[24] = 0;
	unit_ok(rejected_with(copy, size, "0 factors"), "zero factors");
	RESET();
	copy[24] = 1;
	copy[25] = 4;
	unit_ok(rejected_with(copy, size, "1025 factors"), "1025 factors");
	RESET();
	copy[30] = 2;
	unit_ok(rejected_with(copy, size, "more than the limit"), "options too long");
	RESET();
	copy[39] = 0x80;
	unit_ok(rejected_with(copy, size, "negative training pair count"), "negative nnz");
	RESET();
	memset(copy + 40, 0, 8);
	unit_ok(rejected_with(copy, size, "rows_read (0) is less than"), "rows_read < nnz");
	RESET();
	copy[55] = 0x80;
	unit_ok(rejected_with(copy, size, "rows_skipped is negative"), "negative rows_skipped");
	RESET();
	copy[22] = 1;
	unit_ok(rejected_with(copy, size, "size mismatch"), "sizes that do not add up");
	RESET();
	memset(copy + 16, 0xFF, 3);
	copy[19] = 0x7F;
	copy[24] = 0;
	copy[25] = 4;
	unit_ok(rejected_with(copy, size, "larger than the limit"), "a header describing > 1 GB");
	RESET();
	copy[57] ^= 1;
	unit_ok(rejected_with(copy, size, "model checksum mismatch: the value is damaged"),
			"checksum mismatch");
	unit_ok(rejected_with(buf, size + 8, "size mismatch"), "trailing bytes");
	unit_ok(rejected_with(buf, 10, "truncated"), "shorter than a header");

	raw = malloc(size + 8);
	memcpy(raw + 4, buf, size);
	unit_ok(rejected_with(raw + 4, size, "not 8-byte aligned"), "4-misaligned buffer");
	memcpy(raw + 1, buf, size);
	unit_ok(rejected_with(raw + 1, size, "not 8-byte aligned"), "1-misaligned buffer");

	/* header-only reads */
	memset(&m, 0x55, sizeof(m));
	unit_ok(kp_model_read_header(buf, 64, size, &m, err, sizeof(err)) == KP_OK &&
			m.n_users == 6 && m.n_items == 5 && m.factors == 2 && m.options_len == 2 &&
			m.nnz == t.m.nnz && m.rows_read == t.m.rows_read &&
			m.rows_skipped == 3 && m.algorithm == KP_ALGO_IALS &&
			m.user_ids == NULL && m.seen_items == NULL,
			"read_header fills the scalar fields");
	memcpy(raw + 1, buf, 64);
	unit_ok(kp_model_read_header(raw + 1, 64, size, &m, err, sizeof(err)) == KP_OK,
			"read_header needs neither alignment nor the arrays");
	unit_ok(kp_model_read_header(buf, 63, size, &m, err, sizeof(err)) == KP_EINVAL &&
			strstr(err, "truncated") != NULL, "read_header with 63 bytes: %s", err);
	unit_ok(kp_model_read_header(buf, 64, size - 8, &m, err, sizeof(err)) == KP_EINVAL &&
			strstr(err, "size mismatch") != NULL, "read_header with a wrong total: %s", err);
	RESET();
	copy[8] = 4;
	unit_ok(kp_model_read_header(copy, 64, size, &m, err, sizeof(err)) == KP_EINVAL &&
			strcmp(err, newer) == 0, "read_header reports a newer version");
	RESET();
	copy[60] ^= 1;
	unit_ok(kp_model_read_header(copy, 64, size, &m, err, sizeof(err)) == KP_OK,
			"read_header does not verify the checksum");

#undef RESET
	free(raw);
	free(copy);
	free(buf);
	free_model(&t);
}

/* Writes t (arrays possibly corrupted) and checks the reader's message. */
static int
written_rejected_with(const test_model *t, const char *expect)
{
	size_t		size;
	unsigned char *buf = write_model(t, &size);
	int			result = buf != NULL && rejected_with(buf, size, expect);

	free(buf);
	return result;
}

static void
test_structure_checks(void)
{
	test_model t;
	size_t		size;
	unsigned char *buf;
	kp_model	m;
	char		err[256];
	int			u;
	int			first_user_with_items = -1;
	float		saved;
	int64_t		saved_id;
	int64_t		saved_ptr;
	int32_t		saved_item;

	make_model(&t, 8, 6, 3, "{\"a\": 1}");
	for (u = 0; u < 8 && first_user_with_items < 0; u++)
		if (t.seen_indptr[u + 1] - t.seen_indptr[u] >= 2)
			first_user_with_items = u;
	unit_ok(first_user_with_items >= 0 && t.m.nnz >= 4, "test model has seen items");
	if (first_user_with_items < 0)
		return;

	saved = t.user_factors[5];
	t.user_factors[5] = NAN;
	unit_ok(written_rejected_with(&t, "model user factor row 1 has a non-finite value"),
			"NaN user factor");
	t.user_factors[5] = -INFINITY;
	unit_ok(written_rejected_with(&t, "model user factor row 1 has a non-finite value"),
			"-inf user factor");
	t.user_factors[5] = saved;
	saved = t.item_factors[17];
	t.item_factors[17] = INFINITY;
	unit_ok(written_rejected_with(&t, "model item factor row 5 has a non-finite value"),
			"inf item factor");
	t.item_factors[17] = -2e15f;
	unit_ok(written_rejected_with(&t, "model item factor row 5 has a value of magnitude"),
			"huge item factor");
	t.item_factors[17] = KP_MODEL_MAX_ABS_FACTOR;
	buf = write_model(&t, &size);
	unit_ok(kp_model_read(buf, size, &m, err, sizeof(err), NULL, NULL) == KP_OK,
			"a factor at the limit is allowed");
	free(buf);
	t.item_factors[17] = saved;

	saved_id = t.user_ids[3];
	t.user_ids[3] = t.user_ids[2];
	unit_ok(written_rejected_with(&t, "user_ids are not strictly ascending at user row 3"),
			"duplicate user id");
	t.user_ids[3] = t.user_ids[2] - 1;
	unit_ok(written_rejected_with(&t, "user_ids are not strictly ascending"),
			"descending user id");
	t.user_ids[3] = saved_id;
	saved_id = t.item_ids[5];
	t.item_ids[5] = INT64_MIN;
	unit_ok(written_rejected_with(&t, "item_ids are not strictly ascending at item row 5"),
			"unsorted item ids");
	t.item_ids[5] = saved_id;

	saved_ptr = t.seen_indptr[4];
	t.seen_indptr[0] = 1;
	unit_ok(written_rejected_with(&t, "seen_indptr starts at 1"), "indptr not starting at 0");
	t.seen_indptr[0] = 0;
	t.seen_indptr[8] = t.m.nnz - 1;
	unit_ok(written_rejected_with(&t, "seen_indptr ends at"), "indptr not ending at nnz");
	t.seen_indptr[8] = t.m.nnz;
	t.seen_indptr[4] = t.m.nnz + 100;
	unit_ok(written_rejected_with(&t, "exceeds the training pair count"),
			"indptr beyond nnz");
	t.seen_indptr[4] = -5;
	unit_ok(written_rejected_with(&t, "seen_indptr decreases at user row"),
			"decreasing indptr");
	t.seen_indptr[4] = INT64_MIN;
	unit_ok(written_rejected_with(&t, "seen_indptr decreases at user row"),
			"INT64_MIN in indptr");
	t.seen_indptr[4] = INT64_MAX;
	unit_ok(written_rejected_with(&t, "exceeds the training pair count"),
			"INT64_MAX in indptr");
	t.seen_indptr[4] = saved_ptr;

	u = first_user_with_items;
	saved_item = t.seen_items[t.seen_indptr[u]];
	t.seen_items[t.seen_indptr[u]] = 6;
	unit_ok(written_rejected_with(&t, "seen item 6 of user row"), "seen item == n_items");
	t.seen_items[t.seen_indptr[u]] = -1;
	unit_ok(written_rejected_with(&t, "seen item -1 of user row"), "negative seen item");
	t.seen_items[t.seen_indptr[u]] = t.seen_items[t.seen_indptr[u] + 1];
	unit_ok(written_rejected_with(&t, "seen items of user row"), "duplicate seen item");
	t.seen_items[t.seen_indptr[u]] = saved_item;

	free(t.options);
	t.options = copy_bytes("{\"a\":\0}", 7);
	t.m.options_json = t.options;
	t.m.options_len = 7;
	unit_ok(written_rejected_with(&t, "options contain a NUL byte"), "NUL in options");
	t.m.options_len = 5;

	buf = write_model(&t, &size);
	unit_ok(kp_model_read(buf, size, &m, err, sizeof(err), NULL, NULL) == KP_OK, "restored model reads");
	free(buf);
	free_model(&t);
}

/* Every padding byte must be zero, even behind a valid checksum. */
static void
test_padding(void)
{
	test_model t;
	kp_model	m;
	size_t		size;
	unsigned char *buf;
	unsigned char *pads[4];
	int			k;
	char		err[256] = "";

	/* 9 user floats, 15 item floats and 1 seen item all leave a 4-byte gap */
	make_model(&t, 3, 5, 3, "{}");
	t.seen_indptr[1] = t.seen_indptr[2] = t.seen_indptr[3] = 1;
	t.seen_items[0] = 2;
	t.m.nnz = 1;
	buf = write_model(&t, &size);
	unit_ok(kp_model_read(buf, size, &m, err, sizeof(err), NULL, NULL) == KP_OK,
			"model with padding in every section reads %s", err);
	pads[0] = (unsigned char *) m.options_json + 2;
	pads[1] = (unsigned char *) (m.user_factors + 9);
	pads[2] = (unsigned char *) (m.item_factors + 15);
	pads[3] = (unsigned char *) (m.seen_items + 1);
	for (k = 0; k < 4; k++)
	{
		unit_ok(pads[k][0] == 0 && pads[k][3] == 0, "padding %d is written as zeros", k);
		pads[k][3] = 0x20;
		reseal(buf, size);
		unit_ok(rejected_with(buf, size, "model has nonzero padding bytes"),
				"nonzero padding %d is rejected", k);
		pads[k][3] = 0;
	}
	free(buf);
	free_model(&t);
}

static void
test_checksum(void)
{
	unsigned char data[203];
	size_t		len;
	size_t		i;
	int			missed = 0;
	int			seed_missed = 0;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char) rng_next();
	for (len = 0; len <= sizeof(data); len += (len < 70 ? 1 : 19))
	{
		uint64_t	h = kp_checksum(0, data, len);

		for (i = 0; i < len * 8; i++)
		{
			data[i / 8] ^= (unsigned char) (1u << (i % 8));
			missed += kp_checksum(0, data, len) == h;
			data[i / 8] ^= (unsigned char) (1u << (i % 8));
		}
		seed_missed += kp_checksum(1, data, len) == h;
		if (len > 0)
			missed += kp_checksum(0, data, len - 1) == h;
	}
	unit_ok(missed == 0, "every bit flip and length change changes the checksum");
	unit_ok(seed_missed == 0, "the seed changes the checksum");
	unit_ok(kp_checksum(0, data, 16) == kp_checksum(0, data, 16), "checksum is deterministic");
}

/* The bytes kp_base64_decode writes, or -1 when it refuses the input. */
static int64_t
decoded_len(const char *src, size_t n, void *dst, size_t dst_cap)
{
	size_t		written;

	if (kp_base64_decode(src, n, dst, dst_cap, &written, NULL, NULL) != KP_OK)
		return -1;
	return (int64_t) written;
}

static void
test_base64(void)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	static const char *const garbage[] = {
		"Zg=", "Zg", "Z", "Z===", "====", "Zg==Zg==", "Zm9v!", "Zm9v\x80", "Zh==",
		"Zm9=", "=Zg=", "Zg=a", "Zm9vY", "Zm8==", "Zm-v", "Zm9v\0"
	};
	unsigned char src[300];
	char		enc[404];
	char		spaced[1000];
	unsigned char dec[310];
	int			k;
	int			ok = 1;
	int			len;

	for (k = 0; k < 7; k++)
	{
		size_t		n = strlen(plain[k]);
		int64_t		got;

		kp_base64_encode(plain[k], n, enc, NULL, NULL);
		got = decoded_len(coded[k], strlen(coded[k]), dec, sizeof(dec));
		unit_ok(kp_base64_encoded_len(n) == strlen(coded[k]) &&
				memcmp(enc, coded[k], strlen(coded[k])) == 0 &&
				got == (int64_t) n && memcmp(dec, plain[k], n) == 0,
				"RFC 4648 vector \"%s\" <-> \"%s\"", plain[k], coded[k]);
	}

	for (len = 0; len <= 300; len++)
	{
		size_t		elen = kp_base64_encoded_len((size_t) len);
		size_t		slen = 0;
		size_t		i;
		int			j;

		for (j = 0; j < len; j++)
			src[j] = (unsigned char) rng_next();
		memset(enc, '#', sizeof(enc));
		kp_base64_encode(src, (size_t) len, enc, NULL, NULL);
		ok &= enc[elen] == '#';
		ok &= decoded_len(enc, elen, dec, (size_t) len) == len &&
			memcmp(dec, src, (size_t) len) == 0;
		/* whitespace anywhere is skipped */
		for (i = 0; i < elen; i++)
		{
			if (rng_below(5) == 0)
				spaced[slen++] = " \t\r\n\v\f"[rng_below(6)];
			spaced[slen++] = enc[i];
		}
		spaced[slen++] = '\n';
		ok &= decoded_len(spaced, slen, dec, (size_t) len) == len &&
			memcmp(dec, src, (size_t) len) == 0;
		/* one byte too little room: refused, nothing written past the cap */
		if (len > 0)
		{
			memset(dec, 0xEE, sizeof(dec));
			ok &= decoded_len(enc, elen, dec, (size_t) len - 1) == -1 &&
				dec[len - 1] == 0xEE;
		}
	}
	unit_ok(ok, "random round trips of 0..300 bytes, with whitespace, and capacity checks");

	for (k = 0; k < (int) (sizeof(garbage) / sizeof(garbage[0])); k++)
	{
		size_t		n = strlen(garbage[k]) + (k == 15);	/* the last includes its NUL */

		unit_ok(decoded_len(garbage[k], n, dec, sizeof(dec)) == -1,
				"garbage %d rejected", k);
	}
	unit_ok(decoded_len("", 0, dec, 0) == 0 &&
			decoded_len(" \n", 2, dec, 0) == 0, "empty input decodes to nothing");
}

static void
test_names(void)
{
	unit_ok(kp_algorithm_name(KP_ALGO_IALS) != NULL &&
			strcmp(kp_algorithm_name(KP_ALGO_IALS), "ials") == 0, "KP_ALGO_IALS is \"ials\"");
	unit_ok(strcmp(kp_algorithm_name(KP_ALGO_BPR), "bpr") == 0 &&
			strcmp(kp_algorithm_name(KP_ALGO_ALS), "als") == 0 &&
			strcmp(kp_algorithm_name(KP_ALGO_EASE), "ease") == 0 &&
			strcmp(kp_algorithm_name(KP_ALGO_POPULAR), "popular") == 0,
			"bpr, als, ease and popular have their names");
	unit_ok(kp_algorithm_name(0) == NULL && kp_algorithm_name(6) == NULL,
			"unknown algorithms have no name");
}

/* Writes a copy of buf with the int32 at byte offset `at` set to value, resealed. */
static unsigned char *
with_int32(const unsigned char *buf, size_t size, size_t at, int32_t value)
{
	unsigned char *copy = malloc(size);

	memcpy(copy, buf, size);
	memcpy(copy + at, &value, sizeof(value));
	reseal(copy, size);
	return copy;
}

/*
 * Version 3: the neighbour lists follow the arrays, behind their count.
 * A model with lists is written as version 3 and reads back; one without
 * stays in its older version; every malformed list, count or size is
 * rejected behind a valid checksum.
 */
static void
test_format_3(void)
{
	test_model t;
	int32_t		lists[5 * 3] = {1, 2, 4, 0, 2, -1, 0, 1, 3, -1, -1, -1, 0, 1, 2};
	size_t		size;
	size_t		plain_size;
	size_t		at;
	unsigned char *buf;
	unsigned char *bad;
	kp_model	m;
	kp_model	header;
	char		err[256] = "";

	make_model(&t, 5, 4, 4, "{}");
	plain_size = kp_model_bytes(&t.m);
	t.m.neighbours_per_user = 3;
	t.m.neighbours_floor = 0.25f;
	t.m.neighbours = lists;
	t.m.format_version = 3;
	size = kp_model_bytes(&t.m);
	unit_ok(size == plain_size + 8 + 64, "lists add their count and 5 x 3 rows padded to 8 (%zu bytes)", size);
	buf = write_model(&t, &size);
	unit_ok(buf != NULL && buf[8] == 3 &&
			kp_model_read(buf, size, &m, err, sizeof(err), NULL, NULL) == KP_OK &&
			m.format_version == 3 && m.neighbours_per_user == 3 && m.neighbours_floor == 0.25f &&
			memcmp(m.neighbours, lists, sizeof(lists)) == 0 && same_model(&m, &t.m),
			"a model with neighbour lists is written as version 3 and reads back %s", err);
	unit_ok(kp_model_read_header(buf, 64, size, &header, err, sizeof(err)) == KP_OK &&
			header.format_version == 3 && header.neighbours_per_user == 0 && header.neighbours == NULL,
			"the header alone of version 3 reads");
	unit_ok(kp_model_read_header(buf, 64, plain_size + 7, &header, err, sizeof(err)) == KP_EINVAL &&
			strstr(err, "size mismatch") != NULL,
			"the header alone of version 3 needs room for the count");

	at = plain_size + 8;
	bad = with_int32(buf, size, at, 0);
	unit_ok(rejected_with(bad, size, "list of user row 0 is malformed at slot 0"), "a list holding its own row");
	free(bad);
	bad = with_int32(buf, size, at + 4, 1);
	unit_ok(rejected_with(bad, size, "list of user row 0 is malformed at slot 1"), "a list out of order");
	free(bad);
	bad = with_int32(buf, size, at + 4, 5);
	unit_ok(rejected_with(bad, size, "list of user row 0 is malformed at slot 1"), "a row out of range");
	free(bad);
	bad = with_int32(buf, size, at + 4 * 10, 4);
	unit_ok(rejected_with(bad, size, "list of user row 3 has a value after its end"), "a row after -1");
	free(bad);
	bad = with_int32(buf, size, at + 4 * 5, -2);
	unit_ok(rejected_with(bad, size, "list of user row 1 has a value after its end"), "a slot of -2");
	free(bad);
	bad = with_int32(buf, size, at + 4 * 15, 7);
	unit_ok(rejected_with(bad, size, "nonzero padding"), "padding after the lists");
	free(bad);
	bad = with_int32(buf, size, plain_size + 4, 0x40400000);	/* 3.0f */
	unit_ok(rejected_with(bad, size, "neighbour floor 3 is outside [-2, 2]"), "a floor above 2");
	free(bad);
	bad = with_int32(buf, size, plain_size + 4, 0x7FC00000);	/* NaN */
	unit_ok(rejected_with(bad, size, "is outside [-2, 2]"), "a floor that is NaN");
	free(bad);
	bad = with_int32(buf, size, plain_size, 0);
	unit_ok(rejected_with(bad, size, "stores 0 neighbours per user"), "a count of 0");
	free(bad);
	bad = with_int32(buf, size, plain_size, KP_MODEL_MAX_NEIGHBOURS + 1);
	unit_ok(rejected_with(bad, size, "outside 1..100"), "a count above the limit");
	free(bad);
	bad = with_int32(buf, size, plain_size, 2);
	unit_ok(rejected_with(bad, size, "size mismatch"), "a count that does not match the size");
	free(bad);
	bad = with_int32(buf, size, 8, 2);
	unit_ok(rejected_with(bad, size, "size mismatch"), "version 2 with lists appended");
	free(bad);
	bad = with_int32(buf, size, 12, KP_ALGO_POPULAR);
	unit_ok(rejected_with(bad, size, "of algorithm popular, which keeps no neighbour lists"),
			"version 3 of popular");
	free(bad);

	m = t.m;
	m.algorithm = KP_ALGO_EASE;
	m.factors = m.n_items;
	unit_ok(kp_model_bytes(&m) == 0, "an ease model cannot have neighbour lists");
	m = t.m;
	m.neighbours_per_user = KP_MODEL_MAX_NEIGHBOURS + 1;
	unit_ok(kp_model_bytes(&m) == 0, "more neighbours per user than the limit gives 0");
	m = t.m;
	m.neighbours_floor = -2.5f;
	bad = malloc(size);
	unit_ok(kp_model_write(&m, bad, size, NULL, NULL) == KP_EINVAL, "write refuses a floor below -2");
	free(bad);
	free(buf);

	t.m.neighbours_per_user = 0;
	t.m.neighbours = NULL;
	t.m.format_version = 3;
	buf = write_model(&t, &size);
	unit_ok(buf != NULL && buf[8] == 1 && size == plain_size,
			"a model read as version 3 without lists is written in its oldest version");
	free(buf);
	free_model(&t);
}

/*
 * Format 2: algorithms other than ials are written as version 2, and an
 * ease model has no user vectors and one course vector entry per course.
 */
static void
test_format_2(void)
{
	test_model t;
	size_t		size;
	size_t		ials_size;
	unsigned char *buf;
	kp_model	m;
	char		err[256];

	make_model(&t, 5, 4, 4, "{}");
	ials_size = kp_model_bytes(&t.m);
	t.m.algorithm = KP_ALGO_EASE;
	size = kp_model_bytes(&t.m);
	unit_ok(size == ials_size - 5 * 4 * sizeof(float),
			"an ease model leaves out the user vectors (%zu of %zu bytes)", size, ials_size);
	buf = write_model(&t, &size);
	unit_ok(buf != NULL && buf[8] == 2 && kp_model_read(buf, size, &m, err, sizeof(err), NULL, NULL) == KP_OK &&
			m.format_version == 2 && m.algorithm == KP_ALGO_EASE && kp_model_user_rows(&m) == 0 &&
			memcmp(m.item_factors, t.item_factors, sizeof(float) * 16) == 0 &&
			memcmp(m.seen_items, t.seen_items, sizeof(int32_t) * t.m.nnz) == 0,
			"an ease model is written as version 2 and reads back");
	buf[8] = 1;
	reseal(buf, size);
	unit_ok(rejected_with(buf, size, "model format version 1 has no algorithm ease"),
			"version 1 cannot hold an ease model");
	free(buf);

	t.m.factors = 3;
	unit_ok(kp_model_bytes(&t.m) == 0, "an ease model needs one vector entry per course");
	free_model(&t);

	make_model(&t, 3, 1500, 1, "{}");
	t.m.algorithm = KP_ALGO_EASE;
	t.m.factors = 1500;
	t.item_factors = realloc(t.item_factors, sizeof(float) * 1500 * 1500);
	memset(t.item_factors, 0, sizeof(float) * 1500 * 1500);
	t.m.item_factors = t.item_factors;
	buf = write_model(&t, &size);
	unit_ok(buf != NULL && kp_model_read(buf, size, &m, err, sizeof(err), NULL, NULL) == KP_OK &&
			m.factors == 1500, "ease course vectors may be longer than 1024 factors");
	free(buf);
	free_model(&t);

	/* found by fuzz_model: a value read and written again keeps its bytes */
	make_model(&t, 4, 3, 2, "{}");
	buf = write_model(&t, &size);
	buf[8] = 2;
	reseal(buf, size);
	{
		unsigned char *again = malloc(size);

		unit_ok(kp_model_read(buf, size, &m, err, sizeof(err), NULL, NULL) == KP_OK &&
				m.format_version == 2 && kp_model_write(&m, again, size, NULL, NULL) == KP_OK &&
				memcmp(again + 4, buf + 4, size - 4) == 0,
				"an ials model of format 2 is written back as format 2, byte for byte");
		free(again);
	}
	free(buf);
	free_model(&t);

	make_model(&t, 4, 3, 3, "{}");
	t.m.algorithm = KP_ALGO_BPR;
	buf = write_model(&t, &size);
	unit_ok(buf != NULL && buf[8] == 2 && kp_model_read(buf, size, &m, err, sizeof(err), NULL, NULL) == KP_OK &&
			kp_model_user_rows(&m) == 4 &&
			memcmp(m.user_factors, t.user_factors, sizeof(float) * 12) == 0,
			"a bpr model is written as version 2 with its user vectors");
	free(buf);
	free_model(&t);
}

/* An interrupt callback that counts its calls and cancels at call cancel_at (0: never). */
typedef struct canceller
{
	int			calls;
	int			cancel_at;
} canceller;

static int
cancel_at_call(void *arg)
{
	canceller  *c = arg;

	return ++c->calls == c->cancel_at;
}

/*
 * A model of some 20 MB: writing it, reading it (checksum and checks) and
 * its base64 both ways ask the interrupt callback every few MB, give the
 * same result as without a callback when it does not cancel, and stop with
 * KP_ECANCELLED at whichever call it does.
 */
static void
test_cancellation(void)
{
	test_model	t;
	size_t		size;
	unsigned char *plain;
	unsigned char *buf;
	char	   *text;
	char	   *text_again;
	size_t		text_len;
	size_t		written;
	canceller	c = {0, 0};
	kp_model	m;
	char		err[256];
	int			calls;
	int			all_cancelled;

	make_model(&t, 40000, 50, 128, "{}");
	plain = write_model(&t, &size);
	buf = malloc(size);

	unit_ok(kp_model_write(&t.m, buf, size, cancel_at_call, &c) == KP_OK &&
			memcmp(buf, plain, size) == 0,
			"writing %zu MB with a callback that never cancels gives the same bytes", size >> 20);
	calls = c.calls;
	unit_ok(calls >= 3 * (int) (size >> 22) - 3,
			"writing asks every 4 MB zeroed, copied and summed (%d calls)", calls);
	reseal(buf, size);
	unit_ok(memcmp(buf, plain, size) == 0, "the checksum summed in pieces is that of the whole");
	all_cancelled = 1;
	for (c.cancel_at = 1; c.cancel_at <= calls; c.cancel_at++)
	{
		c.calls = 0;
		all_cancelled &= kp_model_write(&t.m, buf, size, cancel_at_call, &c) == KP_ECANCELLED &&
			c.calls == c.cancel_at;
	}
	unit_ok(all_cancelled, "writing cancelled at each of its calls returns KP_ECANCELLED");

	c.calls = 0;
	c.cancel_at = 0;
	unit_ok(kp_model_read(plain, size, &m, err, sizeof(err), cancel_at_call, &c) == KP_OK &&
			same_model(&m, &t.m), "reading with a callback that never cancels");
	calls = c.calls;
	unit_ok(calls >= 2 * (int) (size >> 22) - 2,
			"reading asks every 4 MB summed and checked (%d calls)", calls);
	all_cancelled = 1;
	for (c.cancel_at = 1; c.cancel_at <= calls; c.cancel_at++)
	{
		c.calls = 0;
		all_cancelled &= kp_model_read(plain, size, &m, err, sizeof(err), cancel_at_call, &c) == KP_ECANCELLED &&
			c.calls == c.cancel_at;
	}
	unit_ok(all_cancelled, "reading cancelled at each of its calls returns KP_ECANCELLED");

	text_len = kp_base64_encoded_len(size);
	text = malloc(text_len);
	text_again = malloc(text_len);
	kp_base64_encode(plain, size, text, NULL, NULL);
	c.calls = 0;
	c.cancel_at = 0;
	unit_ok(kp_base64_encode(plain, size, text_again, cancel_at_call, &c) == KP_OK &&
			memcmp(text, text_again, text_len) == 0,
			"base64 encoding with a callback that never cancels gives the same text");
	calls = c.calls;
	unit_ok(calls >= (int) (size >> 22) - 1, "base64 encoding asks every 4 MB (%d calls)", calls);
	all_cancelled = 1;
	for (c.cancel_at = 1; c.cancel_at <= calls; c.cancel_at++)
	{
		c.calls = 0;
		all_cancelled &= kp_base64_encode(plain, size, text_again, cancel_at_call, &c) == KP_ECANCELLED;
	}
	unit_ok(all_cancelled, "base64 encoding cancelled at each of its calls returns KP_ECANCELLED");
	c.calls = 0;
	c.cancel_at = 0;
	unit_ok(kp_base64_decode(text, text_len, buf, size, &written, cancel_at_call, &c) == KP_OK &&
			written == size && memcmp(buf, plain, size) == 0,
			"base64 decoding with a callback that never cancels gives the same bytes");
	calls = c.calls;
	unit_ok(calls >= (int) (text_len >> 22) - 1, "base64 decoding asks every 4 MB (%d calls)", calls);
	all_cancelled = 1;
	for (c.cancel_at = 1; c.cancel_at <= calls; c.cancel_at++)
	{
		c.calls = 0;
		all_cancelled &= kp_base64_decode(text, text_len, buf, size, &written,
										  cancel_at_call, &c) == KP_ECANCELLED;
	}
	unit_ok(all_cancelled, "base64 decoding cancelled at each of its calls returns KP_ECANCELLED");

	free(text);
	free(text_again);
	free(plain);
	free(buf);
	free_model(&t);
}

int
main(void)
{
	test_names();
	test_format_2();
	test_format_3();
	test_model_bytes();
	test_round_trip();
	test_write();
	test_truncation_and_bit_flips();
	test_header_checks();
	test_structure_checks();
	test_padding();
	test_checksum();
	test_cancellation();
	test_base64();
	return unit_done();
}
