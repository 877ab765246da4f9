/*
 * model_type.c -- the kpreco.model type: a varlena wrapping the byte string
 * described in kp_model.h.
 *
 * Text form: base64 of the whole value (what pg_dump writes in plain
 * format).  Binary form: the bytes themselves.  Every way in (input,
 * receive, cast from bytea) runs the full validation of kp_model_read, so a
 * damaged value is refused with an error instead of being stored and served.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "access/detoast.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "kp_model_edit.h"
#include "kpreco.h"

PG_FUNCTION_INFO_V1(kpreco_model_in);
PG_FUNCTION_INFO_V1(kpreco_model_out);
PG_FUNCTION_INFO_V1(kpreco_model_recv);
PG_FUNCTION_INFO_V1(kpreco_model_send);
PG_FUNCTION_INFO_V1(kpreco_model_from_bytea);
PG_FUNCTION_INFO_V1(kpreco_model_to_bytea);
PG_FUNCTION_INFO_V1(kpreco_model_info);
PG_FUNCTION_INFO_V1(kpreco_model_has_user);
PG_FUNCTION_INFO_V1(kpreco_model_without_user);

static void
validate_options_json(const kp_model *m, int sqlstate)
{
	char	   *text = pnstrdup(m->options_json, m->options_len);
	MemoryContext context = CurrentMemoryContext;
	ErrorData  *problem;

	/*
	 * jsonb_in's data error becomes the error of this way in, like any other
	 * damage.  Raising a new ERROR at once is what makes catching one here,
	 * without a subtransaction, safe.
	 */
	PG_TRY();
	{
		(void) DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		problem = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(problem->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid kpreco.model value: model options are not valid JSON"),
				 errdetail("%s", problem->detail != NULL ? problem->detail : problem->message),
				 errhint("The value is damaged or was not produced by kpreco; retrain the model.")));
	}
	PG_END_TRY();
	pfree(text);
}

/* Bytes copied between interrupt checks: a few milliseconds. */
#define COPY_PIECE ((Size) 1 << 22)

/* memcpy in pieces with interrupt checks between them: values reach 760 MB. */
static void
copy_interruptibly(void *dst, const void *src, Size len)
{
	Size		done = 0;

	while (done < len)
	{
		Size		step = Min(len - done, COPY_PIECE);

		memcpy((char *) dst + done, (const char *) src + done, step);
		done += step;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Validates bytes that claim to be a model and returns them as a fresh,
 * aligned varlena.  sqlstate is the error code to use for a malformed value.
 */
static struct varlena *
model_from_bytes(const char *data, Size len, int sqlstate)
{
	struct varlena *value;
	kp_model	fields;
	char		problem[256];
	kp_status	status;

	if (len < KP_MODEL_HEADER_BYTES || len > KP_MODEL_MAX_BYTES)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid kpreco.model value"),
				 errdetail("A model has between %d and %zu bytes; this value has %zu.",
						   KP_MODEL_HEADER_BYTES, (size_t) KP_MODEL_MAX_BYTES, (size_t) len),
				 errhint("Produce models with kpreco.train() or kpreco.train_agg().")));

	value = (struct varlena *) palloc(len);
	copy_interruptibly(value, data, len);
	SET_VARSIZE(value, len);
	status = kp_model_read(value, len, &fields, problem, sizeof(problem),
						   kpreco_check_interrupts, NULL);
	if (status != KP_OK)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid kpreco.model value: %s", problem),
				 errhint("The value is damaged or was not produced by kpreco; retrain the model.")));
	validate_options_json(&fields, sqlstate);
	return value;
}

struct varlena *
kpreco_model_build(const kp_model *fields)
{
	size_t		size = kp_model_bytes(fields);
	struct varlena *value;
	kp_status	status;

	if (size == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model too large: %d users and %d courses with %d factors exceed the 760 MB limit of a model",
						fields->n_users, fields->n_items, fields->factors),
				 errhint("Use fewer factors or train on fewer users; the limit keeps the text form that pg_dump writes under PostgreSQL's 1 GB limit of a value.")));
	/* Not zeroed: kp_model_write sets every byte after the length word. */
	value = (struct varlena *) palloc(size);
	status = kp_model_write(fields, value, size, kpreco_check_interrupts, NULL);
	if (status != KP_OK)
		elog(ERROR, "kpreco: could not serialise model: %s", kp_status_message(status));
	SET_VARSIZE(value, size);
	return value;
}

/*
 * Fills out from a detoasted model value.  Stored values were validated on
 * the way in; this checks again, since a value can also reach us through a
 * damaged page or a binary-coercible cast.
 */
