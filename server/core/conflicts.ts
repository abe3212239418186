// The outcomes of planning one dataset that are not transfers: typed values, never exceptions.
// Each carries what an operator needs to understand it; `describeConflict` words it once.

import type { Snapshot, Step } from "./model.ts";

/** The target has snapshots but none of them is on the source (by GUID). */
export interface NoCommonSnapshot {
  kind: "no-common-snapshot";
  targetSnapshots: Snapshot[];
}

/** The target has snapshots newer than the newest common one: receiving would need a rollback. */
export interface Diverged {
  kind: "diverged";
  common: Snapshot;
  targetOnly: Snapshot[];
  sourceOnly: Snapshot[];
}

/** The target dataset exists without any snapshot: a full receive would have to overwrite it. */
export interface TargetExists {
  kind: "target-exists";
}

/** The source dataset has no snapshot that may be sent. */
export interface NoSourceSnapshots {
  kind: "no-source-snapshots";
}

/** The configured source dataset does not exist on the source. */
export interface SourceMissing {
  kind: "source-missing";
}

/** A dataset name reported by a host is not one bzman will put in a command. */
export interface UnsafeName {
  kind: "unsafe-name";
  name: string;
}

/** Everything that stops a dataset from being transferred. */
export type Conflict = NoCommonSnapshot | Diverged | TargetExists | NoSourceSnapshots | SourceMissing | UnsafeName;

/** Nothing to send: the target already has the newest source snapshot. */
export interface UpToDate {
  kind: "up-to-date";
  snapshot: Snapshot;
}

/** Steps to run, in order. */
export interface Transfer {
  kind: "transfer";
  steps: Step[];
  /** The newest common snapshot before the transfer (absent for a first, full replication). */
  common?: Snapshot;
}

/** What the planner decides for one dataset. */
export type Decision = Transfer | UpToDate | Conflict;

/** True iff the decision is a conflict (not a transfer and not up to date). */
export function isConflict(d: Decision): d is Conflict {
  return d.kind !== "transfer" && d.kind !== "up-to-date";
}

const names = (snaps: Snapshot[], max = 3): string =>
  snaps
    .slice(0, max)
    .map((s) => `@${s.name}`)
    .join(", ") + (snaps.length > max ? ` and ${snaps.length - max} more` : "");

/** One sentence for an operator: what is wrong and what to do. Nothing on the backup is changed. */
export function describeConflict(c: Conflict, source: string, target: string): string {
  switch (c.kind) {
    case "no-common-snapshot":
      return (
        `${target} has ${c.targetSnapshots.length} snapshot(s) (${names(c.targetSnapshots)}) but none is on ${source}: ` +
        `no incremental base. The backup is left untouched; rename it aside to re-seed.`
      );
    case "diverged":
      return (
        `${target} has snapshot(s) newer than the common @${c.common.name} that ${source} lacks ` +
        `(${names(c.targetOnly)}): receiving would roll them back. The backup is left untouched.`
      );
    case "target-exists":
      return (
        `${target} exists but has no snapshot: bzman will not overwrite it with a full stream. ` +
        `Remove or rename it if it holds nothing of value.`
      );
    case "no-source-snapshots":
      return `${source} has no snapshot to send yet.`;
    case "source-missing":
      return `${source} does not exist on the source host; the backup ${target} (if any) is kept.`;
    case "unsafe-name":
      return `the dataset name "${c.name}" contains characters bzman never puts in a command; skipped.`;
  }
}
