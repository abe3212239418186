// The Nagios/Icinga verdict of a status (`bzman status --check`): an exit code (0 OK, 1 WARNING,
// 2 CRITICAL, 3 UNKNOWN) and one line of text with performance data, decided from the same
// status model as `bzman status`. Pure.

import type { StatusModel } from "./status.ts";

/** Nagios plugin exit codes. */
export const CHECK = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;

/** A Nagios exit code. */
export type CheckCode = (typeof CHECK)[keyof typeof CHECK];

const NAMES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"] as const;

/** What the check prints and how it exits. */
export interface CheckVerdict {
  code: CheckCode;
  /** `BZMAN <STATE> - <summary> | <perfdata>`, one line. */
  line: string;
}

/** Thresholds of the check. */
export interface CheckLimits {
  /** A pool used beyond this share is a WARNING (the config's capacity_limit). */
  capacityLimit: number;
  /** A dataset this many times its max_lag behind is CRITICAL (once behind, it is a WARNING). */
  criticalLagFactor?: number;
  /** A pool at least this full (and beyond capacityLimit) is CRITICAL. */
  criticalCapacity?: number;
}

/** By default a dataset twice its max_lag behind is CRITICAL. */
export const DEFAULT_CRITICAL_LAG_FACTOR = 2;
/** By default a pool 95% full (and beyond the capacity limit) is CRITICAL. */
export const DEFAULT_CRITICAL_CAPACITY = 0.95;

/** How many reasons the summary names before "and N more". */
const NAMED = 3;

const lag = (s: number): string =>
  s < 3600 ? `${Math.round(s / 60)}m` : s < 172800 ? `${(s / 3600).toFixed(1)}h` : `${(s / 86400).toFixed(1)}d`;

/**
 * The verdict: CRITICAL for a conflict, a dataset never backed up although passes ran, one more
 * than `criticalLagFactor` times behind its goal, a pool not ONLINE, a pool nearly full, scrub
 * errors; WARNING for a dataset behind its goal, a last pass that failed while the backup is
 * still fresh, a dataset with no pass yet, a backup kept aside, a pool beyond the capacity
 * limit, a failed restore drill; UNKNOWN when nothing can be judged (no dataset has any recorded
 * pass) or a pool could not be checked. The worst wins in that order; promoted and excluded
 * datasets are left out (their pulls are paused or left out on purpose).
 */
export function checkVerdict(m: StatusModel, limits: CheckLimits): CheckVerdict {
  const critLag = limits.criticalLagFactor ?? DEFAULT_CRITICAL_LAG_FACTOR;
  const critCap = limits.criticalCapacity ?? DEFAULT_CRITICAL_CAPACITY;
  const reasons: Record<"critical" | "warning" | "unknown", string[]> = { critical: [], warning: [], unknown: [] };
  const judged = m.datasets.filter((d) => !d.promoted && d.excluded === null);
  let stale = 0;
  let failing = 0;
  let worstRatio = 0;
  for (const d of judged) {
    const at = `${d.source}:${d.dataset}`;
    const ratio = d.lagSeconds === null ? null : d.lagSeconds / Math.max(1, d.maxLagSeconds);
    if (ratio !== null) worstRatio = Math.max(worstRatio, ratio);
    if (d.lastResult === "failed" || d.lastResult === "conflict") failing++;
    if (ratio !== null && ratio > 1) stale++;
    if (d.lastResult === "conflict") reasons.critical.push(`${at} conflict (${d.lastConflict ?? "see bzman status"})`);
    if (d.lagSeconds === null) {
      if (d.lastRunAt === null) reasons.warning.push(`${at} not backed up yet`);
      else
        reasons.critical.push(`${at} never backed up (last: ${d.lastError?.code ?? d.lastConflict ?? d.lastResult})`);
    } else if (ratio! > critLag)
      reasons.critical.push(`${at} ${lag(d.lagSeconds)} behind (goal ${lag(d.maxLagSeconds)})`);
    else if (ratio! > 1) reasons.warning.push(`${at} ${lag(d.lagSeconds)} behind (goal ${lag(d.maxLagSeconds)})`);
    if (d.lastResult === "failed" && d.lagSeconds !== null && ratio! <= 1)
      reasons.warning.push(`${at} last pass failed (${d.lastError?.code ?? "?"})`);
    if (d.lastKeptAside) reasons.warning.push(`${at} conflicting backup kept aside as ${d.lastKeptAside}`);
  }
  for (const p of m.pools) {
    const at = `pool ${p.pool} on ${p.host}`;
    if (p.health.startsWith("UNKNOWN")) reasons.unknown.push(`${at} could not be checked (${p.health})`);
    else if (p.health !== "ONLINE") reasons.critical.push(`${at} ${p.health}`);
    if (p.capacity > limits.capacityLimit)
      (p.capacity >= critCap ? reasons.critical : reasons.warning).push(`${at} ${Math.round(p.capacity * 100)}% full`);
  }
  for (const c of m.scrubs) if (c.result === "failed") reasons.critical.push(`scrub of ${c.subject}: ${c.message}`);
  for (const d of m.drills) if (d.result === "failed") reasons.warning.push(`restore drill of ${d.subject} failed`);
  if (judged.length > 0 && judged.every((d) => d.lastRunAt === null)) {
    reasons.unknown.unshift(`no pass of any dataset is recorded yet (is bzman serve running?)`);
    reasons.warning = reasons.warning.filter((r) => !r.endsWith(" not backed up yet"));
  }
  const code: CheckCode = reasons.critical.length
    ? CHECK.CRITICAL
    : reasons.warning.length
      ? CHECK.WARNING
      : reasons.unknown.length
        ? CHECK.UNKNOWN
        : CHECK.OK;
  const all = [...reasons.critical, ...reasons.warning, ...reasons.unknown];
  const counts = [
    reasons.critical.length && `${reasons.critical.length} critical`,
    reasons.warning.length && plural(reasons.warning.length, "warning"),
    reasons.unknown.length && `${reasons.unknown.length} unknown`,
  ]
    .filter(Boolean)
    .join(", ");
  const summary =
    all.length === 0
      ? `${plural(judged.length, "dataset")} fresh, ${plural(m.pools.length, "pool")} ONLINE`
      : `${counts}: ${all.slice(0, NAMED).join("; ")}${all.length > NAMED ? `; and ${all.length - NAMED} more` : ""}`;
  const perf = [
    `datasets=${judged.length};;;0`,
    `stale=${stale};;;0`,
    `failing=${failing};;;0`,
    `worst_lag_ratio=${worstRatio.toFixed(2)};1;${critLag};0`,
    ...m.pools.map(
      (p) =>
        `'pool_${p.host}:${p.pool}'=${Math.round(p.capacity * 100)}%;${Math.round(limits.capacityLimit * 100)};${Math.round(critCap * 100)};0;100`,
    ),
  ];
  return { code, line: `BZMAN ${NAMES[code]} - ${oneLine(summary)} | ${perf.join(" ")}` };
}

/** The verdict when no status could be built (bad config, unusable state file). */
export function unknownVerdict(reason: string): CheckVerdict {
  return { code: CHECK.UNKNOWN, line: `BZMAN UNKNOWN - ${oneLine(reason)}` };
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Nagios reads the first line and splits perfdata at "|": neither may appear in the text. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, " ").replace(/\|/g, "/");
}
