// One process of the fleet benchmark (started by bench/fleet.ts, one per measurement, so each
// RSS is its own). `sim`: passes of 200 sources x 5 datasets on scripted hosts, `concurrency`
// at a time, each recorded in the history and followed by the alert evaluation the daemon does
// (its DaemonState and Notifier; `variant=before`: a fresh status and an evaluation after every
// pass, as the daemon did before evaluations were coalesced and the status reused), while a client process requests /status?format=json and /metrics from the status app; the
// clock moves 3 s per pass (200 sources every 10 minutes); the passes follow each other as fast
// as they go, about 100 times faster than a real fleet's, so the event loop is never idle;
// `paced=N` then renders an alert mail and runs N more at the fleet's real rate (one per 3 s of
// wall time, idle between): the RSS a mailing daemon keeps in service (sampled after each pass
// and its alert evaluation, and again before the next) and its event-loop delay while it works. `append`: append latency at about 1,000 rows, then with the
// runs table filled to `rows`. `floor`: the event-loop delay of 2 ms tasks alone, which is what
// this machine gives any process at the moment. Prints one JSON line of measurements.

import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { createHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import { spawn } from "node:child_process";
import type { AlertRecord } from "../server/core/alerts.ts";
import type { RunRecord } from "../server/core/model.ts";
import { buildStatus, type StatusRow } from "../server/core/status.ts";
import { DaemonState } from "../server/cli/daemon-state.ts";
import { Notifier } from "../server/cli/notify.ts";
import type { Config } from "../server/config/schema.ts";
import { createLogger } from "../server/log.ts";
import { Journal } from "../server/state/journal.ts";
import { renderAlert } from "../server/email/render.ts";
import { runSource, type SourceJob } from "../server/engine/run-source.ts";
import { createStatusApp } from "../server/http/status-app.ts";
import { connect } from "../server/state/schema.ts";
import { HistoryStore, historyPaths } from "../server/state/store.ts";
import { ZfsHost } from "../server/zfs/zfs-host.ts";
import { POOL_FULL_ALERT } from "../test/helpers/alert-mail.ts";
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
  recordAlert(key: string, record: AlertRecord | null): Promise<void>;
  /** The SQLite store's; the JSON store has none (it runs the `before` variant only). */
  statusGeneration?(): number;
}

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=") as [string, string]));
const arg = (k: string, d?: string): string =>
  args.get(k) ??
  d ??
  ((): never => {
    throw new Error(`--${k}= is required`);
  })();
/** The repository, from bench/ (under tsx) or from dist/bench/ (built, under plain node). */
const REPO = new URL(import.meta.url.includes("/dist/bench/") ? "../../" : "../", import.meta.url);
const SOURCES = 200;
const DATASETS = 5;
const PASS_MS = 3000;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function openStore(
  kind: string,
  path: string,
  now: () => number,
  keep?: { days: number; detailHours: number },
): Promise<Store> {
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
/** Alert evaluations (each reads the alert records once). */
let evaluations = 0;

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
    alerts: () => {
      evaluations++;
      return time(() => store.alerts());
    },
    recordAlert: (key, record) => time(() => store.recordAlert(key, record)),
    statusGeneration: () => time(() => store.statusGeneration?.() ?? Number.NaN),
  };
}

