// Taking this pass's snapshots on the source: optional pre-snapshot commands (e.g. a database
// flush), `zfs snapshot [-r]` per root at one instant, then post-snapshot commands.

import type { DatasetRoot } from "../core/plan.ts";
import { BackupError, toBackupError } from "../errors.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";

/** How the pass snapshots its source. */
export interface SnapshotSpec {
  /** The snapshot name for this pass (`<prefix>_<UTC time>`). */
  name: string;
  /** argv arrays run on the source before the snapshots; a failure means no snapshot is taken. */
  pre?: string[][];
  /** argv arrays run on the source after the snapshots (also after a failed snapshot). */
  post?: string[][];
}

/** Root name → the error that kept its snapshot from being taken. */
export type SnapshotErrors = Map<string, BackupError>;

async function runHooks(remote: ZfsHost, hooks: string[][], phase: string, signal?: AbortSignal): Promise<BackupError | undefined> {
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
export async function takeSnapshots(remote: ZfsHost, roots: DatasetRoot[], spec: SnapshotSpec, signal?: AbortSignal): Promise<SnapshotErrors> {
  const errors: SnapshotErrors = new Map();
  const pre = await runHooks(remote, spec.pre ?? [], "pre-snapshot", signal);
  if (pre) for (const r of roots) errors.set(r.name, pre);
  else {
    for (const r of roots) {
      try {
        await remote.snapshot(r.name, spec.name, r.recursive, signal);
      } catch (err) {
        errors.set(r.name, toBackupError(err));
      }
    }
  }
  const post = await runHooks(remote, spec.post ?? [], "post-snapshot", signal);
  if (post) for (const r of roots) if (!errors.has(r.name)) errors.set(r.name, post);
  return errors;
}
