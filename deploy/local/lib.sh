# shellcheck shell=bash disable=SC2034 # the variables below are used by up.sh and down.sh
# Shared by up.sh and down.sh: locations, ports and process helpers of the local stack.
# Every port can be overridden from the environment; up.sh lists the variables.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data=$root/.data
bin=$root/.bin

PG_HOST=${TUTORHUB_PG_HOST:-127.0.0.1}
PG_PORT=${TUTORHUB_PG_PORT:-5432}
PG_USER=${TUTORHUB_PG_USER:-postgres}
PG_PASSWORD=${TUTORHUB_PG_PASSWORD:-${PGPASSWORD:-}}
# psql, pg_isready and pgbench read it from here: never on a command line, where ps shows it.
[ -z "$PG_PASSWORD" ] || export PGPASSWORD=$PG_PASSWORD
REDIS_PORT=${TUTORHUB_REDIS_PORT:-6379}
KRATOS_PUBLIC_PORT=${TUTORHUB_KRATOS_PUBLIC_PORT:-4433}
KRATOS_ADMIN_PORT=${TUTORHUB_KRATOS_ADMIN_PORT:-4434}
MAILPIT_SMTP_PORT=${TUTORHUB_MAILPIT_SMTP_PORT:-1025}
MAILPIT_HTTP_PORT=${TUTORHUB_MAILPIT_HTTP_PORT:-8025}
TEMPORAL_PORT=${TUTORHUB_TEMPORAL_PORT:-7233}
TEMPORAL_UI_PORT=${TUTORHUB_TEMPORAL_UI_PORT:-8233}
S3_PORT=${TUTORHUB_S3_PORT:-7070}
# The local S3 server's root credentials. It listens on 127.0.0.1 only; the API and the tests
# take the same pair (TUTORHUB_S3_ACCESS_KEY_ID, TUTORHUB_S3_SECRET_ACCESS_KEY).
S3_ACCESS_KEY=${TUTORHUB_S3_LOCAL_ACCESS_KEY:-tutorhub-local}
S3_SECRET_KEY=${TUTORHUB_S3_LOCAL_SECRET_KEY:-tutorhub-local-secret}
CLAMD_PORT=${TUTORHUB_CLAMD_PORT:-3310}
PGBOUNCER_PORT=${TUTORHUB_PGBOUNCER_PORT:-6432}
# Server connections PgBouncer opens to PostgreSQL for the user, over every database.
PGBOUNCER_SERVER_CONNS=${TUTORHUB_PGBOUNCER_SERVER_CONNS:-40}
REPLICA_PORT=${TUTORHUB_REPLICA_PORT:-5433}
# The replica's data directory; the tests' private replicas have their own.
REPLICA_DATA=${TUTORHUB_REPLICA_DATA:-$data/replica}
STRIPEMOCK_PORT=${TUTORHUB_STRIPEMOCK_PORT:-12111}
READY_TIMEOUT=${TUTORHUB_READY_TIMEOUT:-60}

# The variables only these scripts read. The API refuses TUTORHUB_ variables it does not know,
# so api_env removes these before starting it.
script_vars=(TUTORHUB_PG_HOST TUTORHUB_PG_PORT TUTORHUB_PG_USER TUTORHUB_PG_PASSWORD
  TUTORHUB_REDIS_PORT TUTORHUB_KRATOS_PUBLIC_PORT TUTORHUB_KRATOS_ADMIN_PORT
  TUTORHUB_MAILPIT_SMTP_PORT TUTORHUB_MAILPIT_HTTP_PORT TUTORHUB_READY_TIMEOUT
  TUTORHUB_TEMPORAL_PORT TUTORHUB_TEMPORAL_UI_PORT
  TUTORHUB_S3_PORT TUTORHUB_S3_LOCAL_ACCESS_KEY TUTORHUB_S3_LOCAL_SECRET_KEY TUTORHUB_CLAMD_PORT TUTORHUB_STRIPEMOCK_PORT
  TUTORHUB_PGBOUNCER_PORT TUTORHUB_PGBOUNCER_SERVER_CONNS TUTORHUB_REPLICA_PORT TUTORHUB_REPLICA_DATA
  TUTORHUB_KRATOS_DSN TUTORHUB_KRATOS_LOG_LEVEL TUTORHUB_CACHE TUTORHUB_PREREQS_DRY_RUN)

# The order services start in; down.sh stops them in reverse.
all_services=(postgres redis mailpit kratos temporal versitygw clamd stripemock pgbouncer replica)

