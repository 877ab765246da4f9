#!/usr/bin/env bash
#
# test.sh -- every test of kpreco, from a fresh Debian machine or a warm one:
#
#   bash scripts/test.sh
#
#  1. installs the Debian packages that are missing (no apt at all otherwise);
#  2. make && make install;
#  3. make unit: C unit tests of the numerical core (test/unit/test_*.c);
#  4. make unit-asan: the same under AddressSanitizer and UBSan;
#  5. make fuzz-smoke: each libFuzzer target (fuzz/) for a few seconds,
#     installing clang-14 and libclang-rt-14-dev when they are missing;
#  6. starts a throw-away cluster in a temporary directory, with pg_cron
#     preloaded (cron.database_name = kpreco_test);
#  7. make installcheck: pg_regress over test/sql, expected output in
#     expected/ (it creates and uses database contrib_regression);
#  8. pg_prove over test/pgtap/*.sql, in database kpreco_test;
#  9. every executable test/tap/*.sh, through prove;
#
# and ends with one line `N passed, N failed` summed over the unit,
# sanitizer, fuzzing, pg_regress, pgTAP and TAP-script tests. A phase that
# cannot run (a failed build, a server that does not start, a runner that
# prints no result) counts as one failure. Exits non-zero when anything
# failed. The long runs, make fuzz and make valgrind-check, are not part of
# it: they run on request (docs/FUZZING.md).
#
# What pgTAP files (test/pgtap/*.sql) can rely on: before pg_prove runs,
# this script creates database kpreco_test and in it the extensions pgtap,
# pg_cron and kpreco (CREATE EXTENSION IF NOT EXISTS, so files may say it
# again), and the tables ml100k_train and ml100k_test (user_id bigint,
# item_id bigint, value real, ts bigint), filled from
# ../shared/data/ml-100k/{train,test}.tsv beside the repository when that
# directory exists and empty otherwise: tests that need them skip when they
# are empty. All files share the database and run one after another, each
# in its own session: a file must leave it as it found it (BEGIN ...
# ROLLBACK, or drop what it made).
#
# TAP scripts (test/tap/*.sh, executable, printing TAP) get PGHOST, PGPORT,
# PGUSER and PGDATABASE=kpreco_test, with the server's binaries first on
# PATH; they may open as many connections as they like.
#
# Environment:
#   PG_CONFIG       pg_config of the PostgreSQL to test (default: pg_config)
#   KEEP_CLUSTER=1  leave the cluster running at the end and print how to reach it
#   KEEP_LOGS=1     keep the log directory even when everything passed
#   PHASE_TIMEOUT   seconds one phase may take (default 900)

set -euo pipefail

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=pgcluster.sh
. "$SCRIPTS_DIR/pgcluster.sh"
ROOT=$PGC_ROOT_DIR
TEST_DB=kpreco_test
ML100K_DIR="$ROOT/../shared/data/ml-100k"
PHASE_TIMEOUT=${PHASE_TIMEOUT:-900}

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()     # one line per phase, printed at the end
LOG_DIR=""

# ---------------------------------------------------------------------------
# Bookkeeping

