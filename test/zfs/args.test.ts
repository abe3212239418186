import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { commonStreamFlags, parseCapabilities, MINIMAL_CAPABILITIES } from "../../server/zfs/capabilities.ts";
import { createContainerArgs, listArgs, receiveArgs, sendArgs, destroyBookmarkArgs } from "../../server/zfs/args.ts";
import { snaps } from "../helpers/snapshots.ts";
import type { Snapshot } from "../../server/core/model.ts";
import type { BackupError } from "../../server/errors.ts";

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/zfs/${name}`, import.meta.url), "utf8");
const zfsFuse = parseCapabilities(fixture("zfs-fuse-usage.txt"));
const openzfs = parseCapabilities(fixture("openzfs-2.1-usage.txt"));
const openzfs23 = parseCapabilities(fixture("openzfs-2.3-usage.txt"));

test("capabilities: zfs-fuse has holds only", () => {
  assert.deepEqual(zfsFuse, { ...MINIMAL_CAPABILITIES, holds: true, zvols: true });
  assert.deepEqual(commonStreamFlags(openzfs, zfsFuse), [], "an old receiver gets a plain stream");
});

test("capabilities: OpenZFS 2.1 has everything", () => {
  assert.deepEqual(openzfs, {
    listParsable: true,
    holds: true,
    bookmarks: true,
    resume: true,
    rawSend: true,
    receiveProperties: true,
    receiveExclude: true,
    volmode: true,
    sendEstimate: true,
    zvols: true,
    listJson: false,
    destroyMany: true,
    streamFlags: ["-L", "-e", "-c"],
  });
  assert.deepEqual(commonStreamFlags(openzfs, openzfs), ["-L", "-e", "-c"]);
});

test("capabilities: OpenZFS 2.3 (its send usage wraps over two lines) has the same, and list -j", () => {
  assert.deepEqual(openzfs23, { ...openzfs, listJson: true });
  assert.deepEqual(commonStreamFlags(openzfs23, openzfs), ["-L", "-e", "-c"]);
});

test("listArgs: zfs get on old ZFS, zfs list -p where probed", () => {
  assert.deepEqual(listArgs(["tank", "data/x"], zfsFuse, true), [
    "zfs",
    "get",
    "-H",
    "-p",
    "-o",
    "name,property,value",
    "guid,createtxg,creation,type,userrefs",
    "-r",
    "tank",
    "data/x",
  ]);
  assert.deepEqual(listArgs(["backup/w"], openzfs, true), [
    "zfs",
    "list",
    "-H",
    "-p",
    "-o",
    "name,type,guid,createtxg,creation,userrefs,receive_resume_token",
    "-t",
    "filesystem,volume,snapshot",
    "-r",
    "backup/w",
  ]);
  assert.deepEqual(listArgs(["tank"], openzfs, false, true), [
    "zfs",
    "list",
    "-H",
    "-p",
    "-o",
    "name,type,guid,createtxg,creation,userrefs",
    "-t",
    "filesystem,volume,snapshot,bookmark",
    "-r",
    "tank",
  ]);
  assert.deepEqual(
    listArgs(["tank"], zfsFuse, false, true).slice(0, 2),
    ["zfs", "get"],
    "no bookmarks where zfs has none",
  );
  assert.deepEqual(
    listArgs(["tank"], openzfs, false, true, true),
    [
      "zfs",
      "list",
      "-H",
      "-p",
      "-o",
      "name,type,guid,createtxg,creation,userrefs,bzman:backup",
      "-t",
      "filesystem,volume,snapshot,bookmark",
      "-r",
      "tank",
    ],
    "the selection property in the same listing",
  );
  assert.deepEqual(listArgs(["tank"], zfsFuse, false, true, true), [
    "zfs",
    "get",
    "-H",
    "-p",
    "-o",
    "name,property,value",
    "guid,createtxg,creation,type,userrefs,bzman:backup",
    "-r",
    "tank",
  ]);
});

test("sendArgs: full, -I, -i, resume; never -p or -R", () => {
  const [a, c] = snaps("a", "c") as [Snapshot, Snapshot];
  const base = { sourceDataset: "tank/x", targetDataset: "b/w/tank/x" };
  assert.deepEqual(sendArgs({ ...base, kind: "full", to: a, intermediates: false }), ["zfs", "send", "tank/x@a"]);
  assert.deepEqual(sendArgs({ ...base, kind: "incremental", from: a, to: c, intermediates: true }), [
    "zfs",
    "send",
    "-I",
    "tank/x@a",
    "tank/x@c",
  ]);
  assert.deepEqual(sendArgs({ ...base, kind: "incremental", from: a, to: c, intermediates: false }), [
    "zfs",
    "send",
    "-i",
    "tank/x@a",
    "tank/x@c",
  ]);
  assert.deepEqual(sendArgs({ ...base, kind: "resume", resumeToken: "1-ab", intermediates: false }), [
    "zfs",
    "send",
    "-t",
    "1-ab",
  ]);
  assert.deepEqual(
    sendArgs(
      { ...base, kind: "resume", resumeToken: "1-ab", intermediates: false },
      { flags: ["-L", "-c"], raw: true },
    ),
    ["zfs", "send", "-t", "1-ab"],
    "the token carries the stream's flags",
  );
  // From a bookmark only -i exists: zfs cannot send the snapshots between (they are gone).
  assert.deepEqual(
    sendArgs({ ...base, kind: "incremental", from: a, fromBookmark: true, to: c, intermediates: true }),
    ["zfs", "send", "-i", "tank/x#a", "tank/x@c"],
  );
});

test("receiveArgs: -u always, never -F; -s, -o safety properties and the inert defaults where supported", () => {
  assert.deepEqual(receiveArgs("b/w/x", zfsFuse, { full: true, type: "filesystem" }), [
    "zfs",
    "receive",
    "-u",
    "b/w/x",
  ]);
  assert.deepEqual(receiveArgs("b/w/x", openzfs, { full: true, type: "filesystem" }), [
    "zfs",
    "receive",
    "-u",
    "-s",
    "-o",
    "readonly=on",
    "-o",
    "canmount=noauto",
    "-o",
    "setuid=off",
    "-o",
    "exec=off",
    "-o",
    "devices=off",
    "-x",
    "mountpoint",
    "-x",
    "sharenfs",
    "-x",
    "sharesmb",
    "b/w/x",
  ]);
  assert.deepEqual(receiveArgs("b/w/v", openzfs, { full: true, type: "volume" }), [
    "zfs",
    "receive",
    "-u",
    "-s",
    "-o",
    "readonly=on",
    "-o",
    "volmode=none",
    "b/w/v",
  ]);
  assert.deepEqual(receiveArgs("b/w/x", openzfs, { full: false, type: "filesystem" }), [
    "zfs",
    "receive",
    "-u",
    "-s",
    "b/w/x",
  ]);
  for (const c of [zfsFuse, openzfs])
    assert.ok(!receiveArgs("b/w/x", c, { full: false, type: "filesystem" }).includes("-F"));
});

test("receiveArgs: the operator's receive_set and receive_exclude on full receives; refused where zfs lacks -o/-x", () => {
  const configured = {
    exclude: ["atime", "mountpoint"],
    set: [
      ["compression", "zstd"],
      ["com.example:tier", "cold"],
    ] as Array<[string, string]>,
  };
  assert.deepEqual(receiveArgs("b/w/x", openzfs, { full: true, type: "filesystem", configured }), [
    "zfs",
    "receive",
    "-u",
    "-s",
    "-o",
    "readonly=on",
    "-o",
    "canmount=noauto",
    "-o",
    "setuid=off",
    "-o",
    "exec=off",
    "-o",
    "devices=off",
    "-o",
    "compression=zstd",
    "-o",
    "com.example:tier=cold",
    "-x",
    "mountpoint",
    "-x",
    "sharenfs",
    "-x",
    "sharesmb",
    "-x",
    "atime",
    "b/w/x",
  ]);
  assert.deepEqual(
    receiveArgs("b/w/x", openzfs, { full: false, type: "filesystem", configured }),
    ["zfs", "receive", "-u", "-s", "b/w/x"],
    "an incremental keeps what the full receive set",
  );
  assert.throws(
    () => receiveArgs("b/w/x", zfsFuse, { full: true, type: "filesystem", configured }),
    (e: BackupError) =>
      e.code === "ZFS_UNSUPPORTED" && /receive_exclude \(atime, mountpoint\) needs zfs receive -x/.test(e.message),
  );
  assert.throws(
    () =>
      receiveArgs("b/w/x", zfsFuse, {
        full: false,
        type: "filesystem",
        configured: { exclude: [], set: [["compression", "on"]] },
      }),
    /receive_set \(compression\) needs zfs receive -o/,
    "refused on every receive, so a config that cannot work fails from the first pass",
  );
  assert.deepEqual(
    receiveArgs("b/w/x", zfsFuse, { full: true, type: "filesystem", configured: { exclude: [], set: [] } }),
    ["zfs", "receive", "-u", "b/w/x"],
  );
});

test("createContainerArgs: never mounted, read-only, nothing executable", () => {
  assert.deepEqual(createContainerArgs("b/w"), [
    "zfs",
    "create",
    "-o",
    "readonly=on",
    "-o",
    "canmount=off",
    "-o",
    "setuid=off",
    "-o",
    "exec=off",
    "-o",
    "devices=off",
    "b/w",
  ]);
});

test("destroyBookmarkArgs: only this receiver's own bookmarks (and the unsuffixed ones from before instances)", () => {
  const own = { prefix: "bzman", instance: "b1" };
  assert.deepEqual(destroyBookmarkArgs("tank/x", "bzman_20261201T073000Z.b1", own), [
    "zfs",
    "destroy",
    "tank/x#bzman_20261201T073000Z.b1",
  ]);
  assert.deepEqual(destroyBookmarkArgs("tank/x", "bzman_20261201T073000Z", own), [
    "zfs",
    "destroy",
    "tank/x#bzman_20261201T073000Z",
  ]);
  for (const [d, n] of [
    ["tank/x", "manual"],
    ["tank/x", "bzman_1"],
    ["tank/x", "bzman_20261201T073000Z.b2"],
    ["tank/x", "bzman_dr_20261201T073000Z.b1"],
    ["tank/x@a", "bzman_20261201T073000Z.b1"],
    ["tank/x", "bzman_20261201T073000Z.b1#2"],
    ["tank/x", "bzman_20261201T073000Z@2"],
  ]) {
    assert.throws(
      () => destroyBookmarkArgs(d!, n!, own),
      (e: Error & { code?: string }) => e.code === "UNSAFE_ARGUMENT" && /refusing/.test(e.message),
      `${d}#${n}`,
    );
  }
});

test("destroySnapshotArgs: only bzman's own snapshots, never a dataset", async () => {
  const { destroySnapshotArgs, snapshotArgs, holdArgs } = await import("../../server/zfs/args.ts");
  assert.deepEqual(destroySnapshotArgs("tank/a", "bzman_20261126T000000Z", "bzman"), [
    "zfs",
    "destroy",
    "tank/a@bzman_20261126T000000Z",
  ]);
  assert.throws(() => destroySnapshotArgs("tank/a", "manual", "bzman"), /refusing to destroy/);
  assert.throws(() => destroySnapshotArgs("tank/a", "bzmanx", "bzman"), /refusing to destroy/);
  assert.throws(() => destroySnapshotArgs("tank/a@x", "bzman_1", "bzman"), /refusing to destroy/);
  assert.deepEqual(snapshotArgs("tank", "bzman_1", true), ["zfs", "snapshot", "-r", "tank@bzman_1"]);
  assert.deepEqual(holdArgs("bzman-common", "tank/a", "bzman_1"), ["zfs", "hold", "bzman-common", "tank/a@bzman_1"]);
});
