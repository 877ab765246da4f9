#!/usr/bin/env bash
#
# run.sh -- kpreco benchmarks: recommendation quality, training, serving,
# serving features (filters, fold-in, audience, similar users, recommend_all).
#
#   bash bench/run.sh [quality|training|training-ials|training-algorithms|serving|features|all]
#                                                        (default: all)
#
# Builds and installs the extension (make && make install), starts a
# throw-away PostgreSQL cluster (scripts/pgcluster.sh), runs the chosen
# benchmarks in it and writes
#   bench/results/results-RUN.tsv    one row per figure: section, metric, value,
#                                    unit, target, status (met / NOT met)
#   bench/results/summary-RUN.md     the same as Markdown tables, plus the machine
#   bench/results/run-RUN/           recommendations, scores, pgbench output, logs
# and copies the first two to results-latest.tsv and summary-latest.md.
# See bench/README.md and docs/BENCHMARKS.md.
#
# Environment:
#   KPRECO_DATA      folder holding ml-100k/ (default: ../shared/data from the repo root)
#   RECBENCH         the scoring and data-generating harness
#                    (default: ../shared/bench/recbench.py from the repo root)
#   BENCH_CACHE      where generated synthetic data sets are kept between runs
#                    (default: bench/results/data)
#   BPR_DATA=small   training: time bpr on 1,181,399 rows (about 30 s of CPU)
#                    instead of the 3,960,902-row set (75-150 s of CPU)
#   PGBENCH_SECONDS  length of each measured pgbench run, seconds (default 20)
#   PGBENCH_WARMUP   length of the warm-up run before the first round (default 3)
#   PGBENCH_ROUNDS   rounds of SELECT 1 and the serving queries (default 3);
#                    targets are judged on the best round, medians are given too
#   PGBENCH_PIN=0    do not put pgbench and the backends on one CPU for serving
#   SKIP_BUILD=1     do not run make && make install
#   PGC_PORT_BASE    first port probed for the cluster (default 55600)
#   KEEP_CLUSTER=1   leave the cluster running at exit

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$BENCH_DIR/.." && pwd)
export PGC_PORT_BASE=${PGC_PORT_BASE:-55600}
# shellcheck source-path=SCRIPTDIR source=../scripts/pgcluster.sh
. "$ROOT_DIR/scripts/pgcluster.sh"

KPRECO_DATA=${KPRECO_DATA:-$ROOT_DIR/../shared/data}
RECBENCH=${RECBENCH:-$ROOT_DIR/../shared/bench/recbench.py}
BENCH_CACHE=${BENCH_CACHE:-$BENCH_DIR/results/data}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-20}
PGBENCH_WARMUP=${PGBENCH_WARMUP:-3}
PGBENCH_ROUNDS=${PGBENCH_ROUNDS:-3}
PGBENCH_PIN=${PGBENCH_PIN:-1}
PYTHON=/usr/bin/python3

# ALS settings of the reference figures (shared/bench/README.md).
ALS_OPTS='{"factors":64,"iterations":15,"regularization":0.01,"alpha":1.0}'

usage() {
	sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

WHAT=${1:-all}
case $WHAT in
quality | training | training-ials | training-algorithms | serving | features | all) ;;
-h | --help) usage ;;
*) usage ;;
esac
BPR_DATA=${BPR_DATA:-large}
case $BPR_DATA in
large | small) ;;
*) pgc_die "BPR_DATA must be large or small, not '$BPR_DATA'" ;;
esac

# ---------------------------------------------------------------------------
# Results

RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS_DIR=$BENCH_DIR/results
RUN_DIR=$RESULTS_DIR/run-$RUN_ID
RESULTS=$RESULTS_DIR/results-$RUN_ID.tsv
SUMMARY=$RESULTS_DIR/summary-$RUN_ID.md
mkdir -p "$RUN_DIR" "$BENCH_CACHE"
printf 'section\tmetric\tvalue\tunit\ttarget\tstatus\n' >"$RESULTS"

# record SECTION METRIC VALUE UNIT [ge|le|gt TARGET]
record() {
	local section=$1 metric=$2 value=$3 unit=$4 op=${5:-} target=${6:-} status="" shown=""
	if [[ -n "$op" ]]; then
		status=$(awk -v v="$value" -v t="$target" -v op="$op" 'BEGIN {
			if (v == "" || v !~ /^-?[0-9.eE+-]+$/) { print "n/a"; exit }
			ok = (op == "ge") ? (v + 0 >= t + 0) : (op == "gt") ? (v + 0 > t + 0) : (v + 0 <= t + 0)
			print ok ? "met" : "NOT met" }')
		case $op in
		ge) shown=">= $target" ;;
		gt) shown="> $target" ;;
		le) shown="<= $target" ;;
		*) pgc_die "record: unknown comparison '$op'" ;;
		esac
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$section" "$metric" "$value" "$unit" "$shown" "$status" >>"$RESULTS"
	printf '    %-34s %14s %-8s %s\n' "$metric" "$value" "$unit" "${shown:+target $shown: $status}"
}

# median NUMBER...: the median, with 4 decimals.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
		printf "%.4f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

minimum() {
	printf '%s\n' "$@" | sort -g | head -n 1
}

maximum() {
	printf '%s\n' "$@" | sort -g | tail -n 1
}

# calc EXPR: evaluate an awk arithmetic expression, print it with 4 decimals.
calc() {
	awk "BEGIN { printf \"%.4f\", $1 }"
}

# ---------------------------------------------------------------------------
# psql helpers

bpsql() {
	psql -X -q -v ON_ERROR_STOP=1 -P pager=off "$@"
}

# One value (or tab-separated row) per line, no decoration.
bval() {
	psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 "$@"
}

new_database() {
	local db=$1
	"$PGC_BINDIR/createdb" "$db"
	bpsql -d "$db" -c 'CREATE EXTENSION kpreco'
}

# load_tsv DB TABLE FILE: a (user_id, course_id, value, ts) table from a recbench TSV.
load_tsv() {
	local db=$1 table=$2 file=$3
	bpsql -d "$db" -c "CREATE TABLE $table (user_id bigint, course_id bigint, value real, ts bigint)"
	bpsql -d "$db" -c "COPY $table FROM STDIN" <"$file"
	bpsql -d "$db" -c "VACUUM (FREEZE, ANALYZE) $table"
}

# A script that prints a backend's memory every 0.01 s until it exits:
# seconds, VmHWM, VmRSS, RssAnon (private), RssShmem (shared buffers touched), kB.
write_rss_sampler() {
	cat >"$RUN_DIR/rss-sampler.sh" <<'EOF'
pid=$1 t0=${EPOCHREALTIME/./}
printf 'seconds\tvmhwm_kb\tvmrss_kb\trssanon_kb\trssshmem_kb\n'
while [[ -r /proc/$pid/status ]]; do
	now=${EPOCHREALTIME/./}
	awk -v us=$((now - t0)) '/^VmHWM:/ { h = $2 } /^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssShmem:/ { s = $2 }
		END { if (h != "") printf "%.2f\t%s\t%s\t%s\t%s\n", us / 1e6, h, r, a, s }' "/proc/$pid/status"
	sleep 0.01
done
EOF
}

# train_model DB MODEL SOURCE OPTIONS TAG
# Trains in a fresh session with kpreco.blas_threads = 1 and writes
# RUN_DIR/TAG.train.tsv: version, wall seconds of the train() statement,
# train_seconds as stored, n_users, n_courses, n_interactions, model bytes,
# backend VmHWM in kB right after connecting and right after training, and
# the CPU seconds the backend used during the statement (user + system: on a
# busy machine, what the training cost itself); and RUN_DIR/TAG.rss.tsv, the
# backend's memory every 0.01 s. Returns 1 if the training fails.
train_model() {
	local db=$1 model=$2 source=$3 opts=$4 tag=$5
	KP_STATUS_BEFORE=$RUN_DIR/$tag.status-before KP_STATUS_AFTER=$RUN_DIR/$tag.status-after \
		KP_STAT_BEFORE=$RUN_DIR/$tag.stat-before KP_STAT_AFTER=$RUN_DIR/$tag.stat-after \
		KP_SAMPLER=$RUN_DIR/rss-sampler.sh KP_RSS=$RUN_DIR/$tag.rss.tsv \
		bval -d "$db" -v model="$model" -v source="$source" -v opts="$opts" >"$RUN_DIR/$tag.train.out" <<'SQL' || return 1
SELECT pg_backend_pid() AS pid \gset
\setenv KP_PID :pid
\! cat /proc/$KP_PID/status > "$KP_STATUS_BEFORE"
\! bash "$KP_SAMPLER" "$KP_PID" > "$KP_RSS" 2>/dev/null &
SET kpreco.blas_threads = 1;
\! cat /proc/$KP_PID/stat > "$KP_STAT_BEFORE"
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT kpreco.train(:'model', :'source', :'opts') AS version \gset
SELECT extract(epoch FROM clock_timestamp()) - :t0 AS wall \gset
\! cat /proc/$KP_PID/stat > "$KP_STAT_AFTER"
\! cat /proc/$KP_PID/status > "$KP_STATUS_AFTER"
SELECT version, round(:wall::numeric, 3), round(train_seconds::numeric, 3),
       n_users, n_courses, n_interactions, pg_column_size(model)
FROM kpreco.model_versions WHERE version = :version;
SQL
	local hwm0 hwm1 cpu0 cpu1
	hwm0=$(awk '/^VmHWM:/ {print $2}' "$RUN_DIR/$tag.status-before")
	hwm1=$(awk '/^VmHWM:/ {print $2}' "$RUN_DIR/$tag.status-after")
	# utime and stime, fields 14 and 15 of /proc/PID/stat (counted after the
	# command name, which ends with ") "), in clock ticks.
	cpu0=$(sed 's/.*) //' "$RUN_DIR/$tag.stat-before" | awk '{print $12 + $13}')
	cpu1=$(sed 's/.*) //' "$RUN_DIR/$tag.stat-after" | awk '{print $12 + $13}')
	printf '%s\t%s\t%s\t%s\n' "$(tail -n 1 "$RUN_DIR/$tag.train.out")" "$hwm0" "$hwm1" \
		"$(calc "($cpu1 - $cpu0) / $(getconf CLK_TCK)")" >"$RUN_DIR/$tag.train.tsv"
}

