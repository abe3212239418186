// The CommandRunner contract (argv in, streams and exit status out) and LocalRunner, which runs
// commands on this host with child_process.spawn — argv only, never a shell.

import { spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { BackupError } from "../errors.ts";

/** How a command ended. `code` null means it died by `signal` (or the transport lost its status). */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
  /** The last {@link STDERR_LIMIT} bytes of stderr. */
  stderr: string;
}

/** A started command. `done` rejects only when the transport fails; a non-zero exit resolves. */
export interface RunningCommand {
  argv: string[];
  stdin: Writable;
  stdout: Readable;
  done: Promise<ExitStatus>;
  /** Ends the command (idempotent); `done` still settles afterwards. */
  kill(): void;
  /**
   * The receive window of the command's SSH channel now, in bytes; undefined before the channel
   * opened, and for runners that manage none (local commands, ssh2's own window).
   */
  window?(): number | undefined;
}

/** Runs argv arrays somewhere: here (LocalRunner) or on a source over SSH (SshRunner). */
export interface CommandRunner {
  /** Where commands run, for messages ("local", "web1"). */
  readonly where: string;
  /** Runs to completion, collecting stdout. */
  run(argv: string[], opts?: { signal?: AbortSignal }): Promise<ExitStatus & { stdout: string }>;
  /** Starts a command with streaming stdin/stdout. */
  spawn(argv: string[], opts?: { signal?: AbortSignal }): RunningCommand;
  /** The commands running right now (for status pages). */
  running(): string[][];
}

/** Bytes of stderr kept per command (zrepl keeps 32 KiB too). */
export const STDERR_LIMIT = 32 * 1024;

/** Keeps the last `limit` bytes written to it. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit = STDERR_LIMIT) {}

  push(chunk: Buffer | string): void {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    this.chunks.push(b);
    this.size += b.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1)
      this.size -= this.chunks.shift()!.length;
  }

  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString("utf8");
  }
}

/** Collects a whole stream into a string. */
export async function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString("utf8");
}

/** Runs a started command to the end, collecting its stdout. */
export async function runToEnd(cmd: RunningCommand): Promise<ExitStatus & { stdout: string }> {
  cmd.stdin.end();
  const [stdout, status] = await Promise.all([collect(cmd.stdout), cmd.done]);
  return { ...status, stdout };
}

/** Seconds between SIGTERM and SIGKILL for a command that is being stopped. */
const KILL_GRACE_MS = 5000;

/** Runs commands on this host. */
export class LocalRunner implements CommandRunner {
  readonly where = "local";
  private readonly active = new Set<string[]>();

  run(argv: string[], opts: { signal?: AbortSignal } = {}): Promise<ExitStatus & { stdout: string }> {
    return runToEnd(this.spawn(argv, opts));
  }

  spawn(argv: string[], opts: { signal?: AbortSignal } = {}): RunningCommand {
    const [file, ...args] = argv;
    if (!file) throw new BackupError("INTERNAL", "empty argv");
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    const stderr = new TailBuffer();
    child.stderr.on("data", (c: Buffer) => stderr.push(c));
    // A receiver that exits early makes writes to its stdin fail with EPIPE; the pipeline
    // reports that, so the stream error itself must not crash the process.
    child.stdin.on("error", () => {});
    this.active.add(argv);
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      killTimer ??= setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS).unref();
    };
    const onAbort = (): void => kill();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) kill();
    const done = new Promise<ExitStatus>((resolve, reject) => {
      child.once("error", (err: NodeJS.ErrnoException) => {
        reject(
          new BackupError(
            "SPAWN_FAILED",
            `cannot run ${file}: ${err.code === "ENOENT" ? "not found in PATH" : err.message}`,
            { cause: err },
          ),
        );
      });
      child.once("close", (code, signal) => resolve({ code, signal, stderr: stderr.toString() }));
    }).finally(() => {
      this.active.delete(argv);
      clearTimeout(killTimer);
      opts.signal?.removeEventListener("abort", onAbort);
    });
    return { argv, stdin: child.stdin, stdout: child.stdout, done, kill };
  }

  running(): string[][] {
    return [...this.active];
  }
}
