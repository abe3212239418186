// One process of the fleet benchmark (started by bench/fleet.ts, one per measurement, so each
// RSS is its own). `sim`: passes of 200 sources x 5 datasets on scripted hosts, `concurrency`
// at a time, each recorded in the history and followed by the alert evaluation the daemon does,
// while a client process requests /status?format=json and /metrics from the status app; the
// clock moves 3 s per pass (200 sources every 10 minutes); the passes run as fast as they can,
// about 100 times faster than a real fleet's. `append`: append latency at about 1,000 rows, then with the
// runs table filled to `rows`. Prints one JSON line of measurements.

import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { spawn } from "node:child_process";
import { conditionsOf, planAlerts, type AlertRecord } from "../server/core/alerts.ts";
import type { RunRecord } from "../server/core/model.ts";
import { buildStatus, type StatusRow } from "../server/core/status.ts";
import { runSource, type SourceJob } from "../server/engine/run-source.ts";
import { createStatusApp } from "../server/http/status-app.ts";
import { connect } from "../server/state/schema.ts";
import { HistoryStore, historyPaths } from "../server/state/store.ts";
import { ZfsHost } from "../server/zfs/zfs-host.ts";
import { FakeRunner, starts } from "../test/helpers/fake-runner.ts";
import { HistoryStore as JsonHistoryStore } from "./json-store.ts";
import { fleetRow } from "./fleet-year.ts";
import { listingText } from "./listings.ts";

/** What both stores offer that a pass and the status use. */
interface Store {
  appendRun(run: RunRecord): Promise<void>;
  statusRows(): StatusRow[];
  latest(): StatusRow[];
  alerts(): Map<string, AlertRecord>;
}

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=") as [string, string]));
const arg = (k: string, d?: string): string => args.get(k) ?? d ?? ((): never => { throw new Error(`--${k}= is required`); })();
const SOURCES = 200;
const DATASETS = 5;
const PASS_MS = 3000;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function openStore(kind: string, path: string, now: () => number, keep?: { days: number; detailHours: number }): Promise<Store> {
  if (kind === "json") return (await JsonHistoryStore.open(path, { now, ...(keep ? { keep } : {}) })).store;
  // As the daemon opens it.
  return (await HistoryStore.open(path, { now, checkpointThread: true, ...(keep ? { keep } : {}) })).store;
}

/**
 * The client: another process, as curl and Prometheus are. Each line on its stdin asks for one
 * request ("s": /status?format=json, "m": /metrics), one at a time; it prints the latencies when
 * stdin closes. Requests follow the passes (one /status per 5, one /metrics per 50), so every
 * phase serves the same requests per pass whatever its speed.
 */
const CLIENT = `
const port = process.argv[1];
const lat = { status: [], metrics: [] };
let queue = Promise.resolve();
let buf = "";
process.stdin.on("data", (c) => {
  buf += c;
  const lines = buf.split("\\n");
  buf = lines.pop();
  for (const l of lines) queue = queue.then(() => get(l === "m" ? "metrics" : "status", l === "m" ? "/metrics" : "/status?format=json"));
}).on("end", () => queue.then(() => process.stdout.write(JSON.stringify(lat))));
async function get(what, path) {
  const t0 = performance.now();
  const res = await fetch("http://127.0.0.1:" + port + path);
  await res.text();
  lat[what].push(performance.now() - t0);
}`;

/** Time spent in the store's calls (wall and this process's CPU), summed. */
const spent = { wallMs: 0, cpuMs: 0 };

/** The store with every call timed into `spent`. */
function timed(store: Store): Store {
  const time = <T>(f: () => T): T => {
    const w = performance.now();
    const c = process.cpuUsage();
    const out = f();
    const d = process.cpuUsage(c);
    spent.wallMs += performance.now() - w;
    spent.cpuMs += (d.user + d.system) / 1000;
    return out;
  };
  return {
    appendRun: (run) => time(() => store.appendRun(run)),
    statusRows: () => time(() => store.statusRows()),
    latest: () => time(() => store.latest()),
    alerts: () => time(() => store.alerts()),
  };
}

