// Which bookmarks bzman keeps on a source: one per replicated dataset, of the newest snapshot
// both sides have, named after it. If that snapshot is destroyed on the source anyway (its hold
// released by hand, another tool's pruning), the next pass still continues incrementally from
// the bookmark instead of needing a full send. Pure: decides, runs nothing.

import type { Listing, SnapshotRef } from "./model.ts";
import { isOwnSnapshot } from "./retention.ts";

/** What to do with bookmarks on the source after a pass. */
export interface BookmarkPlan {
  /** `[dataset, snapshot]`: bookmark `dataset@snapshot` as `dataset#snapshot`. */
  create: Array<[string, string]>;
  /** `[dataset, name]`: bzman's older bookmarks of the dataset, destroyed once the new one exists. */
  destroy: Array<[string, string]>;
}

/**
 * For each replicated dataset (source dataset → its newest common snapshot), the bookmark to make
 * (only of bzman's own snapshots, and only when the source has no bookmark with that GUID yet)
 * and bzman's own bookmarks older than it, to destroy. Other bookmarks are never touched.
 */
export function planBookmarks(replicated: Array<[string, SnapshotRef]>, source: Listing, prefix: string): BookmarkPlan {
  const plan: BookmarkPlan = { create: [], destroy: [] };
  for (const [dataset, to] of replicated) {
    const ds = source.get(dataset);
    const snap = ds?.snapshots.find((s) => s.guid === to.guid);
    if (!ds || !snap || !isOwnSnapshot(snap.name, prefix)) continue;
    const marks = ds.bookmarks ?? [];
    if (!marks.some((b) => b.guid === snap.guid)) plan.create.push([dataset, snap.name]);
    for (const b of marks) if (b.createtxg < snap.createtxg && isOwnSnapshot(b.name, prefix)) plan.destroy.push([dataset, b.name]);
  }
  return plan;
}
