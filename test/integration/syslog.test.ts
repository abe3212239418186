// syslog on real parts: a private rsyslogd on its own socket receives the daemon's lines, with
// the source, dataset and run id, at the right priorities.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { startDaemon, type Daemon } from "../../server/sandbox/daemon.ts";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { sandboxSkip, serveDaemon, sleep, until } from "../helpers/sandbox.ts";

const skip =
  sandboxSkip() ||
  (existsSync("/usr/sbin/rsyslogd")
    ? false
    : process.env.CI
      ? (() => {
          throw new Error("rsyslog is missing; CI must install it");
        })()
      : "rsyslogd not installed");

describe("syslog", { skip }, () => {
  let rig: Rig;
  let rsyslog: Daemon;
  let dir: string;

  before(async () => {
    rig = await startRig({ name: "slg" });
    await must(["zfs", "create", `${rig.sourcePool}/a`]);
    dir = join(rig.dir, "syslog");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "rsyslog.conf"),
      [
        `global(workDirectory="${dir}")`,
        'module(load="imuxsock" SysSock.Use="off")',
        `input(type="imuxsock" Socket="${dir}/log.sock" CreatePath="on")`,
        `template(name="withprio" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")`,
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
  });
  after(async () => {
    await rsyslog?.stop();
    if (rig) await rig.cleanup();
  });

  test("bzman serve logs to syslog with source, dataset and run id", async () => {
    const config = rig.writeConfig({
      schedule: "*/2 * * * * *",
      datasets: [{ name: `${rig.sourcePool}/a` }, { name: `${rig.sourcePool}/nope` }],
    });
    writeFileSync(config, `${readFileSync(config, "utf8")}log:\n  syslog:\n    socket: ${dir}/log.sock\n`);
    const d = serveDaemon(config);
    const messages = (): string =>
      existsSync(join(dir, "messages")) ? readFileSync(join(dir, "messages"), "utf8") : "";
    try {
      await until("a failed pass in syslog", () => /pass FAILED/.test(messages()), 30_000);
    } finally {
      d.child.kill("SIGTERM");
    }
    await d.exited;
    await sleep(500);
    const text = messages();
    assert.match(text, /^daemon\.info bzman(\[\d+\])?: serving/m);
    assert.match(
      text,
      new RegExp(
        `^daemon\\.info bzman(\\[\\d+\\])?: OK .* source=src1 dataset=${rig.sourcePool}/a runId=\\S+ result=ok`,
        "m",
      ),
    );
    assert.match(
      text,
      new RegExp(
        `^daemon\\.err bzman(\\[\\d+\\])?: CONFLICT .* source=src1 dataset=${rig.sourcePool}/nope runId=\\S+ result=conflict`,
        "m",
      ),
    );
    assert.match(text, /^daemon\.err bzman(\[\d+\])?: pass FAILED source=src1 runId=\S+/m);
  });
});
