/*
 * fuzz_options.c -- libFuzzer target: the training options parser on
 * arbitrary bytes (not NUL-terminated: libFuzzer's buffer ends exactly
 * where the input does, so ASan sees any read past it).
 *
 * Whatever the input, the parser returns KP_OK with options the solver
 * accepts, or KP_EINVAL with a terminated, well-formed UTF-8 message and the
 * defaults left in place.  Accepted options, written back as JSON, parse to
 * the very same struct.
 */
#include "fuzz.h"
#include "kp_options.h"

/* Well-formed UTF-8 without NUL (RFC 3629). */
static bool
valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p != '\0')
	{
		int			n = *p < 0x80 ? 1 : (*p >= 0xC2 && *p <= 0xDF) ? 2 :
			(*p >= 0xE0 && *p <= 0xEF) ? 3 : (*p >= 0xF0 && *p <= 0xF4) ? 4 : 0;
		uint32_t	code;
		int			k;

		if (n == 0)
			return false;
		code = n == 1 ? *p : (uint32_t) (*p & (0x7F >> n));
		for (k = 1; k < n; k++)
		{
			if ((p[k] & 0xC0) != 0x80)
				return false;
			code = (code << 6) | (p[k] & 0x3F);
		}
		if ((n == 2 && code < 0x80) || (n == 3 && code < 0x800) || (n == 4 && code < 0x10000) ||
			code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
			return false;
		p += n;
	}
	return true;
}

static bool
terminated(const char *buf, size_t size)
{
	return memchr(buf, '\0', size) != NULL;
}

/* s as a JSON string; column names hold no NUL and are short. */
static size_t
append_json_string(char *out, size_t used, size_t size, const char *s)
{
	used += (size_t) snprintf(out + used, size - used, "\"");
	for (; *s != '\0'; s++)
	{
		if (*s == '"' || *s == '\\')
			used += (size_t) snprintf(out + used, size - used, "\\%c", *s);
		else if ((unsigned char) *s < 0x20)
			used += (size_t) snprintf(out + used, size - used, "\\u%04x", (unsigned) (unsigned char) *s);
		else
			used += (size_t) snprintf(out + used, size - used, "%c", *s);
	}
	return used + (size_t) snprintf(out + used, size - used, "\"");
}

/* Field by field, floats bit by bit (so -0 and 0 differ). */
static bool
same_options(const kp_train_options *a, const kp_train_options *b)
{
	return a->ials.factors == b->ials.factors && a->ials.iterations == b->ials.iterations &&
		memcmp(&a->ials.regularization, &b->ials.regularization, sizeof(float)) == 0 &&
		memcmp(&a->ials.alpha, &b->ials.alpha, sizeof(float)) == 0 &&
		a->ials.solver == b->ials.solver && a->ials.cg_steps == b->ials.cg_steps &&
		a->ials.seed == b->ials.seed && a->keep_versions == b->keep_versions &&
		a->similar_users == b->similar_users &&
		a->verbose == b->verbose && strcmp(a->user_column, b->user_column) == 0 &&
		strcmp(a->course_column, b->course_column) == 0 &&
		strcmp(a->weight_column, b->weight_column) == 0;
}

static void
check_round_trip(const kp_train_options *o)
{
	char		json[2048];
	size_t		used;
	kp_train_options again;
	char		message[KP_OPTIONS_MESSAGE_BYTES];
	char		hint[KP_OPTIONS_MESSAGE_BYTES];

	/* %.9g reads back as the same float */
	used = (size_t) snprintf(json, sizeof(json),
							 "{\"algorithm\": \"ials\", \"factors\": %d, \"iterations\": %d, "
							 "\"regularization\": %.9g, \"alpha\": %.9g, \"solver\": \"%s\", "
							 "\"cg_steps\": %d, \"seed\": %llu, \"keep_versions\": %d, \"verbose\": %s, "
							 "\"similar_users\": %d",
							 (int) o->ials.factors, (int) o->ials.iterations,
							 (double) o->ials.regularization, (double) o->ials.alpha,
							 o->ials.solver == KP_SOLVER_CHOLESKY ? "cholesky" : "cg",
							 (int) o->ials.cg_steps, (unsigned long long) o->ials.seed,
							 (int) o->keep_versions, o->verbose ? "true" : "false", (int) o->similar_users);
	if (o->user_column[0] != '\0')
	{
		used += (size_t) snprintf(json + used, sizeof(json) - used, ", \"user_column\": ");
		used = append_json_string(json, used, sizeof(json), o->user_column);
	}
	if (o->course_column[0] != '\0')
	{
		used += (size_t) snprintf(json + used, sizeof(json) - used, ", \"course_column\": ");
		used = append_json_string(json, used, sizeof(json), o->course_column);
	}
	if (o->weight_column[0] != '\0')
	{
		used += (size_t) snprintf(json + used, sizeof(json) - used, ", \"weight_column\": ");
		used = append_json_string(json, used, sizeof(json), o->weight_column);
	}
	used += (size_t) snprintf(json + used, sizeof(json) - used, "}");
	FUZZ_CHECK(used < sizeof(json));

	if (kp_train_options_parse(json, used, &again, message, sizeof(message), hint, sizeof(hint)) != KP_OK)
		fprintf(stderr, "written back as %s: %s\n", json, message);
	FUZZ_CHECK(same_options(&again, o));
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kp_train_options o;
	kp_train_options defaults;
	char		message[KP_OPTIONS_MESSAGE_BYTES];
	char		hint[KP_OPTIONS_MESSAGE_BYTES];
	kp_status	status;

	kp_train_options_default(&defaults);
	memset(message, 'x', sizeof(message));
	memset(hint, 'x', sizeof(hint));
	status = kp_train_options_parse((const char *) data, size, &o, message, sizeof(message),
									hint, sizeof(hint));
	FUZZ_CHECK(terminated(message, sizeof(message)) && terminated(hint, sizeof(hint)));
	FUZZ_CHECK(valid_utf8(message) && valid_utf8(hint));
	if (status != KP_OK)
	{
		FUZZ_CHECK(status == KP_EINVAL);
		FUZZ_CHECK(strncmp(message, "option", 6) == 0 || strncmp(message, "unknown option \"", 16) == 0);
		FUZZ_CHECK(same_options(&o, &defaults));
		return 0;
	}
	FUZZ_CHECK(message[0] == '\0' && hint[0] == '\0');
	FUZZ_CHECK(kp_ials_check_params(&o.ials) == NULL);
	FUZZ_CHECK(o.ials.regularization <= KP_MAX_REGULARIZATION && o.ials.alpha <= KP_MAX_ALPHA);
	FUZZ_CHECK(!signbit(o.ials.regularization) && !signbit(o.ials.alpha));
	FUZZ_CHECK(o.ials.seed <= (uint64_t) INT64_MAX);
	FUZZ_CHECK(o.keep_versions >= 1 && o.keep_versions <= KP_MAX_KEEP_VERSIONS);
	FUZZ_CHECK(o.similar_users >= 0 && o.similar_users <= KP_MODEL_MAX_NEIGHBOURS);
	FUZZ_CHECK(terminated(o.user_column, sizeof(o.user_column)) && valid_utf8(o.user_column));
	FUZZ_CHECK(terminated(o.course_column, sizeof(o.course_column)) && valid_utf8(o.course_column));
	FUZZ_CHECK(terminated(o.weight_column, sizeof(o.weight_column)) && valid_utf8(o.weight_column));
	check_round_trip(&o);
	return 0;
}
