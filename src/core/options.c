/*
 * options.c -- the training options, a JSON object given as UTF-8 text.
 *
 * Two passes.  The first checks that the whole text is JSON (RFC 8259,
 * well-formed UTF-8, no \u0000 in strings) with an explicit stack of
 * container kinds instead of recursion, and notes for each known key where
 * its last value starts, and where the first unknown key is.  The second
 * checks those values in the order they appear, so the first problem in the
 * text is the one reported; text from JsonbToCString lists keys in jsonb's
 * order, which is the order the server always reported them in.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_options.h"

#if defined(__GNUC__) || defined(__clang__)
#define KP_PRINTF_ATTR(f, a) __attribute__((format(printf, f, a)))
#else
#define KP_PRINTF_ATTR(f, a)
#endif

/* User text quoted in a message is cut after this many bytes. */
#define QUOTE_BYTES 200

/* Beyond this a written exponent only matters through its sign. */
#define EXPONENT_CLAMP INT64_C(1000000000000000)

/*
 * Decimal digits kept when converting to double: an exact halfway point
 * between two doubles has at most 767 significant digits, so the digits
 * after these only matter as "some nonzero digit follows".
 */
#define DOUBLE_DIGITS 800

typedef enum option_key
{
	KEY_ALGORITHM,
	KEY_FACTORS,
	KEY_ITERATIONS,
	KEY_REGULARIZATION,
	KEY_ALPHA,
	KEY_SOLVER,
	KEY_CG_STEPS,
	KEY_SEED,
	KEY_USER_COLUMN,
	KEY_COURSE_COLUMN,
	KEY_WEIGHT_COLUMN,
	KEY_KEEP_VERSIONS,
	KEY_VERBOSE,
	KEY_EPOCHS,
	KEY_LEARNING_RATE,
	KEY_MISSING_WEIGHT,
	KEY_SIMILAR_USERS,
	N_KEYS,
	KEY_UNKNOWN = N_KEYS
} option_key;

static const char *const key_names[N_KEYS] = {
	"algorithm", "factors", "iterations", "regularization", "alpha", "solver",
	"cg_steps", "seed", "user_column", "course_column", "weight_column",
	"keep_versions", "verbose", "epochs", "learning_rate", "missing_weight",
	"similar_users"
};

#define ALL_ALGORITHMS ((1u << KP_ALGO_AUTO) | (1u << KP_ALGO_IALS) | (1u << KP_ALGO_BPR) | \
						(1u << KP_ALGO_ALS) | (1u << KP_ALGO_EASE) | (1u << KP_ALGO_POPULAR))

/* The algorithms each key applies to, as bits 1 << kp_algorithm. */
static const uint32_t key_algorithms[N_KEYS] = {
	[KEY_ALGORITHM] = ALL_ALGORITHMS,
	[KEY_FACTORS] = (1u << KP_ALGO_IALS) | (1u << KP_ALGO_BPR) | (1u << KP_ALGO_ALS),
	[KEY_ITERATIONS] = (1u << KP_ALGO_IALS) | (1u << KP_ALGO_ALS),
	[KEY_REGULARIZATION] = (1u << KP_ALGO_IALS) | (1u << KP_ALGO_BPR) | (1u << KP_ALGO_ALS) |
	(1u << KP_ALGO_EASE),
	[KEY_ALPHA] = 1u << KP_ALGO_IALS,
	[KEY_SOLVER] = 1u << KP_ALGO_IALS,
	[KEY_CG_STEPS] = 1u << KP_ALGO_IALS,
	[KEY_SEED] = (1u << KP_ALGO_IALS) | (1u << KP_ALGO_BPR) | (1u << KP_ALGO_ALS),
	[KEY_USER_COLUMN] = ALL_ALGORITHMS,
	[KEY_COURSE_COLUMN] = ALL_ALGORITHMS,
	[KEY_WEIGHT_COLUMN] = ALL_ALGORITHMS,
	[KEY_KEEP_VERSIONS] = ALL_ALGORITHMS,
	[KEY_VERBOSE] = ALL_ALGORITHMS,
	[KEY_EPOCHS] = 1u << KP_ALGO_BPR,
	[KEY_LEARNING_RATE] = 1u << KP_ALGO_BPR,
	[KEY_MISSING_WEIGHT] = 1u << KP_ALGO_ALS,
	[KEY_SIMILAR_USERS] = (1u << KP_ALGO_IALS) | (1u << KP_ALGO_BPR) | (1u << KP_ALGO_ALS)
};

