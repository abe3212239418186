// syslog through the platform's logger(1): one long-lived `logger -p FACILITY.LEVEL -t TAG` per
// severity in use, fed one record per line on stdin — the only use of logger that Linux, FreeBSD
// and illumos share. Starts its processes only through the injected runner; never throws into
// the logging path: a logger that dies is reported, and started again for the next line; at a
// stop (service managers signal the loggers with bzman) the shutdown lines go to new ones.

import type { SyslogSink } from "./log.ts";
import type { ExitStatus, RunningCommand } from "./zfs/runner.ts";

/** syslog's severity names, index = severity; logger -p takes these on every platform. */
export const SEVERITY_NAMES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"] as const;

/** A logger that lived shorter than this died "at once": a second such death in a row waits before a restart. */
export const QUICK_DEATH_MS = 5000;
/** The longest wait before a logger that keeps dying is started again. */
export const MAX_RESTART_DELAY_MS = 60_000;
/** Bytes waiting on a logger's stdin beyond which lines are dropped (a stuck syslog never grows bzman). */
export const MAX_PENDING_BYTES = 1024 * 1024;
/** How long close() waits for a logger to exit after its stdin is closed before it is killed. */
export const CLOSE_GRACE_MS = 5000;

/** What LoggerSyslog needs from a runner (LocalRunner). */
export interface ProcessStarter {
  spawn(argv: string[]): RunningCommand;
}

/** Options of {@link LoggerSyslog}. */
export interface LoggerSyslogOptions {
  runner: ProcessStarter;
  /** The syslog tag (logger -t). */
  tag: string;
  /** The facility (default daemon). */
  facility?: string;
  /** Arguments put before -p, e.g. ["-u", socket] for util-linux's logger (Linux only). */
  extraArgs?: string[];
  /** The logger program (default "logger", found on PATH). */
  program?: string;
  /** Told, one line each, about a logger that could not start, died or failed, and about lines dropped. */
  report: (line: string) => void;
  /** The clock, in ms. */
  now?: () => number;
  /** Overrides CLOSE_GRACE_MS. */
  closeGraceMs?: number;
  /**
   * Aborted when bzman is stopping. systemd and svc.startd signal every process of the service
   * at stop, the loggers too, and bzman may not yet have seen them die: then every logger is
   * retired (its input closed) and the shutdown lines go to new ones. A logger ended by
   * SIGTERM, SIGINT or SIGHUP is reported only if bzman was not stopping when its next line
   * came (or at close).
   */
  stopping?: AbortSignal;
}

interface Child {
  cmd: RunningCommand;
  startedAt: number;
  exited: boolean;
  /** close() killed it: it had not exited after its stdin was closed. */
  killed?: boolean;
  /** Its input was closed at the stop; the next line of its severity goes to a new logger. */
  retired?: boolean;
}

interface Channel {
  severity: number;
  child?: Child;
  /** Deaths in a row of loggers that lived shorter than QUICK_DEATH_MS. */
  quickDeaths: number;
  /** No new logger before this time (ms). */
  notBefore: number;
  /** Lines lost since the last report. */
  dropped: number;
  /** The report of a logger ended by a stop signal, held until it is known whether bzman is stopping. */
  held?: string;
}

/** The signals a service manager stops a service with. */
const STOP_SIGNALS = new Set(["SIGTERM", "SIGINT", "SIGHUP"]);

/** How a command ended, in words. */
function ended(s: ExitStatus): string {
  const tail = s.stderr.trim().split("\n").slice(-2).join(" / ");
  return `${s.signal ? `ended by ${s.signal}` : `exited with status ${String(s.code)}`}${tail ? `: ${tail}` : ""}`;
}

/**
 * A {@link SyslogSink} over logger(1) processes, one per severity, each started with the first
 * line of its severity. close() ends them and awaits every exit status.
 */
export class LoggerSyslog implements SyslogSink {
  private readonly channels = new Map<number, Channel>();
  private readonly exits = new Set<Promise<void>>();
  /** Every logger not yet exited, retired ones included. */
  private readonly live = new Set<Child>();
  private closing = false;
  private readonly now: () => number;

  constructor(private readonly opts: LoggerSyslogOptions) {
    this.now = opts.now ?? Date.now;
    opts.stopping?.addEventListener("abort", () => this.retire(), { once: true });
  }

  /** The argv of the logger for `severity`. */
  argv(severity: number): string[] {
    const name = SEVERITY_NAMES[severity] ?? "info";
    return [
      this.opts.program ?? "logger",
      ...(this.opts.extraArgs ?? []),
      "-p",
      `${this.opts.facility ?? "daemon"}.${name}`,
      "-t",
      this.opts.tag,
    ];
  }

