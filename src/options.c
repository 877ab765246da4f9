/*
 * options.c -- training options given as a jsonb object.
 *
 * Every key is checked: an unknown key, a value of the wrong JSON type or
 * a value out of range is an error that names the key.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "kpreco.h"

/* Keys read by kpreco.train() to build the query; accepted and ignored here. */
static const char *const source_keys[] = {"user_column", "course_column", "weight_column"};

static char *
key_name(JsonbValue *key)
{
	return pnstrdup(key->val.string.val, key->val.string.len);
}

static void
wrong_type(const char *key, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" must be %s", key, expected)));
}

static double
number_value(const char *key, JsonbValue *value)
{
	if (value->type != jbvNumeric)
		wrong_type(key, "a number");
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(value->val.numeric)));
}

/* A number in [0, max]: larger values overflow float32 in the solvers. */
static double
bounded_number(const char *key, JsonbValue *value, double max)
{
	double		number = number_value(key, value);

	if (!(number >= 0 && number <= max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be between 0 and %.0f", key, max)));
	return number;
}

/* Compared as numeric: a double would silently round seeds above 2^53. */
static int64
integer_value(const char *key, JsonbValue *value, int64 min, int64 max)
{
	Datum		number;

	if (value->type != jbvNumeric)
		wrong_type(key, "an integer");
	number = NumericGetDatum(value->val.numeric);
	if (numeric_is_nan(value->val.numeric) ||
		!DatumGetBool(DirectFunctionCall2(numeric_eq, number,
										  DirectFunctionCall2(numeric_trunc, number, Int32GetDatum(0)))))
		wrong_type(key, "an integer");
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, number,
										 DirectFunctionCall1(int8_numeric, Int64GetDatum(min)))) ||
		DatumGetBool(DirectFunctionCall2(numeric_gt, number,
										 DirectFunctionCall1(int8_numeric, Int64GetDatum(max)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be between " INT64_FORMAT " and " INT64_FORMAT, key, min, max)));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, number));
}

static char *
string_value(const char *key, JsonbValue *value)
{
	if (value->type != jbvString)
		wrong_type(key, "a string");
	return pnstrdup(value->val.string.val, value->val.string.len);
}

static void
set_option(KpTrainOptions *out, const char *key, JsonbValue *value)
{
	kp_ials_params *ials = &out->ials;
	int			i;

	if (strcmp(key, "algorithm") == 0)
	{
		char	   *name = string_value(key, value);

		if (strcmp(name, "ials") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"algorithm\" has unknown value \"%s\"", name),
					 errhint("Supported algorithms: ials.")));
	}
	else if (strcmp(key, "factors") == 0)
		ials->factors = (int32) integer_value(key, value, 1, KP_MAX_FACTORS);
	else if (strcmp(key, "iterations") == 0)
		ials->iterations = (int32) integer_value(key, value, 0, KP_MAX_ITERATIONS);
	else if (strcmp(key, "cg_steps") == 0)
		ials->cg_steps = (int32) integer_value(key, value, 1, KP_MAX_CG_STEPS);
	else if (strcmp(key, "seed") == 0)
		ials->seed = (uint64) integer_value(key, value, 0, PG_INT64_MAX);
	else if (strcmp(key, "regularization") == 0)
		ials->regularization = (float) bounded_number(key, value, KPRECO_MAX_REGULARIZATION);
	else if (strcmp(key, "alpha") == 0)
		ials->alpha = (float) bounded_number(key, value, KPRECO_MAX_ALPHA);
	else if (strcmp(key, "keep_versions") == 0)
		out->keep_versions = (int32) integer_value(key, value, 1, KP_MAX_KEEP_VERSIONS);
	else if (strcmp(key, "verbose") == 0)
	{
		if (value->type != jbvBool)
			wrong_type(key, "a boolean");
		out->verbose = value->val.boolean;
	}
	else if (strcmp(key, "solver") == 0)
	{
		char	   *name = string_value(key, value);

		if (strcmp(name, "cg") == 0)
			ials->solver = KP_SOLVER_CG;
		else if (strcmp(name, "cholesky") == 0)
			ials->solver = KP_SOLVER_CHOLESKY;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"solver\" has unknown value \"%s\"", name),
					 errhint("Use \"cg\" (conjugate gradient, the default) or \"cholesky\".")));
	}
	else
	{
		for (i = 0; i < lengthof(source_keys); i++)
		{
			if (strcmp(key, source_keys[i]) == 0)
			{
				if (value->type != jbvString && value->type != jbvNull)
					wrong_type(key, "a column name string");
				return;
			}
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown option \"%s\"", key),
				 errhint("Known options: algorithm, factors, iterations, regularization, alpha, solver, cg_steps, seed, user_column, course_column, weight_column, keep_versions, verbose.")));
	}
}

void
kpreco_parse_options(Jsonb *options, KpTrainOptions *out)
{
	JsonbIterator *it;
	JsonbValue	value;
	JsonbIteratorToken token;
	char	   *key = NULL;
	const char *problem;

	memset(out, 0, sizeof(*out));
	kp_ials_default_params(&out->ials);
	out->keep_versions = KP_DEFAULT_KEEP_VERSIONS;
	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("For example '{\"factors\": 64, \"iterations\": 15}'.")));

	it = JsonbIteratorInit(&options->root);
	while ((token = JsonbIteratorNext(&it, &value, true)) != WJB_DONE)
	{
		if (token == WJB_KEY)
			key = key_name(&value);
		else if (token == WJB_VALUE)
			set_option(out, key, &value);
	}

	/* The core's message starts with the option's name: quote it like ours. */
	problem = kp_ials_check_params(&out->ials);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%.*s\"%s", (int) strcspn(problem, " "), problem,
						problem + strcspn(problem, " "))));
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
