#!/usr/bin/env bash
# Every long kpreco call stops within a second of pg_cancel_backend or
# statement_timeout, and leaves its session and the catalog fine.
#
# 1. A training cancelled in each of its phases -- reading the source rows,
#    iterating, saving the version -- leaves the catalog as it was: the same
#    active version, no new version, no new log rows.  The verbose NOTICEs
#    tell which phase a training is in.
# 2. The long calls of 0.3.0, each at a size where it runs for seconds
#    (generated data, deterministic): evaluate (also with k = the catalog),
#    training with algorithm auto, ease (5000 courses), bpr, course_text and
#    course_features, recommend_all (also with k in the thousands),
#    segment_users, segment_profile, audience (3 million users, first call and
#    all users), split, and similar_users (first call).  Each runs in a
#    session of its own after a warm-up statement (the model loaded), and is
#    stopped once by pg_cancel_backend when pg_stat_activity has shown it
#    active for a while (1 s; 0.3 s for calls that are in their long stretch
#    at once) and once by statement_timeout.  The latency is measured on the
#    server's clock, from the cancel (or the statement's start plus the
#    timeout) to the next statement of the same session, which then checks
#    that the session still works; then the catalog must be as it was.
#    The latencies are printed as '#' lines, and in a table at the end.
set -euo pipefail
# shellcheck source=lib/tap.bash
. "$(dirname "$0")/lib/tap.bash"

DB=kpreco_cancel
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; dropdb --if-exists "$DB" 2>/dev/null' EXIT

# 300,000 interactions: 64 factors and 50 iterations take several seconds.
BIG_SOURCE='big'
BIG_OPTIONS='{"factors": 64, "iterations": 50, "verbose": true}'
# Eight million generated rows take seconds just to read.
SLOW_SOURCE='SELECT g % 100000 AS user_id, g % 1000 AS course_id FROM generate_series(1, 8000000) g'
CATALOG="SELECT format('%s %s %s', (SELECT string_agg(version::text, ',') FROM kpreco.models WHERE active),
	(SELECT count(*) FROM kpreco.model_versions), (SELECT count(*) FROM kpreco.training_log))"

