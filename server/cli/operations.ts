// Recording what an operator's command did (restore, clone, cleanup, promote, failback, drill,
// scrub) in the operations journal (errors.ts recordedError is how it keeps an error). Never
// fails the command that records.

import type { OperationKind, OperationRecord } from "../core/model.ts";
import { newRunId, type CliDeps, type Services } from "./deps.ts";

/** Records an operation in the journal; never fails the command. */
export function recordOperation(
  services: Services,
  deps: CliDeps,
  op: Omit<OperationRecord, "id" | "finishedAt"> & { kind: OperationKind },
): OperationRecord {
  const full: OperationRecord = { ...op, id: newRunId(deps.now()), finishedAt: deps.now().toISOString() };
  try {
    services.journal.append(full);
  } catch (err) {
    deps.stderr.write(
      `bzman: warning: cannot record the ${op.kind} in ${services.journal.path}: ${(err as Error).message}\n`,
    );
  }
  return full;
}
