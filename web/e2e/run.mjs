#!/usr/bin/env node
// Runs the browser journey against a real API: starts the local stack (Temporal, storage,
// clamd and stripe-mock included), with test payments on,
// builds the web bundle and the binary, serves it on a free port against a fresh database,
// waits for /ready, starts `tutorhub worker` beside it (the outbox relay and the search,
// notifications, uploads, bookings and payments task queues, under a task queue prefix of this run's own, so it
// shares the dev server with other stacks, and with storage buckets of the run's own), seeds some tutors (most of them published) and rebuilds the search index over them
// (`tutorhub search reindex`), runs e2e/journey.test.mjs with Node's test runner, and tears
// everything down again.
//
// Usage: node e2e/run.mjs [--no-build]   (from web/, or `./just web-test` from the root)
// Environment: TUTORHUB_PG_HOST/PORT/USER/PASSWORD and PGPASSWORD, and the other ports
// deploy/local/up.sh reads (the binary gets the stack's addresses through deploy/local/env.sh);
// TUTORHUB_TEST_MAILPIT_URL (http://127.0.0.1:8025); CHROMIUM (/usr/bin/chromium).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(dirname(fileURLToPath(import.meta.url)));
const root = dirname(web);
const artifacts = join(web, "e2e", "artifacts");
const build = !process.argv.includes("--no-build");

const pg = {
  host: process.env.TUTORHUB_PG_HOST ?? "127.0.0.1",
  port: process.env.TUTORHUB_PG_PORT ?? "5432",
  user: process.env.TUTORHUB_PG_USER ?? "postgres",
};
const runId = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
const database = `tutorhub_e2e_${runId}`;
const seededTutors = 25;

const log = (msg) => console.error(`[e2e] ${msg}`);

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { stdio: "inherit", ...opts });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${res.status ?? res.signal}`);
}

function psql(sql) {
  run("psql", ["-h", pg.host, "-p", pg.port, "-U", pg.user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qtAX", "-c", sql]);
}

/** The single value a query returns, as text. */
function psqlValue(db, sql) {
  const res = spawnSync("psql", ["-h", pg.host, "-p", pg.port, "-U", pg.user, "-d", db, "-v", "ON_ERROR_STOP=1", "-qtAX", "-c", sql], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`psql: ${res.stderr}`);
  return res.stdout.trim();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls url until it answers 200, failing early when the process (named name) exits. */
async function waitReady(url, child, name, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000}s`);
}

/**
 * Starts the binary through deploy/local/env.sh (the stack's addresses), its output going
 * straight to logFile. Not through a pipe: this process blocks in spawnSync while the journey
 * runs and could not drain one, and a child whose pipe is full stops in its next log write
 * (the server in the middle of a request, before its response is flushed).
 */
function startBinary(bin, args, env, logFile) {
  const fd = openSync(logFile, "a");
  try {
    return spawn(join(root, "deploy/local/env.sh"), [bin, ...args], { cwd: root, stdio: ["ignore", fd, fd], env });
  } finally {
    closeSync(fd);
  }
}

function printTail(name, file) {
  try {
    const lines = readFileSync(file, "utf8").trim().split("\n");
    log(`last lines of the ${name} log:\n${lines.slice(-30).join("\n")}`);
  } catch {
    // no log written
  }
}

