#!/usr/bin/env bash
# Starts tutorhub's local service stack natively on 127.0.0.1 and waits until each service
# is ready; data and logs go to .data/. A service that already answers is left alone, so a
# dev stack and a test run share one set of services and running this twice is harmless.
#
# Usage: deploy/local/up.sh [SERVICE...]     SERVICE: postgres redis mailpit kratos temporal versitygw clamd
#                                            stripemock pgbouncer replica (default: all)
#        deploy/local/down.sh [SERVICE...]   stops what this script started
#
# Environment (default):
#   TUTORHUB_PG_HOST (127.0.0.1) TUTORHUB_PG_PORT (5432) TUTORHUB_PG_USER (postgres)
#   TUTORHUB_PG_PASSWORD (PGPASSWORD) the role's password, for a server that asks for one: psql
#                                 gets it as PGPASSWORD, Kratos in its DSN, the API in its
#                                 database URL (deploy/local/env.sh)
#   TUTORHUB_REDIS_PORT (6379)
#   TUTORHUB_MAILPIT_SMTP_PORT (1025) TUTORHUB_MAILPIT_HTTP_PORT (8025)
#   TUTORHUB_KRATOS_PUBLIC_PORT (4433) TUTORHUB_KRATOS_ADMIN_PORT (4434)
#   TUTORHUB_KRATOS_DSN (postgres://$TUTORHUB_PG_USER:$TUTORHUB_PG_PASSWORD@$TUTORHUB_PG_HOST:$TUTORHUB_PG_PORT/kratos?sslmode=disable&...)
#   TUTORHUB_KRATOS_LOG_LEVEL (info)
#   TUTORHUB_TEMPORAL_PORT (7233) the Temporal dev server's gRPC port; TUTORHUB_TEMPORAL_UI_PORT (8233)
#   TUTORHUB_S3_PORT (7070) the Versity S3 Gateway's port; its root credentials
#     TUTORHUB_S3_LOCAL_ACCESS_KEY (tutorhub-local) TUTORHUB_S3_LOCAL_SECRET_KEY (tutorhub-local-secret)
#   TUTORHUB_CLAMD_PORT (3310) clamd's TCP port
#   TUTORHUB_PGBOUNCER_PORT (6432) PgBouncer's port (transaction pooling in front of PostgreSQL)
#   TUTORHUB_PGBOUNCER_SERVER_CONNS (40) the most server connections PgBouncer opens, all databases
#   TUTORHUB_REPLICA_PORT (5433) the streaming replica's port
#   TUTORHUB_REPLICA_DATA (.data/replica) the replica's data directory (the tests' private
#                                 replicas use their own, with their own port)
#   TUTORHUB_STRIPEMOCK_PORT (12111) stripe-mock's HTTP port (the Stripe API with canned answers)
#   TUTORHUB_READY_TIMEOUT (60) seconds a service may take to become ready
#
# Adding a service (Temporal, MinIO, clamd, ...): add its name to all_services in lib.sh, its
# prerequisites to `needs` below, and a start_NAME function that returns early when the
# service already answers, else starts it with `spawn` and waits with `wait_ready`. down.sh
# stops it through the pid file `spawn` wrote.
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "$0")/lib.sh"

declare -A needs=([kratos]="postgres mailpit" [pgbouncer]="postgres" [replica]="postgres")

fail_with_log() { # NAME LOG REASON
  printf '[local] error: %s %s; last lines of %s:\n' "$1" "$3" "$2" >&2
  tail -n 40 "$2" >&2 2>/dev/null || true
  exit 1
}

