// `bzman check` on real parts: a good config passes; a missing dataset, a wrong host key, a
// missing backup pool and a DEGRADED backup pool (a mirror with one side offline) are problems.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { makeKey } from "../../server/sandbox/sshd.ts";
import { destroyPool, must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, sandboxSkip } from "../helpers/sandbox.ts";

const skip = sandboxSkip();

describe("bzman check", { skip }, () => {
  let rig: Rig;
  let mirror: string;

  before(async () => {
    rig = await startRig({ name: "chk" });
    await must(["zfs", "create", `${rig.sourcePool}/a`]);
    await must(["zfs", "snapshot", `${rig.sourcePool}/a@s1`]);
    mirror = `${rig.backupPool}m`;
    const files = [join(rig.dir, "m1.img"), join(rig.dir, "m2.img")];
    for (const f of files) await (await open(f, "w")).truncate(96 * 1024 * 1024).then(() => undefined);
    await must(["zpool", "create", "-m", join(rig.dir, "mnt", mirror), mirror, "mirror", ...files]);
    await must(["zpool", "offline", mirror, files[1]!]);
  });
  after(async () => {
    if (mirror) await destroyPool(mirror).catch(() => {});
    if (rig) await rig.cleanup();
  });

  test("a good config passes every check", async () => {
    const config = rig.writeConfig({ datasets: [{ name: `${rig.sourcePool}/a` }] });
    const r = await bzman(["--config", config, "check"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`ok +backup pool ${rig.backupPool} is ONLINE`));
    assert.match(r.stdout, /ok +reachable, host key matches, zfs answers \(holds, zvols\)/);
    assert.match(r.stdout, /ok +1 dataset\(s\) found/);
    assert.match(r.stdout, /cannot estimate stream sizes/);
    assert.match(r.stdout, /ok +restore key logs in \(root\), its guard is in --restore mode/);
    assert.match(r.stdout, /all checks passed/);
    // The replication key given as the restore key is caught: it could run zfs send.
    const swapped = rig.writeConfig(
      { datasets: [{ name: `${rig.sourcePool}/a` }], restore_identity: rig.identity, identity: rig.restoreIdentity },
      `${rig.dir}/swapped.yaml`,
    );
    const w = await bzman(["--config", swapped, "check"]);
    assert.equal(w.code, 1, w.stdout);
    assert.match(w.stdout, /PROBLEM the restore key of src1 may run zfs send/);
  });

  test("each problem is named, with its source; exit 1", async () => {
    const other = (await makeKey(join(rig.dir, "k2"))).split(" ").slice(0, 2).join(" ");
    const file = join(rig.dir, "multi.yaml");
    rig.writeConfig({ datasets: [{ name: `${rig.sourcePool}/a` }, { name: `${rig.sourcePool}/nope` }] }, file);
    const base = readFileSync(file, "utf8");
    const extra = (name: string, target: string, key: string): string =>
      `  - name: ${name}\n    host: 127.0.0.1\n    port: ${rig.sshd.port}\n    user: root\n    identity: ${rig.identity}\n    host_key: ${key}\n    target: ${target}\n    datasets:\n      - name: ${rig.sourcePool}/a\n`;
    writeFileSync(
      file,
      base +
        extra("badkey", `${rig.backupPool}/badkey`, other) +
        extra("nopool", "nosuchpool/x", rig.sshd.hostKey) +
        extra("degraded", `${mirror}/d`, rig.sshd.hostKey),
    );
    const r = await bzman(["--config", file, "check"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`PROBLEM dataset ${rig.sourcePool}/nope does not exist on src1`));
    assert.match(r.stdout, /badkey[^\n]*\n(?:.*\n)*?\s+PROBLEM \[SSH_HOSTKEY\] badkey: host key changed or wrong/);
    assert.match(r.stdout, /PROBLEM backup pool "nosuchpool" does not exist/);
    assert.match(r.stdout, new RegExp(`PROBLEM backup pool "${mirror}" is DEGRADED`));
    assert.match(r.stdout, /\d+ problem\(s\)/);
  });
});