  write(severity: number, line: string): void {
    if (this.closing) return;
    const sev = Math.min(7, Math.max(0, Math.trunc(severity)));
    let ch = this.channels.get(sev);
    if (!ch) {
      ch = { severity: sev, quickDeaths: 0, notBefore: 0, dropped: 0 };
      this.channels.set(sev, ch);
    }
    if (!ch.child || ch.child.exited) {
      if (this.now() < ch.notBefore || !this.start(ch)) {
        ch.dropped++;
        return;
      }
    }
    const stdin = ch.child!.cmd.stdin;
    if (stdin.writableLength > MAX_PENDING_BYTES) {
      ch.dropped++;
      return;
    }
    stdin.write(`${line.replace(/[\r\n]+/g, " ")}\n`);
  }

  /** Ends every logger (stdin closed, then killed after CLOSE_GRACE_MS) and awaits their exits; reports lines dropped. */
  async close(): Promise<void> {
    this.closing = true;
    for (const c of this.live) {
      c.cmd.stdin.end();
      const timer = setTimeout(() => {
        c.killed = true;
        c.cmd.kill();
      }, this.opts.closeGraceMs ?? CLOSE_GRACE_MS);
      void c.cmd.done.finally(() => clearTimeout(timer)).catch(() => undefined);
    }
    while (this.exits.size) await Promise.all([...this.exits]);
    for (const ch of this.channels.values()) {
      this.reportHeld(ch);
      this.reportDropped(ch);
    }
  }

  /** At the stop: every running logger gets its input closed (it may already be dead); new ones take the next lines. */
  private retire(): void {
    if (this.closing) return;
    for (const ch of this.channels.values()) {
      const c = ch.child;
      if (!c || c.exited) continue;
      c.retired = true;
      c.cmd.stdin.end();
      ch.child = undefined;
    }
  }

  /** Starts the logger of `ch`; false when it cannot be started. */
  private start(ch: Channel): boolean {
    this.reportHeld(ch);
    this.reportDropped(ch);
    const argv = this.argv(ch.severity);
    let cmd: RunningCommand;
    try {
      cmd = this.opts.runner.spawn(argv);
    } catch (err) {
      this.died(ch, this.now(), `cannot start \`${argv.join(" ")}\`: ${(err as Error).message}`);
      return false;
    }
    const child: Child = { cmd, startedAt: this.now(), exited: false };
    ch.child = child;
    this.live.add(child);
    const exit = cmd.done.then(
      (status) => this.exited(ch, child, status),
      (err: Error) => this.exited(ch, child, undefined, err),
    );
    this.exits.add(exit);
    void exit.finally(() => this.exits.delete(exit));
    return true;
  }

  private exited(ch: Channel, child: Child, status?: ExitStatus, err?: Error): void {
    child.exited = true;
    this.live.delete(child);
    const what = `\`${child.cmd.argv.join(" ")}\``;
    if (this.closing || child.retired) {
      if (err) this.opts.report(`syslog: ${what}: ${err.message}`);
      else if (child.killed)
        this.opts.report(
          `syslog: ${what} had not exited ${this.opts.closeGraceMs ?? CLOSE_GRACE_MS} ms after its input ended; killed`,
        );
      else if (status && STOP_SIGNALS.has(status.signal ?? "") && this.opts.stopping?.aborted) return;
      else if (status && (status.code !== 0 || status.signal)) this.opts.report(`syslog: ${what} ${ended(status)}`);
      return;
    }
    this.died(
      ch,
      child.startedAt,
      `${what} ${err ? err.message : ended(status!)}`,
      STOP_SIGNALS.has(status?.signal ?? ""),
    );
  }

  /** A logger of `ch` started at `startedAt` is gone: report it and decide when the next may start. */
  private died(ch: Channel, startedAt: number, why: string, stopSignal = false): void {
    const now = this.now();
    ch.quickDeaths = now - startedAt < QUICK_DEATH_MS ? ch.quickDeaths + 1 : 0;
    const delay = ch.quickDeaths < 2 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** ch.quickDeaths);
    ch.notBefore = now + delay;
    const line = `syslog: ${why}; ${delay ? `started again in ${Math.round(delay / 1000)} s, lines until then are dropped` : "started again with the next line"}`;
    if (stopSignal && this.opts.stopping && delay === 0) ch.held = line;
    else this.opts.report(line);
  }

  private reportHeld(ch: Channel): void {
    if (ch.held && !this.opts.stopping?.aborted) this.opts.report(ch.held);
    ch.held = undefined;
  }

  private reportDropped(ch: Channel): void {
    if (!ch.dropped) return;
    this.opts.report(
      `syslog: ${ch.dropped} line(s) for ${this.opts.facility ?? "daemon"}.${SEVERITY_NAMES[ch.severity]} were dropped while its logger was down`,
    );
    ch.dropped = 0;
  }
}
