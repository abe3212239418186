// syslog on real parts, without ZFS: `bzman serve` (zfs and zpool are stand-ins that fail, the
// one source is a closed port, the history file is unreadable for a warning) logs through real
// logger processes into a private rsyslogd on its own socket. The default path runs `logger` as
// illumos and FreeBSD have it — a stand-in first on PATH that accepts only -p and -t and then
// hands the lines to util-linux's logger for that socket — so bzman may use nothing else;
// `socket:` runs util-linux's logger -u directly. Records arrive at their priorities; a logger
// killed mid-run is reported and replaced; the lines of the clean shutdown arrive, also when the
// stop signals every process of the service (as systemd and svc.startd do); no logger outlives
// bzman.

import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDaemon, type Daemon } from "../server/sandbox/daemon.ts";
import { REPO, until } from "./helpers/sandbox.ts";

function missingParts(): string | false {
  const missing = ["/usr/sbin/rsyslogd", "/usr/bin/logger", "/usr/bin/ssh-keygen"].filter((p) => !existsSync(p));
  if (!missing.length) return false;
  const why = `the syslog test needs ${missing.join(", ")} (Debian rsyslog, bsdutils, openssh-client)`;
  if (process.env.CI) throw new Error(`${why}; CI must install them (.ci/run)`);
  process.stderr.write(`\n*** SKIPPING: ${why} ***\n\n`);
  return why;
}

const skip = missingParts();

