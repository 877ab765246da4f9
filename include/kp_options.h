/*
 * kp_options.h -- the training options: a JSON object given as UTF-8 text,
 * checked key by key.
 *
 * Every key is checked: an unknown key, a value of the wrong JSON type or a
 * value out of range is an error whose message names the key the way SQL
 * users see it, e.g. option "factors" must be between 1 and 1024.  As in
 * jsonb, the last of duplicate keys wins.  The parser allocates nothing,
 * never recurses and reads only the bytes it is given.
 */
#ifndef KP_OPTIONS_H
#define KP_OPTIONS_H

#include <stdbool.h>

#include "kp_core.h"
#include "kp_ials.h"
#include "kp_model.h"

/* Trained versions of a model that are kept (option keep_versions). */
#define KP_DEFAULT_KEEP_VERSIONS 3
#define KP_MAX_KEEP_VERSIONS 1000

/* Option "algorithm": "auto" picks one of the others by validation. */
#define KP_ALGO_AUTO 0

/* Stochastic gradient descent of bpr. */
#define KP_DEFAULT_EPOCHS 100
#define KP_MAX_EPOCHS 100000
#define KP_DEFAULT_LEARNING_RATE 0.01f

/* als: weight of the unrated pairs (kp_als.h); 0 is plain rating prediction. */
#define KP_MAX_MISSING_WEIGHT 100

/* Larger values overflow float32 in the solvers. */
#define KP_MAX_REGULARIZATION 1e6
#define KP_MAX_ALPHA 1e6

/*
 * Bytes of UTF-8 in a column name: PostgreSQL's identifier limit
 * (NAMEDATALEN - 1), beyond which it truncates names, in a UTF-8 database.
 */
#define KP_MAX_COLUMN_BYTES 63

/* Arrays and objects nested deeper are refused; options themselves are flat. */
#define KP_OPTIONS_MAX_DEPTH 1000

/* Room for the longest message or hint the parser writes. */
#define KP_OPTIONS_MESSAGE_BYTES 512

/*
 * Every key is checked against the algorithm: an option given for an
 * algorithm that has no use for it (alpha for bpr) is an error.  factors,
 * iterations, regularization and seed are kept in ials and shared by the
 * algorithms that use them; the *_given flags tell the caller where an
 * algorithm's own default must replace the ials one.
 */
typedef struct kp_train_options
{
	uint32_t	algorithm;		/* kp_algorithm, or KP_ALGO_AUTO */
	kp_ials_params ials;
	bool		factors_given;
	bool		iterations_given;
	bool		regularization_given;
	int32_t		epochs;			/* bpr: 0 .. KP_MAX_EPOCHS */
	float		learning_rate;	/* bpr: (0, 1] */
	bool		missing_weight_given;
	float		missing_weight; /* als: 0 .. KP_MAX_MISSING_WEIGHT */
	int32_t		similar_users;	/* neighbour lists kept per user: 0 .. KP_MODEL_MAX_NEIGHBOURS */
	int32_t		keep_versions;	/* 1 .. KP_MAX_KEEP_VERSIONS */
	bool		verbose;
	/* Source columns; "" when not given. */
	char		user_column[KP_MAX_COLUMN_BYTES + 1];
	char		course_column[KP_MAX_COLUMN_BYTES + 1];
	char		weight_column[KP_MAX_COLUMN_BYTES + 1];
} kp_train_options;

void		kp_train_options_default(kp_train_options *options);

/*
 * Parses json[0, len) (no terminating NUL needed) into *out.  On failure
 * returns KP_EINVAL, leaves the defaults in *out and writes a one-line
 * message (no final period) and a hint (a sentence, or "" when there is
 * none); either buffer may be NULL with size 0.
 */
kp_status	kp_train_options_parse(const char *json, size_t len, kp_train_options *out,
								   char *message, size_t message_size,
								   char *hint, size_t hint_size);

#endif							/* KP_OPTIONS_H */
