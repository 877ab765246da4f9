#!/usr/bin/env bash
# ALTER EXTENSION kpreco UPDATE to 0.3.0, the default version, from 0.1.0 and
# from 0.2.0: trained models serve the same recommendations before and after
# (in the session that ran the update too), what earlier versions added keeps
# working, the features of 0.3.0 (algorithms, evaluate, split, stored
# evaluations, auto's validation) work on the upgraded catalog, and each
# upgraded schema is the schema of a fresh 0.3.0 install, down to comments,
# privileges and initial privileges.  The frozen 0.2.0 script still equals
# the update from 0.1.0 to 0.2.0.
set -euo pipefail
# shellcheck source=lib/tap.bash
. "$(dirname "$0")/lib/tap.bash"

FROM1=kpreco_upgrade_from010
FROM2=kpreco_upgrade_from020
NEW=kpreco_upgrade_new
OLD020=kpreco_upgrade_020
DATABASES=("$FROM1" "$FROM2" "$NEW" "$OLD020")
WORK=$(mktemp -d)
cleanup() {
	rm -rf "$WORK"
	for db in "${DATABASES[@]}"; do dropdb --if-exists "$db" 2>/dev/null || true; done
}
trap cleanup EXIT

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
	SELECT format('initial privileges %s %s %s', pg_describe_object(i.classoid, i.objoid, i.objsubid), i.privtype, i.initprivs)
	  FROM pg_init_privs i
	 WHERE (i.classoid = 'pg_class'::regclass AND i.objoid IN (SELECT oid FROM rels))
		OR (i.classoid = 'pg_proc'::regclass AND i.objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'kpreco'::regnamespace))
		OR (i.classoid = 'pg_type'::regclass AND i.objoid IN (SELECT oid FROM pg_type WHERE typnamespace = 'kpreco'::regnamespace))
		OR (i.classoid = 'pg_namespace'::regclass AND i.objoid = 'kpreco'::regnamespace)
	UNION ALL
	SELECT format('sequence %s owned by %s', d.objid::regclass, pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid))
	  FROM pg_depend d JOIN rels c ON c.oid = d.objid AND c.relkind = 'S'
	 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'a'
	UNION ALL
	SELECT format('owner %s %s', pg_describe_object('pg_class'::regclass, c.oid, 0), pg_get_userbyid(c.relowner) = e.extowner::regrole::name)
	  FROM rels c, pg_extension e WHERE e.extname = 'kpreco'
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

# The data of the models trained before the update (5 users, 25 courses),
# and held-out rows of those users and of 35 users the models do not know.
DATA="CREATE TABLE e AS SELECT 1 + (g * 7) % 35 AS user_id, 1 + (g * g) % 25 AS course_id FROM generate_series(1, 600) g;
CREATE TABLE e_test AS SELECT u AS user_id, 1 + (u * 3) % 25 AS course_id FROM generate_series(1, 40) u;"
OPTS1='{"factors": 8, "iterations": 5, "seed": 1}'
OPTS2='{"factors": 8, "iterations": 5, "seed": 2}'

echo "1..51"
for db in "${DATABASES[@]}"; do
	dropdb --if-exists "$db" 2>/dev/null
	createdb "$db"
done

# updated DB FROM: the same session serves, is updated under, and serves
# again; a new session serves the same as before.
update_and_serve() {
	local db=$1 from=$2 before in_session
	before=$(q "$db" "$SERVED")
	in_session=$(psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" <<SQL
$SERVED;
ALTER EXTENSION kpreco UPDATE;
$SERVED;
SQL
)
	ok "$(q "$db" "SELECT extversion FROM pg_extension WHERE extname = 'kpreco'")" "0.3.0" \
		"from $from: ALTER EXTENSION kpreco UPDATE reaches 0.3.0"
	ok "$in_session" "$before"$'\n'"$before" "from $from: a session serves the same before and after the update"
	ok "$(q "$db" "$SERVED")" "$before" "from $from: a new session serves the same recommendations"
}

