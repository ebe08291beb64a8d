#!/usr/bin/env bash
# Checks that this machine has the programs a tutorhub command needs. Run as root, it installs
# the missing ones with apt (Debian packages); run as anyone else, it stops with one line naming
# the command that installs them. Silent when nothing is missing.
#
# Usage: deploy/prereqs.sh [PROFILE...]   (default: test)
#   node      Node and npm (the ./just wrapper needs them to fetch just)
#   dev       ./just dev: Go, git, curl, ps, flock, psql and pg_isready, redis-server and
#             redis-cli, Node (the version the web client's Vite needs) and npm, ClamAV's clamd
#             and sigtool with the ClamAV test files (the local stack's virus scanner and the
#             signatures deploy/local/up.sh builds)
#   web-test  ./just web-test: dev's, plus Chromium for the browser journey
#   test      ./just test and .ci/run: web-test's, plus PgBouncer (one leg of the suite runs
#             through it; the tests start their own redis-server)
#   bench     ./just bench: dev's, plus pgbench and redis-benchmark
#
# Environment:
#   TUTORHUB_PREREQS_DRY_RUN=1  print the apt-get commands an install would run, run nothing
#   CHROMIUM                    the browser the journey drives (default /usr/bin/chromium)
#   CLAMD                       ClamAV's daemon when not on PATH (default /usr/sbin/clamd)
#
# Go cannot come from apt (Debian's golang is older than go.mod's), and neither can a Node
# new enough on Debian 12 (its nodejs is 18): both are checked and named, never installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '[prereqs] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# version_ge A B: version A is at least B (numeric dotted versions).
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$2" ]; }

# satisfies VERSION RANGE: VERSION meets an npm engines range made of `||` alternatives of
# space-separated comparators (^X.Y.Z ~X.Y.Z >=X >X <=X <X =X X), the forms engines use.
satisfies() {
  local v=$1 alt c want major minor ok
  local IFS='|'
  for alt in $2; do
    [ -n "${alt// /}" ] || continue
    ok=1
    IFS=' '
    for c in $alt; do
      want=${c#[\^~<>=]}; want=${want#=}
      major=${want%%.*}; minor=${want#*.}; minor=${minor%%.*}
      case $c in
        ^*) version_ge "$v" "$want" && ! version_ge "$v" "$((major + 1)).0.0" || ok= ;;
        ~*) version_ge "$v" "$want" && ! version_ge "$v" "$major.$((minor + 1)).0" || ok= ;;
        '>='*) version_ge "$v" "$want" || ok= ;;
        '>'*) version_ge "$v" "$want" && [ "$v" != "$want" ] || ok= ;;
        '<='*) version_ge "$want" "$v" || ok= ;;
        '<'*) ! version_ge "$v" "$want" || ok= ;;
        *) [ "$v" = "$want" ] || ok= ;;
      esac
    done
    IFS='|'
    [ -z "$ok" ] || return 0
  done
  return 1
}

# node_ranges: the Node ranges the web client declares and Vite (its build tool) requires,
# read from the committed lockfile so they are known before `npm ci`.
node_ranges() {
  awk '
    /^    "(node_modules\/vite)?": \{$/ { inside = 1; next }
    inside && /^    \}/ { inside = 0 }
    inside && /^        "node": "/ { sub(/^        "node": "/, ""); sub(/",?$/, ""); print }
  ' "$root/web/package-lock.json"
}

# --- what each profile needs ------------------------------------------------------------

declare -A package=(
  [curl]=curl [ps]=procps [git]=git [flock]=util-linux
  [psql]=postgresql-client [pg_isready]=postgresql-client [pgbench]=postgresql-contrib
  [redis-server]=redis-server [redis-cli]=redis-tools [redis-benchmark]=redis-tools
  [node]=nodejs [npm]=npm [chromium]=chromium
  [clamd]=clamav-daemon [sigtool]=clamav [clamav-testfiles]=clamav-testfiles
  [pgbouncer]=pgbouncer
)
needs=()
want() {
  local p
  for p in "$@"; do [[ " ${needs[*]} " == *" $p "* ]] || needs+=("$p"); done
}
profile() {
  case $1 in
    node) want node npm ;;
    dev) want go git curl ps flock psql pg_isready redis-server redis-cli node npm clamd sigtool clamav-testfiles ;;
    web-test) profile dev && want chromium ;;
    test) profile web-test && want pgbouncer ;;
    bench) profile dev && want pgbench redis-benchmark ;;
    *) die "unknown profile: $1 (known: node dev web-test test bench)" ;;
  esac
}
for p in "${@:-test}"; do profile "$p"; done

# present PROGRAM: the program runs here.
present() {
  case $1 in
    # Debian's postgresql-client-common puts a pgbench wrapper on PATH that fails when the
    # server package, which holds the real pgbench, is absent.
    pgbench) pgbench --version >/dev/null 2>&1 ;;
    chromium) [ -x "${CHROMIUM:-/usr/bin/chromium}" ] ;;
    # /usr/sbin is not on every user's PATH.
    clamd) command -v clamd >/dev/null 2>&1 || [ -x "${CLAMD:-/usr/sbin/clamd}" ] ;;
    clamav-testfiles) [ -f /usr/share/clamav-testfiles/clam.exe ] ;;
    pgbouncer) command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing_packages() {
  local p pkgs=()
  for p in "${needs[@]}"; do
    [ "$p" != go ] || continue
    present "$p" && continue
    [[ " ${pkgs[*]} " == *" ${package[$p]} "* ]] || pkgs+=("${package[$p]}")
  done
  echo "${pkgs[*]}"
}

# --- Go: from go.dev only ----------------------------------------------------------------

if [[ " ${needs[*]} " == *" go "* ]]; then
  go_want=$(awk '$1 == "go" { print $2; exit }' "$root/go.mod")
  command -v go >/dev/null 2>&1 || die "Go $go_want or newer is needed and not on PATH: install it from https://go.dev/dl (Debian's golang package is older)"
  go_have=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null || true)
  go_have=${go_have#go}
  version_ge "${go_have%%[-+ ]*}" "$go_want" ||
    die "Go $go_want or newer is needed, this is go$go_have: install it from https://go.dev/dl"
fi

# --- Debian packages ---------------------------------------------------------------------

missing=$(missing_packages)
if [ -n "$missing" ]; then
  if [ -n "${TUTORHUB_PREREQS_DRY_RUN:-}" ]; then
    say "would run: apt-get update -qq"
    say "would run: DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing"
    exit 0
  fi
  if [ "$(id -u)" != 0 ]; then
    die "missing Debian packages $missing: install them with: sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $missing"
  fi
  say "installing $missing"
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  still=$(missing_packages)
  [ -z "$still" ] || die "still missing after apt-get install: $still"
fi

# --- Node's version ----------------------------------------------------------------------

if [[ " ${needs[*]} " == *" node "* ]]; then
  node_have=$(node --version 2>/dev/null || true)
  node_have=${node_have#v}
  unmet=()
  while IFS= read -r range; do
    [ -z "$range" ] || satisfies "$node_have" "$range" || unmet+=("$range")
  done < <(node_ranges)
  [ ${#unmet[@]} -eq 0 ] ||
    die "Node ${node_have:-(unknown)} is too old: the web client and Vite need Node $(printf '%s and ' "${unmet[@]}" | sed 's/ and $//') (web/package-lock.json); install it from https://nodejs.org/en/download (Debian 12's nodejs is 18)"
fi
exit 0