async function sim(): Promise<Record<string, number>> {
  let now = Number(arg("now"));
  const t0 = performance.now();
  const store = timed(await openStore(arg("store"), arg("state"), () => now));
  const openMs = performance.now() - t0;
  const usage = readFileSync(new URL("test/fixtures/zfs/zfs-fuse-usage.txt", REPO), "utf8");
  const guid = (d: number, s: number): string => String(d * 1000 + s + 1);
  const srcText = listingText("tank", DATASETS, 25, guid);
  const dstText = listingText("backup/SRC/tank", DATASETS, 24, guid);
  const probe = { match: (a: string[]) => a.length === 1 && a[0] === "zfs", stderr: usage, code: 2 };
  const jobs: SourceJob[] = Array.from({ length: SOURCES }, (_, i) => ({
    name: `src${i}`,
    targetRoot: `backup/src${i}`,
    roots: [{ name: "tank", recursive: true }],
    policy: { firstSend: "oldest", includePrefixes: [] },
  }));
  const sources = jobs.map((j) => ({ name: j.name, target: j.targetRoot, datasets: j.roots, maxLagSeconds: 3600 }));
  const variant = arg("variant", "after");
  // Before, the notifier's mail rendering loaded MJML with the daemon, mail or not.
  if (variant === "before") await import("mjml");
  // As the daemon's: the journal beside the history, the scheduler's next run per source.
  const journal = Journal.besideState(arg("state"));
  const nextRuns = new Map(jobs.map((j) => [j.name, new Date(now + 600_000) as Date | null]));
  const state = new DaemonState(
    { sources, capacityLimit: 0.75 },
    { store: { statusRows: () => store.statusRows(), statusGeneration: () => store.statusGeneration!() }, journal },
    () => new Date(now),
    () => nextRuns,
  );
  let builds = 0;
  let buildMs = 0;
  const status = () => {
    const b0 = performance.now();
    const m =
      variant === "before"
        ? buildStatus({
            sources,
            rows: store.statusRows(),
            promotions: [...journal.promotions().values()],
            operations: journal.operations(),
            pools: [],
            live: [],
            nextRuns: new Map([...nextRuns].map(([n, d]) => [n, d?.toISOString() ?? null])),
            now,
            capacityLimit: 0.75,
          })
        : state.status();
    buildMs += performance.now() - b0;
    builds++;
    return m;
  };
  const silent = new Writable({ write: (_c, _e, cb) => cb() });
  const config = { instance: "bench", sources: [], capacityLimit: 0.75 } as unknown as Config;
  const notifier = new Notifier(
    config,
    { ...store, reportTallies: () => Promise.resolve([]) },
    createLogger({ stream: silent }),
    () => new Date(now),
    { status },
  );
  const server = createStatusApp({ status }).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const client = spawn(process.execPath, ["-e", CLIENT, String((server.address() as AddressInfo).port)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let clientOut = "";
  client.stdout.on("data", (c: Buffer) => (clientOut += c));
  const passes = Number(arg("passes"));
  const warm = Number(arg("warm", "0"));
  const pass: number[] = [];
  /** One pass of source i % SOURCES: its times (pass, append, evaluation). */
  const onePass = async (i: number): Promise<{ pass: number; append: number; evaluate: number }> => {
    const job = jobs[i % SOURCES]!;
    now += PASS_MS;
    const p0 = performance.now();
    const remote = new FakeRunner(job.name, [
      probe,
      { match: starts("zfs", "get"), stdout: srcText },
      { match: starts("zfs", "send"), stdout: "x" },
      { match: () => true, code: 0 },
    ]);
    const local = new FakeRunner("local", [
      probe,
      { match: starts("zfs", "get"), stdout: dstText.replaceAll("SRC", job.name) },
      { match: starts("zfs", "receive"), readsStdin: true },
      { match: () => true, code: 0 },
    ]);
    const rec = await runSource(
      job,
      { connect: async () => new ZfsHost(remote), local: new ZfsHost(local), now: () => new Date(now) },
      `r${now}-${job.name}`,
    );
    const a0 = performance.now();
    await store.appendRun(rec);
    nextRuns.set(job.name, new Date(now + 600_000));
    const e0 = performance.now();
    // What the daemon does after a pass.
    if (variant === "before") void notifier.evaluate(status());
    else notifier.evaluateSoon();
    const done = performance.now();
    return { pass: done - p0, append: e0 - a0, evaluate: done - e0 };
  };
  const append: number[] = [];
  const evaluate: number[] = [];
  // Passes before measuring, so that every dataset is known to the status in both phases.
  for (let i = 0; i < warm; i++) await onePass(i);
  const rssBefore = process.memoryUsage().rss;
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const phase0 = performance.now();
  const cpu0 = process.cpuUsage();
  spent.wallMs = spent.cpuMs = 0;
  await notifier.settle(60_000);
  evaluations = builds = 0;
  buildMs = 0;
  let next = warm;
  const stopAt = warm + passes;
  let measuring = true;
  await Promise.all(
    Array.from({ length: Number(arg("concurrency", "4")) }, async () => {
      while (next < stopAt) {
        const i = next++;
        if (i % 5 === 4) client.stdin.write(i % 50 === 49 ? "m\n" : "s\n");
        const t = await onePass(i);
        if (!measuring) continue;
        append.push(t.append);
        evaluate.push(t.evaluate);
        pass.push(t.pass);
      }
    }),
  );
  // The evaluation the last passes asked for (the daemon's shutdown waits for it too).
  await notifier.settle(60_000);
  measuring = false;
  const phaseMs = performance.now() - phase0;
  const measuredEvaluations = evaluations;
  const cpu = process.cpuUsage(cpu0);
  const store0 = { ...spent };
  delay.disable();
  const statusBuilds = builds;
  const statusBuildMs = buildMs;
  const mem = process.memoryUsage();
  const rss = mem.rss;
  // Then passes at the fleet's real rate (one every PASS_MS of wall time, the daemon idle in
  // between, as a real one is ~99% of the time): the RSS the daemon keeps in service.
  const paced = Number(arg("paced", "0"));
  const pacedRss: number[] = [];
  /** The event-loop delay from the start of each of those passes to the end of its alert evaluation. */
  const pacedDelay = createHistogram();
  // A daemon that mails: an alert mail first (rendered on the MJML thread, which ends once idle).
  if (paced > 0) await renderAlert(POOL_FULL_ALERT);
  // No /status or /metrics requests here: their latencies are the fast phase's.
  for (let i = 0; i < paced; i++) {
    const started = performance.now();
    // A 5 ms timer's lateness, as monitorEventLoopDelay measures it (whose histogram, enabled
    // again for each pass, would count the idle gap before as one long delay).
    let last = performance.now();
    const sampler = setInterval(() => {
      const t = performance.now();
      pacedDelay.record(Math.max(1, Math.round((t - last - 5) * 1e6)));
      last = t;
    }, 5);
    try {
      await onePass(next++);
      // The coalesced evaluation the pass asked for (about 200 ms later).
      await notifier.settle(60_000);
    } finally {
      clearInterval(sampler);
    }
    pacedRss.push(process.memoryUsage().rss);
    await new Promise((r) => setTimeout(r, Math.max(0, PASS_MS - (performance.now() - started))));
    pacedRss.push(process.memoryUsage().rss);
  }
  // Its second half, when what the fast phase left behind has had time to go.
  const settled = pacedRss.slice(paced);
  global.gc?.();
  const after = process.memoryUsage();
  const heap = after.heapUsed;
  if (process.env.BENCH_FLEET_SMAPS) process.stderr.write(`${memoryMap()}\n`);
  // With the passes over: /status as a quiet daemon answers it, asked from this process (the
  // client has stopped). Its first fetch() loads Node's HTTP client (some 40 ms), so one
  // unmeasured request to /healthz comes first.
  await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`)).text();
  const idle: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/status?format=json`)).text();
    idle.push(performance.now() - t);
  }
  const text: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/status`)).text();
    text.push(performance.now() - t);
  }
  client.stdin.end();
  await new Promise((r) => client.once("close", r));
  notifier.close();
  const lat = JSON.parse(clientOut) as { status: number[]; metrics: number[] };
  server.close();
  return {
    openMs,
    passes,
    phaseMs,
    cpuPerPass: (cpu.user + cpu.system) / 1000 / passes,
    storeCpuPerPass: store0.cpuMs / passes,
    storeWallPerPass: store0.wallMs / passes,
    passMean: mean(pass),
    passP50: pct(pass, 50),
    appendP50: pct(append, 50),
    appendP99: pct(append, 99),
    appendMax: Math.max(...append),
    evaluateMean: mean(evaluate),
    evaluationsPerPass: measuredEvaluations / passes,
    buildsPerPass: statusBuilds / passes,
    buildMean: statusBuildMs / Math.max(1, statusBuilds),
    heapTotalMB: mem.heapTotal / 1e6,
    heapUsedMB: mem.heapUsed / 1e6,
    externalMB: mem.external / 1e6,
    arrayBuffersMB: mem.arrayBuffers / 1e6,
    heapTotalAfterGcMB: after.heapTotal / 1e6,
    rssAfterGcMB: after.rss / 1e6,
    loopP99: delay.percentile(99) / 1e6,
    loopMax: delay.max / 1e6,
    statusP50: pct(lat.status, 50),
    statusP99: pct(lat.status, 99),
    statusN: lat.status.length,
    metricsP99: pct(lat.metrics, 99),
    metricsN: lat.metrics.length,
    statusIdleP50: pct(idle, 50),
    statusIdleP99: pct(idle, 99),
    textStatusMean: mean(text),
    rssBeforeMB: rssBefore / 1e6,
    rssMB: rss / 1e6,
    // Left out without a paced phase (NaN would be null in JSON).
    ...(settled.length
      ? {
          pacedRssMaxMB: Math.max(...settled) / 1e6,
          pacedRssEndMB: settled.at(-1)! / 1e6,
          pacedLoopP99: pacedDelay.percentile(99) / 1e6,
          pacedLoopMax: pacedDelay.max / 1e6,
          pacedLoopN: pacedDelay.count,
        }
      : {}),
    heapMB: heap / 1e6,
    rows: store.statusRows().length,
  };
}

/** Where this process's resident memory is, by mapping (Linux): the largest, in MB. */
function memoryMap(): string {
  const by = new Map<string, number>();
  let name = "";
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) name = m[1] || "[anon]";
    else if (line.startsWith("Rss:")) by.set(name, (by.get(name) ?? 0) + Number(line.split(/\s+/)[1]) / 1000);
  }
  return [...by]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([n, mb]) => `${mb.toFixed(1)} MB ${n}`)
    .join("\n");
}

/** A pass of 5 datasets of source `s` at `at`. */
function fleetPass(s: number, at: number): RunRecord {
  return {
    runId: `a${at}-${s}`,
    source: `src${s}`,
    startedAt: new Date(at).toISOString(),
    finishedAt: new Date(at + 900).toISOString(),
    phases: {},
    goneOnSource: [],
    datasets: Array.from({ length: DATASETS }, (_, d) => fleetRow(s, d, at, false)),
  };
}

/** Times one append: wall and this process's CPU (ms). */
async function timedAppend(store: Store, run: RunRecord): Promise<[number, number]> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await store.appendRun(run);
  const c = process.cpuUsage(c0);
  return [performance.now() - t0, (c.user + c.system) / 1000];
}

/**
 * Append latency against the size of the runs table: a history of about 1,000 rows and one
 * filled to `rows`, appended to in turn (small, big, small, …), so both see the same machine.
 */
async function appendScale(): Promise<Record<string, number>> {
  const small = arg("state");
  const big = arg("big");
  const target = Number(arg("rows"));
  let now = Date.parse("2026-01-01T00:00:00Z");
  // Nothing ages out here: this measures the append against the size of the runs table.
  const keep = { days: 36500, detailHours: 24 * 36500 };
  const t0 = performance.now();
  ((await openStore("sqlite", big, () => now, keep)) as HistoryStore).close();
  // Fill the runs table with a real row's JSON, in SQL (a few seconds per million rows).
  const db = connect(historyPaths(big).db, { rollbackJournal: true });
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  const row = JSON.stringify(fleetRow(1, 1, now, false));
  const fill = db.prepare(`WITH RECURSIVE c(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM c WHERE i < ?)
    INSERT INTO runs (ds, started_ms, result, bytes, transfer_ms, rolled, row) SELECT i % 1000 + 1, ? + i * 600, 'ok', 1234567, 420, 0, ? FROM c`);
  for (let done = 0; done < target; done += 1_000_000)
    db.transaction(() => fill.run(done + 1, Math.min(target, done + 1_000_000), now - 400 * 86400_000, row))();
  db.close();
  const fillMs = performance.now() - t0;
  const stores = [await openStore("sqlite", small, () => now, keep), await openStore("sqlite", big, () => now, keep)];
  const nextPass = (source: number): RunRecord => {
    now += PASS_MS;
    return fleetPass(source, now);
  };
  for (let i = 0; i < 200; i++) await stores[0]!.appendRun(nextPass(i % SOURCES)); // 1,000 rows
  for (let i = 0; i < 50; i++) await stores[1]!.appendRun(nextPass(i % SOURCES)); // the page cache warm, as a running daemon has it
  const wall: number[][] = [[], []];
  const cpu: number[][] = [[], []];
  for (let i = 0; i < 4000; i++) {
    const k = i % 2;
    const [w, c] = await timedAppend(stores[k]!, nextPass((i >> 1) % SOURCES));
    wall[k]!.push(w);
    cpu[k]!.push(c);
  }
  const count = (path: string): number => {
    const d = connect(historyPaths(path).db, { readOnly: true });
    const n = d.prepare("SELECT count(*) FROM runs").pluck().get() as number;
    d.close();
    return n;
  };
  for (const st of stores) (st as HistoryStore).close();
  return {
    smallRows: count(small),
    smallP50: pct(wall[0]!, 50),
    smallP99: pct(wall[0]!, 99),
    smallCpuP99: pct(cpu[0]!, 99),
    rows: count(big),
    bigP50: pct(wall[1]!, 50),
    bigP99: pct(wall[1]!, 99),
    bigCpuP99: pct(cpu[1]!, 99),
    fillMs,
  };
}

/** The machine's floor: the event-loop delay of a process that only runs 2 ms tasks, back to back. */
async function floor(): Promise<Record<string, number>> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const end = performance.now() + 8000;
  while (performance.now() < end) {
    const t = performance.now();
    while (performance.now() - t < 2);
    await new Promise((r) => setImmediate(r));
  }
  delay.disable();
  // RSS with every module of the simulation loaded (this file imports them all) and no work done.
  return { loopP99: delay.percentile(99) / 1e6, loopMax: delay.max / 1e6, rssMB: process.memoryUsage().rss / 1e6 };
}

const mode = arg("mode");
const out = mode === "append" ? await appendScale() : mode === "floor" ? await floor() : await sim();
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
