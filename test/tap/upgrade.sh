#!/usr/bin/env bash
# ALTER EXTENSION kpreco UPDATE from 0.1.0: trained models serve the same
# recommendations, the features of 0.2.0 work on them, and the upgraded
# schema is the schema of a fresh 0.2.0 install, down to comments and
# privileges.
set -euo pipefail
# shellcheck source=lib/tap.bash
. "$(dirname "$0")/lib/tap.bash"

OLD=kpreco_upgrade_old
NEW=kpreco_upgrade_new
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; dropdb --if-exists "$OLD" 2>/dev/null; dropdb --if-exists "$NEW" 2>/dev/null' EXIT

SERVED="SELECT md5(string_agg(line, ',' ORDER BY line)) FROM (
  SELECT format('r%s:%s:%s:%s', u, r.course_id, r.rank, r.score) AS line
    FROM generate_series(1, 35) u, LATERAL kpreco.recommend(u, 5, 'm') r
  UNION ALL
  SELECT format('s%s:%s:%s:%s', c, s.course_id, s.rank, s.similarity)
    FROM generate_series(1, 25) c, LATERAL kpreco.similar_courses(c, 3, 'm') s) t"

# Everything about the extension's objects that an upgrade could get wrong,
# one line per fact, without OIDs.
SCHEMA="
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'kpreco'),
members AS (
	SELECT d.classid, d.objid FROM pg_depend d, ext
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (SELECT c.* FROM pg_class c WHERE c.relnamespace = 'kpreco'::regnamespace)
SELECT line FROM (
	SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
	UNION ALL
	SELECT format('function %s %s acl=%s', p.oid::regprocedure,
				  CASE WHEN p.prokind = 'a' THEN 'aggregate' ELSE pg_get_functiondef(p.oid) END, p.proacl)
	  FROM pg_proc p WHERE p.pronamespace = 'kpreco'::regnamespace
	UNION ALL
	SELECT format('aggregate %s sfunc=%s stype=%s final=%s modify=%s', aggfnoid::regprocedure,
				  aggtransfn, aggtranstype::regtype, aggfinalfn, aggfinalmodify)
	  FROM pg_aggregate WHERE aggfnoid IN (SELECT objid FROM members)
	UNION ALL
	SELECT format('relation %s kind=%s rls=%s force=%s options=%s acl=%s', relname, relkind,
				  relrowsecurity, relforcerowsecurity, reloptions, relacl) FROM rels
	UNION ALL
	SELECT format('column %s.%s #%s %s notnull=%s default=%s', c.relname, a.attname, a.attnum,
				  format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid))
	  FROM rels c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	UNION ALL
	SELECT format('constraint %s.%s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
	  FROM rels c JOIN pg_constraint k ON k.conrelid = c.oid
	UNION ALL
	SELECT format('index %s', pg_get_indexdef(i.indexrelid))
	  FROM rels c JOIN pg_index i ON i.indrelid = c.oid
	UNION ALL
	SELECT format('trigger %s', pg_get_triggerdef(t.oid))
	  FROM rels c JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
	UNION ALL
	SELECT format('policy %s.%s %s %s to=%s using=%s check=%s', tablename, policyname, permissive, cmd,
				  roles, qual, with_check)
	  FROM pg_policies WHERE schemaname = 'kpreco'
	UNION ALL
	SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid)) FROM rels c WHERE c.relkind = 'v'
	UNION ALL
	SELECT format('sequence %s %s %s..%s by %s cycle=%s cache=%s', sequencename, data_type, start_value,
				  min_value, max_value, increment_by, cycle, cache_size)
	  FROM pg_sequences WHERE schemaname = 'kpreco'
	UNION ALL
	SELECT format('cast %s -> %s via %s %s', castsource::regtype, casttarget::regtype,
				  castfunc::regprocedure, castcontext)
	  FROM pg_cast WHERE oid IN (SELECT objid FROM members WHERE classid = 'pg_cast'::regclass)
	UNION ALL
	SELECT format('type %s len=%s align=%s storage=%s in=%s out=%s recv=%s send=%s', t.oid::regtype,
				  typlen, typalign, typstorage, typinput, typoutput, typreceive, typsend)
	  FROM pg_type t WHERE t.typnamespace = 'kpreco'::regnamespace AND t.typtype = 'b'
	UNION ALL
	SELECT format('schema acl=%s', nspacl) FROM pg_namespace WHERE nspname = 'kpreco'
	UNION ALL
	SELECT format('config %s %s', cfg::regclass, cond)
	  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS t(cfg, cond) WHERE e.extname = 'kpreco'
	UNION ALL
	SELECT format('comment %s: %s', pg_describe_object(classoid, objoid, objsubid), description)
	  FROM pg_description
	 WHERE (classoid = 'pg_proc'::regclass AND objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'kpreco'::regnamespace))
		OR (classoid = 'pg_class'::regclass AND objoid IN (SELECT oid FROM rels))
		OR (classoid = 'pg_type'::regclass AND objoid IN (SELECT oid FROM pg_type WHERE typnamespace = 'kpreco'::regnamespace))
		OR (classoid = 'pg_cast'::regclass AND objoid IN (SELECT objid FROM members))
		OR (classoid = 'pg_trigger'::regclass AND objoid IN (SELECT t.oid FROM pg_trigger t JOIN rels c ON c.oid = t.tgrelid))
		OR (classoid = 'pg_policy'::regclass AND objoid IN (SELECT p.oid FROM pg_policy p JOIN rels c ON c.oid = p.polrelid))
) facts(line) ORDER BY line"