void
kpreco_model_parse(struct varlena *value, kp_model *out)
{
	char		problem[256];
	Size		len = VARSIZE_ANY_EXHDR(value) + VARHDRSZ;

	/* The format needs a 4-byte header at an 8-byte aligned address. */
	if (VARATT_IS_SHORT(value) || ((uintptr_t) value % 8) != 0)
	{
		struct varlena *copy = (struct varlena *) palloc(len);

		SET_VARSIZE(copy, len);
		copy_interruptibly(VARDATA(copy), VARDATA_ANY(value), len - VARHDRSZ);
		value = copy;
	}
	if (kp_model_read(value, len, out, problem, sizeof(problem),
					  kpreco_check_interrupts, NULL) != KP_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid kpreco.model value: %s", problem),
				 errhint("Retrain the model with kpreco.train().")));
}

Datum
kpreco_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len = strlen(str);
	size_t		cap = len / 4 * 3 + 3;
	char	   *bytes = palloc(cap);
	size_t		decoded;

	if (kp_base64_decode(str, len, bytes, cap, &decoded, kpreco_check_interrupts, NULL) != KP_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type kpreco.model"),
				 errdetail("The text form of a model is base64."),
				 errhint("Produce models with kpreco.train() or kpreco.train_agg().")));
	PG_RETURN_POINTER(model_from_bytes(bytes, (Size) decoded,
									   ERRCODE_INVALID_TEXT_REPRESENTATION));
}

Datum
kpreco_model_out(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	size_t		len = VARSIZE(value);
	char	   *out = palloc(kp_base64_encoded_len(len) + 1);

	kpreco_report_status(kp_base64_encode(value, len, out, kpreco_check_interrupts, NULL),
						 "writing a model as text");
	out[kp_base64_encoded_len(len)] = '\0';
	PG_RETURN_CSTRING(out);
}

Datum
kpreco_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	struct varlena *value;

	value = model_from_bytes(buf->data + buf->cursor, buf->len - buf->cursor,
							 ERRCODE_INVALID_BINARY_REPRESENTATION);
	buf->cursor = buf->len;
	PG_RETURN_POINTER(value);
}

Datum
kpreco_model_send(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (char *) value, VARSIZE(value));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
kpreco_model_from_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_POINTER(model_from_bytes(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes),
									   ERRCODE_DATA_CORRUPTED));
}

/* The same bytes as the binary form. */
Datum
kpreco_model_to_bytea(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	Size		len = VARSIZE(value);
	bytea	   *bytes = palloc(VARHDRSZ + len);

	SET_VARSIZE(bytes, VARHDRSZ + len);
	copy_interruptibly(VARDATA(bytes), value, len);
	PG_RETURN_BYTEA_P(bytes);
}

/*
 * How full the neighbour lists are: refresh_user and forget_user can
 * shorten a list, and similar_users scans every user for a k beyond it.
 */
static void
append_neighbour_counts(StringInfo buf, const kp_model *m)
{
	int32		full = 0;
	int32		shortest = m->neighbours_per_user;
	int32		u;

	for (u = 0; u < m->n_users; u++)
	{
		int32		n = kp_neighbours_size(m->neighbours + (Size) u * m->neighbours_per_user,
										   m->neighbours_per_user);

		full += n == Min(m->neighbours_per_user, m->n_users - 1);
		shortest = Min(shortest, n);
		if (u % 65536 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	appendStringInfo(buf, ", \"similar_users\": {\"per_user\": %d, \"full_lists\": %d, \"shortest_list\": %d}",
					 m->neighbours_per_user, full, m->n_users > 0 ? shortest : 0);
}

/* Header fields and options of a model as jsonb. */
Datum
kpreco_model_info(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	kp_model	m;
	StringInfoData buf;

	kpreco_model_parse(value, &m);
	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"format_version\": %u, \"algorithm\": \"%s\", \"factors\": %d, "
					 "\"n_users\": %d, \"n_courses\": %d, \"n_interactions\": " INT64_FORMAT ", "
					 "\"rows_read\": " INT64_FORMAT ", \"rows_skipped\": " INT64_FORMAT ", "
					 "\"bytes\": %zu, \"options\": ",
					 m.format_version, kp_algorithm_name(m.algorithm), m.factors,
					 m.n_users, m.n_items, m.nnz, m.rows_read, m.rows_skipped,
					 (size_t) VARSIZE(value));
	appendBinaryStringInfo(&buf, m.options_json, m.options_len);
	if (m.neighbours_per_user > 0)
		append_neighbour_counts(&buf, &m);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* Bytes [offset, offset + length) of a model value, counted like the format. */
static struct varlena *
model_slice(Datum value, Size offset, Size length)
{
	struct varlena *slice = PG_DETOAST_DATUM_SLICE(value, offset - VARHDRSZ, length);

	if (VARSIZE_ANY_EXHDR(slice) != length)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid kpreco.model value: truncated at byte %zu", (size_t) (offset + length)),
				 errhint("Retrain the model with kpreco.train().")));
	return slice;
}

