#!/usr/bin/env bash
# Runs COMMAND (the tutorhub binary, usually) against the local stack deploy/local/up.sh
# started: TUTORHUB_DATABASE_URL is the stack's tutorhub database with its user and password
# (TUTORHUB_PG_USER, TUTORHUB_PG_PASSWORD or PGPASSWORD), TUTORHUB_REDIS_URL, the Kratos URLs
# TUTORHUB_TEMPORAL_ADDRESS, the S3 endpoint and credentials and TUTORHUB_CLAMD_ADDRESS follow
# the stack's ports; values already set win. The
# variables only the local scripts read (TUTORHUB_PG_*, the ports, ...) are removed, since the
# API refuses TUTORHUB_ variables it does not know. Without COMMAND, prints the settings as
# shell assignments.
#
# Usage: deploy/local/env.sh [COMMAND [ARG...]]
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "$0")/lib.sh"

api_env
if [ $# -eq 0 ]; then
  for v in TUTORHUB_DATABASE_URL TUTORHUB_REDIS_URL TUTORHUB_KRATOS_PUBLIC_URL TUTORHUB_KRATOS_ADMIN_URL TUTORHUB_TEMPORAL_ADDRESS \
    TUTORHUB_S3_ENDPOINT TUTORHUB_S3_PATH_STYLE TUTORHUB_S3_ACCESS_KEY_ID TUTORHUB_S3_SECRET_ACCESS_KEY TUTORHUB_CLAMD_ADDRESS; do
    printf '%s=%q\n' "$v" "${!v}"
  done
  exit 0
fi
exec "$@"
