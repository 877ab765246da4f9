#!/usr/bin/env bash
# Crash safety: SIGKILL of a backend (a crash, not a cancel: the postmaster
# then ends every session and runs crash recovery) while it trains, while
# it writes the trained model, after it wrote it but before COMMIT, and
# while it serves.  After each, on a server that recovered by itself: the
# catalog holds exactly the committed versions, every stored value
# validates, amcheck finds the heap and TOAST tables sound, and the
# previously active version serves the same recommendations.  At the end
# the next training succeeds.
#
# Runs its own throw-away cluster (scripts/pgcluster.sh): crashing the
# shared test cluster would end the other tests' sessions.
#
#   test/tap/crash_safety.sh          (TAP on stdout; figures as # comments)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.bash
. "$HERE/lib/tap.bash"
# shellcheck source=../../scripts/pgcluster.sh
. "$HERE/../../scripts/pgcluster.sh"

export KEEP_CLUSTER=0
PGC_PORT_BASE=${CRASH_SAFETY_PORT_BASE:-54540}
DB=kpreco_crash
WORK=$(mktemp -d)
BACKGROUND=()   # pids of the psql clients started here
cleanup() {
	local pid
	for pid in "${BACKGROUND[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
pgc_at_exit cleanup

echo "1..39"
pgc_start --database "$DB" >&2
LOG=$(pgc_log_file)
# LOG level, so that the server log records each crash and each recovery.
q "$DB" "ALTER SYSTEM SET log_min_messages = 'log'" >/dev/null
# The throw-away cluster commits asynchronously; a commit must reach the WAL
# before it returns, or a crash right after it may undo it.
q "$DB" "ALTER SYSTEM SET synchronous_commit = 'on'" >/dev/null
q "$DB" "SELECT pg_reload_conf()" >/dev/null
q "$DB" "CREATE EXTENSION kpreco; CREATE EXTENSION amcheck" >/dev/null

# ---------------------------------------------------------------------------
# Helpers

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# wait_for TIMEOUT COMMAND...: poll COMMAND every 0.05 s until it succeeds.
wait_for() {
	local deadline
	deadline=$(awk -v t="$1" -v n="$(now)" 'BEGIN { printf "%.2f", n + t }')
	shift
	until "$@"; do
		if awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n > d) }'; then
			return 1
		fi
		sleep 0.05
	done
}

log_count() { grep -c "$1" "$LOG" || true; }

# run_bg NAME SQL: psql in the background as application NAME, stdout and
# stderr (where NOTICEs arrive as they are raised) to $WORK/NAME.{out,err}.
run_bg() {
	PGAPPNAME=$1 psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -f - >"$WORK/$1.out" 2>"$WORK/$1.err" <<<"$2" &
	BACKGROUND+=($!)
}

backend_of() {
	q "$DB" "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND state = 'active'"
}
has_backend() { [[ -n "$(backend_of "$1")" ]]; }
err_has() { grep -q "$2" "$WORK/$1.err" 2>/dev/null; }
toast_bytes() { q "$DB" "SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'kpreco.model_versions'::regclass"; }
toast_beyond() { (($(toast_bytes) > $1)); }
server_up() { [[ "$(q "$DB" "SELECT 1" 2>/dev/null)" == 1 ]]; }

# crash PID: SIGKILL the backend, then wait until the postmaster has
# reinitialised and recovered.  Sets RECOVERY_SECONDS.
RECOVERY_SECONDS=""
crash() {
	local before_restart before_ready started
	before_restart=$(log_count "all server processes terminated; reinitializing")
	before_ready=$(log_count "database system is ready to accept connections")
	started=$(now)
	kill -9 "$1"
	if wait_for 60 log_grew "all server processes terminated; reinitializing" "$before_restart" &&
		wait_for 60 log_grew "database system is ready to accept connections" "$before_ready" &&
		wait_for 60 server_up; then
		RECOVERY_SECONDS=$(elapsed "$started" "$(now)")
	else
		RECOVERY_SECONDS="-1 (no recovery within 60 s)"
	fi
}
log_grew() { (($(log_count "$1") > $2)); }

# The state that must survive every crash.
CATALOG="SELECT string_agg(format('%s v%s%s', name, version, CASE WHEN active THEN ' active' END), ', ' ORDER BY version) FROM kpreco.models"
SERVED="SELECT md5(string_agg(line, ',' ORDER BY line)) FROM (
  SELECT format('r%s:%s:%s:%s', u, r.course_id, r.rank, r.score) AS line
    FROM generate_series(1, 300) u, LATERAL kpreco.recommend(u, 10, 'm') r
  UNION ALL
  SELECT format('s%s:%s:%s:%s', c, s.course_id, s.rank, s.similarity)
    FROM generate_series(0, 60) c, LATERAL kpreco.similar_courses(c, 5, 'm') s) t"
