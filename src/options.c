/*
 * options.c -- training options given as a jsonb object.
 *
 * The jsonb goes to the core's parser (src/core/options.c) as text; its
 * messages, which name the offending key, become errors here.
 */
#include "postgres.h"

#include "common/shortest_dec.h"
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

/* The effective options, every key spelled out, as stored in the model. */
char *
kpreco_options_json(const KpTrainOptions *options)
{
	const kp_ials_params *ials = &options->ials;
	StringInfoData buf;

	initStringInfo(&buf);
	/* Shortest text that reads back as the same float: 0.01, not 0.00999999978. */
	appendStringInfo(&buf,
					 "{\"algorithm\": \"ials\", \"factors\": %d, \"iterations\": %d, "
					 "\"regularization\": %s, \"alpha\": %s, \"solver\": \"%s\", "
					 "\"cg_steps\": %d, \"seed\": " UINT64_FORMAT "}",
					 ials->factors, ials->iterations,
					 float_to_shortest_decimal(ials->regularization),
					 float_to_shortest_decimal(ials->alpha),
					 ials->solver == KP_SOLVER_CHOLESKY ? "cholesky" : "cg",
					 ials->cg_steps, ials->seed);
	return buf.data;
}
