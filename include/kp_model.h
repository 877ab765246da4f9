/*
 * kp_model.h -- the serialised model: one self-describing byte string that
 * the PostgreSQL type kpreco.model wraps.
 *
 * Layout (little-endian, every section 8-byte aligned from the start):
 *   0   u32  reserved for the container's length word (ignored)
 *   4   u32  magic "KPRM"
 *   8   u32  format version
 *  12   u32  algorithm (kp_algorithm)
 *  16   i32  n_users
 *  20   i32  n_items
 *  24   i32  factors
 *  28   u32  options_len (bytes of JSON text)
 *  32   i64  nnz (distinct training pairs)
 *  40   i64  rows_read (input rows the aggregate saw)
 *  48   i64  rows_skipped (input rows with a NULL id)
 *  56   u64  checksum of bytes [4, 56) and [64, end):
 *            kp_checksum(kp_checksum(0, bytes [4, 56)), bytes [64, end))
 *  64   options JSON, padded to 8
 *       i64  user_ids[n_users]      ascending, distinct
 *       i64  item_ids[n_items]      ascending, distinct
 *       f32  user_factors[user_rows * factors], padded to 8
 *       f32  item_factors[n_items * factors], padded to 8
 *       i64  seen_indptr[n_users + 1]
 *       i32  seen_items[nnz], padded to 8   (each user's training items)
 *   format version 3 only (a model that stores neighbour lists):
 *       u32  neighbours_per_user (L, 1..KP_MODEL_MAX_NEIGHBOURS)
 *       f32  neighbours_floor: no list member scores below it (kp_neighbours.h)
 *       i32  neighbours[user_rows * L], padded to 8
 *            row u's L slots: the user rows most similar to u (kp_neighbours.h)
 *            in ascending order, then -1 for each slot left empty
 * Readers check every field, every size and every float, so a truncated or
 * altered value is rejected instead of being served.
 *
 * Every model scores a (user, course) pair as the dot product of a user
 * vector and a course vector of `factors` floats:
 *   ials     the factors (Hu, Koren & Volinsky 2008);
 *   bpr      [p_u, 1] · [q_i, b_i]: the last component carries the course bias;
 *   als      [p_u, 1, μ + b_u] · [q_i, b_i, 1]: the dot product is the rating;
 *   popular  [1] · [popularity_i];
 *   ease     the item-item weight matrix B is stored as the course vectors
 *            (factors = n_items, row i = B[i, ·]); there are no user vectors
 *            (user_rows = 0): a user's vector is the indicator of the user's
 *            training courses, so the score of j is the sum of B[i, j] over
 *            them.
 * user_rows is n_users for every algorithm but ease.
 *
 * Format version 2 adds the algorithms other than ials, version 3 the
 * neighbour lists.  A model that an older version can express is still
 * written in the oldest such version, so that older releases of kpreco keep
 * reading it.
 */
#ifndef KP_MODEL_H
#define KP_MODEL_H

#include "kp_core.h"

#define KP_MODEL_MAGIC 0x4D52504Bu	/* bytes 'K' 'P' 'R' 'M' */
#define KP_MODEL_FORMAT_VERSION 3
#define KP_MODEL_HEADER_BYTES 64
/*
 * PostgreSQL refuses values of 1 GB or more, and the text form (base64, 4/3
 * of the size), which pg_dump writes, must fit under that too.
 */
#define KP_MODEL_MAX_BYTES ((size_t) 760 * 1024 * 1024)
/* Larger factors are never produced by training; they would overflow scores. */
#define KP_MODEL_MAX_ABS_FACTOR 1e15f
#define KP_MODEL_MAX_OPTIONS_BYTES (64 * 1024)
/* Most neighbours a model stores per user (kpreco.train's option similar_users). */
#define KP_MODEL_MAX_NEIGHBOURS 100

typedef enum kp_algorithm
{
	KP_ALGO_IALS = 1,
	KP_ALGO_BPR = 2,
	KP_ALGO_ALS = 3,
	KP_ALGO_EASE = 4,
	KP_ALGO_POPULAR = 5
} kp_algorithm;

/* bpr's header field factors for its latent dimension (als: kp_als.h). */
#define KP_BPR_VECTOR_DIMS(f) ((f) + 1)

