/*
 * model_format.c -- writing, validating and reading the serialised model
 * (layout in kp_model.h), its checksum, and base64 for its text form.
 *
 * Header fields are encoded byte by byte, so the header parses the same on
 * any host.  The arrays are used in place, which needs a little-endian host;
 * both the writer and the readers check that at run time.
 */
#include "kp_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define KP_PRINTF_ATTR(f, a) __attribute__((format(printf, f, a)))
#else
#define KP_PRINTF_ATTR(f, a)
#endif

#define KP_MODEL_MAX_FACTORS 1024
#define KP_MODEL_CHECKSUM_OFFSET 56
/* Bytes handled between calls to the interrupt callback: a few milliseconds. */
#define INTERRUPT_BYTES ((size_t) 1 << 22)

/* Counts bytes of work and asks the interrupt callback once per INTERRUPT_BYTES. */
typedef struct ticker
{
	kp_interrupt_fn interrupt;
	void	   *interrupt_arg;
	size_t		work;
} ticker;

/* Adds bytes of work; nonzero when the callback, if asked now, wants to stop. */
static int
ticker_cancelled(ticker *t, size_t bytes)
{
	t->work += bytes;
	if (t->work < INTERRUPT_BYTES)
		return 0;
	t->work = 0;
	return t->interrupt != NULL && t->interrupt(t->interrupt_arg);
}

/* Offsets of the sections from the start of the buffer, and the total. */
typedef struct model_layout
{
	size_t		options;
	size_t		user_ids;
	size_t		item_ids;
	size_t		user_factors;
	size_t		item_factors;
	size_t		seen_indptr;
	size_t		seen_items;
	size_t		neighbours_count;	/* version 3: the u32 L and the f32 floor */
	size_t		neighbours;
	size_t		total;
} model_layout;

#define NEIGHBOURS_COUNT_BYTES 8

static kp_status model_error(char *err, size_t errlen, const char *fmt,...)
			KP_PRINTF_ATTR(3, 4);

