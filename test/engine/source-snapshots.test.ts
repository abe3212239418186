// Taking the pass's snapshots (engine/source-snapshots.ts) when the name is taken already: a
// snapshot of the same second (a failback's, another pass's) may lack what was written since, so
// the pass takes its own under a later second's name, or says the root could not be snapshotted.
// The integration tier (restore.test.ts: a pass right after a failback) proves it on real ZFS.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BackupError } from "../../server/errors.ts";
import { takeFreshSnapshot, takeSnapshots } from "../../server/engine/source-snapshots.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import { FakeRunner, type Script } from "../helpers/fake-runner.ts";

const N0 = "bzman_20261202T170306Z";
const N1 = "bzman_20261202T170307Z";
const N2 = "bzman_20261202T170308Z";
const exists = (taken: string[]): Script => ({
  match: (a) => a[1] === "snapshot" && taken.some((n) => a.at(-1)!.endsWith(`@${n}`)),
  code: 1,
  stderr: `cannot create snapshot 'x': dataset already exists\n`,
});
const snapshotOk: Script = { match: (a) => a[1] === "snapshot" };
const host = (taken: string[]): { h: ZfsHost; r: FakeRunner } => {
  const r = new FakeRunner("web1", [exists(taken), snapshotOk]);
  return { h: new ZfsHost(r), r };
};
/** A clock of names: each call gives the next second's. */
const names = (...n: string[]): (() => string) => {
  let i = 0;
  return () => n[Math.min(i++, n.length - 1)]!;
};
const snapshotsAsked = (r: FakeRunner): string[] => r.calls.filter((a) => a[1] === "snapshot").map((a) => a.at(-1)!);

test("a taken name: the snapshot is taken under the next second's name, and the pass knows which", async () => {
  const { h, r } = host([N0]);
  const out = await takeSnapshots(
    h,
    [
      { name: "tank", recursive: true },
      { name: "data/db", recursive: false },
    ],
    { name: N0, prefix: "bzman", nameNow: names(N1) },
  );
  assert.deepEqual(out.errors, new Map());
  assert.deepEqual(out.taken, [
    { root: "tank", recursive: true, name: N1 },
    { root: "data/db", recursive: false, name: N1 },
  ]);
  assert.deepEqual(snapshotsAsked(r), [`tank@${N0}`, `tank@${N1}`, `data/db@${N0}`, `data/db@${N1}`]);
});

test("a name that is free is taken as it is, with one command", async () => {
  const { h, r } = host([]);
  const out = await takeSnapshots(h, [{ name: "tank", recursive: true }], { name: N0, nameNow: names(N1) });
  assert.deepEqual(out.taken, [{ root: "tank", recursive: true, name: N0 }]);
  assert.deepEqual(snapshotsAsked(r), [`tank@${N0}`]);
});

test("a taken name with no clock to move on, or taken for three seconds on: that root's error, nothing claimed", async () => {
  const noClock = await takeSnapshots(host([N0]).h, [{ name: "tank", recursive: true }], { name: N0 });
  assert.deepEqual(noClock.taken, []);
  const e = noClock.errors.get("tank");
  assert.ok(e instanceof BackupError && e.code === "ZFS_DEST_EXISTS", String(e));
  assert.match(e.message, /web1:tank@bzman_20261202T170306Z exists already \(there or on a child\)/);

  const { h, r } = host([N0, N1, N2]);
  await assert.rejects(
    takeFreshSnapshot(h, "tank", false, N0, names(N1, N2, "bzman_20261202T170309Z")),
    (err: unknown) =>
      err instanceof BackupError && err.code === "ZFS_DEST_EXISTS" && /@bzman_20261202T170308Z/.test(err.message),
  );
  assert.deepEqual(snapshotsAsked(r), [`tank@${N0}`, `tank@${N1}`, `tank@${N2}`]);
});

test("the clock still in the taken second: waits for the next one, then takes it", async () => {
  const { h, r } = host([N0]);
  const t0 = Date.now();
  // The first look at the clock is still N0's second; the next is N1's.
  const name = await takeFreshSnapshot(h, "tank", true, N0, names(N0, N1));
  assert.equal(name, N1);
  assert.ok(Date.now() - t0 >= 5, "it waited for the second to turn");
  assert.deepEqual(snapshotsAsked(r), [`tank@${N0}`, `tank@${N1}`]);
});
