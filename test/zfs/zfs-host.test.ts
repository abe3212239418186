// ZfsHost's "run, and take this failure as done" (runAccepting): what each operation accepts,
// by the code parse.ts classifies or by a pattern; anything else is a classified BackupError. A
// snapshot whose name is taken is not done: snapshot() says so (false) for the caller to decide.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BackupError } from "../../server/errors.ts";
import { MINIMAL_CAPABILITIES } from "../../server/zfs/capabilities.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import { FakeRunner, starts, type Script } from "../helpers/fake-runner.ts";

const host = (...scripts: Script[]): { h: ZfsHost; r: FakeRunner } => {
  const r = new FakeRunner("local", scripts);
  return { h: new ZfsHost(r), r };
};
const failsWith = (stderr: string, ...argv: string[]): Script => ({ match: starts(...argv), code: 1, stderr });

test("a failure that is what was asked for is done: hold there, tag gone, mounted, scrubbing; a snapshot name taken is said, not done", async () => {
  const { h } = host(
    failsWith("cannot create snapshot 'tank/a@s': dataset already exists\n", "zfs", "snapshot"),
    failsWith("cannot hold snapshot 'tank/a@s': tag already exists on this dataset\n", "zfs", "hold"),
    failsWith("cannot release hold from snapshot 'tank/a@s': no such tag on this dataset\n", "zfs", "release"),
    failsWith("cannot mount 'tank/a': filesystem already mounted\n", "zfs", "mount"),
    failsWith(
      "cannot scrub backup: currently scrubbing; use 'zpool scrub -s' to cancel current scrub\n",
      "zpool",
      "scrub",
    ),
  );
  assert.equal(await h.snapshot("tank/a", "s", false), false, "the snapshot there is an older one");
  await h.hold("bzman.rx", "tank/a", "s");
  await h.release("bzman.rx", "tank/a", "s");
  await h.mount("tank/a", true);
  await h.scrub("backup");
});

test("anything else throws the classified error, with the stderr as detail", async () => {
  const { h } = host(failsWith("cannot hold snapshot 'tank/a@s': dataset is busy\n", "zfs", "hold"));
  await assert.rejects(
    h.hold("bzman.rx", "tank/a", "s"),
    (e: unknown) =>
      e instanceof BackupError &&
      e.code === "ZFS_BUSY" &&
      e.detail === "cannot hold snapshot 'tank/a@s': dataset is busy",
  );
});

test("a pool that is not there is null (classified ZFS_POOL_MISSING); zpool list without -p falls back", async () => {
  const missing = host(failsWith("cannot open 'nope': no such pool\n", "zpool"));
  assert.equal(await missing.h.poolHealth("nope"), null);
  assert.equal(await missing.h.poolStatus("nope"), null);
  const old = host(failsWith("invalid option 'p'\nusage:\n", "zpool", "list", "-H", "-p"), {
    match: starts("zpool", "list"),
    stdout: "backup\tONLINE\t1G\t512M\t512M\t50%\n",
  });
  assert.deepEqual(await old.h.poolStatus("backup"), {
    pool: "backup",
    health: "ONLINE",
    sizeBytes: 2 ** 30,
    allocatedBytes: 2 ** 29,
    freeBytes: 2 ** 29,
    capacity: 0.5,
  });
  assert.deepEqual(
    old.r.calls.map((a) => a.includes("-p")),
    [true, false],
  );
});

test("a zfs without receive -o: the five safe properties are all set, at once; one that fails fails the securing, after the others ran", async () => {
  const sets: Script = { match: starts("zfs", "set"), delayMs: 50 };
  const ok = host(sets);
  ok.h.assumeCapabilities(MINIMAL_CAPABILITIES);
  const securing = ok.h.secureReceived("bak/tank/a", "filesystem");
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(ok.r.calls.length, 5, "all five started before the first (50 ms) ended");
  await securing;
  assert.deepEqual(
    ok.r.calls.map((a) => a.join(" ")),
    ["readonly=on", "canmount=noauto", "setuid=off", "exec=off", "devices=off"].map((p) => `zfs set ${p} bak/tank/a`),
  );
  const bad = host(
    failsWith("cannot set property for 'bak/tank/a': permission denied\n", "zfs", "set", "exec=off"),
    sets,
  );
  bad.h.assumeCapabilities(MINIMAL_CAPABILITIES);
  await assert.rejects(bad.h.secureReceived("bak/tank/a", "filesystem"), /permission denied/);
  assert.equal(bad.r.calls.length, 5, "every set was run");
  const withO = host();
  withO.h.assumeCapabilities({ ...MINIMAL_CAPABILITIES, receiveProperties: true });
  await withO.h.secureReceived("bak/tank/a", "filesystem");
  assert.deepEqual(withO.r.calls, [], "receive -o set them: nothing to run");
});