# wait_for FILE PATTERN: until PATTERN shows in FILE (20 s at most).
wait_for() {
	local i
	for ((i = 0; i < 1000; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	echo "# gave up waiting for '$2' in $1"
	return 1
}

# start_training NAME SQL [SETTING]: runs SQL in the background as
# application NAME, its output in $WORK/NAME; sets TRAINING_PID.
start_training() {
	PGAPPNAME=$1 PGOPTIONS="-c client_min_messages=notice ${3:-}" \
		psql -X -q -t -A -v VERBOSITY=verbose -d "$DB" -c "$2" >"$WORK/$1" 2>&1 &
	TRAINING_PID=$!
}

# cancelled NAME REASON: the error of the cancelled training; its whole output as
# comments when that is not the expected one.
cancelled() {
	local error
	error=$(grep -o "ERROR:  57014: canceling statement due to $2" "$WORK/$1" || true)
	[[ -n "$error" ]] || sed 's/^/# /' "$WORK/$1" >&2
	echo "$error"
}

# cancel NAME: pg_cancel_backend on the session; sets LATENCY to the
# milliseconds until its client has the error and has ended.  (Not to be
# called in a subshell, which could not wait for the client.)
cancel() {
	local started
	started=$(now_ms)
	q "$DB" "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '$1'" >/dev/null
	wait "$TRAINING_PID" || true
	LATENCY=$(($(now_ms) - started))
}

dropdb --if-exists "$DB" 2>/dev/null
createdb "$DB"
q "$DB" "CREATE EXTENSION kpreco" >/dev/null
q "$DB" "CREATE TABLE big AS SELECT u AS user_id, (u * 7 + i * 13) % 2000 AS course_id
	FROM generate_series(1, 30000) u, generate_series(1, 10) i" >/dev/null
q "$DB" "SELECT kpreco.train('cx', 'SELECT * FROM big WHERE user_id <= 500', '{\"factors\": 8, \"iterations\": 2}')" >/dev/null
before=$(q "$DB" "$CATALOG")
ok "$before" "1 1 2" "a first version, with its log"

# Reading the source rows.
start_training loading "SELECT kpreco.train('cx', \$\$$SLOW_SOURCE\$\$, '$BIG_OPTIONS')"
sleep 0.5
cancel loading
ok "$(grep -c '^NOTICE:  00000: read ' "$WORK/loading")" "0" "pg_cancel_backend while the rows are read"
ok "$(cancelled loading 'user request')" \
	"ERROR:  57014: canceling statement due to user request" "cancels the training"
ok_if "$LATENCY < 1000" "within a second ($LATENCY ms)"
ok "$(q "$DB" "$CATALOG")" "$before" "and leaves the catalog as it was"

# The same with statement_timeout.
started=$(now_ms)
start_training timeout "SELECT kpreco.train('cx', \$\$$SLOW_SOURCE\$\$, '$BIG_OPTIONS')" "-c statement_timeout=500"
wait "$TRAINING_PID" || true
elapsed=$(($(now_ms) - started))
ok "$(cancelled timeout 'statement timeout')" \
	"ERROR:  57014: canceling statement due to statement timeout" "statement_timeout of 500 ms while the rows are read"
ok_if "$elapsed < 1500" "ends within a second of the timeout ($elapsed ms from the start)"

# Iterating.
start_training iterating "SELECT kpreco.train('cx', '$BIG_SOURCE', '$BIG_OPTIONS')"
wait_for "$WORK/iterating" "iteration 2 of 50"
cancel iterating
ok "$(grep -c '^NOTICE:  00000: read 300000 rows' "$WORK/iterating")" "1" "pg_cancel_backend while iterating"
ok "$(cancelled iterating 'user request')" \
	"ERROR:  57014: canceling statement due to user request" "cancels the training"
ok_if "$(grep -c 'iteration 49 of 50' "$WORK/iterating") == 0" "long before its end"
ok_if "$LATENCY < 1000" "within a second ($LATENCY ms)"
ok "$(q "$DB" "$CATALOG")" "$before" "and leaves the catalog as it was"

# Saving: the version row is written, then filing the log waits on a lock.
psql -X -q -d "$DB" -c "BEGIN; LOCK TABLE kpreco.training_log IN SHARE MODE; SELECT pg_sleep(30); COMMIT" \
	>/dev/null 2>&1 &
locker=$!
sleep 0.3
start_training saving "SELECT kpreco.train('cx', '$BIG_SOURCE', '{\"factors\": 64, \"iterations\": 2, \"verbose\": true}')"
wait_for "$WORK/saving" "built the model"
for ((i = 0; i < 250; i++)); do
	[[ "$(q "$DB" "SELECT wait_event_type FROM pg_stat_activity WHERE application_name = 'saving'")" == Lock ]] && break
	sleep 0.02
done
ok "$(q "$DB" "SELECT wait_event_type FROM pg_stat_activity WHERE application_name = 'saving'")" "Lock" \
	"a training that has built its model waits to file its log"
cancel saving
ok "$(cancelled saving 'user request')" \
	"ERROR:  57014: canceling statement due to user request" "pg_cancel_backend while saving cancels it"
ok_if "$LATENCY < 1000" "within a second ($LATENCY ms)"
q "$DB" "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'BEGIN; LOCK TABLE kpreco.training_log%'" >/dev/null
wait "$locker" || true
ok "$(q "$DB" "$CATALOG")" "$before" "and leaves the catalog as it was, though its version row was written"
ok "$(q "$DB" "SELECT kpreco.train('cx')")" "3" "the next training completes (the one cancelled while saving had taken number 2)"

# ---------------------------------------------------------------------------
# 2. The long calls of 0.3.0

# cancel_ms: the server's clock in milliseconds.  cancel_when_active: cancels
# the statement marked /* long call */ of application APP once it has been
# active for ACTIVE_MS, and returns the moment of the cancel ('gone' when the
# statement ended first; 'gave up' after 60 s).  pg_stat_activity is read
# afresh each time (pg_stat_clear_snapshot).
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
CREATE FUNCTION public.cancel_ms(timestamptz) RETURNS bigint
	LANGUAGE sql IMMUTABLE AS 'SELECT round(extract(epoch FROM $1) * 1000)::bigint';
CREATE FUNCTION public.cancel_when_active(app text, active_ms integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	target integer;
	started timestamptz;
	seen boolean := false;
	moment timestamptz;
BEGIN
	FOR i IN 1..6000 LOOP
		PERFORM pg_stat_clear_snapshot();
		target := NULL;
		SELECT pid, query_start INTO target, started FROM pg_stat_activity
		 WHERE application_name = app AND state = 'active' AND query LIKE '/* long call */%';
		IF target IS NOT NULL THEN
			seen := true;
			IF clock_timestamp() - started >= active_ms * interval '1 ms' THEN
				moment := clock_timestamp();
				PERFORM pg_cancel_backend(target);
				RETURN public.cancel_ms(moment)::text;
			END IF;
		ELSIF seen THEN
			RETURN 'gone';
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RETURN 'gave up';
END
$$;
SQL

# Data and models, all from generate_series:
#   many        500,000 users x 6 of 3000 courses (3M rows), ials, 32 factors
#   wide        3 million users of one course each, bpr with 32 factors and
#               no epochs (its vectors are the random start): a 430 MB model
#   catalog10k  20,000 users x 10 of 10,000 courses, ials, 64 factors
#   course_text, course_features: 20 words (of 5000) of 40,000 courses, and
#               20 features (of 12,000) of 12,000 courses
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
CREATE TABLE many AS SELECT u AS user_id, (u * 7 + i * 131 + (u % 97) * i) % 3000 AS course_id
	FROM generate_series(1, 500000) u, generate_series(1, 6) i;
CREATE TABLE course_text AS SELECT c AS course_id,
	(SELECT string_agg('w' || ((c * 31 + j * 17 + (c % 13) * j * j) % 5000), ' ') FROM generate_series(1, 20) j) AS text
	FROM generate_series(0, 39999) c;
CREATE TABLE course_features AS SELECT c AS course_id,
	'f' || ((c * 31 + j * 17 + (c % 13) * j * j) % 12000) AS feature, 1.0 AS weight
	FROM generate_series(0, 11999) c, generate_series(1, 20) j;
SELECT kpreco.train('many', 'many', '{"factors": 32, "iterations": 1}');
SELECT kpreco.train('wide', 'SELECT u AS user_id, (u * 7) % 3000 AS course_id FROM generate_series(1, 3000000) u',
					'{"algorithm": "bpr", "factors": 32, "epochs": 0}');
SELECT kpreco.train('catalog10k', 'SELECT u AS user_id, (u * 7 + i * 131) % 10000 AS course_id
									 FROM generate_series(1, 20000) u, generate_series(1, 10) i',
					'{"factors": 64, "iterations": 1}');
SQL
ok "$(q "$DB" "SELECT string_agg(format('%s %s %s', name, n_users, n_courses), ', ' ORDER BY name) FROM kpreco.models WHERE active")" \
	"catalog10k 20000 10000, cx 500 2000, many 500000 3000, wide 3000000 3000" "the models to run the calls on"
before=$(q "$DB" "$CATALOG")
# What a fresh session answers, to compare the sessions that were cancelled with.
AUDIENCE_REF=$(q "$DB" "SELECT string_agg(user_id::text, ',' ORDER BY rank) FROM kpreco.audience(5, 10, 'wide')")
SIMILAR_REF=$(q "$DB" "SELECT string_agg(user_id::text, ',' ORDER BY rank) FROM kpreco.similar_users(5, 5, 'wide')")

# Until the server answers again (30 s at most): a crashed backend makes it
# restart every session.
wait_for_server() {
	local i
	for ((i = 0; i < 150; i++)); do
		psql -X -q -t -A -d "$DB" -c 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "# the server does not answer"
}

# call_defaults: what a call does not say.
call_defaults() {
	WARMUP="" CHECK="SELECT 'alive'" EXPECTED=alive PHASE_IN="" PHASE_NOT=""
	CANCEL_AFTER=1000 TIMEOUT_AFTER=1500
}

SUMMARY=()

# stop LABEL cancel|timeout: in a session of its own, runs $WARMUP, then
# $CALL, stopped by pg_cancel_backend once it has been active for
# $CANCEL_AFTER ms or by a statement_timeout of $TIMEOUT_AFTER ms, then
# $CHECK.  Tests that the call ended with 57014 for that reason (in the
# phase whose NOTICE is $PHASE_IN, and before the one of $PHASE_NOT, when
# given), within a second (LATENCY, ms on the server's clock from the cancel,
# or from the statement's start plus the timeout, to the next statement),
# that $CHECK printed $EXPECTED in the same session and that the catalog is
# as it was.
stop() {
	local label=$1 how=$2 app out after reason what pid moment="" start end error
	app="call$((TAP_COUNT + 1))-$how"
	out="$WORK/$app"
	LAST_OUT=$out
	if [[ $how == cancel ]]; then
		after=$CANCEL_AFTER reason='user request' what="pg_cancel_backend after $CANCEL_AFTER ms"
	else
		after=$TIMEOUT_AFTER reason='statement timeout' what="statement_timeout of $TIMEOUT_AFTER ms"
	fi
	wait_for_server
	{
		[[ -z "$WARMUP" ]] || echo "$WARMUP;"
		[[ $how == cancel ]] || echo "SET statement_timeout = $after;"
		echo "SELECT 'start ' || cancel_ms(clock_timestamp());"
		echo "/* long call */ $CALL;"
		echo "SELECT 'end ' || cancel_ms(clock_timestamp());"
		echo "RESET statement_timeout;"
		echo "$CHECK;"
	} >"$out.sql"
	PGAPPNAME=$app PGOPTIONS="-c client_min_messages=notice" \
		psql -X -q -t -A -v VERBOSITY=verbose -d "$DB" -f "$out.sql" >"$out" 2>&1 &
	pid=$!
	if [[ $how == cancel ]]; then
		moment=$(q "$DB" "SELECT cancel_when_active('$app', $after)")
		start=$moment
	fi
	wait "$pid" || true
	if [[ $how == timeout ]]; then
		start=$(sed -n 's/^start \([0-9]*\)$/\1/p' "$out")
		[[ ! "$start" =~ ^[0-9]+$ ]] || start=$((start + after))
	fi
	end=$(sed -n 's/^end \([0-9]*\)$/\1/p' "$out")
	if [[ "$start" =~ ^[0-9]+$ && "$end" =~ ^[0-9]+$ ]]; then
		LATENCY=$((end - start))
	else
		LATENCY="(none: cancelled at '$start', next statement at '$end')"
	fi

	error=$(grep -o "ERROR:  57014: canceling statement due to $reason" "$out" | head -n 1 || true)
	[[ -n "$error" ]] || sed 's/^/# /' "$out"
	ok "$error" "ERROR:  57014: canceling statement due to $reason" "$label: $what stops it"
	if [[ -n "$PHASE_IN" ]]; then
		local seen=0 passed=0
		seen=$(sed '/ERROR:  57014/,$d' "$out" | grep -c "$PHASE_IN" || true)
		[[ -z "$PHASE_NOT" ]] || passed=$(grep -c "$PHASE_NOT" "$out" || true)
		ok_if "$seen > 0 && $passed == 0" "$label: stopped after \"$PHASE_IN\"${PHASE_NOT:+, before \"$PHASE_NOT\"}"
	fi
	echo "# $label, $what: error after $LATENCY ms"
	SUMMARY+=("$(printf '%-62s %-34s %s' "$label" "$what" "$LATENCY")")
	if [[ "$LATENCY" =~ ^-?[0-9]+$ ]]; then
		ok_if "$LATENCY < 1000" "$label: within a second ($LATENCY ms)"
	else
		ok "$LATENCY" "a latency" "$label: within a second"
	fi
	local after_lines
	after_lines=$(sed '1,/^end [0-9]*$/d' "$out" | grep -v 'NOTICE:  ' || true)
	[[ "$after_lines" == "$EXPECTED" ]] || sed 's/^/# /' "$out"
	ok "$after_lines" "$EXPECTED" "$label: the session goes on"
	wait_for_server
	ok "$(q "$DB" "$CATALOG")" "$before" "$label: the catalog is as it was"
}

# Trainings retrain cx (its active version must stay); the checks train
# again, in a transaction rolled back.
trained() {
	echo "BEGIN; SELECT kpreco.train('cx', 'SELECT * FROM big WHERE user_id <= 300', '$1') > 0; ROLLBACK"
}

# evaluate: a model's top 10 for each of 500,000 users.
call_defaults
WARMUP="SELECT count(*) FROM kpreco.recommend(1, 1, 'many')"
CALL="SELECT * FROM kpreco.evaluate('many', 'SELECT u AS user_id, (u * 13 + 5) % 3000 AS course_id FROM generate_series(1, 500000) u', 10)"
CHECK="SELECT value FROM kpreco.evaluate('many', 'SELECT 1 AS user_id, 5 AS course_id', 10) WHERE metric = 'users'"
EXPECTED=1
stop "evaluate('many', 500,000 test users, k 10)" cancel
stop "evaluate('many', 500,000 test users, k 10)" timeout

# evaluate with k = the catalog: the diversity of one user's list of 10,000
# courses is 50 million pairs of vectors.
call_defaults
WARMUP="SELECT count(*) FROM kpreco.recommend(1, 1, 'catalog10k')"
CALL="SELECT * FROM kpreco.evaluate('catalog10k', 'SELECT 1 AS user_id, 5 AS course_id', 10000)"
CHECK="SELECT value FROM kpreco.evaluate('catalog10k', 'SELECT 1 AS user_id, 5 AS course_id', 10) WHERE metric = 'users'"
EXPECTED=1
stop "evaluate('catalog10k', 1 test user, k 10000)" cancel
stop "evaluate('catalog10k', 1 test user, k 10000)" timeout

# Algorithm auto: the validation slice, then 7 candidates trained and evaluated.
call_defaults
CALL="SELECT kpreco.train('cx', 'big', '{\"algorithm\": \"auto\", \"verbose\": true}')"
CHECK=$(trained '{"algorithm": "auto"}')
EXPECTED=t
for how in cancel timeout; do
	stop "train auto (300,000 interactions)" $how
	echo "# (stopped after $(grep -c 'auto: {' "$LAST_OUT" || true) of the 7 candidates)"
done

# ease over 5000 courses: the Gram matrix and the blocked Cholesky.
call_defaults
CALL="SELECT kpreco.train('cx', 'SELECT u AS user_id, (u * 7 + i * 131) % 5000 AS course_id
	FROM generate_series(1, 20000) u, generate_series(1, 10) i', '{\"algorithm\": \"ease\", \"verbose\": true}')"
CHECK=$(trained '{"algorithm": "ease"}')
EXPECTED=t PHASE_IN="read 200000 rows" PHASE_NOT="iteration 1 of 1 done"
stop "train ease (5000 courses)" cancel
stop "train ease (5000 courses)" timeout

# bpr: 100 epochs of 300,000 interactions, 64 factors.
call_defaults
CALL="SELECT kpreco.train('cx', 'big', '{\"algorithm\": \"bpr\", \"factors\": 64, \"verbose\": true}')"
CHECK=$(trained '{"algorithm": "bpr", "epochs": 2}')
EXPECTED=t PHASE_IN="iteration 1 of 100:" PHASE_NOT="iteration 100 of 100:"
stop "train bpr (300,000 interactions, 100 epochs)" cancel
stop "train bpr (300,000 interactions, 100 epochs)" timeout

# Content cold start: the model is built in 0.2 s, then the words of 40,000
# course texts (text_tokens, TF-IDF in SQL) ...
call_defaults
CALL="SELECT kpreco.train('cx', 'big', '{\"factors\": 32, \"iterations\": 2, \"verbose\": true, \"course_text\": \"course_text\"}')"
CHECK=$(trained '{"factors": 8, "course_text": "SELECT * FROM course_text WHERE course_id < 100"}')
EXPECTED=t PHASE_IN="built the model"
stop "train with course_text (40,000 courses)" cancel
stop "train with course_text (40,000 courses)" timeout

# ... and the ridge regression from 12,000 features to the vectors of 8000 courses.
call_defaults
CALL="SELECT kpreco.train('cx', 'SELECT u AS user_id, (u * 7 + i * 131) % 8000 AS course_id
	FROM generate_series(1, 20000) u, generate_series(1, 10) i',
	'{\"factors\": 32, \"iterations\": 2, \"verbose\": true, \"course_features\": \"course_features\"}')"
CHECK=$(trained '{"factors": 8, "course_features": "SELECT * FROM course_features WHERE course_id < 100"}')
EXPECTED=t PHASE_IN="built the model"
stop "train with course_features (8000 x 12,000)" cancel
stop "train with course_features (8000 x 12,000)" timeout

# recommend_all: the top 10 of 500,000 users.
call_defaults
WARMUP="SELECT count(*) FROM kpreco.recommend(1, 1, 'many')"
CALL="SELECT count(*) FROM kpreco.recommend_all(10, 'many')"
CHECK="SELECT count(*) FROM kpreco.recommend_all(3, 'many', '{1,2,3}')"
EXPECTED=9
stop "recommend_all(10, 'many'), 500,000 users" cancel
stop "recommend_all(10, 'many'), 500,000 users" timeout

# recommend_all with a large k: 4096 users (unknown to the model, so the
# call writes rows from the start) x 5000 courses.
call_defaults
WARMUP="SELECT count(*) FROM kpreco.recommend(1, 1, 'catalog10k')"
CALL="SELECT count(*) FROM kpreco.recommend_all(5000, 'catalog10k', ARRAY(SELECT -g FROM generate_series(1, 4096) g))"
CHECK="SELECT count(*) FROM kpreco.recommend_all(3, 'catalog10k', '{1,2,-1}')"
EXPECTED=9 CANCEL_AFTER=300 TIMEOUT_AFTER=300
stop "recommend_all(5000, 'catalog10k'), 4096 users" cancel
stop "recommend_all(5000, 'catalog10k'), 4096 users" timeout

# k-means of 500,000 user vectors into 20 segments.
call_defaults
WARMUP="SELECT count(*) FROM kpreco.recommend(1, 1, 'many')"
CALL="SELECT count(*) FROM kpreco.segment_users(20, 'many')"
CHECK="SELECT count(DISTINCT segment) FROM kpreco.segment_users(3, 'cx')"
EXPECTED=3
stop "segment_users(20, 'many'), 500,000 users" cancel
stop "segment_users(20, 'many'), 500,000 users" timeout
CALL="SELECT count(*) FROM kpreco.segment_profile(20, 'many')"
CHECK="SELECT count(*) FROM kpreco.segment_profile(3, 'cx', 0, 2)"
EXPECTED=6
stop "segment_profile(20, 'many'), 500,000 users" cancel
stop "segment_profile(20, 'many'), 500,000 users" timeout

# audience over 3 million users: the first call of a session builds the
# training users of every course and the int8 copy of the user vectors ...
call_defaults
WARMUP="SELECT count(*) FROM kpreco.recommend(1, 1, 'wide')"
CALL="SELECT count(*) FROM kpreco.audience(5, 10, 'wide')"
CHECK="SELECT string_agg(user_id::text, ',' ORDER BY rank) FROM kpreco.audience(5, 10, 'wide')"
EXPECTED=$AUDIENCE_REF TIMEOUT_AFTER=1000
stop "audience(5, 10, 'wide'), 3M users, first call" cancel
stop "audience(5, 10, 'wide'), 3M users, first call" timeout

# ... and once that is done, ranks all the users.
WARMUP="SELECT count(*) FROM kpreco.audience(5, 10, 'wide')"
CALL="SELECT count(*) FROM kpreco.audience(6, 3000000, 'wide')"
CANCEL_AFTER=300 TIMEOUT_AFTER=300
stop "audience(6, 3000000, 'wide'), all 3M users" cancel
stop "audience(6, 3000000, 'wide'), all 3M users" timeout

# split (plain SQL) of 900,000 rows.
call_defaults
CALL="SELECT * FROM kpreco.split('SELECT * FROM many WHERE user_id <= 150000', 'sp', '{\"method\": \"random\", \"seed\": 1}')"
CHECK="SELECT to_regclass('sp_train') IS NULL AND to_regclass('sp_test') IS NULL;
	BEGIN; SELECT count(*) FROM kpreco.split('SELECT * FROM big WHERE user_id <= 100', 'sp', '{\"method\": \"random\", \"seed\": 1}'); ROLLBACK"
EXPECTED=$'t\n2'
stop "split of 900,000 rows" cancel
stop "split of 900,000 rows" timeout

# similar_users over 3 million users, first call of a session (unit vectors
# and their int8 copy).  Last: a crash restarts every session.
call_defaults
WARMUP="SELECT count(*) FROM kpreco.recommend(1, 1, 'wide')"
CALL="SELECT count(*) FROM kpreco.similar_users(5, 5, 'wide')"
CHECK="SELECT string_agg(user_id::text, ',' ORDER BY rank) FROM kpreco.similar_users(5, 5, 'wide')"
EXPECTED=$SIMILAR_REF CANCEL_AFTER=300 TIMEOUT_AFTER=300
stop "similar_users(5, 5, 'wide'), 3M users, first call" cancel
stop "similar_users(5, 5, 'wide'), 3M users, first call" timeout

echo "# Latency from the cancel, or the statement's start plus the timeout, to the error (ms):"
printf '#   %s\n' "${SUMMARY[@]}"
echo "1..$TAP_COUNT"
