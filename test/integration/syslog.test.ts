// syslog on real parts: a private rsyslogd on its own socket receives the daemon's lines, with
// the source, dataset and run id, at the right priorities.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { startDaemon, type Daemon } from "../../server/sandbox/daemon.ts";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { REPO, sandboxSkip } from "../helpers/sandbox.ts";

const skip = sandboxSkip() || (existsSync("/usr/sbin/rsyslogd") ? false : process.env.CI ? (() => { throw new Error("rsyslog is missing; CI must install it"); })() : "rsyslogd not installed");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("syslog", { skip }, () => {
  let rig: Rig;
  let rsyslog: Daemon;
  let dir: string;

  before(async () => {
    rig = await startRig({ name: "slg" });
    await must(["zfs", "create", `${rig.sourcePool}/a`]);
    dir = join(rig.dir, "syslog");
    mkdirSync(dir);
    writeFileSync(join(dir, "rsyslog.conf"), [
      `global(workDirectory="${dir}")`,
      'module(load="imuxsock" SysSock.Use="off")',
      `input(type="imuxsock" Socket="${dir}/log.sock" CreatePath="on")`,
      `template(name="withprio" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")`,
      `*.* action(type="omfile" file="${dir}/messages" template="withprio")`, "",
    ].join("\n"));
    rsyslog = startDaemon(["/usr/sbin/rsyslogd", "-n", "-f", join(dir, "rsyslog.conf"), "-i", join(dir, "rsyslogd.pid")], join(dir, "rsyslogd.log"));
    for (let i = 0; i < 50 && !existsSync(join(dir, "log.sock")); i++) await sleep(100);
    assert.ok(existsSync(join(dir, "log.sock")), readFileSync(join(dir, "rsyslogd.log"), "utf8"));
  });
  after(async () => {
    await rsyslog?.stop();
    if (rig) await rig.cleanup();
  });

  test("bzman serve logs to syslog with source, dataset and run id", async () => {
    const config = rig.writeConfig({ schedule: "*/2 * * * * *", datasets: [{ name: `${rig.sourcePool}/a` }, { name: `${rig.sourcePool}/nope` }] });
    writeFileSync(config, readFileSync(config, "utf8") + `log:\n  syslog:\n    socket: ${dir}/log.sock\n`);
    const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "--config", config, "serve"], { cwd: REPO, stdio: "ignore" });
    const exited = new Promise((r) => child.once("close", r));
    const messages = (): string => (existsSync(join(dir, "messages")) ? readFileSync(join(dir, "messages"), "utf8") : "");
    try {
      for (let i = 0; i < 150 && !/pass FAILED/.test(messages()); i++) await sleep(200);
    } finally {
      child.kill("SIGTERM");
    }
    await exited;
    await sleep(500);
    const text = messages();
    assert.match(text, /^daemon\.info bzman(\[\d+\])?: serving/m);
    assert.match(text, new RegExp(`^daemon\\.info bzman(\\[\\d+\\])?: OK .* dataset=${rig.sourcePool}/a result=ok`, "m"));
    assert.match(text, new RegExp(`^daemon\\.err bzman(\\[\\d+\\])?: CONFLICT .* source=src1 dataset=${rig.sourcePool}/nope result=conflict`, "m"));
    assert.match(text, /^daemon\.err bzman(\[\d+\])?: pass FAILED source=src1 runId=\S+/m);
  });
});
