#!/usr/bin/env node
// Runs the browser journey against a real API: starts the local stack, builds the web bundle
// and the binary, serves it on a free port against a fresh database, waits for /ready, seeds
// some tutors (most of them published), runs e2e/journey.test.mjs with Node's test runner, and tears
// everything down again.
//
// Usage: node e2e/run.mjs [--no-build]   (from web/, or `./just web-test` from the root)
// Environment: TUTORHUB_PG_HOST/PORT/USER/PASSWORD and PGPASSWORD as deploy/local/up.sh reads them;
// TUTORHUB_TEST_MAILPIT_URL (http://127.0.0.1:8025); CHROMIUM (/usr/bin/chromium).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, readFileSync, rmSync } from "node:fs";
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

async function waitReady(url, server, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`tutorhub serve exited with ${server.exitCode}`);
    try {
      const res = await fetch(`${url}/ready`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url}/ready did not answer 200 within ${timeoutMs / 1000}s`);
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
  run(join(root, "deploy/local/up.sh"), ["postgres", "redis", "mailpit", "kratos"]);

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
  let out;
  let failed = true;
  const serverLog = join(artifacts, "server.log");
  try {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const pgPassword = process.env.TUTORHUB_PG_PASSWORD || process.env.PGPASSWORD;
    const password = pgPassword ? `:${encodeURIComponent(pgPassword)}` : "";
    // The API refuses TUTORHUB_ variables it does not know, such as deploy/local's TUTORHUB_PG_*.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TUTORHUB_PG_")));
    const env = {
      ...inherited,
      TUTORHUB_ENV: "development",
      TUTORHUB_HTTP_ADDR: `127.0.0.1:${port}`,
      TUTORHUB_DATABASE_URL: `postgres://${pg.user}${password}@${pg.host}:${pg.port}/${database}?sslmode=disable`,
      TUTORHUB_REDIS_KEY_PREFIX: `tutorhub-e2e-${runId}:`,
      TUTORHUB_LOG_FORMAT: "json",
    };
    out = createWriteStream(serverLog);
    server = spawn(bin, ["serve", "--migrate"], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env });
    server.stdout.pipe(out);
    server.stderr.pipe(out);
    log(`serving on ${url} (log: ${serverLog})`);
    await waitReady(url, server, 60_000);
    // Published tutors beyond one page, so the list's cursor has somewhere to go.
    run(bin, ["dev", "seed", "--tutors", String(seededTutors)], { cwd: root, env });
    const listed = psqlValue(database, "SELECT count(*) FROM tutors WHERE published AND deleted_at IS NULL");

    const test = spawnSync(process.execPath, ["--test", "--test-reporter=spec", "--test-concurrency=1", join(web, "e2e", "journey.test.mjs")], {
      cwd: web,
      stdio: "inherit",
      env: { ...process.env, E2E_BASE_URL: url, E2E_ARTIFACTS: artifacts, E2E_RUN_ID: runId, E2E_LISTED_TUTORS: listed },
    });
    failed = test.status !== 0;
  } finally {
    await stop(server);
    await new Promise((resolve) => (out ? out.end(resolve) : resolve()));
    rmSync(bin, { force: true });
    try {
      psql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } catch (err) {
      log(`could not drop ${database}: ${err.message}`);
    }
    if (failed) {
      log(`the journey failed; screenshots and the server log are in ${artifacts}`);
      try {
        const lines = readFileSync(serverLog, "utf8").trim().split("\n");
        log(`last lines of the server log:\n${lines.slice(-30).join("\n")}`);
      } catch {
        // no log written
      }
    }
  }
  return failed ? 1 : 0;
}

// An interrupted run still drops its database; the server, in the same process group, gets
// the signal itself.
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
