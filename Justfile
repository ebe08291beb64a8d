# tutorhub's tasks. Run through ./just (the pinned just, fetched on first use).
set shell := ["bash", "-euo", "pipefail", "-c"]
set export

GOTOOLCHAIN := "local"
GOFLAGS := "-buildvcs=false"
PATH := justfile_directory() + "/.bin:" + env_var("PATH")
TUTORHUB_HTTP_ADDR := env_var_or_default("TUTORHUB_HTTP_ADDR", "127.0.0.1:8080")
# The PostgreSQL role's password, for a server that asks for one: psql, pgbench and pgx (the
# tests, the load tool) read PGPASSWORD; deploy/local puts it in Kratos's and the API's URLs.
PGPASSWORD := env_var_or_default("TUTORHUB_PG_PASSWORD", env_var_or_default("PGPASSWORD", ""))

# List the recipes.
default:
    @./just --list

# Check the machine's prerequisites for PROFILE (dev, test, web-test, bench); root installs them.
prereqs profile="test":
    deploy/prereqs.sh {{profile}}

# Install the pinned tools into .bin/ (built once into ~/.cache/tutorhub).
tools:
    deploy/tools.sh
    deploy/protodeps.sh

# Start the local stack, migrate, serve the API and the web client beside a worker; print the URLs.
dev: (prereqs "dev") tools web-build
    deploy/local/up.sh
    go build -o .bin/tutorhub ./cmd/tutorhub
    deploy/local/env.sh .bin/tutorhub migrate up
    @echo
    @echo "tutorhub is starting on http://$TUTORHUB_HTTP_ADDR"
    @echo "  web client   http://$TUTORHUB_HTTP_ADDR/  (hot reload: ./just dev-web, then http://127.0.0.1:5173)"
    @echo "  API docs     http://$TUTORHUB_HTTP_ADDR/docs"
    @echo "  OpenAPI      http://$TUTORHUB_HTTP_ADDR/api/v1/openapi.json"
    @echo "  REST         http://$TUTORHUB_HTTP_ADDR/api/v1/subjects"
    @echo "  readiness    http://$TUTORHUB_HTTP_ADDR/ready"
    @echo "  mail inbox   http://127.0.0.1:8025"
    @echo "  Temporal UI  http://127.0.0.1:${TUTORHUB_TEMPORAL_UI_PORT:-8233}/namespaces/tutorhub/workflows"
    @echo "  worker       http://127.0.0.1:9091/metrics  (outbox relay + task queues search, notifications, uploads, bookings, payments)"
    @echo "  payments     stripe-mock; the Pay button uses Stripe's test card (TUTORHUB_PAYMENTS_TEST_MODE, docs/payments.md)"
    @echo
    deploy/local/env.sh .bin/tutorhub worker --queues search,notifications,uploads,bookings,payments & worker=$!; trap 'kill -TERM $worker 2>/dev/null; wait $worker' EXIT; TUTORHUB_PAYMENTS_TEST_MODE=${TUTORHUB_PAYMENTS_TEST_MODE:-true} TUTORHUB_STRIPE_WEBHOOK_SECRETS=${TUTORHUB_STRIPE_WEBHOOK_SECRETS:-whsec_tutorhub_local_development} deploy/local/env.sh .bin/tutorhub serve

# Build the web client into web/dist, which the next Go build embeds and serves at /.
web-build:
    deploy/tools.sh npm
    cd web && npm run --silent build

# Serve the web client from source with hot reload on :5173, proxied to `./just dev`'s API.
dev-web:
    deploy/tools.sh npm
    cd web && exec node_modules/.bin/vite

# The browser journey (Chromium + playwright-core) on a fresh binary; failures: web/e2e/artifacts/.
web-test: (prereqs "web-test") web-build
    cd web && node e2e/run.mjs --no-build

# The production web bundle's size, raw and gzip.
web-size: web-build
    node web/scripts/size.mjs

# Regenerate every generated file: protobuf (Go, TypeScript, OpenAPI) and sqlc.
gen: tools
    rm -rf gen/tutorhub gen/ts gen/openapi/*.json
    buf generate
    sqlc generate
    go run ./cmd/tutorhub config docs > .bin/config-table.md
    awk -v table=.bin/config-table.md '/<!-- config:begin -->/ { print; while ((getline l < table) > 0) print l; skip = 1; next } /<!-- config:end -->/ { skip = 0 } !skip' README.md > .bin/README.md.new
    mv .bin/README.md.new README.md

# Fail when committed generated code differs from what `just gen` produces.
check-gen: gen
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -n "$(git status --porcelain -- gen queries README.md)" ]; then
      git status --porcelain -- gen queries README.md
      git --no-pager diff --stat -- gen queries README.md
      echo "generated code is stale: run ./just gen and commit the result" >&2
      exit 1
    fi
    echo "generated code is up to date"

# Static checks: buf lint and breaking (against main), gofmt, go vet, sqlc vet, shell scripts.
lint: tools
    buf lint
    deploy/buf-breaking.sh
    test -z "$(gofmt -l $(git ls-files '*.go'))" || { gofmt -l $(git ls-files '*.go'); echo "gofmt: the files above need formatting" >&2; exit 1; }
    go vet ./...
    deploy/local/up.sh postgres redis
    deploy/sqlc-vet.sh

# Everything CI runs: lint, the generated-code check, and every test (with the race detector)
# against the real services.
test: (prereqs "test") lint check-gen
    deploy/local/up.sh
    go test -race -count=1 -timeout 20m ./...
    ./just test-pgbouncer
    ./just web-test

# The API's packages and the domain packages again, through PgBouncer in transaction pooling
# mode (the API's production setup): named prepared statements or session state would fail here.
test-pgbouncer:
    deploy/local/up.sh postgres redis pgbouncer
    TUTORHUB_TEST_PG_VIA_PGBOUNCER=1 go test -count=1 -timeout 15m ./server ./tutors ./accounts ./notifications ./outbox ./search ./subjects ./uploads ./serviceaccounts

# Benchmarks: Go benchmarks and the end-to-end load test; cmd/loadtest writes docs/benchmarks.md.
# Login and Refresh run apart at a fixed call count, enough for their percentiles.
bench: (prereqs "bench") tools
    ./just web-size | tee .bin/websize.txt
    deploy/local/up.sh
    go test -run '^$' -bench . -skip 'BenchmarkLogin|BenchmarkRefresh|BenchmarkWebhookToConfirmed' -benchmem ./... | tee .bin/gobench.txt
    go test -run '^$' -bench 'BenchmarkLogin|BenchmarkRefresh' -benchtime 200x -benchmem ./server | tee -a .bin/gobench.txt
    go test -run '^$' -bench 'BenchmarkWebhookToConfirmed' -benchtime 100x -benchmem ./workflows | tee -a .bin/gobench.txt
    go run ./cmd/loadtest -out docs/benchmarks.md -gobench .bin/gobench.txt -websize .bin/websize.txt