# export_recs DB MODEL TEST_TABLE FILE: top 10 for every test user, as recbench reads them.
export_recs() {
	local db=$1 model=$2 test_table=$3 file=$4
	bval -d "$db" -c "COPY (
		SELECT t.user_id, r.course_id, r.rank
		FROM (SELECT DISTINCT user_id FROM $test_table) t
		CROSS JOIN LATERAL kpreco.recommend(t.user_id, 10, '$model') r
		ORDER BY t.user_id, r.rank) TO STDOUT" >"$file"
}

# score DATADIR RECS NAME OUT: recbench's metrics; prints the JSON line to OUT.
score() {
	local data=$1 recs=$2 name=$3 out=$4
	"$PYTHON" "$RECBENCH" "$data" --score-recs "$recs" --name "$name" >"$out" 2>"$out.log"
}

# json_field FILE KEY: one field of the last JSON line of FILE.
json_field() {
	"$PYTHON" -c 'import json, sys
line = [l for l in open(sys.argv[1]) if l.strip()][-1]
v = json.loads(line).get(sys.argv[2])
print("" if v is None else v)' "$1" "$2"
}

# metric_value FILE KEY: like json_field, but a missing or null value is an error.
metric_value() {
	local v
	v=$(json_field "$1" "$2")
	[[ -n "$v" ]] || pgc_die "no \"$2\" in $1"
	printf '%s\n' "$v"
}

# record_scores SECTION JSON [NDCG_TARGET P_TARGET]
record_scores() {
	local section=$1 json=$2 ndcg_target=${3:-} p_target=${4:-} m
	for m in precision@10 recall@10 ndcg@10 map@10 coverage@10 eval_users recs_in_user_train_set; do
		local v
		v=$(json_field "$json" "$m")
		case $m in
		ndcg@10) [[ -n "$ndcg_target" ]] && { record "$section" "$m" "$(calc "$v")" "" ge "$ndcg_target"; continue; } ;;
		precision@10) [[ -n "$p_target" ]] && { record "$section" "$m" "$(calc "$v")" "" ge "$p_target"; continue; } ;;
		esac
		case $m in
		eval_users | recs_in_user_train_set) record "$section" "$m" "$v" "" ;;
		*) record "$section" "$m" "$(calc "$v")" "" ;;
		esac
	done
}

# synthetic_data USERS COURSES NNZ SEED: prints the cached data folder,
# generating it first when needed.
synthetic_data() {
	local name="synthetic-$1-$2-$3-$4" dir
	dir=$BENCH_CACHE/$name
	if [[ ! -s "$dir/train.tsv" || ! -s "$dir/test.tsv" ]]; then
		pgc_say "Generating $name (recbench.py --synthetic $*; kept in $dir)" >&2
		rm -rf "$dir.tmp"
		"$PYTHON" "$RECBENCH" --synthetic "$@" --models '' --write-data "$dir.tmp" >&2
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
	fi
	echo "$dir"
}

# ---------------------------------------------------------------------------
# 1. Quality on MovieLens 100K

# The algorithms of the quality section: TAG MODEL OPTIONS, at their
# documented defaults. ials (tag quality-cg) is given the reference settings
# explicitly, which are also its defaults; auto splits its validation slice by
# the time column; als learns the ratings (weight_column = the rating).
QUALITY_MODELS=(
	"quality-cg ml100k $ALS_OPTS"
	"quality-cholesky ml100k_cholesky ${ALS_OPTS%\}},\"solver\":\"cholesky\"}"
	'quality-bpr ml100k_bpr {"algorithm":"bpr"}'
	'quality-ease ml100k_ease {"algorithm":"ease"}'
	'quality-popular ml100k_popular {"algorithm":"popular"}'
	'quality-auto ml100k_auto {"algorithm":"auto","time_column":"ts"}'
	'quality-als ml100k_als {"algorithm":"als","weight_column":"value"}'
)

# Targets (shared/bench/README.md for the reference figures).
POPULAR_REFERENCE_NDCG=0.1162   # popularity baseline of the reference, ml-100k
IALS_REFERENCE_NDCG=0.1776      # implicit ALS, CG, reference settings
BPR_TARGET_NDCG=0.159           # implicit BPR reference 0.1626, less 2%
BEST_TARGET_NDCG=0.195          # best model at its defaults; auto too
# recbench and kpreco.evaluate() implement one protocol: their figures may
# differ by float rounding only (one hit of one user moves P@10 by 1e-4).
AGREEMENT_TARGET=1e-6

# algorithm_name TAG: the algorithm a quality tag stands for.
algorithm_name() {
	case $1 in
	quality-cg) echo ials ;;
	quality-cholesky) echo ials_cholesky ;;
	*) echo "${1#quality-}" ;;
	esac
}

# evaluate_json DB MODEL TEST_TABLE OUT: kpreco.evaluate(MODEL, TEST_TABLE, 10)
# as one JSON object; the statement's seconds go to OUT.seconds.
evaluate_json() {
	local db=$1 model=$2 test_table=$3 out=$4 t0
	t0=$EPOCHREALTIME
	bval -d "$db" -v model="$model" -v test="$test_table" >"$out" <<'SQL'
SELECT jsonb_object_agg(metric, value) FROM kpreco.evaluate(:'model', :'test', 10);
SQL
	calc "$EPOCHREALTIME - $t0" >"$out.seconds"
	[[ -s "$out" ]] || pgc_die "kpreco.evaluate('$model', '$test_table', 10) returned nothing"
}

# compare_scores RECBENCH_JSON EVALUATE_JSON: prints "max_abs_diff<TAB>metric
# <TAB>users_recbench<TAB>users_evaluate" over P, R, NDCG, MAP and coverage @10.
compare_scores() {
	"$PYTHON" - "$1" "$2" <<'PY'
import json, sys
def last(path):
    return json.loads([l for l in open(path) if l.strip()][-1])
rb, ev = last(sys.argv[1]), last(sys.argv[2])
pairs = {"precision@10": "precision", "recall@10": "recall", "ndcg@10": "ndcg",
         "map@10": "map", "coverage@10": "coverage"}
worst, which = -1.0, ""
for a, b in pairs.items():
    if rb.get(a) is None or ev.get(b) is None:
        raise SystemExit(f"metric {a} missing from recbench or evaluate() output")
    d = abs(float(rb[a]) - float(ev[b]))
    if d > worst:
        worst, which = d, a
print(f"{worst:.3g}\t{which}\t{rb.get('eval_users')}\t{int(ev.get('users', -1))}")
PY
}