function stop(child, timeoutMs = 10_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function main() {
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });

  log("starting the local stack");
  run(join(root, "deploy/local/up.sh"), ["postgres", "redis", "mailpit", "kratos", "temporal", "versitygw", "clamd", "stripemock"]);

  if (build) {
    log("building the web bundle");
    run("npm", ["run", "--silent", "build"], { cwd: web });
  }
  const bin = join(tmpdir(), `tutorhub-e2e-${runId}`);
  log("building the binary");
  run("go", ["build", "-o", bin, "./cmd/tutorhub"], { cwd: root, env: { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-buildvcs=false" } });

  log(`creating database ${database}`);
  psql(`CREATE DATABASE "${database}"`);

  let server;
  let worker;
  let failed = true;
  const serverLog = join(artifacts, "server.log");
  const workerLog = join(artifacts, "worker.log");
  try {
    const port = await freePort();
    const metricsPort = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const pgPassword = process.env.TUTORHUB_PG_PASSWORD || process.env.PGPASSWORD;
    const password = pgPassword ? `:${encodeURIComponent(pgPassword)}` : "";
    // deploy/local/env.sh adds the stack's Redis, Kratos and Temporal addresses where these
    // leave them unset, and removes the variables only the local scripts read (the API refuses
    // TUTORHUB_ variables it does not know).
    const env = {
      ...process.env,
      TUTORHUB_ENV: "development",
      TUTORHUB_HTTP_ADDR: `127.0.0.1:${port}`,
      TUTORHUB_DATABASE_URL: `postgres://${pg.user}${password}@${pg.host}:${pg.port}/${database}?sslmode=disable`,
      TUTORHUB_REDIS_KEY_PREFIX: `tutorhub-e2e-${runId}:`,
      TUTORHUB_WORKER_METRICS_ADDR: `127.0.0.1:${metricsPort}`,
      TUTORHUB_LOG_FORMAT: "json",
      // The pages are served here: the worker lets this origin PUT into the quarantine bucket.
      TUTORHUB_HTTP_PUBLIC_URL: url,
      // Buckets of this run's own (the worker creates them), so its CORS rule is nobody else's.
      TUTORHUB_S3_QUARANTINE_BUCKET: `e2e-${runId}-quarantine`,
      TUTORHUB_S3_CLEAN_BUCKET: `e2e-${runId}-clean`,
      // The Pay button pays with Stripe's test card at stripe-mock, whose payment event takes
      // the signed webhook's path (docs/payments.md, "Test payments").
      TUTORHUB_PAYMENTS_TEST_MODE: "true",
      TUTORHUB_STRIPE_WEBHOOK_SECRETS: `whsec_e2e_${runId}`,
    };
    server = startBinary(bin, ["serve", "--migrate"], env, serverLog);
    log(`serving on ${url} (log: ${serverLog})`);
    await waitReady(`${url}/ready`, server, "tutorhub serve", 60_000);
    // The worker refuses a schema behind its code, so it starts once serve has migrated. Its
    // task queues carry this run's prefix: the dev server's namespace is shared.
    const queuePrefix = `e2e-${runId}/`;
    worker = startBinary(bin, ["worker", "--queues", "search,notifications,uploads,bookings,payments", "--queue-prefix", queuePrefix], env, workerLog);
    log(`worker running (metrics http://127.0.0.1:${metricsPort}/metrics, log: ${workerLog})`);
    await waitReady(`http://127.0.0.1:${metricsPort}/health`, worker, "tutorhub worker", 60_000);
    // Published tutors beyond one page, so the list's cursor has somewhere to go.
    run(join(root, "deploy/local/env.sh"), [bin, "dev", "seed", "--tutors", String(seededTutors)], { cwd: root, env });
    // Seeding writes no outbox events: a rebuild (ReindexAll on the worker) puts the seeded
    // tutors in the search index, so searches have pages too.
    log("rebuilding the search index");
    run(join(root, "deploy/local/env.sh"), [bin, "search", "reindex", "--queue-prefix", queuePrefix], { cwd: root, env });
    const listed = psqlValue(database, "SELECT count(*) FROM tutors WHERE published AND deleted_at IS NULL");

    const test = spawnSync(process.execPath, ["--test", "--test-reporter=spec", "--test-concurrency=1", join(web, "e2e", "journey.test.mjs")], {
      cwd: web,
      stdio: "inherit",
      // The database, for the one operator step the journey takes (granting the admin role).
      env: { ...process.env, E2E_BASE_URL: url, E2E_ARTIFACTS: artifacts, E2E_RUN_ID: runId, E2E_LISTED_TUTORS: listed, E2E_DATABASE_URL: env.TUTORHUB_DATABASE_URL },
    });
    failed = test.status !== 0;
  } finally {
    // The worker first: it drains in-flight work and stops polling before the database goes.
    for (const child of [worker, server]) await stop(child, 30_000);
    rmSync(bin, { force: true });
    try {
      psql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } catch (err) {
      log(`could not drop ${database}: ${err.message}`);
    }
    if (failed) {
      log(`the journey failed; screenshots and the server's and worker's logs are in ${artifacts}`);
      printTail("server", serverLog);
      printTail("worker", workerLog);
    }
  }
  return failed ? 1 : 0;
}

// An interrupted run still drops its database; the server and the worker, in the same process
// group, get the signal themselves.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    try {
      psql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } finally {
      process.exit(130);
    }
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(err.stack ?? String(err));
    process.exit(1);
  },
);