static kp_status
model_error(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (err != NULL && errlen > 0)
	{
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return KP_EINVAL;
}

static int
host_is_little_endian(void)
{
	uint32_t	one = 1;
	unsigned char first;

	memcpy(&first, &one, 1);
	return first == 1;
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static uint64_t
get_u64(const unsigned char *p)
{
	return (uint64_t) get_u32(p) | ((uint64_t) get_u32(p + 4) << 32);
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) v;
	p[1] = (unsigned char) (v >> 8);
	p[2] = (unsigned char) (v >> 16);
	p[3] = (unsigned char) (v >> 24);
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	put_u32(p, (uint32_t) v);
	put_u32(p + 4, (uint32_t) (v >> 32));
}

/*
 * Advances *offset past a section of count elements of elem_size bytes,
 * padded to 8.  Returns 0 if the model would exceed KP_MODEL_MAX_BYTES.
 */
static int
add_section(size_t *offset, uint64_t count, size_t elem_size)
{
	size_t		bytes;

	if (count > SIZE_MAX || !kp_mul_size((size_t) count, elem_size, &bytes))
		return 0;
	if (bytes > KP_MODEL_MAX_BYTES - *offset)
		return 0;
	bytes = (bytes + 7) & ~(size_t) 7;
	if (bytes > KP_MODEL_MAX_BYTES - *offset)
		return 0;
	*offset += bytes;
	return 1;
}

/* An ease model's course vectors are its item-item weights: one per course. */
static int
factors_valid(uint32_t algorithm, int32_t n_items, int32_t factors)
{
	if (algorithm == KP_ALGO_EASE)
		return factors == n_items;
	return factors >= 1 && factors <= KP_MODEL_MAX_FACTORS;
}

/*
 * Fills *lay; returns 0 for invalid counts or a model that is too large.
 * neighbours_per_user 0 lays out a model without neighbour lists, which ends
 * after seen_items.
 */
static int
compute_layout(uint32_t algorithm, int32_t n_users, int32_t n_items, int32_t factors,
			   uint32_t options_len, int64_t nnz, int32_t neighbours_per_user,
			   model_layout *lay)
{
	size_t		offset = KP_MODEL_HEADER_BYTES;
	int32_t		user_rows = algorithm == KP_ALGO_EASE ? 0 : n_users;

	if (n_users < 0 || n_items < 0 || nnz < 0 ||
		!factors_valid(algorithm, n_items, factors) ||
		options_len > KP_MODEL_MAX_OPTIONS_BYTES ||
		neighbours_per_user < 0 || neighbours_per_user > KP_MODEL_MAX_NEIGHBOURS ||
		(neighbours_per_user > 0 && !kp_model_can_have_neighbours(algorithm)))
		return 0;

	lay->options = offset;
	if (!add_section(&offset, options_len, 1))
		return 0;
	lay->user_ids = offset;
	if (!add_section(&offset, (uint64_t) n_users, sizeof(int64_t)))
		return 0;
	lay->item_ids = offset;
	if (!add_section(&offset, (uint64_t) n_items, sizeof(int64_t)))
		return 0;
	lay->user_factors = offset;
	if (!add_section(&offset, (uint64_t) user_rows * (uint64_t) factors, sizeof(float)))
		return 0;
	lay->item_factors = offset;
	if (!add_section(&offset, (uint64_t) n_items * (uint64_t) factors, sizeof(float)))
		return 0;
	lay->seen_indptr = offset;
	if (!add_section(&offset, (uint64_t) n_users + 1, sizeof(int64_t)))
		return 0;
	lay->seen_items = offset;
	if (!add_section(&offset, (uint64_t) nnz, sizeof(int32_t)))
		return 0;
	lay->neighbours_count = lay->neighbours = offset;
	if (neighbours_per_user > 0)
	{
		if (!add_section(&offset, NEIGHBOURS_COUNT_BYTES, 1))
			return 0;
		lay->neighbours = offset;
		if (!add_section(&offset, (uint64_t) user_rows * (uint64_t) neighbours_per_user,
						 sizeof(int32_t)))
			return 0;
	}
	lay->total = offset;
	return 1;
}

const char *
kp_algorithm_name(uint32_t algorithm)
{
	switch (algorithm)
	{
		case KP_ALGO_IALS:
			return "ials";
		case KP_ALGO_BPR:
			return "bpr";
		case KP_ALGO_ALS:
			return "als";
		case KP_ALGO_EASE:
			return "ease";
		case KP_ALGO_POPULAR:
			return "popular";
	}
	return NULL;
}

size_t
kp_model_bytes(const kp_model *m)
{
	model_layout lay;

	if (!compute_layout(m->algorithm, m->n_users, m->n_items, m->factors,
						m->options_len, m->nnz, m->neighbours_per_user, &lay))
		return 0;
	return lay.total;
}

/*
 * The checksum mixes one 8-byte word at a time with a step that, for a fixed
 * word, is a bijection of the state, and for a fixed state a bijection of the
 * word.  So two inputs of the same length that differ within a single word
 * always hash differently.  Four independent lanes hide the multiply latency.
 */
#define CK_PRIME 0x9E3779B97F4A7C15u
#define CK_INIT0 0x243F6A8885A308D3u
#define CK_INIT1 0x13198A2E03707344u
#define CK_INIT2 0xA4093822299F31D0u
#define CK_INIT3 0x082EFA98EC4E6C89u

static inline uint64_t
ck_step(uint64_t h, uint64_t word)
{
	h ^= word;
	h = (h << 29) | (h >> 35);
	return h * CK_PRIME;
}

static inline uint64_t
ck_load(const unsigned char *p)
{
	uint64_t	w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* The checksum of data fed in pieces of whole 32-byte blocks, then a rest. */
typedef struct ck_lanes
{
	uint64_t	v0;
	uint64_t	v1;
	uint64_t	v2;
	uint64_t	v3;
} ck_lanes;

static void
ck_begin(ck_lanes *l, uint64_t seed)
{
	l->v0 = seed ^ CK_INIT0;
	l->v1 = CK_INIT1;
	l->v2 = CK_INIT2;
	l->v3 = CK_INIT3;
}

static void
ck_blocks(ck_lanes *l, const unsigned char *p, size_t nblocks)
{
	size_t		b;

	for (b = 0; b < nblocks; b++, p += 32)
	{
		l->v0 = ck_step(l->v0, ck_load(p));
		l->v1 = ck_step(l->v1, ck_load(p + 8));
		l->v2 = ck_step(l->v2, ck_load(p + 16));
		l->v3 = ck_step(l->v3, ck_load(p + 24));
	}
}

/* rest: the last len % 32 bytes; len: the length of all the data */
static uint64_t
ck_end(const ck_lanes *l, const unsigned char *rest, size_t len)
{
	size_t		rest_len = len % 32;
	uint64_t	h = ck_step(ck_step(ck_step(l->v0, l->v1), l->v2), l->v3);
	size_t		i;

	for (i = 0; i + 8 <= rest_len; i += 8)
		h = ck_step(h, ck_load(rest + i));
	if (len % 8 != 0)
	{
		uint64_t	tail = 0;

		memcpy(&tail, rest + i, len % 8);
		h = ck_step(h, tail);
	}
	h = ck_step(h, (uint64_t) len);

	/* MurmurHash3's finaliser: a bijection that spreads every bit */
	h ^= h >> 33;
	h *= 0xFF51AFD7ED558CCDu;
	h ^= h >> 33;
	h *= 0xC4CEB9FE1A85EC53u;
	h ^= h >> 33;
	return h;
}

uint64_t
kp_checksum(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data;
	ck_lanes	l;

	ck_begin(&l, seed);
	ck_blocks(&l, p, len / 32);
	return ck_end(&l, p + len / 32 * 32, len);
}

/*
 * The format's checksum; size >= KP_MODEL_HEADER_BYTES.  Sets *cancelled
 * (and returns 0) when the interrupt callback asks to stop.
 */
static uint64_t
model_checksum(const unsigned char *p, size_t size, ticker *t, int *cancelled)
{
	const unsigned char *data = p + KP_MODEL_HEADER_BYTES;
	size_t		len = size - KP_MODEL_HEADER_BYTES;
	size_t		nblocks = len / 32;
	size_t		done = 0;
	ck_lanes	l;

	*cancelled = 0;
	ck_begin(&l, kp_checksum(0, p + 4, KP_MODEL_CHECKSUM_OFFSET - 4));
	while (done < nblocks)
	{
		size_t		step = nblocks - done < INTERRUPT_BYTES / 32 ? nblocks - done : INTERRUPT_BYTES / 32;

		ck_blocks(&l, data + done * 32, step);
		done += step;
		if (ticker_cancelled(t, step * 32))
		{
			*cancelled = 1;
			return 0;
		}
	}
	return ck_end(&l, data + nblocks * 32, len);
}

/* memset(dst, 0, bytes) in pieces; KP_ECANCELLED when asked to stop. */
static kp_status
zero_section(unsigned char *dst, size_t bytes, ticker *t)
{
	size_t		done = 0;

	while (done < bytes)
	{
		size_t		step = bytes - done < INTERRUPT_BYTES ? bytes - done : INTERRUPT_BYTES;

		memset(dst + done, 0, step);
		done += step;
		if (ticker_cancelled(t, step))
			return KP_ECANCELLED;
	}
	return KP_OK;
}

/* memcpy(dst, src, bytes) in pieces; KP_ECANCELLED when asked to stop. */
static kp_status
copy_section(unsigned char *dst, const void *src, size_t bytes, ticker *t)
{
	size_t		done = 0;

	while (done < bytes)
	{
		size_t		step = bytes - done < INTERRUPT_BYTES ? bytes - done : INTERRUPT_BYTES;

		memcpy(dst + done, (const unsigned char *) src + done, step);
		done += step;
		if (ticker_cancelled(t, step))
			return KP_ECANCELLED;
	}
	return KP_OK;
}

/*
 * The version a value is written in: 3 for neighbour lists; else the one it
 * was read in (an ials model of version 2 stays version 2, so that a value
 * read and written again is the same bytes), else the oldest that can hold
 * its algorithm.
 */
static uint32_t
written_version(const kp_model *m)
{
	uint32_t	oldest = kp_model_format_for(m->algorithm);

	if (m->neighbours_per_user > 0)
		return 3;
	if (m->format_version > oldest && m->format_version < 3)
		return m->format_version;
	return oldest;
}

kp_status
kp_model_write(const kp_model *m, void *buf, size_t size,
			   kp_interrupt_fn interrupt, void *interrupt_arg)
{
	unsigned char *p = buf;
	ticker		t = {interrupt, interrupt_arg, 0};
	model_layout lay;
	size_t		n_user_floats;
	size_t		n_item_floats;
	uint64_t	checksum;
	int			cancelled;

	if (!host_is_little_endian() || ((uintptr_t) buf & 7) != 0)
		return KP_EINVAL;
	if (!compute_layout(m->algorithm, m->n_users, m->n_items, m->factors,
						m->options_len, m->nnz, m->neighbours_per_user, &lay) ||
		lay.total != size)
		return KP_EINVAL;
	/* refuse to write what kp_model_read would reject for its header */
	if (kp_algorithm_name(m->algorithm) == NULL || m->n_items < 1 ||
		m->rows_read < m->nnz || m->rows_skipped < 0 ||
		(m->neighbours_per_user > 0 && !(fabsf(m->neighbours_floor) <= 2.0f)))
		return KP_EINVAL;

	n_user_floats = (size_t) kp_model_user_rows(m) * (size_t) m->factors;
	n_item_floats = (size_t) m->n_items * (size_t) m->factors;

	if (zero_section(p + 4, size - 4, &t) != KP_OK)
		return KP_ECANCELLED;
	put_u32(p + 4, KP_MODEL_MAGIC);
	put_u32(p + 8, written_version(m));
	put_u32(p + 12, m->algorithm);
	put_u32(p + 16, (uint32_t) m->n_users);
	put_u32(p + 20, (uint32_t) m->n_items);
	put_u32(p + 24, (uint32_t) m->factors);
	put_u32(p + 28, m->options_len);
	put_u64(p + 32, (uint64_t) m->nnz);
	put_u64(p + 40, (uint64_t) m->rows_read);
	put_u64(p + 48, (uint64_t) m->rows_skipped);

	if (copy_section(p + lay.options, m->options_json, m->options_len, &t) != KP_OK ||
		copy_section(p + lay.user_ids, m->user_ids, (size_t) m->n_users * sizeof(int64_t), &t) != KP_OK ||
		copy_section(p + lay.item_ids, m->item_ids, (size_t) m->n_items * sizeof(int64_t), &t) != KP_OK ||
		copy_section(p + lay.user_factors, m->user_factors, n_user_floats * sizeof(float), &t) != KP_OK ||
		copy_section(p + lay.item_factors, m->item_factors, n_item_floats * sizeof(float), &t) != KP_OK ||
		copy_section(p + lay.seen_indptr, m->seen_indptr,
					 ((size_t) m->n_users + 1) * sizeof(int64_t), &t) != KP_OK ||
		copy_section(p + lay.seen_items, m->seen_items, (size_t) m->nnz * sizeof(int32_t), &t) != KP_OK ||
		copy_section(p + lay.neighbours, m->neighbours,
					 (size_t) kp_model_user_rows(m) * (size_t) m->neighbours_per_user * sizeof(int32_t),
					 &t) != KP_OK)
		return KP_ECANCELLED;
	if (m->neighbours_per_user > 0)
	{
		put_u32(p + lay.neighbours_count, (uint32_t) m->neighbours_per_user);
		memcpy(p + lay.neighbours_count + 4, &m->neighbours_floor, sizeof(float));
	}

	checksum = model_checksum(p, size, &t, &cancelled);
	if (cancelled)
		return KP_ECANCELLED;
	put_u64(p + KP_MODEL_CHECKSUM_OFFSET, checksum);
	return KP_OK;
}

/*
 * Checks the fixed header at p (KP_MODEL_HEADER_BYTES readable) against a
 * value of size_total bytes; fills the scalar fields of *out and *lay.
 */
static kp_status
parse_header(const unsigned char *p, size_t size_total, kp_model *out,
			 model_layout *lay, char *err, size_t errlen)
{
	uint32_t	magic = get_u32(p + 4);
	kp_model	m;

	if (magic != KP_MODEL_MAGIC)
	{
		if (magic == ((KP_MODEL_MAGIC >> 24) | ((KP_MODEL_MAGIC >> 8) & 0xFF00u) |
					  ((KP_MODEL_MAGIC << 8) & 0xFF0000u) | (KP_MODEL_MAGIC << 24)))
			return model_error(err, errlen,
							   "model was written in big-endian byte order; kpreco models are little-endian and this one cannot be read");
		return model_error(err, errlen,
						   "not a kpreco model (magic 0x%08X, expected 0x%08X)",
						   (unsigned int) magic, (unsigned int) KP_MODEL_MAGIC);
	}
	if (!host_is_little_endian())
		return model_error(err, errlen,
						   "kpreco models can only be read on a little-endian machine");

	memset(&m, 0, sizeof(m));
	m.format_version = get_u32(p + 8);
	m.algorithm = get_u32(p + 12);
	m.n_users = (int32_t) get_u32(p + 16);
	m.n_items = (int32_t) get_u32(p + 20);
	m.factors = (int32_t) get_u32(p + 24);
	m.options_len = get_u32(p + 28);
	m.nnz = (int64_t) get_u64(p + 32);
	m.rows_read = (int64_t) get_u64(p + 40);
	m.rows_skipped = (int64_t) get_u64(p + 48);

	if (m.format_version > KP_MODEL_FORMAT_VERSION)
		return model_error(err, errlen,
						   "model format version %u is newer than this kpreco supports (%d); retrain the model or upgrade kpreco",
						   (unsigned int) m.format_version, KP_MODEL_FORMAT_VERSION);
	if (m.format_version < 1)
		return model_error(err, errlen, "unknown model format version %u",
						   (unsigned int) m.format_version);
	if (kp_algorithm_name(m.algorithm) == NULL)
		return model_error(err, errlen, "unknown model algorithm %u",
						   (unsigned int) m.algorithm);
	if (m.format_version < kp_model_format_for(m.algorithm))
		return model_error(err, errlen, "model format version %u has no algorithm %s",
						   (unsigned int) m.format_version, kp_algorithm_name(m.algorithm));
	if (m.n_users < 0)
		return model_error(err, errlen, "model has a negative user count (%d)",
						   (int) m.n_users);
	if (m.n_items < 1)
		return model_error(err, errlen, "model has an item count of %d, at least 1 is needed",
						   (int) m.n_items);
	if (m.algorithm == KP_ALGO_EASE && m.factors != m.n_items)
		return model_error(err, errlen,
						   "ease model has course vectors of %d values for %d courses",
						   (int) m.factors, (int) m.n_items);
	if (!factors_valid(m.algorithm, m.n_items, m.factors))
		return model_error(err, errlen, "model has %d factors, outside 1..%d",
						   (int) m.factors, KP_MODEL_MAX_FACTORS);
	if (m.options_len > KP_MODEL_MAX_OPTIONS_BYTES)
		return model_error(err, errlen, "model options are %u bytes, more than the limit of %d",
						   (unsigned int) m.options_len, KP_MODEL_MAX_OPTIONS_BYTES);
	if (m.nnz < 0)
		return model_error(err, errlen, "model has a negative training pair count (%lld)",
						   (long long) m.nnz);
	if (m.rows_read < m.nnz)
		return model_error(err, errlen,
						   "model's rows_read (%lld) is less than its training pair count (%lld)",
						   (long long) m.rows_read, (long long) m.nnz);
	if (m.rows_skipped < 0)
		return model_error(err, errlen, "model's rows_skipped is negative (%lld)",
						   (long long) m.rows_skipped);
	if (m.format_version >= 3 && !kp_model_can_have_neighbours(m.algorithm))
		return model_error(err, errlen, "model format version %u of algorithm %s, which keeps no neighbour lists",
						   (unsigned int) m.format_version, kp_algorithm_name(m.algorithm));
	if (!compute_layout(m.algorithm, m.n_users, m.n_items, m.factors, m.options_len,
						m.nnz, 0, lay))
		return model_error(err, errlen,
						   "model header describes a value larger than the limit of %zu bytes",
						   KP_MODEL_MAX_BYTES);
	/* version 3's neighbour count follows the arrays: kp_model_read checks the rest */
	if (m.format_version >= 3 ? size_total < lay->total + NEIGHBOURS_COUNT_BYTES
		: lay->total != size_total)
		return model_error(err, errlen,
						   "model size mismatch: the header describes %s%zu bytes but the value has %zu",
						   m.format_version >= 3 ? "more than " : "",
						   m.format_version >= 3 ? lay->total + NEIGHBOURS_COUNT_BYTES - 1 : lay->total,
						   size_total);
	*out = m;
	return KP_OK;
}

/*
 * Version 3: reads the neighbour count that follows the arrays and lays the
 * value out again with it; it must then describe exactly size bytes.
 */
static kp_status
parse_neighbours_count(const unsigned char *p, size_t size, kp_model *m,
					   model_layout *lay, char *err, size_t errlen)
{
	uint32_t	count = get_u32(p + lay->neighbours_count);
	float		floor;

	memcpy(&floor, p + lay->neighbours_count + 4, sizeof(float));
	if (!(fabsf(floor) <= 2.0f))	/* catches NaN too */
		return model_error(err, errlen, "model's neighbour floor %g is outside [-2, 2]", (double) floor);
	m->neighbours_floor = floor;
	if (count < 1 || count > KP_MODEL_MAX_NEIGHBOURS)
		return model_error(err, errlen, "model stores %u neighbours per user, outside 1..%d",
						   (unsigned int) count, KP_MODEL_MAX_NEIGHBOURS);
	m->neighbours_per_user = (int32_t) count;
	if (!compute_layout(m->algorithm, m->n_users, m->n_items, m->factors, m->options_len,
						m->nnz, m->neighbours_per_user, lay))
		return model_error(err, errlen,
						   "model header describes a value larger than the limit of %zu bytes",
						   KP_MODEL_MAX_BYTES);
	if (lay->total != size)
		return model_error(err, errlen,
						   "model size mismatch: the header describes %zu bytes but the value has %zu",
						   lay->total, size);
	return KP_OK;
}

kp_status
kp_model_read_header(const void *buf, size_t header_len, size_t size_total,
					 kp_model *out, char *err, size_t errlen)
{
	model_layout lay;

	if (header_len < KP_MODEL_HEADER_BYTES)
		return model_error(err, errlen,
						   "model header is truncated: %zu bytes, expected %d",
						   header_len, KP_MODEL_HEADER_BYTES);
	return parse_header(buf, size_total, out, &lay, err, errlen);
}

static int
is_zero(const unsigned char *p, size_t from, size_t to)
{
	for (; from < to; from++)
		if (p[from] != 0)
			return 0;
	return 1;
}

/* The status of a validation the interrupt callback stopped. */
static kp_status
model_cancelled(char *err, size_t errlen)
{
	model_error(err, errlen, "validation cancelled");
	return KP_ECANCELLED;
}

/* 1 if ids ascend strictly, 0 with *bad at the first that does not, -1 if cancelled. */
static int
ids_ascending(const int64_t *ids, int32_t n, int32_t *bad, ticker *t)
{
	int32_t		i;

	for (i = 1; i < n; i++)
	{
		if (ids[i] <= ids[i - 1])
		{
			*bad = i;
			return 0;
		}
		if (i % (INTERRUPT_BYTES / sizeof(int64_t)) == 0 &&
			ticker_cancelled(t, INTERRUPT_BYTES))
			return -1;
	}
	return 1;
}

/*
 * Returns the index of the first bad factor, count if all are fine, or
 * count + 1 if cancelled.
 */
static size_t
first_bad_factor(const float *f, size_t count, ticker *t)
{
	size_t		piece = INTERRUPT_BYTES / sizeof(float);
	size_t		begin;

	for (begin = 0; begin < count; begin += piece)
	{
		size_t		end = count - begin < piece ? count : begin + piece;
		size_t		i;

		for (i = begin; i < end; i++)
			if (!(fabsf(f[i]) <= KP_MODEL_MAX_ABS_FACTOR))	/* catches NaN too */
				return i;
		if (ticker_cancelled(t, (end - begin) * sizeof(float)))
			return count + 1;
	}
	return count;
}

static kp_status
check_factors(const float *f, int32_t rows, int32_t factors, const char *what,
			  char *err, size_t errlen, ticker *t)
{
	size_t		count = (size_t) rows * (size_t) factors;
	size_t		bad = first_bad_factor(f, count, t);

	if (bad == count)
		return KP_OK;
	if (bad > count)
		return model_cancelled(err, errlen);
	if (!isfinite(f[bad]))
		return model_error(err, errlen,
						   "model %s factor row %zu has a non-finite value (%g)",
						   what, bad / (size_t) factors, (double) f[bad]);
	return model_error(err, errlen,
					   "model %s factor row %zu has a value of magnitude %g, beyond the limit of %g",
					   what, bad / (size_t) factors, (double) fabsf(f[bad]),
					   (double) KP_MODEL_MAX_ABS_FACTOR);
}

static kp_status
check_seen(const int64_t *indptr, const int32_t *items, int32_t n_users,
		   int32_t n_items, int64_t nnz, char *err, size_t errlen, ticker *t)
{
	int32_t		u;

	if (indptr[0] != 0)
		return model_error(err, errlen, "model seen_indptr starts at %lld instead of 0",
						   (long long) indptr[0]);
	for (u = 0; u < n_users; u++)
	{
		int64_t		start = indptr[u];
		int64_t		end = indptr[u + 1];
		int64_t		k;

		if (end < start)
			return model_error(err, errlen, "model seen_indptr decreases at user row %d",
							   (int) u);
		if (end > nnz)
			return model_error(err, errlen,
							   "model seen_indptr at user row %d exceeds the training pair count (%lld)",
							   (int) u, (long long) nnz);
		for (k = start; k < end; k++)
		{
			if (items[k] < 0 || items[k] >= n_items)
				return model_error(err, errlen,
								   "model seen item %d of user row %d is out of range (%d items)",
								   (int) items[k], (int) u, (int) n_items);
			if (k > start && items[k] <= items[k - 1])
				return model_error(err, errlen,
								   "model seen items of user row %d are not strictly ascending",
								   (int) u);
		}
		if (ticker_cancelled(t, sizeof(int64_t) + (size_t) (end - start) * sizeof(int32_t)))
			return model_cancelled(err, errlen);
	}
	if (indptr[n_users] != nnz)
		return model_error(err, errlen,
						   "model seen_indptr ends at %lld but the training pair count is %lld",
						   (long long) indptr[n_users], (long long) nnz);
	return KP_OK;
}

/* Each list: rows in range and ascending, never its own, then only -1. */
static kp_status
check_neighbours(const int32_t *neighbours, int32_t rows, int32_t per_user,
				 char *err, size_t errlen, ticker *t)
{
	int32_t		u;

	if (per_user == 0)
		return KP_OK;
	for (u = 0; u < rows; u++)
	{
		const int32_t *list = neighbours + (size_t) u * per_user;
		int32_t		j;

		for (j = 0; j < per_user && list[j] >= 0; j++)
		{
			if (list[j] >= rows || list[j] == u || (j > 0 && list[j] <= list[j - 1]))
				return model_error(err, errlen,
								   "model neighbour list of user row %d is malformed at slot %d",
								   (int) u, (int) j);
		}
		for (; j < per_user; j++)
			if (list[j] != -1)
				return model_error(err, errlen,
								   "model neighbour list of user row %d has a value after its end",
								   (int) u);
		if (ticker_cancelled(t, (size_t) per_user * sizeof(int32_t)))
			return model_cancelled(err, errlen);
	}
	return KP_OK;
}

kp_status
kp_model_read(const void *buf, size_t size, kp_model *out,
			  char *err, size_t errlen,
			  kp_interrupt_fn interrupt, void *interrupt_arg)
{
	const unsigned char *p = buf;
	ticker		t = {interrupt, interrupt_arg, 0};
	model_layout lay;
	kp_model	m;
	kp_status	status;
	uint64_t	checksum;
	int			cancelled;
	int			ascending;
	int32_t		bad;

	if (size < KP_MODEL_HEADER_BYTES)
		return model_error(err, errlen,
						   "model is truncated: %zu bytes, shorter than the %d-byte header",
						   size, KP_MODEL_HEADER_BYTES);
	if (((uintptr_t) buf & 7) != 0)
		return model_error(err, errlen, "model buffer is not 8-byte aligned");
	status = parse_header(p, size, &m, &lay, err, errlen);
	if (status != KP_OK)
		return status;
	checksum = model_checksum(p, size, &t, &cancelled);
	if (cancelled)
		return model_cancelled(err, errlen);
	if (get_u64(p + KP_MODEL_CHECKSUM_OFFSET) != checksum)
		return model_error(err, errlen, "model checksum mismatch: the value is damaged");
	if (m.format_version >= 3)
	{
		status = parse_neighbours_count(p, size, &m, &lay, err, errlen);
		if (status != KP_OK)
			return status;
		m.neighbours = (const int32_t *) (const void *) (p + lay.neighbours);
	}

	m.options_json = (const char *) (p + lay.options);
	m.user_ids = (const int64_t *) (const void *) (p + lay.user_ids);
	m.item_ids = (const int64_t *) (const void *) (p + lay.item_ids);
	m.user_factors = (const float *) (const void *) (p + lay.user_factors);
	m.item_factors = (const float *) (const void *) (p + lay.item_factors);
	m.seen_indptr = (const int64_t *) (const void *) (p + lay.seen_indptr);
	m.seen_items = (const int32_t *) (const void *) (p + lay.seen_items);

	if (memchr(m.options_json, '\0', m.options_len) != NULL)
		return model_error(err, errlen, "model options contain a NUL byte");
	if (!is_zero(p, lay.options + m.options_len, lay.user_ids) ||
		!is_zero(p, lay.user_factors + (size_t) kp_model_user_rows(&m) * m.factors * sizeof(float),
				 lay.item_factors) ||
		!is_zero(p, lay.item_factors + (size_t) m.n_items * m.factors * sizeof(float),
				 lay.seen_indptr) ||
		!is_zero(p, lay.seen_items + (size_t) m.nnz * sizeof(int32_t), lay.neighbours_count) ||
		!is_zero(p, lay.neighbours + (size_t) kp_model_user_rows(&m) * m.neighbours_per_user * sizeof(int32_t),
				 lay.total))
		return model_error(err, errlen, "model has nonzero padding bytes");
	ascending = ids_ascending(m.user_ids, m.n_users, &bad, &t);
	if (ascending == 0)
		return model_error(err, errlen,
						   "model user_ids are not strictly ascending at user row %d",
						   (int) bad);
	if (ascending > 0)
		ascending = ids_ascending(m.item_ids, m.n_items, &bad, &t);
	if (ascending == 0)
		return model_error(err, errlen,
						   "model item_ids are not strictly ascending at item row %d",
						   (int) bad);
	if (ascending < 0)
		return model_cancelled(err, errlen);
	status = check_factors(m.user_factors, kp_model_user_rows(&m), m.factors, "user",
						   err, errlen, &t);
	if (status != KP_OK)
		return status;
	status = check_factors(m.item_factors, m.n_items, m.factors, "item", err, errlen, &t);
	if (status != KP_OK)
		return status;
	status = check_seen(m.seen_indptr, m.seen_items, m.n_users, m.n_items, m.nnz,
						err, errlen, &t);
	if (status != KP_OK)
		return status;
	status = check_neighbours(m.neighbours, kp_model_user_rows(&m), m.neighbours_per_user,
							  err, errlen, &t);
	if (status != KP_OK)
		return status;

	*out = m;
	return KP_OK;
}

/* base64 (RFC 4648) */

static const char base64_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
kp_base64_encoded_len(size_t n)
{
	size_t		groups = n / 3 + (n % 3 != 0);

	/* saturate so that a caller's allocation fails instead of overflowing */
	if (groups > SIZE_MAX / 4)
		return SIZE_MAX;
	return groups * 4;
}

kp_status
kp_base64_encode(const void *src, size_t n, char *dst,
				 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	const unsigned char *s = src;
	ticker		t = {interrupt, interrupt_arg, 0};
	size_t		i;

	for (i = 0; i + 3 <= n; i += 3)
	{
		uint32_t	v = ((uint32_t) s[i] << 16) | ((uint32_t) s[i + 1] << 8) | s[i + 2];

		/* INTERRUPT_BYTES is not a multiple of 3: count whole groups */
		if (i % (INTERRUPT_BYTES / 3 * 3) == 0 && i > 0 &&
			ticker_cancelled(&t, INTERRUPT_BYTES))
			return KP_ECANCELLED;
		*dst++ = base64_alphabet[v >> 18];
		*dst++ = base64_alphabet[(v >> 12) & 63];
		*dst++ = base64_alphabet[(v >> 6) & 63];
		*dst++ = base64_alphabet[v & 63];
	}
	if (n - i == 1)
	{
		uint32_t	v = (uint32_t) s[i] << 16;

		*dst++ = base64_alphabet[v >> 18];
		*dst++ = base64_alphabet[(v >> 12) & 63];
		*dst++ = '=';
		*dst++ = '=';
	}
	else if (n - i == 2)
	{
		uint32_t	v = ((uint32_t) s[i] << 16) | ((uint32_t) s[i + 1] << 8);

		*dst++ = base64_alphabet[v >> 18];
		*dst++ = base64_alphabet[(v >> 12) & 63];
		*dst++ = base64_alphabet[(v >> 6) & 63];
		*dst++ = '=';
	}
	return KP_OK;
}

static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
is_ascii_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Padding is required, may only end the input, and the bits it covers must
 * be zero, so every byte string has exactly one accepted encoding (apart
 * from whitespace).
 */
kp_status
kp_base64_decode(const char *src, size_t n, void *dst, size_t dst_cap, size_t *written_out,
				 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	const unsigned char *s = (const unsigned char *) src;
	unsigned char *out = dst;
	ticker		t = {interrupt, interrupt_arg, 0};
	size_t		written = 0;
	uint32_t	acc = 0;
	int			nchars = 0;		/* characters in the current quad */
	int			npad = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		int			v;
		int			nbytes;

		if (i % INTERRUPT_BYTES == 0 && i > 0 && ticker_cancelled(&t, INTERRUPT_BYTES))
			return KP_ECANCELLED;
		if (is_ascii_space(s[i]))
			continue;
		if (s[i] == '=')
		{
			if (nchars < 2)
				return KP_EINVAL;
			npad++;
			v = 0;
		}
		else
		{
			v = base64_value(s[i]);
			if (v < 0 || npad > 0)
				return KP_EINVAL;
		}
		acc = (acc << 6) | (uint32_t) v;
		if (++nchars < 4)
			continue;

		nbytes = 3 - npad;
		if (npad > 0 && (acc & (npad == 1 ? 0xFFu : 0xFFFFu)) != 0)
			return KP_EINVAL;
		if ((size_t) nbytes > dst_cap - written)
			return KP_EINVAL;
		out[written++] = (unsigned char) (acc >> 16);
		if (nbytes > 1)
			out[written++] = (unsigned char) (acc >> 8);
		if (nbytes > 2)
			out[written++] = (unsigned char) acc;
		acc = 0;
		nchars = 0;
	}
	if (nchars != 0)
		return KP_EINVAL;
	*written_out = written;
	return KP_OK;
}
