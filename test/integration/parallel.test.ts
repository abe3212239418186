// Datasets of one source side by side on real ZFS (zfs-fuse) over the real sshd: 20 datasets,
// nested three deep, replicated four at once. Every child starts only after its parent ended,
// every dataset lands with the source's snapshots, and a dataset that fails (its backup was
// modified) stops neither its siblings nor its children's incremental streams. Eight at once open
// a second SSH connection (four channels each).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { DatasetRecord } from "../../server/core/model.ts";
import { parentOf } from "../../server/core/naming.ts";
import { runSource, type PassDeps, type SourceJob } from "../../server/engine/run-source.ts";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, realPassDeps, sandboxSkip, sleep, snapshotGuids } from "../helpers/sandbox.ts";

const skip = sandboxSkip();

/** Below the root `par`: 19 datasets, so 20 with it; `b` has children and a grandchild. */
const TREE = [
  "a",
  "b",
  "c",
  "d",
  "e",
  "f",
  "a/1",
  "a/2",
  "a/3",
  "b/1",
  "b/2",
  "b/3",
  "c/1",
  "c/2",
  "d/1",
  "b/1/x",
  "b/1/y",
  "b/2/x",
  "c/1/x",
];

/**
 * A pass's order as the engine shows it: `start T` when a dataset's replication takes its
 * target's lock, `end T` when its record arrives (onDataset, as each ends without pruning).
 */
function observed(): { events: string[]; peak: () => number; deps: Partial<PassDeps> } {
  const events: string[] = [];
  let running = 0;
  let peak = 0;
  return {
    events,
    peak: () => peak,
    deps: {
      lock: async (target) => {
        events.push(`start ${target}`);
        peak = Math.max(peak, ++running);
        return async () => undefined;
      },
      onDataset: (d: DatasetRecord) => {
        if (events.includes(`start ${d.target}`)) running--;
        events.push(`end ${d.target}`);
      },
    },
  };
}

/** Asserts that every dataset with a parent in `records` started after that parent ended. */
function parentsFirst(events: string[], records: DatasetRecord[]): void {
  const targets = new Set(records.map((r) => r.target));
  let checked = 0;
  for (const r of records) {
    const parent = parentOf(r.target);
    if (parent === null || !targets.has(parent)) continue;
    const start = events.indexOf(`start ${r.target}`);
    const parentEnd = events.indexOf(`end ${parent}`);
    assert.ok(start >= 0, `${r.target} started`);
    assert.ok(parentEnd >= 0 && start > parentEnd, `${r.target} started after ${parent} ended:\n${events.join("\n")}`);
    checked++;
  }
  assert.equal(checked, 19, "every dataset but the root has its parent in the pass");
}