describe("syslog through logger(1) into a private rsyslogd", { skip }, () => {
  let dir: string;
  let rsyslog: Daemon;
  let fakes: string; // zfs and zpool stand-ins
  let strict: string; // the portable logger stand-in
  const messages = (): string => (existsSync(join(dir, "messages")) ? readFileSync(join(dir, "messages"), "utf8") : "");

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "bzman-syslog-"));
    writeFileSync(
      join(dir, "rsyslog.conf"),
      [
        `global(workDirectory="${dir}")`,
        'module(load="imuxsock" SysSock.Use="off")',
        `input(type="imuxsock" Socket="${dir}/log.sock" CreatePath="on")`,
        'template(name="withprio" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")',
        `*.* action(type="omfile" file="${dir}/messages" template="withprio")`,
        "",
      ].join("\n"),
    );
    rsyslog = startDaemon(
      ["/usr/sbin/rsyslogd", "-n", "-f", join(dir, "rsyslog.conf"), "-i", join(dir, "rsyslogd.pid")],
      join(dir, "rsyslogd.log"),
    );
    await until("rsyslogd's socket", () => existsSync(join(dir, "log.sock")), 10_000).catch(() =>
      assert.fail(readFileSync(join(dir, "rsyslogd.log"), "utf8")),
    );

    fakes = join(dir, "fakes");
    strict = join(dir, "strict");
    mkdirSync(fakes);
    mkdirSync(strict);
    for (const cmd of ["zfs", "zpool"]) {
      writeFileSync(join(fakes, cmd), `#!/bin/sh\necho "${cmd}: not on this test host" >&2\nexit 1\n`);
      chmodSync(join(fakes, cmd), 0o755);
    }
    // logger as the illumos and FreeBSD manuals describe the common part: -p, -t, lines on stdin.
    writeFileSync(
      join(strict, "logger"),
      [
        "#!/bin/sh",
        'printf "%s %s\\n" "$$" "$*" >> "$BZMAN_TEST_DIR/logger-argv"',
        "pri=; tag=",
        "while [ $# -gt 0 ]; do",
        "  case $1 in",
        "    -p) [ $# -ge 2 ] || exit 64; pri=$2; shift 2 ;;",
        "    -t) [ $# -ge 2 ] || exit 64; tag=$2; shift 2 ;;",
        '    *) echo "logger: illegal option -- $1" >&2; exit 64 ;;',
        "  esac",
        "done",
        '[ -n "$pri" ] && [ -n "$tag" ] || { echo "logger: want -p and -t" >&2; exit 64; }',
        'exec /usr/bin/logger -u "$BZMAN_TEST_DIR/log.sock" -p "$pri" -t "$tag"',
        "",
      ].join("\n"),
    );
    chmodSync(join(strict, "logger"), 0o755);
    const key = spawnSync("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "id_ed25519")]);
    assert.equal(key.status, 0, String(key.stderr));
  });
  after(async () => {
    await rsyslog?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A config whose one source is a port nothing listens on, passes every 2 s, no HTTP. */
  function config(name: string, syslog: unknown): string {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      JSON.stringify({
        state: join(dir, `${name}-state.json`),
        http: { listen: "" },
        log: { syslog },
        defaults: { schedule: "*/2 * * * * *", retries: 0 },
        sources: [
          {
            name: "src1",
            host: "127.0.0.1",
            port: 9,
            user: "bzman",
            identity: join(dir, "id_ed25519"),
            target: "backup/src1",
            datasets: [{ name: "tank/a" }],
          },
        ],
      }),
    );
    return file;
  }

  // A failed assertion must not leave a daemon (or its loggers, in its group) beside the next test.
  // Only one not yet reaped is signalled: its pid, so its group, cannot be another's yet.
  const started: ChildProcess[] = [];
  afterEach(() => {
    for (const child of started.splice(0))
      try {
        if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* ended meanwhile */
      }
  });

  /** bzman serve in a process group of its own (its loggers join it), as a service manager runs it. */
  function serve(
    file: string,
    path: string,
  ): {
    stderr: () => string;
    exited: Promise<number | null>;
    kill: (s: NodeJS.Signals) => void;
    killGroup: (s: NodeJS.Signals) => void;
  } {
    const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "--config", file, "serve"], {
      cwd: REPO,
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
      env: { ...process.env, PATH: `${path}:${process.env.PATH}`, BZMAN_TEST_DIR: dir },
    });
    started.push(child);
    let err = "";
    child.stderr!.on("data", (c) => (err += c));
    return {
      stderr: () => err,
      exited: new Promise((r) => child.once("close", (code) => r(code))),
      kill: (s) => child.kill(s),
      killGroup: (s) => process.kill(-child.pid!, s),
    };
  }

  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  test("the default path: only -p and -t; info, warning and err arrive at their priorities; a killed logger is replaced and the shutdown lines arrive", async () => {
    const file = config("portable", true);
    writeFileSync(join(dir, "portable-state.json"), "not a history\n"); // moved aside, with a warning
    const d = serve(file, `${strict}:${fakes}`);
    const line = (re: RegExp): boolean => re.test(messages());
    try {
      await until(
        "serving, the state warning and a failed pass in syslog",
        () =>
          line(/^daemon\.info bzman: serving/m) &&
          line(/^daemon\.warning bzman: the state file \S+ was unreadable/m) &&
          line(/^daemon\.err bzman: pass FAILED source=src1/m),
        30_000,
      );
    } catch (err) {
      d.kill("SIGKILL");
      assert.fail(`${(err as Error).message}\nsyslog:\n${messages()}\nstderr:\n${d.stderr()}`);
    }
    const argv = readFileSync(join(dir, "logger-argv"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" "));
    for (const [, ...args] of argv) assert.match(args.join(" "), /^-p daemon\.(debug|info|warning|err|crit) -t bzman$/);
    assert.deepEqual(
      new Set(argv.map((a) => a[2])),
      new Set(["daemon.info", "daemon.warning", "daemon.err"]),
      "one logger per severity in use",
    );
    assert.equal(argv.length, 3, "each started once");

    const info = Number(argv.find((a) => a[2] === "daemon.info")![0]);
    process.kill(info, "SIGKILL");
    await until(
      "bzman to see its logger die",
      () =>
        /syslog: `logger -p daemon\.info -t bzman` ended by SIGKILL; started again with the next line/.test(d.stderr()),
      10_000,
    ).catch(() => assert.fail(d.stderr()));
    d.kill("SIGTERM");
    assert.equal(await d.exited, 0, d.stderr());
    await until("the shutdown lines in syslog", () => line(/^daemon\.info bzman: stopped cleanly/m), 10_000).catch(() =>
      assert.fail(messages()),
    );
    assert.match(messages(), /^daemon\.info bzman: stopping: no new passes/m);
    const pids = readFileSync(join(dir, "logger-argv"), "utf8")
      .trim()
      .split("\n")
      .map((l) => Number(l.split(" ")[0]));
    assert.equal(pids.length, 4, "the killed logger was replaced once");
    assert.deepEqual(pids.filter(alive), [], "no logger outlives bzman");
  });

  test("socket: util-linux's logger -u SOCKET, with its own tag", async () => {
    const d = serve(config("socket", { socket: join(dir, "log.sock"), tag: "bzman-sock" }), fakes);
    try {
      await until(
        "serving and a failed pass in syslog",
        () =>
          /^daemon\.info bzman-sock: serving/m.test(messages()) &&
          /^daemon\.err bzman-sock: .*source=src1/m.test(messages()),
        30_000,
      );
    } finally {
      d.kill("SIGTERM");
    }
    assert.equal(await d.exited, 0, d.stderr());
    await until("stopped cleanly", () => /^daemon\.info bzman-sock: stopped cleanly/m.test(messages()), 10_000);
    assert.doesNotMatch(d.stderr(), /syslog:/, "no logger trouble reported");
  });

  test("a stop that signals every process of the service (systemd, svc.startd): the shutdown lines arrive, no logger trouble is reported", async () => {
    const d = serve(config("group", { tag: "bzman-group" }), `${strict}:${fakes}`);
    await until(
      "serving",
      () =>
        /^daemon\.info bzman-group: serving/m.test(messages()) &&
        /^daemon\.err bzman-group: pass FAILED/m.test(messages()),
      30_000,
    ).catch((err: Error) => {
      d.kill("SIGKILL");
      assert.fail(`${err.message}\n${d.stderr()}`);
    });
    d.killGroup("SIGTERM");
    assert.equal(await d.exited, 0, d.stderr());
    await until(
      "the shutdown lines in syslog",
      () => /^daemon\.info bzman-group: stopped cleanly/m.test(messages()),
      10_000,
    ).catch(() =>
      assert.fail(
        `${messages()
          .split("\n")
          .filter((l) => l.includes("bzman-group"))
          .slice(-6)
          .join("\n")}\nstderr:\n${d.stderr()}`,
      ),
    );
    assert.match(messages(), /^daemon\.info bzman-group: stopping: no new passes/m);
    assert.doesNotMatch(d.stderr(), /syslog:/, "the loggers' SIGTERM is part of the stop");
  });
});