# quality_model DB TAG MODEL OPTIONS: trains MODEL on ml100k_train, exports the
# top 10 of every test user, scores it with recbench and with kpreco.evaluate(),
# and records both and their largest difference. Sets QNDCG (recbench NDCG@10),
# QDIFF (largest difference) and QUSERS_AGREE (1 if both evaluated as many users).
quality_model() {
	local db=$1 tag=$2 model=$3 opts=$4 data=$KPRECO_DATA/ml-100k row t0 m v cmp
	echo "  $tag: kpreco.train('$model', 'ml100k_train', '$opts')"
	record "$tag" options "$opts" ""
	train_model "$db" "$model" ml100k_train "$opts" "$tag" ||
		pgc_die "$tag: kpreco.train('$model', 'ml100k_train', '$opts') failed"
	IFS=$'\t' read -r -a row <"$RUN_DIR/$tag.train.tsv"
	record "$tag" train_statement_seconds "${row[1]}" s
	record "$tag" train_seconds_stored "${row[2]}" s
	record "$tag" train_backend_cpu_seconds "${row[9]}" s
	record "$tag" n_users "${row[3]}" ""
	record "$tag" n_courses "${row[4]}" ""
	record "$tag" n_interactions "${row[5]}" ""
	record "$tag" model_bytes "${row[6]}" B
	bval -d "$db" -v model="$model" >"$RUN_DIR/$tag.options.tsv" <<'SQL'
SELECT algorithm, options, coalesce(validation::text, '') FROM kpreco.models WHERE name = :'model' AND active;
SQL
	IFS=$'\t' read -r -a row <"$RUN_DIR/$tag.options.tsv"
	record "$tag" algorithm_trained "${row[0]}" ""
	record "$tag" options_effective "${row[1]}" ""
	if [[ -n "${row[2]:-}" ]]; then
		printf '%s\n' "${row[2]}" >"$RUN_DIR/$tag.validation.json"
		v=$("$PYTHON" -c 'import json, sys
print(json.dumps(json.load(open(sys.argv[1]))["chosen"], sort_keys=True, separators=(",", ":")))' "$RUN_DIR/$tag.validation.json")
		record "$tag" auto_chosen "$v" ""
		v=$("$PYTHON" -c 'import json, sys
for c in json.load(open(sys.argv[1]))["candidates"]:
    print(json.dumps(c["options"], sort_keys=True, separators=(",", ":")) + "\t" + "%.4f" % c["ndcg"])' "$RUN_DIR/$tag.validation.json")
		while IFS=$'\t' read -r m v; do
			record "$tag" "auto_validation_ndcg@10 $m" "$v" ""
		done <<<"$v"
	fi

	t0=$EPOCHREALTIME
	export_recs "$db" "$model" ml100k_test "$RUN_DIR/$tag.recs.tsv"
	record "$tag" export_recs_seconds "$(calc "$EPOCHREALTIME - $t0")" s
	score "$data" "$RUN_DIR/$tag.recs.tsv" "kpreco-${tag#quality-}" "$RUN_DIR/$tag.score.json" ||
		{ cat "$RUN_DIR/$tag.score.json.log" >&2; pgc_die "recbench could not score $RUN_DIR/$tag.recs.tsv"; }
	if [[ $tag == quality-cg || $tag == quality-cholesky ]]; then
		record_scores "$tag" "$RUN_DIR/$tag.score.json" 0.174 0.151
	else
		record_scores "$tag" "$RUN_DIR/$tag.score.json"
	fi
	QNDCG=$(metric_value "$RUN_DIR/$tag.score.json" ndcg@10)

	evaluate_json "$db" "$model" ml100k_test "$RUN_DIR/$tag.evaluate.json"
	record "$tag" evaluate_seconds "$(cat "$RUN_DIR/$tag.evaluate.json.seconds")" s
	for m in precision recall ndcg map coverage; do
		v=$(metric_value "$RUN_DIR/$tag.evaluate.json" "$m")
		record "$tag" "evaluate_$m@10" "$(calc "$v")" ""
	done
	v=$(metric_value "$RUN_DIR/$tag.evaluate.json" users)
	record "$tag" evaluate_users "$v" ""
	for m in rmse mae rated_pairs; do
		v=$(json_field "$RUN_DIR/$tag.evaluate.json" "$m")
		[[ -z "$v" ]] && continue
		[[ $m == rated_pairs ]] || v=$(calc "$v")
		record "$tag" "evaluate_$m" "$v" ""
	done
	v=$(compare_scores "$RUN_DIR/$tag.score.json" "$RUN_DIR/$tag.evaluate.json")
	IFS=$'\t' read -r -a cmp <<<"$v"
	QDIFF=${cmp[0]} QUSERS_AGREE=1
	record "$tag" max_abs_diff_recbench_evaluate "$QDIFF" ""
	record "$tag" max_abs_diff_metric "${cmp[1]}" ""
	if [[ "${cmp[2]}" != "${cmp[3]}" ]]; then
		pgc_warn "$tag: recbench evaluated ${cmp[2]} users, kpreco.evaluate() ${cmp[3]}"
		QUSERS_AGREE=0
	fi
}

bench_quality() {
	local data=$KPRECO_DATA/ml-100k db=kpreco_quality entry tag model opts
	local best_ndcg=-1 best_tag="" max_diff=0 max_diff_tag="" users_agree=1
	local -A ndcg=()
	[[ -s "$data/train.tsv" && -s "$data/test.tsv" ]] ||
		pgc_die "no ml-100k data in $data (set KPRECO_DATA)"
	pgc_say "Quality: ml-100k, ${#QUALITY_MODELS[@]} models, scored by recbench and by kpreco.evaluate()"
	new_database "$db"
	load_tsv "$db" ml100k_train "$data/train.tsv"
	load_tsv "$db" ml100k_test "$data/test.tsv"
	for entry in "${QUALITY_MODELS[@]}"; do
		read -r tag model opts <<<"$entry"
		quality_model "$db" "$tag" "$model" "$opts"
		ndcg[$tag]=$QNDCG
		((QUSERS_AGREE)) || users_agree=0
		if awk -v d="$QDIFF" -v m="$max_diff" 'BEGIN { exit !(d + 0 > m + 0) }'; then
			max_diff=$QDIFF max_diff_tag=$tag
		fi
		# The best model at its defaults: auto (a choice among models, not a
		# model) and the Cholesky variant of ials are left out.
		case $tag in
		quality-auto | quality-cholesky) ;;
		*) if awk -v n="$QNDCG" -v b="$best_ndcg" 'BEGIN { exit !(n + 0 > b + 0) }'; then
			best_ndcg=$QNDCG best_tag=$tag
		fi ;;
		esac
	done

	# Targets, on recbench's NDCG@10 (the reference harness).
	pgc_say "Quality: targets"
	tag=quality-targets
	record "$tag" ials_ndcg@10 "$(calc "${ndcg[quality-cg]}")" "" ge "$IALS_REFERENCE_NDCG"
	record "$tag" bpr_ndcg@10 "$(calc "${ndcg[quality-bpr]}")" "" ge "$BPR_TARGET_NDCG"
	record "$tag" best_default_model "$(algorithm_name "$best_tag")" ""
	record "$tag" best_default_ndcg@10 "$(calc "$best_ndcg")" "" ge "$BEST_TARGET_NDCG"
	record "$tag" auto_ndcg@10 "$(calc "${ndcg[quality-auto]}")" "" ge "$BEST_TARGET_NDCG"
	record "$tag" popular_ndcg@10 "$(calc "${ndcg[quality-popular]}")" ""
	for entry in "${QUALITY_MODELS[@]}"; do
		read -r tag model opts <<<"$entry"
		[[ $tag == quality-popular ]] && continue
		record quality-targets "$(algorithm_name "$tag")_ndcg@10_over_popular" "$(calc "${ndcg[$tag]}")" "" gt "$POPULAR_REFERENCE_NDCG"
	done
	record quality-targets max_abs_diff_recbench_evaluate "$max_diff" "" le "$AGREEMENT_TARGET"
	record quality-targets max_abs_diff_model "$(algorithm_name "$max_diff_tag")" ""
	record quality-targets users_evaluated_agree "$users_agree" "" ge 1
}

# ---------------------------------------------------------------------------
# 2. Training at scale: synthetic 100000 users x 20000 courses, 3,960,902 rows

bench_training_ials() {
	local data db=kpreco_training tag=training-cg row rows t0
	data=$(synthetic_data 100000 20000 5000000 1)
	pgc_say "Training: $data"
	new_database "$db"
	t0=$EPOCHREALTIME
	load_tsv "$db" synth_train "$data/train.tsv"
	load_tsv "$db" synth_test "$data/test.tsv"
	record "$tag" load_seconds "$(calc "$EPOCHREALTIME - $t0")" s
	rows=$(bval -d "$db" -c 'SELECT count(*) FROM synth_train')
	record "$tag" train_rows "$rows" ""
	echo "  kpreco.train('synth', 'synth_train', '$ALS_OPTS'), kpreco.blas_threads = 1"
	train_model "$db" synth synth_train "$ALS_OPTS" "$tag"
	IFS=$'\t' read -r -a row <"$RUN_DIR/$tag.train.tsv"
	record "$tag" train_statement_seconds "${row[1]}" s le 25
	record "$tag" train_seconds_stored "${row[2]}" s
	record "$tag" train_backend_cpu_seconds "${row[9]}" s
	record "$tag" n_users "${row[3]}" ""
	record "$tag" n_courses "${row[4]}" ""
	record "$tag" n_interactions "${row[5]}" ""
	record "$tag" model_bytes "${row[6]}" B

	# Peak memory of the training backend.
	local hwm0=${row[7]} hwm1=${row[8]} interaction_bytes factor_bytes bound peak
	interaction_bytes=$((rows * 20))
	factor_bytes=$(((row[3] + row[4]) * 64 * 4))
	bound=$(calc "1.5 * ($interaction_bytes + $factor_bytes) / 1048576")
	peak=$(calc "($hwm1 - $hwm0) / 1024")
	record "$tag" vmhwm_after_connect "$(calc "$hwm0 / 1024")" MiB
	record "$tag" vmhwm_after_train "$(calc "$hwm1 / 1024")" MiB
	record "$tag" interaction_bytes "$(calc "$interaction_bytes / 1048576")" MiB
	record "$tag" factor_bytes "$(calc "$factor_bytes / 1048576")" MiB
	record "$tag" vmhwm_increase "$peak" MiB
	record "$tag" vmhwm_over_data_ratio "$(calc "($hwm1 - $hwm0) * 1024 / ($interaction_bytes + $factor_bytes)")" ""
	# VmHWM also counts pages of shared_buffers the backend touched (storing
	# the model writes it through them), a pool the server allocated at start:
	# the backend's own memory is the private part, sampled every 0.01 s.
	local anon0 anon_max shmem1
	anon0=$(awk '/^RssAnon:/ {print $2}' "$RUN_DIR/$tag.status-before")
	anon_max=$(awk -F'\t' 'NR > 1 && $4 > m { m = $4 } END { print m + 0 }' "$RUN_DIR/$tag.rss.tsv")
	shmem1=$(awk '/^RssShmem:/ {print $2}' "$RUN_DIR/$tag.status-after")
	record "$tag" shared_buffers_touched_after_train "$(calc "$shmem1 / 1024")" MiB
	record "$tag" private_memory_increase_sampled_max "$(calc "($anon_max - $anon0) / 1024")" MiB le "$bound"
	record "$tag" private_over_data_ratio_sampled "$(calc "($anon_max - $anon0) * 1024 / ($interaction_bytes + $factor_bytes)")" "" le 1.5

	t0=$EPOCHREALTIME
	export_recs "$db" synth synth_test "$RUN_DIR/$tag.recs.tsv"
	record "$tag" export_recs_seconds "$(calc "$EPOCHREALTIME - $t0")" s
	score "$data" "$RUN_DIR/$tag.recs.tsv" kpreco-cg "$RUN_DIR/$tag.score.json"
	record_scores "$tag" "$RUN_DIR/$tag.score.json" 0.213
}

# ---------------------------------------------------------------------------
# 2b. Training time of the other algorithms on synthetic data: ease at about
# 5,000 and 10,000 courses, bpr on the 3,960,902-row set of section 2 (75-150
# s of CPU; BPR_DATA=small: on the 1,181,399-row set of ease at 10,000
# courses instead, about 30 s).

# algorithm_training DB TAG MODEL SOURCE TEST OPTIONS: trains in a fresh
# session (train_model), then record_algorithm_training.
algorithm_training() {
	local db=$1 tag=$2 model=$3 source=$4 test=$5 opts=$6
	echo "  $tag: kpreco.train('$model', '$source', '$opts'), kpreco.blas_threads = 1"
	record "$tag" options "$opts" ""
	train_model "$db" "$model" "$source" "$opts" "$tag" ||
		pgc_die "$tag: kpreco.train('$model', '$source', '$opts') failed"
	record_algorithm_training "$db" "$tag" "$model" "$test"
}

