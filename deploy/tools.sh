#!/usr/bin/env bash
# Installs the pinned tools the project needs into a cache outside the clone
# (${TUTORHUB_CACHE:-~/.cache/tutorhub}/bin/NAME-VERSION) and links each into .bin/.
# A tool is built once per pinned version; a fresh clone reuses the cache.
# Usage: deploy/tools.sh [NAME ...]   (no names: every tool)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${TUTORHUB_CACHE:-$HOME/.cache/tutorhub}/bin
bin=$root/.bin
mkdir -p "$cache" "$bin"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

# The pins. Changing one rebuilds that tool only.
BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_CONNECT_GO_VERSION=v1.21.1
PROTOC_GEN_CONNECT_OPENAPI_VERSION=v0.25.6 # pinned in tools/openapi/go.mod
SQLC_VERSION=v1.31.1
GRPCURL_VERSION=v1.9.3
KRATOS_VERSION=v1.3.1 # pinned in deploy/kratos/build/go.mod
MAILPIT_VERSION=v1.33.1
TEMPORAL_VERSION=v1.5.1 # the Temporal CLI; `temporal server start-dev` is the local server
VERSITYGW_VERSION=v1.8.0 # the Versity S3 Gateway (Apache-2.0): the local S3-compatible storage
TOXIPROXY_VERSION=v2.5.0 # Toxiproxy (MIT): the fault tests' private proxy in front of PostgreSQL, Redis, Kratos
STRIPE_MOCK_VERSION=v0.203.0 # stripe-mock (MIT): the Stripe API with canned answers, for payments

log() { printf '[tools] %s\n' "$*" >&2; }

# install NAME VERSION BUILD_COMMAND...: runs BUILD_COMMAND with $out set to the
# cache path unless that version is already cached, then links it into .bin/.
install() {
  local name=$1 version=$2; shift 2
  local out=$cache/$name-$version
  if [ ! -x "$out" ]; then
    log "building $name $version (once; cached in $cache)"
    local start=$SECONDS
    # A lock keeps two clones (or a test run and `just dev`) from building the same tool at once.
    (
      flock 9
      if [ ! -x "$out" ]; then
        out_tmp="$out.tmp.$$" "$@"
        mv "$out.tmp.$$" "$out"
      fi
    ) 9>"$out.lock"
    log "built $name in $((SECONDS - start)) s"
  fi
  ln -sfn "$out" "$bin/$name"
}

go_install() { # PACKAGE VERSION
  local tmp; tmp=$(mktemp -d)
  GOBIN=$tmp go install "$1@$2"
  mv "$tmp"/* "$out_tmp"
  rm -rf "$tmp"
}

build_in() { # DIR PACKAGE [LDFLAGS]
  (cd "$root/$1" && go build -trimpath -ldflags "-s -w ${3:-}" -o "$out_tmp" "$2")
}

tool() {
  case $1 in
    buf) install buf $BUF_VERSION go_install github.com/bufbuild/buf/cmd/buf $BUF_VERSION ;;
    protoc-gen-go) install protoc-gen-go $PROTOC_GEN_GO_VERSION go_install google.golang.org/protobuf/cmd/protoc-gen-go $PROTOC_GEN_GO_VERSION ;;
    protoc-gen-connect-go) install protoc-gen-connect-go $PROTOC_GEN_CONNECT_GO_VERSION go_install connectrpc.com/connect/cmd/protoc-gen-connect-go $PROTOC_GEN_CONNECT_GO_VERSION ;;
    protoc-gen-connect-openapi) install protoc-gen-connect-openapi $PROTOC_GEN_CONNECT_OPENAPI_VERSION build_in tools/openapi github.com/sudorandom/protoc-gen-connect-openapi ;;
    sqlc) install sqlc $SQLC_VERSION go_install github.com/sqlc-dev/sqlc/cmd/sqlc $SQLC_VERSION ;;
    grpcurl) install grpcurl $GRPCURL_VERSION go_install github.com/fullstorydev/grpcurl/cmd/grpcurl $GRPCURL_VERSION ;;
    kratos) install kratos $KRATOS_VERSION build_in deploy/kratos/build . "-X github.com/ory/kratos/driver/config.Version=$KRATOS_VERSION" ;;
    mailpit) install mailpit $MAILPIT_VERSION go_install github.com/axllent/mailpit $MAILPIT_VERSION ;;
    temporal) install temporal $TEMPORAL_VERSION go_install github.com/temporalio/cli/cmd/temporal $TEMPORAL_VERSION ;;
    versitygw) install versitygw $VERSITYGW_VERSION go_install github.com/versity/versitygw/cmd/versitygw $VERSITYGW_VERSION ;;
    toxiproxy-server) install toxiproxy-server $TOXIPROXY_VERSION go_install github.com/Shopify/toxiproxy/v2/cmd/server $TOXIPROXY_VERSION ;;
    stripemock) install stripemock $STRIPE_MOCK_VERSION go_install github.com/stripe/stripe-mock $STRIPE_MOCK_VERSION ;;
    npm) # protoc-gen-es and the web client's packages, exactly as the lockfile says
      if [ ! -x "$root/web/node_modules/.bin/protoc-gen-es" ] || [ "$root/web/package-lock.json" -nt "$root/web/node_modules/.package-lock.json" ]; then
        log "npm ci in web/"
        (cd "$root/web" && npm ci --no-audit --no-fund --loglevel=error)
      fi
      ln -sfn "$root/web/node_modules/.bin/protoc-gen-es" "$bin/protoc-gen-es" ;;
    *) echo "unknown tool: $1" >&2; exit 2 ;;
  esac
}

all=(buf protoc-gen-go protoc-gen-connect-go protoc-gen-connect-openapi sqlc grpcurl toxiproxy-server npm)
for t in "${@:-${all[@]}}"; do tool "$t"; done