# What 0.3.0 adds, on an updated catalog whose model m has versions 1 and 2.
features_030() {
	local db=$1 from=$2
	# A new session whose first call names no model: m is the only model.
	ok "$(q "$db" "SELECT string_agg(format('%s=%s', metric, value), ' ') FROM kpreco.evaluate(NULL, 'e_test', 5)")" \
		"$(q "$db" "SELECT string_agg(format('%s=%s', metric, value), ' ') FROM kpreco.evaluate('m', 'e_test', 5)")" \
		"from $from: evaluate() of the only model, named or not, in a new session"
	ok "$(q "$db" "SELECT string_agg(metric, ',') FROM kpreco.evaluate('m', 'e_test', 5, '{\"store\": true}')")" \
		"precision,recall,ndcg,map,coverage,diversity,users,cold_users" "from $from: evaluate() of a model trained before the update"
	ok "$(q "$db" "SELECT format('%s %s %s', version, evaluation = (SELECT metrics FROM kpreco.evaluations WHERE name = 'm'), evaluation ->> 'cold_users') FROM kpreco.models WHERE name = 'm' AND active")" \
		"2 t 35" "from $from: the stored evaluation shows in kpreco.models"
	ok "$(q "$db" "SELECT count(*) FROM kpreco.models WHERE validation IS NOT NULL")" "0" \
		"from $from: versions from before the update have no validation"
	ok "$(q "$db" "SELECT kpreco.train('m_ease', 'e', '{\"algorithm\": \"ease\"}') IS NOT NULL")" "t" \
		"from $from: an ease model trains"
	ok "$(q "$db" "SELECT format('%s %s', algorithm, options ? 'regularization') FROM kpreco.models WHERE name = 'm_ease'")" \
		"ease t" "from $from: kpreco.models shows its algorithm and the lambda used"
	ok "$(q "$db" "SELECT count(*) FROM kpreco.similar_courses(1, 3, 'm_ease')") $(q "$db" "SELECT count(*) FROM kpreco.recommend(1, 3, 'm_ease')")" \
		"3 3" "from $from: the ease model serves"
	ok "$(sqlstate "$db" "SELECT * FROM kpreco.user_factors('m_ease')")" \
		'0A000: kpreco model "m_ease" (ease) has no user factors' "from $from: an ease model has no user factors"
	ok "$(q "$db" "SELECT string_agg(format('%s %s', part, rows), ', ') FROM kpreco.split('e', 'e_holdout', '{\"method\": \"random\", \"seed\": 3}')")" \
		"$(q "$db" "SELECT format('train %s, test %s', sum(n - held), sum(held)) FROM (SELECT user_id, count(*) AS n, CASE WHEN count(*) >= 5 THEN ceil(0.2 * count(*)) ELSE 0 END AS held FROM e GROUP BY user_id) s")" \
		"from $from: split() holds out 20% of each user"
	ok "$(q "$db" "SELECT kpreco.train('m_auto', 'e', '{\"algorithm\": \"auto\", \"keep_versions\": 2}') IS NOT NULL")" "t" \
		"from $from: algorithm auto trains"
	ok "$(q "$db" "SELECT jsonb_array_length(validation -> 'candidates') = (SELECT count(*) FROM kpreco.auto_candidates()) AND algorithm = validation -> 'chosen' ->> 'algorithm' FROM kpreco.models WHERE name = 'm_auto'")" \
		"t" "from $from: and records its validation in the catalog"
	ok "$(q "$db" "SELECT kpreco.train('m_decay', 'SELECT user_id, course_id, course_id AS t FROM e', '{\"algorithm\": \"popular\", \"time_column\": \"t\", \"half_life_days\": 0.001}') IS NOT NULL")" \
		"t" "from $from: time decay trains"
	q "$db" "SELECT kpreco.activate('m', 1)" >/dev/null
	ok "$(q "$db" "SELECT version FROM kpreco.models WHERE name = 'm' AND active")" "1" \
		"from $from: activate() a version from before the update"
	local v3 v4 v5
	v3=$(q "$db" "SELECT kpreco.train('m')")
	v4=$(q "$db" "SELECT kpreco.train('m')")
	v5=$(q "$db" "SELECT kpreco.train('m')")
	ok "$(q "$db" "SELECT version FROM kpreco.models WHERE name = 'm' AND active")" "$v5" \
		"from $from: train() retrains from the stored source"
	ok "$(q "$db" "SELECT string_agg(version::text, ',' ORDER BY version) FROM kpreco.models WHERE name = 'm'")" \
		"$v3,$v4,$v5" "from $from: and prunes the versions from before the update (keep_versions 3)"
	ok "$(q "$db" "SELECT count(*) FROM kpreco.evaluations WHERE name = 'm' AND version = 2")" "1" \
		"from $from: the evaluation of the pruned version 2 is kept"
	q "$db" "SELECT kpreco.drop_model(name) FROM kpreco.model_registry" >/dev/null
	ok "$(q "$db" "SELECT (SELECT count(*) FROM kpreco.model_versions) + (SELECT count(*) FROM kpreco.evaluations)")" "0" \
		"from $from: drop_model() removes versions and evaluations"
}

# From 0.1.0 ------------------------------------------------------------------------------