/* Longer than any key name above or choice of value, so longer strings never match. */
#define KEY_NAME_BYTES 16

/* One top-level member: offsets into the text. */
typedef struct member
{
	size_t		key;			/* opening quote of the key */
	size_t		value;			/* first byte of the value */
	option_key	name;
} member;

typedef struct parser
{
	const unsigned char *text;
	size_t		len;
	member		last[N_KEYS];	/* last occurrence of each known key */
	bool		seen[N_KEYS];
	member		first_unknown;
	bool		has_unknown;
	char	   *message;
	size_t		message_size;
	char	   *hint;
	size_t		hint_size;
} parser;

/* A JSON number as ±D·10^scale, D the n_digits significant digits. */
typedef struct json_number
{
	bool		negative;
	size_t		first;			/* offset of D's first digit */
	int64_t		n_digits;		/* 0 for zero; D has no leading or trailing zeros */
	int64_t		scale;
} json_number;

static bool fail(parser *ps, const char *hint, const char *fmt,...) KP_PRINTF_ATTR(3, 4);

static bool
fail(parser *ps, const char *hint, const char *fmt,...)
{
	va_list		ap;

	if (ps->message_size > 0)
	{
		va_start(ap, fmt);
		vsnprintf(ps->message, ps->message_size, fmt, ap);
		va_end(ap);
	}
	if (ps->hint_size > 0)
		snprintf(ps->hint, ps->hint_size, "%s", hint ? hint : "");
	return false;
}

static bool
syntax_error(parser *ps, size_t offset, const char *problem)
{
	return fail(ps, NULL, "options are not valid JSON: %s at offset %zu", problem, offset);
}

static size_t
skip_space(const unsigned char *text, size_t len, size_t pos)
{
	while (pos < len && (text[pos] == ' ' || text[pos] == '\t' ||
						 text[pos] == '\n' || text[pos] == '\r'))
		pos++;
	return pos;
}

static bool
is_digit(const unsigned char *text, size_t len, size_t pos)
{
	return pos < len && text[pos] >= '0' && text[pos] <= '9';
}

/* Bytes of the well-formed UTF-8 character at s (RFC 3629), 0 if ill-formed. */
static size_t
utf8_length(const unsigned char *s, size_t avail)
{
	unsigned char low = 0x80;
	unsigned char high = 0xBF;
	size_t		n;
	size_t		k;

	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
	{
		n = 3;
		if (s[0] == 0xE0)
			low = 0xA0;			/* overlong */
		else if (s[0] == 0xED)
			high = 0x9F;		/* surrogates */
	}
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
	{
		n = 4;
		if (s[0] == 0xF0)
			low = 0x90;			/* overlong */
		else if (s[0] == 0xF4)
			high = 0x8F;		/* beyond U+10FFFF */
	}
	else
		return 0;
	if (avail < n || s[1] < low || s[1] > high)
		return 0;
	for (k = 2; k < n; k++)
		if (s[k] < 0x80 || s[k] > 0xBF)
			return 0;
	return n;
}

static size_t
utf8_encode(uint32_t code, unsigned char *out)
{
	if (code < 0x80)
	{
		out[0] = (unsigned char) code;
		return 1;
	}
	if (code < 0x800)
	{
		out[0] = (unsigned char) (0xC0 | (code >> 6));
		out[1] = (unsigned char) (0x80 | (code & 0x3F));
		return 2;
	}
	if (code < 0x10000)
	{
		out[0] = (unsigned char) (0xE0 | (code >> 12));
		out[1] = (unsigned char) (0x80 | ((code >> 6) & 0x3F));
		out[2] = (unsigned char) (0x80 | (code & 0x3F));
		return 3;
	}
	out[0] = (unsigned char) (0xF0 | (code >> 18));
	out[1] = (unsigned char) (0x80 | ((code >> 12) & 0x3F));
	out[2] = (unsigned char) (0x80 | ((code >> 6) & 0x3F));
	out[3] = (unsigned char) (0x80 | (code & 0x3F));
	return 4;
}

