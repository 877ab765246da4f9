#!/usr/bin/env bash
# Resource limits, on a cluster of its own:
#
#  1. memory: with the postmaster (and so every backend) under `ulimit -v`,
#     a training estimated just under kpreco.max_training_memory succeeds
#     and stays near the setting, one just over it is refused up front
#     (54000), and sources of 50 million rows (generate_series, no table)
#     are refused while their rows are collected, quickly, within the
#     setting, never by running out of memory;
#  2. cancellation: statement_timeout and pg_cancel_backend stop every long
#     kpreco call within one second, whatever phase the call is in.
#
# Figures (estimates, peaks, durations, latencies) are printed as TAP
# comments; docs/HARDENING.md reports them.
#
#   bash test/long/limits.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tap/lib/tap.bash
. "$HERE/../tap/lib/tap.bash"
# shellcheck source=../../scripts/pgcluster.sh
. "$HERE/../../scripts/pgcluster.sh"

export KEEP_CLUSTER=0
PGC_PORT_BASE=${LIMITS_PORT_BASE:-54560}
DB=kpreco_limits
ADDRESS_SPACE_MB=${LIMITS_ADDRESS_SPACE_MB:-1536}   # ulimit -v of the postmaster
SETTING_MB=${LIMITS_TRAINING_MEMORY_MB:-1024}       # kpreco.max_training_memory
MAX_LATENCY=1.0                                     # seconds from cancel to error
BIG_FACTORS=150                                     # 1M users x 150 factors: about 600 MB
WORK=$(mktemp -d)
BACKGROUND=()
cleanup() {
	local pid
	for pid in "${BACKGROUND[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
pgc_at_exit cleanup

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
within() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# measure SQL [SETUP]: runs SQL in a fresh session (after SETUP) and prints
# "seconds|peak resident kB|peak virtual kB|outcome", where outcome is "ok"
# or "SQLSTATE message".  The peaks are the backend's own (/proc/self/status).
MEASURE="CREATE FUNCTION pg_temp.measure(statement text) RETURNS text LANGUAGE plpgsql AS \$f\$
DECLARE
	started timestamptz := clock_timestamp();
	outcome text := 'ok';
	status text;
BEGIN
	BEGIN
		EXECUTE statement;
	EXCEPTION WHEN OTHERS THEN
		outcome := SQLSTATE || ' ' || SQLERRM;
	END;
	status := pg_read_file('/proc/self/status');
	RETURN concat_ws('|', round(extract(epoch FROM clock_timestamp() - started)::numeric, 2),
					 substring(status FROM 'VmHWM:\\s*(\\d+)'), substring(status FROM 'VmPeak:\\s*(\\d+)'), outcome);
END
\$f\$;"
measure() {
	psql -X -q -t -A -d "$DB" -v ON_ERROR_STOP=1 -f - <<SQL
$MEASURE
${2:-}
SELECT pg_temp.measure(\$m\$$1\$m\$);
SQL
}
field() { cut -d'|' -f"$2" <<<"$1"; }

echo "1..35"
pgc_start --database "$DB" >&2
q "$DB" "CREATE EXTENSION kpreco" >/dev/null

# ---------------------------------------------------------------------------
# 1. Memory, under an address-space limit.

q "$DB" "ALTER SYSTEM SET shared_buffers = '32MB'" >/dev/null
(ulimit -v $((ADDRESS_SPACE_MB * 1024)) && pgc_ctl restart) >&2
postmaster=$(head -n 1 "$PGC_DIR/data/postmaster.pid")
limit_kb=$(awk '/^Max address space/ { print $4 }' "/proc/$postmaster/limits")
ok "$limit_kb" "$((ADDRESS_SPACE_MB * 1024 * 1024))" "the postmaster runs under ulimit -v $ADDRESS_SPACE_MB MB (shared_buffers 32MB)"

# 1,000,000 users, 5,000 courses, 2,000,000 interactions.
q "$DB" "CREATE TABLE wide AS SELECT u AS user_id, (u * 7 + i * 13) % 5000 AS course_id FROM generate_series(1, 1000000) u, generate_series(1, 2) i" >/dev/null

# A backend that has loaded kpreco (and OpenBLAS) and trained a little.
baseline=$(measure "SELECT kpreco.train_agg(u, 1, 1, '{\"factors\": 8, \"iterations\": 1}') FROM generate_series(1, 10) u")
base_rss=$(field "$baseline" 2)
base_virtual=$(field "$baseline" 3)
echo "# baseline backend: peak resident $((base_rss / 1024)) MB, peak virtual $((base_virtual / 1024)) MB"

# The estimate of a training, read from the refusal under a tiny setting;
# it grows linearly with the factors, so two probes give every factor count.
estimate_mb() {
	local out
	out=$(measure "SELECT kpreco.train_agg(user_id, course_id, NULL, '{\"factors\": $1, \"iterations\": 0}') FROM wide" \
		"SET kpreco.max_training_memory = '64MB';")
	sed -n 's/.*training needs about \([0-9]*\) MB.*/\1/p' <<<"$out"
}
e8=$(estimate_mb 8)
e16=$(estimate_mb 16)
per_factor=$(calc "($e16 - $e8) / 8")
factors_close=$(awk -v s="$SETTING_MB" -v e8="$e8" -v p="$per_factor" 'BEGIN { printf "%d", 8 + (0.95 * s - e8) / p }')
factors_over=$(awk -v s="$SETTING_MB" -v e8="$e8" -v p="$per_factor" 'BEGIN { printf "%d", 8 + (1.05 * s - e8) / p + 1 }')
close_mb=$(estimate_mb "$factors_close")
over_mb=$(estimate_mb "$factors_over")
echo "# estimates on 1M users x 5000 courses: $e8 MB at 8 factors, $per_factor MB per factor;" \
	"$factors_close factors: $close_mb MB, $factors_over factors: $over_mb MB (setting $SETTING_MB MB)"
ok_if "$close_mb <= $SETTING_MB && $close_mb * 100 >= 90 * $SETTING_MB" "a training estimated at $close_mb MB is close under the setting of $SETTING_MB MB"
ok_if "$over_mb > $SETTING_MB" "a training estimated at $over_mb MB is over it"

SET_MEMORY="SET kpreco.max_training_memory = '${SETTING_MB}MB';"
over=$(measure "SELECT kpreco.train('over', 'wide', '{\"factors\": $factors_over, \"iterations\": 1}')" "$SET_MEMORY")
ok "$(field "$over" 4 | cut -c1-5)" "54000" "the training over the setting is refused with 54000"
ok_if "$(field "$over" 2) - $base_rss < $SETTING_MB * 1024 / 4" "before allocating for it (peak $(($(field "$over" 2) / 1024)) MB resident)"
echo "# over the setting: refused after $(field "$over" 1) s, peak resident $(($(field "$over" 2) / 1024)) MB"

close=$(measure "SELECT kpreco.train('close', 'wide', '{\"factors\": $factors_close, \"iterations\": 1}')" "$SET_MEMORY")
close_extra=$((($(field "$close" 2) - base_rss) / 1024))
echo "# close to the setting: $(field "$close" 4) after $(field "$close" 1) s;" \
	"peak resident $(($(field "$close" 2) / 1024)) MB ($close_extra MB above the baseline), peak virtual $(($(field "$close" 3) / 1024)) MB"
ok "$(field "$close" 4)" "ok" "the training estimated at $close_mb MB succeeds under ulimit -v $ADDRESS_SPACE_MB MB"
ok_if "$close_extra <= $SETTING_MB * 11 / 10" "and uses at most the setting (+10%): $close_extra MB above the baseline for a setting of $SETTING_MB MB"
agg=$(measure "SELECT kpreco.train_agg(user_id, course_id, NULL, '{\"factors\": $factors_close, \"iterations\": 1}') IS NOT NULL FROM wide" "$SET_MEMORY")
agg_extra=$((($(field "$agg" 2) - base_rss) / 1024))
echo "# the same through train_agg alone: $(field "$agg" 4), $agg_extra MB above the baseline"
ok_if "$agg_extra <= $SETTING_MB * 11 / 10" "train_agg alone uses at most the setting (+10%): $agg_extra MB"
ok "$(q "$DB" "SELECT 1")" "1" "the server is up: no out-of-memory crash"

# 50 million rows straight from generate_series (in the target list, so that
# they stream instead of being materialised first), under a small setting:
# refused while they are collected, within the setting.
SMALL_MB=256
for case in "distinct users:g, g % 1000" "1000 users x 1000 courses:g % 1000, g / 50000"; do
	label=${case%%:*}
	ids=${case#*:}
	r=$(measure "SELECT kpreco.train_agg($ids, NULL, NULL) IS NOT NULL FROM (SELECT generate_series(1, 50000000) AS g) s" \
		"SET kpreco.max_training_memory = '${SMALL_MB}MB';")
	echo "# 50M rows ($label), setting $SMALL_MB MB: $(field "$r" 4 | cut -c1-60)... after $(field "$r" 1) s, peak resident $(($(field "$r" 2) / 1024)) MB"
	ok "$(field "$r" 4 | cut -c1-33)" "54000 the interactions need about" "50M rows ($label) are refused while collecting"
	ok_if "$(awk -v s="$(field "$r" 1)" 'BEGIN { print (s < 30) }')" "quickly ($(field "$r" 1) s)"
	ok_if "$(((($(field "$r" 2) - base_rss) / 1024))) <= $SMALL_MB * 11 / 10" \
		"within the setting (+10%): $(((($(field "$r" 2) - base_rss) / 1024))) MB above the baseline for $SMALL_MB MB"
done
# The same 50M distinct users under the full setting: the rows alone would
# fit (805 MB), with their id maps (16 to 32 bytes a user) they do not: refused while
# collecting (54000), not failing for want of address space.
r=$(measure "SELECT kpreco.train_agg(g, g % 1000, NULL, NULL) IS NOT NULL FROM (SELECT generate_series(1, 50000000) AS g) s" "$SET_MEMORY")
echo "# 50M rows (distinct users), setting $SETTING_MB MB: $(field "$r" 4 | cut -c1-60)... after $(field "$r" 1) s, peak resident $(($(field "$r" 2) / 1024)) MB"
ok "$(field "$r" 4 | cut -c1-5)" "54000" "50M rows (distinct users) under a setting of $SETTING_MB MB are refused, not out of memory"
ok "$(q "$DB" "SELECT 1")" "1" "the server is up"

# ---------------------------------------------------------------------------
# 2. Cancellation, without the address-space limit.
#
# Each long call runs in a background session inside pg_temp.timed(), which
# catches the cancellation and returns the server's clock at that moment and
# at the start of the statement.  pg_cancel_backend is sent from another
# session, which notes the server's clock when it sends it; statement_timeout
# fires at the start of the statement plus the timeout.  The latency is the
# time from the one to the other.  Calls are cancelled in every phase: the
# training phases are recognised by the NOTICEs of the option "verbose", the
# other calls are cancelled at fractions of their uncancelled duration.

(pgc_ctl restart) >&2
DB=kpreco_limits_cancel
createdb "$DB"
q "$DB" "CREATE EXTENSION kpreco" >/dev/null

TIMED="CREATE FUNCTION pg_temp.timed(statement text) RETURNS text LANGUAGE plpgsql AS \$f\$
BEGIN
	EXECUTE statement;
	RETURN concat_ws('|', 'completed', extract(epoch FROM clock_timestamp()), extract(epoch FROM statement_timestamp()));
EXCEPTION WHEN query_canceled THEN
	RETURN concat_ws('|', 'canceled', extract(epoch FROM clock_timestamp()), extract(epoch FROM statement_timestamp()));
END
\$f\$;"
CALL_PID=""
TRAILER=""   # SQL run after the call (ROLLBACK for calls that change the catalog)
# start_call NAME SETUP SQL
start_call() {
	rm -f "$WORK/$1.out" "$WORK/$1.err"
	PGAPPNAME=$1 psql -X -q -t -A -d "$DB" -f - >"$WORK/$1.out" 2>"$WORK/$1.err" <<SQL &
$TIMED
$2
SELECT pg_temp.timed(\$c\$$3\$c\$);
$TRAILER
SQL
	CALL_PID=$!
	BACKGROUND+=("$CALL_PID")
}
backend_of() {
	q "$DB" "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND state = 'active' AND query LIKE '%pg_temp.timed%'"
}
has_backend() { [[ -n "$(backend_of "$1")" ]]; }
err_has() { grep -q "$2" "$WORK/$1.err" 2>/dev/null; }
wait_for() {
	local i
	for ((i = 0; i < $1 * 20; i++)); do
		"${@:2}" && return 0
		sleep 0.05
	done
	return 1
}
# The call's result line, once its psql has printed it (or has failed):
# polled, since `wait` does not work from the subshells these run in.
call_ended() { grep -qE '^(canceled|completed)[|]' "$WORK/$1.out" 2>/dev/null || grep -q 'ERROR' "$WORK/$1.err" 2>/dev/null; }
result_of() {
	wait_for 600 call_ended "$1" || true
	grep -E '^(canceled|completed)[|]' "$WORK/$1.out" 2>/dev/null || sed -n 's/.*ERROR: *\(.*\)/error|\1/p' "$WORK/$1.err" | head -n 1
}

# cancel_latency NAME: pg_cancel_backend now; prints the latency or "completed".
cancel_latency() {
	local pid sent out
	pid=$(backend_of "$1")
	if [[ -z "$pid" ]]; then
		result_of "$1" >/dev/null
		echo completed
		return
	fi
	sent=$(q "$DB" "SELECT extract(epoch FROM clock_timestamp()) FROM pg_cancel_backend($pid)")
	out=$(result_of "$1")
	case $(field "$out" 1) in
	canceled) calc "$(field "$out" 2) - $sent" ;;
	completed) echo completed ;;
	*) echo "failed:$(field "$out" 2 | tr ' ' _)" ;;
	esac
}
# timeout_latency NAME TIMEOUT_S: waits for the call run under statement_timeout.
timeout_latency() {
	local out
	out=$(result_of "$1")
	case $(field "$out" 1) in
	canceled) calc "$(field "$out" 2) - $(field "$out" 3) - $2" ;;
	completed) echo completed ;;
	*) echo "failed:$(field "$out" 2 | tr ' ' _)" ;;
	esac
}
notice_seconds() { grep -o "$2.*, [0-9.]* s elapsed" "$WORK/$1.err" | tail -n 1 | sed 's/.*, \([0-9.]*\) s elapsed/\1/'; }