# record PHASE PASSED FAILED [NOTE]
record() {
	TOTAL_PASSED=$((TOTAL_PASSED + $2))
	TOTAL_FAILED=$((TOTAL_FAILED + $3))
	SUMMARY+=("$(printf '%-13s %5d passed, %d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}

# A phase that could not run counts as one failure.
record_broken() {
	TOTAL_FAILED=$((TOTAL_FAILED + 1))
	SUMMARY+=("$(printf '%-13s could not run: %s' "$1" "$2")")
	pgc_warn "$1: $2"
}

record_skipped() {
	SUMMARY+=("$(printf '%-13s skipped: %s' "$1" "$2")")
	echo "    skipped: $2"
}

FINISHED=0
CURRENT_PHASE=setup

finish() {
	FINISHED=1
	echo
	pgc_say "Summary"
	local line
	for line in "${SUMMARY[@]}"; do
		echo "    $line"
	done
	if ((TOTAL_FAILED > 0)) || [[ "${KEEP_LOGS:-0}" == 1 ]]; then
		echo "    logs: $LOG_DIR"
	fi
	echo
	echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
	((TOTAL_FAILED == 0))
}

# run_logged LOG CMD...: run CMD with a time limit, output to the terminal
# and to LOG; returns CMD's status (124 on timeout).
run_logged() {
	local log=$1
	shift
	local status=0
	timeout --kill-after=30 "$PHASE_TIMEOUT" "$@" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
	if ((status == 124)); then
		echo "timed out after $PHASE_TIMEOUT s: $*" | tee -a "$log" >&2
	fi
	return "$status"
}

# ---------------------------------------------------------------------------
# Reading the runners' results

# harness_counts LOG: "PASSED FAILED" from the closing report of prove or
# pg_prove (TAP::Harness), or nothing when it has none. A file that failed
# without a failed test (bad plan, died, non-zero exit) counts as one failure.
harness_counts() {
	awk '
		function close_entry() {
			if (in_entry) failed += (entry_failed > 0 ? entry_failed : (entry_broken ? 1 : 0))
			in_entry = 0
		}
		/\(Wstat: .*Tests: [0-9]+ Failed: [0-9]+\)/ {
			close_entry()
			in_entry = 1; entry_broken = 0
			match($0, /Failed: [0-9]+\)/)
			entry_failed = substr($0, RSTART + 8, RLENGTH - 9) + 0
			failed_tests += entry_failed
			next
		}
		in_entry && /^[ \t]+(Parse errors|Non-zero exit status|Non-zero wait status)/ { entry_broken = 1; next }
		in_entry && !/^[ \t]/ { close_entry() }
		/^Files=[0-9]+, Tests=[0-9]+/ {
			close_entry()
			match($0, /Tests=[0-9]+/)
			tests = substr($0, RSTART + 6, RLENGTH - 6) + 0
			seen = 1
		}
		END {
			close_entry()
			if (seen) print tests - failed_tests, failed + 0
		}
	' "$1"
}

# regress_counts LOG: "PASSED FAILED" from pg_regress's closing lines
# (PostgreSQL 13-15: "All 5 tests passed." / " 2 of 5 tests failed.";
# 16 and later prefix them with "# "), or nothing when there are none.
regress_counts() {
	awk '
		/All [0-9]+ tests passed/ {
			match($0, /All [0-9]+/); n = substr($0, RSTART + 4, RLENGTH - 4) + 0
			print n, 0; found = 1; exit
		}
		/[0-9]+ of [0-9]+ tests (failed|passed)/ {
			match($0, /[0-9]+ of [0-9]+/); split(substr($0, RSTART, RLENGTH), a, " of ")
			if ($0 ~ /tests failed/) print a[2] - a[1], a[1]
			else print a[1], 0      # "3 of 4 tests passed, 1 failed test(s) ignored"
			found = 1; exit
		}
	' "$1"
}

# ---------------------------------------------------------------------------
# Phases

phase_build() {
	pgc_build_install "$LOG_DIR/build.log"
}

phase_unit() {
	pgc_say "C unit tests (make unit)"
	if ! compgen -G "$ROOT/test/unit/test_*.c" >/dev/null; then
		record_skipped unit "no test/unit/test_*.c"
		return 0
	fi
	local log="$LOG_DIR/unit.log" status=0 counts
	run_logged "$log" make -C "$ROOT" --no-print-directory unit PG_CONFIG="$PG_CONFIG" || status=$?
	counts=$(harness_counts "$log")
	if [[ -z "$counts" ]]; then
		record_broken unit "make unit printed no test report ($(ended "$status"), log $log)"
		return 0
	fi
	record_counts unit "$counts" "$status"
}

phase_unit_asan() {
	pgc_say "C unit tests under ASan and UBSan (make unit-asan)"
	run_make_tests unit-asan unit-asan
}

phase_fuzz_smoke() {
	pgc_say "Fuzz targets, a few seconds each (make fuzz-smoke)"
	pgc_ensure_packages "clang-14 libclang-rt-14-dev"
	run_make_tests fuzz-smoke fuzz-smoke
}

# run_make_tests PHASE TARGET: make TARGET, whose tests report through prove.
run_make_tests() {
	local phase=$1 target=$2 log="$LOG_DIR/$2.log" status=0 counts
	run_logged "$log" make -C "$ROOT" --no-print-directory -j"$(nproc 2>/dev/null || echo 2)" \
		"$target" PG_CONFIG="$PG_CONFIG" || status=$?
	counts=$(harness_counts "$log")
	if [[ -z "$counts" ]]; then
		record_broken "$phase" "make $target printed no test report ($(ended "$status"), log $log)"
		return 0
	fi
	record_counts "$phase" "$counts" "$status"
}

# How a runner ended, for messages: "exit 2" or "timed out after 900 s".
ended() {
	if (($1 == 124)); then
		echo "timed out after $PHASE_TIMEOUT s"
	else
		echo "exit $1"
	fi
}

# record_counts PHASE "PASSED FAILED" STATUS: a runner that failed without a
# failed test still counts as one failure.
record_counts() {
	local phase=$1 passed failed status=$3
	read -r passed failed <<<"$2"
	if ((status != 0 && failed == 0)); then
		record "$phase" "$passed" 1 "the runner failed: $(ended "$status")"
	else
		record "$phase" "$passed" "$failed"
	fi
}

phase_cluster() {
	# pgc_start exits on failure; run it in this shell so that its exports stay.
	pgc_start --cron --database "$TEST_DB"
}

phase_regress() {
	pgc_say "Regression tests (make installcheck)"
	if ! compgen -G "$ROOT/test/sql/*.sql" >/dev/null; then
		record_skipped pg_regress "no test/sql/*.sql"
		return 0
	fi
	local log="$LOG_DIR/regress.log" status=0 counts
	rm -f "$ROOT/regression.diffs" "$ROOT/regression.out"
	run_logged "$log" make -C "$ROOT" --no-print-directory installcheck PG_CONFIG="$PG_CONFIG" || status=$?
	if [[ -f "$ROOT/regression.diffs" ]]; then
		cp "$ROOT/regression.diffs" "$LOG_DIR/"
		if ((status != 0)); then
			echo
			pgc_say "regression.diffs (first 400 lines; all of it in $ROOT/regression.diffs)"
			head -n 400 "$ROOT/regression.diffs"
		fi
	fi
	counts=$(regress_counts "$log")
	if [[ -z "$counts" ]]; then
		record_broken pg_regress "make installcheck printed no result ($(ended "$status"), log $log)"
		return 0
	fi
	record_counts pg_regress "$counts" "$status"
}

# The tables of the MovieLens 100K split, empty when it is not beside the repository.
load_ml100k() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$TEST_DB" <<'SQL'
CREATE TABLE IF NOT EXISTS ml100k_train (user_id bigint, item_id bigint, value real, ts bigint);
CREATE TABLE IF NOT EXISTS ml100k_test (user_id bigint, item_id bigint, value real, ts bigint);
TRUNCATE ml100k_train, ml100k_test;
SQL
	if [[ -f "$ML100K_DIR/train.tsv" && -f "$ML100K_DIR/test.tsv" ]]; then
		psql -X -q -v ON_ERROR_STOP=1 -d "$TEST_DB" -c '\copy ml100k_train from pstdin' <"$ML100K_DIR/train.tsv"
		psql -X -q -v ON_ERROR_STOP=1 -d "$TEST_DB" -c '\copy ml100k_test from pstdin' <"$ML100K_DIR/test.tsv"
		psql -X -q -v ON_ERROR_STOP=1 -d "$TEST_DB" -c 'ANALYZE ml100k_train, ml100k_test'
		echo "    loaded $(psql -X -At -d "$TEST_DB" -c 'SELECT count(*) FROM ml100k_train') + $(psql -X -At -d "$TEST_DB" -c 'SELECT count(*) FROM ml100k_test') rows of MovieLens 100K"
	else
		echo "    no MovieLens 100K at $ML100K_DIR: tables ml100k_train and ml100k_test stay empty"
	fi
}