/* A model's fields; array pointers refer into the serialised buffer. */
typedef struct kp_model
{
	uint32_t	format_version;
	uint32_t	algorithm;
	int32_t		n_users;
	int32_t		n_items;
	int32_t		factors;
	uint32_t	options_len;
	int64_t		nnz;
	int64_t		rows_read;
	int64_t		rows_skipped;
	const char *options_json;	/* not NUL-terminated */
	const int64_t *user_ids;
	const int64_t *item_ids;
	const float *user_factors;
	const float *item_factors;
	const int64_t *seen_indptr;
	const int32_t *seen_items;
	int32_t		neighbours_per_user;	/* 0: no neighbour lists */
	float		neighbours_floor;	/* in [-2, 2] */
	const int32_t *neighbours;	/* user_rows * neighbours_per_user */
} kp_model;

const char *kp_algorithm_name(uint32_t algorithm);

/* Rows of user_factors: 0 for ease, whose users have no stored vectors. */
static inline int32_t
kp_model_user_rows(const kp_model *m)
{
	return m->algorithm == KP_ALGO_EASE ? 0 : m->n_users;
}

/* The oldest format version that can hold a model of this algorithm. */
static inline uint32_t
kp_model_format_for(uint32_t algorithm)
{
	return algorithm == KP_ALGO_IALS ? 1 : 2;
}

/* Only models with user vectors that rank users (not popular, not ease) keep neighbours. */
static inline int
kp_model_can_have_neighbours(uint32_t algorithm)
{
	return algorithm == KP_ALGO_IALS || algorithm == KP_ALGO_BPR || algorithm == KP_ALGO_ALS;
}

/* Serialised size of m, or 0 if it would exceed KP_MODEL_MAX_BYTES. */
size_t		kp_model_bytes(const kp_model *m);

/*
 * Writes m into buf (size == kp_model_bytes(m), 8-byte aligned), including
 * the checksum; bytes 0..3 are left as they are.  The version written is
 * 3 when m has neighbour lists; otherwise m->format_version when it can
 * hold the algorithm and is older than 3 (a value read and written again
 * keeps its bytes), else kp_model_format_for(m->algorithm).  KP_EINVAL for a wrong size or
 * alignment, a big-endian host, or header fields kp_model_read would reject.
 * Calls interrupt (if not NULL) every few MB written; KP_ECANCELLED, with
 * buf half written, when it returns nonzero.
 */
kp_status	kp_model_write(const kp_model *m, void *buf, size_t size,
						   kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * Parses and fully validates buf (8-byte aligned): magic, version, sizes,
 * checksum, id order, CSR structure, finite factors within
 * KP_MODEL_MAX_ABS_FACTOR, neighbour lists (ascending rows in range, never
 * the user's own, empty slots only at the end).  On success out's pointers refer into buf.  On
 * failure writes a one-line reason into err (lowercase, no final period).
 * Calls interrupt (if not NULL) every few MB checked; KP_ECANCELLED when it
 * returns nonzero.
 */
kp_status	kp_model_read(const void *buf, size_t size, kp_model *out,
						  char *err, size_t errlen,
						  kp_interrupt_fn interrupt, void *interrupt_arg);

/*
 * Reads and checks only the fixed header (the first 64 bytes) and that the
 * declared sizes add up to size_total (for version 3, whose neighbour count
 * follows the arrays, that size_total leaves room for neighbour lists);
 * array pointers are left NULL and neighbours_per_user 0.
 */
kp_status	kp_model_read_header(const void *buf, size_t header_len, size_t size_total,
								 kp_model *out, char *err, size_t errlen);

/* 64-bit checksum used by the format (a bijective mix per 8-byte word). */
uint64_t	kp_checksum(uint64_t seed, const void *data, size_t len);

/*
 * Standard base64 (RFC 4648) with padding, no line breaks.  Both ways call
 * interrupt (if not NULL) every few MB and return KP_ECANCELLED when it
 * returns nonzero.
 */
size_t		kp_base64_encoded_len(size_t n);
/* Writes exactly kp_base64_encoded_len(n) characters, no terminating NUL. */
kp_status	kp_base64_encode(const void *src, size_t n, char *dst,
							 kp_interrupt_fn interrupt, void *interrupt_arg);
/* Decodes, ignoring ASCII whitespace, into *written bytes; KP_EINVAL on bad input. */
kp_status	kp_base64_decode(const char *src, size_t n, void *dst, size_t dst_cap,
							 size_t *written, kp_interrupt_fn interrupt, void *interrupt_arg);

#endif							/* KP_MODEL_H */
