// Which datasets of a pass may start now, when several replicate at once: a dataset waits for
// its nearest ancestor in the plan to end (received or failed: a child of a failed parent is
// still tried, and replicateDataset decides whether it can be received), and at most `limit`
// run at a time. Pure: the engine asks after every start and every end.

import { parentOf } from "./naming.ts";

/** Where one dataset of the pass stands. */
export type DatasetState = "waiting" | "running" | "done" | "failed";

/**
 * For each dataset (by source dataset name, in plan order) the index of its nearest ancestor
 * that is in the same list, or null when none is. A dataset named twice waits for nothing new:
 * the first of the name counts.
 */
export function planParents(names: readonly string[]): Array<number | null> {
  const index = new Map<string, number>();
  names.forEach((n, i) => {
    if (!index.has(n)) index.set(n, i);
  });
  return names.map((n) => {
    for (let p = parentOf(n); p !== null; p = parentOf(p)) {
      const i = index.get(p);
      if (i !== undefined) return i;
    }
    return null;
  });
}

/**
 * The indices of the datasets that may start now, in plan order: waiting ones whose nearest
 * ancestor in the plan has ended (done or failed), no more than `limit` minus those running.
 * A failure never holds back a sibling; it releases its children like a success does.
 * `names` and `states` are parallel arrays (a missing state is waiting); `limit` below 1 counts as 1.
 */
export function mayStart(names: readonly string[], states: readonly DatasetState[], limit: number): number[] {
  const parents = planParents(names);
  let free = Math.max(1, Math.floor(limit)) - states.filter((s) => s === "running").length;
  const out: number[] = [];
  for (let i = 0; i < names.length && free > 0; i++) {
    if ((states[i] ?? "waiting") !== "waiting") continue;
    const p = parents[i];
    const ps = p === null || p === undefined ? "done" : (states[p] ?? "waiting");
    if (ps === "waiting" || ps === "running") continue;
    out.push(i);
    free--;
  }
  return out;
}
