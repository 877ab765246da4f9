/*
 * test_options.c -- the training options parser: every key, every message
 * the server shows, JSON edge cases (duplicates, escapes, huge numbers,
 * exponents, -0, bad UTF-8, deep nesting) and inputs without a final NUL.
 */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "kp_options.h"
#include "unit.h"

static char message[KP_OPTIONS_MESSAGE_BYTES];
static char hint[KP_OPTIONS_MESSAGE_BYTES];

static const char known_hint[] =
"Known options: algorithm, factors, iterations, regularization, alpha, solver, "
"cg_steps, seed, epochs, learning_rate, missing_weight, similar_users, user_column, "
"course_column, weight_column, keep_versions, verbose.";

static const char algorithms_hint[] = "Supported algorithms: ials, bpr, als, ease, popular and auto.";

static const char object_hint[] = "For example '{\"factors\": 64, \"iterations\": 15}'.";

static kp_status
parse_bytes(const char *json, size_t len, kp_train_options *out)
{
	return kp_train_options_parse(json, len, out, message, sizeof(message), hint, sizeof(hint));
}

static kp_status
parse(const char *json, kp_train_options *out)
{
	return parse_bytes(json, strlen(json), out);
}

static int
is_default(const kp_train_options *o)
{
	kp_train_options d;

	kp_train_options_default(&d);
	return memcmp(o, &d, sizeof(d)) == 0;
}

/* s with control characters shown as '?', so that TAP lines stay whole. */
static const char *
printable(const char *s, int which)
{
	static char buf[2][KP_OPTIONS_MESSAGE_BYTES + 64];
	size_t		i;

	for (i = 0; s[i] != '\0' && i < sizeof(buf[which]) - 1; i++)
		buf[which][i] = (unsigned char) s[i] < 0x20 ? '?' : s[i];
	buf[which][i] = '\0';
	return buf[which];
}

/* json (len bytes) is refused with exactly this message and hint. */
static void
expect_error_bytes(const char *json, size_t len, const char *want, const char *want_hint,
				   const char *what)
{
	kp_train_options o;
	kp_status	status = parse_bytes(json, len, &o);

	unit_ok(status == KP_EINVAL && strcmp(message, want) == 0 &&
			strcmp(hint, want_hint ? want_hint : "") == 0 && is_default(&o),
			"%s: \"%s\" (hint \"%s\")", printable(what, 0), printable(message, 1), hint);
}

static void
expect_error(const char *json, const char *want, const char *want_hint, const char *what)
{
	expect_error_bytes(json, strlen(json), want, want_hint, what);
}

/* json is refused as invalid JSON (any position). */
static void
expect_syntax_error_bytes(const char *json, size_t len, const char *what)
{
	kp_train_options o;
	kp_status	status = parse_bytes(json, len, &o);

	unit_ok(status == KP_EINVAL &&
			strncmp(message, "options are not valid JSON: ", 28) == 0 && hint[0] == '\0' &&
			is_default(&o),
			"%s: %s", printable(what, 0), printable(message, 1));
}

static void
expect_syntax_error(const char *json, const char *what)
{
	expect_syntax_error_bytes(json, strlen(json), what);
}

static void
test_defaults_and_every_key(void)
{
	kp_train_options o;

	unit_ok(parse("{}", &o) == KP_OK && is_default(&o) && message[0] == '\0' && hint[0] == '\0',
			"{} gives the defaults, no message");
	unit_ok(o.ials.factors == 64 && o.ials.iterations == 15 && o.ials.regularization == 0.01f &&
			o.ials.alpha == 1.0f && o.ials.solver == KP_SOLVER_CG && o.ials.cg_steps == 3 &&
			o.ials.seed == KP_DEFAULT_SEED && o.keep_versions == 3 && !o.verbose &&
			o.user_column[0] == '\0' && o.course_column[0] == '\0' && o.weight_column[0] == '\0',
			"the defaults are those of kp_ials_default_params, keep_versions 3, verbose false");
	unit_ok(parse(" \t\r\n{ \t\r\n} \n", &o) == KP_OK && is_default(&o), "whitespace around and inside");

	unit_ok(parse("{\"algorithm\": \"ials\", \"factors\": 8, \"iterations\": 20, "
				  "\"regularization\": 0.1, \"alpha\": 5, \"solver\": \"cholesky\", "
				  "\"cg_steps\": 7, \"seed\": 7, \"user_column\": \"member_id\", "
				  "\"course_column\": \"product_id\", \"weight_column\": \"w\", "
				  "\"keep_versions\": 10, \"verbose\": true}", &o) == KP_OK,
			"every key at once");
	unit_ok(o.ials.factors == 8 && o.ials.iterations == 20 && o.ials.regularization == 0.1f &&
			o.ials.alpha == 5.0f && o.ials.solver == KP_SOLVER_CHOLESKY && o.ials.cg_steps == 7 &&
			o.ials.seed == 7 && o.keep_versions == 10 && o.verbose &&
			strcmp(o.user_column, "member_id") == 0 && strcmp(o.course_column, "product_id") == 0 &&
			strcmp(o.weight_column, "w") == 0,
			"every key is stored");
	unit_ok(kp_ials_check_params(&o.ials) == NULL, "and the solver accepts them");

	unit_ok(parse("{\"solver\": \"cg\", \"verbose\": false}", &o) == KP_OK &&
			o.ials.solver == KP_SOLVER_CG && !o.verbose, "solver cg, verbose false");
	unit_ok(parse("{\"iterations\": 0, \"keep_versions\": 1}", &o) == KP_OK &&
			o.ials.iterations == 0 && o.keep_versions == 1, "lower bounds are inclusive");
	unit_ok(parse("{\"factors\": 1024, \"iterations\": 1000, \"cg_steps\": 64, \"keep_versions\": 1000, "
				  "\"regularization\": 1000000, \"alpha\": 1e6}", &o) == KP_OK &&
			o.ials.factors == 1024 && o.ials.iterations == 1000 && o.ials.cg_steps == 64 &&
			o.keep_versions == 1000 && o.ials.regularization == 1e6f && o.ials.alpha == 1e6f,
			"upper bounds are inclusive");
}

