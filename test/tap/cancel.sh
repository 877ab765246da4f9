#!/usr/bin/env bash
# A training cancelled (pg_cancel_backend or statement_timeout) in each of
# its phases -- reading the source rows, iterating, saving the version --
# stops within a second and leaves the catalog as it was: the same active
# version, no new version, no new log rows.  The verbose NOTICEs tell which
# phase a training is in.
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

echo "1..17"
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
