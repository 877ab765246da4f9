#!/usr/bin/env bash
# Who may read, serve, train and change a model: its owner, roles granted
# on it, and nobody else.  Training reads the source with the caller's
# rights.  One session that changes roles is served only what the current
# role may read, and loses a model as soon as a role membership is revoked.
set -euo pipefail
# shellcheck source=lib/tap.bash
. "$(dirname "$0")/lib/tap.bash"

DB=kpreco_privileges
OWNER=kp_tap_owner
READER=kp_tap_reader
STRANGER=kp_tap_stranger
MEMBER=kp_tap_member
TEAM=kp_tap_team
OUT=$(mktemp)
ROLES="$OWNER, $READER, $STRANGER, $MEMBER, $TEAM"
cleanup() {
	rm -f "$OUT"
	dropdb --if-exists "$DB" 2>/dev/null
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $ROLES" 2>/dev/null
}
trap cleanup EXIT

RECS="SELECT string_agg(course_id::text, ',' ORDER BY rank) FROM kpreco.recommend(1, 5, 'pm')"

echo "1..40"
dropdb --if-exists "$DB" 2>/dev/null
psql -X -q -d postgres -c "DROP ROLE IF EXISTS $ROLES" 2>/dev/null
createdb "$DB"
q "$DB" "CREATE EXTENSION kpreco;
	CREATE ROLE $OWNER LOGIN; CREATE ROLE $READER LOGIN; CREATE ROLE $STRANGER LOGIN;
	CREATE ROLE $MEMBER LOGIN; CREATE ROLE $TEAM NOLOGIN;
	GRANT $TEAM TO $MEMBER;
	CREATE TABLE e AS SELECT 1 + (g * 7) % 40 AS user_id, 1 + (g * g) % 30 AS course_id FROM generate_series(1, 900) g;
	ALTER TABLE e OWNER TO $OWNER;
	GRANT SELECT ON e TO $READER, $TEAM" >/dev/null

# The owner.
ok "$(q "$DB" "SELECT kpreco.train('pm', 'e', '{\"factors\": 8, \"iterations\": 4}')" "$OWNER")" "1" "the owner trains from its table"
ok "$(q "$DB" "SELECT owner FROM kpreco.model_registry WHERE name = 'pm'" "$OWNER")" "$OWNER" "and owns the model"
owner_recs=$(q "$DB" "$RECS" "$OWNER")
ok_if "${#owner_recs} > 0" "and is served"

# A stranger: the model does not exist for it, and training reads with its own rights.
ok "$(sqlstate "$DB" "SELECT kpreco.train('other', 'e')" "$STRANGER")" "42501: permission denied for table e" \
	"a stranger cannot train from a table it cannot read"
ok "$(sqlstate "$DB" "$RECS" "$STRANGER")" '42704: kpreco model "pm" does not exist' "a stranger is not served the model"
ok "$(sqlstate "$DB" "SELECT kpreco.train('pm')" "$STRANGER")" '42704: kpreco model "pm" does not exist' "nor can retrain it"
ok "$(sqlstate "$DB" "SELECT kpreco.activate('pm', 1)" "$STRANGER")" '42704: kpreco model "pm" does not exist' "nor activate a version"
ok "$(sqlstate "$DB" "SELECT kpreco.drop_model('pm')" "$STRANGER")" '42704: kpreco model "pm" does not exist' "nor drop it"
ok "$(sqlstate "$DB" "SELECT kpreco.grant_model('pm', '$STRANGER')" "$STRANGER")" '42704: kpreco model "pm" does not exist' "nor grant it to itself"
ok "$(sqlstate "$DB" "SELECT kpreco.train('pm', 'SELECT 1 AS user_id, 2 AS course_id')" "$STRANGER")" \
	'42501: kpreco model name "pm" is taken by a model this role cannot read' "nor train another model under its name"