VALID="SELECT count(*) FILTER (WHERE (kpreco.model_info(model) ->> 'bytes')::bigint = octet_length(model::bytea)) || ' of ' || count(*)
         FROM kpreco.model_versions"
AMCHECK="SELECT count(*) FROM (
  SELECT * FROM verify_heapam('kpreco.model_versions', check_toast => true)
  UNION ALL SELECT * FROM verify_heapam('kpreco.model_registry', check_toast => true)
  UNION ALL SELECT * FROM verify_heapam('kpreco.training_log')) problems"

# after_crash WHAT: the checks after each crash.
after_crash() {
	ok_if "$(awk -v s="$RECOVERY_SECONDS" 'BEGIN { print (s > 0 && s < 60) }')" "$1: the server ran crash recovery by itself (${RECOVERY_SECONDS} s)"
	ok "$(q "$DB" "$CATALOG")" "$catalog" "$1: the catalog holds exactly the committed versions"
	ok "$(q "$DB" "$VALID")" "$n_versions of $n_versions" "$1: every stored version validates"
	ok "$(q "$DB" "$AMCHECK")" "0" "$1: amcheck finds the catalog heap and TOAST tables sound"
	ok "$(q "$DB" "$SERVED")" "$served" "$1: the active version serves the same recommendations"
	echo "# $1: recovered in $RECOVERY_SECONDS s"
}

# ---------------------------------------------------------------------------
# Data and the version that must survive.

q "$DB" "CREATE TABLE small AS SELECT u AS user_id, (u * 7 + i * 13) % 60 AS course_id FROM generate_series(1, 400) u, generate_series(1, 8) i" >/dev/null
# 200,000 interactions: an iteration at 64 factors takes about 0.1 s.
q "$DB" "CREATE TABLE big AS SELECT u AS user_id, (u * 7 + i * 13) % 2000 AS course_id FROM generate_series(1, 20000) u, generate_series(1, 10) i" >/dev/null
# 1,000,000 users: a model of 281 MB, whose write into TOAST takes seconds.
q "$DB" "CREATE TABLE wide AS SELECT u AS user_id, (u * 7 + i * 13) % 5000 AS course_id FROM generate_series(1, 1000000) u, generate_series(1, 2) i" >/dev/null
q "$DB" "ANALYZE small, big, wide" >/dev/null

ok "$(q "$DB" "SELECT kpreco.train('m', 'small', '{\"factors\": 16, \"iterations\": 10}')")" "1" "version 1 of model m is trained"
catalog=$(q "$DB" "$CATALOG")
served=$(q "$DB" "$SERVED")
n_versions=$(q "$DB" "SELECT count(*) FROM kpreco.model_versions")
postmaster_pid=$(head -n 1 "$PGC_DIR/data/postmaster.pid")
postmaster_started=$(q "$DB" "SELECT pg_postmaster_start_time()")
ok "$catalog" "m v1 active" "the catalog before any crash"

# A session that only waits: a crash of another backend must end it too.
# This is what the pgTAP files rely on to prove that no case crashed the
# server (their session outlives every case).
run_bg bystander "SELECT pg_sleep(600);"
wait_for 30 has_backend bystander || true

# ---------------------------------------------------------------------------
# (a) SIGKILL in the middle of the iterations.  With "verbose" each
# iteration raises a NOTICE, which psql prints as it arrives: after the
# third, the backend is iterating (1000 iterations would take ~100 s).

toast_before=$(toast_bytes)
run_bg train_a "SELECT kpreco.train('m', 'big', '{\"factors\": 64, \"iterations\": 1000, \"verbose\": true}');"
wait_for 120 err_has train_a "iteration 3 of 1000" || true
pid=$(backend_of train_a)
iteration=$(grep -o 'iteration [0-9]* of 1000' "$WORK/train_a.err" | tail -n 1 | awk '{print $2}')
ok_if "${iteration:-0} >= 3 && ${pid:-0} > 0" "(a) the training is iterating (iteration ${iteration:-none}) when its backend is killed"
ok "$(toast_bytes)" "$toast_before" "(a) and has not started to write its model"
crash "$pid"
after_crash "(a) killed while iterating"
wait "${BACKGROUND[0]}" 2>/dev/null || true
ok_if "$(grep -c -e 'terminating connection because of crash of another server process' -e 'server closed the connection unexpectedly' "$WORK/bystander.err" || true) > 0" \
	"(a) the crash also ended an idle session elsewhere (so a session that outlives a test saw no crash)"
ok "$(q "$DB" "SELECT pg_postmaster_start_time()")" "$postmaster_started" \
	"(a) pg_postmaster_start_time() is not reset by crash recovery (so it cannot detect a crash)"

