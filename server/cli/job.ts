// Config → engine job: how each setting of a source (SourceConfig) turns into what a pass does
// (runSource's SourceJob), for run, plan, check and the daemon alike.

import { excludePatterns } from "../config/exclude.ts";
import { limitAt } from "../core/bandwidth.ts";
import { holdTagFor, snapshotNameAt } from "../core/naming.ts";
import type { SourceJob } from "../engine/run-source.ts";
import type { Selection } from "./select.ts";

/** What a pass does besides replicating. */
export interface PassOptions {
  /** Take `<prefix>_<time>` snapshots on the source first. */
  snapshot: boolean;
  /** Hold the common snapshot and prune both sides afterwards. */
  prune: boolean;
}

/** Minutes since local midnight (bandwidth windows are in the backup host's local time). */
function localMinuteOfDay(d: Date): number {
  return d.getHours() * 60 + d.getMinutes();
}

/** A pass that only plans: no snapshot, no pruning. */
const PLAN_ONLY: PassOptions = { snapshot: false, prune: false };

/**
 * The engine's job for a selected source. `clock` names the pass's snapshot (read once, here)
 * and is read again while a transfer runs: a bandwidth limit with a daily window applies from
 * the minute its window opens.
 */
export function jobFor(sel: Selection, clock: () => Date, pass: PassOptions = PLAN_ONLY): SourceJob {
  const s = sel.source;
  const instance = sel.instance;
  return {
    name: s.name,
    targetRoot: s.target,
    roots: s.datasets.map((d) => ({ ...d, exclude: excludePatterns(d.exclude) })),
    policy: { firstSend: s.firstSend, includePrefixes: s.includePrefixes },
    stallMs: s.stallTimeoutSeconds * 1000,
    retry: { retries: s.retries, minTimeoutMs: 5000 },
    parallel: s.maxTransfersPerSource,
    onConflict: s.onConflict,
    ...(s.receive.exclude.length > 0 || s.receive.set.length > 0 ? { receive: s.receive } : {}),
    ...(s.sendRaw ? { raw: true } : {}),
    ...(s.skipUnchanged ? { skipUnchanged: true } : {}),
    dataPath: s.dataPath,
    ...(s.bandwidthLimit ? { rate: () => limitAt(s.bandwidthLimit, localMinuteOfDay(clock())) } : {}),
    ...(sel.only ? { only: sel.only } : {}),
    ...(pass.snapshot
      ? {
          snapshot: {
            name: snapshotNameAt(s.snapshotPrefix, clock().getTime()),
            nameNow: () => snapshotNameAt(s.snapshotPrefix, clock().getTime()),
            prefix: s.snapshotPrefix,
            pre: s.preSnapshot,
            post: s.postSnapshot,
          },
        }
      : {}),
    ...(pass.prune && s.bookmarks ? { bookmarks: { prefix: s.snapshotPrefix, instance } } : {}),
    ...(pass.prune
      ? {
          retention: { prefix: s.snapshotPrefix, keepSource: s.keepSource, keepBackup: s.keepBackup },
          holdTag: holdTagFor(instance),
        }
      : {}),
  };
}
