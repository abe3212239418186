// Which bookmarks bzman keeps on a source: one per replicated dataset and receiver, of the newest
// snapshot both sides have, named after it and the receiver's instance (`<snapshot>.<instance>`). If that snapshot is destroyed on the source anyway (its hold
// released by hand, another tool's pruning), the next pass still continues incrementally from
// the bookmark instead of needing a full send. Pure: decides, runs nothing.

import type { Listing, SnapshotRef } from "./model.ts";
import { bookmarkNameFor, isOwnBookmark, isOwnSnapshot } from "./naming.ts";

/** What to do with bookmarks on the source after a pass. */
export interface BookmarkPlan {
  /** `[dataset, snapshot, bookmark]`: bookmark `dataset@snapshot` as `dataset#bookmark`. */
  create: Array<[string, string, string]>;
  /** `[dataset, name]`: bzman's older bookmarks of the dataset, destroyed once the new one exists. */
  destroy: Array<[string, string]>;
}

/**
 * For each replicated dataset (source dataset → its newest common snapshot), the bookmark to make
 * (only of bzman's own snapshots, and only when this receiver has no bookmark with that GUID yet:
 * another receiver's may vanish with its pruning) and this receiver's own bookmarks older than it
 * (including the unsuffixed ones receivers wrote before instances), to destroy. Other bookmarks,
 * another receiver's among them, are never touched.
 */
export function planBookmarks(
  replicated: Array<[string, SnapshotRef]>,
  source: Listing,
  prefix: string,
  instance: string,
): BookmarkPlan {
  const plan: BookmarkPlan = { create: [], destroy: [] };
  for (const [dataset, to] of replicated) {
    const ds = source.get(dataset);
    const snap = ds?.snapshots.find((s) => s.guid === to.guid);
    if (!ds || !snap || !isOwnSnapshot(snap.name, prefix)) continue;
    const marks = ds.bookmarks ?? [];
    const own = marks.filter((b) => isOwnBookmark(b.name, prefix, instance));
    if (!own.some((b) => b.guid === snap.guid))
      plan.create.push([dataset, snap.name, bookmarkNameFor(snap.name, instance)]);
    for (const b of own) if (b.createtxg < snap.createtxg) plan.destroy.push([dataset, b.name]);
  }
  return plan;
}
