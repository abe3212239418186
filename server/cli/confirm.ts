// Asking the operator before a command changes something that is in the way (restore --force,
// failback --force): typed confirmation on a terminal, `--yes` otherwise, never a silent yes.

import { createInterface } from "node:readline/promises";
import type { CliDeps } from "./deps.ts";

/** What a command that may ask needs beyond the common dependencies. */
export type InteractiveDeps = CliDeps & { stdin: NodeJS.ReadStream };

/** Asks the operator to type `expected` (or accepts `yes`); false without a terminal. */
export async function confirm(
  deps: InteractiveDeps,
  question: string,
  expected: string,
  yes: boolean,
): Promise<boolean> {
  if (yes) return true;
  if (!deps.stdin.isTTY) {
    deps.stderr.write("not confirmed (no terminal); pass --yes to go ahead without asking\n");
    return false;
  }
  const rl = createInterface({ input: deps.stdin, output: deps.stdout });
  const answer = (await rl.question(`${question}\nType ${expected} to go ahead: `)).trim();
  rl.close();
  return answer === expected;
}
