# shellcheck shell=bash
#
# pgcluster.sh -- shell functions shared by scripts/demo.sh and scripts/test.sh:
# install missing Debian packages, build and install the extension, and run a
# throw-away PostgreSQL cluster in a temporary directory.
#
# Usage (from a bash script with `set -euo pipefail`):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/pgcluster.sh"
#   pgc_ensure_packages "$(pgc_default_packages)"
#   pgc_start --database mydb [--cron]     # exports PGHOST PGPORT PGUSER PGDATABASE
#   psql -c 'select 1'
#                                          # stopped and removed when the script exits
#
# The cluster lives in a fresh directory under /tmp (data/, server log
# postgresql.log and the unix socket), accepts no TCP connections
# (listen_addresses = '') and trusts every local connection. It runs as the
# unprivileged user `postgres` when the caller is root (PostgreSQL refuses to
# run as root), otherwise as the caller. Any Debian cluster on port 5432 is
# left alone: the socket lives in our own directory and the port is one that
# nothing else uses.
#
# Environment:
#   PG_CONFIG      pg_config of the PostgreSQL to use (default: pg_config on PATH,
#                  else the newest /usr/lib/postgresql/*/bin/pg_config)
#   PG_MAJOR       major version to install when no PostgreSQL is found (default 15)
#   KEEP_CLUSTER=1 leave the cluster running at exit and print how to reach it
#   PGC_PORT_BASE  first port to probe (default 54320)

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	echo "pgcluster.sh is a library: source it from a bash script (see its header)" >&2
	exit 2
fi

PGC_ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGC_DIR=""          # temporary directory of the running cluster
PGC_BINDIR=""       # server binaries (initdb, pg_ctl, ...)
PGC_SERVER_USER=""  # account the server runs as
PGC_EXIT_HOOKS=()   # commands run at exit, last registered first

# ---------------------------------------------------------------------------
# Messages

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
	PGC_BOLD=$'\e[1m' PGC_RED=$'\e[31m' PGC_RESET=$'\e[0m'
else
	PGC_BOLD="" PGC_RED="" PGC_RESET=""
fi