log() { printf '[local] %s\n' "$*" >&2; }
die() { printf '[local] error: %s\n' "$*" >&2; exit 1; }

known_service() {
  local s
  for s in "${all_services[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

pidfile() { echo "$data/$1.pid"; }

# running NAME: prints the pid recorded for NAME if that process is alive and still NAME
# (a stale pid file must not make down.sh kill whatever reused the pid).
running() {
  local f pid
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  pid=$(<"$f")
  [ -n "$pid" ] || return 1
  # As root, PgBouncer runs under runuser (detached_as_postgres), which stays its parent: the
  # pid recorded is runuser's, and the service is its child.
  if [[ $(ps -o comm= -p "$pid" 2>/dev/null) == runuser ]]; then
    pid=$(pgrep -P "$pid" | head -n 1)
    [ -n "$pid" ] || return 1
  fi
  [[ $(ps -o comm= -p "$pid" 2>/dev/null) == "$1"* ]] || return 1
  echo "$pid"
}

# tcp_open HOST PORT: something accepts connections there.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# -L: Kratos answers /health/ready with a redirect to /admin/health/ready, and a redirect
# alone proves nothing.
http_ok() { curl -fsSL -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# urlencode STRING: STRING with every byte but RFC 3986's unreserved characters percent-encoded.
urlencode() {
  local LC_ALL=C s=$1 c i out=
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c" && out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

# pg_url DATABASE [PARAMS [HOST PORT]]: the URL of DATABASE on the stack's PostgreSQL (or on
# HOST:PORT: PgBouncer, the replica), as its user, with the password when one is set
# (TUTORHUB_PG_PASSWORD, else PGPASSWORD).
pg_url() {
  local auth
  auth=$(urlencode "$PG_USER")
  [ -z "$PG_PASSWORD" ] || auth+=:$(urlencode "$PG_PASSWORD")
  printf 'postgres://%s@%s:%s/%s?%s\n' "$auth" "${3:-$PG_HOST}" "${4:-$PG_PORT}" "$1" "${2:-sslmode=disable}"
}

# kratos_database_url: Kratos's DSN (TUTORHUB_KRATOS_DSN, else the stack's kratos database).
kratos_database_url() {
  if [ -n "${TUTORHUB_KRATOS_DSN:-}" ]; then
    printf '%s\n' "$TUTORHUB_KRATOS_DSN"
  else
    pg_url kratos 'sslmode=disable&max_conns=20&max_idle_conns=4'
  fi
}

# api_env: exports what the tutorhub binary needs to reach this stack (the tutorhub database
# with user and password, Redis, Kratos, Temporal, the S3 server, clamd), keeping values the caller set, and unsets the
# variables only these scripts read.
api_env() {
  export TUTORHUB_DATABASE_URL=${TUTORHUB_DATABASE_URL:-$(pg_url tutorhub)}
  export TUTORHUB_REDIS_URL=${TUTORHUB_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}
  export TUTORHUB_KRATOS_PUBLIC_URL=${TUTORHUB_KRATOS_PUBLIC_URL:-http://127.0.0.1:$KRATOS_PUBLIC_PORT}
  export TUTORHUB_KRATOS_ADMIN_URL=${TUTORHUB_KRATOS_ADMIN_URL:-http://127.0.0.1:$KRATOS_ADMIN_PORT}
  export TUTORHUB_TEMPORAL_ADDRESS=${TUTORHUB_TEMPORAL_ADDRESS:-127.0.0.1:$TEMPORAL_PORT}
  export TUTORHUB_S3_ENDPOINT=${TUTORHUB_S3_ENDPOINT:-http://127.0.0.1:$S3_PORT}
  export TUTORHUB_S3_PATH_STYLE=${TUTORHUB_S3_PATH_STYLE:-true}
  export TUTORHUB_S3_ACCESS_KEY_ID=${TUTORHUB_S3_ACCESS_KEY_ID:-$S3_ACCESS_KEY}
  export TUTORHUB_S3_SECRET_ACCESS_KEY=${TUTORHUB_S3_SECRET_ACCESS_KEY:-$S3_SECRET_KEY}
  export TUTORHUB_CLAMD_ADDRESS=${TUTORHUB_CLAMD_ADDRESS:-127.0.0.1:$CLAMD_PORT}
  export TUTORHUB_STRIPE_API_URL=${TUTORHUB_STRIPE_API_URL:-http://127.0.0.1:$STRIPEMOCK_PORT}
  unset "${script_vars[@]}"
}
