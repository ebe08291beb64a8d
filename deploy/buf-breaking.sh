#!/usr/bin/env bash
# `buf breaking` against the main branch. third_party/ is generated, not committed, so the
# base image is built from a worktree of main with the same third-party protos.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
base_ref=${BUF_BREAKING_AGAINST:-main}
if ! git rev-parse --verify -q "$base_ref^{commit}" >/dev/null; then
  echo "buf breaking: no $base_ref branch here; nothing to compare against" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --detach -q "$tmp/base" "$base_ref"
if [ ! -d "$tmp/base/proto/tutorhub" ]; then
  echo "buf breaking: $base_ref has no API yet; nothing to compare against" >&2
  exit 0
fi
cp -r third_party "$tmp/base/third_party"
(cd "$tmp/base" && buf build -o "$tmp/base.binpb")
buf build -o "$tmp/head.binpb"
buf breaking "$tmp/head.binpb" --against "$tmp/base.binpb" --config '{"version":"v2","breaking":{"use":["FILE"]}}'
echo "buf breaking: no breaking changes against $base_ref"
