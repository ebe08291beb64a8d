#!/usr/bin/env bash
# `sqlc vet` prepares every query against a scratch database migrated to head, so a query
# that no longer matches the schema fails here rather than at run time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=deploy/local/lib.sh
. deploy/local/lib.sh
admin=${TUTORHUB_TEST_DATABASE_URL:-$(pg_url postgres)}
db=tutorhub_sqlc_vet
url=${admin%%/postgres\?*}/$db?sslmode=disable
psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
trap 'psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
TUTORHUB_DATABASE_URL=$url deploy/local/env.sh go run ./cmd/tutorhub migrate up >/dev/null
SQLC_DATABASE_URI=$url sqlc vet
echo "sqlc vet: every query prepares against the migrated schema"
