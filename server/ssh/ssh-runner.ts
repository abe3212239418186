// SshRunner: CommandRunner over ssh2 `exec` on one connection. The argv is joined with spaces and
// every argument must be made of characters no shell or guard interprets, so nothing is quoted.

import { PassThrough, pipeline } from "node:stream";
import type ssh2 from "ssh2";
import { BackupError } from "../errors.ts";
import { TailBuffer, runToEnd, type CommandRunner, type ExitStatus, type RunningCommand } from "../zfs/runner.ts";
import { type ChannelWindow, widenWindow } from "./window.ts";

/** Characters allowed in an argument sent over SSH. */
// `#` (bookmarks: dataset#name) only after the first character: a word that starts with `#`
// would be a comment to a remote shell.
const SAFE_ARG = /^[A-Za-z0-9_.,:/@%+=-][A-Za-z0-9_.,:/@#%+=-]*$/;
/** How long a killed command may take to confirm its channel closed. */
const KILL_WAIT_MS = 10_000;
/** Longest command line bzman sends. */
const MAX_COMMAND = 8192;
/** Channels open at once on one connection (a stock sshd allows 10 sessions per connection). */
export const MAX_CHANNELS = 4;
/** Attempts to open a channel the server refused (it may be at its session limit for a moment). */
const OPEN_ATTEMPTS = 3;

/** The command string for `argv`, or a BackupError when an argument is unsafe. */
export function commandLine(argv: string[]): string {
  for (const a of argv) {
    if (!SAFE_ARG.test(a)) {
      throw new BackupError(
        "UNSAFE_ARGUMENT",
        `refusing to send the argument ${JSON.stringify(a)} over SSH (allowed: letters, digits and _.,:/@%+=-, and # after the first character)`,
      );
    }
  }
  const line = argv.join(" ");
  if (line.length > MAX_COMMAND)
    throw new BackupError("UNSAFE_ARGUMENT", `command line of ${line.length} characters is too long`);
  return line;
}

/** Runs commands on a source over an established ssh2 connection. */
export class SshRunner implements CommandRunner {
  private readonly active = new Set<string[]>();
  private openChannels = 0;
  private readonly waiting: Array<() => void> = [];

  /** Waits for one of the {@link MAX_CHANNELS} channel slots; resolves with its release. */
  private slot(): Promise<() => void> {
    return new Promise((resolve) => {
      const take = (): void => {
        this.openChannels++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.openChannels--;
          this.waiting.shift()?.();
        });
      };
      if (this.openChannels < MAX_CHANNELS) take();
      else this.waiting.push(take);
    });
  }

  /** `client.exec`, retried with a short backoff when the server refuses to open the channel. */
  private exec(command: string, cb: (err: Error | undefined, ch?: ssh2.ClientChannel) => void, attempt = 1): void {
    this.client.exec(command, (err, ch) => {
      if (
        err &&
        attempt < OPEN_ATTEMPTS &&
        /open failure|administratively prohibited|resource shortage/i.test(err.message)
      ) {
        setTimeout(() => this.exec(command, cb, attempt + 1), 250 * 2 ** (attempt - 1)).unref();
        return;
      }
      cb(err ?? undefined, ch);
    });
  }

  /**
   * @param windowBytes the largest receive window a channel may grow to (see {@link widenWindow});
   *   absent or at most 2 MiB: ssh2's own.
   */
  constructor(
    private readonly client: ssh2.Client,
    readonly where: string,
    private readonly windowBytes?: number,
  ) {}

  run(argv: string[], opts: { signal?: AbortSignal } = {}): Promise<ExitStatus & { stdout: string }> {
    return runToEnd(this.spawn(argv, opts));
  }

  spawn(argv: string[], opts: { signal?: AbortSignal } = {}): RunningCommand {
    const command = commandLine(argv);
    const stdout = new PassThrough();
    const stdin = new PassThrough();
    const stderr = new TailBuffer();
    let channel: ssh2.ClientChannel | undefined;
    let window: ChannelWindow | null = null;
    let killed = false;
    let settle: ((s: ExitStatus) => void) | undefined;
    // ssh2 emits a channel's "close" only after its readable side has ended, so a channel
    // nobody reads any more is drained; otherwise `done` would never settle.
    const drain = (): void => void channel?.resume();
    const kill = (): void => {
      if (killed) return;
      killed = true;
      if (!channel) return;
      channel.signal("TERM"); // honoured by sshd with privilege separation; closing is what counts
      channel.close();
      drain();
      // Backstop: a peer that never confirms the close must not leave `done` pending forever.
      setTimeout(() => settle?.({ code: null, signal: null, stderr: stderr.toString() }), KILL_WAIT_MS).unref();
    };
    const onAbort = (): void => kill();
    this.active.add(argv);

    const done = new Promise<ExitStatus>((resolve, reject) => {
      const onClientClose = (): void => settle?.({ code: null, signal: null, stderr: stderr.toString() });
      settle = (s) => {
        settle = undefined;
        this.client.removeListener("close", onClientClose);
        resolve(s);
      };
      this.client.once("close", onClientClose);
      void this.slot().then((release) => {
        const settleNow = settle;
        if (!settleNow) {
          release(); // the connection closed while this command waited: nothing to start
          return;
        }
        settle = (st) => {
          release();
          settleNow?.(st);
        };
        if (killed) {
          // Stopped while it waited for a channel: nothing was started.
          stdout.end();
          settle({ code: null, signal: null, stderr: "" });
          return;
        }
        this.exec(command, (err, ch) => {
          if (err || !ch) {
            release();
            this.client.removeListener("close", onClientClose);
            settle = undefined;
            const e = new BackupError(
              "SSH_CHANNEL",
              `${this.where}: cannot run ${argv.slice(0, 2).join(" ")}: ${err?.message ?? "no channel"}`,
              { cause: err },
            );
            stdout.destroy(e);
            reject(e);
            return;
          }
          channel = ch;
          if (killed || opts.signal?.aborted) {
            killed = false;
            kill();
          }
          let status: { code: number | null; signal: string | null } | undefined;
          ch.on("exit", (code: number | null, signal?: string) => (status = { code, signal: signal ?? null }));
          ch.stderr.on("data", (c: Buffer) => stderr.push(c));
          // A failing consumer destroys stdout; pipeline then ends the channel, which is drained
          // so that it can close, and the remote command loses its output and ends.
          pipeline(ch, stdout, (e) => {
            if (!e) return;
            ch.close();
            drain();
          });
          // The same as soon as stdout is gone: pipeline's callback may wait (Node 22 does) for the
          // channel to close, which it does only once drained.
          stdout.once("close", () => {
            if (stdout.writableFinished) return;
            ch.close();
            drain();
          });
          if (this.windowBytes) window = widenWindow(ch, this.windowBytes);
          stdin.pipe(ch);
          // A writer that gives up destroys stdin without ending it: the remote command still gets
          // EOF, so a remote `zfs receive` sees a cut stream and ends instead of waiting forever.
          stdin.once("close", () => ch.writableEnded || ch.end());
          ch.once("close", () =>
            settle?.({ code: status?.code ?? null, signal: status?.signal ?? null, stderr: stderr.toString() }),
          );
        });
      });
    }).finally(() => {
      this.active.delete(argv);
      opts.signal?.removeEventListener("abort", onAbort);
    });
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    return { argv, stdin, stdout, done, kill, window: () => window?.bytes };
  }

  running(): string[][] {
    return [...this.active];
  }
}
