// Decisions of getting data back, pure: which backup snapshot a restore sends and where it lands,
// whether a failback can send incrementally, and which snapshot a restore drill checks. The
// engine acts on these; nothing here runs a command.

import type { DatasetSnapshots, Snapshot } from "./model.ts";
import { LIVE_CONTAINER, RESTORE_CONTAINER, isWithin, parentOf, poolOf, utcStamp } from "./naming.ts";

/** The snapshot to restore: the one named, else the newest. A message when there is none. */
export function pickSnapshot(ds: DatasetSnapshots, name?: string): Snapshot | string {
  if (ds.snapshots.length === 0) return `${ds.name} has no snapshot on the backup`;
  if (name === undefined) return ds.snapshots[ds.snapshots.length - 1]!;
  return (
    ds.snapshots.find((s) => s.name === name) ??
    `${ds.name}@${name} is not on the backup; it has ${ds.snapshots
      .slice(-5)
      .map((s) => s.name)
      .join(", ")}${ds.snapshots.length > 5 ? ` and ${ds.snapshots.length - 5} older` : ""}`
  );
}

/**
 * Where a restore lands on a source: `as` as a full path (with a `/`) or as a sibling of the
 * original; by default `<original>-restored-<UTC>` (a child for a pool's root dataset).
 */
export function restoreDestination(original: string, as: string | undefined, nowMs: number): string {
  const name =
    as ??
    `${original.includes("/") ? original.slice(original.lastIndexOf("/") + 1) : "restored"}-restored-${utcStamp(nowMs)}`.replace(
      /^restored-restored/,
      "restored",
    );
  if (name.includes("/")) return name;
  const parent = parentOf(original);
  return parent === null ? `${original}/${name}` : `${parent}/${name}`;
}

/** A local clone's full name: `as` with a `/` as given, else `<pool>/bzman-restore/<as>`. */
export function clonePath(pool: string, as: string): string {
  return as.includes("/") ? as : `${pool}/${RESTORE_CONTAINER}/${as}`;
}

/** Where `bzman promote` puts a backup by default: `<pool>/bzman-live/<source>/<dataset>`. */
export function defaultLiveName(target: string, source: string, dataset: string): string {
  return `${poolOf(target)}/${LIVE_CONTAINER}/${source}/${dataset}`;
}

/** Why a name may not receive a clone or a promoted dataset on the backup host, or null. */
export function backupNameProblem(name: string, pool: string, targets: string[]): string | null {
  if (poolOf(name) !== pool) return `${name} is not in the pool ${pool} (a clone or rename stays in its pool)`;
  const inside = targets.find((t) => isWithin(name, t) || isWithin(t, name));
  if (inside) return `${name} overlaps the replication target ${inside}; pick a name outside every source's target`;
  return null;
}

/** How a failback brings a source dataset up to the promoted copy. */
export type FailbackPlan =
  /** `unchecked`: the source's zfs cannot say whether the dataset was written after `from`. */
  | { kind: "incremental"; from: Snapshot; unchecked: boolean }
  | { kind: "full" }
  /** `rollback`: the snapshot the source could be rolled back to instead, dropping its writes. */
  | { kind: "full-aside"; reason: string; rollback?: string }
  | { kind: "refuse"; reason: string; rollback?: string };

/**
 * Decides the failback send of `live` (the promoted copy) to the source, whose dataset is
 * `source` (undefined: gone) with `written` bytes written after its newest snapshot (null: its
 * zfs has no `written` property). Incremental when the source's newest snapshot is one the live
 * copy has (by GUID) and nothing was written after it. Anything the source has that the live
 * copy lacks (snapshots, or writes after the shared snapshot) would be lost by sending over it,
 * so that is refused (with the rollback that would drop writes, when that is the only reason),
 * or with `force` the source dataset is renamed aside (kept) and re-seeded in full.
 */
