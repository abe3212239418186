// What a pass does with a dataset the planner called a conflict, under the source's `on_conflict`,
// and what a dataset's result is when this pass's snapshot was not taken. Pure: the engine runs
// what these decide and records it.

import type { Decision, Transfer } from "./conflicts.ts";
import type { DatasetSnapshots, ReplicationPolicy } from "./model.ts";
import { planDataset } from "./plan.ts";

/** Conflicts that renaming the backup aside and re-seeding resolves. */
const RENAMEABLE = new Set(["diverged", "no-common-snapshot", "target-exists"]);

/** What to do with a planned dataset: as planned, or rename the backup aside and re-seed it. */
export type ConflictAction =
  | { kind: "as-planned"; decision: Decision; note?: string }
  | { kind: "rename-and-reseed"; decision: Transfer };

/**
 * With `on_conflict: rename`, a backup that diverged, shares nothing with its source, or exists
 * without snapshots is kept under another name and re-seeded in full (a full plan from `source`
 * as if the target did not exist); not when it has child datasets, which a rename would take
 * along (then it stays a reported conflict, with a note saying why). Everything else: as planned.
 */
export function onConflict(
  decision: Decision,
  policy: "report" | "rename" | undefined,
  ctx: {
    source: DatasetSnapshots | undefined;
    targetDataset: string;
    targetHasChildren: boolean;
    replication: ReplicationPolicy;
  },
): ConflictAction {
  if (policy !== "rename" || !RENAMEABLE.has(decision.kind)) return { kind: "as-planned", decision };
  if (ctx.targetHasChildren)
    return { kind: "as-planned", decision, note: `Not renamed aside: ${ctx.targetDataset} has child datasets.` };
  const reseed = planDataset(ctx.source, undefined, ctx.targetDataset, ctx.replication);
  return reseed.kind === "transfer"
    ? { kind: "rename-and-reseed", decision: reseed }
    : { kind: "as-planned", decision };
}

/** A dataset's result after a pass, and why it changed. */
export type PassOutcome = {
  result: "ok" | "up-to-date" | "failed" | "conflict" | "skipped" | "excluded";
  failedBecause?: string;
};

/**
 * The result of a dataset whose replication went `result` when this pass's snapshot of its root
 * could not be taken (`snapshotError`, a message): older snapshots may have been replicated, but
 * the backup is not as fresh as the pass promised, so "ok" and "up-to-date" become "failed".
 */
export function withSnapshotOutcome(result: PassOutcome["result"], snapshotError: string | undefined): PassOutcome {
  if (snapshotError !== undefined && (result === "ok" || result === "up-to-date")) {
    return { result: "failed", failedBecause: `the source snapshot for this pass was not taken: ${snapshotError}` };
  }
  return { result };
}