/* Each message the server has always shown, from test/sql and test/pgtap. */
static void
test_server_messages(void)
{
	expect_error("{\"factor\": 3}", "unknown option \"factor\"", known_hint, "unknown key");
	expect_error("{\"factors\": 8, \"learning_rte\": 0.1}", "unknown option \"learning_rte\"",
				 known_hint, "unknown key after a good one");
	expect_error("[{\"factors\": 3}]", "options must be a JSON object", object_hint, "an array");
	expect_error("[]", "options must be a JSON object", object_hint, "an empty array");
	expect_error("[1]", "options must be a JSON object", object_hint, "[1]");
	expect_error("\"factors\"", "options must be a JSON object", object_hint, "a string");
	expect_error("3", "options must be a JSON object", object_hint, "a number");
	expect_error("null", "options must be a JSON object", object_hint, "null");
	expect_error(" true ", "options must be a JSON object", object_hint, "true");
	expect_error("{\"factors\": \"3\"}", "option \"factors\" must be an integer", NULL, "factors as a string");
	expect_error("{\"factors\": \"64\"}", "option \"factors\" must be an integer", NULL, "factors \"64\"");
	expect_error("{\"factors\": 2.5}", "option \"factors\" must be an integer", NULL, "factors 2.5");
	expect_error("{\"factors\": 0}", "option \"factors\" must be between 1 and 1024", NULL, "factors 0");
	expect_error("{\"factors\": 1025}", "option \"factors\" must be between 1 and 1024", NULL, "factors 1025");
	expect_error("{\"iterations\": -1}", "option \"iterations\" must be between 0 and 1000", NULL, "iterations -1");
	expect_error("{\"iterations\": 1001}", "option \"iterations\" must be between 0 and 1000", NULL, "iterations 1001");
	expect_error("{\"cg_steps\": 0}", "option \"cg_steps\" must be between 1 and 64", NULL, "cg_steps 0");
	expect_error("{\"cg_steps\": 65}", "option \"cg_steps\" must be between 1 and 64", NULL, "cg_steps 65");
	expect_error("{\"seed\": -1}", "option \"seed\" must be between 0 and 9223372036854775807", NULL, "seed -1");
	expect_error("{\"seed\": \"42\"}", "option \"seed\" must be an integer", NULL, "seed as a string");
	expect_error("{\"regularization\": -0.5}", "option \"regularization\" must be between 0 and 1000000", NULL,
				 "regularization -0.5");
	expect_error("{\"regularization\": \"0.1\"}", "option \"regularization\" must be a number", NULL,
				 "regularization as a string");
	expect_error("{\"alpha\": -1}", "option \"alpha\" must be between 0 and 1000000", NULL, "alpha -1");
	expect_error("{\"alpha\": 1e39}", "option \"alpha\" must be between 0 and 1000000", NULL, "alpha 1e39");
	expect_error("{\"solver\": 1}", "option \"solver\" must be a string", NULL, "solver as a number");
	expect_error("{\"solver\": \"lu\"}", "option \"solver\" has unknown value \"lu\"",
				 "Use \"cg\" (conjugate gradient, the default) or \"cholesky\".", "solver lu");
	expect_error("{\"algorithm\": \"svd\"}", "option \"algorithm\" has unknown value \"svd\"",
				 algorithms_hint, "algorithm svd");
	expect_error("{\"algorithm\": [\"ials\"]}", "option \"algorithm\" must be a string", NULL, "algorithm as an array");
	expect_error("{\"user_column\": 1}", "option \"user_column\" must be a column name string", NULL,
				 "user_column as a number");
	expect_error("{\"weight_column\": [\"weight\"]}", "option \"weight_column\" must be a column name string", NULL,
				 "weight_column as an array");
}

