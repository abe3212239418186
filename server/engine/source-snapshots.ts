// Taking this pass's snapshots on the source: optional pre-snapshot commands (e.g. a database
// flush), `zfs snapshot [-r]` per root at one instant, then post-snapshot commands. A promoted
// (paused) dataset gets no new snapshot: its failback must find the source as it was left. A
// name that is taken already (a snapshot of the same second: a failback's, another pass's) is
// never taken for this one: the snapshot is taken a second later under that second's name.

import { setTimeout as sleep } from "node:timers/promises";
import { isWithin } from "../core/naming.ts";
import { pauseReason, type Paused } from "../core/pause.ts";
import type { DatasetRoot } from "../core/plan.ts";
import type { TakenSnapshot } from "../core/selection.ts";
import { BackupError, toBackupError } from "../errors.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";

/** How the pass snapshots its source. */
export interface SnapshotSpec {
  /** The snapshot name for this pass (`<prefix>_<UTC time>`). */
  name: string;
  /**
   * The name of a snapshot taken now, for when `name` is taken on a root; absent: a taken name
   * is that root's error.
   */
  nameNow?: () => string;
  /** The prefix of bzman's snapshots (what it may destroy). */
  prefix?: string;
  /** argv arrays run on the source before the snapshots; a failure means no snapshot is taken. */
  pre?: string[][];
  /** argv arrays run on the source after the snapshots (also after a failed snapshot). */
  post?: string[][];
}

/** Root name → the error that kept its snapshot from being taken. */
export type SnapshotErrors = Map<string, BackupError>;

/** What taking the pass's snapshots did. */
export interface TakenSnapshots {
  /** The roots that could not be snapshotted, with why. */
  errors: SnapshotErrors;
  /** The roots this pass snapshotted, each with its snapshot's name (the spec's `name` or a later second's). */
  taken: TakenSnapshot[];
}

/** How many seconds on a taken name may move before that is an error. */
const FRESH_NAME_ATTEMPTS = 3;

/**
 * Takes `dataset@name`, or, where that name is taken, a snapshot under the name `nameNow` gives
 * once the second has moved on (at most {@link FRESH_NAME_ATTEMPTS} seconds on). Returns the
 * name taken; a name still taken then is ZFS_DEST_EXISTS.
 */
export async function takeFreshSnapshot(
  host: ZfsHost,
  dataset: string,
  recursive: boolean,
  name: string,
  nameNow: (() => string) | undefined,
  signal?: AbortSignal,
): Promise<string> {
  let tried = name;
  for (let attempt = 0; ; attempt++) {
    if (await host.snapshot(dataset, tried, recursive, signal)) return tried;
    if (!nameNow || attempt + 1 >= FRESH_NAME_ATTEMPTS) break;
    let next = nameNow();
    for (let waits = 0; next <= tried && waits < 2; waits++) {
      await sleep(1005 - (Date.now() % 1000), undefined, { signal });
      next = nameNow();
    }
    if (next <= tried) break;
    tried = next;
  }
  throw new BackupError(
    "ZFS_DEST_EXISTS",
    `${host.where}:${dataset}@${tried} exists already${recursive ? " (there or on a child)" : ""}, from before this snapshot was due, so it was not taken`,
  );
}

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

/** Takes the pass's snapshots; says which roots were snapshotted under which name, and why the others were not. */
export async function takeSnapshots(
  remote: ZfsHost,
  roots: DatasetRoot[],
  spec: SnapshotSpec,
  signal?: AbortSignal,
  paused: Paused = new Map(),
): Promise<TakenSnapshots> {
  const errors: SnapshotErrors = new Map();
  const taken: TakenSnapshot[] = [];
  const isPaused = (name: string): boolean => pauseReason(paused, name) !== undefined;
  const pre = await runHooks(remote, spec.pre ?? [], "pre-snapshot", signal);
  if (pre) for (const r of roots) errors.set(r.name, pre);
  else {
    for (const r of roots) {
      if (isPaused(r.name)) continue;
      try {
        const name = await takeFreshSnapshot(remote, r.name, r.recursive, spec.name, spec.nameNow, signal);
        taken.push({ root: r.name, recursive: r.recursive, name });
        // `-r` cannot leave a child out: the snapshot just taken of a paused child is removed
        // again (it is bzman's own, taken a moment ago, and holds nothing the source lacks).
        for (const p of paused.keys()) {
          if (r.recursive && isWithin(p, r.name))
            await remote
              .destroySnapshot(p, name, spec.prefix ?? spec.name.slice(0, spec.name.lastIndexOf("_")), signal)
              .catch(() => undefined);
        }
      } catch (err) {
        errors.set(r.name, toBackupError(err));
      }
    }
  }
  const post = await runHooks(remote, spec.post ?? [], "post-snapshot", signal);
  if (post) for (const r of roots) if (!errors.has(r.name)) errors.set(r.name, post);
  return { errors, taken };
}