/* The four hex digits at text[pos]; false if there are not four. */
static bool
read_hex4(const unsigned char *text, size_t len, size_t pos, uint32_t *code)
{
	size_t		k;

	if (len < 4 || pos > len - 4)
		return false;
	*code = 0;
	for (k = 0; k < 4; k++)
	{
		unsigned char c = text[pos + k];
		uint32_t	digit;

		if (c >= '0' && c <= '9')
			digit = (uint32_t) (c - '0');
		else if (c >= 'a' && c <= 'f')
			digit = (uint32_t) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			digit = (uint32_t) (c - 'A' + 10);
		else
			return false;
		*code = *code * 16 + digit;
	}
	return true;
}

/*
 * The escape whose backslash is at *pos, as UTF-8 in out; advances *pos past
 * it.  Returns NULL, or a description of the problem (*pos unchanged).
 */
static const char *
scan_escape(const unsigned char *text, size_t len, size_t *pos,
			unsigned char *out, size_t *out_len)
{
	size_t		at = *pos;
	uint32_t	code;
	uint32_t	low;

	if (at + 1 >= len)
		return "a string is not closed";
	*out_len = 1;
	switch (text[at + 1])
	{
		case '"':
		case '\\':
		case '/':
			out[0] = text[at + 1];
			break;
		case 'b':
			out[0] = '\b';
			break;
		case 'f':
			out[0] = '\f';
			break;
		case 'n':
			out[0] = '\n';
			break;
		case 'r':
			out[0] = '\r';
			break;
		case 't':
			out[0] = '\t';
			break;
		case 'u':
			if (!read_hex4(text, len, at + 2, &code))
				return "a \\u escape needs four hex digits";
			if (code == 0)
				return "\\u0000 is not allowed in a string";
			if (code >= 0xDC00 && code <= 0xDFFF)
				return "a \\u escape is an unpaired low surrogate";
			if (code >= 0xD800 && code <= 0xDBFF)
			{
				if (at + 7 >= len || text[at + 6] != '\\' || text[at + 7] != 'u' ||
					!read_hex4(text, len, at + 8, &low) || low < 0xDC00 || low > 0xDFFF)
					return "a \\u escape is an unpaired high surrogate";
				code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
				at += 6;
			}
			*out_len = utf8_encode(code, out);
			*pos = at + 6;
			return NULL;
		default:
			return "unknown escape in a string";
	}
	*pos = at + 2;
	return NULL;
}

/*
 * Scans the string whose opening quote is at *pos and moves *pos past its
 * closing quote.  The first out_size bytes of the decoded text go to out;
 * *decoded_len gets its whole length.  Returns NULL, or a description of
 * the problem with *pos where it is.
 */
static const char *
scan_string(const unsigned char *text, size_t len, size_t *pos,
			char *out, size_t out_size, size_t *decoded_len)
{
	size_t		i = *pos + 1;
	size_t		n = 0;

	for (;;)
	{
		unsigned char bytes[4];
		size_t		n_bytes;
		size_t		k;
		const char *problem;

		if (i >= len)
		{
			*pos = i;
			return "a string is not closed";
		}
		if (text[i] == '"')
			break;
		if (text[i] < 0x20)
		{
			*pos = i;
			return "a control character must be escaped in a string";
		}
		if (text[i] == '\\')
		{
			problem = scan_escape(text, len, &i, bytes, &n_bytes);
			if (problem != NULL)
			{
				*pos = i;
				return problem;
			}
		}
		else if (text[i] < 0x80)
		{
			bytes[0] = text[i++];
			n_bytes = 1;
		}
		else
		{
			n_bytes = utf8_length(text + i, len - i);
			if (n_bytes == 0)
			{
				*pos = i;
				return "invalid UTF-8";
			}
			memcpy(bytes, text + i, n_bytes);
			i += n_bytes;
		}
		for (k = 0; k < n_bytes; k++, n++)
			if (n < out_size)
				out[n] = (char) bytes[k];
	}
	*pos = i + 1;
	*decoded_len = n;
	return NULL;
}

/* Where the significant digits of a number's mantissa are, while scanning it. */
typedef struct digit_count
{
	int64_t		digits;
	int64_t		fraction_digits;
	int64_t		first_nonzero;	/* ordinal among the digits, -1 while none */
	int64_t		last_nonzero;
	size_t		first_offset;
} digit_count;