# wait_ready NAME LOG CHECK...: polls CHECK until it passes; fails naming NAME, with the end
# of LOG, on timeout or as soon as the process we started has exited.
wait_ready() {
  local name=$1 logfile=$2 deadline=$((SECONDS + READY_TIMEOUT))
  shift 2
  until "$@"; do
    if [ -f "$(pidfile "$name")" ] && ! alive "$(<"$(pidfile "$name")")"; then
      fail_with_log "$name" "$logfile" "exited during startup"
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail_with_log "$name" "$logfile" "not ready after ${READY_TIMEOUT}s"
    sleep 0.2
  done
  log "$name ready"
}

# alive PID: the process is there and not a zombie. wait_ready asks this rather than
# `running`, whose name check fails while the process spawn started is still on its way to
# becoming the service (a shell, then setsid, then the program: slow on a loaded machine).
alive() {
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $stat != Z* ]]
}

# spawn NAME LOG CMD...: runs CMD (a command or a function that ends in `detached`) in the
# background and records its pid for down.sh.
spawn() {
  local name=$1 logfile=$2
  shift 2
  mkdir -p "$(dirname "$logfile")"
  "$@" >>"$logfile" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$(pidfile "$name")"
}

# detached CMD...: becomes CMD in a session of its own, so neither ^C here nor the end of the
# test run that called up.sh takes the service down. The pid stays the one spawn recorded.
detached() { exec setsid "$@"; }

# tool NAME: links the pinned build into .bin/ (building it once if the pin is new).
tool() { "$root/deploy/tools.sh" "$1"; }

# --- postgres ---------------------------------------------------------------------------

pg_ready() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 1
  else
    tcp_open "$PG_HOST" "$PG_PORT"
  fi
}

psql_admin() {
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qtAX "$@"
}

ensure_database() { # NAME
  command -v psql >/dev/null || die "postgres: psql is needed to create database $1 (apt-get install postgresql-client)"
  if [ "$(psql_admin -c "select 1 from pg_database where datname = '$1'")" != 1 ]; then
    log "postgres: creating database $1"
    # Another clone's up.sh may create it at the same moment (the lock is per clone): its
    # existence afterwards is what counts; a retry shows the error if it is still missing.
    psql_admin -c "create database \"$1\"" 2>/dev/null ||
      [ "$(psql_admin -c "select 1 from pg_database where datname = '$1'")" = 1 ] ||
      psql_admin -c "create database \"$1\""
  fi
}

start_postgres() {
  if pg_ready; then
    log "postgres: using $PG_HOST:$PG_PORT"
  else
    local version logfile
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || die "postgres: nothing answers on $PG_HOST:$PG_PORT and no Debian cluster exists in /etc/postgresql (apt-get install postgresql, or set TUTORHUB_PG_HOST/TUTORHUB_PG_PORT)"
    logfile=/var/log/postgresql/postgresql-$version-main.log
    log "postgres: starting Debian cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 9>&- || fail_with_log postgres "$logfile" "failed to start"
    # down.sh stops a cluster only if this file says we started it.
    echo "$version" >"$data/postgres.cluster"
    rm -f "$(pidfile postgres)"
    head -n 1 "/var/run/postgresql/$version-main.pid" >"$(pidfile postgres)" 2>/dev/null || true
    wait_ready postgres "$logfile" pg_ready
  fi
  # The API's database; its schema is the API's business (tutorhub migrate).
  ensure_database tutorhub
}

# --- redis ------------------------------------------------------------------------------

# A PING over /dev/tcp: redis-cli is not installed everywhere Redis is reachable.
redis_ready() (
  exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || exit 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3 || exit 1
  [[ $reply == +PONG* ]]
) 2>/dev/null

start_redis() {
  if redis_ready; then
    log "redis: using 127.0.0.1:$REDIS_PORT"
    return
  fi
  command -v redis-server >/dev/null || die "redis: nothing answers on 127.0.0.1:$REDIS_PORT and redis-server is not installed (apt-get install redis-server)"
  mkdir -p "$data/redis"
  # redis-server writes its pid file itself; a stale one would look like a crash to wait_ready.
  rm -f "$(pidfile redis)"
  # No persistence: local Redis holds only caches and rate-limit counters.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$data/redis" --logfile "$data/redis/redis.log" --pidfile "$(pidfile redis)" 9>&-
  wait_ready redis "$data/redis/redis.log" redis_ready
}

