// A scripted CommandRunner for unit tests of the engine: each command is answered by the first
// matching script (stdout, stderr, exit code or signal, delay, or a transport failure). For
// faults real parts cannot produce on demand; the integration tier proves the real behaviour.

import { PassThrough } from "node:stream";
import type { BackupError } from "../../server/errors.ts";
import { runToEnd, type CommandRunner, type ExitStatus, type RunningCommand } from "../../server/zfs/runner.ts";

/** How a scripted command behaves. */
export interface Script {
  match: (argv: string[]) => boolean;
  stdout?: string | Buffer;
  stderr?: string;
  code?: number | null;
  signal?: string | null;
  /** Reject `done` with this (a transport failure). */
  fail?: BackupError;
  /** Consume stdin before exiting (a receiver). */
  readsStdin?: boolean;
  delayMs?: number;
}

/** A CommandRunner answering from scripts, recording every argv it was given. */
export class FakeRunner implements CommandRunner {
  readonly calls: string[][] = [];
  readonly stdinBytes = new Map<string, number>();

  constructor(
    readonly where: string,
    private readonly scripts: Script[],
  ) {}

  run(argv: string[], opts: { signal?: AbortSignal } = {}): Promise<ExitStatus & { stdout: string }> {
    return runToEnd(this.spawn(argv, opts));
  }

  spawn(argv: string[], opts: { signal?: AbortSignal } = {}): RunningCommand {
    this.calls.push(argv);
    const s = this.scripts.find((x) => x.match(argv));
    if (!s) throw new Error(`FakeRunner(${this.where}): no script for ${argv.join(" ")}`);
    const stdout = new PassThrough();
    const stdin = new PassThrough();
    let killed = false;
    let early: (() => void) | undefined;
    const key = argv.join(" ");
    const done = new Promise<ExitStatus>((resolve, reject) => {
      const finish = (): void => {
        if (s.fail) {
          reject(s.fail);
          return;
        }
        resolve(
          killed
            ? { code: null, signal: "SIGTERM", stderr: s.stderr ?? "" }
            : { code: s.code === undefined ? 0 : s.code, signal: s.signal ?? null, stderr: s.stderr ?? "" },
        );
      };
      let n = 0;
      stdin.on("data", (c: Buffer) => {
        n += c.length;
        this.stdinBytes.set(key, n);
      });
      // A stdin closed before the command "starts" (an abort in the same tick) must still end it.
      let stdinGone = false;
      stdin.once("end", () => (stdinGone = true)).once("close", () => (stdinGone = true));
      const go = (): void => {
        stdout.end(s.stdout ?? "");
        if (s.readsStdin && stdinGone) finish();
        else if (s.readsStdin) stdin.once("end", finish).once("close", finish);
        else {
          stdin.resume();
          finish();
        }
      };
      const timer = setTimeout(go, s.delayMs ?? 0);
      // A command killed while it still waits ends at once, as a real process would.
      early = (): void => {
        clearTimeout(timer);
        stdout.end();
        finish();
      };
    });
    const kill = (): void => {
      if (killed) return;
      killed = true;
      stdin.destroy();
      early?.();
    };
    opts.signal?.addEventListener("abort", kill, { once: true });
    return { argv, stdin, stdout, done, kill };
  }

  running(): string[][] {
    return [];
  }
}

/** Matches argv starting with these words. */
export const starts =
  (...words: string[]) =>
  (argv: string[]): boolean =>
    words.every((w, i) => argv[i] === w);