# One test per call and way of cancelling: the largest latency measured.
report() {
	local what=$1 worst="" l
	shift
	for l in "$@"; do
		[[ "$l" == completed ]] && continue
		if [[ "$l" == failed:* ]]; then worst=999; continue; fi
		if [[ -z "$worst" ]] || ! within "$l" "$worst"; then worst=$l; fi
	done
	if [[ -z "$worst" ]]; then
		ok_if 0 "$what: stopped within $MAX_LATENCY s (no cancellation landed)"
	else
		ok_if "$(within "$worst" "$MAX_LATENCY" && echo 1 || echo 0)" "$what: stopped within $MAX_LATENCY s (worst $worst s)"
	fi
}

# sweep WHAT SQL [SETUP]: an uncancelled run gives the duration D (at most
# 6 s are used); pg_cancel_backend lands at D/4, D/2 and 3D/4,
# statement_timeout at 0.3 D and 0.6 D.
sweep() {
	local what=$1 sql=$2 setup=${3:-} out d f cancels=() timeouts=() t
	start_call ref "$setup" "$sql"
	out=$(result_of ref)
	d=$(calc "$(field "$out" 2) - $(field "$out" 3)")
	echo "# $what: $d s uncancelled"
	d=$(awk -v d="$d" 'BEGIN { print (d > 6 ? 6 : d) }')
	for f in 0.25 0.5 0.75; do
		start_call sweep "$setup" "$sql"
		wait_for 30 has_backend sweep || true
		sleep "$(calc "$f * $d")"
		cancels+=("$(cancel_latency sweep)")
	done
	for f in 0.3 0.6; do
		t=$(calc "$f * $d")
		start_call sweep "SET statement_timeout = '$(printf '%.0f' "$(calc "$t * 1000")")ms'; $setup" "$sql"
		timeouts+=("$(timeout_latency sweep "$t")")
	done
	echo "# $what: pg_cancel_backend at D/4, D/2, 3D/4: ${cancels[*]}; statement_timeout at 0.3 D, 0.6 D: ${timeouts[*]}"
	report "$what" "${cancels[@]}" "${timeouts[@]}"
}