static void
test_new_keys(void)
{
	kp_train_options o;

	expect_error("{\"keep_versions\": 0}", "option \"keep_versions\" must be between 1 and 1000", NULL, "keep_versions 0");
	expect_error("{\"keep_versions\": 1001}", "option \"keep_versions\" must be between 1 and 1000", NULL,
				 "keep_versions 1001");
	expect_error("{\"keep_versions\": \"5\"}", "option \"keep_versions\" must be an integer", NULL,
				 "keep_versions as a string");
	expect_error("{\"keep_versions\": 2.5}", "option \"keep_versions\" must be an integer", NULL, "keep_versions 2.5");
	unit_ok(parse("{\"keep_versions\": 5.0}", &o) == KP_OK && o.keep_versions == 5, "keep_versions 5.0 is 5");
	expect_error("{\"verbose\": 1}", "option \"verbose\" must be a boolean", NULL, "verbose 1");
	expect_error("{\"verbose\": \"true\"}", "option \"verbose\" must be a boolean", NULL, "verbose \"true\"");
	expect_error("{\"verbose\": null}", "option \"verbose\" must be a boolean", NULL, "verbose null");
	expect_error("{\"algorithm\": null}", "option \"algorithm\" must be a string", NULL, "algorithm null");
	expect_error("{\"factors\": null}", "option \"factors\" must be an integer", NULL, "factors null");
	expect_error("{\"factors\": true}", "option \"factors\" must be an integer", NULL, "factors true");
	expect_error("{\"factors\": {\"value\": 3}}", "option \"factors\" must be an integer", NULL, "factors an object");
	expect_error("{\"alpha\": null}", "option \"alpha\" must be a number", NULL, "alpha null");
	expect_error("{\"alpha\": [1]}", "option \"alpha\" must be a number", NULL, "alpha an array");
	expect_error("{\"solver\": {}}", "option \"solver\" must be a string", NULL, "solver an object");
	expect_error("{\"course_column\": true}", "option \"course_column\" must be a column name string", NULL,
				 "course_column true");
	expect_error("{\"CG_steps\": 3}", "unknown option \"CG_steps\"", known_hint, "keys are case-sensitive");
	expect_error("{\"\": 3}", "unknown option \"\"", known_hint, "an empty key");
	expect_error("{\"factors \": 3}", "unknown option \"factors \"", known_hint, "a key with a trailing space");
	expect_error("{\"factorsfactorsfactors\": 3}", "unknown option \"factorsfactorsfactors\"", known_hint,
				 "a key longer than every known one");
}