# ---------------------------------------------------------------------------
# (b) SIGKILL while the model is being written.  "verbose" announces "built
# the model" when the value is complete; the INSERT then writes it into the
# TOAST table of kpreco.model_versions, whose file grows page by page (the
# one unambiguous sign of the saving phase: wait events flicker between
# DataFileExtend, WALWrite and none).  The backend is killed once 16 MB of
# the 281 MB are written.

toast_before=$(toast_bytes)
started=$(now)
run_bg train_b "SELECT kpreco.train('m', 'wide', '{\"factors\": 64, \"iterations\": 0, \"verbose\": true}');"
wait_for 120 err_has train_b "built the model" || true
model_bytes=$(grep -o 'built the model: [0-9]* bytes' "$WORK/train_b.err" | awk '{print $4}')
wait_for 60 toast_beyond $((toast_before + 16 * 1024 * 1024)) || true
pid=$(backend_of train_b)
written=$(($(toast_bytes) - toast_before))
ok_if "${pid:-0} > 0 && $written >= 16 * 1024 * 1024 && $written < ${model_bytes:-0}" \
	"(b) the backend is writing its ${model_bytes:-?}-byte model ($((written / 1024 / 1024)) MB in TOAST so far) when it is killed"
crash "$pid"
after_crash "(b) killed while writing the model"
echo "# (b) killed $(elapsed "$started" "$(now)") s after the start, with $((written / 1024 / 1024)) MB of $((${model_bytes:-0} / 1024 / 1024)) MB written"
ok "$(q "$DB" "SELECT count(*) FROM kpreco.model_versions WHERE n_users = 1000000")" "0" "(b) no trace of the half-written version"

# ---------------------------------------------------------------------------
# (c) SIGKILL after kpreco.train() returned but before COMMIT: the version
# row, its TOAST chunks, the registry update, the training log and the
# pruning of older versions (keep_versions 1 deletes version 1) are all
# written, and all must vanish.

run_bg train_c "BEGIN;
SELECT kpreco.train('m', 'big', '{\"factors\": 8, \"iterations\": 2, \"keep_versions\": 1}');
SELECT pg_sleep(600);
COMMIT;"
sleeping() { [[ "$(q "$DB" "SELECT wait_event FROM pg_stat_activity WHERE application_name = 'train_c'")" == PgSleep ]]; }
wait_for 120 sleeping || true
pid=$(backend_of train_c)
ok "$(q "$DB" "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
               WHERE a.application_name = 'train_c' AND l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock'")" "1" \
	"(c) kpreco.train() returned in an open transaction that wrote (it holds a transaction id)"
crash "$pid"
after_crash "(c) killed between kpreco.train() and COMMIT"
ok "$(q "$DB" "SELECT count(*) FROM kpreco.training_log WHERE version > 1")" "0" "(c) no training log of the lost version"

# ---------------------------------------------------------------------------
# (d) SIGKILL while serving: a tight loop of recommend() calls.

run_bg serve "SELECT count(*) FROM generate_series(1, 100000000) g, LATERAL kpreco.recommend(g % 500, 10, 'm') r;"
serving_for_a_second() {
	[[ "$(q "$DB" "SELECT now() - query_start > interval '1 s' FROM pg_stat_activity WHERE application_name = 'serve' AND state = 'active'")" == t ]]
}
wait_for 60 serving_for_a_second || true
pid=$(backend_of serve)
ok_if "${pid:-0} > 0" "(d) a session has been serving recommend() in a loop for 1 s when its backend is killed"
crash "$pid"
after_crash "(d) killed while serving"

# ---------------------------------------------------------------------------
# After four crashes: the same postmaster, and training works.

ok "$(log_count "was terminated by signal 9: Killed")" "4" "the server log records four backends killed by signal 9"
ok "$(log_count "all server processes terminated; reinitializing")" "4" "and four crash restarts"
ok "$(head -n 1 "$PGC_DIR/data/postmaster.pid")" "$postmaster_pid" "the postmaster itself never stopped"
ok "$(q "$DB" "SELECT kpreco.train('m', 'small', '{\"factors\": 16, \"iterations\": 10, \"seed\": 7}') > 1")" "t" "the next training succeeds"
ok "$(q "$DB" "SELECT count(*) FROM kpreco.models WHERE name = 'm' AND active AND version > 1")" "1" "and its version is the active one"
ok_if "$(q "$DB" "SELECT count(*) FROM kpreco.recommend(1, 10, 'm')") == 10" "which serves"
ok "$(q "$DB" "VACUUM kpreco.model_versions" && echo vacuumed)" "vacuumed" "VACUUM cleans up after the killed trainings"
ok "$(q "$DB" "$AMCHECK")" "0" "amcheck still finds the catalog sound"
