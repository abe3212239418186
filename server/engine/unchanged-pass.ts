// The listing phase of a pass with `skip_unchanged` (core/unchanged.ts decides): one cheap query
// of every dataset's `written` and `snapshots_changed` on the source, and one of the backup's
// datasets, whose listing is reused while its marks say nothing changed there; roots whose marks
// match their memo reuse their last listing; roots with nothing written are listed first and
// snapshotted only if the backup lacks their newest snapshot; the others are snapshotted and
// listed as in any pass. What is remembered between passes (SourceMemo) is the daemon's, per
// source, in memory: a restart lists everything once.

import type { Listing, RunRecord } from "../core/model.ts";
import { isWithin } from "../core/naming.ts";
import type { DatasetRoot } from "../core/plan.ts";
import {
  FULL_LISTING_EVERY,
  listingOfRoot,
  marksOfRoot,
  rootIsClean,
  rootMemoable,
  rootWays,
  targetMemoable,
  targetMemoHolds,
  type Marks,
  type RootMemo,
  type RootWay,
  type TargetMarks,
  type TargetMemo,
} from "../core/unchanged.ts";
import type { MarkColumns } from "../zfs/args.ts";
import type { ListResult, ZfsHost } from "../zfs/zfs-host.ts";

/** What a source's passes remember of it between passes, for `skip_unchanged`. */
export interface SourceMemo {
  /** The job the memos were made for; a pass of a changed job starts afresh. */
  key?: string;
  /** Per root: its marks and listing when it was last listed and found clean. */
  roots: Map<string, RootMemo>;
  /** Which query the source answers ("none": neither); asked again every FULL_LISTING_EVERY passes. */
  columns?: MarkColumns | "none";
  /** Passes since `columns` was learned. */
  columnsAge: number;
  /** The backup's listing and marks when it was last listed, where they may be reused. */
  target?: TargetMemo;
  /** False once the backup's zfs answered no marks (no `snapshots_changed`); asked again like `columns`. */
  targetAnswers?: boolean;
}

/** An empty memo, for a source the daemon has not passed over yet. */
export function newSourceMemo(): SourceMemo {
  return { roots: new Map(), columnsAge: 0 };
}

/** How a root went through the listing phase: its way, and whether it was left alone (no snapshot, nothing to send). */
export interface RootOutcome {
  way: RootWay;
  /** No new snapshot: the backup has its newest one and nothing was written since. */
  leftAlone: boolean;
}

/** What identifies a job for its memo: roots, selection, target and policy. */
export function memoKey(job: {
  roots: DatasetRoot[];
  targetRoot: string;
  policy: unknown;
  snapshot?: { prefix?: string };
}): string {
  return JSON.stringify({
    roots: job.roots.map((r) => [r.name, r.recursive, (r.exclude ?? []).map((p) => p.pattern)]),
    target: job.targetRoot,
    policy: job.policy,
    prefix: job.snapshot?.prefix,
  });
}

/** The memo of `job`, reset when the job changed (config reload, other roots or target). */
export function memoFor(memo: SourceMemo, key: string): SourceMemo {
  if (memo.key !== key) {
    memo.key = key;
    memo.roots.clear();
    memo.columns = undefined;
    memo.columnsAge = 0;
    memo.target = undefined;
    memo.targetAnswers = undefined;
  }
  return memo;
}

/** Asks the source for its marks, with the columns it answered before (or both, newest first). */
export async function readMarks(
  remote: ZfsHost,
  roots: string[],
  memo: SourceMemo,
  signal?: AbortSignal,
): Promise<{ marks: Marks; missing: string[] } | { unsupported: string }> {
  if (memo.columnsAge >= FULL_LISTING_EVERY) {
    memo.columns = undefined;
    memo.targetAnswers = undefined;
    memo.columnsAge = 0;
  }
  memo.columnsAge++;
  if (memo.columns === "none") return { unsupported: "the source answered no query of written values before" };
  const tries: MarkColumns[] = memo.columns ? [memo.columns] : ["changed", "written"];
  let why = "";
  for (const c of tries) {
    const r = await remote.marks(roots, c, signal);
    if ("marks" in r) {
      memo.columns = c;
      return r;
    }
    why = r.unsupported;
  }
  memo.columns = "none";
  return { unsupported: why };
}

/**
 * The backup's listing: the memo's while the backup's marks say nothing changed there, else a
 * fresh one (kept for later passes when its marks allow, core/unchanged.ts targetMemoable).
 * `listedAt` is the time in seconds, read just before a fresh listing.
 */