# --- mailpit (SMTP sink with an HTTP API for reading codes) ------------------------------

mailpit_ready() {
  http_ok "http://127.0.0.1:$MAILPIT_HTTP_PORT/readyz" && tcp_open 127.0.0.1 "$MAILPIT_SMTP_PORT"
}

start_mailpit() {
  if mailpit_ready; then
    log "mailpit: using 127.0.0.1:$MAILPIT_HTTP_PORT"
    return
  fi
  tool mailpit
  mkdir -p "$data/mailpit"
  spawn mailpit "$data/mailpit/mailpit.log" detached "$bin/mailpit" --disable-version-check \
    --smtp "127.0.0.1:$MAILPIT_SMTP_PORT" --listen "127.0.0.1:$MAILPIT_HTTP_PORT" \
    --database "$data/mailpit/mailpit.db" --max 5000 --smtp-disable-rdns
  wait_ready mailpit "$data/mailpit/mailpit.log" mailpit_ready
}

# --- kratos -----------------------------------------------------------------------------

kratos_ready() { http_ok "http://127.0.0.1:$KRATOS_ADMIN_PORT/health/ready"; }

rand_hex() { od -An -vtx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# Generated once per checkout and never printed, so sessions and flows survive restarts and
# no two machines share a secret. The cipher secret must be exactly 32 characters.
kratos_secrets() { # FILE
  [ -s "$1" ] && return
  (umask 077 && printf 'SECRETS_COOKIE=%s\nSECRETS_CIPHER=%s\n' "$(rand_hex 32)" "$(rand_hex 16)" >"$1")
}

# The native paths and ports, layered over deploy/kratos/kratos.yml (written for containers).
kratos_overlay() { # FILE
  cat >"$1" <<EOF
# Written by deploy/local/up.sh on every start; edit deploy/kratos/kratos.yml or up.sh instead.
serve:
  public:
    base_url: http://127.0.0.1:$KRATOS_PUBLIC_PORT/
    host: 127.0.0.1
    port: $KRATOS_PUBLIC_PORT
  admin:
    base_url: http://127.0.0.1:$KRATOS_ADMIN_PORT/
    host: 127.0.0.1
    port: $KRATOS_ADMIN_PORT
identity:
  schemas:
    - id: user
      url: file://$root/deploy/kratos/identity.schema.json
session:
  whoami:
    tokenizer:
      templates:
        access_token:
          jwks_url: file://$data/kratos/jwks.json
          claims_mapper_url: file://$root/deploy/kratos/access_token.jsonnet
courier:
  smtp:
    connection_uri: smtp://127.0.0.1:$MAILPIT_SMTP_PORT/?disable_starttls=true
log:
  level: ${TUTORHUB_KRATOS_LOG_LEVEL:-info}
EOF
}

kratos_config=(-c "$root/deploy/kratos/kratos.yml" -c "$data/kratos/local.yml")

# kratos_env leaves only what Kratos needs in the environment: Kratos reads every variable
# named like a config key (LOG_LEVEL, DSN, SERVE_PUBLIC_PORT, ...), so a stray one from the
# caller's shell must not win. Secrets travel in the environment, never on a command line.
kratos_env() {
  local v
  for v in $(compgen -e); do
    case $v in PATH | HOME | TMPDIR) ;; *) unset "$v" 2>/dev/null || true ;; esac
  done
  set -a
  # shellcheck source=/dev/null
  . "$data/kratos/secrets.env"
  set +a
  export DSN=${kratos_dsn:?}
}

# --watch-courier sends mail from this process, so codes reach Mailpit without a second daemon.
kratos_serve() {
  kratos_env
  detached "$bin/kratos" serve --sqa-opt-out --watch-courier "${kratos_config[@]}"
}