/* Option "algorithm", the keys of bpr, and keys an algorithm has no use for. */
static void
test_algorithms(void)
{
	static const struct
	{
		const char *name;
		uint32_t	algorithm;
	}			choices[] = {
		{"ials", KP_ALGO_IALS}, {"bpr", KP_ALGO_BPR}, {"als", KP_ALGO_ALS},
		{"ease", KP_ALGO_EASE}, {"popular", KP_ALGO_POPULAR}, {"auto", KP_ALGO_AUTO}
	};
	kp_train_options o;
	char		json[64];
	size_t		i;

	for (i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
	{
		snprintf(json, sizeof(json), "{\"algorithm\": \"%s\"}", choices[i].name);
		unit_ok(parse(json, &o) == KP_OK && o.algorithm == choices[i].algorithm,
				"algorithm %s", choices[i].name);
	}
	unit_ok(parse("{}", &o) == KP_OK && o.algorithm == KP_ALGO_IALS && !o.factors_given &&
			!o.iterations_given && !o.regularization_given && o.epochs == 100 &&
			o.learning_rate == 0.01f, "defaults: ials, nothing given, bpr's 100 epochs at 0.01");
	unit_ok(parse("{\"algorithm\": \"bpr\", \"factors\": 32, \"regularization\": 0.5, "
				  "\"epochs\": 7, \"learning_rate\": 0.25, \"seed\": 9}", &o) == KP_OK &&
			o.factors_given && o.regularization_given && !o.iterations_given &&
			o.ials.factors == 32 && o.ials.regularization == 0.5f && o.epochs == 7 &&
			o.learning_rate == 0.25f && o.ials.seed == 9, "bpr with its keys");
	expect_error("{\"algorithm\": \"bpr\", \"epochs\": 100001}",
				 "option \"epochs\" must be between 0 and 100000", NULL, "epochs 100001");
	expect_error("{\"algorithm\": \"bpr\", \"learning_rate\": 0}",
				 "option \"learning_rate\" must be greater than 0 and at most 1", NULL, "learning_rate 0");
	expect_error("{\"algorithm\": \"bpr\", \"learning_rate\": 1.5}",
				 "option \"learning_rate\" must be between 0 and 1", NULL, "learning_rate 1.5");
	expect_error("{\"algorithm\": \"bpr\", \"alpha\": 2}",
				 "option \"alpha\" does not apply to algorithm bpr (it applies to ials)", NULL, "alpha with bpr");
	expect_error("{\"epochs\": 5}",
				 "option \"epochs\" does not apply to algorithm ials (it applies to bpr)", NULL,
				 "epochs with the default ials");
	expect_error("{\"iterations\": 5, \"algorithm\": \"ease\"}",
				 "option \"iterations\" does not apply to algorithm ease (it applies to ials, als)", NULL,
				 "iterations with ease, whatever the order");
	expect_error("{\"algorithm\": \"popular\", \"regularization\": 1}",
				 "option \"regularization\" does not apply to algorithm popular (it applies to ials, bpr, als, ease)",
				 NULL, "regularization with popular");
	unit_ok(parse("{\"algorithm\": \"als\", \"missing_weight\": 0}", &o) == KP_OK &&
			o.missing_weight_given && o.missing_weight == 0, "als: missing_weight 0");
	expect_error("{\"algorithm\": \"als\", \"missing_weight\": 101}",
				 "option \"missing_weight\" must be between 0 and 100", NULL, "missing_weight 101");
	unit_ok(parse("{\"similar_users\": 20}", &o) == KP_OK && o.similar_users == 20,
			"similar_users 20");
	unit_ok(parse("{\"algorithm\": \"bpr\", \"similar_users\": 0}", &o) == KP_OK && o.similar_users == 0,
			"bpr: similar_users 0");
	expect_error("{\"similar_users\": 101}",
				 "option \"similar_users\" must be between 0 and 100", NULL, "similar_users 101");
	expect_error("{\"similar_users\": 2.5}",
				 "option \"similar_users\" must be an integer", NULL, "similar_users 2.5");
	expect_error("{\"algorithm\": \"ease\", \"similar_users\": 10}",
				 "option \"similar_users\" does not apply to algorithm ease (it applies to ials, bpr, als)",
				 NULL, "similar_users with ease");
	expect_error("{\"missing_weight\": 1}",
				 "option \"missing_weight\" does not apply to algorithm ials (it applies to als)", NULL,
				 "missing_weight with ials");
	unit_ok(parse("{\"algorithm\": \"popular\", \"weight_column\": \"w\", \"keep_versions\": 2, "
				  "\"verbose\": true}", &o) == KP_OK, "columns, keep_versions and verbose apply to every algorithm");
	expect_error("{\"algorithm\": \"auto\", \"alpha\": 2}",
				 "option \"alpha\" does not apply to algorithm auto (it applies to ials)", NULL,
				 "auto tries its own settings");
	unit_ok(parse("{\"algorithm\": \"auto\", \"user_column\": \"u\", \"verbose\": true}", &o) == KP_OK &&
			o.algorithm == KP_ALGO_AUTO, "auto with the keys every algorithm shares");
}

static void
test_columns(void)
{
	kp_train_options o;
	char		json[256];
	char		name[80];

	memset(name, 'c', 63);
	name[63] = '\0';
	snprintf(json, sizeof(json), "{\"user_column\": \"%s\"}", name);
	unit_ok(parse(json, &o) == KP_OK && strcmp(o.user_column, name) == 0, "a 63-byte column name is kept");
	memset(name, 'c', 64);
	name[64] = '\0';
	snprintf(json, sizeof(json), "{\"user_column\": \"%s\"}", name);
	expect_error(json, "option \"user_column\" must be between 1 and 63 bytes long", NULL, "a 64-byte column name");
	expect_error("{\"course_column\": \"\"}", "option \"course_column\" must be between 1 and 63 bytes long", NULL,
				 "an empty column name");
	/* 21 three-byte characters: 63 bytes; escapes count decoded */
	unit_ok(parse("{\"weight_column\": \"\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83"
				  "\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83"
				  "\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\xe6\x9d\x83\\u6743\\u6743\"}",
				  &o) == KP_OK && strlen(o.weight_column) == 63,
			"column length counts bytes of the decoded UTF-8");
	unit_ok(parse("{\"weight_column\": \"a\\\"b\\\\c\\/d\\te\"}", &o) == KP_OK &&
			strcmp(o.weight_column, "a\"b\\c/d\te") == 0, "escapes in a column name are decoded");
	expect_error("{\"user_column\": null}", "option \"user_column\" must be a column name string", NULL,
				 "a null column is refused, as kpreco.train() refuses it");
	unit_ok(parse("{\"user_column\": null, \"user_column\": \"x\"}", &o) == KP_OK &&
			strcmp(o.user_column, "x") == 0, "... unless a later duplicate names a column");
}

static void
test_duplicates_and_order(void)
{
	kp_train_options o;

	unit_ok(parse("{\"factors\": \"x\", \"factors\": 5}", &o) == KP_OK && o.ials.factors == 5,
			"duplicate keys: the last wins, an earlier bad value does not matter");
	expect_error("{\"factors\": 5, \"factors\": 0}", "option \"factors\" must be between 1 and 1024", NULL,
				 "duplicate keys: a bad last value is reported");
	unit_ok(parse("{\"f\\u0061ctors\": 7, \"factors\": 9, \"\\u0066actors\": 11}", &o) == KP_OK &&
			o.ials.factors == 11, "escaped keys are the same keys");
	expect_error("{\"factors\": \"a\", \"iterations\": -1}", "option \"factors\" must be an integer", NULL,
				 "the first problem in the text is reported");
	expect_error("{\"iterations\": -1, \"factors\": \"a\"}", "option \"iterations\" must be between 0 and 1000", NULL,
				 "... whatever the key");
	expect_error("{\"factors\": 0, \"x\": 1}", "option \"factors\" must be between 1 and 1024", NULL,
				 "a bad value before an unknown key");
	expect_error("{\"x\": 1, \"factors\": 0, \"y\": 2}", "unknown option \"x\"", known_hint,
				 "the first unknown key before a bad value");
	expect_error("{\"factors\": 1, \"x\": 1, \"factors\": 0}", "unknown option \"x\"", known_hint,
				 "an unknown key before the last occurrence of a bad key");
	unit_ok(parse("{\"verbose\": true, \"verbose\": false}", &o) == KP_OK && !o.verbose, "last boolean wins");
}

static void
test_integers(void)
{
	kp_train_options o;
	char		json[1200];
	int			i;

	unit_ok(parse("{\"factors\": 2.0}", &o) == KP_OK && o.ials.factors == 2, "2.0 is an integer");
	unit_ok(parse("{\"factors\": 1e1}", &o) == KP_OK && o.ials.factors == 10, "1e1 is 10");
	unit_ok(parse("{\"factors\": 1E+2}", &o) == KP_OK && o.ials.factors == 100, "1E+2 is 100");
	unit_ok(parse("{\"factors\": 0.5e1}", &o) == KP_OK && o.ials.factors == 5, "0.5e1 is 5");
	unit_ok(parse("{\"factors\": 100e-2}", &o) == KP_OK && o.ials.factors == 1, "100e-2 is 1");
	unit_ok(parse("{\"factors\": 0.00032e+5}", &o) == KP_OK && o.ials.factors == 32, "0.00032e+5 is 32");
	unit_ok(parse("{\"iterations\": -0}", &o) == KP_OK && o.ials.iterations == 0, "-0 is 0");
	unit_ok(parse("{\"iterations\": -0.0e-7}", &o) == KP_OK && o.ials.iterations == 0, "-0.0e-7 is 0");
	unit_ok(parse("{\"iterations\": 0e999999999999999999999}", &o) == KP_OK && o.ials.iterations == 0,
			"zero with a huge exponent is 0");
	expect_error("{\"factors\": 1e-1}", "option \"factors\" must be an integer", NULL, "1e-1 is not an integer");
	expect_error("{\"factors\": 64.000000000000000000001}", "option \"factors\" must be an integer", NULL,
				 "a fraction far beyond double precision is seen");
	expect_error("{\"factors\": 1e999999999999999999999}", "option \"factors\" must be between 1 and 1024", NULL,
				 "a huge exponent");
	expect_error("{\"factors\": 1e-999999999999999999999}", "option \"factors\" must be an integer", NULL,
				 "a huge negative exponent");
	expect_error("{\"factors\": -5e-999999999999999999999}", "option \"factors\" must be an integer", NULL,
				 "a tiny negative number");
	expect_error("{\"factors\": -1e999999999999999999999}", "option \"factors\" must be between 1 and 1024", NULL,
				 "a hugely negative number");

	/* 1 followed by 1000 zeros, and the same as a fraction */
	strcpy(json, "{\"factors\": 1");
	for (i = 0; i < 1000; i++)
		strcat(json, "0");
	strcat(json, "}");
	expect_error(json, "option \"factors\" must be between 1 and 1024", NULL, "a 1001-digit integer");
	strcpy(json, "{\"factors\": 0.");
	for (i = 0; i < 1000; i++)
		strcat(json, "0");
	strcat(json, "1}");
	expect_error(json, "option \"factors\" must be an integer", NULL, "a 1001-digit fraction");
	strcpy(json, "{\"factors\": 8.");
	for (i = 0; i < 1000; i++)
		strcat(json, "0");
	strcat(json, "}");
	unit_ok(parse(json, &o) == KP_OK && o.ials.factors == 8, "8 with 1000 zeros after the point is 8");
	strcpy(json, "{\"factors\": 0.");
	for (i = 0; i < 998; i++)
		strcat(json, "0");
	strcat(json, "16e1000}");
	unit_ok(parse(json, &o) == KP_OK && o.ials.factors == 16, "0.000...16e1000 is 16");

	/* seeds: exact, no rounding through double */
	unit_ok(parse("{\"seed\": 9007199254740993}", &o) == KP_OK && o.ials.seed == UINT64_C(9007199254740993),
			"a seed above 2^53 is kept exactly");
	unit_ok(parse("{\"seed\": 9223372036854775807}", &o) == KP_OK &&
			o.ials.seed == UINT64_C(9223372036854775807), "the largest seed");
	unit_ok(parse("{\"seed\": 92233720368547758070e-1}", &o) == KP_OK &&
			o.ials.seed == UINT64_C(9223372036854775807), "the largest seed with an exponent");
	unit_ok(parse("{\"seed\": 0.9223372036854775807e19}", &o) == KP_OK &&
			o.ials.seed == UINT64_C(9223372036854775807), "the largest seed as a fraction");
	unit_ok(parse("{\"seed\": 0}", &o) == KP_OK && o.ials.seed == 0, "seed 0");
	expect_error("{\"seed\": 9223372036854775808}", "option \"seed\" must be between 0 and 9223372036854775807",
				 NULL, "seed 2^63");
	expect_error("{\"seed\": 9999999999999999999}", "option \"seed\" must be between 0 and 9223372036854775807",
				 NULL, "a 19-digit seed above 2^63");
	expect_error("{\"seed\": 18446744073709551616}", "option \"seed\" must be between 0 and 9223372036854775807",
				 NULL, "seed 2^64");
	expect_error("{\"seed\": 100000000000000000000}", "option \"seed\" must be between 0 and 9223372036854775807",
				 NULL, "seed 1e20");
	expect_error("{\"seed\": 9223372036854775807.5}", "option \"seed\" must be an integer", NULL,
				 "the largest seed plus a half");
	expect_error("{\"seed\": -9223372036854775808}", "option \"seed\" must be between 0 and 9223372036854775807",
				 NULL, "the smallest int64 as a seed");
}

static void
test_numbers(void)
{
	kp_train_options o;
	char		json[1200];
	int			i;

	unit_ok(parse("{\"regularization\": 0.1}", &o) == KP_OK && o.ials.regularization == 0.1f, "0.1");
	unit_ok(parse("{\"regularization\": 1e-2}", &o) == KP_OK && o.ials.regularization == 0.01f, "1e-2");
	unit_ok(parse("{\"alpha\": 40}", &o) == KP_OK && o.ials.alpha == 40.0f, "an integer is a number");
	unit_ok(parse("{\"regularization\": -0}", &o) == KP_OK && o.ials.regularization == 0 &&
			!signbit(o.ials.regularization), "-0 is +0");
	unit_ok(parse("{\"regularization\": -0.0e5}", &o) == KP_OK && !signbit(o.ials.regularization), "-0.0e5 is +0");
	unit_ok(parse("{\"regularization\": -1e-500}", &o) == KP_OK && o.ials.regularization == 0 &&
			!signbit(o.ials.regularization), "a negative number that underflows is +0");
	unit_ok(parse("{\"regularization\": 1e-400}", &o) == KP_OK && o.ials.regularization == 0,
			"a positive number that underflows is 0");
	unit_ok(parse("{\"alpha\": 1e-45}", &o) == KP_OK && o.ials.alpha > 0 && o.ials.alpha < FLT_MIN,
			"a float subnormal");
	expect_error("{\"alpha\": 1e400}", "option \"alpha\" must be between 0 and 1000000", NULL, "1e400 overflows");
	expect_error("{\"alpha\": 1e999999999999999999999}", "option \"alpha\" must be between 0 and 1000000", NULL,
				 "a huge exponent");
	expect_error("{\"alpha\": -1e999999999999999999999}", "option \"alpha\" must be between 0 and 1000000", NULL,
				 "a hugely negative number");
	expect_error("{\"alpha\": 1000000.0000001}", "option \"alpha\" must be between 0 and 1000000", NULL,
				 "just above the bound");
	expect_error("{\"alpha\": -0.0000001}", "option \"alpha\" must be between 0 and 1000000", NULL,
				 "just below the bound");
	expect_error("{\"alpha\": true}", "option \"alpha\" must be a number", NULL, "alpha true");

	/* The nearest double of the whole text: long mantissas are not cut short. */
	strcpy(json, "{\"alpha\": 0.");
	for (i = 0; i < 1000; i++)
		strcat(json, "3");
	strcat(json, "e1}");
	unit_ok(parse(json, &o) == KP_OK && o.ials.alpha == (float) (10.0 / 3.0), "1001 threes");
	strcpy(json, "{\"alpha\": 1000000.");
	for (i = 0; i < 1000; i++)
		strcat(json, "0");
	strcat(json, "1}");
	unit_ok(parse(json, &o) == KP_OK && o.ials.alpha == 1e6f,
			"1e6 plus 1e-1007 rounds to 1e6, as strtod reads it, so it is in range");
}

/* Random numbers in {"alpha": X}: the stored value is (float) strtod(X). */
static void
test_numbers_against_strtod(void)
{
	uint64_t	state = 7;
	int			mismatches = 0;
	int			checked = 0;
	int			round;

	for (round = 0; round < 20000; round++)
	{
		char		number[2048];	/* up to 900 + 900 digits and an exponent */
		char		json[2100];
		kp_train_options o;
		size_t		n = 0;
		int			int_digits;
		int			frac_digits;
		int			k;
		double		expected;

		state = state * 6364136223846793005u + 1442695040888963407u;
		int_digits = 1 + (int) ((state >> 33) % (round % 10 == 0 ? 900 : 8));
		frac_digits = (int) ((state >> 45) % (round % 7 == 0 ? 900 : 12));
		if ((state >> 20) % 5 == 0)
			number[n++] = '0';
		else
			for (k = 0; k < int_digits; k++)
			{
				state = state * 6364136223846793005u + 1442695040888963407u;
				number[n++] = (char) ('0' + (k == 0 ? 1 + (state >> 40) % 9 : (state >> 40) % 10));
			}
		if (frac_digits > 0)
		{
			number[n++] = '.';
			for (k = 0; k < frac_digits; k++)
			{
				state = state * 6364136223846793005u + 1442695040888963407u;
				number[n++] = (char) ('0' + (state >> 40) % 10);
			}
		}
		if ((state >> 30) % 2)
			n += (size_t) sprintf(number + n, "e%d", (int) ((state >> 50) % 60) - 40);
		number[n] = '\0';
		expected = strtod(number, NULL);
		snprintf(json, sizeof(json), "{\"alpha\": %s}", number);
		if (!(expected >= 0 && expected <= 1e6))
		{
			if (parse(json, &o) != KP_EINVAL)
				mismatches++;
			continue;
		}
		checked++;
		if (parse(json, &o) != KP_OK || o.ials.alpha != (float) expected)
		{
			if (mismatches++ < 3)
				printf("# %s: got %.9g, expected %.9g\n", number, (double) o.ials.alpha, expected);
		}
	}
	unit_ok(mismatches == 0 && checked > 5000, "20000 random numbers read as strtod reads them (%d in range)", checked);
}

static void
test_strings(void)
{
	kp_train_options o;
	char		json[1200];
	char		want[400];
	int			i;

	unit_ok(parse("{\"solver\": \"\\u0063holesky\"}", &o) == KP_OK && o.ials.solver == KP_SOLVER_CHOLESKY,
			"an escaped value");
	expect_error("{\"solver\": \"CG\"}", "option \"solver\" has unknown value \"CG\"",
				 "Use \"cg\" (conjugate gradient, the default) or \"cholesky\".", "values are case-sensitive");
	expect_error("{\"solver\": \"\"}", "option \"solver\" has unknown value \"\"",
				 "Use \"cg\" (conjugate gradient, the default) or \"cholesky\".", "an empty value");
	expect_error("{\"algorithm\": \"ials \"}", "option \"algorithm\" has unknown value \"ials \"",
				 algorithms_hint, "a value with a trailing space");
	expect_error("{\"algorithm\": \"\\uD83D\\uDE00\"}", "option \"algorithm\" has unknown value \"\xF0\x9F\x98\x80\"",
				 algorithms_hint, "a surrogate pair is decoded");
	expect_error("{\"algorithm\": \"\xF0\x9F\x98\x80\"}", "option \"algorithm\" has unknown value \"\xF0\x9F\x98\x80\"",
				 algorithms_hint, "raw 4-byte UTF-8");
	expect_error("{\"algorithm\": \"a\\nb\\u00e9\"}", "option \"algorithm\" has unknown value \"a\nb\xC3\xA9\"",
				 algorithms_hint, "escapes are decoded in messages");
	expect_error("{\"\\u00e9t\\u00e9\": 1}", "unknown option \"\xC3\xA9t\xC3\xA9\"", known_hint, "an escaped unknown key");

	/* long values are cut in messages, never inside a character */
	strcpy(json, "{\"solver\": \"");
	for (i = 0; i < 300; i++)
		strcat(json, "x");
	strcat(json, "\"}");
	strcpy(want, "option \"solver\" has unknown value \"");
	for (i = 0; i < 200; i++)
		strcat(want, "x");
	strcat(want, "...\"");
	expect_error(json, want, "Use \"cg\" (conjugate gradient, the default) or \"cholesky\".", "a long value is cut");
	strcpy(json, "{\"");
	for (i = 0; i < 150; i++)
		strcat(json, "\xC3\xA9");
	strcat(json, "\": 1}");
	strcpy(want, "unknown option \"");
	for (i = 0; i < 100; i++)
		strcat(want, "\xC3\xA9");
	strcat(want, "...\"");
	expect_error(json, want, known_hint, "a long key is cut at a character boundary");
	strcpy(json, "{\"x");
	for (i = 0; i < 150; i++)
		strcat(json, "\xC3\xA9");
	strcat(json, "\": 1}");
	strcpy(want, "unknown option \"x");
	for (i = 0; i < 99; i++)
		strcat(want, "\xC3\xA9");
	strcat(want, "...\"");
	expect_error(json, want, known_hint, "... also when a character straddles the cut");
}

static void
test_syntax(void)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "{\"a\"", "{\"a\":", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\" 1}",
		"{\"a\":1}}", "{} {}", "{}x", "{'a':1}", "{a:1}", "{\"a\":01}", "{\"a\":1.}",
		"{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":-}", "{\"a\":--1}",
		"{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":tru}", "{\"a\":True}", "{\"a\":nul}",
		"{\"a\":[1,]}", "{\"a\":[1 2]}", "{\"a\":[}", "{\"a\":[1}", "{\"a\":{]}", "{\"a\":{\"b\"}}",
		"{\"a\":1 \"b\":2}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12G4\"}",
		"{\"a\":\"\\uD800\"}", "{\"a\":\"\\uDC00\"}", "{\"a\":\"\\uD800\\u0041\"}", "{\"a\":\"\\uD800x\"}",
		"{\"a\":\"\\uD800\\uD800\"}", "{\"a\":\"\\u0000\"}", "{\"\\u0000\":1}",
		"{\"solver\":\"cg\\u0000\"}", "{\"a\":\"\\", "{\"a\":\"abc", "{\"a\":\"\t\"}",
		"{\"a\":\"\x1f\"}", "{\"a\"\n:\n1\n,\n}", "\xEF\xBB\xBF{}", "{\"a\":1}\xC2\xA0",
		"{\"a\":1,\"a\"}", "[", "]", "[[]", "[]]", "\"abc", "tru", "-", "1.5e", "{\"a\"::1}",
	};
	static const char *const bad_utf8[] = {
		"\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xE0\x9F\xBF", "\xED\xA0\x80", "\xED\xBF\xBF",
		"\xF0\x80\x80\xAF", "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF",
		"\xFE", "\x80", "\xBF", "\xC2", "\xE2\x82", "\xF0\x9F\x98", "\xC2\x41", "\xE2\x28\xA1",
	};
	static const char *const good_utf8[] = {
		"\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBF\xBF",
		"\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", "\x7F",
	};
	kp_train_options o;
	char		json[64];
	size_t		i;
	int			all_refused = 1;
	int			all_accepted = 1;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_syntax_error(bad[i], bad[i]);
	expect_syntax_error_bytes("{\"a\":\"x\0y\"}", 11, "a raw NUL in a string");
	expect_syntax_error_bytes("{\"a\":1}\0", 8, "a NUL after the object");
	expect_syntax_error_bytes("{\0}", 3, "a NUL inside the object");

	for (i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++)
	{
		snprintf(json, sizeof(json), "{\"%s\": 1}", bad_utf8[i]);
		if (parse(json, &o) != KP_EINVAL || strstr(message, "invalid UTF-8") == NULL)
			all_refused = 0;
		snprintf(json, sizeof(json), "{\"x\": \"a%sb\"}", bad_utf8[i]);
		if (parse(json, &o) != KP_EINVAL || strstr(message, "invalid UTF-8") == NULL)
			all_refused = 0;
	}
	unit_ok(all_refused, "ill-formed UTF-8 (overlong, surrogates, beyond U+10FFFF, truncated) is refused");
	for (i = 0; i < sizeof(good_utf8) / sizeof(good_utf8[0]); i++)
	{
		snprintf(json, sizeof(json), "{\"user_column\": \"%s\"}", good_utf8[i]);
		if (parse(json, &o) != KP_OK || strcmp(o.user_column, good_utf8[i]) != 0)
			all_accepted = 0;
	}
	unit_ok(all_accepted, "UTF-8 at the edges of each range is accepted");
	unit_ok(parse("{\"a\":\"\\uD83D\\uDE00\", \"b\": [\"\\uDBFF\\uDFFF\"]}", &o) == KP_EINVAL &&
			strcmp(message, "unknown option \"a\"") == 0, "surrogate pairs are valid JSON");

	expect_error("{\"a\":1,}", "options are not valid JSON: expected a key in double quotes at offset 7", NULL,
				 "a syntax error says what and where");
	expect_error("{\"a\":\"\\u0000\"}", "options are not valid JSON: \\u0000 is not allowed in a string at offset 6",
				 NULL, "\\u0000 says so");
	expect_error("{\"a\":\"\xC3\"}", "options are not valid JSON: invalid UTF-8 at offset 6", NULL,
				 "bad UTF-8 says so");
	expect_error("{\"a\":[1 2]}", "options are not valid JSON: expected ',' or ']' at offset 8", NULL,
				 "missing comma in an array");
	expect_error("{\"a\":1} x", "options are not valid JSON: text follows the value at offset 8", NULL,
				 "trailing text");
	expect_error("", "options are not valid JSON: a value is missing at offset 0", NULL, "empty text");

	unit_ok(parse("{\"a\": [1, -2.5e-3, \"x\", true, false, null, {\"b\": {}}, [[]]], \"factors\": 3}", &o) ==
			KP_EINVAL && strcmp(message, "unknown option \"a\"") == 0,
			"nested values of every kind are skipped over");
}

