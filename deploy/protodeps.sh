#!/usr/bin/env bash
# Fetches the third-party .proto files the API imports into third_party/ from the Go module
# proxy (pinned module versions), so `buf` never needs the Buf Schema Registry.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
out=$root/third_party
PROTOVALIDATE=github.com/bufbuild/protovalidate@v1.2.2
GRPC_GATEWAY=github.com/grpc-ecosystem/grpc-gateway@v1.16.0

moddir() { (cd "$root" && go mod download -json "$1") | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

stamp="$PROTOVALIDATE $GRPC_GATEWAY"
[ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] && exit 0
pv=$(moddir "$PROTOVALIDATE")
gw=$(moddir "$GRPC_GATEWAY")
rm -rf "$out"
mkdir -p "$out/buf/validate" "$out/google/api"
cp "$pv/proto/protovalidate/buf/validate/validate.proto" "$out/buf/validate/"
cp "$gw/third_party/googleapis/google/api/annotations.proto" "$gw/third_party/googleapis/google/api/http.proto" "$out/google/api/"
chmod -R u+w "$out"
echo "$stamp" > "$out/.stamp"