# record_algorithm_training DB TAG MODEL TEST: the time, sizes and private
# memory peak of the training train_model just did, and, for information,
# NDCG@10 and P@10 from kpreco.evaluate(MODEL, TEST, 10).
record_algorithm_training() {
	local db=$1 tag=$2 model=$3 test=$4 row anon0 anon_max effective m v
	IFS=$'\t' read -r -a row <"$RUN_DIR/$tag.train.tsv"
	record "$tag" train_statement_seconds "${row[1]}" s
	record "$tag" train_seconds_stored "${row[2]}" s
	record "$tag" train_backend_cpu_seconds "${row[9]}" s
	record "$tag" n_users "${row[3]}" ""
	record "$tag" n_courses "${row[4]}" ""
	record "$tag" n_interactions "${row[5]}" ""
	record "$tag" model_bytes "${row[6]}" B
	anon0=$(awk '/^RssAnon:/ {print $2}' "$RUN_DIR/$tag.status-before")
	anon_max=$(awk -F'\t' 'NR > 1 && $4 > m { m = $4 } END { print m + 0 }' "$RUN_DIR/$tag.rss.tsv")
	record "$tag" private_memory_increase_sampled_max "$(calc "($anon_max - $anon0) / 1024")" MiB
	effective=$(bval -d "$db" -v model="$model" <<<"SELECT options FROM kpreco.models WHERE name = :'model' AND active")
	record "$tag" options_effective "$effective" ""
	evaluate_json "$db" "$model" "$test" "$RUN_DIR/$tag.evaluate.json"
	record "$tag" evaluate_seconds "$(cat "$RUN_DIR/$tag.evaluate.json.seconds")" s
	for m in ndcg precision; do
		v=$(metric_value "$RUN_DIR/$tag.evaluate.json" "$m")
		record "$tag" "evaluate_$m@10" "$(calc "$v")" ""
	done
	v=$(metric_value "$RUN_DIR/$tag.evaluate.json" users)
	record "$tag" evaluate_users "$v" ""
}

