// Taking this pass's snapshots on the source: optional pre-snapshot commands (e.g. a database
// flush), `zfs snapshot [-r]` per root at one instant, then post-snapshot commands. A promoted
// (paused) dataset gets no new snapshot: its failback must find the source as it was left.

import { isWithin } from "../core/naming.ts";
import { pauseReason, type Paused } from "../core/pause.ts";
import type { DatasetRoot } from "../core/plan.ts";
import { BackupError, toBackupError } from "../errors.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";

/** How the pass snapshots its source. */
export interface SnapshotSpec {
  /** The snapshot name for this pass (`<prefix>_<UTC time>`). */
  name: string;
  /** The prefix of bzman's snapshots (what it may destroy). */
  prefix?: string;
  /** argv arrays run on the source before the snapshots; a failure means no snapshot is taken. */
  pre?: string[][];
  /** argv arrays run on the source after the snapshots (also after a failed snapshot). */
  post?: string[][];
}

/** Root name → the error that kept its snapshot from being taken. */
export type SnapshotErrors = Map<string, BackupError>;

async function runHooks(
  remote: ZfsHost,
  hooks: string[][],
  phase: string,
  signal?: AbortSignal,
): Promise<BackupError | undefined> {
  for (const argv of hooks) {
    try {
      await remote.runChecked(argv, signal);
    } catch (err) {
      const e = toBackupError(err);
      return new BackupError(e.code, `${phase} command "${argv.join(" ")}" failed: ${e.message}`, { detail: e.detail });
    }
  }
  return undefined;
}

/** Takes the pass's snapshots; returns the roots that could not be snapshotted, with why. */
export async function takeSnapshots(
  remote: ZfsHost,
  roots: DatasetRoot[],
  spec: SnapshotSpec,
  signal?: AbortSignal,
  paused: Paused = new Map(),
): Promise<SnapshotErrors> {
  const errors: SnapshotErrors = new Map();
  const isPaused = (name: string): boolean => pauseReason(paused, name) !== undefined;
  const pre = await runHooks(remote, spec.pre ?? [], "pre-snapshot", signal);
  if (pre) for (const r of roots) errors.set(r.name, pre);
  else {
    for (const r of roots) {
      if (isPaused(r.name)) continue;
      try {
        await remote.snapshot(r.name, spec.name, r.recursive, signal);
        // `-r` cannot leave a child out: the snapshot just taken of a paused child is removed
        // again (it is bzman's own, taken a moment ago, and holds nothing the source lacks).
        for (const p of paused.keys()) {
          if (r.recursive && isWithin(p, r.name))
            await remote
              .destroySnapshot(p, spec.name, spec.prefix ?? spec.name.slice(0, spec.name.lastIndexOf("_")), signal)
              .catch(() => undefined);
        }
      } catch (err) {
        errors.set(r.name, toBackupError(err));
      }
    }
  }
  const post = await runHooks(remote, spec.post ?? [], "post-snapshot", signal);
  if (post) for (const r of roots) if (!errors.has(r.name)) errors.set(r.name, post);
  return errors;
}
