#!/usr/bin/env bash
# A session that serves keeps the committed version while another session
# trains, and serves the new version on its first call after the commit.
set -euo pipefail

DB=kpreco_cross_session
SERVED_OUT=$(mktemp)
trap 'rm -f "$SERVED_OUT"; dropdb --if-exists "$DB" 2>/dev/null' EXIT

n=0
ok() { n=$((n + 1)); if [[ "$1" == "$2" ]]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "# got:      $1"; echo "# expected: $2"; fi; }
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

DIGEST="SELECT md5(string_agg(format('%s:%s:%s', u, r.course_id, r.rank), ',' ORDER BY u, r.rank))
          FROM generate_series(1, 30) u, LATERAL kpreco.recommend(u, 5) r"

echo "1..4"
dropdb --if-exists "$DB" 2>/dev/null
createdb "$DB"
q "CREATE EXTENSION kpreco" >/dev/null
q "CREATE TABLE e AS SELECT 1 + (g * 7) % 30 AS user_id, 1 + (g * g) % 25 AS course_id FROM generate_series(1, 400) g" >/dev/null
q "SELECT kpreco.train('m', 'e', '{\"factors\": 8}')" >/dev/null
before=$(q "$DIGEST")

# The serving session: one backend, three calls at t = 0, 1.5 s and 4 s.
psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$DB" >"$SERVED_OUT" 2>&1 <<SQL &
$DIGEST;
SELECT pg_sleep(1.5);
$DIGEST;
SELECT pg_sleep(2.5);
$DIGEST;
SQL
served_pid=$!

# The training session: a new version, committed at about t = 3 s.
sleep 0.5
q "BEGIN; SELECT kpreco.train('m', 'e', '{\"factors\": 8, \"seed\": 99}'); SELECT pg_sleep(2.5); COMMIT;" >/dev/null
wait "$served_pid"
after=$(q "$DIGEST")
mapfile -t calls < <(grep -E '^[0-9a-f]{32}$' "$SERVED_OUT")

ok "$([[ "$before" != "$after" ]] && echo differs)" "differs" "the retrained version recommends differently"
ok "${calls[0]:-}" "$before" "first call serves the active version"
ok "${calls[1]:-}" "$before" "while the other session has not committed, the old version is served"
ok "${calls[2]:-}" "$after" "after the commit, the same session serves the new version"
