#!/usr/bin/env bash
# Scheduled retraining with pg_cron: a job that runs SELECT kpreco.train(m)
# in the database pg_cron serves (cron.database_name, in background workers)
# trains and activates a new version.  pg_cron 1.5 and later run a job every
# few seconds; older ones at the start of the next minute, so the wait is
# bounded by 75 s there.
set -euo pipefail
# shellcheck source=lib/tap.bash
. "$(dirname "$0")/lib/tap.bash"

DB=$(psql -X -q -t -A -c "SHOW cron.database_name")
JOB=kpreco_tap_cron
cleanup() {
	q "$DB" "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '$JOB'" >/dev/null 2>&1 || true
	q "$DB" "DELETE FROM kpreco.model_versions WHERE name = 'tap_cron';
		DELETE FROM kpreco.model_registry WHERE name = 'tap_cron';
		DROP TABLE IF EXISTS tap_cron_enrollments" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "1..5"
q "$DB" "CREATE EXTENSION IF NOT EXISTS pg_cron; CREATE EXTENSION IF NOT EXISTS kpreco" >/dev/null 2>&1
cleanup
q "$DB" "CREATE TABLE tap_cron_enrollments AS
	SELECT 1 + (g * 7) % 50 AS user_id, 1 + (g * g) % 20 AS course_id FROM generate_series(1, 800) g" >/dev/null
first=$(q "$DB" "SELECT kpreco.train('tap_cron', 'tap_cron_enrollments', '{\"factors\": 4, \"iterations\": 3}')")

if jobid=$(q "$DB" "SELECT cron.schedule('$JOB', '2 seconds', \$\$SELECT kpreco.train('tap_cron')\$\$)" 2>/dev/null); then
	limit=30
else
	jobid=$(q "$DB" "SELECT cron.schedule('$JOB', '* * * * *', \$\$SELECT kpreco.train('tap_cron')\$\$)")
	limit=75
fi
ok "$(q "$DB" "SELECT command FROM cron.job WHERE jobid = $jobid")" "SELECT kpreco.train('tap_cron')" \
	"a job retrains the model (schedule $(q "$DB" "SELECT schedule FROM cron.job WHERE jobid = $jobid"))"

started=$(now_ms)
status=""
while (($(now_ms) - started < limit * 1000)); do
	status=$(q "$DB" "SELECT string_agg(status, ',') FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed')")
	[[ -n "$status" ]] && break
	sleep 0.5
done
ok "${status%%,*}" "succeeded" "the job ran within $limit s ($(( ($(now_ms) - started) / 1000 )) s)"
if [[ "${status%%,*}" == failed ]]; then
	q "$DB" "SELECT return_message FROM cron.job_run_details WHERE jobid = $jobid" | sed 's/^/# /'
fi
q "$DB" "SELECT cron.unschedule($jobid)" >/dev/null
active=$(q "$DB" "SELECT version FROM kpreco.models WHERE name = 'tap_cron' AND active")
ok_if "${active:-0} > $first" "a newer version is active (version ${active:-none}, after $first)"
ok "$(q "$DB" "SELECT count(*) FROM kpreco.training_log WHERE version = ${active:-0}")" "3" "with its training log"
ok "$(q "$DB" "SELECT count(*) FROM cron.job WHERE jobname = '$JOB'")" "0" "the job is unscheduled"
q "$DB" "DELETE FROM cron.job_run_details WHERE jobid = $jobid" >/dev/null
