// A tiny DSL for snapshot lists in planner tests: snaps("a", "b", "c#x") gives three snapshots
// with createtxg 10, 20, 30; the GUID is "g-<name>" unless written after '#'.

import type { DatasetSnapshots, Listing, Snapshot } from "../../server/core/model.ts";

/** Snapshots in order of creation; `name#guid` sets the GUID explicitly. */
export function snaps(...specs: string[]): Snapshot[] {
  return specs.map((spec, i) => {
    const [name, guid] = spec.split("#") as [string, string | undefined];
    return { name, guid: guid ?? `g-${name}`, createtxg: (i + 1) * 10, creation: 1_700_000_000 + i * 600 };
  });
}

/** A dataset with the given snapshots. */
export function ds(name: string, snapshots: Snapshot[], extra: Partial<DatasetSnapshots> = {}): DatasetSnapshots {
  return { name, type: "filesystem", guid: `d-${name}`, snapshots, ...extra };
}

/** A listing from datasets. */
export function listing(...datasets: DatasetSnapshots[]): Listing {
  return new Map(datasets.map((d) => [d.name, d]));
}