# database_with_data DB DATADIR: DB with tables synth_train and synth_test
# loaded from DATADIR, created unless it exists already (section 2 makes
# kpreco_training).
database_with_data() {
	local db=$1 data=$2
	if [[ -n "$(bval -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
		[[ -n "$(bval -d "$db" -c "SELECT 1 FROM pg_class WHERE relname = 'synth_test'")" ]] && return 0
		"$PGC_BINDIR/dropdb" "$db"
	fi
	new_database "$db"
	load_tsv "$db" synth_train "$data/train.tsv"
	load_tsv "$db" synth_test "$data/test.tsv"
}

bench_training_algorithms() {
	local data nc db opts='{"algorithm":"bpr"}'
	for nc in 5000 10000; do
		data=$(synthetic_data 50000 "$nc" 1500000 2)
		db=kpreco_synth$((nc / 1000))k
		pgc_say "Training: ease at $nc courses, $data"
		database_with_data "$db" "$data"
		algorithm_training "$db" "training-ease-$((nc / 1000))k" ease synth_train synth_test '{"algorithm":"ease"}'
	done
	if [[ "$BPR_DATA" == small ]]; then
		pgc_say "Training: bpr on $data (BPR_DATA=small)"
		algorithm_training "$db" training-bpr-1.2m bpr synth_train synth_test "$opts"
	else
		data=$(synthetic_data 100000 20000 5000000 1)
		pgc_say "Training: bpr on $data"
		database_with_data kpreco_training "$data"
		algorithm_training kpreco_training training-bpr-4m bpr synth_train synth_test "$opts"
	fi
}

# The training section: both parts.
bench_training() {
	bench_training_ials
	bench_training_algorithms
}

# ---------------------------------------------------------------------------
# 3. Serving

# serving_model DB DATADIR MAX_COURSES TAG: loads a synthetic train set with
# user ids renumbered 1..N and course ids 1..C (only the MAX_COURSES most
# frequent courses kept) and trains a model on it; sets SERVE_N and SERVE_C.
serving_model() {
	local db=$1 data=$2 max_courses=$3 tag=$4 row
	new_database "$db"
	load_tsv "$db" raw_train "$data/train.tsv"
	bpsql -d "$db" -v max_courses="$max_courses" <<'SQL'
CREATE TABLE serve_train AS
WITH kept_courses AS (
	SELECT course_id FROM raw_train GROUP BY course_id
	ORDER BY count(*) DESC, course_id LIMIT :max_courses
)
SELECT dense_rank() OVER (ORDER BY r.user_id)::bigint AS user_id,
       dense_rank() OVER (ORDER BY r.course_id)::bigint AS course_id
FROM raw_train r JOIN kept_courses USING (course_id);
VACUUM (FREEZE, ANALYZE) serve_train;
SQL
	train_model "$db" serve serve_train "$ALS_OPTS" "$tag"
	IFS=$'\t' read -r -a row <"$RUN_DIR/$tag.train.tsv"
	record "$tag" train_rows "${row[5]}" ""
	record "$tag" n_users "${row[3]}" ""
	record "$tag" n_courses "${row[4]}" ""
	record "$tag" train_statement_seconds "${row[1]}" s
	record "$tag" model_bytes "${row[6]}" B
	SERVE_N=${row[3]} SERVE_C=${row[4]}
}

# check_exact DB TAG N C: for 3 users and 3 courses, are recommend() and
# similar_courses() the exact top 10 (inner product over the courses the user
# did not take; cosine over the other courses), recomputed in SQL in double
# precision from user_factors() and course_factors()? Records the fraction of
# returned rows whose exact score reaches the exact 10th best (less 1e-4).
check_exact() {
	local db=$1 tag=$2 n=$3 c=$4 row
	row=$(bval -d "$db" -v users="{1,$(((n + 1) / 2)),$n}" -v courses="{1,$(((c + 1) / 2)),$c}" <<'SQL'
CREATE TEMP TABLE cf AS
SELECT course_id, factors,
       sqrt((SELECT sum(a::float8 * a) FROM unnest(factors) a)) AS norm
FROM kpreco.course_factors();
CREATE TEMP TABLE rec_exact AS
WITH u AS (SELECT user_id, factors FROM kpreco.user_factors() WHERE user_id = ANY (:'users'::bigint[])),
scores AS (
	SELECT u.user_id, cf.course_id,
	       (SELECT sum(a::float8 * b) FROM unnest(u.factors, cf.factors) t(a, b)) AS s
	FROM u CROSS JOIN cf
	WHERE NOT EXISTS (SELECT 1 FROM serve_train t WHERE t.user_id = u.user_id AND t.course_id = cf.course_id))
SELECT user_id, course_id, s, row_number() OVER (PARTITION BY user_id ORDER BY s DESC) AS rn FROM scores;
CREATE TEMP TABLE sim_exact AS
WITH scores AS (
	SELECT q.course_id AS query, cf.course_id,
	       (SELECT sum(a::float8 * b) FROM unnest(q.factors, cf.factors) t(a, b)) / nullif(q.norm * cf.norm, 0) AS s
	FROM cf q CROSS JOIN cf
	WHERE q.course_id = ANY (:'courses'::bigint[]) AND cf.course_id <> q.course_id)
SELECT query, course_id, s, row_number() OVER (PARTITION BY query ORDER BY s DESC) AS rn FROM scores;
WITH got AS (
	SELECT u AS user_id, r.course_id FROM unnest(:'users'::bigint[]) u CROSS JOIN LATERAL kpreco.recommend(u, 10) r),
tenth AS (SELECT user_id, s FROM rec_exact WHERE rn = 10)
SELECT count(*) FILTER (WHERE e.s >= tenth.s - 1e-4)::float8 / (3 * 10)
FROM got JOIN rec_exact e USING (user_id, course_id) JOIN tenth USING (user_id);
WITH got AS (
	SELECT c AS query, r.course_id FROM unnest(:'courses'::bigint[]) c CROSS JOIN LATERAL kpreco.similar_courses(c, 10) r),
tenth AS (SELECT query, s FROM sim_exact WHERE rn = 10)
SELECT count(*) FILTER (WHERE e.s >= tenth.s - 1e-4)::float8 / (3 * 10)
FROM got JOIN sim_exact e USING (query, course_id) JOIN tenth USING (query);
SQL
	)
	record "$tag" recommend_exact_top10_fraction "$(sed -n 1p <<<"$row")" "" ge 1
	record "$tag" similar_exact_top10_fraction "$(sed -n 2p <<<"$row")" "" ge 1
}

# first_calls DB TAG SQL: timings (client side, ms) of three calls of SQL in a
# fresh session: the first loads the library and the model.
first_calls() {
	local db=$1 tag=$2 sql=$3 times t1 t2 t3
	times=$(printf '\\timing on\n%s\n%s\n%s\n' "$sql" "$sql" "$sql" |
		"${PIN_CMD[@]}" psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" 2>&1 |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
	# shellcheck disable=SC2086
	read -r t1 t2 t3 <<<"$(printf '%s ' $times)"
	record "$tag" first_call_ms "$t1" ms
	record "$tag" second_call_ms "$t2" ms
	record "$tag" third_call_ms "$t3" ms
}

# With one client, pgbench and its backend take turns; on this kind of VM a
# wake-up across vCPUs costs tens of microseconds, and where the scheduler
# happens to put the two decides whether SELECT 1 runs at ~10,000 or ~60,000
# TPS. So the serving runs put pgbench and the backends on one CPU
# (PGBENCH_PIN=0: leave placement to the scheduler). Only backends started
# while the postmaster is pinned inherit it.
PIN_CMD=(env)
pin_serving() {
	local cpu pid
	[[ "$PGBENCH_PIN" == 1 ]] || { record env serving_cpu_pinning "off" ""; return 0; }
	command -v taskset >/dev/null 2>&1 || { pgc_warn "no taskset: serving runs unpinned"; record env serving_cpu_pinning "off (no taskset)" ""; return 0; }
	cpu=$(($(nproc) - 1))
	pid=$(head -n 1 "$PGC_DIR/data/postmaster.pid")
	taskset -p -c "$cpu" "$pid" >/dev/null
	PIN_CMD=(taskset -c "$cpu")
	record env serving_cpu_pinning "pgbench and backends on CPU $cpu" ""
}

unpin_serving() {
	local pid
	[[ "${PIN_CMD[0]}" == taskset ]] || return 0
	pid=$(head -n 1 "$PGC_DIR/data/postmaster.pid")
	taskset -p -c "0-$(($(nproc) - 1))" "$pid" >/dev/null
	PIN_CMD=(env)
}

# All and busy (not idle, not iowait) jiffies of all CPUs so far.
cpu_jiffies() {
	awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, t - $5 - $6 }' /proc/stat
}

# run_pgbench DB TAG SCRIPT [WARMUP]: with WARMUP set, a warm-up run first;
# then the measured run. Sets TPS, LAT (mean latency, ms) and BUSY (CPUs
# busy on the whole machine during the run, in cores: pgbench and its
# backend account for at most 1).
run_pgbench() {
	run_pgbench_with "$1" "$2" "${4:-}" -f "$3"
}

# run_pgbench_with DB TAG WARMUP PGBENCH_ARGS...: run_pgbench with any
# pgbench arguments (several -f scripts, -D definitions); WARMUP empty for
# no warm-up. Sets LAT_US too: the mean latency in microseconds, from the
# TPS. With PGBENCH_LOG_PREFIX set, the measured run (not the
# warm-up) also writes pgbench's per-transaction log there (-l).
run_pgbench_with() {
	local db=$1 tag=$2 warmup=$3 out=$RUN_DIR/$2.pgbench.txt n failed t0 b0 t1 b1
	local -a log=()
	shift 3
	[[ -n "${PGBENCH_LOG_PREFIX:-}" ]] && log=(-l "--log-prefix=$PGBENCH_LOG_PREFIX")
	if [[ -n "$warmup" ]]; then
		"${PIN_CMD[@]}" "$PGC_BINDIR/pgbench" -n -M prepared -c 1 -T "$PGBENCH_WARMUP" "$@" "$db" \
			>"$out.warmup" 2>&1 || { cat "$out.warmup" >&2; pgc_die "pgbench warm-up failed ($tag)"; }
	fi
	read -r t0 b0 < <(cpu_jiffies)
	"${PIN_CMD[@]}" "$PGC_BINDIR/pgbench" -n -M prepared -c 1 -T "$PGBENCH_SECONDS" "${log[@]}" "$@" "$db" \
		>"$out" 2>&1 || { cat "$out" >&2; pgc_die "pgbench failed ($tag)"; }
	read -r t1 b1 < <(cpu_jiffies)
	BUSY=$(calc "$(nproc) * ($b1 - $b0) / ($t1 - $t0)")
	TPS=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out")
	LAT=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$out")
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	[[ -n "$TPS" && -n "$LAT" && "${n:-0}" -gt 0 && "${failed:-0}" == 0 ]] ||
		{ cat "$out" >&2; pgc_die "pgbench output not understood ($tag)"; }
	# pgbench prints the mean latency to 3 decimals (1 us); with one client
	# it is 1000 / TPS ms, which LAT_US gives to 0.01 us.
	LAT_US=$(awk -v t="$TPS" 'BEGIN { printf "%.2f", 1e6 / t }')
	TPS=$(calc "$TPS") LAT=$(calc "$LAT")
}

bench_serving() {
	local data10 data100 nc db10=kpreco_serve10k db100=kpreco_serve100k
	local n10 c10 n100 c100 round what db
	data10=$(synthetic_data 50000 10000 1500000 2)
	data100=$(synthetic_data 100000 120000 4000000 3)
	pgc_say "Serving: 10,000-course model from $data10"
	serving_model "$db10" "$data10" 10000 serve10k-train
	n10=$SERVE_N c10=$SERVE_C
	pgc_say "Serving: 100,000-course model from $data100"
	serving_model "$db100" "$data100" 100000 serve100k-train
	n100=$SERVE_N c100=$SERVE_C

	printf 'SELECT 1;\n' >"$RUN_DIR/select1.pgbench"
	for nc in "10 $n10 $c10" "100 $n100 $c100"; do
		# shellcheck disable=SC2086
		set -- $nc
		printf '\\set u random(1, %s)\nSELECT * FROM kpreco.recommend(:u, 10);\n' "$2" >"$RUN_DIR/recommend$1k.pgbench"
		printf '\\set c random(1, %s)\nSELECT * FROM kpreco.similar_courses(:c, 10);\n' "$3" >"$RUN_DIR/similar$1k.pgbench"
	done

	pgc_say "Serving: results against an exact top 10 computed in SQL"
	check_exact "$db10" serve10k-check "$n10" "$c10"
	check_exact "$db100" serve100k-check "$n100" "$c100"

	pin_serving
	pgc_say "Serving: first calls in fresh sessions"
	first_calls "$db10" serve10k-recommend "SELECT count(*) FROM kpreco.recommend(1, 10);"
	first_calls "$db10" serve10k-similar "SELECT count(*) FROM kpreco.similar_courses(1, 10);"
	first_calls "$db100" serve100k-recommend "SELECT count(*) FROM kpreco.recommend(1, 10);"
	first_calls "$db100" serve100k-similar "SELECT count(*) FROM kpreco.similar_courses(1, 10);"

	# Rounds of SELECT 1 and the four queries, one after the other, so each
	# query is compared with SELECT 1 measured moments before it.
	pgc_say "Serving: pgbench -n -M prepared -c 1 -T $PGBENCH_SECONDS, $PGBENCH_ROUNDS round(s)"
	local -A tps=() lat=() ratio=()
	local warm s1_tps
	for ((round = 1; round <= PGBENCH_ROUNDS; round++)); do
		warm=""
		((round == 1)) && warm=1
		for what in select1 recommend10k similar10k recommend100k similar100k; do
			case $what in
			*100k) db=$db100 ;;
			*) db=$db10 ;;
			esac
			run_pgbench "$db" "$what-round$round" "$RUN_DIR/$what.pgbench" "$warm"
			[[ $what == select1 ]] && s1_tps=$TPS
			record "$what" "tps_round$round" "$TPS" tx/s
			record "$what" "latency_mean_round$round" "$LAT" ms
			record "$what" "cpu_busy_cores_round$round" "$BUSY" ""
			tps[$what]+=" $TPS"
			lat[$what]+=" $LAT"
			if [[ $what != select1 ]]; then
				record "$what" "tps_ratio_to_select1_round$round" "$(calc "$TPS / $s1_tps")" ""
				ratio[$what]+=" $(calc "$TPS / $s1_tps")"
			fi
		done
	done

	unpin_serving

	# Other processes on the machine only ever slow a run down, and they
	# slow SELECT 1 (a client and a server process ping-ponging on two
	# cores) relatively more than the heavier queries. So targets are judged
	# on the best round of each query (the uncontended speed); the medians
	# over rounds are given next to them.
	local best_s1
	# shellcheck disable=SC2086
	best_s1=$(maximum ${tps[select1]})
	for what in select1 recommend10k similar10k recommend100k similar100k; do
		# shellcheck disable=SC2086
		{
			record "$what" tps_best "$(maximum ${tps[$what]})" tx/s
			if [[ $what == recommend100k ]]; then
				record "$what" latency_mean_best "$(minimum ${lat[$what]})" ms le 2
			else
				record "$what" latency_mean_best "$(minimum ${lat[$what]})" ms
			fi
			case $what in
			select1) ;;
			*10k) record "$what" tps_ratio_to_select1_best "$(calc "$(maximum ${tps[$what]}) / $best_s1")" "" ge 0.25 ;;
			*) record "$what" tps_ratio_to_select1_best "$(calc "$(maximum ${tps[$what]}) / $best_s1")" "" ;;
			esac
			record "$what" tps_median "$(median ${tps[$what]})" tx/s
			record "$what" latency_mean_median "$(median ${lat[$what]})" ms
			[[ $what == select1 ]] || record "$what" tps_ratio_to_select1_median "$(median ${ratio[$what]})" ""
		}
	done
}

# ---------------------------------------------------------------------------
# 4. Serving features of 0.3.0 on the data of the training section
# (recbench --synthetic 100000 20000 5000000 1, ials, 64 factors): the
# latency of each serving call against plain recommend, and recommend_all
# against the machine's sgemm peak.

FEATURE_MODEL=feat
# The model of the training section plus 20 neighbours per user kept for similar_users.
FEATURE_NEIGHBOURS=20
FEATURE_OPTS='{"factors":64,"iterations":15,"regularization":0.01,"alpha":1.0,"similar_users":20}'
FEATURE_CATEGORY_SIZE=500       # candidates: a "category" of 500 courses
FEATURE_RATIO_TARGET=2          # mean latency at most 2 x plain recommend's
ALL_PEAK_TARGET=0.40            # recommend_all scoring: >= 40% of the sgemm peak
SGEMM_PEAK_SIZE=4096            # square sgemm timed for the peak

# The pgbench runs of a round, in order; those of FEATURE_TARGETED have the
# latency-ratio target.
FEATURE_QUERIES=(select1 recommend candidates candidates_table exclude exclude_seen_false diversity
	foldin audience similar_users similar_users_scan similar_courses)
FEATURE_TARGETED=" candidates exclude exclude_seen_false diversity foldin audience similar_users "