# at WHAT SQL "CANCEL_TIMES" "TIMEOUTS" [SETUP]: cancels at the times given.
at() {
	local what=$1 sql=$2 setup=${5:-} t cancels=() timeouts=()
	for t in $3; do
		start_call at "$setup" "$sql"
		wait_for 30 has_backend at || true
		sleep "$t"
		cancels+=("$(cancel_latency at)")
	done
	for t in $4; do
		start_call at "SET statement_timeout = '$(printf '%.0f' "$(calc "$t * 1000")")ms'; $setup" "$sql"
		timeouts+=("$(timeout_latency at "$t")")
	done
	echo "# $what: pg_cancel_backend at $3 s: ${cancels[*]}; statement_timeout $4 s: ${timeouts[*]}"
	report "$what" "${cancels[@]}" "${timeouts[@]}"
}

# timeout_ms SECONDS
timeout_setting() { echo "SET statement_timeout = '$(printf '%.0f' "$(calc "($1) * 1000")")ms';"; }

# Sizes are chosen so that each phase is either interruptible or clearly
# longer than the 1 s allowed: 20,000,000 distinct users (sorting the ids);
# 1,000,000 users x 5,000 courses; 2,000,000 courses.
q "$DB" "CREATE TABLE many AS SELECT g AS user_id, g % 1000 AS course_id FROM generate_series(1, 20000000) g" >/dev/null
q "$DB" "CREATE TABLE wide AS SELECT u AS user_id, (u * 7 + i * 13) % 5000 AS course_id FROM generate_series(1, 1000000) u, generate_series(1, 2) i" >/dev/null
q "$DB" "CREATE TABLE widec AS SELECT g % 5000 AS user_id, g AS course_id FROM generate_series(1, 2000000) g" >/dev/null
# 200,000 interactions: an iteration at 64 factors takes about 0.1 s.
q "$DB" "CREATE TABLE mid AS SELECT u AS user_id, (u * 7 + i * 13) % 2000 AS course_id FROM generate_series(1, 20000) u, generate_series(1, 10) i" >/dev/null
q "$DB" "ANALYZE many, wide, widec, mid" >/dev/null
q "$DB" "ALTER DATABASE $DB SET kpreco.max_training_memory = '8GB'" >/dev/null

