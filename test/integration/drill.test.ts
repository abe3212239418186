// Proving backups on real parts: a restore drill passes on a good backup; after the backup pool's
// data blocks are damaged on disk (the pool re-imported, so nothing is served from cache) the
// daemon's scheduled drill fails and mails an alert, `bzman scrub` reports the errors, and the
// status names both problems.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { openSync, readFileSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, prop, sandboxSkip, serveDaemon, until } from "../helpers/sandbox.ts";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.ts";

const MARK = "BZMAN-DRILL-MARK-";

/** Overwrites every copy of the marker lines in the pool's file, so the data cannot be read back. */
function damage(vdev: string): number {
  const buf = readFileSync(vdev);
  const fd = openSync(vdev, "r+");
  let hits = 0;
  try {
    for (let i = buf.indexOf(MARK); i >= 0; i = buf.indexOf(MARK, i + 1)) {
      writeSync(fd, Buffer.from("XXXXXXXX"), 0, 8, i);
      hits++;
    }
  } finally {
    closeSync(fd);
  }
  return hits;
}

const skip = sandboxSkip();
describe("restore drills and scrubs", { skip }, () => {
  let rig: Rig;
  let sink: SmtpSink;
  let config: string;

  before(async () => {
    rig = await startRig({ name: "drl" });
    sink = await startSmtpSink();
    const S = rig.sourcePool;
    await must(["zfs", "create", `${S}/data`]);
    const lines = Array.from({ length: 20_000 }, (_, i) => `${MARK}${String(i).padStart(6, "0")}\n`).join("");
    writeFileSync(join(await prop(`${S}/data`, "mountpoint"), "ledger.txt"), lines);
    writeFileSync(join(await prop(`${S}/data`, "mountpoint"), "small.txt"), "hello\n");
    config = rig.writeConfig({ datasets: [{ name: `${S}/data` }], drill: { schedule: "*/3 * * * * *", recent: 1 } });
    const doc = parse(readFileSync(config, "utf8"));
    doc.mail = {
      smtp: `smtp://127.0.0.1:${sink.port}`,
      from: "bzman@backup.test",
      to: ["ops@example.test"],
      digest: "0s",
    };
    writeFileSync(config, stringify(doc));
    const r = await bzman(["--config", config, "run"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  });
  after(async () => {
    await sink?.close();
    if (rig) await rig.cleanup();
  });

  test("a drill on a good backup passes: clone mounted, every file read, referenced equal; the clone is gone", async () => {
    const r = await bzman(["--config", config, "drill"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^OK +src1: restored .* as a clone: it mounted, 2 files \(480006 bytes\) read back/m);
    const left = await must(["zfs", "list", "-H", "-o", "name", "-r", rig.backupPool]);
    assert.doesNotMatch(left, /drill-/);
    const scrub = await bzman(["--config", config, "scrub"]);
    assert.equal(scrub.code, 0, scrub.stderr + scrub.stdout);
    assert.match(scrub.stdout, /finished with 0 errors/);
  });

  test("damaged backup: the scheduled drill fails and mails an alert; scrub and status report it", async () => {
    const B = rig.backupPool;
    await must(["zpool", "export", B]);
    assert.ok(damage(join(rig.dir, `${B}.img`)) > 0, "the marker is in the pool file");
    await must(["zpool", "import", "-d", rig.dir, B]);

    const d = serveDaemon(config);
    try {
      await until("the drill alert", () => sink.mails.some((m) => m.subject?.includes("restore drill FAILED")), 90_000);
    } finally {
      d.child.kill("SIGTERM");
    }
    assert.equal(await d.exited, 0);
    const alert = sink.mails.find((m) => m.subject?.includes("restore drill FAILED"))!;
    assert.match(alert.subject!, /^\[bzman\] ALERT src1: restore drill FAILED/);
    assert.match(alert.text!, /cannot read ledger\.txt: EIO/);
    assert.match(alert.text!, /What to do: A backup snapshot could not be restored intact/);
    assert.doesNotMatch(
      await must(["zfs", "list", "-H", "-o", "name", "-r", B]),
      /drill-/,
      "the clone is destroyed even when the drill fails",
    );

    const scrub = await bzman(["--config", config, "scrub"]);
    assert.equal(scrub.code, 1, scrub.stdout);
    assert.match(scrub.stdout, /^FAILED pool .*(error|data errors)/m);
    const st = JSON.parse((await bzman(["--config", config, "status", "--json"])).stdout);
    assert.equal(st.healthy, false);
    assert.ok(
      st.problems.some((p: string) => /^restore drill of src1 failed: .*EIO/.test(p)),
      st.problems.join("\n"),
    );
    assert.ok(
      st.problems.some((p: string) => p.startsWith(`scrub of pool ${B}:`)),
      st.problems.join("\n"),
    );
  });
});