# feature_scripts UMIN UMAX CMIN CMAX: the pgbench scripts, in RUN_DIR/features/.
# Users and courses are drawn uniformly from the model's (dense) ids.
feature_scripts() {
	local umin=$1 umax=$2 cmin=$3 cmax=$4 dir=$RUN_DIR/features g ncat ids e
	local user="\\set u random($umin, $umax)" course="\\set c random($cmin, $cmax)"
	mkdir -p "$dir"
	printf 'SELECT 1;\n' >"$dir/select1.pgbench"
	printf '%s\nSELECT * FROM kpreco.recommend(:u, 10);\n' "$user" >"$dir/recommend.pgbench"
	# candidates: category g holds the courses with (id - CMIN) % ncat = g,
	# 500 each; one script per category, pgbench picks one at random for
	# every transaction. The array is a constant of the prepared statement,
	# so what is timed is kpreco's work on it (deconstructing the 500 ids,
	# looking them up, scoring), not parsing it from text.
	ncat=$(((cmax - cmin + 1) / FEATURE_CATEGORY_SIZE))
	for ((g = 0; g < ncat; g++)); do
		ids=$(seq $((cmin + g)) "$ncat" "$cmax" | head -n "$FEATURE_CATEGORY_SIZE" | paste -sd,)
		printf "%s\nSELECT * FROM kpreco.recommend(:u, 10, candidates => '{%s}'::bigint[]);\n" \
			"$user" "$ids" >"$dir/candidates-$g.pgbench"
	done
	FEATURE_CATEGORIES=$ncat
	# The same, with the array read from a table in the statement (what an
	# application without the ids at hand does): for information.
	printf '%s\n\\set g random(0, %s)\nSELECT * FROM kpreco.recommend(:u, 10, candidates => (SELECT course_ids FROM bench_category WHERE category = :g));\n' \
		"$user" $((ncat - 1)) >"$dir/candidates_table.pgbench"
	{
		printf '%s\n' "$user"
		for e in 1 2 3 4 5 6 7 8 9 10; do printf '\\set e%s random(%s, %s)\n' "$e" "$cmin" "$cmax"; done
		printf 'SELECT * FROM kpreco.recommend(:u, 10, exclude => ARRAY[:e1::bigint, :e2::bigint, :e3::bigint, :e4::bigint, :e5::bigint, :e6::bigint, :e7::bigint, :e8::bigint, :e9::bigint, :e10::bigint]);\n'
	} >"$dir/exclude.pgbench"
	printf '%s\nSELECT * FROM kpreco.recommend(:u, 10, exclude_seen => false);\n' "$user" >"$dir/exclude_seen_false.pgbench"
	printf '%s\nSELECT * FROM kpreco.recommend(:u, 10, diversity => 0.3);\n' "$user" >"$dir/diversity.pgbench"
	printf '\\set a random(%s, %s)\n\\set b random(%s, %s)\n%s\nSELECT * FROM kpreco.recommend_for_courses(ARRAY[:a::bigint, :b::bigint, :c::bigint], k => 10);\n' \
		"$cmin" "$cmax" "$cmin" "$cmax" "$course" >"$dir/foldin.pgbench"
	printf '%s\nSELECT * FROM kpreco.audience(:c, 10);\n' "$course" >"$dir/audience.pgbench"
	printf '%s\nSELECT * FROM kpreco.similar_users(:u, 10);\n' "$user" >"$dir/similar_users.pgbench"
	# one more than the lists hold: the scan over every user
	printf '%s\nSELECT * FROM kpreco.similar_users(:u, %d);\n' "$user" $((FEATURE_NEIGHBOURS + 1)) \
		>"$dir/similar_users_scan.pgbench"
	# similar_courses: the first C transactions of a connection ask for every
	# course once, in an order shuffled by permute() (cache misses), the
	# following ones for random courses (cache hits: the cache holds all 20,000).
	# The per-transaction log tells them apart.
	cat >"$dir/similar_courses.pgbench" <<SCRIPT
\\if :i < $((cmax - cmin + 1))
\\set c $cmin + permute(:i, $((cmax - cmin + 1)))
\\else
$course
\\endif
\\set i :i + 1
SELECT * FROM kpreco.similar_courses(:c, 10);
SCRIPT
}

# feature_args WHAT: sets FARGS, the pgbench arguments of run WHAT.
feature_args() {
	local dir=$RUN_DIR/features g
	FARGS=()
	case $1 in
	candidates)
		for ((g = 0; g < FEATURE_CATEGORIES; g++)); do FARGS+=(-f "$dir/candidates-$g.pgbench@1"); done ;;
	similar_courses) FARGS=(-D i=0 -f "$dir/similar_courses.pgbench") ;;
	*) FARGS=(-f "$dir/$1.pgbench") ;;
	esac
}

# similar_log_stats LOG_PREFIX N: from pgbench's per-transaction log of a
# similar_courses run (fields: client, transaction number from 1, latency in
# us, ...), "first_ms miss_mean_us miss_median_us misses hit_mean_us
# hit_median_us hits": transaction 1 (loads the model, builds the unit
# vectors), transactions 2 .. N (each other course once: misses) and the
# rest (hits).
similar_log_stats() {
	local prefix=$1 n=$2 first miss hit
	first=$(cat "$prefix".* | awk '$2 == 1 { printf "%.4f", $3 / 1000 }')
	# mean, median (us) and count of the latencies (us) on standard input
	stats() {
		sort -g | awk '{ a[NR] = $1; s += $1 } END {
			if (NR == 0) { print "-1 -1 0"; exit }
			printf "%.2f %.2f %d", s / NR,
				(NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2, NR }'
	}
	miss=$(cat "$prefix".* | awk -v n="$n" '$2 > 1 && $2 <= n { print $3 }' | stats)
	hit=$(cat "$prefix".* | awk -v n="$n" '$2 > n { print $3 }' | stats)
	echo "$first $miss $hit"
}

# recommend_all_round DB TAG [ENFORCE]: in a fresh session with
# SET kpreco.blas_threads = 1 (the model loaded first by one recommend call),
# times
#   SELECT count(*) FROM kpreco.recommend_all(10, MODEL)
#   CREATE TABLE tonight AS SELECT * FROM kpreco.recommend_all(10, MODEL)
# (server-side wall time and the backend's CPU time of each); sets RA_ROWS,
# RA_COUNT_S, RA_COUNT_CPU, RA_TABLE_S, RA_TABLE_CPU, RA_TABLE_ROWS.
# The setting is applied to OpenBLAS only by a training (src/pg_alloc.c,
# kpreco_apply_blas_threads, called from train_agg.c and content.c), not by
# recommend_all, so a session that trains nothing scores with OpenBLAS's
# default thread count (one per CPU). With ENFORCE set, the session first
# trains a one-row model with train_agg, which applies the setting.
recommend_all_round() {
	local db=$1 tag=$2 enforce=${3:-} c0 c1 c2 tick
	KP_STAT0=$RUN_DIR/$tag.stat0 KP_STAT1=$RUN_DIR/$tag.stat1 KP_STAT2=$RUN_DIR/$tag.stat2 \
		bval -d "$db" -v model="$FEATURE_MODEL" -v enforce="${enforce:-0}" >"$RUN_DIR/$tag.out" <<'SQL'
SET kpreco.blas_threads = 1;
SELECT :enforce::int = 1 AS enforce \gset
\if :enforce
SELECT kpreco.train_agg(u, c, 1, '{}') IS NOT NULL AS applied FROM (VALUES (1::bigint, 1::bigint)) v(u, c) \gset
\endif
SELECT count(*) AS warm FROM kpreco.recommend(0, 10, :'model') \gset
SELECT pg_backend_pid() AS pid \gset
\setenv KP_PID :pid
\! cat /proc/$KP_PID/stat > "$KP_STAT0"
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT count(*) AS n FROM kpreco.recommend_all(10, :'model') \gset
SELECT extract(epoch FROM clock_timestamp()) - :t0 AS wall_count \gset
\! cat /proc/$KP_PID/stat > "$KP_STAT1"
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
CREATE TABLE tonight AS SELECT * FROM kpreco.recommend_all(10, :'model');
SELECT extract(epoch FROM clock_timestamp()) - :t0 AS wall_table \gset
\! cat /proc/$KP_PID/stat > "$KP_STAT2"
SELECT :n, round(:wall_count::numeric, 4), round(:wall_table::numeric, 4), (SELECT count(*) FROM tonight);
DROP TABLE tonight;
SQL
	read -r RA_ROWS RA_COUNT_S RA_TABLE_S RA_TABLE_ROWS < <(tail -n 1 "$RUN_DIR/$tag.out" | tr '\t' ' ')
	tick=$(getconf CLK_TCK)
	c0=$(sed 's/.*) //' "$RUN_DIR/$tag.stat0" | awk '{print $12 + $13}')
	c1=$(sed 's/.*) //' "$RUN_DIR/$tag.stat1" | awk '{print $12 + $13}')
	c2=$(sed 's/.*) //' "$RUN_DIR/$tag.stat2" | awk '{print $12 + $13}')
	RA_COUNT_CPU=$(calc "($c1 - $c0) / $tick")
	RA_TABLE_CPU=$(calc "($c2 - $c1) / $tick")
}

# cli_value FILE KEY: a "key<TAB>value" line of kpreco_cli's output.
cli_value() {
	awk -F'\t' -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }' "$1" ||
		pgc_die "no $2 in $1"
}