# The Kratos on this machine's port is shared by every clone; its token-signing keys live in
# the data directory of the clone that started it, recorded here so other clones (a second
# checkout, a CI-style fresh clone) verify tokens with the same keys.
# A Kratos on other ports (a private one beside the shared) has a pointer of its own.
kratos_pointer=${TUTORHUB_CACHE:-$HOME/.cache/tutorhub}/run/kratos-data-dir
[ "$KRATOS_PUBLIC_PORT" = 4433 ] || kratos_pointer+=-$KRATOS_PUBLIC_PORT

start_kratos() {
  local dir=$data/kratos
  mkdir -p "$dir" "$(dirname "$kratos_pointer")"
  # Clones share the port: one machine-wide lock, or two clones both see it free, both start,
  # and the loser (which failed to bind) records its data dir as the owner's.
  exec 8>"$kratos_pointer.lock"
  flock 8
  if kratos_ready; then
    local owner
    owner=$(cat "$kratos_pointer" 2>/dev/null || true)
    if [ -n "$owner" ] && [ "$owner" != "$dir" ] && [ -f "$owner/jwks.json" ]; then
      ln -sfn "$owner/jwks.json" "$dir/jwks.json"
      ln -sfn "$owner/jwks.public.json" "$dir/jwks.public.json"
    fi
    log "kratos: using 127.0.0.1:$KRATOS_PUBLIC_PORT (admin $KRATOS_ADMIN_PORT)"
    exec 8>&-
    return
  fi
  tool kratos
  ensure_database kratos
  kratos_secrets "$dir/secrets.env"
  if [ ! -f "$dir/jwks.json" ]; then
    (cd "$root" && GOTOOLCHAIN=local go run ./deploy/kratos/jwksgen -out "$dir/jwks.json")
  fi
  kratos_overlay "$dir/local.yml"
  kratos_dsn=$(kratos_database_url)

  ( kratos_env && exec "$bin/kratos" migrate sql -e --yes "${kratos_config[@]}" ) >>"$dir/kratos.log" 2>&1 ||
    fail_with_log kratos "$dir/kratos.log" "migration failed"
  spawn kratos "$dir/kratos.log" kratos_serve
  wait_ready kratos "$dir/kratos.log" kratos_ready
  echo "$dir" > "$kratos_pointer"
  exec 8>&-
}

# --- temporal (the Temporal CLI's dev server: frontend, history, matching and the Web UI) ---

temporal_ready() {
  "$bin/temporal" operator namespace describe --namespace tutorhub --address "127.0.0.1:$TEMPORAL_PORT" \
    --command-timeout 2s >/dev/null 2>&1
}

# One SQLite file (WAL) keeps workflows across restarts; the namespace and the search
# attributes operators look runs up by are created by the server on every start.
start_temporal() {
  tool temporal
  if temporal_ready; then
    log "temporal: using 127.0.0.1:$TEMPORAL_PORT (UI http://127.0.0.1:$TEMPORAL_UI_PORT)"
    ensure_temporal_search_attributes
    return
  fi
  mkdir -p "$data/temporal"
  spawn temporal "$data/temporal/temporal.log" detached "$bin/temporal" server start-dev \
    --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --db-filename "$data/temporal/temporal.db" --namespace tutorhub \
    --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
    $(temporal_search_attribute_flags) \
    --log-level warn
  wait_ready temporal "$data/temporal/temporal.log" temporal_ready
}

# The search attributes operators look runs up by. A server started before one was added gets
# it on the next up.sh, so a stack that stays up still accepts the workflows that set it.
temporal_search_attributes=(TutorId EventType UserId UploadId UploadPurpose BookingId BookingState StripeEventType)

temporal_search_attribute_flags() {
  local a
  for a in "${temporal_search_attributes[@]}"; do printf -- '--search-attribute %s=Keyword ' "$a"; done
}