# Training, phase by phase.  (1) Sorting 20M ids and building the sparse
# matrices, right after the rows are read ("read ... rows").
start_call t_sort "" "SELECT kpreco.train('t', 'many', '{\"factors\": 8, \"iterations\": 1, \"verbose\": true}')"
wait_for 300 err_has t_sort "read 20000000 rows" || true
lat=$(cancel_latency t_sort)
read_s=$(notice_seconds t_sort "read 20000000 rows")
echo "# train, sorting 20M ids and building the matrices: pg_cancel_backend right after the rows were read: $lat"
report "train, sorting 20M ids and building the matrices" "$lat"
start_call a_sort "" "SELECT kpreco.train_agg(user_id, course_id, NULL, '{\"factors\": 8, \"iterations\": 1, \"verbose\": true}') IS NOT NULL FROM many"
wait_for 300 err_has a_sort "read 20000000 rows" || true
lat=$(cancel_latency a_sort)
start_call a_sort "$(timeout_setting "$read_s + 0.05")" "SELECT kpreco.train_agg(user_id, course_id, NULL, '{\"factors\": 8, \"iterations\": 1}') IS NOT NULL FROM many"
tlat=$(timeout_latency a_sort "$(calc "$read_s + 0.05")")
echo "# train_agg, sorting 20M ids and building the matrices: pg_cancel_backend right after the rows were read: $lat; statement_timeout at $read_s + 0.05 s: $tlat"
report "train_agg, sorting 20M ids and building the matrices" "$lat" "$tlat"

