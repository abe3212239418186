// Keeps bzman's bookmark of each replicated dataset's newest common snapshot on the source
// (core/bookmarks.ts decides which): creates the new one, then destroys the older ones.
// Failures become warnings on the dataset's record; they never fail a pass.

import { planBookmarks } from "../core/bookmarks.ts";
import type { Listing } from "../core/model.ts";
import { toBackupError } from "../errors.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import type { ReplicatedDataset } from "./retention-pass.ts";
import { addWarning } from "./warnings.ts";

/** Bookmarks the newest common snapshot of every replicated dataset on `remote` (where it has bookmarks). */
export async function bookmarkReplicated(
  list: ReplicatedDataset[],
  sourceListing: Listing,
  own: { prefix: string; instance: string },
  remote: ZfsHost,
  signal?: AbortSignal,
): Promise<void> {
  if (!(await remote.capabilities(signal)).bookmarks) return;
  const byDataset = new Map(list.filter((d) => d.record.to).map((d) => [d.record.dataset, d]));
  const plan = planBookmarks(
    [...byDataset.values()].map((d) => [d.record.dataset, d.record.to!]),
    sourceListing,
    own.prefix,
    own.instance,
  );
  const failed = new Set<string>();
  for (const [dataset, snapshot, bookmark] of plan.create) {
    try {
      await remote.bookmark(dataset, snapshot, bookmark, signal);
    } catch (err) {
      failed.add(dataset);
      addWarning(byDataset.get(dataset)!.record, `bookmark ${dataset}#${bookmark}: ${toBackupError(err).message}`);
    }
  }
  for (const [dataset, name] of plan.destroy) {
    if (failed.has(dataset)) continue; // keep the older bookmark until a newer one exists
    try {
      await remote.destroyBookmark(dataset, name, own, signal);
    } catch (err) {
      addWarning(byDataset.get(dataset)!.record, `destroy bookmark ${dataset}#${name}: ${toBackupError(err).message}`);
    }
  }
}
