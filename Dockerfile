# syntax=docker/dockerfile:1
# The tutorhub binary (API server, worker and tools are its subcommands).
#   docker build -t tutorhub .   ·   docker compose up --build

# The web client (web/dist), built from its lockfile and the generated TypeScript clients.
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY gen/ts /src/gen/ts
COPY web/ ./
RUN npm run build

FROM golang:1.26 AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
COPY --from=web /src/web/dist ./web/dist
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/tutorhub ./cmd/tutorhub

# debian-slim rather than distroless: curl serves the health check.
FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin tutorhub
COPY --from=build /out/tutorhub /usr/local/bin/tutorhub
# Production rules by default: secure cookies, no development keys, no test captcha or
# wildcard CORS (the server refuses to start otherwise). Override only for a local try-out.
ENV TUTORHUB_ENV=production
USER tutorhub
EXPOSE 8080
ENTRYPOINT ["tutorhub"]
CMD ["serve", "--migrate"]
