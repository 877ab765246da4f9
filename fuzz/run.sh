#!/usr/bin/env bash
#
# run.sh -- runs each libFuzzer target built in fuzz/bin for FUZZ_SECONDS
# and reports in TAP, one test per target (used by make fuzz and make
# fuzz-smoke):
#
#   FUZZ_SECONDS=60 fuzz/run.sh [TARGET...]
#
# A target starts from its committed seeds (fuzz/corpus/TARGET) and what
# earlier runs found (fuzz/work/TARGET, where new inputs go; runs at the same
# time share it). Each run logs to a file of its own, renamed to
# fuzz/work/TARGET.log when it ends; an input that fails goes to
# fuzz/crashes/. A test line gives the executions, the seconds and the
# corpus size. OpenBLAS runs single-threaded, so a run keeps to one core.

set -uo pipefail

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECONDS_EACH=${FUZZ_SECONDS:-60}

targets=("$@")
if ((${#targets[@]} == 0)); then
	for bin in "$FUZZ_DIR"/bin/fuzz_*; do
		[[ -x "$bin" ]] && targets+=("$(basename "$bin")")
	done
fi
echo "1..${#targets[@]}"

number=0
failed=0
for target in "${targets[@]}"; do
	number=$((number + 1))
	log="$FUZZ_DIR/work/$target.log"
	mkdir -p "$FUZZ_DIR/work/$target" "$FUZZ_DIR/crashes"
	running_log=$(mktemp "$FUZZ_DIR/work/$target.XXXXXX.log")
	options=(-max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2048
		-print_final_stats=1 -artifact_prefix="$FUZZ_DIR/crashes/$target-")
	[[ -f "$FUZZ_DIR/$target.dict" ]] && options+=(-dict="$FUZZ_DIR/$target.dict")
	started=$SECONDS
	OPENBLAS_NUM_THREADS=1 "$FUZZ_DIR/bin/$target" "${options[@]}" \
		"$FUZZ_DIR/work/$target" "$FUZZ_DIR/corpus/$target" >"$running_log" 2>&1
	status=$?
	mv -f "$running_log" "$log"
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	corpus=$(find "$FUZZ_DIR/work/$target" "$FUZZ_DIR/corpus/$target" -type f | wc -l)
	if ((status == 0)) && [[ -n "$runs" ]]; then
		echo "ok $number - $target: $runs executions in $((SECONDS - started)) s, corpus $corpus inputs"
	else
		failed=$((failed + 1))
		echo "not ok $number - $target: exit $status after $((SECONDS - started)) s (log $log)"
		tail -n 40 "$log" | sed 's/^/# /'
	fi
done
((failed == 0))