# (2) Iterating (200,000 interactions, 64 factors).
start_call t_iter "" "SELECT kpreco.train('t', 'mid', '{\"factors\": 64, \"iterations\": 1000, \"verbose\": true}')"
wait_for 300 err_has t_iter "iteration 3 of 1000" || true
lat=$(cancel_latency t_iter)
iter_s=$(notice_seconds t_iter "iteration 3 of 1000")
start_call a_iter "$(timeout_setting "$iter_s + 0.05")" "SELECT kpreco.train_agg(user_id, course_id, NULL, '{\"factors\": 64, \"iterations\": 1000}') IS NOT NULL FROM mid"
tlat=$(timeout_latency a_iter "$(calc "$iter_s + 0.05")")
echo "# train and train_agg, iterating: pg_cancel_backend after iteration 3: $lat; statement_timeout at $iter_s + 0.05 s: $tlat"
report "train and train_agg, iterating" "$lat" "$tlat"

# (3) Storing the model (1M users x $BIG_FACTORS factors, about 600 MB):
# validated by model_info() in the INSERT, then written into TOAST;
# cancelled at once and 1 s after "built the model".
lats=()
for delay in 0 1; do
	start_call t_store "" "SELECT kpreco.train('t', 'wide', '{\"factors\": $BIG_FACTORS, \"iterations\": 0, \"verbose\": true}')"
	wait_for 300 err_has t_store "built the model" || true
	sleep "$delay"
	lats+=("$(cancel_latency t_store)")
	built_s=$(notice_seconds t_store "built the model")
