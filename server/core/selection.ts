// Which datasets below a configured root a pass leaves out. Explicit config wins: a dataset the
// config names is always in, one an `exclude` pattern of its root matches (or lies below) is
// always out; then the source's `bzman:backup` property decides, as ZFS inherits it. Pure.

import type { Listing } from "./model.ts";
import { isWithin, SELECT_PROPERTY } from "./naming.ts";

/** One `exclude` glob of a root, compiled (by config/) to a RegExp over paths relative to the root. */
export interface ExcludePattern {
  pattern: string;
  re: RegExp;
}

/** What selection needs of a configured root. */
export interface SelectionRoot {
  name: string;
  recursive: boolean;
  exclude?: ExcludePattern[];
}

/** The verdict for one dataset: in (with a note when the property was overruled), or out and why. */
export type Selected =
  | { included: true; note?: string }
  | { included: false; by: "exclude" | "property"; reason: string };

const OFF = new Set(["off", "false", "no"]);

/**
 * Decides whether `dataset` (the root itself or a dataset below a recursive root) is backed up.
 * `property` is the dataset's effective `bzman:backup` value from the source's listing (zfs
 * reports the inherited value; "-" or undefined: not set anywhere). Only `off`/`false`/`no`
 * switch a dataset off; any other value leaves it in. Precondition: `dataset` is `root.name`
 * or lies below it.
 */
export function selectDataset(dataset: string, root: SelectionRoot, property: string | undefined): Selected {
  const value = property?.trim().toLowerCase();
  if (dataset === root.name) {
    return value !== undefined && OFF.has(value)
      ? {
          included: true,
          note: `${SELECT_PROPERTY}=${property} on the source is overruled: the config names ${dataset}`,
        }
      : { included: true };
  }
  const rel = dataset.slice(root.name.length + 1);
  const parts = rel.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const path = parts.slice(0, i).join("/");
    const hit = (root.exclude ?? []).find((p) => p.re.test(path));
    if (hit) {
      const below = i < parts.length ? ` (it lies below ${root.name}/${path})` : "";
      return { included: false, by: "exclude", reason: `left out by exclude "${hit.pattern}" of ${root.name}${below}` };
    }
  }
  if (value !== undefined && OFF.has(value)) {
    return { included: false, by: "property", reason: `left out by ${SELECT_PROPERTY}=${property} on the source` };
  }
  return { included: true };
}

/** A root this pass snapshotted, and the name of that snapshot. */
export interface TakenSnapshot {
  root: string;
  recursive: boolean;
  name: string;
}

/**
 * The snapshots a pass removes again from excluded datasets (`zfs snapshot -r` of a root cannot
 * leave them out): on each excluded dataset, the snapshot of each root the pass snapshotted that
 * reached it (the root itself, or a recursive root above it), where its listing shows it. A
 * same-named snapshot the pass did not take there is not the pass's, and stays.
 */
export function passSnapshotsToDrop(
  excluded: ReadonlyArray<{ sourceDataset: string }>,
  source: Listing,
  taken: ReadonlyArray<TakenSnapshot>,
): Array<{ dataset: string; snapshot: string }> {
  const out: Array<{ dataset: string; snapshot: string }> = [];
  for (const { sourceDataset: d } of excluded) {
    const names = new Set(taken.filter((t) => t.root === d || (t.recursive && isWithin(d, t.root))).map((t) => t.name));
    for (const s of source.get(d)?.snapshots ?? []) if (names.has(s.name)) out.push({ dataset: d, snapshot: s.name });
  }
  return out;
}