async function sim(): Promise<Record<string, number>> {
  let now = Number(arg("now"));
  const t0 = performance.now();
  const store = timed(await openStore(arg("store"), arg("state"), () => now));
  const openMs = performance.now() - t0;
  const usage = readFileSync(new URL("../test/fixtures/zfs/zfs-fuse-usage.txt", import.meta.url), "utf8");
  const guid = (d: number, s: number): string => String(d * 1000 + s + 1);
  const srcText = listingText("tank", DATASETS, 25, guid);
  const dstText = listingText("backup/SRC/tank", DATASETS, 24, guid);
  const probe = { match: (a: string[]) => a.length === 1 && a[0] === "zfs", stderr: usage, code: 2 };
  const jobs: SourceJob[] = Array.from({ length: SOURCES }, (_, i) => ({ name: `src${i}`, targetRoot: `backup/src${i}`, roots: [{ name: "tank", recursive: true }], policy: { firstSend: "oldest", includePrefixes: [] } }));
  const sources = jobs.map((j) => ({ name: j.name, target: j.targetRoot, datasets: j.roots, maxLagSeconds: 3600 }));
  const status = () => buildStatus({ sources, rows: store.statusRows(), pools: [], live: [], nextRuns: new Map(), now });
  const server = createStatusApp({ status }).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const client = spawn(process.execPath, ["-e", CLIENT, String((server.address() as AddressInfo).port)], { stdio: ["pipe", "pipe", "inherit"] });
  let clientOut = "";
  client.stdout.on("data", (c: Buffer) => (clientOut += c));
  const passes = Number(arg("passes"));
  const pass: number[] = [];
  const append: number[] = [];
  const evaluate: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 5 });
  // The same, paused while a /metrics scrape is served (prom-client renders 1,000 datasets' gauges at once).
  const delayNoMetrics = monitorEventLoopDelay({ resolution: 5 });
  server.on("request", (req, res) => {
    if (req.url !== "/metrics") return;
    delayNoMetrics.disable();
    res.once("finish", () => delayNoMetrics.enable());
  });
  delay.enable();
  delayNoMetrics.enable();
  const phase0 = performance.now();
  const cpu0 = process.cpuUsage();
  spent.wallMs = spent.cpuMs = 0;
  let started = 0;
  let next = Number(arg("first", "0"));
  const stopAt = next + passes;
  await Promise.all(Array.from({ length: Number(arg("concurrency", "4")) }, async () => {
    while (next < stopAt) {
      const job = jobs[next++ % SOURCES]!;
      now += PASS_MS;
      if (++started % 5 === 0) client.stdin.write(started % 50 === 0 ? "m\n" : "s\n");
      const p0 = performance.now();
      const remote = new FakeRunner(job.name, [probe, { match: starts("zfs", "get"), stdout: srcText }, { match: starts("zfs", "send"), stdout: "x" }, { match: () => true, code: 0 }]);
      const local = new FakeRunner("local", [probe, { match: starts("zfs", "get"), stdout: dstText.replaceAll("SRC", job.name) }, { match: starts("zfs", "receive"), readsStdin: true }, { match: () => true, code: 0 }]);
      const rec = await runSource(job, { connect: async () => new ZfsHost(remote), local: new ZfsHost(local), now: () => new Date(now) }, `r${now}-${job.name}`);
      const a0 = performance.now();
      await store.appendRun(rec);
      const e0 = performance.now();
      append.push(e0 - a0);
      // What Notifier.evaluate reads after every pass.
      const m = status();
      const details = new Map<string, string>();
      for (const r of store.latest()) if (r.error?.detail) details.set(`${r.source}:${r.dataset}`, r.error.detail);
      planAlerts(conditionsOf(m, details), store.alerts(), now, 6 * 3600_000);
      const done = performance.now();
      evaluate.push(done - e0);
      pass.push(done - p0);
    }
  }));
  const phaseMs = performance.now() - phase0;
  const cpu = process.cpuUsage(cpu0);
  const store0 = { ...spent };
  delay.disable();
  delayNoMetrics.disable();
  const rss = process.memoryUsage().rss;
  global.gc?.();
  const heap = process.memoryUsage().heapUsed;
  const text: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/status`)).text();
    text.push(performance.now() - t);
  }
  client.stdin.end();
  await new Promise((r) => client.once("close", r));
  const lat = JSON.parse(clientOut) as { status: number[]; metrics: number[] };
  server.close();
  return {
    openMs, passes, phaseMs, cpuPerPass: (cpu.user + cpu.system) / 1000 / passes, storeCpuPerPass: store0.cpuMs / passes, storeWallPerPass: store0.wallMs / passes, passMean: mean(pass), passP50: pct(pass, 50), appendP50: pct(append, 50), appendP99: pct(append, 99), appendMax: Math.max(...append),
    evaluateMean: mean(evaluate), loopP99: delay.percentile(99) / 1e6, loopMax: delay.max / 1e6, loopP99NoMetrics: delayNoMetrics.percentile(99) / 1e6,
    statusP50: pct(lat.status, 50), statusP99: pct(lat.status, 99), statusN: lat.status.length, metricsP99: pct(lat.metrics, 99), metricsN: lat.metrics.length,
    textStatusMean: mean(text), rssMB: rss / 1e6, heapMB: heap / 1e6, rows: store.statusRows().length,
  };
}

/** Append p99 of `n` passes of 5 datasets. */
async function appendP99(store: Store, n: number, at: () => number, advance: () => void): Promise<{ p50: number; p99: number; cpuP99: number }> {
  const xs: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < n; i++) {
    advance();
    const s = i % SOURCES;
    const rec: RunRecord = { runId: `a${at()}`, source: `src${s}`, startedAt: new Date(at()).toISOString(), finishedAt: new Date(at() + 900).toISOString(), phases: {}, goneOnSource: [],
      datasets: Array.from({ length: DATASETS }, (_, d) => fleetRow(s, d, at(), false)) };
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await store.appendRun(rec);
    const c = process.cpuUsage(c0);
    xs.push(performance.now() - t0);
    cpus.push((c.user + c.system) / 1000);
  }
  return { p50: pct(xs, 50), p99: pct(xs, 99), cpuP99: pct(cpus, 99) };
}

async function appendScale(): Promise<Record<string, number>> {
  const path = arg("state");
  const target = Number(arg("rows"));
  let now = Date.parse("2026-01-01T00:00:00Z");
  // Nothing ages out here: this measures the append against the size of the runs table.
  const keep = { days: 36500, detailHours: 24 * 36500 };
  const advance = (): void => void (now += PASS_MS);
  let store = await openStore("sqlite", path, () => now, keep);
  await appendP99(store, 200, () => now, advance); // 1,000 rows
  const small = await appendP99(store, 500, () => now, advance);
  (store as HistoryStore).close();
  // Fill the runs table to `target` rows with a real row's JSON, in SQL (a few seconds per million).
  const t0 = performance.now();
  const db = connect(historyPaths(path).db, { rollbackJournal: true });
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  const row = JSON.stringify(fleetRow(1, 1, now, false));
  const have = db.prepare("SELECT count(*) FROM runs").pluck().get() as number;
  const fill = db.prepare(`WITH RECURSIVE c(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM c WHERE i < ?)
    INSERT INTO runs (ds, started_ms, result, bytes, transfer_ms, rolled, row) SELECT i % 1000 + 1, ? + i * 600, 'ok', 1234567, 420, 0, ? FROM c`);
  for (let done = have; done < target; done += 1_000_000) db.transaction(() => fill.run(done + 1, Math.min(target, done + 1_000_000), now - 400 * 86400_000, row))();
  const rows = db.prepare("SELECT count(*) FROM runs").pluck().get() as number;
  db.close();
  const fillMs = performance.now() - t0;
  store = await openStore("sqlite", path, () => now, keep);
  await appendP99(store, 50, () => now, advance); // warm the page cache as a running daemon has it
  const big = await appendP99(store, 500, () => now, advance);
  (store as HistoryStore).close();
  return { smallP50: small.p50, smallP99: small.p99, smallCpuP99: small.cpuP99, rows, bigP50: big.p50, bigP99: big.p99, bigCpuP99: big.cpuP99, fillMs, rssMB: process.memoryUsage().rss / 1e6 };
}

const out = arg("mode") === "append" ? await appendScale() : await sim();
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);