bench_features() {
	local data db=kpreco_features tag row umin umax cmin cmax n c f round what
	local cli=$ROOT_DIR/bench/kpreco_cli
	data=$(synthetic_data 100000 20000 5000000 1)
	pgc_say "Features: ials model on $data"
	if [[ "${SKIP_BUILD:-0}" != 1 || ! -x "$cli" ]]; then
		make -C "$ROOT_DIR" cli >"$RUN_DIR/build-cli.log" 2>&1 ||
			{ cat "$RUN_DIR/build-cli.log" >&2; pgc_die "make cli failed"; }
	fi
	new_database "$db"
	load_tsv "$db" synth_train "$data/train.tsv"
	tag=features-model
	train_model "$db" "$FEATURE_MODEL" synth_train "$FEATURE_OPTS" "$tag" ||
		pgc_die "$tag: kpreco.train('$FEATURE_MODEL', 'synth_train', '$FEATURE_OPTS') failed"
	IFS=$'\t' read -r -a row <"$RUN_DIR/$tag.train.tsv"
	n=${row[3]} c=${row[4]} f=64
	record "$tag" options "$FEATURE_OPTS" ""
	record "$tag" n_users "$n" ""
	record "$tag" n_courses "$c" ""
	record "$tag" n_interactions "${row[5]}" ""
	record "$tag" train_statement_seconds "${row[1]}" s
	record "$tag" train_backend_cpu_seconds "${row[9]}" s
	record "$tag" model_bytes "${row[6]}" B
	read -r umin umax cmin cmax < <(bval -d "$db" -c \
		'SELECT min(user_id), max(user_id), min(course_id), max(course_id) FROM synth_train' | tr '\t' ' ')
	# pgbench draws ids uniformly between the smallest and the largest: every
	# id in between must be one the model knows.
	[[ $((umax - umin + 1)) == "$n" && $((cmax - cmin + 1)) == "$c" ]] ||
		pgc_die "features: user ids $umin..$umax or course ids $cmin..$cmax are not dense ($n users, $c courses)"
	feature_scripts "$umin" "$umax" "$cmin" "$cmax"
	bpsql -d "$db" -v ncat="$FEATURE_CATEGORIES" -v cmin="$cmin" <<'SQL'
CREATE TABLE bench_category AS
SELECT (course_id - :cmin) % :ncat AS category, array_agg(course_id ORDER BY course_id) AS course_ids
FROM (SELECT DISTINCT course_id FROM synth_train) c GROUP BY 1;
ALTER TABLE bench_category ADD PRIMARY KEY (category);
VACUUM (FREEZE, ANALYZE) bench_category;
SQL
	record features-setup categories "$FEATURE_CATEGORIES of $FEATURE_CATEGORY_SIZE courses" ""

	pin_serving
	pgc_say "Features: first calls in fresh sessions"
	first_calls "$db" features-first-recommend "SELECT count(*) FROM kpreco.recommend($umin, 10);"
	first_calls "$db" features-first-foldin "SELECT count(*) FROM kpreco.recommend_for_courses(ARRAY[$cmin, $((cmin + 1)), $((cmin + 2))]::bigint[], k => 10);"
	first_calls "$db" features-first-audience "SELECT count(*) FROM kpreco.audience($cmin, 10);"
	first_calls "$db" features-first-similar_users "SELECT count(*) FROM kpreco.similar_users($umin, 10);"
	first_calls "$db" features-first-similar_users_scan "SELECT count(*) FROM kpreco.similar_users($umin, $((FEATURE_NEIGHBOURS + 1)));"
	first_calls "$db" features-first-similar_courses "SELECT count(*) FROM kpreco.similar_courses($cmin, 10);"

	pgc_say "Features: pgbench -n -M prepared -c 1 -T $PGBENCH_SECONDS, $PGBENCH_ROUNDS round(s) of ${#FEATURE_QUERIES[@]} runs"
	local -A lat=() tps=() ratio=() sc=()
	local warm rec_lat s
	for ((round = 1; round <= PGBENCH_ROUNDS; round++)); do
		warm=""
		((round == 1)) && warm=1
		for what in "${FEATURE_QUERIES[@]}"; do
			tag=features-$what
			feature_args "$what"
			if [[ $what == similar_courses ]]; then
				rm -f "$RUN_DIR/$tag-round$round.log".*
				PGBENCH_LOG_PREFIX=$RUN_DIR/$tag-round$round.log \
					run_pgbench_with "$db" "$tag-round$round" "$warm" "${FARGS[@]}"
				read -r -a s < <(similar_log_stats "$RUN_DIR/$tag-round$round.log" "$c")
				record "$tag" "latency_mean_all_round$round" "$LAT_US" us
				record "$tag" "first_call_round$round" "${s[0]}" ms
				record "$tag" "miss_latency_mean_round$round" "${s[1]}" us
				record "$tag" "miss_latency_median_round$round" "${s[2]}" us
				record "$tag" "misses_round$round" "${s[3]}" ""
				record "$tag" "hit_latency_mean_round$round" "${s[4]}" us
				record "$tag" "hit_latency_median_round$round" "${s[5]}" us
				record "$tag" "hits_round$round" "${s[6]}" ""
				record "$tag" "cpu_busy_cores_round$round" "$BUSY" ""
				sc[miss]+=" ${s[1]}" sc[hit]+=" ${s[4]}"
				ratio[similar_miss]+=" $(calc "${s[1]} / $rec_lat")"
				ratio[similar_hit]+=" $(calc "${s[4]} / $rec_lat")"
				continue
			fi
			run_pgbench_with "$db" "$tag-round$round" "$warm" "${FARGS[@]}"
			record "$tag" "tps_round$round" "$TPS" tx/s
			record "$tag" "latency_mean_round$round" "$LAT_US" us
			record "$tag" "cpu_busy_cores_round$round" "$BUSY" ""
			lat[$what]+=" $LAT_US" tps[$what]+=" $TPS"
			[[ $what == recommend ]] && rec_lat=$LAT_US
			case $what in
			select1 | recommend) ;;
			*) record "$tag" "latency_ratio_to_recommend_round$round" "$(calc "$LAT_US / $rec_lat")" ""
			   ratio[$what]+=" $(calc "$LAT_US / $rec_lat")" ;;
			esac
		done
	done
	unpin_serving

	# Judged on the best round of each run (other load only slows runs
	# down), as the serving section does; medians beside.
	local best_rec best_s1 best
	# shellcheck disable=SC2086
	{
		best_rec=$(minimum ${lat[recommend]})
		best_s1=$(minimum ${lat[select1]})
		for what in "${FEATURE_QUERIES[@]}"; do
			tag=features-$what
			[[ $what == similar_courses ]] && continue
			best=$(minimum ${lat[$what]})
			record "$tag" latency_mean_best "$best" us
			record "$tag" latency_mean_median "$(median ${lat[$what]})" us
			record "$tag" tps_best "$(maximum ${tps[$what]})" tx/s
			case $what in
			select1 | recommend) continue ;;
			esac
			if [[ $FEATURE_TARGETED == *" $what "* ]]; then
				record "$tag" latency_ratio_to_recommend_best "$(calc "$best / $best_rec")" "" le "$FEATURE_RATIO_TARGET"
			else
				record "$tag" latency_ratio_to_recommend_best "$(calc "$best / $best_rec")" ""
			fi
			record "$tag" latency_ratio_to_recommend_median "$(median ${ratio[$what]})" ""
			# Both less the round trip SELECT 1 costs: the functions' own time.
			record "$tag" net_latency_ratio_to_recommend_best "$(calc "($best - $best_s1) / ($best_rec - $best_s1)")" ""
		done
		tag=features-similar_courses
		for what in miss hit; do
			best=$(minimum ${sc[$what]})
			record "$tag" "${what}_latency_mean_best" "$best" us
			record "$tag" "${what}_latency_mean_median" "$(median ${sc[$what]})" us
			record "$tag" "${what}_latency_ratio_to_recommend_best" "$(calc "$best / $best_rec")" ""
			record "$tag" "${what}_latency_ratio_to_recommend_median" "$(median ${ratio[similar_$what]})" ""
		done
	}

	# recommend_all: the top 10 of every user, against the sgemm peak of
	# this machine measured in the same rounds, one BLAS thread each. Each
	# round: the peak, then recommend_all in a session whose one BLAS thread
	# is enforced (the target), then in a plain session with SET
	# kpreco.blas_threads = 1, which recommend_all does not apply (see
	# recommend_all_round).
	pgc_say "Features: recommend_all(10) for $n users, $PGBENCH_ROUNDS round(s), kpreco.blas_threads = 1; sgemm ${SGEMM_PEAK_SIZE}^3 peak"
	local v flops best_peak best_count mode
	local -A ra=()
	flops=$(calc "2 * $n * $c * $f")
	tag=features-recommend_all
	record "$tag" scoring_flop "$flops" FLOP
	for ((round = 1; round <= PGBENCH_ROUNDS; round++)); do
		OPENBLAS_NUM_THREADS=1 "$cli" --sgemm-peak --size "$SGEMM_PEAK_SIZE" --repeat 1 --threads 1 \
			>"$RUN_DIR/features-sgemm-round$round.tsv" 2>"$RUN_DIR/features-sgemm-round$round.log" ||
			{ cat "$RUN_DIR/features-sgemm-round$round.log" >&2; pgc_die "kpreco_cli --sgemm-peak failed"; }
		v=$(cli_value "$RUN_DIR/features-sgemm-round$round.tsv" sgemm_gflops_best)
		record "$tag" "sgemm_peak_gflops_round$round" "$v" GFLOP/s
		ra[peak]+=" $v"
		for mode in one_thread session_default; do
			if [[ $mode == one_thread ]]; then
				recommend_all_round "$db" "$tag-$mode-round$round" 1
				tag=features-recommend_all
			else
				recommend_all_round "$db" "$tag-$mode-round$round"
				tag=features-recommend_all-session_default
			fi
			[[ "$RA_ROWS" == $((n * 10)) && "$RA_TABLE_ROWS" == $((n * 10)) ]] ||
				pgc_die "recommend_all returned $RA_ROWS rows ($RA_TABLE_ROWS in the table), not $((n * 10))"
			record "$tag" "count_seconds_round$round" "$RA_COUNT_S" s
			record "$tag" "count_backend_cpu_seconds_round$round" "$RA_COUNT_CPU" s
			record "$tag" "count_gflops_round$round" "$(calc "$flops / $RA_COUNT_S / 1e9")" GFLOP/s
			record "$tag" "table_seconds_round$round" "$RA_TABLE_S" s
			record "$tag" "table_backend_cpu_seconds_round$round" "$RA_TABLE_CPU" s
			ra[$mode-count]+=" $RA_COUNT_S" ra[$mode-table]+=" $RA_TABLE_S"
			ra[$mode-count-cpu]+=" $RA_COUNT_CPU" ra[$mode-table-cpu]+=" $RA_TABLE_CPU"
			ra[$mode-fraction]+=" $(calc "$flops / $RA_COUNT_S / 1e9 / $v")"
			tag=features-recommend_all
		done
	done
	# shellcheck disable=SC2086
	{
		best_peak=$(maximum ${ra[peak]})
		record "$tag" rows "$RA_ROWS" ""
		record "$tag" sgemm_peak_gflops_best "$best_peak" GFLOP/s
		record "$tag" sgemm_peak_gflops_median "$(median ${ra[peak]})" GFLOP/s
		for mode in one_thread session_default; do
			if [[ $mode == one_thread ]]; then
				tag=features-recommend_all
				record "$tag" blas_threads "1 (SET kpreco.blas_threads = 1, applied by a one-row train_agg)" ""
			else
				tag=features-recommend_all-session_default
				record "$tag" blas_threads "kpreco.blas_threads at its default (1), applied by recommend_all itself" ""
			fi
			best_count=$(minimum ${ra[$mode-count]})
			record "$tag" count_seconds_best "$best_count" s
			record "$tag" count_seconds_median "$(median ${ra[$mode-count]})" s
			record "$tag" count_backend_cpu_seconds_best "$(minimum ${ra[$mode-count-cpu]})" s
			record "$tag" table_seconds_best "$(minimum ${ra[$mode-table]})" s
			record "$tag" table_seconds_median "$(median ${ra[$mode-table]})" s
			record "$tag" table_backend_cpu_seconds_best "$(minimum ${ra[$mode-table-cpu]})" s
			record "$tag" count_gflops_best "$(calc "$flops / $best_count / 1e9")" GFLOP/s
			record "$tag" count_gflops_median "$(calc "$flops / $(median ${ra[$mode-count]}) / 1e9")" GFLOP/s
			if [[ $mode == one_thread ]]; then
				record "$tag" count_fraction_of_sgemm_peak_best "$(calc "$flops / $best_count / 1e9 / $best_peak")" "" ge "$ALL_PEAK_TARGET"
			else
				record "$tag" count_fraction_of_sgemm_peak_best "$(calc "$flops / $best_count / 1e9 / $best_peak")" ""
			fi
			record "$tag" count_fraction_of_sgemm_peak_median "$(median ${ra[$mode-fraction]})" ""
			record "$tag" table_gflops_best "$(calc "$flops / $(minimum ${ra[$mode-table]}) / 1e9")" GFLOP/s
			record "$tag" table_fraction_of_sgemm_peak_best "$(calc "$flops / $(minimum ${ra[$mode-table]}) / 1e9 / $best_peak")" ""
		done
		tag=features-recommend_all
		best_count=$(minimum ${ra[one_thread-count]})
	}

	# The core alone: kpreco_cli trains the same data with the same options
	# (the same factors, checked by their sums), then times kp_batch_topk.
	pgc_say "Features: kp_batch_topk alone (bench/kpreco_cli --batch-topk)"
	OPENBLAS_NUM_THREADS=1 "$cli" "$data/train.tsv" --batch-topk --repeat "$PGBENCH_ROUNDS" --threads 1 \
		--factors 64 --iterations 15 --regularization 0.01 --alpha 1.0 \
		>"$RUN_DIR/features-core.tsv" 2>"$RUN_DIR/features-core.log" ||
		{ cat "$RUN_DIR/features-core.log" >&2; pgc_die "kpreco_cli --batch-topk failed"; }
	tag=features-core
	for what in batch_users batch_courses batch_rows batch_seconds_best batch_seconds_median \
		batch_gflops_best batch_gflops_median batch_sgemm_only_seconds_best batch_sgemm_only_gflops_best; do
		v=$(cli_value "$RUN_DIR/features-core.tsv" "$what")
		case $what in
		*seconds*) record "$tag" "$what" "$v" s ;;
		*gflops*) record "$tag" "$what" "$v" GFLOP/s ;;
		*) record "$tag" "$what" "$v" "" ;;
		esac
	done
	v=$(cli_value "$RUN_DIR/features-core.tsv" batch_gflops_best)
	record "$tag" batch_fraction_of_sgemm_peak_best "$(calc "$v / $best_peak")" ""
	v=$(cli_value "$RUN_DIR/features-core.tsv" batch_sgemm_only_gflops_best)
	record "$tag" batch_sgemm_only_fraction_of_sgemm_peak_best "$(calc "$v / $best_peak")" ""
	record "$tag" sql_overhead_count_seconds "$(calc "$best_count - $(cli_value "$RUN_DIR/features-core.tsv" batch_seconds_best)")" s
	local sums cli_u cli_c
	sums=$(bval -d "$db" -v model="$FEATURE_MODEL" <<'SQL'
SELECT (SELECT sum(x::float8) FROM kpreco.user_factors(:'model') u, unnest(u.factors) x),
       (SELECT sum(x::float8) FROM kpreco.course_factors(:'model') c, unnest(c.factors) x);
SQL
	)
	cli_u=$(cli_value "$RUN_DIR/features-core.tsv" user_factor_sum)
	cli_c=$(cli_value "$RUN_DIR/features-core.tsv" course_factor_sum)
	record "$tag" user_factor_sum_server "$(cut -f1 <<<"$sums")" ""
	record "$tag" user_factor_sum_cli "$cli_u" ""
	record "$tag" course_factor_sum_server "$(cut -f2 <<<"$sums")" ""
	record "$tag" course_factor_sum_cli "$cli_c" ""
	record "$tag" same_factors_as_server "$(awk -v a="$(cut -f1 <<<"$sums")" -v b="$cli_u" -v c="$(cut -f2 <<<"$sums")" -v d="$cli_c" \
		'function ab(x) { return x < 0 ? -x : x } BEGIN { print (ab(a - b) <= 1e-6 * ab(a) && ab(c - d) <= 1e-6 * ab(c)) ? "yes (sums agree to 1e-6)" : "NO: sums differ" }')" ""

	# What the neighbour lists cost: refresh_user keeps them up to date, and
	# the same training without them.
	pgc_say "Features: the cost of the neighbour lists (refresh_user; training without them)"
	first_calls "$db" features-refresh_user "SELECT kpreco.refresh_user($umin, '$FEATURE_MODEL');"
	tag=features-model-without-lists
	train_model "$db" "${FEATURE_MODEL}_plain" synth_train "$ALS_OPTS" "$tag" ||
		pgc_die "$tag: kpreco.train('${FEATURE_MODEL}_plain', 'synth_train', '$ALS_OPTS') failed"
	IFS=$'\t' read -r -a row <"$RUN_DIR/$tag.train.tsv"
	record "$tag" options "$ALS_OPTS" ""
	record "$tag" train_statement_seconds "${row[1]}" s
	record "$tag" train_backend_cpu_seconds "${row[9]}" s
	record "$tag" model_bytes "${row[6]}" B
	first_calls "$db" features-refresh_user-without-lists "SELECT kpreco.refresh_user($umin, '${FEATURE_MODEL}_plain');"
}

