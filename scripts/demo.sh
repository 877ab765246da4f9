#!/usr/bin/env bash
#
# demo.sh -- build and install kpreco, then train it on a synthetic
# knowledge-paid platform and show what it recommends.
#
#   bash scripts/demo.sh
#
# On Debian (as root, or with sudo) it first installs whatever build and
# server packages are missing. It runs against a throw-away cluster in a
# temporary directory, removed at exit, unless PGHOST or PGDATABASE is set:
# then it uses that server and database (it creates schema demo there and a
# model named courses).
#
# Environment:
#   PG_CONFIG       pg_config of the PostgreSQL to build for (default: pg_config)
#   KEEP_CLUSTER=1  keep the throw-away cluster running and print how to reach it
#   PGHOST, PGPORT, PGUSER, PGDATABASE   use an existing server instead

set -euo pipefail

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=pgcluster.sh
. "$SCRIPTS_DIR/pgcluster.sh"

# Packages the build and a local server need.
demo_packages() {
	local v
	v=$(pgc_pg_major)
	echo "build-essential pkg-config libopenblas-dev postgresql-$v postgresql-server-dev-$v"
}

# psql for the demo: no psqlrc, quiet, stop at the first error.
demo_psql() {
	psql -X -q -v ON_ERROR_STOP=1 -P pager=off "$@"
}

connect_to_server() {
	if [[ -n "${PGHOST:-}" || -n "${PGDATABASE:-}" ]]; then
		pgc_say "Using the server at ${PGHOST:-default socket}${PGPORT:+ port $PGPORT}, database ${PGDATABASE:-default}"
		pg_isready -q || pgc_die "no server answers at ${PGHOST:-default socket}${PGPORT:+ port $PGPORT}"
	else
		pgc_start --database kpreco_demo
	fi
}

load_data() {
	pgc_say "Loading the synthetic platform (scripts/demo_data.sql)"
	local started=$SECONDS
	demo_psql -f "$SCRIPTS_DIR/demo_data.sql"
	echo "    loaded in $((SECONDS - started)) s"
}

# The SQL that shows one known user's history and recommendations.
user_sql() {
	local user=$1 why=$2
	cat <<SQL
\echo
\echo '━━ User $user ($why): what they did ━━'
SELECT c.category,
       count(*) FILTER (WHERE e.kind = 'purchase') AS purchases,
       count(*) FILTER (WHERE e.kind = 'trial') AS trials,
       count(*) FILTER (WHERE e.kind = 'view') AS views
FROM demo.enrollments e JOIN demo.courses c USING (course_id)
WHERE e.user_id = $user
GROUP BY c.category
ORDER BY purchases DESC, trials DESC, views DESC, c.category;

\echo
\echo '━━ User $user: top 10 ━━'
\echo 'SELECT r.rank, c.title_zh, c.title_en, c.category, round(r.score::numeric, 3) FROM recommend($user, 10) r JOIN demo.courses c ON c.course_id = r.course_id ORDER BY r.rank'
SELECT r.rank, c.title_zh, c.title_en, c.category, round(r.score::numeric, 3) AS score
FROM recommend($user, 10) r
JOIN demo.courses c ON c.course_id = r.course_id
ORDER BY r.rank;
SQL
}

