#!/usr/bin/env bash
# Serving under load while the model is retrained: pgbench runs
# kpreco.recommend in two connections for about ten seconds while another
# session commits several retrainings (keeping two versions, so versions
# served a moment ago are pruned).  No transaction may fail, and the
# connections must move on to the new versions.
set -euo pipefail
# shellcheck source=lib/tap.bash
. "$(dirname "$0")/lib/tap.bash"

DB=kpreco_pgbench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; dropdb --if-exists "$DB" 2>/dev/null' EXIT
SECONDS_OF_LOAD=10
RETRAININGS=5

echo "1..6"
dropdb --if-exists "$DB" 2>/dev/null
createdb "$DB"
q "$DB" "CREATE EXTENSION kpreco" >/dev/null
q "$DB" "CREATE TABLE e AS SELECT 1 + (g * 7) % 500 AS user_id, 1 + (g * g) % 80 AS course_id FROM generate_series(1, 20000) g" >/dev/null
q "$DB" "CREATE UNLOGGED TABLE served (at timestamptz DEFAULT clock_timestamp(), recs text)" >/dev/null
q "$DB" "SELECT kpreco.train('pb', 'e', '{\"factors\": 16, \"iterations\": 4, \"seed\": 0, \"keep_versions\": 2}')" >/dev/null

cat >"$WORK/serve.sql" <<'SQL'
\set u random(1, 500)
SELECT * FROM kpreco.recommend(:u, 10, 'pb');
SQL
# Now and then, what one user is served, to see versions change.
cat >"$WORK/sample.sql" <<'SQL'
INSERT INTO served (recs)
SELECT string_agg(course_id::text, ',' ORDER BY rank) FROM kpreco.recommend(7, 10, 'pb');
SQL

pgbench_status=0
pgbench -n -c 2 -j 2 -T "$SECONDS_OF_LOAD" -f "$WORK/serve.sql@19" -f "$WORK/sample.sql@1" "$DB" \
	>"$WORK/pgbench.out" 2>&1 &
load=$!
for ((seed = 1; seed <= RETRAININGS; seed++)); do
	sleep 1.5
	q "$DB" "SELECT kpreco.train('pb', 'e', '{\"factors\": 16, \"iterations\": 4, \"seed\": $seed, \"keep_versions\": 2}')" >/dev/null
done
wait "$load" || pgbench_status=$?

transactions=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.out")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/pgbench.out")
ok "$pgbench_status" "0" "pgbench ran for $SECONDS_OF_LOAD s with 2 connections ($(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.out") tps)"
ok_if "${transactions:-0} > 1000" "it served (${transactions:-0} transactions)"
ok "${failed:-missing}" "0" "no transaction failed while $RETRAININGS retrainings committed"
ok "$(q "$DB" "SELECT string_agg(version::text, ',' ORDER BY version) FROM kpreco.models")" \
	"$((RETRAININGS)),$((RETRAININGS + 1))" "two versions are kept, the last one active"
ok_if "$(q "$DB" "SELECT count(DISTINCT recs) FROM served") >= 3" \
	"the connections were served new versions as they committed ($(q "$DB" "SELECT count(DISTINCT recs) FROM served") distinct results for one user)"
ok "$(q "$DB" "SELECT recs FROM served ORDER BY at DESC LIMIT 1")" \
	"$(q "$DB" "SELECT string_agg(course_id::text, ',' ORDER BY rank) FROM kpreco.recommend(7, 10, 'pb')")" \
	"and served the last version at the end"
if ((pgbench_status != 0)); then
	sed 's/^/# /' "$WORK/pgbench.out"
fi
