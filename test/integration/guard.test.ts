// The guard behind the real sshd: hostile commands sent over bzman's own SSH connection are
// refused with the fixed message and exit 255, classified GUARD_REJECTED, and change nothing on
// the source (its fingerprint is the same before and after).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { connectSource, type SourceConnection } from "../../server/ssh/connection.ts";
import { tryClassifyStderr } from "../../server/zfs/parse.ts";
import { poolFingerprint, sandboxSkip } from "../helpers/sandbox.ts";

const skip = sandboxSkip();

describe("the guard behind the real sshd", { skip }, () => {
  let rig: Rig;
  let conn: SourceConnection;

  before(async () => {
    rig = await startRig({ name: "grd" });
    await must(["zfs", "create", `${rig.sourcePool}/data`]);
    await must(["zfs", "snapshot", "-r", `${rig.sourcePool}@manual`]);
    await must(["zfs", "snapshot", "-r", `${rig.sourcePool}@bzman_20260101T000000Z`]);
    conn = await connectSource({
      name: "src1",
      host: "127.0.0.1",
      port: rig.sshd.port,
      user: "root",
      identity: rig.identity,
      hostKey: rig.sshd.hostKey,
    });
  });
  after(async () => {
    await conn?.close();
    if (rig) await rig.cleanup();
  });

  test("hostile commands run nothing and are classified GUARD_REJECTED", async () => {
    const S = rig.sourcePool;
    const hostile = [
      ["zfs", "destroy", "-r", S],
      ["zfs", "destroy", `${S}/data`],
      ["zfs", "destroy", `${S}/data@manual`],
      ["zfs", "set", "readonly=on", S],
      ["zfs", "receive", `${S}/new`],
      ["zfs", "create", `${S}/new`],
      ["zfs", "rollback", `${S}@manual`],
      ["zfs", "snapshot", `${S}@evil`],
      ["zpool", "destroy", S],
      ["zfs", "rename", `${S}/data`, `${S}/moved`],
    ];
    const before = await poolFingerprint(S);
    for (const argv of hostile) {
      const r = await conn.runner.run(argv);
      assert.equal(r.code, 255, argv.join(" "));
      assert.equal(tryClassifyStderr(r.stderr), "GUARD_REJECTED", r.stderr);
    }
    // Shell metacharacters never even leave bzman: the SSH runner refuses them first.
    assert.throws(
      () => conn.runner.spawn(["zfs", "send", `${S}@manual;zfs`, "destroy"]),
      /refusing to send the argument/,
    );
    assert.equal(await poolFingerprint(S), before, "the source is unchanged");
  });

  test("bzman's own commands pass: probe, listing, send, destroy of its own snapshot", async () => {
    const S = rig.sourcePool;
    assert.equal((await conn.runner.run(["zfs"])).code, 2, "the probe prints usage (exit 2)");
    const list = await conn.runner.run([
      "zfs",
      "get",
      "-H",
      "-p",
      "-o",
      "name,property,value",
      "guid,createtxg,creation,type,userrefs",
      "-r",
      S,
    ]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /@manual\tguid\t\d+/);
    const destroy = await conn.runner.run(["zfs", "destroy", `${S}/data@bzman_20260101T000000Z`]);
    assert.equal(destroy.code, 0, destroy.stderr);
    await assert.rejects(must(["zfs", "list", `${S}/data@bzman_20260101T000000Z`]), /does not exist/);
  });
});
