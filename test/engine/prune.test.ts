// Pruning one dataset on scripted hosts: several expired snapshots go in one `zfs destroy
// DS@a,b,c` where the host's zfs has the comma form (OpenZFS), one command each where not
// (zfs-fuse), and one at a time after a batch fails, skipping the one another receiver holds.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { pruneDataset } from "../../server/engine/retention-pass.ts";
import type { DatasetRecord, Snapshot } from "../../server/core/model.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import { FakeRunner, starts, type Script } from "../helpers/fake-runner.ts";
import { ds, listing } from "../helpers/snapshots.ts";

const usage = (name: string): string => readFileSync(new URL(`../fixtures/zfs/${name}`, import.meta.url), "utf8");
const HOUR = 3600;
const T0 = 1_796_000_000;
/** Five hourly bzman snapshots; `last: 2` keeps the two newest. */
const five: Snapshot[] = [0, 1, 2, 3, 4].map((i) => ({
  name: `bzman_20261201T0${i}0000Z`,
  guid: String(100 + i),
  createtxg: 10 * (i + 1),
  creation: T0 + i * HOUR,
  userrefs: 0,
}));

function host(usageFile: string, extra: Script[] = []): { host: ZfsHost; runner: FakeRunner } {
  const runner = new FakeRunner("h", [
    { match: (a) => a.length === 1 && a[0] === "zfs", stderr: usage(usageFile), code: 2 },
    ...extra,
    { match: () => true, code: 0 },
  ]);
  return { host: new ZfsHost(runner), runner };
}

async function prune(remote: ZfsHost, local: ZfsHost): Promise<DatasetRecord> {
  const record: DatasetRecord = {
    source: "web1",
    dataset: "tank/a",
    target: "bak/tank/a",
    mode: "up-to-date",
    result: "up-to-date",
    steps: 0,
    bytes: 0,
    transferMs: 0,
    to: { name: five[4]!.name, guid: five[4]!.guid },
  };
  await pruneDataset(
    { record },
    { prefix: "bzman", keepSource: { last: 2 }, keepBackup: { last: 2 } },
    { source: listing(ds("tank/a", five)), target: listing(ds("bak/tank/a", five)) },
    { remote, local },
    { now: T0 + 5 * HOUR },
  );
  return record;
}

const destroys = (r: FakeRunner): string[] => r.calls.filter((c) => c[1] === "destroy").map((c) => c[2]!);

test("OpenZFS: three expired snapshots go in one zfs destroy DS@a,b,c on each side", async () => {
  const remote = host("openzfs-2.3-usage.txt");
  const local = host("openzfs-2.1-usage.txt");
  const rec = await prune(remote.host, local.host);
  const names = five.slice(0, 3).map((s) => s.name);
  assert.deepEqual(destroys(remote.runner), [`tank/a@${names.join(",")}`]);
  assert.deepEqual(destroys(local.runner), [`bak/tank/a@${names.join(",")}`]);
  assert.deepEqual(rec.pruned, { source: 3, backup: 3 });
  assert.equal(rec.warnings, undefined);
});

test("zfs-fuse (no comma form): one destroy per snapshot", async () => {
  const remote = host("zfs-fuse-usage.txt");
  const local = host("zfs-fuse-usage.txt");
  const rec = await prune(remote.host, local.host);
  assert.deepEqual(
    destroys(remote.runner),
    five.slice(0, 3).map((s) => `tank/a@${s.name}`),
  );
  assert.deepEqual(rec.pruned, { source: 3, backup: 3 });
});

test("a batch refused because another receiver holds one of them: each is tried alone, the held one stays, no warning", async () => {
  const held = `tank/a@${five[1]!.name}`;
  const busy = "cannot destroy snapshot: dataset is busy";
  const remote = host("openzfs-2.3-usage.txt", [
    { match: (a) => starts("zfs", "destroy")(a) && a[2]!.includes(","), stderr: busy, code: 1 },
    { match: (a) => starts("zfs", "destroy")(a) && a[2] === held, stderr: busy, code: 1 },
  ]);
  const local = host("openzfs-2.3-usage.txt");
  const rec = await prune(remote.host, local.host);
  const d = destroys(remote.runner);
  assert.equal(d.length, 4, d.join("\n"));
  assert.ok(d[0]!.includes(","), "the batch first");
  assert.deepEqual(
    d.slice(1),
    five.slice(0, 3).map((s) => `tank/a@${s.name}`),
  );
  assert.deepEqual(rec.pruned, { source: 2, backup: 3 });
  assert.equal(rec.warnings, undefined);
});