export function planFailback(
  live: DatasetSnapshots,
  source: DatasetSnapshots | undefined,
  force: boolean,
  written: number | null = null,
): FailbackPlan {
  if (!source) return { kind: "full" };
  const newest = source.snapshots[source.snapshots.length - 1];
  const base = newest ? live.snapshots.find((s) => s.guid === newest.guid) : undefined;
  if (base && newest && written !== null && written > 0) {
    const reason = `${source.name} on the source was written after its newest snapshot @${newest.name} (${written} bytes); an incremental over it would lose those writes`;
    const rollback = `${source.name}@${newest.name}`;
    return force ? { kind: "full-aside", reason, rollback } : { kind: "refuse", reason, rollback };
  }
  if (base) return { kind: "incremental", from: base, unchecked: written === null };
  const lacking = newest
    ? live.snapshots.length === 0
      ? source.snapshots
      : source.snapshots.filter((s) => !live.snapshots.some((l) => l.guid === s.guid))
    : [];
  const reason = newest
    ? `${source.name} on the source has ${lacking.length} snapshot(s) the promoted copy lacks (newest ${newest.name}); sending over it would lose them`
    : `${source.name} exists on the source with no snapshot in common with the promoted copy`;
  return force ? { kind: "full-aside", reason } : { kind: "refuse", reason };
}

/**
 * What to tell an operator whose failback was refused because the source has something the
 * promoted copy lacks: the two ways on, each a complete, valid command line.
 */
export function failbackRefusalAdvice(subject: string, dataset: string, aside: string, rollback?: string): string {
  const keep = `to keep it, bzman failback ${subject} --force (renames ${dataset} aside on the source as ${aside}, kept, and re-seeds it from the promoted copy)`;
  return rollback
    ? `${keep}; to drop those writes, on the source: zfs rollback ${rollback}, then bzman failback ${subject}`
    : keep;
}

/** A snapshot a restore drill can check: on the backup, and (by GUID) still on the source. */
export interface DrillCandidate {
  dataset: string;
  target: string;
  snapshot: Snapshot;
}

/**
 * The drill's candidates: for each filesystem on the backup, its `recent` newest snapshots that
 * the source still has with the same GUID. `sourceFor` maps a target dataset to its source dataset.
 */
export function drillCandidates(
  backup: DatasetSnapshots[],
  source: ReadonlyMap<string, DatasetSnapshots>,
  sourceFor: (target: string) => string | null,
  recent: number,
): DrillCandidate[] {
  const out: DrillCandidate[] = [];
  for (const t of backup) {
    if (t.type !== "filesystem") continue;
    const name = sourceFor(t.name);
    const s = name === null ? undefined : source.get(name);
    if (!s || name === null) continue;
    const guids = new Set(s.snapshots.map((x) => x.guid));
    for (const snap of t.snapshots.slice(-recent))
      if (guids.has(snap.guid)) out.push({ dataset: name, target: t.name, snapshot: snap });
  }
  return out;
}

/** One of the candidates, chosen by `random` in [0, 1). */
export function pickDrill(candidates: DrillCandidate[], random: number): DrillCandidate | null {
  if (candidates.length === 0) return null;
  return candidates[Math.min(candidates.length - 1, Math.floor(random * candidates.length))]!;
}

/** What a drill measured. */
export interface DrillMeasure {
  /** `referenced` of the snapshot as the source and the backup report it. */
  sourceReferenced: number;
  backupReferenced: number;
  files: number;
  bytes: number;
  /** Files that could not be read (path and error), e.g. EIO from a checksum error. */
  unreadable: Array<{ path: string; error: string }>;
  /** The same snapshot's file count and bytes in an earlier drill, if one checked it. */
  previous?: { files: number; bytes: number };
}

/** Relative tolerance for `referenced` on both sides (space accounting differs a little). */
export const REFERENCED_TOLERANCE = 0.02;
/** Absolute tolerance for `referenced`, for small datasets. */
export const REFERENCED_SLACK_BYTES = 1024 * 1024;

/** The problems a drill found; empty means the backup snapshot is restorable and complete. */
export function drillProblems(m: DrillMeasure): string[] {
  const out: string[] = [];
  for (const u of m.unreadable.slice(0, 5)) out.push(`cannot read ${u.path}: ${u.error}`);
  if (m.unreadable.length > 5) out.push(`and ${m.unreadable.length - 5} more unreadable file(s)`);
  const diff = Math.abs(m.sourceReferenced - m.backupReferenced);
  if (
    diff > Math.max(REFERENCED_SLACK_BYTES, REFERENCED_TOLERANCE * Math.max(m.sourceReferenced, m.backupReferenced))
  ) {
    out.push(
      `the snapshot references ${m.backupReferenced} bytes on the backup but ${m.sourceReferenced} on the source`,
    );
  }
  if (m.previous && (m.previous.files !== m.files || m.previous.bytes !== m.bytes)) {
    out.push(
      `the snapshot held ${m.previous.files} files / ${m.previous.bytes} bytes at an earlier drill and ${m.files} / ${m.bytes} now; a snapshot never changes`,
    );
  }
  return out;
}