static void
test_lengths_and_buffers(void)
{
	kp_train_options o;
	static const char text[] = "{\"factors\": 8}{\"factors\": 9}";
	char		small[8];
	char		small_hint[4];

	unit_ok(parse_bytes(text, 14, &o) == KP_OK && o.ials.factors == 8,
			"only len bytes are read: no NUL needed");
	expect_syntax_error_bytes(text, 13, "a cut object is refused");
	expect_syntax_error_bytes(text, 12, "an object cut after a colon");
	expect_syntax_error_bytes(text, 5, "a key cut short");
	unit_ok(kp_train_options_parse(NULL, 0, &o, message, sizeof(message), hint, sizeof(hint)) == KP_EINVAL &&
			is_default(&o), "NULL text is refused");
	unit_ok(kp_train_options_parse("{\"factor\": 1}", 13, &o, NULL, 0, NULL, 0) == KP_EINVAL,
			"no message buffers");
	unit_ok(kp_train_options_parse("{\"factor\": 1}", 13, &o, small, sizeof(small), small_hint,
								   sizeof(small_hint)) == KP_EINVAL &&
			strcmp(small, "unknown") == 0 && strcmp(small_hint, "Kno") == 0,
			"small buffers get a cut, terminated message");
	o.ials.factors = 99;
	unit_ok(parse("{\"factors\": 8, \"iterations\": -1}", &o) == KP_EINVAL && is_default(&o),
			"on failure the defaults are left, nothing half-parsed");
}