# Members, columns, triggers and policies without a description.
UNDESCRIBED="
WITH objects AS (
	SELECT d.classid, d.objid, 0 AS objsubid FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
	 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'kpreco' AND d.deptype = 'e'
	   AND NOT (d.classid = 'pg_type'::regclass AND d.objid IN (SELECT typarray FROM pg_type))
	UNION ALL
	SELECT 'pg_class'::regclass, a.attrelid, a.attnum FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	 WHERE c.relnamespace = 'kpreco'::regnamespace AND c.relkind IN ('r', 'v') AND a.attnum > 0
	UNION ALL
	SELECT 'pg_trigger'::regclass, t.oid, 0 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	 WHERE c.relnamespace = 'kpreco'::regnamespace AND NOT t.tgisinternal
	UNION ALL
	SELECT 'pg_policy'::regclass, p.oid, 0 FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
	 WHERE c.relnamespace = 'kpreco'::regnamespace)
SELECT coalesce(string_agg(pg_describe_object(classid, objid, objsubid), '; ' ORDER BY 1), '')
  FROM objects o
 WHERE NOT EXISTS (SELECT 1 FROM pg_description d
					WHERE d.classoid = o.classid AND d.objoid = o.objid AND d.objsubid = o.objsubid)"

echo "1..14"
for db in "$OLD" "$NEW"; do
	dropdb --if-exists "$db" 2>/dev/null
	createdb "$db"
done

q "$OLD" "CREATE EXTENSION kpreco VERSION '0.1.0'" >/dev/null
q "$OLD" "CREATE TABLE e AS SELECT 1 + (g * 7) % 35 AS user_id, 1 + (g * g) % 25 AS course_id FROM generate_series(1, 600) g" >/dev/null
q "$OLD" "SELECT kpreco.train('m', 'e', '{\"factors\": 8, \"iterations\": 5, \"seed\": 1}')" >/dev/null
q "$OLD" "SELECT kpreco.train('m', 'e', '{\"factors\": 8, \"iterations\": 5, \"seed\": 2}')" >/dev/null
before=$(q "$OLD" "$SERVED")

# One session serves, is upgraded under, and serves again.
in_session=$(psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$OLD" <<SQL
$SERVED;
ALTER EXTENSION kpreco UPDATE;
$SERVED;
SQL
)
ok "$(q "$OLD" "SELECT extversion FROM pg_extension WHERE extname = 'kpreco'")" "0.2.0" "ALTER EXTENSION kpreco UPDATE reaches 0.2.0"
ok "$in_session" "$before"$'\n'"$before" "a session serves the same before and after the upgrade"
ok "$(q "$OLD" "$SERVED")" "$before" "a new session serves the same recommendations"
ok "$(q "$OLD" "SELECT string_agg(format('%s %s %s', version, active, owner), ', ' ORDER BY version) FROM kpreco.models")" \
	"1 f postgres, 2 t postgres" "existing versions are listed, owned by the role that upgraded"

# What 0.2.0 adds, on the upgraded catalog.
q "$OLD" "SELECT kpreco.activate('m', 1)" >/dev/null
ok "$(q "$OLD" "SELECT version FROM kpreco.models WHERE active")" "1" "activate() switches to version 1"
ok "$(q "$OLD" "SELECT kpreco.train('m')")" "3" "train() retrains from the stored source"
ok "$(q "$OLD" "SELECT count(*) FROM kpreco.training_log WHERE version = 3")" "5" "and logs its five iterations"
q "$OLD" "SELECT kpreco.train('m')" >/dev/null
ok "$(q "$OLD" "SELECT string_agg(version::text, ',' ORDER BY version) FROM kpreco.models")" "2,3,4" \
	"the fourth version prunes the first (keep_versions 3)"
ok "$(q "$OLD" "SELECT kpreco.forget_user(1)")" "3" "forget_user() rewrites every stored version"
q "$OLD" "SELECT kpreco.drop_model('m')" >/dev/null
ok "$(q "$OLD" "SELECT count(*) FROM kpreco.model_versions")" "0" "drop_model() removes the versions"

# The upgraded schema is the fresh one.
q "$NEW" "CREATE EXTENSION kpreco" >/dev/null
q "$OLD" "$SCHEMA" >"$WORK/upgraded.txt"
q "$NEW" "$SCHEMA" >"$WORK/fresh.txt"
differences=$(diff "$WORK/upgraded.txt" "$WORK/fresh.txt" || true)
ok "$differences" "" "the upgraded schema equals a fresh 0.2.0 install ($(wc -l <"$WORK/fresh.txt") facts compared)"
ok_if "$(grep -c '^comment ' "$WORK/fresh.txt") >= 80" "the comparison covers the comments"
ok "$(q "$NEW" "$UNDESCRIBED")" "" "every object, column, trigger and policy has a comment"
ok "$(q "$NEW" "SELECT count(*) FROM pg_proc WHERE pronamespace = 'kpreco'::regnamespace AND (prosecdef OR provolatile = 'i' AND proname IN ('recommend', 'similar_courses', 'predict', 'user_factors', 'course_factors'))")" \
	"0" "no SECURITY DEFINER function, and serving functions are not IMMUTABLE"