/*
 * model_has_user(model, user_id): whether the model has factors for the
 * user.  Reads the header and the user ids only, not the whole value, so
 * that kpreco.forget_user() can skip the versions that do not know the user.
 */
Datum
kpreco_model_has_user(PG_FUNCTION_ARGS)
{
	Datum		value = PG_GETARG_DATUM(0);
	int64		user_id = PG_GETARG_INT64(1);
	char		header[KP_MODEL_HEADER_BYTES];
	char		problem[256];
	struct varlena *slice;
	kp_model	m;
	int64	   *user_ids;
	Size		ids_bytes;

	memset(header, 0, VARHDRSZ);
	slice = model_slice(value, VARHDRSZ, KP_MODEL_HEADER_BYTES - VARHDRSZ);
	memcpy(header + VARHDRSZ, VARDATA_ANY(slice), KP_MODEL_HEADER_BYTES - VARHDRSZ);
	if (kp_model_read_header(header, sizeof(header), toast_raw_datum_size(value),
							 &m, problem, sizeof(problem)) != KP_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid kpreco.model value: %s", problem),
				 errhint("Retrain the model with kpreco.train().")));
	if (m.n_users == 0)
		PG_RETURN_BOOL(false);

	ids_bytes = sizeof(int64) * (Size) m.n_users;
	slice = model_slice(value, kp_model_user_ids_offset(&m), ids_bytes);
	/* The slice's data is only 4-byte aligned: copy the ids out. */
	user_ids = palloc(ids_bytes);
	memcpy(user_ids, VARDATA_ANY(slice), ids_bytes);
	m.user_ids = user_ids;
	PG_RETURN_BOOL(kp_model_find_user(&m, user_id) >= 0);
}

/*
 * after's neighbour lists: before's, after one edit of its user rows at row
 * (kp_neighbours.h).  Nothing to do for a model without lists.
 */
void
kpreco_edit_neighbours(const kp_model *before, kp_model *after, kp_neighbour_edit edit, int32 row)
{
	int32		per_user = before->neighbours_per_user;
	float	   *unit;
	int32	   *lists;

	if (per_user == 0)
		return;
	lists = kpreco_alloc_huge(CurrentMemoryContext,
							  sizeof(int32) * (Size) Max(after->n_users, 1) * per_user, "neighbour lists");
	/* also for a removal: the lists that lose the user are filled again */
	unit = kpreco_alloc_huge(CurrentMemoryContext,
							 sizeof(float) * (Size) Max(after->n_users, 1) * after->factors,
							 "unit-length user vectors");
	kpreco_unit_rows(after->user_factors, after->n_users, after->factors, unit);
	kpreco_report_status(kp_neighbours_edit(before->neighbours, before->n_users, per_user,
											before->neighbours_floor, edit, row,
											unit, after->n_users, after->factors, lists,
											&after->neighbours_floor, kpreco_check_interrupts, NULL),
						 "updating the lists of similar users");
	pfree(unit);
	after->neighbours_per_user = per_user;
	after->neighbours = lists;
}

/*
 * model_without_user(model, user_id): the model without that user's factors
 * and training courses; the value unchanged when the model does not know
 * the user.  Course factors stay as they were trained.
 */
Datum
kpreco_model_without_user(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(0));
	int64		user_id = PG_GETARG_INT64(1);
	kp_model	m;
	kp_model	before;
	int32		row;

	kpreco_model_parse(value, &m);
	row = kp_model_find_user(&m, user_id);
	if (row < 0)
		PG_RETURN_POINTER(value);
	before = m;
	/* The arrays point into our own copy (or kpreco_model_parse's): editable. */
	if (kp_model_remove_user(&m, row, kpreco_check_interrupts, NULL) != KP_OK)
		elog(ERROR, "kpreco: could not remove user row %d", row);
	kpreco_edit_neighbours(&before, &m, KP_NEIGHBOUR_REMOVE, row);
	PG_RETURN_POINTER(kpreco_model_build(&m));
}