static void
test_depth(void)
{
	kp_train_options o;
	size_t		max = KP_OPTIONS_MAX_DEPTH;
	size_t		size = 3 * 1000000 + 64;
	char	   *json = malloc(size);
	size_t		n;
	size_t		i;

	/* the root object is level 1: 999 nested arrays reach the limit */
	n = (size_t) sprintf(json, "{\"a\": ");
	for (i = 0; i < max - 1; i++)
		json[n++] = '[';
	for (i = 0; i < max - 1; i++)
		json[n++] = ']';
	n += (size_t) sprintf(json + n, "}");
	unit_ok(parse_bytes(json, n, &o) == KP_EINVAL && strcmp(message, "unknown option \"a\"") == 0,
			"%zu levels are accepted", max);

	n = (size_t) sprintf(json, "{\"a\": ");
	for (i = 0; i < max; i++)
		json[n++] = '[';
	for (i = 0; i < max; i++)
		json[n++] = ']';
	n += (size_t) sprintf(json + n, "}");
	expect_error_bytes(json, n, "options nest arrays and objects more than 1000 levels deep", NULL,
					   "one more level is refused");

	n = 0;
	for (i = 0; i < 1000000; i++)
		json[n++] = '[';
	expect_error_bytes(json, n, "options nest arrays and objects more than 1000 levels deep", NULL,
					   "a million opening brackets");
	n = (size_t) sprintf(json, "{\"a\":");
	for (i = 0; n + 8 < size; i++)
		n += (size_t) sprintf(json + n, "{\"b\":");
	expect_error_bytes(json, n, "options nest arrays and objects more than 1000 levels deep", NULL,
					   "a deep chain of objects");

	/* many members: linear, and the last duplicate still wins */
	n = (size_t) sprintf(json, "{");
	for (i = 0; i < 100000; i++)
		n += (size_t) sprintf(json + n, "\"factors\": %zu, ", 1 + i % 1000);
	n += (size_t) sprintf(json + n, "\"factors\": 17}");
	unit_ok(parse_bytes(json, n, &o) == KP_OK && o.ials.factors == 17, "100001 duplicate members");
	free(json);
}

int
main(void)
{
	test_defaults_and_every_key();
	test_server_messages();
	test_new_keys();
	test_algorithms();
	test_columns();
	test_duplicates_and_order();
	test_integers();
	test_numbers();
	test_numbers_against_strtod();
	test_strings();
	test_syntax();
	test_lengths_and_buffers();
	test_depth();
	return unit_done();
}