/* Counts the digits from text[i] on (only one when single); returns the end. */
static size_t
count_digits(const unsigned char *text, size_t len, size_t i, bool single,
			 bool fraction, digit_count *count)
{
	do
	{
		if (text[i] != '0')
		{
			if (count->first_nonzero < 0)
			{
				count->first_nonzero = count->digits;
				count->first_offset = i;
			}
			count->last_nonzero = count->digits;
		}
		count->digits++;
		count->fraction_digits += fraction;
		i++;
	} while (!single && is_digit(text, len, i));
	return i;
}

/*
 * Scans the number at *pos (RFC 8259 grammar) and moves *pos past it.
 * Exponents are clamped, so no digit count or exponent can overflow.
 */
static const char *
scan_number(const unsigned char *text, size_t len, size_t *pos, json_number *num)
{
	size_t		i = *pos;
	digit_count count = {0, 0, -1, -1, 0};
	int64_t		exponent = 0;
	bool		exponent_negative = false;

	memset(num, 0, sizeof(*num));
	if (i < len && text[i] == '-')
	{
		num->negative = true;
		i++;
	}
	if (!is_digit(text, len, i))
	{
		*pos = i;
		return "a number needs a digit";
	}
	/* a leading 0 stands alone: "01" is a number followed by a stray digit */
	i = count_digits(text, len, i, text[i] == '0', false, &count);
	if (i < len && text[i] == '.')
	{
		if (!is_digit(text, len, i + 1))
		{
			*pos = i + 1;
			return "a number needs a digit after its decimal point";
		}
		i = count_digits(text, len, i + 1, false, true, &count);
	}
	if (i < len && (text[i] == 'e' || text[i] == 'E'))
	{
		i++;
		if (i < len && (text[i] == '+' || text[i] == '-'))
			exponent_negative = text[i++] == '-';
		if (!is_digit(text, len, i))
		{
			*pos = i;
			return "a number needs a digit in its exponent";
		}
		for (; is_digit(text, len, i); i++)
			if (exponent < EXPONENT_CLAMP)
				exponent = exponent * 10 + (text[i] - '0');
	}
	*pos = i;
	if (count.first_nonzero >= 0)
	{
		num->first = count.first_offset;
		num->n_digits = count.last_nonzero - count.first_nonzero + 1;
		num->scale = (exponent_negative ? -exponent : exponent) - count.fraction_digits +
			(count.digits - 1 - count.last_nonzero);
	}
	return NULL;
}

/* The first count significant digits of num, as characters. */
static void
copy_digits(const unsigned char *text, const json_number *num, char *out, int64_t count)
{
	size_t		at = num->first;
	int64_t		k = 0;

	for (; k < count; at++)
		if (text[at] != '.')
			out[k++] = (char) text[at];
}

typedef enum integer_kind
{
	INTEGER_OK,
	INTEGER_FRACTIONAL,
	INTEGER_TOO_LARGE			/* magnitude of 10^19 or more */
} integer_kind;

static integer_kind
integer_magnitude(const unsigned char *text, const json_number *num, uint64_t *magnitude)
{
	char		digits[20];
	int64_t		k;

	*magnitude = 0;
	if (num->n_digits == 0)
		return INTEGER_OK;
	if (num->scale < 0)
		return INTEGER_FRACTIONAL;	/* D's last digit is nonzero */
	if (num->n_digits + num->scale > 19)
		return INTEGER_TOO_LARGE;
	copy_digits(text, num, digits, num->n_digits);
	for (k = 0; k < num->n_digits; k++)
		*magnitude = *magnitude * 10 + (uint64_t) (digits[k] - '0');
	for (k = 0; k < num->scale; k++)
		*magnitude *= 10;
	return INTEGER_OK;
}

/*
 * The double nearest to num, as strtod would read the full text (overflow
 * gives infinity).  No decimal point is written, so the locale cannot
 * matter.  Zero, however written or reached by underflow, is +0.
 */
static double
number_to_double(const unsigned char *text, const json_number *num)
{
	char		buf[DOUBLE_DIGITS + 32];
	int64_t		kept = num->n_digits;
	int64_t		scale = num->scale;
	int64_t		magnitude = num->n_digits + num->scale;	/* value < 10^magnitude */
	double		value;

	if (num->n_digits == 0 || magnitude < -400)
		return 0.0;
	if (magnitude > 400)
		value = HUGE_VAL;
	else
	{
		if (kept > DOUBLE_DIGITS)
		{
			/* the last digit of D is nonzero and cut: say so with a 1 */
			kept = DOUBLE_DIGITS;
			copy_digits(text, num, buf, kept);
			buf[kept++] = '1';
			scale = magnitude - kept;
		}
		else
			copy_digits(text, num, buf, kept);
		snprintf(buf + kept, sizeof(buf) - (size_t) kept, "e%lld", (long long) scale);
		value = strtod(buf, NULL);
	}
	return num->negative && value != 0 ? -value : value;
}