q "$FROM1" "CREATE EXTENSION kpreco VERSION '0.1.0'" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$FROM1" -c "$DATA" >/dev/null
q "$FROM1" "SELECT kpreco.train('m', 'e', '$OPTS1')" >/dev/null
q "$FROM1" "SELECT kpreco.train('m', 'e', '$OPTS2')" >/dev/null
update_and_serve "$FROM1" 0.1.0
ok "$(q "$FROM1" "SELECT string_agg(format('%s %s %s', version, active, owner), ', ' ORDER BY version) FROM kpreco.models")" \
	"1 f postgres, 2 t postgres" "from 0.1.0: existing versions are listed, owned by the role that updated"
features_030 "$FROM1" 0.1.0

# From 0.2.0 ------------------------------------------------------------------------------

q "$FROM2" "CREATE EXTENSION kpreco VERSION '0.2.0'" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$FROM2" -c "$DATA" >/dev/null
q "$FROM2" "SELECT kpreco.train('m', 'e', '$OPTS1')" >/dev/null
q "$FROM2" "SELECT kpreco.train('m', 'e', '$OPTS2')" >/dev/null
q "$FROM2" "SELECT kpreco.grant_model('m', 'public')" >/dev/null
log_before=$(q "$FROM2" "SELECT string_agg(format('%s:%s', version, iteration), ',' ORDER BY version, iteration) FROM kpreco.training_log")
update_and_serve "$FROM2" 0.2.0
ok "$(q "$FROM2" "SELECT string_agg(format('%s %s %s %s', m.version, m.active, m.owner, array_to_string(r.readers, ';')), ', ' ORDER BY m.version) FROM kpreco.models m JOIN kpreco.model_registry r USING (name)")" \
	"1 f postgres public, 2 t postgres public" "from 0.2.0: versions, owner and readers are kept"
ok "$(q "$FROM2" "SELECT string_agg(format('%s:%s', version, iteration), ',' ORDER BY version, iteration) FROM kpreco.training_log")" \
	"$log_before" "from 0.2.0: the training log is kept"
features_030 "$FROM2" 0.2.0

# The schemas ----------------------------------------------------------------------------

q "$NEW" "CREATE EXTENSION kpreco" >/dev/null
ok "$(q "$NEW" "SELECT extversion FROM pg_extension WHERE extname = 'kpreco'")" "0.3.0" "a fresh install is 0.3.0"
q "$NEW" "$SCHEMA" >"$WORK/fresh.txt"
for db in "$FROM1" "$FROM2"; do
	q "$db" "$SCHEMA" >"$WORK/$db.txt"
	# The first 60 lines of the differences ("<": only updated, ">": only fresh).
	differences=$(diff "$WORK/$db.txt" "$WORK/fresh.txt" | head -n 60 || true)
	ok "$differences" "" "the schema updated ${db#kpreco_upgrade_} equals a fresh 0.3.0 install ($(wc -l <"$WORK/fresh.txt") facts compared)"
done
ok_if "$(grep -c '^comment ' "$WORK/fresh.txt") >= 100" "the comparison covers the comments"
ok_if "$(grep -c '^initial privileges ' "$WORK/fresh.txt") >= 5" "and the initial privileges pg_dump relies on"
ok "$(q "$NEW" "$UNDESCRIBED")" "" "every object, column, trigger and policy has a comment"
ok "$(q "$NEW" "SELECT count(*) FROM pg_proc WHERE pronamespace = 'kpreco'::regnamespace AND (prosecdef OR provolatile = 'i' AND proname IN ('recommend', 'similar_courses', 'predict', 'user_factors', 'course_factors', 'evaluate', 'split'))")" \
	"0" "no SECURITY DEFINER function, and serving and evaluation functions are not IMMUTABLE"

# The frozen 0.2.0 install script is what the update from 0.1.0 made of 0.2.0.
q "$OLD020" "CREATE EXTENSION kpreco VERSION '0.2.0'" >/dev/null
q "$OLD020" "$SCHEMA" >"$WORK/fresh020.txt"
q "$OLD020" "DROP EXTENSION kpreco; CREATE EXTENSION kpreco VERSION '0.1.0'; ALTER EXTENSION kpreco UPDATE TO '0.2.0'" >/dev/null
q "$OLD020" "$SCHEMA" >"$WORK/updated020.txt"
ok "$(diff "$WORK/updated020.txt" "$WORK/fresh020.txt" | head -n 60 || true)" "" \
	"0.1.0 updated to 0.2.0 equals the frozen 0.2.0 install ($(wc -l <"$WORK/fresh020.txt") facts compared)"
