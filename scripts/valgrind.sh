#!/usr/bin/env bash
#
# valgrind.sh -- the pg_regress suite against a throw-away server running
# under valgrind's memcheck (make valgrind-check):
#
#   bash scripts/valgrind.sh
#
#  1. installs valgrind when it is missing;
#  2. copies the PostgreSQL installation (binaries, libraries, share) into
#     a temporary directory: PostgreSQL finds its files relative to its
#     binaries, so the copy runs as it is, and nothing outside it changes;
#  3. builds kpreco from a copy of this tree without -march=native
#     (valgrind cannot run AVX-512 code: make OPTFLAGS="") and installs it
#     into the copy;
#  4. replaces the copy's postgres by a script that runs it under valgrind
#     (--trace-children=yes, --error-exitcode, valgrind.supp for known noise
#     of PostgreSQL and OpenBLAS), one log per process; what initdb and
#     pg_ctl run (bootstrap, single-user, --check, version) runs without it;
#  5. starts a cluster from the copy (scripts/pgcluster.sh) and runs make
#     installcheck against it;
#  6. reads the logs: a valgrind error with a frame in kpreco's sources
#     fails the run, and so does any other error valgrind.supp does not
#     cover (it makes the backend exit with --error-exitcode, which fails
#     the tests too).
#
# Ends with `valgrind: N errors in kpreco, N elsewhere ...` and exits
# non-zero on any error or test failure. Takes a few minutes.
#
# Environment:
#   PG_CONFIG            pg_config of the PostgreSQL to use (default: pg_config)
#   KEEP_VALGRIND_DIR=1  keep the temporary directory (logs, copy) at the end
#   VALGRIND_TIMEOUT     seconds make installcheck may take (default 3600)

set -euo pipefail

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=pgcluster.sh
. "$SCRIPTS_DIR/pgcluster.sh"
ROOT=$PGC_ROOT_DIR
VALGRIND_ERROR_EXIT=97

pgc_ensure_packages "$(pgc_default_packages) valgrind"
pgc_setup_pg_config
SYSTEM_PG_CONFIG=$PG_CONFIG

WORK=$(mktemp -d /tmp/kpreco-valgrind.XXXXXX)
chmod 0755 "$WORK"
pgc_at_exit cleanup_work
cleanup_work() {
	if [[ "${KEEP_VALGRIND_DIR:-0}" == 1 ]]; then
		echo "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}

INSTALL="$WORK/install"     # the copy of PostgreSQL, same layout under this root
SOURCE="$WORK/source"       # the copy of this tree that is built
LOGS="$WORK/logs"           # one valgrind log (text and XML) per process

pgc_say "Copying PostgreSQL $("$PG_CONFIG" --version | sed 's/^PostgreSQL //') into $INSTALL"
for dir in "$("$PG_CONFIG" --bindir)" "$("$PG_CONFIG" --pkglibdir)" "$("$PG_CONFIG" --sharedir)"; do
	mkdir -p "$INSTALL$(dirname "$dir")"
	cp -a "$dir" "$INSTALL$dir"
done

pgc_say "Building kpreco without -march=native"
mkdir -p "$SOURCE"
tar -C "$ROOT" --exclude='*.o' --exclude='*.bc' --exclude='*.so' --exclude='bin' \
	-cf - Makefile kpreco.control include src sql test expected | tar -C "$SOURCE" -xf -
if ! { make -C "$SOURCE" -j"$(nproc 2>/dev/null || echo 2)" OPTFLAGS="" PG_CONFIG="$SYSTEM_PG_CONFIG" &&
	make -C "$SOURCE" install DESTDIR="$INSTALL" PG_CONFIG="$SYSTEM_PG_CONFIG"; } >"$WORK/build.log" 2>&1; then
	tail -n 40 "$WORK/build.log" >&2
	pgc_die "the build failed (log $WORK/build.log)"
fi

# The server binary, under valgrind except for the runs initdb and pg_ctl make.
BINDIR="$INSTALL$("$PG_CONFIG" --bindir)"
mkdir -p "$LOGS"
cp "$ROOT/valgrind.supp" "$WORK/valgrind.supp"
mv "$BINDIR/postgres" "$BINDIR/postgres.real"
cat >"$BINDIR/postgres" <<EOF
#!/bin/sh
case "\$1" in
--boot | --single | --check | -V | --version | -C | --describe-config)
	exec "$BINDIR/postgres.real" "\$@" ;;
