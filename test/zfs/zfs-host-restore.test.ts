// ZfsHost's questions and moves for getting data back, against scripted zfs answers: what was
// written after the newest snapshot (absent on zfs-fuse), whether a dataset is mounted, and a
// rename aside that falls back to `-u` only where the account may not unmount.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import { FakeRunner, type Script } from "../helpers/fake-runner.ts";

const host = (scripts: Script[]): { zfs: ZfsHost; runner: FakeRunner } => {
  const runner = new FakeRunner("web1", scripts);
  return { zfs: new ZfsHost(runner), runner };
};
const is =
  (line: string) =>
  (argv: string[]): boolean =>
    argv.join(" ") === line;

test("writtenSinceSnapshot: the byte count; null where zfs has no `written` or the guard predates the question; other failures throw", async () => {
  const ask = "zfs get -H -p -o name,property,value written tank/www";
  assert.equal(
    await host([{ match: is(ask), stdout: "tank/www\twritten\t4096\n" }]).zfs.writtenSinceSnapshot("tank/www"),
    4096,
  );
  assert.equal(
    await host([
      { match: is(ask), code: 2, stderr: "bad property list: invalid property 'written'\nusage:\n" },
    ]).zfs.writtenSinceSnapshot("tank/www"),
    null,
  );
  assert.equal(
    await host([
      { match: is(ask), code: 255, stderr: "bzman-guard: rejected: this key may only run bzman's zfs commands\n" },
    ]).zfs.writtenSinceSnapshot("tank/www"),
    null,
  );
  await assert.rejects(
    host([
      { match: is(ask), code: 1, stderr: "cannot open 'tank/www': dataset does not exist\n" },
    ]).zfs.writtenSinceSnapshot("tank/www"),
    /dataset does not exist/,
  );
  await assert.rejects(
    host([{ match: is(ask), stdout: "tank/www\twritten\t-\n" }]).zfs.writtenSinceSnapshot("tank/www"),
    /not a byte count/,
  );
});

test("mounted: yes or no; null when the guard refuses the question", async () => {
  const ask = "zfs get -H -p -o name,property,value mounted tank/www";
  assert.equal(await host([{ match: is(ask), stdout: "tank/www\tmounted\tyes\n" }]).zfs.mounted("tank/www"), true);
  assert.equal(await host([{ match: is(ask), stdout: "tank/www\tmounted\tno\n" }]).zfs.mounted("tank/www"), false);
  assert.equal(
    await host([{ match: is(ask), code: 255, stderr: "bzman-guard: rejected: zfs get shape\n" }]).zfs.mounted(
      "tank/www",
    ),
    null,
  );
});

test("renameAside: a plain rename first; -u only after permission denied (it then stays mounted); any other failure as it was", async () => {
  const plain = "zfs rename tank/www tank/www.before-failback-20261201T000000Z";
  const keep = "zfs rename -u tank/www tank/www.before-failback-20261201T000000Z";
  const ok = host([{ match: is(plain) }]);
  assert.deepEqual(await ok.zfs.renameAside("tank/www", "tank/www.before-failback-20261201T000000Z"), {
    stillMounted: false,
  });
  assert.deepEqual(
    ok.runner.calls.map((c) => c.join(" ")),
    [plain],
  );
  const linux = host([
    { match: is(plain), code: 1, stderr: "cannot unmount '/tank/www': permission denied\n" },
    { match: is(keep) },
  ]);
  assert.deepEqual(await linux.zfs.renameAside("tank/www", "tank/www.before-failback-20261201T000000Z"), {
    stillMounted: true,
  });
  const noFlag = host([
    { match: is(plain), code: 1, stderr: "cannot unmount '/tank/www': permission denied\n" },
    { match: is(keep), code: 2, stderr: "invalid option 'u'\n" },
  ]);
  await assert.rejects(
    noFlag.zfs.renameAside("tank/www", "tank/www.before-failback-20261201T000000Z"),
    (e: Error & { code?: string }) => e.code === "ZFS_PERMISSION" && /permission denied/.test(e.message),
  );
  const other = host([
    {
      match: is(plain),
      code: 1,
      stderr: "cannot rename to 'tank/www.before-failback-20261201T000000Z': dataset already exists\n",
    },
    { match: is(keep) },
  ]);
  await assert.rejects(
    other.zfs.renameAside("tank/www", "tank/www.before-failback-20261201T000000Z"),
    /already exists/,
  );
  assert.equal(other.runner.calls.length, 1, "no -u after a failure that is not a permission");
});