ensure_temporal_search_attributes() {
  local have a
  have=$("$bin/temporal" operator search-attribute list --namespace tutorhub \
    --address "127.0.0.1:$TEMPORAL_PORT" --command-timeout 5s 2>/dev/null) ||
    die "temporal: cannot list the search attributes of namespace tutorhub"
  for a in "${temporal_search_attributes[@]}"; do
    grep -qw "$a" <<<"$have" && continue
    log "temporal: adding search attribute $a"
    "$bin/temporal" operator search-attribute create --namespace tutorhub --name "$a" --type Keyword \
      --address "127.0.0.1:$TEMPORAL_PORT" --command-timeout 5s >/dev/null ||
      die "temporal: cannot add search attribute $a"
  done
}

# --- versitygw (the Versity S3 Gateway: S3 over a directory, Apache-2.0) ------------------

# Any answer to an unsigned request (403 AccessDenied) proves the S3 API is up.
versitygw_ready() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$S3_PORT/"; }

# Buckets are folders of $data/s3; the API creates its buckets (quarantine and clean) on start.
# The credentials travel in the environment (ROOT_ACCESS_KEY, ROOT_SECRET_KEY), never on a
# command line.
versitygw_serve() {
  export ROOT_ACCESS_KEY=$S3_ACCESS_KEY ROOT_SECRET_KEY=$S3_SECRET_KEY
  detached "$bin/versitygw" --port "127.0.0.1:$S3_PORT" posix "$data/s3"
}

start_versitygw() {
  if versitygw_ready; then
    log "versitygw: using 127.0.0.1:$S3_PORT"
    return
  fi
  tool versitygw
  mkdir -p "$data/s3" "$data/versitygw"
  spawn versitygw "$data/versitygw/versitygw.log" versitygw_serve
  wait_ready versitygw "$data/versitygw/versitygw.log" versitygw_ready
}

# --- clamd (ClamAV's daemon from Debian, with a local signature database) ----------------

# A PING over /dev/tcp: clamdscan is not needed.
clamd_ready() (
  exec 3<>"/dev/tcp/127.0.0.1/$CLAMD_PORT" || exit 1
  printf 'zPING\0' >&3
  IFS= read -r -d '' -t 2 reply <&3 || exit 1
  [ "$reply" = PONG ]
) 2>/dev/null

