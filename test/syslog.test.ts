// syslog.ts and log.ts's syslog records against scripted logger processes: the portable argv
// (only -p and -t), one logger per severity started with its first line, each pino level at its
// severity, a logger that dies reported and started again (with a wait after quick deaths and
// the lines lost counted), a stuck logger never growing memory, close() awaiting every exit.
// test/syslog-rsyslogd.test.ts proves the same against real logger and rsyslogd.

import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough, Writable } from "node:stream";
import { createLogger, syslogRecord } from "../server/log.ts";
import { LoggerSyslog, MAX_PENDING_BYTES } from "../server/syslog.ts";
import type { ExitStatus, RunningCommand } from "../server/zfs/runner.ts";

/** A scripted logger process: the lines it was fed, and an exit the test decides. */
interface FakeLogger {
  argv: string[];
  lines: string[];
  exit(status: Partial<ExitStatus>): void;
  fail(err: Error): void;
  stdinEnded: boolean;
  killed: boolean;
}

class FakeStarter {
  readonly started: FakeLogger[] = [];
  /** When set, each new process's stdin accepts nothing (a stuck syslog). */
  stuck = false;
  /** When set, a process exits with status 0 once its stdin ends (as logger does). */
  exitOnEof = true;

  spawn(argv: string[]): RunningCommand {
    let resolve!: (s: ExitStatus) => void;
    let reject!: (e: Error) => void;
    const done = new Promise<ExitStatus>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    let text = "";
    const p: FakeLogger = {
      argv,
      lines: [],
      stdinEnded: false,
      killed: false,
      exit: (s) => resolve({ code: 0, signal: null, stderr: "", ...s }),
      fail: (e) => reject(e),
    };
    const stdin = this.stuck
      ? new Writable({
          highWaterMark: 16,
          write() {
            /* never calls back: a logger that reads nothing */
          },
        })
      : new PassThrough();
    if (stdin instanceof PassThrough) {
      stdin.on("data", (c: Buffer) => {
        text += c.toString();
        const parts = text.split("\n");
        text = parts.pop()!;
        p.lines.push(...parts);
      });
      stdin.on("end", () => {
        p.stdinEnded = true;
        if (this.exitOnEof) p.exit({ code: 0 });
      });
    }
    this.started.push(p);
    return {
      argv,
      stdin,
      stdout: new PassThrough(),
      done,
      kill: () => {
        p.killed = true;
        p.exit({ code: null, signal: "SIGTERM" });
      },
    };
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function rig(opts: { extraArgs?: string[]; stopping?: AbortSignal } = {}): {
  starter: FakeStarter;
  sink: LoggerSyslog;
  reports: string[];
  clock: { t: number };
} {
  const starter = new FakeStarter();
  const reports: string[] = [];
  const clock = { t: 1_000_000 };
  const sink = new LoggerSyslog({
    runner: starter,
    tag: "bzman",
    report: (l) => reports.push(l),
    now: () => clock.t,
    closeGraceMs: 50,
    ...opts,
  });
  return { starter, sink, reports, clock };
}

test("argv: logger -p daemon.LEVEL -t TAG, nothing else (what Linux, FreeBSD and illumos share); extra args only when configured", () => {
  const { sink } = rig();
  const want: Array<[number, string]> = [
    [2, "crit"],
    [3, "err"],
    [4, "warning"],
    [6, "info"],
    [7, "debug"],
  ];
  for (const [sev, name] of want) assert.deepEqual(sink.argv(sev), ["logger", "-p", `daemon.${name}`, "-t", "bzman"]);
  assert.deepEqual(rig({ extraArgs: ["-u", "/run/x.sock"] }).sink.argv(6), [
    "logger",
    "-u",
    "/run/x.sock",
    "-p",
    "daemon.info",
    "-t",
    "bzman",
  ]);
});

test("pino records go to the logger of their severity, with source, dataset, run id, result and code", async () => {
  const { starter, sink } = rig();
  const out = new PassThrough();
  out.resume();
  const log = createLogger({ level: "debug", stream: out, syslog: sink });
  assert.equal(starter.started.length, 0, "no logger before the first line");
  log.info("serving");
  log
    .child({ source: "web1", dataset: "tank/a", runId: "r1" })
    .error({ result: "failed", code: "ZFS_FAILED" }, "FAILED tank/a\nsecond line");
  log.warn("pool check: no pools");
  log.debug("detail");
  log.fatal("internal");
  log.info("again");
  await tick();
  const by = new Map(starter.started.map((p) => [p.argv[2], p.lines]));
  assert.equal(starter.started.length, 5, "one logger per severity in use");
  assert.deepEqual(by.get("daemon.info"), ["serving", "again"]);
  assert.deepEqual(by.get("daemon.err"), [
    "FAILED tank/a second line source=web1 dataset=tank/a runId=r1 result=failed code=ZFS_FAILED",
  ]);
  assert.deepEqual(by.get("daemon.warning"), ["pool check: no pools"]);
  assert.deepEqual(by.get("daemon.debug"), ["detail"]);
  assert.deepEqual(by.get("daemon.crit"), ["internal"]);
  await sink.close();
  assert.ok(
    starter.started.every((p) => p.stdinEnded),
    "close() ends every logger's stdin",
  );
  assert.deepEqual(syslogRecord("not json\r\n"), { severity: 6, line: "not json" });
});

test("a logger that dies is reported and started again with the next line; one that keeps dying at once waits, and the lost lines are counted", async () => {
  const { starter, sink, reports, clock } = rig();
  sink.write(6, "one");
  clock.t += 60_000;
  starter.started[0]!.exit({ code: null, signal: "SIGTERM" });
  await tick();
  assert.match(
    reports[0]!,
    /^syslog: `logger -p daemon.info -t bzman` ended by SIGTERM; started again with the next line$/,
  );
  sink.write(6, "two");
  assert.equal(starter.started.length, 2, "a logger that had lived long is started again at once");
  await tick();
  assert.deepEqual(starter.started[1]!.lines, ["two"]);

  // Dies at once, twice in a row: the next start waits, and what comes meanwhile is dropped.
  starter.started[1]!.exit({ code: 1, stderr: "logger: socket /dev/log: No such file or directory\n" });
  await tick();
  assert.match(
    reports[1]!,
    /exited with status 1: logger: socket \/dev\/log: No such file or directory; started again with the next line/,
  );
  sink.write(6, "three");
  assert.equal(starter.started.length, 3);
  starter.started[2]!.exit({ code: 1 });
  await tick();
  assert.match(reports[2]!, /started again in 4 s, lines until then are dropped/);
  sink.write(6, "four");
  sink.write(6, "five");
  assert.equal(starter.started.length, 3, "no start during the wait");
  clock.t += 4000;
  sink.write(6, "six");
  assert.equal(starter.started.length, 4);
  assert.match(reports[3]!, /^syslog: 2 line\(s\) for daemon.info were dropped while its logger was down$/);
  await tick();
  assert.deepEqual(starter.started[3]!.lines, ["six"]);
  await sink.close();
});

test("a logger that cannot be run at all is reported, and retried later, not for every line", async () => {
  const { starter, sink, reports, clock } = rig();
  sink.write(3, "a");
  starter.started[0]!.fail(new Error("cannot run logger: not found in PATH"));
  await tick();
  sink.write(3, "b");
  starter.started[1]!.fail(new Error("cannot run logger: not found in PATH"));
  await tick();
  for (let i = 0; i < 100; i++) sink.write(3, "c");
  assert.equal(starter.started.length, 2);
  assert.equal(reports.length, 2);
  assert.match(reports[1]!, /not found in PATH; started again in 4 s/);
  clock.t += 4000;
  sink.write(3, "d");
  assert.equal(starter.started.length, 3);
  assert.match(reports[2]!, /^syslog: 100 line\(s\) for daemon.err were dropped/);
  starter.started[2]!.exit({ code: 0 });
  await sink.close();
});

test("a logger that reads nothing never makes bzman hold more than about 1 MiB for it; close() kills it", async () => {
  const { starter, sink, reports } = rig();
  starter.stuck = true;
  const line = "x".repeat(999);
  for (let i = 0; i < 3000; i++) sink.write(6, line);
  await sink.close();
  assert.ok(starter.started[0]!.killed, "a logger that does not exit after its stdin is closed is killed");
  assert.ok(
    reports.includes("syslog: `logger -p daemon.info -t bzman` had not exited 50 ms after its input ended; killed"),
    reports.join("\n"),
  );
  const dropped = Number(/^syslog: (\d+) line\(s\) for daemon.info were dropped/m.exec(reports.join("\n"))?.[1]);
  const kept = 3000 - dropped;
  assert.ok(kept * 1000 > MAX_PENDING_BYTES && (kept - 1) * 1000 <= MAX_PENDING_BYTES + 1000, `${kept} lines held`);
});

test("close() awaits every logger and reports one that failed; nothing is started after it", async () => {
  const { starter, sink, reports } = rig();
  starter.exitOnEof = false;
  sink.write(6, "a");
  sink.write(4, "b");
  let closed = false;
  const closing = sink.close().then(() => (closed = true));
  await tick();
  assert.equal(closed, false, "close() waits for the loggers to exit");
  starter.started[0]!.exit({ code: 0 });
  starter.started[1]!.exit({ code: 2, stderr: "logger: bad\n" });
  await closing;
  assert.deepEqual(reports, ["syslog: `logger -p daemon.warning -t bzman` exited with status 2: logger: bad"]);
  sink.write(6, "late");
  assert.equal(starter.started.length, 2);
});

test("at a stop, loggers the service manager signalled with bzman are replaced without a report; the same signal while running is reported", async () => {
  const stop = new AbortController();
  const { starter, sink, reports, clock } = rig({ stopping: stop.signal });
  sink.write(6, "serving");
  sink.write(3, "failed");
  clock.t += 60_000;
  starter.started[0]!.exit({ code: null, signal: "SIGTERM" }); // systemd's or svc.startd's SIGTERM to every process
  await tick();
  stop.abort(); // bzman's own SIGTERM handler
  await tick();
  assert.ok(starter.started[1]!.stdinEnded, "at the stop a logger that may be dead unnoticed is retired");
  sink.write(3, "late error");
  assert.equal(starter.started.length, 3, "its next line goes to a new one");
  sink.write(6, "stopping");
  assert.equal(starter.started.length, 4, "replaced for the shutdown lines");
  await tick();
  assert.deepEqual(starter.started[2]!.lines, ["late error"]);
  assert.deepEqual(starter.started[3]!.lines, ["stopping"]);
  starter.exitOnEof = false;
  const closing = sink.close();
  starter.started[2]!.exit({ code: null, signal: "SIGTERM" }); // signalled while closing
  starter.started[3]!.exit({ code: 0 });
  await closing;
  assert.deepEqual(reports, [], "nothing to report about a stop");

  const running = rig({ stopping: new AbortController().signal });
  running.sink.write(6, "a");
  running.clock.t += 60_000;
  running.starter.started[0]!.exit({ code: null, signal: "SIGTERM" }); // someone else's kill
  await tick();
  running.sink.write(6, "b");
  assert.deepEqual(running.reports, [
    "syslog: `logger -p daemon.info -t bzman` ended by SIGTERM; started again with the next line",
  ]);
  await running.sink.close();
});

test("a logger retired at the stop that does not exit is killed at close, so close() always ends", async () => {
  const stop = new AbortController();
  const { starter, sink, reports } = rig({ stopping: stop.signal });
  starter.exitOnEof = false;
  sink.write(6, "serving");
  stop.abort();
  sink.write(6, "stopping");
  starter.started[1]!.exit({ code: 0 });
  await sink.close();
  assert.ok(starter.started[0]!.killed);
  assert.deepEqual(reports, [
    "syslog: `logger -p daemon.info -t bzman` had not exited 50 ms after its input ended; killed",
  ]);
});
