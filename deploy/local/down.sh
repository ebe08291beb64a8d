#!/usr/bin/env bash
# Stops the services deploy/local/up.sh started, newest first. Services that were already
# running when up.sh came (a system PostgreSQL or Redis, another checkout's stack) have no
# pid file here and are left alone. Data in .data/ is kept; delete it for a clean slate.
#
# Usage: deploy/local/down.sh [SERVICE...]   (default: all)
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "$0")/lib.sh"

# stop_pid NAME: SIGTERM, a grace period for a clean shutdown, then SIGKILL.
stop_pid() {
  local pid deadline=$((SECONDS + 15))
  if ! pid=$(running "$1"); then
    rm -f "$(pidfile "$1")"
    return
  fi
  log "$1: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$1: still running after 15s, killing"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$(pidfile "$1")"
}

# A cluster up.sh started is stopped the way it was started, so Debian's tools stay in charge.
stop_postgres() {
  local marker=$data/postgres.cluster
  if [ -f "$marker" ]; then
    log "postgres: stopping Debian cluster $(<"$marker")/main"
    pg_ctlcluster --skip-systemctl-redirect "$(<"$marker")" main stop -m fast || true
    rm -f "$marker" "$(pidfile postgres)"
  fi
}

# The replica is stopped through pg_ctl, which waits for a clean shutdown.
stop_replica() {
  [ -f "$REPLICA_DATA/postmaster.pid" ] || return 0
  log "replica: stopping ($REPLICA_DATA)"
  local pg_ctl
  pg_ctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$pg_ctl" -D "$REPLICA_DATA" -m fast -w stop >/dev/null || true
  else
    "$pg_ctl" -D "$REPLICA_DATA" -m fast -w stop >/dev/null || true
  fi
}

services=("$@")
[ $# -gt 0 ] || services=("${all_services[@]}")
for ((i = ${#all_services[@]} - 1; i >= 0; i--)); do
  s=${all_services[i]}
  for want in "${services[@]}"; do
    known_service "$want" || die "unknown service: $want (known: ${all_services[*]})"
    [ "$want" = "$s" ] || continue
    if declare -F "stop_$s" >/dev/null; then "stop_$s"; else stop_pid "$s"; fi
  done
done