export async function backupListing(
  local: ZfsHost,
  targetRoot: string,
  memo: SourceMemo,
  listTarget: () => Promise<ListResult>,
  listedAt: () => number,
  signal?: AbortSignal,
): Promise<ListResult> {
  let marks: TargetMarks | undefined;
  if (memo.targetAnswers !== false) {
    const r = await local.targetMarks(targetRoot, signal);
    if ("marks" in r) marks = r.marks;
    memo.targetAnswers = "marks" in r;
  }
  if (marks && targetMemoHolds(marks, memo.target)) {
    memo.target!.reused++;
    return { listing: memo.target!.listing, missing: [] };
  }
  const at = listedAt();
  const fresh = await listTarget();
  memo.target = marks && targetMemoable(marks, at) ? { marks, listing: fresh.listing, reused: 0 } : undefined;
  return fresh;
}

/** Joins listings of disjoint roots. */
export function joinListings(parts: Listing[]): Listing {
  const out: Listing = new Map();
  for (const p of parts) for (const [k, v] of p) out.set(k, v);
  return out;
}

/**
 * Decides each root's way and resolves the `check` roots against a fresh listing of them:
 * clean ones are left alone, the rest join the roots to snapshot. `listRoots` lists the given
 * roots on the source (one call); `target` is the backup's fresh listing.
 */
export async function settleRoots(
  roots: DatasetRoot[],
  marks: Marks,
  memo: SourceMemo,
  snapshotting: boolean,
  target: Listing,
  targetRoot: string,
  listRoots: (roots: DatasetRoot[]) => Promise<ListResult>,
): Promise<{ outcomes: Map<string, RootOutcome>; reused: Listing; checked?: ListResult; toSnapshot: DatasetRoot[] }> {
  const ways = rootWays(roots, marks, memo.roots, snapshotting);
  const outcomes = new Map<string, RootOutcome>();
  const reused: Listing[] = [];
  const check: DatasetRoot[] = [];
  const toSnapshot: DatasetRoot[] = [];
  for (const root of roots) {
    let way = ways.get(root.name)!;
    const m = memo.roots.get(root.name);
    // The backup is listed fresh every pass: a memo whose newest snapshots it lost is not used.
    if (way === "unchanged" && !(m && rootIsClean(root, marks, m.listing, target, targetRoot))) way = "check";
    if (way === "unchanged") {
      reused.push(m!.listing);
      outcomes.set(root.name, { way, leftAlone: true });
    } else if (way === "check") check.push(root);
    else toSnapshot.push(root);
  }
  let checked: ListResult | undefined;
  if (check.length > 0) {
    checked = await listRoots(check);
    for (const root of check) {
      const clean = rootIsClean(root, marks, checked.listing, target, targetRoot);
      if (clean || !snapshotting) outcomes.set(root.name, { way: "check", leftAlone: clean });
      else {
        toSnapshot.push(root);
        for (const n of [...checked.listing.keys()]) if (isWithin(n, root.name)) checked.listing.delete(n);
      }
    }
  }
  for (const root of toSnapshot) outcomes.set(root.name, { way: "snapshot", leftAlone: false });
  return { outcomes, reused: joinListings(reused), ...(checked ? { checked } : {}), toSnapshot };
}

/**
 * What the memo keeps after a pass: roots listed without a snapshot and left alone, whose every
 * dataset ended up to date (or excluded) without a warning, keep this pass's marks and listing;
 * reused roots count one more reuse; every other root, and all of them after a failed pass, are
 * forgotten.
 */
export function rememberPass(
  memo: SourceMemo,
  roots: DatasetRoot[],
  marks: Marks,
  source: Listing,
  outcomes: ReadonlyMap<string, RootOutcome>,
  record: RunRecord,
  listedAt: number,
): void {
  if (record.error) {
    memo.roots.clear();
    memo.target = undefined;
    return;
  }
  for (const root of roots) {
    const o = outcomes.get(root.name);
    const recs = record.datasets.filter((d) => isWithin(d.dataset, root.name));
    const quiet =
      recs.length > 0 &&
      recs.every((d) => (d.result === "up-to-date" || d.result === "excluded") && !d.warnings?.length && !d.error);
    if (!o?.leftAlone || !quiet || (o.way === "check" && !rootMemoable(root, marks, listedAt))) {
      memo.roots.delete(root.name);
      continue;
    }
    const old = memo.roots.get(root.name);
    if (o.way === "unchanged" && old) old.reused++;
    else
      memo.roots.set(root.name, { marks: marksOfRoot(root, marks), listing: listingOfRoot(root, source), reused: 0 });
  }
}

/** The message of a dataset a pass left alone. */
export function leftAloneMessage(way: RootWay): string {
  return way === "unchanged"
    ? "unchanged since the last pass (snapshots_changed and written): not snapshotted, listed or pruned"
    : "nothing written since its newest snapshot, which the backup has: not snapshotted or pruned";
}

/** Why skip_unchanged does nothing on this source, for the pass's warning. */
export function unsupportedWarning(source: string, why: string): string {
  return `skip_unchanged: ${source} answers no query of what was written (a zfs without the written property, or a guard older than the query; run source-hooks/install-source.sh there again), so every pass snapshots and lists as without it: ${why}`;
}
