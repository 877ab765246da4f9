/*
 * options.c -- training options given as a jsonb object.
 *
 * The jsonb goes to the core's parser (src/core/options.c) as text; its
 * messages, which name the offending key, become errors here.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/jsonb.h"

#include "kpreco.h"

/* The core hands back column names in UTF-8; the server wants its own encoding. */
static void
column_to_server_encoding(const char *key, char *column)
{
	char	   *converted;

	if (column[0] == '\0')
		return;
	converted = pg_any_to_server(column, strlen(column), PG_UTF8);
	if (strlen(converted) > KP_MAX_COLUMN_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be between 1 and %d bytes long",
						key, KP_MAX_COLUMN_BYTES)));
	strcpy(column, converted);
}

void
kpreco_parse_options(Jsonb *options, KpTrainOptions *out)
{
	char	   *text;
	char	   *utf8;
	char		message[KP_OPTIONS_MESSAGE_BYTES];
	char		hint[KP_OPTIONS_MESSAGE_BYTES];

	kp_train_options_default(out);
	if (options == NULL)
		return;

	text = JsonbToCString(NULL, &options->root, VARSIZE(options));
	utf8 = pg_server_to_any(text, strlen(text), PG_UTF8);
	if (kp_train_options_parse(utf8, strlen(utf8), out, message, sizeof(message),
							   hint, sizeof(hint)) != KP_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", pg_any_to_server(message, strlen(message), PG_UTF8)),
				 hint[0] != '\0' ? errhint("%s", hint) : 0));

	if (GetDatabaseEncoding() != PG_UTF8)
	{
		column_to_server_encoding("user_column", out->user_column);
		column_to_server_encoding("course_column", out->course_column);
		column_to_server_encoding("weight_column", out->weight_column);
	}
}

PG_FUNCTION_INFO_V1(kpreco_check_options);
PG_FUNCTION_INFO_V1(kpreco_decayed_weight);

/*
 * The effective options, every key spelled out, as stored in the model:
 * options after kpreco_resolve_defaults, and for ease the regularization
 * training chose.
 */
char *
kpreco_options_json(const KpTrainOptions *options)
{
	const kp_ials_params *ials = &options->ials;
	StringInfoData buf;

	initStringInfo(&buf);
	/* Shortest text that reads back as the same float: 0.01, not 0.00999999978. */
	switch (options->algorithm)
	{
		case KP_ALGO_BPR:
			appendStringInfo(&buf,
							 "{\"algorithm\": \"bpr\", \"factors\": %d, \"epochs\": %d, "
							 "\"learning_rate\": %s, \"regularization\": %s, \"seed\": " UINT64_FORMAT "}",
							 ials->factors, options->epochs,
							 float_to_shortest_decimal(options->learning_rate),
							 float_to_shortest_decimal(ials->regularization), ials->seed);
			break;
		case KP_ALGO_ALS:
			appendStringInfo(&buf,
							 "{\"algorithm\": \"als\", \"factors\": %d, \"iterations\": %d, "
							 "\"regularization\": %s, \"missing_weight\": %s, \"seed\": " UINT64_FORMAT "}",
							 ials->factors, ials->iterations,
							 float_to_shortest_decimal(ials->regularization),
							 float_to_shortest_decimal(options->missing_weight), ials->seed);
			break;
		case KP_ALGO_EASE:
			appendStringInfo(&buf, "{\"algorithm\": \"ease\", \"regularization\": %s}",
							 float_to_shortest_decimal(ials->regularization));
			break;
		case KP_ALGO_POPULAR:
			appendStringInfoString(&buf, "{\"algorithm\": \"popular\"}");
			break;
		default:
			appendStringInfo(&buf,
							 "{\"algorithm\": \"ials\", \"factors\": %d, \"iterations\": %d, "
							 "\"regularization\": %s, \"alpha\": %s, \"solver\": \"%s\", "
							 "\"cg_steps\": %d, \"seed\": " UINT64_FORMAT "}",
							 ials->factors, ials->iterations,
							 float_to_shortest_decimal(ials->regularization),
							 float_to_shortest_decimal(ials->alpha),
							 ials->solver == KP_SOLVER_CHOLESKY ? "cholesky" : "cg",
							 ials->cg_steps, ials->seed);
	}
	/* given only when the model keeps neighbour lists */
	if (options->similar_users > 0)
	{
		buf.data[--buf.len] = '\0';	/* the closing brace */
		appendStringInfo(&buf, ", \"similar_users\": %d}", options->similar_users);
	}
	return buf.data;
}

/* check_options(options jsonb): the error the aggregate would raise, if any. */
Datum
kpreco_check_options(PG_FUNCTION_ARGS)
{
	KpTrainOptions options;

	kpreco_parse_options(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0), &options);
	PG_RETURN_VOID();
}

/*
 * decayed_weight(weight, age_days, half_life_days): weight halved every
 * half_life_days of age, computed in double.  A positive result too small
 * for real is 0 (the aggregate skips the row); NaN and negative weights pass
 * through for the aggregate to report; a NULL age (no time) gives 0 and a
 * NULL half-life no decay.  A NULL weight counts as 1, as in train_agg.
 */
Datum
kpreco_decayed_weight(PG_FUNCTION_ARGS)
{
	double		weight = PG_ARGISNULL(0) ? 1.0 : PG_GETARG_FLOAT8(0);
	double		decayed = weight;

	if (PG_ARGISNULL(1))
		PG_RETURN_FLOAT4(0);
	if (!PG_ARGISNULL(2))
	{
		double		half_lives = Max(PG_GETARG_FLOAT8(1), 0) / PG_GETARG_FLOAT8(2);

		decayed = weight * pow(0.5, half_lives);
	}
	if (decayed > 0 && decayed < FLT_MIN)
		PG_RETURN_FLOAT4(0);
	if (decayed > FLT_MAX)
		PG_RETURN_FLOAT4(INFINITY);
	PG_RETURN_FLOAT4((float4) decayed);
}
