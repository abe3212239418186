// The nightly report's model, pure: the last 24 hours truly (by time, not the last N records):
// totals, one row per dataset (failures first, then stale, then the rest), and bytes per hour.

import type { CheckStatus, PoolStatus, StatusModel, StatusRow } from "./status.ts";

/** One dataset's line of the report. */
export interface ReportRow {
  source: string;
  dataset: string;
  state: "failed" | "stale" | "ok";
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

const ORDER = { failed: 0, stale: 1, ok: 2 } as const;

/** Builds the report of the 24 hours before `nowMs` from the status and the history rows. */
export function buildReport(status: StatusModel, rows: StatusRow[], nowMs: number): ReportModel {
  const fromMs = nowMs - 24 * 3600_000;
  const inWindow = rows.filter((r) => {
    const t = Date.parse(r.startedAt);
    return t >= fromMs && t < nowMs && r.result !== "skipped";
  });
  const bytesPerHour = new Array<number>(24).fill(0);
  for (const r of inWindow) bytesPerHour[Math.min(23, Math.floor((Date.parse(r.startedAt) - fromMs) / 3600_000))]! += r.bytes;
  const out: ReportRow[] = status.datasets.map((d) => {
    const mine = inWindow.filter((r) => r.source === d.source && r.dataset === d.dataset);
    const failures = mine.filter((r) => r.result === "failed" || r.result === "conflict").length;
    const failedNow = d.lastResult === "failed" || d.lastResult === "conflict";
    return {
      source: d.source, dataset: d.dataset, state: failedNow ? "failed" : d.fresh ? "ok" : "stale",
      newest: d.newest?.name ?? null, lagSeconds: d.lagSeconds, passes: mine.length, failures,
      bytes: mine.reduce((n, r) => n + r.bytes, 0), transferMs: mine.reduce((n, r) => n + r.transferMs, 0),
      lastError: d.lastError ? `${d.lastError.code}: ${d.lastError.message}` : d.lastResult === "conflict" ? `${d.lastConflict ?? "conflict"}: ${d.lastMessage ?? ""}` : null,
    };
  });
  out.sort((a, b) => ORDER[a.state] - ORDER[b.state] || b.failures - a.failures || `${a.source}:${a.dataset}`.localeCompare(`${b.source}:${b.dataset}`));
  return {
    from: new Date(fromMs).toISOString(), to: new Date(nowMs).toISOString(),
    totals: { passes: inWindow.length, failures: inWindow.filter((r) => r.result === "failed" || r.result === "conflict").length, bytes: inWindow.reduce((n, r) => n + r.bytes, 0), datasets: out.length },
    rows: out, bytesPerHour, problems: status.problems, pools: status.pools,
    checks: [...status.drills.map((d) => ({ ...d, kind: "drill" as const })), ...status.scrubs.map((c) => ({ ...c, kind: "scrub" as const }))],
  };
}
