# shellcheck shell=bash disable=SC2034 # the variables below are used by up.sh and down.sh
# Shared by up.sh and down.sh: locations, ports and process helpers of the local stack.
# Every port can be overridden from the environment; up.sh lists the variables.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data=$root/.data
bin=$root/.bin

PG_HOST=${TUTORHUB_PG_HOST:-127.0.0.1}
PG_PORT=${TUTORHUB_PG_PORT:-5432}
PG_USER=${TUTORHUB_PG_USER:-postgres}
REDIS_PORT=${TUTORHUB_REDIS_PORT:-6379}
KRATOS_PUBLIC_PORT=${TUTORHUB_KRATOS_PUBLIC_PORT:-4433}
KRATOS_ADMIN_PORT=${TUTORHUB_KRATOS_ADMIN_PORT:-4434}
MAILPIT_SMTP_PORT=${TUTORHUB_MAILPIT_SMTP_PORT:-1025}
MAILPIT_HTTP_PORT=${TUTORHUB_MAILPIT_HTTP_PORT:-8025}
READY_TIMEOUT=${TUTORHUB_READY_TIMEOUT:-60}

# The order services start in; down.sh stops them in reverse.
all_services=(postgres redis mailpit kratos)

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
  [[ $(ps -o comm= -p "$pid" 2>/dev/null) == "$1"* ]] || return 1
  echo "$pid"
}

# tcp_open HOST PORT: something accepts connections there.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# -L: Kratos answers /health/ready with a redirect to /admin/health/ready, and a redirect
# alone proves nothing.
http_ok() { curl -fsSL -o /dev/null --max-time 2 "$1" 2>/dev/null; }
