// Which datasets a pass leaves alone because they are promoted (failover in force), pure: the
// journal's promotions are read by the caller, as often as the pass needs them fresh.

import { isWithin } from "./naming.ts";

/** Source dataset → why its pulls are paused (it, and what lies below it). */
export type Paused = ReadonlyMap<string, string>;

/**
 * Why `dataset` is paused (a promoted dataset, or one below it), or undefined when it is not.
 * A pass asks before snapshotting, before each dataset, after taking a dataset's lock (a promote
 * may have finished while it waited), and before holding and pruning.
 */
export function pauseReason(paused: Paused | undefined, dataset: string): string | undefined {
  for (const [root, why] of paused ?? []) if (isWithin(dataset, root)) return why;
  return undefined;
}
