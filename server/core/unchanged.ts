// Which configured roots a pass may leave alone (`skip_unchanged`). A root whose datasets have
// nothing written since their newest snapshot, and whose newest snapshots the backup already
// has, needs no new snapshot, no send and no pruning. Where the source's zfs reports
// `snapshots_changed` (OpenZFS 2.2+), a root whose values are the same as when it was last
// listed and found so is not even listed: the pass reuses that listing. Pure: the marks come
// from one cheap `zfs list` of the datasets (zfs/), the listings from the pass.

import type { Listing } from "./model.ts";
import { isWithin, targetFor } from "./naming.ts";
import type { DatasetRoot } from "./plan.ts";
import { selectDataset } from "./selection.ts";

/** What the cheap per-dataset query says of one dataset of the source. */
export interface DatasetMark {
  guid: string;
  /** Bytes written since the dataset's newest snapshot; null where the value is not a number. */
  written: number | null;
  /**
   * `snapshots_changed` as zfs prints it; null where it is unset ("-": no snapshot made or
   * destroyed since the dataset was created or its pool upgraded); undefined where the host's
   * zfs has no such property (before OpenZFS 2.2).
   */
  snapshotsChanged: string | null | undefined;
  /** The effective `bzman:backup` value ("-" when unset anywhere). */
  select: string;
}

/** Dataset name → its mark, for every filesystem and volume below the roots. */
export type Marks = Map<string, DatasetMark>;

/** What is kept of one root between passes: how it looked when it was last listed and found clean. */
export interface RootMemo {
  /** The marks of the root's datasets then. */
  marks: Marks;
  /** The root's part of the source listing then. */
  listing: Listing;
  /** Passes that have reused it since it was listed. */
  reused: number;
}

/**
 * A root's way through a pass: `unchanged` (reuse its last listing, take no snapshot), `check`
 * (nothing written: list it without a snapshot first; snapshot only if the backup lacks its
 * newest snapshot), or `snapshot` (as every pass without `skip_unchanged` does).
 */
export type RootWay = "unchanged" | "check" | "snapshot";

/** A root listed again after this many passes that reused its listing, whatever its marks say. */
export const FULL_LISTING_EVERY = 12;

/**
 * `snapshots_changed` counts whole seconds, so two changes within one second look like one. A
 * listing is only reused when every value it went by is this much older than the listing (by
 * the backup host's clock; the source's may be off by up to this much).
 */
export const SETTLE_SECONDS = 10;

/**
 * Whether every value of `changed` is a time at least SETTLE_SECONDS before `listedAt` (seconds),
 * or unset (null: nothing changed since it could be recorded); never where a value is unknown.
 */
export function settledBefore(changed: Iterable<string | null | undefined>, listedAt: number): boolean {
  for (const v of changed) {
    if (v === null) continue;
    if (v === undefined || !/^\d+$/.test(v) || Number(v) > listedAt - SETTLE_SECONDS) return false;
  }
  return true;
}

/** What the backup says of one of its datasets, for reusing its listing. */
export interface TargetMark {
  guid: string;
  /** `snapshots_changed`; null where unset. */
  snapshotsChanged: string | null;
  /** Whether a partial receive waits there (`receive_resume_token` set). */
  partial: boolean;
}

/** Dataset name → its mark, for every dataset below the target root. */
export type TargetMarks = Map<string, TargetMark>;

/** What is kept of the backup's listing between passes. */
export interface TargetMemo {
  marks: TargetMarks;
  listing: Listing;
  reused: number;
}

/**
 * Whether the backup's listing can be reused: the same datasets with the same GUIDs, no snapshot
 * made or destroyed on any (the same `snapshots_changed`), no partial receive, not reused too often.
 */
export function targetMemoHolds(marks: TargetMarks, memo: TargetMemo | undefined): boolean {
  if (!memo || memo.reused >= FULL_LISTING_EVERY || marks.size === 0 || marks.size !== memo.marks.size) return false;
  for (const [n, a] of marks) {
    const b = memo.marks.get(n);
    if (!b || a.partial || a.guid !== b.guid) return false;
    if (a.snapshotsChanged !== b.snapshotsChanged) return false;
  }
  return true;
}

/** Whether a fresh listing of the backup, taken at `listedAt` with these marks before it, may be kept. */
export function targetMemoable(marks: TargetMarks, listedAt: number): boolean {
  if (marks.size === 0 || [...marks.values()].some((m) => m.partial)) return false;
  return settledBefore(
    [...marks.values()].map((m) => m.snapshotsChanged),
    listedAt,
  );
}