esac
exec valgrind --tool=memcheck --trace-children=yes --error-exitcode=$VALGRIND_ERROR_EXIT \\
	--suppressions="$WORK/valgrind.supp" --gen-suppressions=all --num-callers=40 \\
	--leak-check=no --read-var-info=no --fullpath-after= \\
	--log-file="$LOGS/valgrind.%p.log" "$BINDIR/postgres.real" "\$@"
EOF
chmod 0755 "$BINDIR/postgres"
((EUID == 0)) && chown -R postgres: "$LOGS" 2>/dev/null || chmod 1777 "$LOGS"

PG_CONFIG="$BINDIR/pg_config"
pgc_setup_pg_config
pgc_start

pgc_say "Regression tests under valgrind (make installcheck)"
regress_status=0
timeout --kill-after=30 "${VALGRIND_TIMEOUT:-3600}" \
	make -C "$SOURCE" --no-print-directory installcheck PG_CONFIG="$SYSTEM_PG_CONFIG" \
	>"$WORK/regress.log" 2>&1 || regress_status=$?
cat "$WORK/regress.log"
[[ -f "$SOURCE/regression.diffs" ]] && head -n 100 "$SOURCE/regression.diffs"
pgc_stop

pgc_say "Valgrind's findings"
verdict=0
python3 - "$LOGS" "$SOURCE/" >"$WORK/findings.txt" <<'PY' || verdict=$?
import glob
import re
import sys

logs, source = sys.argv[1], sys.argv[2]
ours, others, processes, suppressed = [], [], 0, 0


def classify(path, block, stanza):
    """An error is a run of "==PID== " lines whose second line is a frame."""
    if len(block) < 2 or not re.match(r"\s+at 0x", block[1]):
        return
    frames = [b for b in block if re.match(r"\s+(at|by) 0x", b)]
    text = "\n".join(["%s (%s)" % (block[0], path.rsplit("/", 1)[1])] +
                     ["  " + b.replace(source, "") for b in block[1:]] + stanza)
    (ours if any(source in f or "kpreco.so" in f for f in frames) else others).append(text)


for path in sorted(glob.glob(logs + "/valgrind.*.log")):
    processes += 1
    block, finished, stanza = [], None, []   # --gen-suppressions' stanza follows a block
    for line in open(path, errors="replace").read().splitlines():
        summary = re.search(r"ERROR SUMMARY: .*\(suppressed: (\d+) from", line)
        if summary:
            suppressed += int(summary.group(1))
        tagged = re.match(r"==\d+== ?(.*)$", line)
        if not tagged:
            stanza.append(line)
        elif tagged.group(1).strip():
            if not block and finished is not None:
                classify(path, finished, stanza)
                finished, stanza = None, []
            block.append(tagged.group(1))
        elif block:
            if finished is not None:
                classify(path, finished, stanza)
            finished, block, stanza = block, [], []
    for done in (finished, block):
        if done:
            classify(path, done, stanza)
            stanza = []

for title, errors in (("in kpreco", ours), ("elsewhere", others)):
    for text in errors:
        print("%s: %s\n" % (title, text))
print("valgrind: %d errors in kpreco, %d elsewhere (%d known ones suppressed), in %d server processes"
      % (len(ours), len(others), suppressed, processes))
sys.exit(1 if ours or others or processes == 0 else 0)
PY
cat "$WORK/findings.txt"
if ((regress_status != 0)); then
	echo "pg_regress failed (exit $regress_status)"
	verdict=1
fi
((verdict == 0)) || echo "logs: $LOGS (run with KEEP_VALGRIND_DIR=1 to keep them)"
exit "$verdict"
