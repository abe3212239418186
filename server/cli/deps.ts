// What every command shares: the dependencies main.ts injects (CliDeps), the exit codes, and
// opening this machine's history, journal and locks. Commands import these from here, never
// from each other; nothing here runs a pass or prints a result.

import { dirname, join } from "node:path";
import type { Config, SourceConfig } from "../config/schema.ts";
import { Journal } from "../state/journal.ts";
import { TargetLocks } from "../state/locks.ts";
import { HistoryStore } from "../state/store.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { utcStamp } from "../core/naming.ts";

/** An open connection to a source, as the CLI needs it. */
export interface OpenSource {
  host: ZfsHost;
  close(): Promise<void>;
}

/** What the commands need from outside; main.ts builds the real ones. */
export interface CliDeps {
  local: ZfsHost;
  /** Opens a connection to a source: with its replication key, or (`restore`) its restore key. */
  connect(source: SourceConfig, signal?: AbortSignal, opts?: { restore?: boolean }): Promise<OpenSource>;
  now(): Date;
  /** Whether ssh2's native crypto binding is built (absent: unknown). */
  sshNative?: boolean;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  signal: AbortSignal;
}

/** Exit codes of the CLI (`status --check` uses the Nagios codes of core/check.ts instead). */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** Writes `text` to `stream` and returns `code`: the one-line way a command says why it ends. */
export function exitWith(stream: NodeJS.WritableStream, text: string, code: number): number {
  stream.write(text);
  return code;
}

/** A run id: UTC time of the pass plus a few random characters. */
export function newRunId(now: Date): string {
  return `${utcStamp(now.getTime())}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The history, the operations journal and the locks of this machine's bzman. */
export interface Services {
  store: HistoryStore;
  journal: Journal;
  locks: TargetLocks;
}

/**
 * Opens the history (next to it, the locks); a message when that is impossible. `readOnly`
 * (status, report) reads the history in whichever format it is and creates or changes nothing;
 * `daemon` checkpoints the history in a thread of its own.
 */
export async function openServices(
  config: Config,
  what: string,
  warn: (line: string) => void,
  opts: { readOnly?: boolean; daemon?: boolean } = {},
): Promise<Services | string> {
  try {
    const { store, problem, notice } = await HistoryStore.open(config.state, {
      keep: config.history,
      ...(opts.readOnly ? { readOnly: true } : {}),
      ...(opts.daemon ? { checkpointThread: true } : {}),
    });
    if (notice) warn(notice);
    if (problem) warn(problem);
    return {
      store,
      journal: Journal.besideState(config.state),
      locks: new TargetLocks(join(dirname(config.state), "locks"), what, warn),
    };
  } catch (err) {
    return `cannot use the state file ${config.state}: ${(err as Error).message}`;
  }
}
