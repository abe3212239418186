// What a year of passes leaves in the history of a fleet, built directly (a year of real passes
// would take hours): the last 48 hours in detail, 90 days of daily rollups, and the failures of
// those 90 days kept in detail, exactly as the history's compaction keeps them. Written in the
// previous version's JSON format, which both stores can open (the SQLite one by migrating it).

import type { DailyRollup, HistoryRow, StateData } from "../server/state/legacy-json.ts";
import { DEFAULT_HISTORY } from "../server/state/store.ts";

/** The simulated fleet. */
export interface Fleet {
  sources: number;
  datasets: number;
  everyMin: number;
}

/** One in this many passes fails. */
const FAIL_EVERY = 500;

const iso = (ms: number): string => new Date(ms).toISOString();

/** The row a pass of `source` leaves for dataset `d` at `at`, as runSource records it. */
export function fleetRow(source: number, d: number, at: number, failed: boolean): HistoryRow {
  const base: HistoryRow = {
    source: `src${source}`,
    dataset: `tank/ds${d}`,
    target: `backup/src${source}/tank/ds${d}`,
    mode: "incremental",
    result: failed ? "failed" : "ok",
    steps: 1,
    bytes: failed ? 0 : 1_234_567,
    transferMs: 420,
    from: { name: "bzman_00023", guid: String(d * 1000 + 24) },
    runId: `${iso(at)
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z")}-s${source}`,
    startedAt: iso(at),
    finishedAt: iso(at + 900),
    phases: { connect: 80, snapshot: 40, list: 120, plan: 1, transfer: 420, prune: 60, total: 900 },
    bytesPerSecond: failed ? 0 : 2_939_445,
  };
  if (failed)
    return {
      ...base,
      error: {
        code: "ZFS_SEND_FAILED",
        message: `src${source}: zfs send ended with signal KILL`,
        at: iso(at + 900),
        detail: "cannot send: signal received\n".repeat(4),
      },
    };
  return { ...base, to: { name: "bzman_00024", guid: String(d * 1000 + 25) } };
}

/** The history a year of passes every `everyMin` minutes leaves at `end`. */
export function yearEndState(fleet: Fleet, end: number): StateData {
  const slot = fleet.everyMin * 60_000;
  const detailCut = end - DEFAULT_HISTORY.detailHours * 3600_000;
  const dropCut = end - DEFAULT_HISTORY.days * 86400_000;
  const history: HistoryRow[] = [];
  const detail: HistoryRow[] = [];
  const first = Math.ceil(dropCut / slot) * slot;
  const firstDay = Math.floor(first / 86400_000);
  // Rollups by (day, source, dataset) in a flat array: a Map keyed by strings costs seconds here.
  const daily: Array<DailyRollup | undefined> = [];
  const lastSuccessMs: number[] = [];
  // Pass k of source s starts at k*slot + s*3 s (the sources spread over the slot).
  for (let t = first; t < end; t += slot) {
    for (let s = 0; s < fleet.sources; s++) {
      const at = t + s * Math.floor(slot / fleet.sources);
      if (at >= end) continue;
      for (let d = 0; d < fleet.datasets; d++) {
        // Spread over datasets and time: each dataset fails once in FAIL_EVERY of its passes.
        const failed = (((t - first) / slot) * 7 + s * 13 + d * 31) % FAIL_EVERY === 0;
        if (at >= detailCut) {
          detail.push(fleetRow(s, d, at, failed));
          continue;
        }
        if (failed) history.push({ ...fleetRow(s, d, at, true), rolled: true });
        const i = ((Math.floor(at / 86400_000) - firstDay) * fleet.sources + s) * fleet.datasets + d;
        const r = daily[i] ?? {
          day: iso(at).slice(0, 10),
          source: `src${s}`,
          dataset: `tank/ds${d}`,
          passes: 0,
          failures: 0,
          bytes: 0,
          transferMs: 0,
          lastResult: "ok",
        };
        daily[i] = r;
        r.passes++;
        r.transferMs += 420;
        r.lastResult = failed ? "failed" : "ok";
        if (failed) r.failures++;
        else {
          r.bytes += 1_234_567;
          lastSuccessMs[i] = at;
        }
      }
    }
  }
  daily.forEach((r, i) => {
    if (!r || lastSuccessMs[i] === undefined) return;
    const to = { name: "bzman_00024", guid: String((i % fleet.datasets) * 1000 + 25) };
    Object.assign(r, { lastTo: to, lastSuccessAt: iso(lastSuccessMs[i]!), lastSuccessTo: to });
  });
  return {
    schemaVersion: 1,
    history: [...history, ...detail],
    daily: daily.filter((r): r is DailyRollup => r !== undefined),
  };
}