static const char *
scan_literal(const unsigned char *text, size_t len, size_t *pos, const char *word)
{
	size_t		n = strlen(word);

	if (len - *pos < n || memcmp(text + *pos, word, n) != 0)
		return "unexpected character";
	*pos += n;
	return NULL;
}

/* Scans the string, number or literal at *pos (pos < len). */
static const char *
scan_scalar(const unsigned char *text, size_t len, size_t *pos)
{
	json_number num;
	size_t		decoded_len;

	switch (text[*pos])
	{
		case '"':
			return scan_string(text, len, pos, NULL, 0, &decoded_len);
		case 't':
			return scan_literal(text, len, pos, "true");
		case 'f':
			return scan_literal(text, len, pos, "false");
		case 'n':
			return scan_literal(text, len, pos, "null");
		default:
			if (text[*pos] == '-' || is_digit(text, len, *pos))
				return scan_number(text, len, pos, &num);
			return "unexpected character";
	}
}

static option_key
find_key(const char *name, size_t name_len)
{
	int			k;

	for (k = 0; k < N_KEYS; k++)
		if (strlen(key_names[k]) == name_len && memcmp(key_names[k], name, name_len) == 0)
			return (option_key) k;
	return KEY_UNKNOWN;
}

static void
note_member(parser *ps, size_t key, size_t value, const char *name, size_t name_len)
{
	member		m;

	m.key = key;
	m.value = value;
	m.name = name_len < KEY_NAME_BYTES ? find_key(name, name_len) : KEY_UNKNOWN;
	if (m.name != KEY_UNKNOWN)
	{
		ps->last[m.name] = m;
		ps->seen[m.name] = true;
	}
	else if (!ps->has_unknown)
	{
		ps->first_unknown = m;
		ps->has_unknown = true;
	}
}

typedef enum scan_state
{
	EXPECT_VALUE,
	EXPECT_FIRST_MEMBER,		/* after '{' */
	EXPECT_MEMBER,				/* after ',' in an object */
	EXPECT_FIRST_ELEMENT,		/* after '[' */
	AFTER_VALUE
} scan_state;