done
tlats=()
for delay in 0.05 1; do
	start_call t_store "$(timeout_setting "$built_s + $delay")" "SELECT kpreco.train('t', 'wide', '{\"factors\": $BIG_FACTORS, \"iterations\": 0}')"
	tlats+=("$(timeout_latency t_store "$(calc "$built_s + $delay")")")
done
echo "# train, storing the model: pg_cancel_backend 0 and 1 s after it was built: ${lats[*]}; statement_timeout then: ${tlats[*]}"
report "train, storing the model" "${lats[@]}" "${tlats[@]}"

# Big models, below the 760 MB limit of a model: 1M users x $BIG_FACTORS
# factors (about 600 MB), 1M users x 120 factors (482 MiB), 2M courses x 64
# factors (512 MiB).
q "$DB" "SELECT kpreco.train('huge', 'wide', '{\"factors\": $BIG_FACTORS, \"iterations\": 0}')" >/dev/null
q "$DB" "SELECT kpreco.train('half', 'wide', '{\"factors\": 120, \"iterations\": 0}')" >/dev/null
q "$DB" "SELECT kpreco.train('courses', 'widec', '{\"factors\": 64, \"iterations\": 0}')" >/dev/null
q "$DB" "CREATE TABLE half_text AS SELECT model::text AS t FROM kpreco.model_versions v JOIN kpreco.model_registry r ON v.version = r.active_version WHERE r.name = 'half'" >/dev/null
model_of() { echo "(SELECT v.model FROM kpreco.model_versions v JOIN kpreco.model_registry r ON v.version = r.active_version WHERE r.name = '$1')"; }
mib_of() { q "$DB" "SELECT pg_column_size($(model_of "$1")) / 1048576"; }
HUGE="$(mib_of huge) MiB"
HALF="$(mib_of half) MiB"
echo "# big models: huge $HUGE, half $HALF, courses $(mib_of courses) MiB"

# pg_dump writes every value in its text form: the largest models must have one.
ok "$(sqlstate "$DB" "SELECT length(($(model_of huge))::text) > 0")" "no error" "the text form of the $HUGE model (what pg_dump writes) can be produced"
# Deleting a version (drop_model, keep_versions pruning) need not read its
# value: memory must not grow with the size of the model deleted.
idle=$(measure "SELECT 1")
dropped=$(measure "SELECT kpreco.drop_model('huge')" "BEGIN;")
drop_extra=$((($(field "$dropped" 2) - $(field "$idle" 2)) / 1024))
echo "# drop_model() of the $HUGE model: $(field "$dropped" 4) after $(field "$dropped" 1) s, peak resident $drop_extra MB above an idle session"
ok_if "$drop_extra <= 128" "drop_model() of the $HUGE model does not load it ($drop_extra MB above an idle session)"

at "user_factors over 1M users" "SELECT count(*) FROM kpreco.user_factors('huge')" "1 3" "2"
at "course_factors over 2M courses" "SELECT count(*) FROM kpreco.course_factors('courses')" "1 3" "2"
sweep "first recommend() of a session ($HUGE)" "SELECT * FROM kpreco.recommend(1, 10, 'huge')"
sweep "first similar_courses() of a session (2M courses)" "SELECT * FROM kpreco.similar_courses(1, 10, 'courses')"
sweep "model_info() of $HUGE" "SELECT kpreco.model_info($(model_of huge))"
sweep "bytea to kpreco.model, $HUGE" "SELECT ($(model_of huge))::bytea::kpreco.model IS NOT NULL"
# octet_length, not length: counting the characters of the text is the server's work, not kpreco's.
sweep "kpreco.model to text, $HALF" "SELECT octet_length(($(model_of half))::text)"
sweep "text to kpreco.model, $HALF" "SELECT t::kpreco.model IS NOT NULL FROM half_text"
sweep "model_without_user() of $HUGE" "SELECT kpreco.model_without_user($(model_of huge), 5) IS NOT NULL"
# These change the catalog: each run is rolled back, so each has the same work.
TRAILER="ROLLBACK;"
at "forget_user() of a user of 2 models ($HUGE and $HALF)" "SELECT kpreco.forget_user(123456)" "1 2 4" "1.5 3" "BEGIN;"
at "drop_model() of $HUGE" "SELECT kpreco.drop_model('huge')" "0.5 1.5 3" "1 2" "BEGIN;"
TRAILER=""

ok "$(q "$DB" "SELECT 1")" "1" "the server is up after every cancellation"