# ---------------------------------------------------------------------------
# The machine

record_environment() {
	local so blas pkg
	record env date_utc "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ""
	record env cpu_model "$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)" ""
	record env cpus "$(nproc)" ""
	record env memory_gib "$(awk '/^MemTotal:/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)" GiB
	record env os "$(. /etc/os-release && echo "$PRETTY_NAME")" ""
	record env postgresql "$(bval -c 'SHOW server_version')" ""
	record env kpreco_version "$(bval -c "SELECT default_version FROM pg_available_extensions WHERE name = 'kpreco'")" ""
	so=$("$PG_CONFIG" --pkglibdir)/kpreco.so
	blas=$(ldd "$so" | awk '/blas/ {print $3; exit}')
	blas=$(readlink -f "$blas" 2>/dev/null || echo "$blas")
	pkg=$(dpkg -S "$blas" 2>/dev/null | cut -d: -f1 | head -n 1 || true)
	record env blas_library "$blas" ""
	if [[ -n "$pkg" ]]; then
		record env blas_package "$pkg $(dpkg-query -W -f='${Version}' "$pkg")" ""
	fi
	record env kpreco_commit "$(git -C "$ROOT_DIR" describe --always --dirty 2>/dev/null || echo unknown)" ""
	record env command "bash bench/run.sh $WHAT" ""
}

write_summary() {
	"$PYTHON" "$BENCH_DIR/summary.py" "$RESULTS" >"$SUMMARY"
	cp "$RESULTS" "$RESULTS_DIR/results-latest.tsv"
	cp "$SUMMARY" "$RESULTS_DIR/summary-latest.md"
}

main() {
	pgc_ensure_packages "build-essential pkg-config libopenblas-dev postgresql-$(pgc_pg_major)" \
		"postgresql-server-dev-$(pgc_pg_major) python3-numpy python3-scipy"
	pgc_setup_pg_config
	[[ -f "$RECBENCH" ]] || pgc_die "recbench.py not found at $RECBENCH (set RECBENCH)"
	if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
		pgc_build_install "$RUN_DIR/build.log" || pgc_die "build failed"
	fi
	pgc_start --database kpreco_bench
	# Keep the server log with the results (runs before the cluster is removed).
	# shellcheck disable=SC2016
	pgc_at_exit 'cp "$(pgc_log_file)" "$RUN_DIR/postgresql.log" 2>/dev/null'
	pgc_say "Results: $RESULTS"
	write_rss_sampler
	record_environment
	local section
	case $WHAT in
	all) set -- quality training serving features ;;
	*) set -- "$WHAT" ;;
	esac
	local t0
	for section; do
		# Other work on the machine skews timings: note how busy it was.
		record env "loadavg_before_$section" "$(cut -d' ' -f1-3 /proc/loadavg)" ""
		t0=$EPOCHREALTIME
		"bench_${section//-/_}"
		record env "section_seconds_$section" "$(calc "$EPOCHREALTIME - $t0")" s
		record env "loadavg_after_$section" "$(cut -d' ' -f1-3 /proc/loadavg)" ""
	done
	write_summary
	pgc_say "Summary ($SUMMARY)"
	cat "$SUMMARY"
}

main
