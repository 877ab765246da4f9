# shellcheck shell=bash
# tap.bash -- helpers for the TAP scripts in test/tap (sourced, not run).
#
#   ok GOT EXPECTED NAME      one test: GOT equals EXPECTED
#   ok_if CONDITION NAME      one test: the shell arithmetic CONDITION holds
#   q DB SQL [ROLE]           the result of SQL, unaligned, tuples only
#   sqlstate DB SQL [ROLE]    "SQLSTATE: message" of the error SQL raises, or "no error"
#   now_ms                    wall clock in milliseconds

TAP_COUNT=0

ok() {
	TAP_COUNT=$((TAP_COUNT + 1))
	if [[ "$1" == "$2" ]]; then
		echo "ok $TAP_COUNT - $3"
	else
		echo "not ok $TAP_COUNT - $3"
		echo "# got:      $1"
		echo "# expected: $2"
	fi
}

ok_if() {
	TAP_COUNT=$((TAP_COUNT + 1))
	if (($1)); then
		echo "ok $TAP_COUNT - $2"
	else
		echo "not ok $TAP_COUNT - $2"
		echo "# failed: $1"
	fi
}

q() {
	psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$1" ${3:+-U "$3"} -c "$2"
}

sqlstate() {
	local out
	if out=$(psql -X -q -t -A -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" ${3:+-U "$3"} -c "$2" 2>&1); then
		echo "no error"
	else
		sed -n 's/^\(psql:[^ ]* \)\{0,1\}ERROR:  \([0-9A-Z]\{5\}\): /\2: /p' <<<"$out" | head -n 1
	fi
}

now_ms() {
	local now=${EPOCHREALTIME/[.,]/}
	echo $((now / 1000))
}