ok "$(q "$DB" "SELECT (SELECT count(*) FROM kpreco.models) + (SELECT count(*) FROM kpreco.model_versions)
	+ (SELECT count(*) FROM kpreco.model_registry) + (SELECT count(*) FROM kpreco.training_log)" "$STRANGER")" "0" \
	"the catalog shows a stranger no row"
leaked=$(psql -X -q -t -A -U "$STRANGER" -d "$DB" 2>&1 <<'SQL'
CREATE FUNCTION pg_temp.leak(name text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $$
BEGIN
	RAISE NOTICE 'saw %', name;
	RETURN true;
END
$$;
SELECT count(*) FROM kpreco.models WHERE pg_temp.leak(name);
SQL
)
ok "$leaked" "0" "not even to a cheap function in a condition on kpreco.models"
ok "$(q "$DB" "WITH changed AS (UPDATE kpreco.model_registry SET owner = current_user RETURNING 1) SELECT count(*) FROM changed" "$STRANGER")" "0" \
	"a stranger's UPDATE of the registry changes nothing"
ok "$(q "$DB" "WITH gone AS (DELETE FROM kpreco.model_versions RETURNING 1) SELECT count(*) FROM gone" "$STRANGER")" "0" \
	"nor does its DELETE of the versions"
ok "$(sqlstate "$DB" "INSERT INTO kpreco.model_registry (name, owner) VALUES ('planted', '$OWNER')" "$STRANGER")" \
	'42501: new row violates row-level security policy for table "model_registry"' "a stranger cannot plant a model on another role"
ok "$(sqlstate "$DB" "INSERT INTO kpreco.training_log VALUES ('pm', 1, 99, 0, 0, now())" "$STRANGER")" \
	'42501: new row violates row-level security policy for table "training_log"' "nor write into another model's log"
ok "$(sqlstate "$DB" "TRUNCATE kpreco.model_versions" "$STRANGER")" \
	'42501: permission denied for table model_versions' "nor TRUNCATE the catalog"
ok "$(q "$DB" "SELECT kpreco.forget_user(1)" "$STRANGER")" "0" "forget_user changes no model a stranger does not own"

# A reader: served, but cannot change the model.
ok "$(sqlstate "$DB" "$RECS" "$READER")" '42704: kpreco model "pm" does not exist' "before a grant, a reader is a stranger"
q "$DB" "SELECT kpreco.grant_model('pm', '$READER')" "$OWNER" >/dev/null
ok "$(q "$DB" "$RECS" "$READER")" "$owner_recs" "after grant_model, the reader is served what the owner is"
ok "$(q "$DB" "SELECT string_agg(name || ' ' || owner, ',') FROM kpreco.models" "$READER")" "pm $OWNER" "and sees the model in kpreco.models"
ok "$(sqlstate "$DB" "SELECT kpreco.train('pm')" "$READER")" '42501: must be owner of kpreco model "pm"' \
	"a reader cannot retrain (even with SELECT on the source)"
ok "$(sqlstate "$DB" "SELECT kpreco.activate('pm', 1)" "$READER")" '42501: must be owner of kpreco model "pm"' "nor activate"
ok "$(sqlstate "$DB" "SELECT kpreco.drop_model('pm')" "$READER")" '42501: must be owner of kpreco model "pm"' "nor drop"
ok "$(sqlstate "$DB" "SELECT kpreco.grant_model('pm', '$STRANGER')" "$READER")" '42501: must be owner of kpreco model "pm"' "nor grant"
ok "$(q "$DB" "SELECT kpreco.forget_user(1)" "$READER")" "0" "nor forget a user in it"
ok "$(q "$DB" "$RECS" "$READER")" "$owner_recs" "which is still served unchanged"

# One session, three roles: the cache serves each only what it may read.
psql -X -q -t -A -d "$DB" >"$OUT" 2>&1 <<SQL
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	result text;
BEGIN
	EXECUTE statement INTO result;
	RETURN result;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
\$\$;
SET ROLE $OWNER;
SELECT pg_temp.try(\$q\$$RECS\$q\$);
SET ROLE $STRANGER;
SELECT pg_temp.try(\$q\$$RECS\$q\$);
SET ROLE $READER;
SELECT pg_temp.try(\$q\$$RECS\$q\$);
SET ROLE $OWNER;
SELECT kpreco.revoke_model('pm', '$READER');
SET ROLE $READER;
SELECT pg_temp.try(\$q\$$RECS\$q\$);
RESET ROLE;
SELECT pg_temp.try(\$q\$$RECS\$q\$);
SQL
mapfile -t in_session <"$OUT"
ok "${in_session[*]}" "$owner_recs 42704 $owner_recs  42704 $owner_recs" \
	"one session: owner served, stranger not, reader served, after revoke_model not, superuser served"

# Team ownership and membership.
ok "$(sqlstate "$DB" "UPDATE kpreco.model_registry SET owner = '$TEAM' WHERE name = 'pm'" "$OWNER")" \
	'42501: new row violates row-level security policy for table "model_registry"' \
	"an owner cannot hand the model to a role it does not belong to"
q "$DB" "GRANT $TEAM TO $OWNER" >/dev/null
q "$DB" "UPDATE kpreco.model_registry SET owner = '$TEAM' WHERE name = 'pm'" "$OWNER" >/dev/null
ok "$(q "$DB" "SELECT owner FROM kpreco.model_registry WHERE name = 'pm'")" "$TEAM" \
	"an owner hands the model to a role it belongs to"
ok "$(q "$DB" "SELECT kpreco.train('pm')" "$MEMBER")" "2" "any member of the owning role retrains it"
ok "$(q "$DB" "SELECT kpreco.activate('pm', 1)" "$MEMBER")" "" "and activates a version"

# Revoking a membership takes the model away from a session at its next statement.
psql -X -q -t -A -U "$MEMBER" -d "$DB" >"$OUT" 2>&1 <<SQL &
\\set VERBOSITY verbose
$RECS;
SELECT pg_sleep(2);
$RECS;
SQL
member_session=$!
sleep 1
q "$DB" "REVOKE $TEAM FROM $MEMBER" >/dev/null
wait "$member_session" || true
ok "$(head -n 1 "$OUT")" "$owner_recs" "a member is served the team's model"
ok "$(grep -c 'ERROR:  42704: kpreco model "pm" does not exist' "$OUT")" "1" \
	"and, once its membership is revoked, the same session is not"

# public, and superusers.
q "$DB" "SELECT kpreco.grant_model('pm', 'public')" "$OWNER" >/dev/null
ok "$(q "$DB" "$RECS" "$STRANGER")" "$owner_recs" "granted to public, every role is served"
q "$DB" "SELECT kpreco.revoke_model('pm', 'PUBLIC')" "$OWNER" >/dev/null
ok "$(sqlstate "$DB" "$RECS" "$STRANGER")" '42704: kpreco model "pm" does not exist' "revoked from public, a stranger is not"
ok "$(q "$DB" "SELECT count(*) FROM kpreco.models")" "2" "a superuser sees every model (row-level security does not apply)"

# Dropped by its owner, the model is gone for the reader too.
q "$DB" "SELECT kpreco.grant_model('pm', '$READER')" "$OWNER" >/dev/null
q "$DB" "SELECT kpreco.drop_model('pm')" "$OWNER" >/dev/null
ok "$(sqlstate "$DB" "$RECS" "$READER")" '42704: kpreco model "pm" does not exist' "after drop_model, the reader is not served"
ok "$(q "$DB" "SELECT count(*) FROM kpreco.model_versions")" "0" "and no version is left"
ok "$(q "$DB" "SELECT count(*) FROM pg_proc WHERE pronamespace = 'kpreco'::regnamespace AND prosecdef")" "0" \
	"no kpreco function runs with its owner's rights"