prepare_test_db() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$TEST_DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS kpreco;
SQL
	load_ml100k
}

phase_pgtap() {
	pgc_say "pgTAP tests (pg_prove test/pgtap/*.sql in database $TEST_DB)"
	local files=() log="$LOG_DIR/pgtap.log" status=0 counts
	shopt -s nullglob
	files=("$ROOT"/test/pgtap/*.sql)
	shopt -u nullglob
	if ((${#files[@]} == 0)); then
		record_skipped pgTAP "no test/pgtap/*.sql"
		return 0
	fi
	if ! prepare_test_db >"$LOG_DIR/pgtap-setup.log" 2>&1; then
		cat "$LOG_DIR/pgtap-setup.log" >&2
		record_broken pgTAP "could not prepare database $TEST_DB"
		return 0
	fi
	cat "$LOG_DIR/pgtap-setup.log"
	(cd "$ROOT" && run_logged "$log" pg_prove --dbname "$TEST_DB" --host "$PGHOST" --port "$PGPORT" \
		--username "$PGUSER" --psql-bin "$PGC_BINDIR/psql" --failures --comments \
		"${files[@]#"$ROOT"/}") || status=$?
	counts=$(harness_counts "$log")
	if [[ -z "$counts" ]]; then
		record_broken pgTAP "pg_prove printed no test report ($(ended "$status"), log $log)"
		return 0
	fi
	record_counts pgTAP "$counts" "$status"
}

phase_tap_scripts() {
	pgc_say "TAP scripts (test/tap/*.sh)"
	local f files=() log="$LOG_DIR/tap.log" status=0 counts
	for f in "$ROOT"/test/tap/*.sh; do
		[[ -e "$f" ]] || continue
		if [[ -x "$f" ]]; then
			files+=("${f#"$ROOT"/}")
		else
			pgc_warn "not executable, not run: ${f#"$ROOT"/}"
		fi
	done
	if ((${#files[@]} == 0)); then
		record_skipped "TAP scripts" "no executable test/tap/*.sh"
		return 0
	fi
	(cd "$ROOT" && PGDATABASE=$TEST_DB run_logged "$log" prove -f "${files[@]}") || status=$?
	counts=$(harness_counts "$log")
	if [[ -z "$counts" ]]; then
		record_broken "TAP scripts" "prove printed no test report ($(ended "$status"), log $log)"
		return 0
	fi
	record_counts "TAP scripts" "$counts" "$status"
}

server_log_on_failure() {
	local log
	log=$(pgc_log_file)
	if ((TOTAL_FAILED > 0)) && [[ -s "$log" ]]; then
		cp "$log" "$LOG_DIR/postgresql.log"
		echo
		pgc_say "Server log, last 60 lines (all of it in $LOG_DIR/postgresql.log)"
		tail -n 60 "$log"
	fi
}

# ---------------------------------------------------------------------------

main() {
	local started=$SECONDS
	LOG_DIR=$(mktemp -d /tmp/kpreco-test-logs.XXXXXX)
	pgc_at_exit cleanup_logs
	pgc_at_exit finish_if_stopped

	pgc_ensure_packages "$(pgc_default_packages)"
	pgc_setup_pg_config

	CURRENT_PHASE=build
	if ! phase_build; then
		record_broken build "make or make install failed (log $LOG_DIR/build.log)"
		finish
	fi
	CURRENT_PHASE=unit
	phase_unit
	CURRENT_PHASE=unit-asan
	phase_unit_asan
	CURRENT_PHASE=fuzz-smoke
	phase_fuzz_smoke
	CURRENT_PHASE=cluster
	phase_cluster
	CURRENT_PHASE=pg_regress
	phase_regress
	CURRENT_PHASE=pgTAP
	phase_pgtap
	CURRENT_PHASE="TAP scripts"
	phase_tap_scripts
	CURRENT_PHASE=end
	server_log_on_failure
	echo
	echo "    took $((SECONDS - started)) s"
	finish
}

# At exit: a script stopped by an error still ends with its closing line.
finish_if_stopped() {
	((FINISHED)) && return 0
	record_broken "$CURRENT_PHASE" "stopped the script (see the messages above)"
	finish || true
}

cleanup_logs() {
	if ((TOTAL_FAILED == 0)) && [[ "${KEEP_LOGS:-0}" != 1 && -n "$LOG_DIR" ]]; then
		rm -rf "$LOG_DIR"
	fi
}

main "$@"