describe("datasets of one source side by side", { skip }, () => {
  let rig: Rig;
  let S: string;
  let T: string;
  let job: SourceJob;

  before(async () => {
    rig = await startRig({ name: "par" });
    S = rig.sourcePool;
    T = `${rig.backupPool}/${rig.sourceName}/${S}`;
    await must(["zfs", "create", `${S}/par`]);
    for (const d of TREE) await must(["zfs", "create", `${S}/par/${d}`]);
    for (const d of ["", ...TREE]) writeFileSync(join(rig.sourceMount, "par", d, "f.txt"), `${d} one\n`);
    await must(["zfs", "snapshot", "-r", `${S}/par@s1`]);
    job = {
      name: rig.sourceName,
      targetRoot: `${rig.backupPool}/${rig.sourceName}`,
      roots: [{ name: `${S}/par`, recursive: true }],
      policy: { firstSend: "oldest", includePrefixes: [] },
      parallel: 4,
    };
  });
  after(async () => rig && (await rig.cleanup()));

  test("20 datasets, four at once: parents first, records in plan order, every snapshot there", async () => {
    const o = observed();
    const deps = realPassDeps(rig, o.deps);
    const rec = await runSource(job, deps, "par-seed");
    await deps.close();
    assert.equal(rec.datasets.length, 20);
    assert.deepEqual(
      rec.datasets.filter((d) => d.result !== "ok").map((d) => `${d.dataset}: ${d.message}`),
      [],
    );
    assert.ok(
      rec.datasets.every((d) => d.mode === "full"),
      "each arrived in full",
    );
    // The plan's order (parents first, then by name), whatever order they ended in.
    const depth = (n: string): number => n.split("/").length;
    const planned = [`${S}/par`, ...TREE.map((d) => `${S}/par/${d}`)].sort(
      (a, b) => depth(a) - depth(b) || a.localeCompare(b),
    );
    assert.deepEqual(
      rec.datasets.map((d) => d.dataset),
      planned,
    );
    parentsFirst(o.events, rec.datasets);
    assert.equal(o.peak(), 4, "four datasets ran side by side, never more");
    const src = await snapshotGuids(`${S}/par`);
    assert.equal(src.size, 20);
    assert.deepEqual(await snapshotGuids(`${T}/par`), src, "every dataset holds the source's snapshot, by GUID");
  });

  test("one dataset fails (its backup was modified): its siblings and its children go on", async () => {
    for (const d of ["", ...TREE]) writeFileSync(join(rig.sourceMount, "par", d, "f.txt"), `${d} two\n`);
    await must(["zfs", "snapshot", "-r", `${S}/par@s2`]);
    // Someone mounted the backup of par/b writable and wrote to it (as in conflicts.test.ts).
    const mnt = join(rig.dir, "mnt", "par-b");
    mkdirSync(mnt, { recursive: true });
    await must(["zfs", "set", "readonly=off", `${T}/par/b`]);
    await must(["zfs", "set", `mountpoint=${mnt}`, `${T}/par/b`]);
    await must(["zfs", "mount", `${T}/par/b`]);
    writeFileSync(join(mnt, "local-change.txt"), "written on the backup\n");

    const o = observed();
    const deps = realPassDeps(rig, o.deps);
    const rec = await runSource(job, deps, "par-fail");
    await deps.close();
    const b = rec.datasets.find((d) => d.dataset === `${S}/par/b`)!;
    assert.equal(b.result, "failed");
    assert.equal(b.error?.code, "ZFS_DEST_MODIFIED", JSON.stringify(b));
    assert.deepEqual(
      rec.datasets.filter((d) => d !== b && d.result !== "ok").map((d) => `${d.dataset}: ${d.message}`),
      [],
      "every other dataset, par/b's children among them, was replicated",
    );
    parentsFirst(o.events, rec.datasets);
    const want = new Map(await snapshotGuids(`${S}/par`));
    want.delete("/b@s2");
    assert.deepEqual(await snapshotGuids(`${T}/par`), want, "all but par/b at @s2, par/b still at @s1");

    // The local change undone, the next pass (bzman run, max_transfers_per_source: 4) completes.
    await must(["zfs", "umount", `${T}/par/b`]);
    // zfs-fuse has answered a rollback right after the umount with "I/O error" (once, on a busy
    // machine); the test's own undo is tried three times, a second apart.
    for (let i = 1; ; i++) {
      try {
        await must(["zfs", "rollback", `${T}/par/b@s1`]);
        break;
      } catch (err) {
        if (i === 3) throw err;
        await sleep(1000);
      }
    }
    const config = rig.writeConfig({
      datasets: [{ name: `${S}/par`, recursive: true }],
      max_transfers_per_source: 4,
    });
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await snapshotGuids(`${T}/par`), await snapshotGuids(`${S}/par`));
  });

  test("eight at once through the CLI (max_transfers_per_source: 8): a second SSH connection opens, every dataset arrives", async () => {
    for (const d of ["", ...TREE]) writeFileSync(join(rig.sourceMount, "par", d, "f.txt"), `${d} three\n`);
    await must(["zfs", "snapshot", "-r", `${S}/par@s3`]);
    const file = rig.writeConfig({ datasets: [{ name: `${S}/par`, recursive: true }], max_transfers_per_source: 8 });
    // Eight streams at once also need eight of the backup's slots.
    writeFileSync(file, stringify({ ...parse(readFileSync(file, "utf8")), max_transfers: 8 }));
    const logins = (): number =>
      (readFileSync(rig.sshd.logPath, "utf8").match(/Accepted publickey for root/g) ?? []).length;
    const before = logins();
    const r = await bzman(["--config", file, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await snapshotGuids(`${T}/par`), await snapshotGuids(`${S}/par`));
    // Nine grandchildren are ready at once after the six children: eight streams, and the first
    // connection carries four channels at most.
    assert.equal(logins() - before, 2, "the pass logged in twice: its connection and one more");
  });
});
