// Conflicts on real ZFS: each is reported with a clear message and a non-zero exit, and nothing
// on the backup is destroyed or changed (the pool's fingerprint is the same before and after).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { destroyDataset, must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, poolFingerprint, sandboxSkip, snapshotGuids } from "../helpers/sandbox.ts";

const skip = sandboxSkip();

interface Rec {
  dataset: string;
  mode: string;
  result: string;
  conflict?: string;
  message?: string;
  error?: { code: string; message: string };
}

describe("conflicts leave the backup untouched", { skip }, () => {
  let rig: Rig;
  let S: string;
  let T: string;

  before(async () => {
    rig = await startRig({ name: "cfl" });
    S = rig.sourcePool;
    T = `${rig.backupPool}/${rig.sourceName}/${S}`;
    for (const d of ["modified", "diverged", "recreated", "fine"]) {
      await must(["zfs", "create", `${S}/${d}`]);
      writeFileSync(join(rig.sourceMount, d, "f.txt"), `${d}\n`);
    }
    await must(["zfs", "snapshot", "-r", `${S}@s1`]);
    const config = rig.writeConfig({
      datasets: ["modified", "diverged", "recreated", "fine"].map((d) => ({ name: `${S}/${d}` })),
    });
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  after(async () => rig && (await rig.cleanup()));

  test("every kind of conflict in one pass: reported, exit 1, backup unchanged; other datasets go on", async () => {
    // The target was modified since its newest snapshot (someone mounted it writable).
    const mnt = join(rig.dir, "mnt", "tampered");
    mkdirSync(mnt, { recursive: true });
    await must(["zfs", "set", "readonly=off", `${T}/modified`]);
    await must(["zfs", "set", `mountpoint=${mnt}`, `${T}/modified`]);
    await must(["zfs", "mount", `${T}/modified`]);
    writeFileSync(join(mnt, "local-change.txt"), "written on the backup\n");
    // The target has a snapshot the source lacks.
    await must(["zfs", "snapshot", `${T}/diverged@only-on-backup`]);
    // The source dataset was recreated: no snapshot in common any more.
    await destroyDataset(`${S}/recreated`, { recursive: true });
    await must(["zfs", "create", `${S}/recreated`]);
    await must(["zfs", "snapshot", "-r", `${S}@s2`]);

    const config = rig.writeConfig({
      datasets: ["modified", "diverged", "recreated", "fine", "missing"].map((d) => ({ name: `${S}/${d}` })),
    });
    const before = await poolFingerprint(rig.backupPool);
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const recs = JSON.parse(r.stdout).records[0].datasets as Rec[];
    const by = (name: string): Rec => recs.find((d) => d.dataset === `${S}/${name}`)!;

    assert.equal(by("fine").result, "ok", "an unaffected dataset is still replicated");
    assert.equal(by("modified").result, "failed");
    assert.equal(by("modified").error?.code, "ZFS_DEST_MODIFIED");
    assert.match(by("modified").message!, /has been modified since most recent snapshot/);
    assert.equal(by("diverged").conflict, "diverged");
    assert.match(
      by("diverged").message!,
      /@only-on-backup.*receiving would roll them back\. The backup is left untouched/,
    );
    assert.equal(by("recreated").conflict, "no-common-snapshot");
    assert.match(by("recreated").message!, /none is on src1:.*no incremental base/);
    assert.equal(by("missing").conflict, "source-missing");
    assert.match(by("missing").message!, /does not exist on the source host/);
    assert.match(r.stderr, /CONFLICT +src1:\S+\/diverged/);
    assert.match(r.stderr, /FAILED +src1:\S+\/modified .*\[ZFS_DEST_MODIFIED\]/);
    assert.match(r.stderr, /NOT all datasets are backed up/);

    const afterRun = await poolFingerprint(rig.backupPool);
    const changed = afterRun.split("\n").filter((l) => !before.includes(l));
    assert.ok(
      changed.every((l) => l.includes(`${T}/fine`)),
      `only 'fine' may change:\n${changed.join("\n")}`,
    );
    assert.ok(existsSync(join(mnt, "local-change.txt")), "the local change was not rolled back");
    await must(["zfs", "unmount", `${T}/modified`]);
  });

  test("on_conflict: rename keeps each conflicting backup under a new name and re-seeds a complete copy", async () => {
    const names = ["diverged", "recreated"];
    const old = new Map<string, string>();
    for (const n of names)
      old.set(n, await must(["zfs", "get", "-H", "-p", "-o", "name,value", "guid", "-r", `${T}/${n}`]));
    const config = rig.writeConfig({ on_conflict: "rename", datasets: names.map((d) => ({ name: `${S}/${d}` })) });
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const recs = JSON.parse(r.stdout).records[0].datasets as Array<Rec & { keptAside: string; warnings: string[] }>;
    for (const n of names) {
      const rec = recs.find((d) => d.dataset === `${S}/${n}`)!;
      assert.equal(rec.result, "ok");
      assert.equal(rec.mode, "full");
      assert.match(rec.keptAside, new RegExp(`^${T}/${n}\\.diverged-\\d{8}T\\d{6}Z$`));
      assert.match(rec.warnings.join(" "), /conflicted with the source .* it is kept as .* and was re-seeded in full/);
      // The old backup is kept whole (same snapshots, same GUIDs) under its new name.
      const kept = await must(["zfs", "get", "-H", "-p", "-o", "name,value", "guid", "-r", rec.keptAside]);
      assert.equal(kept.replaceAll(rec.keptAside, `${T}/${n}`), old.get(n));
      // The re-seeded copy has every snapshot of the source, by GUID.
      const guids = async (d: string): Promise<string[]> => [...(await snapshotGuids(d)).values()].sort();
      assert.deepEqual(await guids(`${T}/${n}`), await guids(`${S}/${n}`));
    }
    assert.match(r.stderr, /warning: the backup \S+\/diverged conflicted with the source \(diverged\)/);
    const st = JSON.parse((await bzman(["--config", config, "status", "--json"])).stdout);
    assert.ok(st.datasets.every((d: { lastKeptAside: string | null }) => d.lastKeptAside?.includes(".diverged-")));
    // The next pass is an ordinary one.
    const again = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stderr, /UP-TO-DATE/);
  });

  test("a missing target pool fails that source with a clear error; nothing is created", async () => {
    const missingPool = `nopool${rig.backupPool.slice(-6)}`;
    const config = rig.writeConfig({ target: `${missingPool}/src1`, datasets: [{ name: `${S}/fine` }] });
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(r.code, 1);
    const rec = JSON.parse(r.stdout).records[0].datasets[0] as Rec;
    assert.equal(rec.error?.code, "ZFS_POOL_MISSING");
    assert.match(rec.message!, new RegExp(`the backup pool "${missingPool}" .* does not exist`));
  });
});
