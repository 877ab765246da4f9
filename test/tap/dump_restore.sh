#!/usr/bin/env bash
# pg_dump / pg_restore of a database with trained models, in custom and in
# plain format: the restored database serves identical recommendations.
set -euo pipefail

SRC=kpreco_dump_src
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; dropdb --if-exists "$SRC" 2>/dev/null; dropdb --if-exists "${SRC}_custom" 2>/dev/null; dropdb --if-exists "${SRC}_plain" 2>/dev/null' EXIT

n=0
ok() { n=$((n + 1)); if [[ "$1" == "$2" ]]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "# got:      $1"; echo "# expected: $2"; fi; }
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# Every user's recommendations and every course's neighbours, as one digest.
SERVED="SELECT md5(string_agg(line, ',' ORDER BY line)) FROM (
  SELECT format('r%s:%s:%s:%s', u, r.course_id, r.rank, r.score) AS line
    FROM generate_series(1, 61) u, LATERAL kpreco.recommend(u, 5, 'enrolments') r
  UNION ALL
  SELECT format('s%s:%s:%s:%s', c, s.course_id, s.rank, s.similarity)
    FROM generate_series(1, 40) c, LATERAL kpreco.similar_courses(c, 3, 'enrolments') s) t"
CATALOG="SELECT md5(string_agg(format('%s %s %s %s %s %s', name, version, active, n_users, n_interactions, options), ';' ORDER BY version)) FROM kpreco.models"

echo "1..6"
dropdb --if-exists "$SRC" 2>/dev/null
createdb "$SRC"
q "$SRC" "CREATE EXTENSION kpreco" >/dev/null
q "$SRC" "CREATE TABLE enrolments AS
            SELECT 1 + (g * 7) % 61 AS user_id, 1 + (g * g) % 40 AS course_id, 1 + g % 3 AS w
              FROM generate_series(1, 900) g" >/dev/null
q "$SRC" "SELECT kpreco.train('enrolments', 'enrolments', '{\"factors\": 16, \"weight_column\": \"w\"}')" >/dev/null
q "$SRC" "SELECT kpreco.train('enrolments', 'enrolments', '{\"factors\": 8, \"seed\": 7}')" >/dev/null
q "$SRC" "SELECT kpreco.train('other', 'SELECT user_id, course_id FROM enrolments WHERE w = 1', '{\"factors\": 4}')" >/dev/null
served=$(q "$SRC" "$SERVED")
catalog=$(q "$SRC" "$CATALOG")

pg_dump -Fc -f "$WORK/db.dump" "$SRC"
createdb "${SRC}_custom"
pg_restore -d "${SRC}_custom" "$WORK/db.dump"
ok "$(q "${SRC}_custom" "$SERVED")" "$served" "custom format: same recommendations and similar courses"
ok "$(q "${SRC}_custom" "$CATALOG")" "$catalog" "custom format: same catalog, same active versions"
ok "$(q "${SRC}_custom" "SELECT kpreco.train('enrolments')")" "4" "custom format: retraining continues the version sequence"

pg_dump -Fp -f "$WORK/db.sql" "$SRC"
createdb "${SRC}_plain"
psql -X -q -v ON_ERROR_STOP=1 -d "${SRC}_plain" -f "$WORK/db.sql" >/dev/null
ok "$(q "${SRC}_plain" "$SERVED")" "$served" "plain format (text form of kpreco.model): same recommendations"
ok "$(q "${SRC}_plain" "$CATALOG")" "$catalog" "plain format: same catalog"
ok "$(q "${SRC}_plain" "SELECT count(*) FROM kpreco.model_versions v, LATERAL kpreco.model_info(v.model)")" "3" "plain format: every stored version validates"
