// Retention, pure: which of bzman's own snapshots (`<prefix>_<UTC stamp>`) to destroy under a count-based and/or
// grandfather-father-son policy. Never a foreign snapshot, never a protected (common) one.

import type { Snapshot } from "./model.ts";
import { isOwnSnapshot } from "./naming.ts";

/** How many snapshots to keep: the newest `last`, plus one per hour/day/week/month/year. */
export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

/** A GFS bucket kind. */
export type Bucket = "hourly" | "daily" | "weekly" | "monthly" | "yearly";

const BUCKETS: Bucket[] = ["hourly", "daily", "weekly", "monthly", "yearly"];

/** The UTC period a time (seconds since the epoch) falls in, as a number that orders periods. */
export function periodOf(seconds: number, bucket: Bucket): number {
  const days = Math.floor(seconds / 86400);
  switch (bucket) {
    case "hourly":
      return Math.floor(seconds / 3600);
    case "daily":
      return days;
    // 1970-01-01 was a Thursday: shifting by 3 days makes weeks start on Monday (ISO).
    case "weekly":
      return Math.floor((days + 3) / 7);
    case "monthly": {
      const d = new Date(seconds * 1000);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    }
    case "yearly":
      return new Date(seconds * 1000).getUTCFullYear();
  }
}

/** Why a snapshot is kept, for plans and logs. */
export type KeepReason = "foreign" | "protected" | "future" | "last" | Bucket;

/** The outcome of retention planning for one dataset. */
export interface PrunePlan {
  destroy: Snapshot[];
  keep: Array<{ snapshot: Snapshot; reasons: KeepReason[] }>;
}

/**
 * Decides which snapshots to destroy. Candidates are bzman's own (exactly `<prefix>_<UTC stamp>`) only. Kept:
 * the `last` newest; for each bucket the oldest snapshot of each of the N most recent periods
 * that have a snapshot (gaps in time do not use up slots, so an outage never costs history);
 * every GUID in `protect` (the newest common snapshot); anything dated after `now`. A policy with
 * no rule keeps everything.
 */
export function planPrune(
  snapshots: Snapshot[],
  policy: KeepPolicy,
  opts: { prefix: string; protect: ReadonlySet<string>; now: number },
): PrunePlan {
  const reasons = new Map<Snapshot, KeepReason[]>(snapshots.map((s) => [s, []]));
  const add = (s: Snapshot, r: KeepReason): void => void reasons.get(s)!.push(r);
  const hasRule = policy.last !== undefined || BUCKETS.some((b) => policy[b] !== undefined);
  const own = [...snapshots]
    .filter((s) => isOwnSnapshot(s.name, opts.prefix))
    .sort((a, b) => b.createtxg - a.createtxg);
  for (const s of snapshots) {
    if (!isOwnSnapshot(s.name, opts.prefix)) add(s, "foreign");
    if (opts.protect.has(s.guid)) add(s, "protected");
    if (s.creation > opts.now) add(s, "future");
  }
  if (!hasRule) for (const s of own) add(s, "last");
  for (const s of own.slice(0, policy.last ?? 0)) add(s, "last");
  for (const bucket of BUCKETS) {
    const n = policy[bucket] ?? 0;
    if (n <= 0) continue;
    const oldestOfPeriod = new Map<number, Snapshot>();
    for (const s of own) oldestOfPeriod.set(periodOf(s.creation, bucket), s); // newest first, so the last write is the oldest
    const periods = [...oldestOfPeriod.entries()].sort((a, b) => b[0] - a[0]).slice(0, n);
    for (const [, s] of periods) add(s, bucket);
  }
  const keep = snapshots
    .filter((s) => reasons.get(s)!.length > 0)
    .map((s) => ({ snapshot: s, reasons: reasons.get(s)! }));
  const destroy = own.filter((s) => reasons.get(s)!.length === 0).sort((a, b) => a.createtxg - b.createtxg);
  return { destroy, keep };
}
