// History benchmark: a year of passes for 200 datasets every 10 minutes (10.5 million rows),
// compacted as bzman compacts (48 h of detail, daily rollups, 90 days). Reports the file size,
// the time to open it and the RSS after opening, and the time of one append; ratios against
// the same history kept in full detail for the same 90 days (estimated from measured row size)
// and against a bare JSON.parse of the file.

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunRecord } from "../server/core/model.ts";
import { HistoryStore, compact, DEFAULT_HISTORY, type HistoryRow, type StateData } from "../server/state/store.ts";

const DATASETS = 200;
const EVERY_MIN = 10;
const DAYS = 365;

function row(at: number, d: number, i: number): HistoryRow {
  const failed = i % 97 === 0;
  return {
    source: `src${d % 20}`, dataset: `tank/ds${d}`, target: `backup/src${d % 20}/tank/ds${d}`, mode: "incremental", result: failed ? "failed" : "ok",
    from: { name: `bzman_${i - 1}`, guid: String(1e18 + i - 1) }, to: { name: `bzman_${i}`, guid: String(1e18 + i) }, steps: 1,
    bytes: 123_456, transferMs: 420, runId: `r${i}-${d % 20}`, startedAt: new Date(at).toISOString(), finishedAt: new Date(at + 900).toISOString(),
    phases: { connect: 80, snapshot: 40, list: 120, plan: 1, transfer: 420, prune: 60, total: 900 }, bytesPerSecond: 293_942,
    ...(failed ? { error: { code: "ZFS_SEND_FAILED", message: "web1: zfs send ended with signal KILL", at: new Date(at).toISOString(), detail: "x".repeat(200) } } : {}),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bzman-bench-"));
  const path = join(dir, "state.json");
  const start = Date.parse("2026-01-01T00:00:00Z");
  const data: StateData = { schemaVersion: 1, history: [], daily: [] };
  let rows = 0;
  const passesPerDay = (24 * 60) / EVERY_MIN;
  for (let day = 0; day < DAYS; day++) {
    for (let p = 0; p < passesPerDay; p++) {
      const at = start + day * 86400_000 + p * EVERY_MIN * 60_000;
      for (let d = 0; d < DATASETS; d++) data.history.push(row(at, d, day * passesPerDay + p));
      rows += DATASETS;
    }
    compact(data, start + (day + 1) * 86400_000, DEFAULT_HISTORY);
  }
  writeFileSync(path, JSON.stringify(data));
  const size = statSync(path).size;
  const rowBytes = JSON.stringify(data.history.find((r) => r.result === "ok")).length;
  const fullDetail = rowBytes * DATASETS * passesPerDay * DEFAULT_HISTORY.days;

  const rss0 = process.memoryUsage().rss;
  let t0 = performance.now();
  const { store } = await HistoryStore.open(path, { now: () => start + DAYS * 86400_000 });
  const openMs = performance.now() - t0;
  const rss = process.memoryUsage().rss;
  t0 = performance.now();
  JSON.parse(readFileSync(path, "utf8"));
  const parseMs = performance.now() - t0;

  const run: RunRecord = { runId: "x", source: "src0", startedAt: new Date(start + DAYS * 86400_000).toISOString(), finishedAt: new Date(start + DAYS * 86400_000).toISOString(), phases: {}, goneOnSource: [], datasets: Array.from({ length: 10 }, (_, i) => ({ ...row(start + DAYS * 86400_000, i, 1), result: "ok" as const })) };
  t0 = performance.now();
  await store.appendRun(run);
  const appendMs = performance.now() - t0;

  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  process.stdout.write(`history: ${rows.toLocaleString()} rows simulated (${DATASETS} datasets every ${EVERY_MIN} min for ${DAYS} days)\n`);
  process.stdout.write(`  kept: ${data.history.length.toLocaleString()} detail rows + ${data.daily.length.toLocaleString()} daily rollups\n`);
  process.stdout.write(`  file ${mb(size)} vs full detail for ${DEFAULT_HISTORY.days} days ~${mb(fullDetail)}  ratio ${(size / fullDetail).toFixed(3)}x\n`);
  process.stdout.write(`  open (read + validate) ${openMs.toFixed(0)} ms vs bare JSON.parse ${parseMs.toFixed(0)} ms  ratio ${(openMs / parseMs).toFixed(2)}x; RSS after open ${mb(rss)} (+${mb(rss - rss0)})\n`);
  process.stdout.write(`  one append (compact + atomic write) ${appendMs.toFixed(0)} ms vs bare JSON.parse ${parseMs.toFixed(0)} ms  ratio ${(appendMs / parseMs).toFixed(2)}x\n`);
  rmSync(dir, { recursive: true });
}

main();
