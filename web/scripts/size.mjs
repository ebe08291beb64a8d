#!/usr/bin/env node
// Prints the size of the production bundle (web/dist): every file a first page load fetches
// (index.html and what it references), raw and gzip-compressed at level 9.
// Usage: node scripts/size.mjs [--json]
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const dist = join(dirname(dirname(fileURLToPath(import.meta.url))), "dist");
let index;
try {
  index = readFileSync(join(dist, "index.html"), "utf8");
} catch {
  console.error("web/dist/index.html is missing: run ./just web-build first");
  process.exit(1);
}

const files = ["index.html", ...new Set([...index.matchAll(/(?:src|href)="\/([^"]+)"/g)].map((m) => m[1]))];
const rows = files.map((name) => {
  const data = readFileSync(join(dist, name));
  return { name, bytes: statSync(join(dist, name)).size, gzip: gzipSync(data, { level: 9 }).length };
});
const total = rows.reduce((t, r) => ({ bytes: t.bytes + r.bytes, gzip: t.gzip + r.gzip }), { bytes: 0, gzip: 0 });

if (process.argv.includes("--json")) {
  console.log(JSON.stringify({ files: rows, total }, null, 2));
} else {
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const width = Math.max(...rows.map((r) => r.name.length));
  console.log(`web bundle (first page load): ${kb(total.bytes)} raw, ${kb(total.gzip)} gzip`);
  for (const r of rows) console.log(`  ${r.name.padEnd(width)}  ${kb(r.bytes).padStart(10)}  ${kb(r.gzip).padStart(10)} gzip`);
}