/** Whether a root's listing, taken at `listedAt` with these marks before it, may be kept for later passes. */
export function rootMemoable(root: DatasetRoot, marks: Marks, listedAt: number): boolean {
  const names = datasetsOfRoot(root, marks.keys()).filter((n) => included(root, n, marks.get(n)!));
  return settledBefore(
    names.map((n) => marks.get(n)!.snapshotsChanged),
    listedAt,
  );
}

/** The datasets of `root` among `names`: the root, and below it when it is recursive. */
export function datasetsOfRoot(root: { name: string; recursive: boolean }, names: Iterable<string>): string[] {
  return [...names].filter((n) => (root.recursive ? isWithin(n, root.name) : n === root.name));
}

/** Whether a dataset of `root` is backed up, by what the marks say of it (config and `bzman:backup`). */
function included(root: DatasetRoot, name: string, mark: DatasetMark): boolean {
  return selectDataset(name, root, mark.select === "-" ? undefined : mark.select).included;
}

/** Whether the memo still describes the root: the same datasets, and no snapshot changed since. */
function memoHolds(root: DatasetRoot, marks: Marks, memo: RootMemo | undefined): boolean {
  if (!memo || memo.reused >= FULL_LISTING_EVERY) return false;
  const now = datasetsOfRoot(root, marks.keys());
  if (now.length !== memo.marks.size) return false;
  return now.every((n) => {
    const a = marks.get(n)!;
    const b = memo.marks.get(n);
    if (!b || a.guid !== b.guid || a.select !== b.select) return false;
    if (!included(root, n, a)) return true;
    return a.snapshotsChanged !== undefined && a.snapshotsChanged === b.snapshotsChanged;
  });
}

/**
 * How each root goes through this pass. `snapshotting`: the pass takes snapshots (without, no
 * root needs one, so what was written does not matter). A root the marks do not show (missing
 * on the source) takes the usual way, which reports it.
 */
export function rootWays(
  roots: DatasetRoot[],
  marks: Marks,
  memos: ReadonlyMap<string, RootMemo>,
  snapshotting: boolean,
): Map<string, RootWay> {
  const ways = new Map<string, RootWay>();
  for (const root of roots) {
    const names = datasetsOfRoot(root, marks.keys());
    if (!marks.has(root.name)) {
      ways.set(root.name, "snapshot");
      continue;
    }
    const quiet = !snapshotting || names.every((n) => !included(root, n, marks.get(n)!) || marks.get(n)!.written === 0);
    ways.set(root.name, !quiet ? "snapshot" : memoHolds(root, marks, memos.get(root.name)) ? "unchanged" : "check");
  }
  return ways;
}

/**
 * Whether the backup has everything of the root: each dataset it backs up has snapshots, and
 * its newest one (by createtxg, whatever its name) is on the backup (by GUID), with no partial
 * receive waiting there. With nothing written since, the backup then holds all of its data.
 */
export function rootIsClean(
  root: DatasetRoot,
  marks: Marks,
  source: Listing,
  target: Listing,
  targetRoot: string,
): boolean {
  const names = datasetsOfRoot(root, marks.keys());
  return names.every((n) => {
    if (!included(root, n, marks.get(n)!)) return true;
    const newest = source.get(n)?.snapshots.at(-1);
    const backup = target.get(targetFor(targetRoot, n));
    if (!newest || !backup || backup.resumeToken) return false;
    return backup.snapshots.some((s) => s.guid === newest.guid);
  });
}

/** The part of `listing` that belongs to `root`. */
export function listingOfRoot(root: DatasetRoot, listing: Listing): Listing {
  return new Map(datasetsOfRoot(root, listing.keys()).map((n) => [n, listing.get(n)!]));
}

/** The marks of the datasets of `root`. */
export function marksOfRoot(root: DatasetRoot, marks: Marks): Marks {
  return new Map(datasetsOfRoot(root, marks.keys()).map((n) => [n, marks.get(n)!]));
}

/**
 * Whether the skip can apply to these roots at all: none lies within another (a dataset would
 * then belong to two), and the pass is not limited to one dataset.
 */
export function rootsAllowSkip(roots: ReadonlyArray<{ name: string }>, only: string | undefined): boolean {
  if (only !== undefined) return false;
  return roots.every((a) => roots.every((b) => a === b || !isWithin(a.name, b.name)));
}