# clamd_database DIR: EICAR (by content and by hash) and the SHA-256 of every file of the
# clamav-testfiles package. No signature download is possible here; production runs freshclam
# with the official databases instead (README, "Virus scanning").
clamd_database() {
  local dir=$1 tmp eicar hex
  local testfiles=/usr/share/clamav-testfiles
  [ -d "$testfiles" ] || die "clamd: $testfiles is missing (deploy/prereqs.sh dev installs clamav-testfiles)"
  tmp=$(mktemp -d)
  mkdir -p "$dir"
  eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
  printf '%s' "$eicar" >"$tmp/eicar.com"
  hex=$(od -An -vtx1 "$tmp/eicar.com" | tr -d ' \n')
  printf 'Tutorhub.Test.EICAR-NDB:0:*:%s\n' "$hex" >"$tmp/tutorhub-eicar.ndb"
  (cd "$tmp" && sigtool --md5 eicar.com | sed 's/:eicar.com$/:Tutorhub.Test.EICAR-HDB/') >"$tmp/tutorhub-eicar.hdb"
  find "$testfiles" -type f -size +0 -print0 | sort -z | xargs -0 sigtool --sha256 |
    awk -F: '{ n = split($3, p, "/"); printf "%s:%s:Tutorhub.Test.%s\n", $1, $2, p[n] }' >"$tmp/tutorhub-testfiles.hsb"
  [ -s "$tmp/tutorhub-testfiles.hsb" ] || die "clamd: no signatures made from $testfiles"
  rm -f "$tmp/eicar.com"
  mv "$tmp"/* "$dir/"
  rm -rf "$tmp"
}

clamd_config() { # FILE
  cat >"$1" <<EOF
# Written by deploy/local/up.sh on every start.
Foreground yes
TCPSocket $CLAMD_PORT
TCPAddr 127.0.0.1
DatabaseDirectory $data/clamd/db
LogTime yes
# Above the largest upload the API accepts (a credential document), with room to spare.
StreamMaxLength 64M
MaxFileSize 64M
MaxScanSize 128M
ReadTimeout 30
CommandReadTimeout 10
MaxThreads 8
SelfCheck 0
EOF
}

start_clamd() {
  if clamd_ready; then
    log "clamd: using 127.0.0.1:$CLAMD_PORT"
    # The tests' private clamds (internal/testenv) read this checkout's database, also when
    # the running clamd was started from another checkout.
    [ -s "$data/clamd/db/tutorhub-testfiles.hsb" ] || clamd_database "$data/clamd/db"
    return
  fi
  local clamd
  clamd=$(command -v clamd || echo /usr/sbin/clamd)
  [ -x "$clamd" ] && command -v sigtool >/dev/null ||
    die "clamd: not installed (deploy/prereqs.sh dev installs clamav, clamav-daemon and clamav-testfiles)"
  mkdir -p "$data/clamd"
  clamd_database "$data/clamd/db"
  clamd_config "$data/clamd/clamd.conf"
  spawn clamd "$data/clamd/clamd.log" detached "$clamd" --config-file "$data/clamd/clamd.conf"
  wait_ready clamd "$data/clamd/clamd.log" clamd_ready
}

# --- pgbouncer (transaction pooling in front of PostgreSQL; Debian's package) --------------

pgbouncer_ready() {
  psql "$(pg_url postgres sslmode=disable 127.0.0.1 "$PGBOUNCER_PORT")" -qtAX -c 'select 1' >/dev/null 2>&1
}

# PgBouncer and PostgreSQL refuse to run as root: as root they run as Debian's postgres user
# (which must be able to read and write their directories), as anyone else as that user.
run_as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

detached_as_postgres() {
  if [ "$(id -u)" = 0 ]; then exec setsid runuser -u postgres -- "$@"; else exec setsid "$@"; fi
}

own_for_postgres() { # PATH...
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$@"; fi
}

# reachable_by_postgres DIR: as root, lets the postgres user pass through every directory
# above DIR. A checkout inside a private directory (mktemp -d makes mode 700) would otherwise
# hide PgBouncer's and the replica's files from the user they run as; only search permission
# (o+x) is added, never read, and each change is logged.
reachable_by_postgres() { # DIR
  [ "$(id -u)" = 0 ] || return 0
  local d
  d=$(cd "$1" && pwd -P)
  while [ "$d" != / ]; do
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
      log "letting the postgres user pass through $d (chmod o+x)"
      chmod o+x "$d"
    fi
    d=$(dirname "$d")
  done
}

# One wildcard entry serves every database (the tests create theirs on the fly). Transaction
# pooling: a server connection is lent for one transaction, so session state (LISTEN, session
# advisory locks, SET, named prepared statements) must not be used through it; the API keeps a
# direct URL for those (TUTORHUB_DATABASE_DIRECT_URL). Sizing: docs/database.md.
pgbouncer_config() { # DIR
  local auth=trust
  [ -z "$PG_PASSWORD" ] || auth=scram-sha-256
  cat >"$1/pgbouncer.ini" <<INI
; Written by deploy/local/up.sh on every start; edit up.sh instead.
[databases]
* = host=$PG_HOST port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
pool_mode = transaction
auth_type = $auth
auth_file = $1/userlist.txt
admin_users = $PG_USER
stats_users = $PG_USER
max_client_conn = 2000
default_pool_size = 20
reserve_pool_size = 5
reserve_pool_timeout = 1
max_user_connections = $PGBOUNCER_SERVER_CONNS
server_idle_timeout = 15
server_lifetime = 1800
query_wait_timeout = 60
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
INI
  # The password, if any, is the one PgBouncer checks clients against and logs in with.
  (umask 077 && printf '"%s" "%s"\n' "$PG_USER" "$PG_PASSWORD" >"$1/userlist.txt")
}

start_pgbouncer() {
  if pgbouncer_ready; then
    log "pgbouncer: using 127.0.0.1:$PGBOUNCER_PORT"
    return
  fi
  local pgbouncer dir=$data/pgbouncer
  pgbouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  [ -x "$pgbouncer" ] || die "pgbouncer: not installed (deploy/prereqs.sh test installs pgbouncer)"
  mkdir -p "$dir"
  reachable_by_postgres "$dir"
  pgbouncer_config "$dir"
  own_for_postgres "$dir"
  spawn pgbouncer "$dir/pgbouncer.log" detached_as_postgres "$pgbouncer" "$dir/pgbouncer.ini"
  wait_ready pgbouncer "$dir/pgbouncer.log" pgbouncer_ready
}

# --- replica (a streaming replica of the stack's PostgreSQL, from pg_basebackup) -----------

replica_ready() { pg_isready -q -h 127.0.0.1 -p "$REPLICA_PORT" -t 1; }

# ensure_replication_allowed: the primary accepts a replication connection from 127.0.0.1 as
# the stack's user (a superuser, so it has the REPLICATION attribute). Debian's pg_hba.conf
# does not allow one over TCP in every setup; then one line is appended (once) and the
# configuration reloaded. Nothing else on the primary changes: wal_level replica and
# max_wal_senders 10 are PostgreSQL's defaults.
ensure_replication_allowed() {
  local conninfo="host=$PG_HOST port=$PG_PORT user=$PG_USER replication=true"
  psql "$conninfo" -qtAX -c IDENTIFY_SYSTEM >/dev/null 2>&1 && return
  local hba method=trust deadline
  [ -z "$PG_PASSWORD" ] || method=scram-sha-256
  hba=$(psql_admin -c 'show hba_file')
  [ -w "$hba" ] || die "replica: the primary refuses replication connections and $hba is not writable here: add 'host replication $PG_USER 127.0.0.1/32 $method' to it and reload PostgreSQL"
  log "replica: allowing replication connections for $PG_USER from 127.0.0.1 in $hba"
  printf '\n# Added by tutorhub deploy/local/up.sh replica: streaming replicas on this machine.\nhost replication %s 127.0.0.1/32 %s\n' "$PG_USER" "$method" >>"$hba"
  psql_admin -c 'select pg_reload_conf()' >/dev/null
  deadline=$((SECONDS + 10))
  until psql "$conninfo" -qtAX -c IDENTIFY_SYSTEM >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "replica: the primary still refuses replication connections after adding the rule to $hba"
    sleep 0.2
  done
}

# replica_config DIR: what a hot standby must share with its primary (connection, worker and
# lock limits at least as high), a port of its own and its sockets in its directory.
replica_config() {
  local dir=$1 name method=trust
  [ -z "$PG_PASSWORD" ] || method=scram-sha-256
  {
    echo "# Written by deploy/local/up.sh replica; primary_conninfo is in postgresql.auto.conf."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $REPLICA_PORT"
    echo "unix_socket_directories = '$dir'"
    echo "hot_standby = on"
    echo "hot_standby_feedback = on"
    echo "shared_buffers = 32MB"
    for name in max_connections max_worker_processes max_wal_senders max_prepared_transactions max_locks_per_transaction; do
      echo "$name = $(psql_admin -c "show $name")"
    done
  } >"$dir/postgresql.conf"
  printf 'local all all trust\nhost all all 127.0.0.1/32 %s\n' "$method" >"$dir/pg_hba.conf"
  : >"$dir/pg_ident.conf"
}

pg_bindir() {
  local major
  major=$(($(psql_admin -c 'show server_version_num') / 10000))
  [ -x "/usr/lib/postgresql/$major/bin/pg_ctl" ] || die "replica: PostgreSQL $major's server binaries are missing (apt-get install postgresql-$major)"
  echo "/usr/lib/postgresql/$major/bin"
}

start_replica() {
  if replica_ready; then
    log "replica: using 127.0.0.1:$REPLICA_PORT"
    return
  fi
  local dir=$REPLICA_DATA bindir
  bindir=$(pg_bindir)
  ensure_replication_allowed
  mkdir -p "$(dirname "$dir")"
  reachable_by_postgres "$(dirname "$dir")"
  touch "$dir.log"
  own_for_postgres "$dir.log"
  # A replica that is not running is copied again rather than restarted: the stack uses no
  # replication slot (a slot keeps the primary's WAL without bound while its replica is
  # stopped), so the primary may have recycled the WAL a restarted copy would need, and it
  # would wait for it for ever ("requested WAL segment ... has already been removed").
  if [ -f "$dir/postmaster.pid" ] && [ -f "$dir/standby.signal" ]; then
    run_as_postgres "$bindir/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
  fi
  log "replica: copying $PG_HOST:$PG_PORT into $dir (pg_basebackup)"
  rm -rf "$dir"
  mkdir -m 700 "$dir"
  own_for_postgres "$dir"
  run_as_postgres "$bindir/pg_basebackup" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -D "$dir" \
    -X stream -R -c fast --no-sync >>"$dir.log" 2>&1 || fail_with_log replica "$dir.log" "base backup failed"
  replica_config "$dir"
  own_for_postgres "$dir"
  rm -f "$dir/postmaster.pid"
  run_as_postgres setsid "$bindir/pg_ctl" -D "$dir" -l "$dir.log" -w -t "$READY_TIMEOUT" start >/dev/null 9>&- ||
    fail_with_log replica "$dir.log" "failed to start"
  wait_ready replica "$dir.log" replica_ready
}

# --- stripemock (stripe-mock: the Stripe API with canned, stateless answers) --------------

# Any authenticated answer proves the API is up (stripe-mock accepts every sk_test_ key).
stripemock_ready() {
  curl -fs -o /dev/null --max-time 2 -u sk_test_tutorhub: "http://127.0.0.1:$STRIPEMOCK_PORT/v1/balance"
}

start_stripemock() {
  if stripemock_ready; then
    log "stripemock: using 127.0.0.1:$STRIPEMOCK_PORT"
    return
  fi
  tool stripemock
  mkdir -p "$data/stripemock"
  spawn stripemock "$data/stripemock/stripemock.log" detached "$bin/stripemock" -http-addr "127.0.0.1:$STRIPEMOCK_PORT" -https-addr "127.0.0.1:$((STRIPEMOCK_PORT + 1))"
  wait_ready stripemock "$data/stripemock/stripemock.log" stripemock_ready
}

# --- main -------------------------------------------------------------------------------

mkdir -p "$data"
# Two callers at once (a dev shell and a test run) would race to start the same service.
# Every daemon started below gets `9>&-` so it does not hold this lock for its lifetime.
exec 9>"$data/.up.lock"
flock 9

declare -A started=()
up() {
  local dep
  [ -z "${started[$1]:-}" ] || return 0
  started[$1]=1
  for dep in ${needs[$1]:-}; do up "$dep"; done
  "start_$1"
}

services=("$@")
[ $# -gt 0 ] || services=("${all_services[@]}")
for s in "${services[@]}"; do
  known_service "$s" || die "unknown service: $s (known: ${all_services[*]})"
done
for s in "${services[@]}"; do up "$s"; done
