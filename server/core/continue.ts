// Where to continue a step after a transient failure, pure: from what the target holds now.
// A cut `-I` stream may have landed some of its snapshots; a cut stream received with `-s`
// leaves a resume token. The next step is decided from the target by GUID, never assumed.

import type { ErrorCode } from "./codes.ts";
import type { DatasetSnapshots, Step } from "./model.ts";

/** What to do after a step failed: it is done, the step to run now, or why it cannot go on. */
export type Continuation = { kind: "done" } | { kind: "step"; step: Step } | { kind: "stuck"; reason: string };

/**
 * The step that finishes `step`, given the target as it is now (undefined: it does not exist).
 * A resume token wins (`send -t` finishes the partly received snapshot); else the target's
 * newest snapshot must be `step.from` or one the stream already delivered on the way to `to`.
 */
export function continueStep(step: Step, target: DatasetSnapshots | undefined): Continuation {
  if (target?.resumeToken) {
    return {
      kind: "step",
      step: {
        kind: "resume",
        sourceDataset: step.sourceDataset,
        targetDataset: step.targetDataset,
        ...(step.to ? { to: step.to } : {}),
        intermediates: false,
        resumeToken: target.resumeToken,
      },
    };
  }
  const onTarget = target?.snapshots ?? [];
  const newest = onTarget.at(-1);
  const to = step.to;
  if (to && onTarget.some((s) => s.guid === to.guid)) {
    if (newest?.guid === to.guid) return { kind: "done" };
    return { kind: "stuck", reason: `${step.targetDataset} has snapshots after ${to.name}` };
  }
  if (step.kind === "resume") return { kind: "stuck", reason: `the partial receive of ${step.targetDataset} is gone` };
  if (step.kind === "full") {
    if (!target) return { kind: "step", step };
    return { kind: "stuck", reason: `${step.targetDataset} exists now but lacks ${step.to.name}` };
  }
  if (!newest) return { kind: "stuck", reason: `${step.targetDataset} has no snapshot to continue from` };
  const from = step.from;
  if (newest.guid === from.guid) return { kind: "step", step };
  // A snapshot newer than `from` that the cut stream delivered: continue from it.
  if (newest.createtxg > 0 && onTarget.some((s) => s.guid === from.guid)) {
    return { kind: "step", step: { ...step, from: newest, kind: "incremental" } };
  }
  return {
    kind: "stuck",
    reason: `${step.targetDataset}'s newest snapshot ${newest.name} is not the base of the step`,
  };
}

/** Whether a failed resume (`zfs send -t`) is given up: the partial receive discarded, the dataset planned again. */
export type ResumeFailure = { discard: true; why: string } | { discard: false };

/**
 * What a pass does when resuming a partial receive failed with error `code`. A token whose
 * snapshot is gone on the source can never resume, and a source whose guard refuses `send -t`
 * never lets it: in both cases the partial receive is discarded (`zfs receive -A`) and the step
 * sent again in the same pass, so the dataset does not fail every pass. Anything else (a cut
 * stream, a lost connection) keeps the partial state for the next attempt.
 */
export function afterFailedResume(code: ErrorCode): ResumeFailure {
  if (code === "ZFS_RESUME_STALE") return { discard: true, why: "its snapshot is gone on the source" };
  if (code === "GUARD_REJECTED")
    return { discard: true, why: "the source's guard refuses to resume sends (zfs send -t)" };
  return { discard: false };
}
