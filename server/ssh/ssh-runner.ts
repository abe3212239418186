// SshRunner: CommandRunner over ssh2 `exec` on a source's connections: the first, and more opened
// when every channel of the open ones is taken. The argv is joined with spaces and every argument
// must be made of characters no shell or guard interprets, so nothing is quoted.

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

/** How long after a connection failed to open another is tried again. */
const REOPEN_AFTER_MS = 60_000;

/** One connection and its channels in use. */
interface Lane {
  client: ssh2.Client;
  open: number;
  closed: boolean;
}

/** A channel slot: the connection to open it on, and its release. */
interface Slot {
  client: ssh2.Client;
  /** Whether that connection is gone (then nothing can start on it). */
  closed: () => boolean;
  release: () => void;
}

/** More connections to the same source, for commands beyond the first connection's channels. */
export interface MoreConnections {
  /** The most connections in all, the first included. */
  max: number;
  /** Opens one more (host key pinned as the first's); rejects when it cannot or is no longer wanted. */
  open(): Promise<ssh2.Client>;
  /** Told once when opening one failed: commands then wait for a channel of the open ones. */
  failed?(err: unknown): void;
}

/** Runs commands on a source over an established ssh2 connection, and more when they are wanted. */
export class SshRunner implements CommandRunner {
  private readonly active = new Set<string[]>();
  private readonly lanes: Lane[];
  private readonly waiting: Array<(s: Slot) => void> = [];
  private opening = 0;
  private failedAt = -Infinity;

  /**
   * @param client the first connection; the runner is over when it closes
   * @param windowBytes the largest receive window a channel may grow to (see {@link widenWindow});
   *   absent or at most 2 MiB: ssh2's own.
   * @param more how to open more connections when every channel of the open ones is taken;
   *   absent: the first connection only, {@link MAX_CHANNELS} commands at once.
   */
  constructor(
    client: ssh2.Client,
    readonly where: string,
    private readonly windowBytes?: number,
    private readonly more?: MoreConnections,
  ) {
    this.lanes = [this.lane(client)];
  }

  /** How many connections are open now (for tests and status). */
  get connections(): number {
    return this.lanes.filter((l) => !l.closed).length;
  }

  private lane(client: ssh2.Client): Lane {
    const lane: Lane = { client, open: 0, closed: false };
    client.once("close", () => {
      lane.closed = true;
      if (this.lanes[0] === lane) {
        // The runner is over with its first connection: the others are ended too, so that
        // their commands end as the first one's did.
        for (const other of this.lanes.slice(1)) other.client.end();
      } else this.lanes.splice(this.lanes.indexOf(lane), 1);
      this.pump();
    });
    return lane;
  }

  /** Gives waiting commands the free channels of open connections, oldest first. */
  private pump(): void {
    // Once the first connection is gone the runner is over: waiting commands end as on a
    // closed connection (code null), none starts on another.
    if (this.lanes[0]!.closed) {
      for (const w of this.waiting.splice(0)) w(this.take(this.lanes[0]!));
      return;
    }
    while (this.waiting.length > 0) {
      const lane = this.lanes.find((l) => !l.closed && l.open < MAX_CHANNELS);
      if (!lane) break;
      this.waiting.shift()!(this.take(lane));
    }
    if (this.waiting.length > this.opening) this.openMore();
  }

  private take(lane: Lane): Slot {
    lane.open++;
    let released = false;
    return {
      client: lane.client,
      closed: () => lane.closed,
      release: () => {
        if (released) return;
        released = true;
        lane.open--;
        this.pump();
      },
    };
  }

  /** Opens one more connection when allowed: not past `more.max`, not soon after one failed. */
  private openMore(): void {
    const more = this.more;
    const live = this.lanes.filter((l) => !l.closed).length;
    if (!more || live + this.opening >= more.max || Date.now() - this.failedAt < REOPEN_AFTER_MS) return;
    if (this.lanes[0]!.closed) return;
    this.opening++;
    more.open().then(
      (client) => {
        this.opening--;
        if (this.lanes[0]!.closed) client.end();
        else this.lanes.push(this.lane(client));
        this.pump();
      },
      (err: unknown) => {
        this.opening--;
        // Several opened at once fail together: the failure is told once a minute at most.
        if (Date.now() - this.failedAt >= REOPEN_AFTER_MS) more.failed?.(err);
        this.failedAt = Date.now();
        this.pump();
      },
    );
  }

  /** Waits for a free channel on one of the connections; resolves with it and its release. */
  private slot(): Promise<Slot> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.pump();
    });
  }

  /** `client.exec`, retried with a short backoff when the server refuses to open the channel. */
  private exec(
    client: ssh2.Client,
    command: string,
    cb: (err: Error | undefined, ch?: ssh2.ClientChannel) => void,
    attempt = 1,
  ): void {
    const answered = (err: Error | undefined, ch?: ssh2.ClientChannel): void => {
      if (
        err &&
        attempt < OPEN_ATTEMPTS &&
        /open failure|administratively prohibited|resource shortage/i.test(err.message)
      ) {
        setTimeout(() => this.exec(client, command, cb, attempt + 1), 250 * 2 ** (attempt - 1)).unref();
        return;
      }
      cb(err ?? undefined, ch);
    };
    try {
      client.exec(command, answered);
    } catch (err) {
      // ssh2 throws ("Not connected") on a connection that is ending or gone.
      cb(err instanceof Error ? err : new BackupError("SSH_CHANNEL", String(err)));
    }
  }

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
      let lane: ssh2.Client | undefined;
      settle = (s) => {
        settle = undefined;
        lane?.removeListener("close", onClientClose);
        resolve(s);
      };
      void this.slot().then(({ client, closed, release }) => {
        const settleNow = settle;
        if (!settleNow) {
          release();
          return;
        }
        settle = (st) => {
          release();
          settleNow?.(st);
        };
        if (closed()) {
          // The connection closed while this command waited: nothing to start.
          stdout.end();
          onClientClose();
          return;
        }
        lane = client;
        client.once("close", onClientClose);
        if (killed) {
          // Stopped while it waited for a channel: nothing was started.
          stdout.end();
          settle({ code: null, signal: null, stderr: "" });
          return;
        }
        this.exec(client, command, (err, ch) => {
          if (err || !ch) {
            release();
            lane?.removeListener("close", onClientClose);
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