show_demo() {
	local fan course
	# Besides user 42: the keenest music buyer, and a course to find neighbours for.
	fan=$(demo_psql -At -c "
		SELECT e.user_id
		FROM demo.enrollments e JOIN demo.courses c USING (course_id)
		WHERE c.category = '音乐 Music' AND e.kind = 'purchase'
		GROUP BY e.user_id
		ORDER BY count(*) DESC, e.user_id
		LIMIT 1")
	course=$(demo_psql -At -c "
		SELECT course_id FROM demo.courses
		WHERE title_en = 'Hands-on Python Data Analysis'")
	[[ -n "$fan" && -n "$course" ]] || pgc_die "demo data is incomplete: run scripts/demo_data.sql again"

	{
		cat <<'SQL'
\pset linestyle unicode
\pset border 1
\pset footer off
\pset null '—'

\echo
\echo '━━ The platform (schema demo) ━━'
SELECT (SELECT count(*) FROM demo.courses) AS courses,
       (SELECT count(*) FROM demo.users) AS users,
       (SELECT count(*) FROM demo.enrollments) AS enrollments,
       (SELECT count(*) FROM demo.enrollments WHERE kind = 'purchase') AS purchases;

\echo
\echo '━━ Training ━━'
\echo 'SELECT kpreco.train(''courses'', ''demo.enrollments'', ''{"weight_column": "weight"}'')'
\timing on
SELECT kpreco.train('courses', 'demo.enrollments', '{"weight_column": "weight"}') AS version;
\timing off

\echo
\echo '━━ Models ━━'
\echo 'SET search_path = kpreco, public;  -- from here on, unqualified names work'
SET search_path = kpreco, public;
\echo 'SELECT * FROM models'
\x on
SELECT * FROM models ORDER BY name, version;
\x off
SQL
		user_sql 42 "a typical user"
		user_sql "$fan" "the keenest music buyer"
		cat <<SQL

\echo
\echo '━━ User 999999999, never seen: the most popular courses ━━'
\echo 'SELECT ... FROM recommend(999999999, 10) r JOIN demo.courses c ON c.course_id = r.course_id ORDER BY r.rank'
SELECT r.rank, c.title_zh, c.title_en, c.category, round(r.score::numeric, 3) AS score
FROM recommend(999999999, 10) r
JOIN demo.courses c ON c.course_id = r.course_id
ORDER BY r.rank;

\echo
\echo '━━ Courses similar to $course, Python 数据分析实战 (Hands-on Python Data Analysis) ━━'
\echo 'SELECT s.rank, c.title_zh, c.title_en, c.category, round(s.similarity::numeric, 3) FROM similar_courses($course, 10) s JOIN demo.courses c ON c.course_id = s.course_id ORDER BY s.rank'
SELECT s.rank, c.title_zh, c.title_en, c.category, round(s.similarity::numeric, 3) AS similarity
FROM similar_courses($course, 10) s
JOIN demo.courses c ON c.course_id = s.course_id
ORDER BY s.rank;

\echo
\echo '━━ Only finance courses under 100 yuan, for user 42 ━━'
\echo 'SELECT ... FROM recommend(42, 5, candidates => (SELECT array_agg(course_id) FROM demo.courses WHERE category LIKE ''%Finance'' AND price < 100)) r ...'
SELECT r.rank, c.title_zh, c.title_en, c.price, round(r.score::numeric, 3) AS score
FROM recommend(42, 5, candidates => (SELECT array_agg(course_id) FROM demo.courses
                                      WHERE category LIKE '%Finance' AND price < 100)) r
JOIN demo.courses c ON c.course_id = r.course_id
ORDER BY r.rank;

\echo
\echo '━━ An anonymous visitor who just looked at course $course ━━'
\echo 'SELECT ... FROM recommend_for_courses(ARRAY[$course], k => 5) r ...'
SELECT r.rank, c.title_zh, c.title_en, c.category, round(r.score::numeric, 3) AS score
FROM recommend_for_courses(ARRAY[$course::bigint], k => 5) r
JOIN demo.courses c ON c.course_id = r.course_id
ORDER BY r.rank;

\echo
\echo '━━ Who should get a coupon for course $course ━━'
\echo 'SELECT * FROM audience($course, 5)'
SELECT * FROM audience($course, 5);

\echo
\echo '━━ Four segments of users for campaigns, and what sets each apart ━━'
\echo 'SELECT ... FROM segment_profile(4, k => 2) p JOIN demo.courses c ...'
SELECT p.segment, p.users, p.rank, c.title_en, c.category
FROM segment_profile(4, k => 2) p
JOIN demo.courses c ON c.course_id = p.course_id
ORDER BY p.segment, p.rank;

\echo
\echo '━━ Choosing a model by held-out data: the latest 20% of each user ━━'
\echo 'SELECT * FROM split(''demo.enrollments'', ''demo.holdout'', ''{"time_column": "enrolled_at"}'')'
SELECT * FROM split('demo.enrollments', 'demo.holdout', '{"time_column": "enrolled_at", "replace": true}');
\echo 'SELECT kpreco.train(''candidate_<algorithm>'', ''demo.holdout_train'', ...); SELECT * FROM evaluate(''candidate_<algorithm>'', ''demo.holdout_test'')'
SELECT a.algorithm,
       train('candidate_' || a.algorithm, 'demo.holdout_train',
             jsonb_build_object('algorithm', a.algorithm, 'weight_column', 'weight')) AS version
FROM unnest(ARRAY['popular', 'ials', 'bpr', 'ease']) a(algorithm);
SELECT a.algorithm,
       round(max(e.value) FILTER (WHERE e.metric = 'ndcg')::numeric, 4) AS ndcg_at_10,
       round(max(e.value) FILTER (WHERE e.metric = 'precision')::numeric, 4) AS precision_at_10,
       round(max(e.value) FILTER (WHERE e.metric = 'coverage')::numeric, 3) AS coverage
FROM unnest(ARRAY['popular', 'ials', 'bpr', 'ease']) a(algorithm),
     evaluate('candidate_' || a.algorithm, 'demo.holdout_test') e
GROUP BY a.algorithm
ORDER BY ndcg_at_10 DESC;
SQL
	} | demo_psql
}

main() {
	pgc_ensure_packages "$(demo_packages)"
	pgc_setup_pg_config
	local log
	log=$(mktemp /tmp/kpreco-build.XXXXXX.log)
	pgc_at_exit "rm -f '$log'"
	pgc_build_install "$log" || pgc_die "the build failed"

	connect_to_server
	# Chinese titles: psql aligns them only when it knows the encoding.
	export PGCLIENTENCODING=UTF8

	pgc_say "CREATE EXTENSION kpreco"
	demo_psql -c 'SET client_min_messages = warning' \
		-c 'CREATE EXTENSION IF NOT EXISTS kpreco' \
		-c 'ALTER EXTENSION kpreco UPDATE'
	load_data
	show_demo
	echo
	pgc_say "Done"
}

main "$@"
