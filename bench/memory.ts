// Memory of the daemon's state with 200 sources: passes over 200 sources x 5 datasets (each
// with a new snapshot to pull) on scripted hosts, recorded in a real history file, with the status
// built after every round, as `bzman serve` does. The clock moves 6 hours per round, so the
// history folds old rows into daily rollups. Printed as ratios against a baseline measured in the
// same run: the heap after the first rounds (everything loaded and warm). Bounded means the heap
// stops growing while the passes go on.

import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildStatus } from "../server/core/status.ts";
import { runSource, type SourceJob } from "../server/engine/run-source.ts";
import { HistoryStore, historyPaths } from "../server/state/store.ts";
import { ZfsHost } from "../server/zfs/zfs-host.ts";
import { FakeRunner, starts } from "../test/helpers/fake-runner.ts";
import { listingText } from "./listings.ts";

const SOURCES = 200;
const DATASETS = 5;
const WARM_ROUNDS = 2;
const ROUNDS = 12;
const HOUR = 3600_000;

if (!global.gc) {
  process.stderr.write("bench/memory.ts needs --expose-gc (npm run bench passes it)\n");
  process.exit(2);
}

const usage = readFileSync(new URL("../test/fixtures/zfs/zfs-fuse-usage.txt", import.meta.url), "utf8");

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

const dir = mkdtempSync(join(tmpdir(), "bzman-bench-memory-"));
let now = Date.parse("2026-11-27T00:00:00Z");
const { store } = await HistoryStore.open(join(dir, "state.json"), { now: () => now });
const config = jobs.map((j) => ({ name: j.name, target: j.targetRoot, datasets: j.roots, maxLagSeconds: 3600 }));

let rounds = 0;
async function round(): Promise<void> {
  const t0 = Date.now();
  for (const job of jobs) {
    // A fresh connection per pass, as the daemon makes.
    const remote = new FakeRunner(job.name, [
      probe,
      { match: starts("zfs", "get"), stdout: srcText },
      { match: starts("zfs", "send"), stdout: "x" },
      { match: () => true, code: 0 },
    ]);
    const local = new FakeRunner("local", [
      probe,
      { match: starts("zfs", "get"), stdout: dstText.replaceAll("SRC", job.name.slice(3)) },
      { match: starts("zfs", "receive"), readsStdin: true },
      { match: () => true, code: 0 },
    ]);
    const rec = await runSource(
      job,
      { connect: async () => new ZfsHost(remote), local: new ZfsHost(local), now: () => new Date(now) },
      `r${now}-${job.name}`,
    );
    await store.appendRun(rec);
  }
  buildStatus({
    sources: config,
    rows: store.statusRows(),
    promotions: [],
    operations: [],
    pools: [],
    live: [],
    nextRuns: new Map(),
    now,
  });
  now += 6 * HOUR;
  process.stderr.write(`round ${++rounds}: ${Date.now() - t0} ms, ${store.statusRows().length} rows\n`);
}

function heapMB(): number {
  global.gc!();
  return process.memoryUsage().heapUsed / 1e6;
}

for (let i = 0; i < WARM_ROUNDS; i++) await round();
await store.flush();
const base = heapMB();
const samples: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  await round();
  if ((i + 1) % 4 === 0) {
    await store.flush();
    samples.push(heapMB());
  }
}
await store.flush();
const passes = (WARM_ROUNDS + ROUNDS) * SOURCES;
const size = statSync(historyPaths(join(dir, "state.json")).db).size / 1e6;
process.stdout.write(
  `memory: ${SOURCES} sources x ${DATASETS} datasets, ${passes} passes over ${(((WARM_ROUNDS + ROUNDS) * 6) / 24).toFixed(1)} simulated days.\n` +
    `   heap after warm-up (baseline): ${base.toFixed(1)} MB; after each further 4 rounds (800 passes): ${samples.map((s) => `${s.toFixed(1)} MB (${(s / base).toFixed(2)}x)`).join(", ")}\n` +
    `   rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB; history file ${size.toFixed(1)} MB\n`,
);
rmSync(dir, { recursive: true, force: true });