pgc_say() { printf '%s==> %s%s\n' "$PGC_BOLD" "$*" "$PGC_RESET"; }
pgc_warn() { printf '%swarning:%s %s\n' "$PGC_RED" "$PGC_RESET" "$*" >&2; }
pgc_die() {
	printf '%serror:%s %s\n' "$PGC_RED" "$PGC_RESET" "$*" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Cleanup at exit

pgc_run_exit_hooks() {
	local status=$? i
	trap - EXIT
	for ((i = ${#PGC_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${PGC_EXIT_HOOKS[i]}" || true
	done
	exit "$status"
}

# pgc_at_exit COMMAND: run COMMAND (a string for eval) when the script exits.
pgc_at_exit() {
	PGC_EXIT_HOOKS+=("$1")
}

trap pgc_run_exit_hooks EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---------------------------------------------------------------------------
# Packages

# Run a command as root: directly, or through sudo when available.
pgc_as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		pgc_die "need root to run: $* (run as root, or install sudo)"
	fi
}

# The major version of the PostgreSQL we build against.
pgc_pg_major() {
	local cfg
	if cfg=$(pgc_find_pg_config 2>/dev/null); then
		"$cfg" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/'
	else
		echo "${PG_MAJOR:-15}"
	fi
}

# Every package the build, the demo and the tests need.
pgc_default_packages() {
	local v
	v=$(pgc_pg_major)
	echo "build-essential pkg-config libopenblas-dev" \
		"postgresql-$v postgresql-server-dev-$v postgresql-$v-pgtap postgresql-$v-cron" \
		"libtap-parser-sourcehandler-pgtap-perl python3-numpy python3-scipy"
}

pgc_package_installed() {
	[[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

# pgc_ensure_packages PKG...: install the packages that are missing (words in
# each argument are split, so a space-separated list works too). Does not
# touch apt at all when everything is there.
pgc_ensure_packages() {
	local pkg missing=()
	# shellcheck disable=SC2048
	for pkg in $*; do
		pgc_package_installed "$pkg" || missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0
	command -v apt-get >/dev/null 2>&1 ||
		pgc_die "missing packages ${missing[*]}, and this is not a Debian-like system: install them by hand"
	pgc_say "Installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	pgc_as_root apt-get update -q ||
		pgc_die "apt-get update failed"
	pgc_as_root apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confold "${missing[@]}" ||
		pgc_die "apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------------------
# pg_config, build and install

# Prints the pg_config to use; fails when there is none.
pgc_find_pg_config() {
	local c
	if [[ -n "${PG_CONFIG:-}" ]]; then
		command -v "$PG_CONFIG" && return 0
		return 1
	fi
	command -v pg_config 2>/dev/null && return 0
	c=$(printf '%s\n' /usr/lib/postgresql/*/bin/pg_config | sort -V | tail -n 1)
	[[ -x "$c" ]] || return 1
	echo "$c"
}

# Sets and exports PG_CONFIG, and sets PGC_BINDIR.
pgc_setup_pg_config() {
	PG_CONFIG=$(pgc_find_pg_config) ||
		pgc_die "pg_config not found: install postgresql-server-dev-NN or set PG_CONFIG"
	export PG_CONFIG
	PGC_BINDIR=$("$PG_CONFIG" --bindir)
	[[ -x "$PGC_BINDIR/initdb" ]] ||
		pgc_die "no initdb in $PGC_BINDIR (from $PG_CONFIG --bindir): is the server package installed?"
	# psql, pg_isready, pg_regress's psql: the ones matching the server.
	PATH="$PGC_BINDIR:$PATH"
	export PATH
}

# pgc_build_install [LOGFILE]: make && make install in the repository root.
pgc_build_install() {
	local log=${1:-/dev/null} jobs
	jobs=$(nproc 2>/dev/null || echo 2)
	pgc_say "Building kpreco against $("$PG_CONFIG" --version)"
	if ! make -C "$PGC_ROOT_DIR" -j"$jobs" PG_CONFIG="$PG_CONFIG" >"$log" 2>&1; then
		tail -n 60 "$log" >&2
		pgc_warn "make failed (full log: $log)"
		return 1
	fi
	pgc_say "Installing into $("$PG_CONFIG" --sharedir)/extension and $("$PG_CONFIG" --pkglibdir)"
	if ! pgc_as_root make -C "$PGC_ROOT_DIR" install PG_CONFIG="$PG_CONFIG" >>"$log" 2>&1; then
		tail -n 30 "$log" >&2
		pgc_warn "make install failed (full log: $log)"
		return 1
	fi
}

# ---------------------------------------------------------------------------
# The server account

pgc_setup_server_user() {
	if ((EUID != 0)); then
		PGC_SERVER_USER=$(id -un)
		return 0
	fi
	PGC_SERVER_USER=postgres
	if ! id -u postgres >/dev/null 2>&1; then
		pgc_say "Creating the system user postgres"
		useradd --system --user-group --home-dir /var/lib/postgresql \
			--shell /bin/bash postgres ||
			pgc_die "could not create the user postgres"
	fi
}

# pgc_as_server CMD...: run CMD as the server account, from the cluster
# directory (the caller's working directory may be unreadable to it).
pgc_as_server() {
	(
		cd "${PGC_DIR:-/}" || exit
		if ((EUID == 0)); then
			runuser -u "$PGC_SERVER_USER" -- "$@"
		else
			"$@"
		fi
	)
}

# ---------------------------------------------------------------------------
# The cluster

# Is anything using PORT: a TCP listener, or a socket file in the usual
# places or in another throw-away cluster's directory?
pgc_port_in_use() {
	local port=$1 d
	for d in /var/run/postgresql /tmp /tmp/kpreco-pg.*; do
		[[ -e "$d/.s.PGSQL.$port" || -e "$d/.s.PGSQL.$port.lock" ]] && return 0
	done
	if command -v ss >/dev/null 2>&1; then
		[[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] && return 0
	else
		# No ss: try to connect to it on the loopback address.
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
	fi
	return 1
}

pgc_free_port() {
	local port=${PGC_PORT_BASE:-54320} last
	last=$((port + 200))
	for (( ; port < last; port++)); do
		if ! pgc_port_in_use "$port"; then
			echo "$port"
			return 0
		fi
	done
	pgc_die "no free port in ${PGC_PORT_BASE:-54320}..$last"
}

# A locale initdb accepts on this machine: C.UTF-8 if present, else C.
pgc_locale() {
	if locale -a 2>/dev/null | grep -qixE 'c\.utf-?8'; then
		echo C.UTF-8
	else
		echo C
	fi
}

# pgc_start [--cron] [--database NAME]
#   --cron           preload pg_cron, with its jobs in database NAME
#   --database NAME  create database NAME and make it PGDATABASE
# Exports PGHOST, PGPORT, PGUSER and PGDATABASE (default postgres).
pgc_start() {
	local cron=0 db=postgres port locale
	while (($#)); do
		case $1 in
		--cron) cron=1 ;;
		--database) db=$2; shift ;;
		*) pgc_die "pgc_start: unknown option $1" ;;
		esac
		shift
	done
	[[ -n "$PGC_BINDIR" ]] || pgc_setup_pg_config
	pgc_setup_server_user

	PGC_DIR=$(mktemp -d /tmp/kpreco-pg.XXXXXX)
	pgc_at_exit pgc_stop
	chmod 0755 "$PGC_DIR"
	((EUID == 0)) && chown "$PGC_SERVER_USER:" "$PGC_DIR"
	port=$(pgc_free_port)
	locale=$(pgc_locale)

	local what="port $port"
	((cron)) && what+=", pg_cron in database $db"
	pgc_say "Starting a throw-away cluster in $PGC_DIR ($what)"
	if ! pgc_as_server "$PGC_BINDIR/initdb" -D "$PGC_DIR/data" -A trust -U postgres \
		-E UTF8 --locale="$locale" --no-sync >"$PGC_DIR/initdb.log" 2>&1; then
		cat "$PGC_DIR/initdb.log" >&2
		pgc_die "initdb failed"
	fi

	# Settings for a fast, private, disposable server.
	{
		echo "# added by scripts/pgcluster.sh"
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$PGC_DIR'"
		echo "fsync = off"
		echo "synchronous_commit = off"
		echo "full_page_writes = off"
		echo "max_worker_processes = 16"
		echo "log_min_messages = warning"
		echo "log_checkpoints = off"
		echo "log_line_prefix = '%m [%p] %q%u@%d '"
	} >>"$PGC_DIR/data/postgresql.conf"

	export PGHOST=$PGC_DIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	pgc_ctl start
	if [[ "$db" != postgres ]]; then
		"$PGC_BINDIR/createdb" "$db" || pgc_die "createdb $db failed"
		export PGDATABASE=$db
	fi
	if ((cron)); then
		# Only now that its database exists: pg_cron's launcher connects to it.
		{
			echo "shared_preload_libraries = 'pg_cron'"
			echo "cron.database_name = '$db'"
			# Jobs run in background workers, so pg_cron needs no TCP.
			echo "cron.use_background_workers = on"
		} >>"$PGC_DIR/data/postgresql.conf"
		pgc_ctl restart
	fi
}

# pgc_ctl start|restart: pg_ctl on the throw-away cluster, then wait until ready.
pgc_ctl() {
	if ! pgc_as_server "$PGC_BINDIR/pg_ctl" -D "$PGC_DIR/data" -l "$PGC_DIR/postgresql.log" \
		-w -t 60 "$1" >"$PGC_DIR/pg_ctl.log" 2>&1; then
		cat "$PGC_DIR/pg_ctl.log" >&2
		tail -n 30 "$PGC_DIR/postgresql.log" >&2 2>/dev/null || true
		pgc_die "the server did not $1"
	fi
	pgc_wait_ready
}

# Waits until the server at PGHOST/PGPORT accepts connections (60 s at most).
pgc_wait_ready() {
	local i
	for ((i = 0; i < 120; i++)); do
		pg_isready -q && return 0
		sleep 0.5
	done
	pgc_die "server at ${PGHOST:-?}:${PGPORT:-?} is not ready after 60 s"
}

# The server log of the throw-away cluster.
pgc_log_file() {
	echo "$PGC_DIR/postgresql.log"
}

# Stops the cluster and removes its directory; with KEEP_CLUSTER=1 leaves it
# running and prints how to use and stop it.
pgc_stop() {
	[[ -n "$PGC_DIR" && -d "$PGC_DIR" ]] || return 0
	if [[ "${KEEP_CLUSTER:-0}" == 1 && -f "$PGC_DIR/data/postmaster.pid" ]]; then
		pgc_print_keep_instructions
		return 0
	fi
	if [[ -f "$PGC_DIR/data/postmaster.pid" ]]; then
		pgc_as_server "$PGC_BINDIR/pg_ctl" -D "$PGC_DIR/data" -m fast -w \
			stop >/dev/null 2>&1 || pgc_warn "could not stop the server in $PGC_DIR"
	fi
	rm -rf "$PGC_DIR"
	PGC_DIR=""
}

pgc_print_keep_instructions() {
	local stop="$PGC_BINDIR/pg_ctl -D $PGC_DIR/data stop"
	((EUID == 0)) && stop="runuser -u $PGC_SERVER_USER -- $stop"
	cat <<EOF

The cluster is still running (KEEP_CLUSTER=1). Connect with:
    psql -h $PGC_DIR -p $PGPORT -U postgres -d $PGDATABASE
or:
    export PGHOST=$PGC_DIR PGPORT=$PGPORT PGUSER=postgres PGDATABASE=$PGDATABASE
Server log: $PGC_DIR/postgresql.log
Stop and remove it with:
    $stop && rm -rf $PGC_DIR
EOF
}
