// Runs the datasets of a pass side by side as core/parallel.ts allows: after every end it asks
// mayStart again. It decides nothing itself and waits for every dataset it started.

import { mayStart, type DatasetState } from "../core/parallel.ts";
import { BackupError } from "../errors.ts";

/**
 * Runs `run(i)` for every dataset of `names` (source dataset names in plan order), at most
 * `limit` at once, each only after its nearest ancestor in the list has ended. `run` resolves
 * with whether the dataset was replicated; a rejection counts as a failure of that dataset
 * only (its siblings go on) and is thrown again once every dataset has ended.
 */
export async function runPlanned(
  names: readonly string[],
  limit: number,
  run: (i: number) => Promise<boolean>,
): Promise<void> {
  const states: DatasetState[] = names.map(() => "waiting");
  const running = new Map<number, Promise<void>>();
  let thrown: { err: unknown } | undefined;
  for (;;) {
    for (const i of mayStart(names, states, limit)) {
      states[i] = "running";
      running.set(
        i,
        run(i).then(
          (ok) => {
            states[i] = ok ? "done" : "failed";
            running.delete(i);
          },
          (err: unknown) => {
            states[i] = "failed";
            running.delete(i);
            thrown ??= { err };
          },
        ),
      );
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  if (thrown) throw thrown.err;
  const left = states.indexOf("waiting");
  if (left >= 0) throw new BackupError("INTERNAL", `${names[left]} was never started`);
}
