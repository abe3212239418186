// End to end on real ZFS (zfs-fuse) and a real sshd: full, incremental with intermediates,
// recursive roots with children appearing and disappearing, safe receive, plan = run; a snapshot
// name already taken on the source is never adopted.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { destroyDataset, must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, prop, sandboxSkip, snapshotGuids } from "../helpers/sandbox.ts";
import { snapshotNameAt } from "../../server/core/naming.ts";
import { takeSnapshots } from "../../server/engine/source-snapshots.ts";
import { LocalRunner } from "../../server/zfs/runner.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";

const skip = sandboxSkip();
const sha = (p: string): string => createHash("sha256").update(readFileSync(p)).digest("hex");

describe("replication end to end", { skip }, () => {
  let rig: Rig;
  let config: string;
  let S: string; // source pool
  let T: string; // target root of the source pool on the backup

  before(async () => {
    rig = await startRig({ name: "rep" });
    S = rig.sourcePool;
    T = `${rig.backupPool}/${rig.sourceName}/${S}`;
    for (const d of ["app", "app/data", "home", "vm"]) await must(["zfs", "create", `${S}/${d}`]);
    writeFileSync(join(rig.sourceMount, "app", "data", "blob.bin"), randomBytes(2 * 1024 * 1024));
    writeFileSync(join(rig.sourceMount, "home", "readme.txt"), "v1\n");
    await must(["zfs", "snapshot", "-r", `${S}@s1`]);
    config = rig.writeConfig();
  });
  after(async () => rig && (await rig.cleanup()));

  test("plan --json before the first run: full sends, nothing changed", async () => {
    const r = await bzman(["--config", config, "plan", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    const ds = plan.sources[0].datasets;
    assert.deepEqual(
      ds.map((d: { dataset: string; mode: string }) => `${d.dataset.slice(S.length) || "/"}:${d.mode}`),
      ["/:full", "/app:full", "/home:full", "/vm:full", "/app/data:full"],
    );
    assert.equal(ds[0].estimatedBytes, null, "zfs-fuse cannot estimate");
    await assert.rejects(must(["zfs", "list", `${rig.backupPool}/${rig.sourceName}`]), /does not exist/);
  });

  test("first run: full replication of every dataset, same GUIDs, read-only, unmounted", async () => {
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /5 replicated, 0 up to date, 0 conflict\(s\), 0 failed/);
    assert.match(r.stderr, /OK +src1:.*\/app\/data .* full @s1/);
    assert.match(r.stderr, /connect \S+, list \S+, plan \S+, transfer \S+, total \S+/);
    assert.deepEqual(await snapshotGuids(T), await snapshotGuids(S));
    for (const d of [T, `${T}/app/data`]) {
      assert.equal(await prop(d, "readonly"), "on", d);
      assert.equal(await prop(d, "mounted"), "no", d);
      assert.equal(await prop(d, "canmount"), "noauto", d);
      assert.equal(await prop(d, "setuid"), "off", d);
      assert.equal(await prop(d, "exec"), "off", d);
    }
    assert.equal(await prop(`${rig.backupPool}/${rig.sourceName}`, "canmount"), "off", "container never mounts");
  });

  test("second run with nothing new: up to date, exit 0", async () => {
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /0 replicated, 5 up to date/);
  });

  test("incremental with intermediates (-I), a new child arrives in full, plan --json matches run", async () => {
    for (let i = 2; i <= 5; i++) {
      writeFileSync(join(rig.sourceMount, "home", "readme.txt"), `v${i}\n`);
      await must(["zfs", "snapshot", "-r", `${S}@s${i}`]);
    }
    await must(["zfs", "create", `${S}/logs`]);
    writeFileSync(join(rig.sourceMount, "logs", "x.log"), "hello\n");
    await must(["zfs", "snapshot", `${S}/logs@l1`]);
    await must(["zfs", "snapshot", `${S}/logs@l2`]);

    const p = await bzman(["--config", config, "plan", "--json"]);
    assert.equal(p.code, 0, p.stderr);
    const planned = JSON.parse(p.stdout).sources[0].datasets as Array<{
      dataset: string;
      mode: string;
      from: { name: string } | null;
      to: { name: string };
      steps: unknown[];
    }>;
    const home = planned.find((d) => d.dataset === `${S}/home`)!;
    assert.deepEqual(home.steps, [{ kind: "incremental", from: "s1", to: "s5", intermediates: true }]);

    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const done = JSON.parse(r.stdout).records[0].datasets as Array<{
      dataset: string;
      mode: string;
      result: string;
      from?: { name: string };
      seed?: { name: string };
      to: { name: string };
      steps: number;
    }>;
    // Every dataset did exactly what the plan said.
    assert.deepEqual(
      done.map((d) => [d.dataset, d.mode, d.from?.name ?? null, d.seed?.name ?? null, d.to.name, d.steps, d.result]),
      planned.map((d) => [
        d.dataset,
        d.mode,
        d.from?.name ?? null,
        d.mode === "full" ? (d.steps[0] as { to: string }).to : null,
        d.to.name,
        d.steps.length,
        "ok",
      ]),
    );
    assert.match(r.stderr, new RegExp(`OK +src1:${S}/logs .* full @l1\\.\\.@l2`), "new child: full then incremental");
    const src = await snapshotGuids(S);
    assert.deepEqual(await snapshotGuids(T), src, "all intermediates arrived with the same GUIDs");
    assert.ok(src.has("/home@s3"));
  });

  test("received data equals the source's, read through a clone of the backup snapshot", async () => {
    const mnt = join(rig.dir, "mnt", "clone");
    mkdirSync(mnt, { recursive: true });
    const clone = `${rig.backupPool}/clonecheck`;
    await must(["zfs", "clone", "-o", `mountpoint=${mnt}`, `${T}/app/data@s5`, clone]);
    try {
      assert.equal(sha(join(mnt, "blob.bin")), sha(join(rig.sourceMount, "app", "data", "blob.bin")));
    } finally {
      await destroyDataset(clone);
    }
  });

  test("a child gone on the source is kept on the backup and reported", async () => {
    await destroyDataset(`${S}/vm`, { recursive: true });
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`kept: ${T}/vm \\(its source dataset is gone`));
    assert.equal(await prop(`${T}/vm`, "type"), "filesystem", "still on the backup");
  });

  test("run SOURCE:DATASET limits the pass to that subtree", async () => {
    await must(["zfs", "snapshot", "-r", `${S}@s6`]);
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", `${rig.sourceName}:${S}/app`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /2 dataset\(s\): 2 replicated/);
    assert.ok((await snapshotGuids(`${T}/app`)).has("@s6"));
    assert.ok(!(await snapshotGuids(`${T}/home`)).has("@s6"), "home was not part of the pass");
    // With snapshots: only that subtree gets this pass's snapshot on the source.
    const before = await snapshotGuids(S);
    const snap = await bzman(["--config", config, "run", "--no-prune", `${rig.sourceName}:${S}/app`]);
    assert.equal(snap.code, 0, snap.stdout + snap.stderr);
    const added = [...(await snapshotGuids(S)).keys()].filter((n) => !before.has(n));
    assert.ok(
      added.length > 0 && added.every((n) => n.startsWith("/app")),
      `new source snapshots only below ${S}/app: ${added.join(" ")}`,
    );
    const bad = await bzman([
      "--config",
      config,
      "run",
      "--no-snapshot",
      "--no-prune",
      `${rig.sourceName}:otherpool/x`,
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"otherpool\/x" is not among the datasets of src1/);
  });

  test("a snapshot name taken on the source (a snapshot of the same second) is not adopted: the pass's own is a second later and has the new data", async () => {
    const local = new ZfsHost(new LocalRunner());
    await must(["zfs", "create", `${S}/clash`]);
    await must(["zfs", "create", `${S}/clash/child`]);
    try {
      const now = Date.now();
      const taken = snapshotNameAt("bzman", now);
      // Only the child has it: `zfs snapshot -r` refuses as a whole, nothing is taken on the root.
      await must(["zfs", "snapshot", `${S}/clash/child@${taken}`]);
      assert.equal(await local.snapshot(`${S}/clash`, taken, true), false, "zfs-fuse's refusal is read as taken");
      assert.ok(!(await snapshotGuids(`${S}/clash`)).has(`@${taken}`), "-r took nothing");
      const mp = (await must(["zfs", "get", "-H", "-o", "value", "mountpoint", `${S}/clash/child`])).trim();
      writeFileSync(join(mp, "late.txt"), "written after the older snapshot\n");
      const out = await takeSnapshots(local, [{ name: `${S}/clash`, recursive: true }], {
        name: taken,
        prefix: "bzman",
        nameNow: () => snapshotNameAt("bzman", Date.now()),
      });
      assert.deepEqual(out.errors, new Map());
      const own = out.taken[0]!.name;
      assert.ok(own > taken, `${own} is after ${taken}`);
      assert.equal(await prop(`${S}/clash/child@${own}`, "type"), "snapshot");
      assert.ok(
        (await must(["zfs", "list", "-H", "-o", "name", "-t", "snapshot", "-r", `${S}/clash`])).includes(
          `${S}/clash@${own}`,
        ),
        "the root has it too",
      );
      // The older one does not have the file; the pass's own does (its space differs from the older one's).
      const referenced = async (snap: string): Promise<number> =>
        Number((await must(["zfs", "get", "-H", "-p", "-o", "value", "referenced", snap])).trim());
      assert.ok(
        (await referenced(`${S}/clash/child@${own}`)) > (await referenced(`${S}/clash/child@${taken}`)),
        "the new snapshot holds the late write",
      );
    } finally {
      await destroyDataset(`${S}/clash`, { recursive: true });
    }
  });
});
