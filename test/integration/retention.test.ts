// A whole pass on real ZFS (`bzman run`): snapshot the source (after a pre-snapshot command),
// replicate, hold the newest common snapshot on both sides, prune both sides by their policies.
// Foreign snapshots survive; a failing pre-snapshot command fails the pass and takes nothing.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, prop, sandboxSkip, snapshotGuids } from "../helpers/sandbox.ts";

const skip = sandboxSkip();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Number of holds on a snapshot (zfs-fuse's `zfs holds` needs a Python helper it lacks). */
async function holds(snapshot: string): Promise<number> {
  return Number(await prop(snapshot, "userrefs"));
}

describe("a whole pass: snapshot, replicate, hold, prune", { skip }, () => {
  let rig: Rig;
  let S: string;
  let T: string;
  let config: string;

  before(async () => {
    rig = await startRig({ name: "ret" });
    S = rig.sourcePool;
    T = `${rig.backupPool}/${rig.sourceName}/${S}`;
    await must(["zfs", "create", `${S}/a`]);
    writeFileSync(join(rig.sourceMount, "a", "f"), "x\n");
    await must(["zfs", "snapshot", `${S}/a@manual`]);
    config = rig.writeConfig({
      keep_source: { last: 2 },
      keep_backup: { last: 3 },
      pre_snapshot: [["zfs", "set", "bzman:flushed=yes", S]],
    });
  });
  after(async () => rig && (await rig.cleanup()));

  test("four passes keep 2 of ours on the source, 3 on the backup, every foreign one, and hold only the common one", async () => {
    for (let i = 0; i < 4; i++) {
      if (i > 0) await sleep(1100); // snapshot names have one-second resolution
      writeFileSync(join(rig.sourceMount, "a", "f"), `pass ${i}\n`);
      const r = await bzman(["--config", config, "run", "--json"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const rec = JSON.parse(r.stdout).records[0];
      assert.ok(rec.phases.snapshot >= 0 && rec.phases.prune >= 0, JSON.stringify(rec.phases));
    }
    assert.equal(await prop(S, "bzman:flushed"), "yes", "the pre-snapshot command ran on the source");
    const src = [...(await snapshotGuids(`${S}/a`)).keys()];
    const dst = [...(await snapshotGuids(`${T}/a`)).keys()];
    const ours = (l: string[]): string[] => l.filter((n) => n.startsWith("@bzman_"));
    assert.equal(ours(src).length, 2, src.join(" "));
    assert.equal(ours(dst).length, 3, dst.join(" "));
    assert.ok(src.includes("@manual") && dst.includes("@manual"), "foreign snapshots survive on both sides");
    assert.deepEqual(ours(dst).slice(-2), ours(src), "the newest are on both sides");
    // The root dataset S was snapshotted recursively and pruned the same way.
    assert.equal(ours([...(await snapshotGuids(S)).keys()].filter((n) => !n.includes("/"))).length, 2);

    const newest = ours(src).at(-1)!;
    assert.equal(await holds(`${S}/a${newest}`), 1, "common held on the source");
    assert.equal(await holds(`${T}/a${newest}`), 1, "common held on the backup");
    for (const older of ours(dst).slice(0, -1))
      assert.equal(await holds(`${T}/a${older}`), 0, `the hold on ${older} was released`);
    assert.equal(await holds(`${S}/a@manual`), 0);
  });

  test("a failing pre-snapshot command fails the pass, takes no snapshot, prunes nothing", async () => {
    const bad = rig.writeConfig(
      { keep_source: { last: 1 }, keep_backup: { last: 1 }, pre_snapshot: [["zfs", "get", "nosuchproperty", S]] },
      join(rig.dir, "bad-hook.yaml"),
    );
    const before = await snapshotGuids(S);
    const backupBefore = await snapshotGuids(T);
    await sleep(1100);
    const r = await bzman(["--config", bad, "run", "--json"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const d = JSON.parse(r.stdout).records[0].datasets[0];
    assert.equal(d.result, "failed");
    assert.match(
      d.message,
      /the source snapshot for this pass was not taken: pre-snapshot command "zfs get nosuchproperty .*" failed/,
    );
    assert.match(d.message, /bzman-guard: rejected/, "a hook the guard does not list is refused on the source");
    assert.deepEqual(await snapshotGuids(S), before, "no snapshot taken, nothing pruned on the source");
    assert.deepEqual(await snapshotGuids(T), backupBefore, "nothing pruned on the backup");
  });
});