/* First pass: the whole text is one JSON value; notes top-level members. */
static bool
scan_document(parser *ps)
{
	const unsigned char *text = ps->text;
	size_t		len = ps->len;
	size_t		pos = 0;
	int			depth = 0;
	unsigned char is_object[(KP_OPTIONS_MAX_DEPTH + 7) / 8];
	scan_state	state = EXPECT_VALUE;
	const char *problem;

	memset(is_object, 0, sizeof(is_object));
	for (;;)
	{
		bool		in_object = depth > 0 &&
			(is_object[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;

		pos = skip_space(text, len, pos);
		switch (state)
		{
			case EXPECT_VALUE:
				if (pos >= len)
					return syntax_error(ps, pos, "a value is missing");
				if (text[pos] == '{' || text[pos] == '[')
				{
					if (depth == KP_OPTIONS_MAX_DEPTH)
						return fail(ps, NULL, "options nest arrays and objects more than %d levels deep",
									KP_OPTIONS_MAX_DEPTH);
					if (text[pos] == '{')
						is_object[depth / 8] |= (unsigned char) (1u << (depth % 8));
					else
						is_object[depth / 8] &= (unsigned char) ~(1u << (depth % 8));
					depth++;
					state = text[pos] == '{' ? EXPECT_FIRST_MEMBER : EXPECT_FIRST_ELEMENT;
					pos++;
					break;
				}
				problem = scan_scalar(text, len, &pos);
				if (problem != NULL)
					return syntax_error(ps, pos, problem);
				state = AFTER_VALUE;
				break;
			case EXPECT_FIRST_MEMBER:
			case EXPECT_MEMBER:
				if (state == EXPECT_FIRST_MEMBER && pos < len && text[pos] == '}')
				{
					pos++;
					depth--;
					state = AFTER_VALUE;
					break;
				}
				if (pos >= len || text[pos] != '"')
					return syntax_error(ps, pos, "expected a key in double quotes");
				{
					size_t		key = pos;
					char		name[KEY_NAME_BYTES];
					size_t		name_len;

					problem = scan_string(text, len, &pos, name, sizeof(name), &name_len);
					if (problem != NULL)
						return syntax_error(ps, pos, problem);
					pos = skip_space(text, len, pos);
					if (pos >= len || text[pos] != ':')
						return syntax_error(ps, pos, "expected ':' after a key");
					pos = skip_space(text, len, pos + 1);
					if (depth == 1)
						note_member(ps, key, pos, name, name_len);
				}
				state = EXPECT_VALUE;
				break;
			case EXPECT_FIRST_ELEMENT:
				if (pos < len && text[pos] == ']')
				{
					pos++;
					depth--;
					state = AFTER_VALUE;
				}
				else
					state = EXPECT_VALUE;
				break;
			case AFTER_VALUE:
				if (depth == 0)
				{
					if (pos != len)
						return syntax_error(ps, pos, "text follows the value");
					return true;
				}
				if (pos < len && text[pos] == ',')
				{
					pos++;
					state = in_object ? EXPECT_MEMBER : EXPECT_VALUE;
				}
				else if (pos < len && text[pos] == (in_object ? '}' : ']'))
				{
					pos++;
					depth--;
				}
				else
					return syntax_error(ps, pos, in_object ?
										"expected ',' or '}'" : "expected ',' or ']'");
				break;
		}
	}
}

/*
 * The string at offset into out (NUL-terminated), cut at a character
 * boundary with "..." after QUOTE_BYTES bytes, for messages.
 */
static void
quote_string(const parser *ps, size_t offset, char *out)
{
	size_t		decoded_len;
	size_t		n;

	scan_string(ps->text, ps->len, &offset, out, QUOTE_BYTES + 1, &decoded_len);
	if (decoded_len <= QUOTE_BYTES)
	{
		out[decoded_len] = '\0';
		return;
	}
	/* out[n] is the first byte left out: never cut inside a character */
	n = QUOTE_BYTES;
	while (n > 0 && ((unsigned char) out[n] & 0xC0) == 0x80)
		n--;
	memcpy(out + n, "...", 4);
}

static bool
wrong_type(parser *ps, option_key key, const char *expected)
{
	return fail(ps, NULL, "option \"%s\" must be %s", key_names[key], expected);
}

/* An integer in [min, max], min >= 0, compared exactly. */
static bool
integer_option(parser *ps, const member *m, int64_t min, int64_t max, int64_t *out)
{
	const unsigned char *text = ps->text;
	size_t		pos = m->value;
	json_number num;
	uint64_t	magnitude;
	integer_kind kind;

	if (text[pos] != '-' && !is_digit(text, ps->len, pos))
		return wrong_type(ps, m->name, "an integer");
	scan_number(text, ps->len, &pos, &num);
	kind = integer_magnitude(text, &num, &magnitude);
	if (kind == INTEGER_FRACTIONAL)
		return wrong_type(ps, m->name, "an integer");
	if (kind == INTEGER_TOO_LARGE || (num.negative && magnitude != 0) ||
		magnitude < (uint64_t) min || magnitude > (uint64_t) max)
		return fail(ps, NULL, "option \"%s\" must be between %lld and %lld",
					key_names[m->name], (long long) min, (long long) max);
	*out = (int64_t) magnitude;
	return true;
}

/* A number in [0, max]. */
static bool
number_option(parser *ps, const member *m, double max, float *out)
{
	const unsigned char *text = ps->text;
	size_t		pos = m->value;
	json_number num;
	double		value;

	if (text[pos] != '-' && !is_digit(text, ps->len, pos))
		return wrong_type(ps, m->name, "a number");
	scan_number(text, ps->len, &pos, &num);
	value = number_to_double(text, &num);
	if (!(value >= 0 && value <= max))
		return fail(ps, NULL, "option \"%s\" must be between 0 and %.0f",
					key_names[m->name], max);
	*out = (float) value;
	return true;
}

/* A string value decoded into out (out_size bytes); false if it is too long. */
static bool
short_string(const parser *ps, const member *m, char *out, size_t out_size)
{
	size_t		pos = m->value;
	size_t		decoded_len;

	scan_string(ps->text, ps->len, &pos, out, out_size - 1, &decoded_len);
	if (decoded_len >= out_size)
		return false;
	out[decoded_len] = '\0';
	return true;
}

static bool
choice_option(parser *ps, const member *m, const char *const *choices, int n_choices,
			  const char *hint, int *chosen)
{
	char		value[KEY_NAME_BYTES];
	char		quoted[QUOTE_BYTES + 4];

	if (ps->text[m->value] != '"')
		return wrong_type(ps, m->name, "a string");
	if (short_string(ps, m, value, sizeof(value)))
	{
		for (*chosen = 0; *chosen < n_choices; (*chosen)++)
			if (strcmp(value, choices[*chosen]) == 0)
				return true;
	}
	quote_string(ps, m->value, quoted);
	return fail(ps, hint, "option \"%s\" has unknown value \"%s\"", key_names[m->name], quoted);
}

static bool
column_option(parser *ps, const member *m, char *column)
{
	if (ps->text[m->value] != '"')
		return wrong_type(ps, m->name, "a column name string");
	if (!short_string(ps, m, column, KP_MAX_COLUMN_BYTES + 1) || column[0] == '\0')
	{
		column[0] = '\0';
		return fail(ps, NULL, "option \"%s\" must be between 1 and %d bytes long",
					key_names[m->name], KP_MAX_COLUMN_BYTES);
	}
	return true;
}

/* The algorithm names in option "algorithm", by kp_algorithm. */
static const char *const algorithm_names[] = {"auto", "ials", "bpr", "als", "ease", "popular"};

static bool
apply_option(parser *ps, const member *m, kp_train_options *out)
{
	static const char *const solvers[] = {"cg", "cholesky"};
	kp_ials_params *ials = &out->ials;
	int64_t		integer;
	int			chosen;
	char		quoted[QUOTE_BYTES + 4];

	switch (m->name)
	{
		case KEY_ALGORITHM:
			if (!choice_option(ps, m, algorithm_names, 6,
							   "Supported algorithms: ials, bpr, als, ease, popular and auto.",
							   &chosen))
				return false;
			out->algorithm = (uint32_t) chosen;
			return true;
		case KEY_SOLVER:
			if (!choice_option(ps, m, solvers, 2,
							   "Use \"cg\" (conjugate gradient, the default) or \"cholesky\".",
							   &chosen))
				return false;
			ials->solver = chosen == 0 ? KP_SOLVER_CG : KP_SOLVER_CHOLESKY;
			return true;
		case KEY_FACTORS:
			if (!integer_option(ps, m, 1, KP_MAX_FACTORS, &integer))
				return false;
			ials->factors = (int32_t) integer;
			out->factors_given = true;
			return true;
		case KEY_ITERATIONS:
			if (!integer_option(ps, m, 0, KP_MAX_ITERATIONS, &integer))
				return false;
			ials->iterations = (int32_t) integer;
			out->iterations_given = true;
			return true;
		case KEY_EPOCHS:
			if (!integer_option(ps, m, 0, KP_MAX_EPOCHS, &integer))
				return false;
			out->epochs = (int32_t) integer;
			return true;
		case KEY_LEARNING_RATE:
			if (!number_option(ps, m, 1, &out->learning_rate))
				return false;
			if (out->learning_rate == 0)
				return fail(ps, NULL, "option \"learning_rate\" must be greater than 0 and at most 1");
			return true;
		case KEY_CG_STEPS:
			if (!integer_option(ps, m, 1, KP_MAX_CG_STEPS, &integer))
				return false;
			ials->cg_steps = (int32_t) integer;
			return true;
		case KEY_SEED:
			if (!integer_option(ps, m, 0, INT64_MAX, &integer))
				return false;
			ials->seed = (uint64_t) integer;
			return true;
		case KEY_KEEP_VERSIONS:
			if (!integer_option(ps, m, 1, KP_MAX_KEEP_VERSIONS, &integer))
				return false;
			out->keep_versions = (int32_t) integer;
			return true;
		case KEY_SIMILAR_USERS:
			if (!integer_option(ps, m, 0, KP_MODEL_MAX_NEIGHBOURS, &integer))
				return false;
			out->similar_users = (int32_t) integer;
			return true;
		case KEY_MISSING_WEIGHT:
			out->missing_weight_given = true;
			return number_option(ps, m, KP_MAX_MISSING_WEIGHT, &out->missing_weight);
		case KEY_REGULARIZATION:
			out->regularization_given = true;
			return number_option(ps, m, KP_MAX_REGULARIZATION, &ials->regularization);
		case KEY_ALPHA:
			return number_option(ps, m, KP_MAX_ALPHA, &ials->alpha);
		case KEY_VERBOSE:
			if (ps->text[m->value] != 't' && ps->text[m->value] != 'f')
				return wrong_type(ps, m->name, "a boolean");
			out->verbose = ps->text[m->value] == 't';
			return true;
		case KEY_USER_COLUMN:
			return column_option(ps, m, out->user_column);
		case KEY_COURSE_COLUMN:
			return column_option(ps, m, out->course_column);
		case KEY_WEIGHT_COLUMN:
			return column_option(ps, m, out->weight_column);
		case KEY_UNKNOWN:
			break;
	}
	quote_string(ps, m->key, quoted);
	return fail(ps, "Known options: algorithm, factors, iterations, regularization, alpha, "
				"solver, cg_steps, seed, epochs, learning_rate, missing_weight, similar_users, "
				"user_column, course_column, weight_column, keep_versions, verbose.",
				"unknown option \"%s\"", quoted);
}

/*
 * The first option given that the chosen algorithm has no use for.  auto
 * takes only the keys every algorithm shares: it tries its own settings.
 */
static bool
check_keys_apply(parser *ps, const member *const *order, int n_members, uint32_t algorithm)
{
	char		hint[160];
	int			i;
	int			a;
	size_t		used = 0;

	for (i = 0; i < n_members; i++)
	{
		option_key key = order[i]->name;

		if (key == KEY_UNKNOWN || (key_algorithms[key] & (1u << algorithm)) != 0)
			continue;
		for (a = KP_ALGO_IALS; a <= KP_ALGO_POPULAR; a++)
			if (key_algorithms[key] & (1u << a))
				used += (size_t) snprintf(hint + used, sizeof(hint) - used, "%s%s",
										  used == 0 ? "" : ", ", algorithm_names[a]);
		return fail(ps, NULL, "option \"%s\" does not apply to algorithm %s (it applies to %s)",
					key_names[key], algorithm_names[algorithm], hint);
	}
	return true;
}

void
kp_train_options_default(kp_train_options *options)
{
	memset(options, 0, sizeof(*options));
	options->algorithm = KP_ALGO_IALS;
	kp_ials_default_params(&options->ials);
	options->epochs = KP_DEFAULT_EPOCHS;
	options->learning_rate = KP_DEFAULT_LEARNING_RATE;
	options->keep_versions = KP_DEFAULT_KEEP_VERSIONS;
}

kp_status
kp_train_options_parse(const char *json, size_t len, kp_train_options *out,
					   char *message, size_t message_size,
					   char *hint, size_t hint_size)
{
	parser		ps;
	kp_train_options parsed;
	const member *order[N_KEYS + 1];
	int			n_members = 0;
	int			i;
	int			k;

	memset(&ps, 0, sizeof(ps));
	ps.text = (const unsigned char *) json;
	ps.len = json != NULL ? len : 0;
	ps.message = message;
	ps.message_size = message != NULL ? message_size : 0;
	ps.hint = hint;
	ps.hint_size = hint != NULL ? hint_size : 0;
	fail(&ps, NULL, "%s", "");	/* empty message and hint until something fails */
	kp_train_options_default(out);
	kp_train_options_default(&parsed);

	if (!scan_document(&ps))
		return KP_EINVAL;
	if (ps.text[skip_space(ps.text, ps.len, 0)] != '{')
	{
		fail(&ps, "For example '{\"factors\": 64, \"iterations\": 15}'.",
			 "options must be a JSON object");
		return KP_EINVAL;
	}

	/* The members that count, in the order they appear. */
	for (k = 0; k < N_KEYS; k++)
		if (ps.seen[k])
			order[n_members++] = &ps.last[k];
	if (ps.has_unknown)
		order[n_members++] = &ps.first_unknown;
	for (i = 1; i < n_members; i++)
	{
		const member *m = order[i];

		for (k = i; k > 0 && order[k - 1]->value > m->value; k--)
			order[k] = order[k - 1];
		order[k] = m;
	}

	for (i = 0; i < n_members; i++)
	{
		if (!apply_option(&ps, order[i], &parsed))
			return KP_EINVAL;
	}
	if (!check_keys_apply(&ps, order, n_members, parsed.algorithm))
		return KP_EINVAL;
	*out = parsed;
	return KP_OK;
}
