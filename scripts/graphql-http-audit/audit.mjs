#!/usr/bin/env node
// GraphQL over HTTP conformance: runs graphql-http's auditServer against a running cdp.
//
//   node scripts/graphql-http-audit/audit.mjs --url http://127.0.0.1:8000/graphql --token <JWT>
//
// The token (or CDP_AUDIT_TOKEN) is sent as `Authorization: Bearer <token>` on every audit
// request: cdp answers nothing without one. Any role works (the audits ask `{ __typename }` and
// `__type(...)`); introspection must be on, i.e. CDP_ENV=development.
//
// graphql-http is installed on first use, with `npm ci` from this directory's lockfile, under a
// cache directory ($GRAPHQL_HTTP_AUDIT_CACHE, else $XDG_CACHE_HOME/cdp/graphql-http-audit, else
// ~/.cache/cdp/graphql-http-audit); never into the repository.
//
// Prints every result and a last line of JSON counts. Exit 0: no errors and no warnings
// (notices, the spec's MAYs, are reported but allowed); 1: errors or warnings; 2: could not run.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const MANIFESTS = ["package.json", "package-lock.json"];

function cacheDir() {
  if (process.env.GRAPHQL_HTTP_AUDIT_CACHE) return process.env.GRAPHQL_HTTP_AUDIT_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "cdp", "graphql-http-audit");
}

/**
 * The directory holding the pinned packages, installed on first use: one directory per
 * lockfile digest, filled in a private temporary directory and renamed into place, so runs in
 * parallel never see a half-installed tree.
 */
function ensureInstalled(cache) {
  const digest = createHash("sha256");
  for (const name of MANIFESTS) digest.update(readFileSync(join(HERE, name)));
  const dir = join(cache, digest.digest("hex").slice(0, 16));
  if (existsSync(join(dir, "node_modules", "graphql-http", "package.json"))) return dir;
  mkdirSync(cache, { recursive: true });
  const staging = mkdtempSync(join(cache, "install-"));
  try {
    for (const name of MANIFESTS) copyFileSync(join(HERE, name), join(staging, name));
    console.error(`graphql-http-audit: installing graphql-http into ${dir}`);
    execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: staging,
      stdio: ["ignore", "inherit", "inherit"],
    });
    try {
      renameSync(staging, dir);
    } catch (err) {
      if (!existsSync(dir)) throw err; // else another run installed it first: use theirs
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return dir;
}

function usage(message) {
  console.error(`graphql-http-audit: ${message}`);
  console.error("usage: audit.mjs --url http://HOST:PORT/graphql [--token JWT]");
  process.exit(2);
}

async function main() {
  const { values } = parseArgs({
    options: { url: { type: "string" }, token: { type: "string" } },
  });
  const url = values.url ?? process.env.CDP_AUDIT_URL;
  const token = values.token ?? process.env.CDP_AUDIT_TOKEN;
  if (!url) usage("--url is required");
  if (!token) usage("--token (or CDP_AUDIT_TOKEN) is required");

  const dir = ensureInstalled(cacheDir());
  const { auditServer } = createRequire(join(dir, "package.json"))("graphql-http");

  const fetchFn = (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
  const results = await auditServer({ url, fetchFn });

  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  const marks = { ok: "ok    ", notice: "notice", warn: "WARN  ", error: "ERROR " };
  for (const result of results) {
    counts[result.status] += 1;
    let line = `${marks[result.status]} ${result.id} ${result.name}`;
    if (result.status !== "ok") {
      const body = await result.response.text().catch(() => "");
      line += `\n         ${result.reason}: HTTP ${result.response.status} ${body.slice(0, 300)}`;
    }
    console.log(line);
  }
  console.log(JSON.stringify({ total: results.length, ...counts }));
  process.exit(counts.error || counts.warn ? 1 : 0);
}

main().catch((err) => {
  console.error(`graphql-http-audit: ${err?.stack ?? err}`);
  process.exit(2);
});
