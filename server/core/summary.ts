// The nightly report's model, pure: the last 24 hours truly (by time, not the last N records):
// totals, one row per dataset (failures first, then stale, then the rest), and bytes per hour,
// counted from per-hour tallies of the window (made here from rows, or counted by the store).

import type { CheckStatus, PoolStatus, StatusModel, StatusRow } from "./status.ts";

/** One dataset's line of the report. */
export interface ReportRow {
  source: string;
  dataset: string;
  /** "excluded": left out on purpose (exclude, bzman:backup=off); its backup is kept as it is. */
  state: "failed" | "stale" | "ok" | "excluded";
  newest: string | null;
  lagSeconds: number | null;
  passes: number;
  failures: number;
  bytes: number;
  transferMs: number;
  lastError: string | null;
}

/** The report. */
export interface ReportModel {
  from: string;
  to: string;
  totals: { passes: number; failures: number; bytes: number; datasets: number };
  rows: ReportRow[];
  /** 24 hourly buckets of bytes moved, oldest first. */
  bytesPerHour: number[];
  problems: string[];
  pools: PoolStatus[];
  /** The newest restore drill per source and scrub per backup pool. */
  checks: Array<CheckStatus & { kind: "drill" | "scrub" }>;
}

const ORDER = { failed: 0, stale: 1, ok: 2, excluded: 3 } as const;

/**
 * The passes of one dataset that started in one hour of the report's window (hour 0 starts 24
 * hours before the report's time), skipped ticks left out. A history store can count these
 * without handing over every row.
 */
export interface ReportTally {
  source: string;
  dataset: string;
  hour: number;
  passes: number;
  failures: number;
  bytes: number;
  transferMs: number;
}

const isFailure = (result: string): boolean => result === "failed" || result === "conflict";

/** Counts history rows into the report's tallies: the 24 hours before `nowMs`, by hour. */
export function tallyRows(rows: StatusRow[], nowMs: number): ReportTally[] {
  const fromMs = nowMs - 24 * 3600_000;
  const out = new Map<string, ReportTally>();
  for (const r of rows) {
    const t = Date.parse(r.startedAt);
    if (!(t >= fromMs && t < nowMs) || r.result === "skipped") continue;
    const hour = Math.min(23, Math.floor((t - fromMs) / 3600_000));
    const k = `${hour}\u0000${r.source}\u0000${r.dataset}`;
    const c = out.get(k) ?? {
      source: r.source,
      dataset: r.dataset,
      hour,
      passes: 0,
      failures: 0,
      bytes: 0,
      transferMs: 0,
    };
    c.passes++;
    if (isFailure(r.result)) c.failures++;
    c.bytes += r.bytes;
    c.transferMs += r.transferMs;
    out.set(k, c);
  }
  return [...out.values()];
}

/** Builds the report of the 24 hours before `nowMs` from the status and the history rows. */
export function buildReport(status: StatusModel, rows: StatusRow[], nowMs: number): ReportModel {
  return buildReportFromTallies(status, tallyRows(rows, nowMs), nowMs);
}

/** Builds the report of the 24 hours before `nowMs` from the status and the window's tallies. */
export function buildReportFromTallies(status: StatusModel, tallies: ReportTally[], nowMs: number): ReportModel {
  const fromMs = nowMs - 24 * 3600_000;
  const bytesPerHour = new Array<number>(24).fill(0);
  const per = new Map<string, { passes: number; failures: number; bytes: number; transferMs: number }>();
  const totals = { passes: 0, failures: 0, bytes: 0 };
  for (const t of tallies) {
    bytesPerHour[t.hour]! += t.bytes;
    const k = `${t.source}\u0000${t.dataset}`;
    const m = per.get(k) ?? { passes: 0, failures: 0, bytes: 0, transferMs: 0 };
    m.passes += t.passes;
    m.failures += t.failures;
    m.bytes += t.bytes;
    m.transferMs += t.transferMs;
    per.set(k, m);
    totals.passes += t.passes;
    totals.failures += t.failures;
    totals.bytes += t.bytes;
  }
  const out: ReportRow[] = status.datasets.map((d) => {
    const mine = per.get(`${d.source}\u0000${d.dataset}`) ?? { passes: 0, failures: 0, bytes: 0, transferMs: 0 };
    const failedNow = isFailure(d.lastResult ?? "");
    return {
      source: d.source,
      dataset: d.dataset,
      state: d.excluded !== null ? "excluded" : failedNow ? "failed" : d.fresh ? "ok" : "stale",
      newest: d.newest?.name ?? null,
      lagSeconds: d.lagSeconds,
      passes: mine.passes,
      failures: mine.failures,
      bytes: mine.bytes,
      transferMs: mine.transferMs,
      lastError: d.lastError
        ? `${d.lastError.code}: ${d.lastError.message}`
        : d.lastResult === "conflict"
          ? `${d.lastConflict ?? "conflict"}: ${d.lastMessage ?? ""}`
          : null,
    };
  });
  out.sort(
    (a, b) =>
      ORDER[a.state] - ORDER[b.state] ||
      b.failures - a.failures ||
      `${a.source}:${a.dataset}`.localeCompare(`${b.source}:${b.dataset}`),
  );
  return {
    from: new Date(fromMs).toISOString(),
    to: new Date(nowMs).toISOString(),
    totals: { ...totals, datasets: out.length },
    rows: out,
    bytesPerHour,
    problems: status.problems,
    pools: status.pools,
    checks: [
      ...status.drills.map((d) => ({ ...d, kind: "drill" as const })),
      ...status.scrubs.map((c) => ({ ...c, kind: "scrub" as const })),
    ],
  };
}

/**
 * Whether a report is all well (`bzman report --print` exits 0 iff so): no dataset failed or is
 * behind its goal, and the status it was built from lists no problem (pools, drills, scrubs).
 */
export function reportIsClean(r: ReportModel): boolean {
  return r.problems.length === 0 && r.rows.every((row) => row.state === "ok");
}
