import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  missingDatasets,
  onlyMissingDatasets,
  parseGetListing,
  parseListListing,
  stderrHeadline,
  tryClassifyStderr,
} from "../../server/zfs/parse.ts";
import { BackupError } from "../../server/errors.ts";

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/zfs/${name}`, import.meta.url), "utf8");

test("parseGetListing: zfs-fuse listing groups snapshots under datasets, ordered by createtxg", () => {
  const l = parseGetListing(fixture("zfs-fuse-get-listing.txt"));
  assert.deepEqual([...l.keys()], ["zxs/a", "zxs/a/c1"]);
  const a = l.get("zxs/a")!;
  assert.equal(a.type, "filesystem");
  assert.deepEqual(
    a.snapshots.map((s) => s.name),
    ["s1", "s2", "s3", "s4", "s5", "s6", "s7"],
  );
  assert.equal(a.snapshots[0]!.guid, "8984058866883884556");
  assert.ok(a.snapshots.every((s, i, all) => i === 0 || s.createtxg > all[i - 1]!.createtxg));
  assert.equal(l.get("zxs/a/c1")!.snapshots.length, 1);
});

test("parseListListing: OpenZFS rows, 64-bit GUIDs kept exact, bookmarks apart from snapshots, resume token read", () => {
  const l = parseListListing(fixture("openzfs-2.1-list-listing.txt"), true);
  assert.deepEqual([...l.keys()], ["tank", "tank/vm", "tank/vm/disk0", "backup/in"]);
  assert.equal(l.get("tank/vm")!.snapshots[0]!.guid, "18446744073709551615");
  assert.equal(l.get("tank/vm")!.snapshots.length, 1);
  assert.deepEqual(l.get("tank/vm")!.bookmarks, [
    { name: "bm1", guid: "18446744073709551615", createtxg: 100, creation: 1700000100 },
  ]);
  assert.equal(l.get("tank")!.bookmarks, undefined);
  assert.equal(l.get("tank")!.snapshots[0]!.userrefs, 1);
  assert.equal(l.get("tank/vm/disk0")!.type, "volume");
  assert.equal(l.get("backup/in")!.resumeToken, "1-e604ea4bf-e0-789c63a2");
  assert.equal(l.get("tank")!.resumeToken, undefined);
});

test("both listing forms read bzman:backup as the dataset's select value; '-' (not set) reads as absent", () => {
  const T = "\t";
  const list = [
    ["tank", "filesystem", "1", "10", "1700000000", "-", "-"],
    ["tank/scratch", "filesystem", "2", "11", "1700000001", "-", "off"],
    ["tank/scratch@s1", "snapshot", "3", "12", "1700000002", "0", "off"],
    ["tank/scratch/keep", "filesystem", "4", "13", "1700000003", "-", "on"],
  ]
    .map((r) => r.join(T))
    .join("\n");
  const l = parseListListing(list, false, true);
  assert.deepEqual(
    [...l.values()].map((d) => [d.name, d.select]),
    [
      ["tank", undefined],
      ["tank/scratch", "off"],
      ["tank/scratch/keep", "on"],
    ],
  );
  assert.equal(l.get("tank/scratch")!.snapshots.length, 1);
  assert.throws(
    () => parseListListing(list, false, false),
    /expected 6 tab-separated fields, got 7/,
    "the column count follows what was asked",
  );
  const get = ["guid", "createtxg", "creation", "type", "userrefs", "bzman:backup"]
    .flatMap((p, i) => [
      ["tank", p, ["1", "10", "1700000000", "filesystem", "-", "-"][i]!],
      ["tank/scratch", p, ["2", "11", "1700000001", "filesystem", "-", "off"][i]!],
    ])
    .map((r) => r.join(T))
    .join("\n");
  const g = parseGetListing(get);
  assert.deepEqual(
    [...g.values()].map((d) => [d.name, d.select]),
    [
      ["tank", undefined],
      ["tank/scratch", "off"],
    ],
  );
});

test("parsers are strict: wrong field counts, unknown properties and non-numbers are ZFS_PARSE", () => {
  const bad = [
    "tank\tguid",
    "tank\tguid\t1\textra",
    "tank\tused\t5",
    "tank\tguid\tabc\ntank\tcreatetxg\t1\ntank\tcreation\t1\ntank\ttype\tfilesystem",
  ];
  for (const text of bad)
    assert.throws(
      () => parseGetListing(text),
      (e: unknown) => e instanceof BackupError && e.code === "ZFS_PARSE",
      text,
    );
  assert.throws(
    () => parseListListing("tank\tfilesystem\t1\t1", false),
    (e: unknown) => e instanceof BackupError && e.code === "ZFS_PARSE",
  );
  assert.throws(() => parseListListing("tank\tweird\t1\t1\t1\t-", false), /unexpected type/);
});

test("missingDatasets: names from 'dataset does not exist' lines", () => {
  const err = fixture("zfs-fuse-get-listing.stderr");
  assert.deepEqual(missingDatasets(err), ["zxs/nope"]);
  assert.equal(onlyMissingDatasets(err), true);
  assert.equal(onlyMissingDatasets(`${err}cannot open 'x': permission denied\n`), false);
  assert.equal(onlyMissingDatasets(""), false);
});

const classified: Array<[string, string]> = [
  ["zfs-fuse-recv-mismatch.stderr", "ZFS_SNAPSHOT_MISMATCH"],
  ["zfs-fuse-recv-exists.stderr", "ZFS_DEST_EXISTS"],
  ["zfs-fuse-recv-truncated.stderr", "ZFS_INVALID_STREAM"],
  ["zfs-fuse-destroy-busy.stderr", "ZFS_BUSY"],
  ["zfs-fuse-recv-nopool.stderr", "ZFS_DATASET_MISSING"],
];
for (const [file, code] of classified) {
  test(`tryClassifyStderr: ${file} → ${code}`, () => assert.equal(tryClassifyStderr(fixture(file)), code));
}

test("tryClassifyStderr: OpenZFS and guard messages; unknown text is null", () => {
  assert.equal(
    tryClassifyStderr(
      "cannot receive incremental stream: destination backup/x has been modified\nsince most recent snapshot",
    ),
    "ZFS_DEST_MODIFIED",
  );
  assert.equal(
    tryClassifyStderr(
      'cannot receive new filesystem stream: destination backup/x contains partially-complete state from "zfs receive -s".',
    ),
    "ZFS_RECV_RESUMABLE",
  );
  assert.equal(tryClassifyStderr("cannot open 'x': permission denied"), "ZFS_PERMISSION");
  assert.equal(tryClassifyStderr("cannot receive: out of space"), "ZFS_NO_SPACE");
  assert.equal(tryClassifyStderr("bzman-guard: rejected: zfs set"), "GUARD_REJECTED");
  assert.equal(tryClassifyStderr("something new"), null);
});

test("stderrHeadline: the 'cannot' line, unwrapped", () => {
  assert.equal(
    stderrHeadline(fixture("zfs-fuse-recv-mismatch.stderr")),
    "cannot receive incremental stream: most recent snapshot of zxb/web1/zxs/a does not match incremental source",
  );
  assert.equal(stderrHeadline("warning: x\nfinal words\n"), "final words");
  assert.equal(
    stderrHeadline(fixture("zfs-fuse-recv-exists.stderr")),
    "cannot receive new filesystem stream: destination 'zxb/web1/zxs/a' exists",
  );
});

test("parseSendEstimate: OpenZFS `send -n -P` output", async () => {
  const { parseSendEstimate } = await import("../../server/zfs/parse.ts");
  assert.equal(parseSendEstimate("incremental\ttank/a@s1\ttank/a@s3\t81920\nsize\t81920\n"), 81920);
  assert.equal(parseSendEstimate("full\ttank/a@s1\t3236952\nsize\t3236952\n"), 3236952);
  assert.equal(parseSendEstimate(""), null);
});

test("parsePoolStatus: zfs-fuse's human sizes and OpenZFS's -p numbers", async () => {
  const { parsePoolStatus, parseSize } = await import("../../server/zfs/parse.ts");
  assert.deepEqual(parsePoolStatus("pzt\tONLINE\t95.5M\t136K\t95.4M\t0%\n"), {
    pool: "pzt",
    health: "ONLINE",
    sizeBytes: 100139008,
    allocatedBytes: 139264,
    freeBytes: 100034150,
    capacity: 0,
  });
  assert.deepEqual(parsePoolStatus("tank\tDEGRADED\t1000000\t800000\t200000\t80\n"), {
    pool: "tank",
    health: "DEGRADED",
    sizeBytes: 1000000,
    allocatedBytes: 800000,
    freeBytes: 200000,
    capacity: 0.8,
  });
  assert.equal(parseSize("1.5G"), 1610612736);
  assert.throws(() => parseSize("lots"), /not a size/);
  assert.throws(() => parsePoolStatus("tank\tONLINE\n"), /expected 6 fields/);
});

test("parseScrubStatus: zfs-fuse and OpenZFS, finished, running and with errors", async () => {
  const { parseScrubStatus } = await import("../../server/zfs/parse.ts");
  const { readFileSync } = await import("node:fs");
  const fx = (name: string): string => readFileSync(new URL(`../fixtures/zfs/${name}`, import.meta.url), "utf8");
  assert.deepEqual(parseScrubStatus(fx("zfs-fuse-status-scrub-errors.txt"), "pz2"), {
    state: "finished",
    errors: 8,
    dataErrors: 1,
    checksumErrors: 8,
  });
  assert.deepEqual(parseScrubStatus(fx("zfs-fuse-status-scrub-running.txt"), "pz1"), {
    state: "running",
    errors: null,
    percent: 42.5,
    dataErrors: 0,
    checksumErrors: 0,
  });
  assert.deepEqual(parseScrubStatus(fx("openzfs-2.1-status-scrub.txt"), "backup"), {
    state: "finished",
    errors: 0,
    dataErrors: 0,
    checksumErrors: 0,
  });
  assert.deepEqual(parseScrubStatus(fx("openzfs-2.1-status-scrub-running.txt"), "backup"), {
    state: "running",
    errors: null,
    percent: 25.23,
    dataErrors: 0,
    checksumErrors: 0,
  });
  assert.equal(
    parseScrubStatus("  pool: p\n state: ONLINE\n scrub: none requested\nerrors: No known data errors\n", "p").state,
    "none",
  );
  assert.equal(
    parseScrubStatus("  pool: p\n state: ONLINE\n  scan: scrub canceled on Fri Nov 27 02:00:14 2026\n", "p").state,
    "canceled",
  );
  assert.throws(() => parseScrubStatus("garbage", "p"), /no state line/);
});

test("parseGetListing: rows of one dataset need not be consecutive; a name that prefixes the next is not confused with it", async () => {
  const { parseGetListing } = await import("../../server/zfs/parse.ts");
  const rows = [
    "tank/a\tguid\t1",
    "tank/ab\tguid\t2",
    "tank/a\tcreatetxg\t1",
    "tank/ab\tcreatetxg\t1",
    "tank/a\tcreation\t5",
    "tank/a\ttype\tfilesystem",
    "tank/ab\tcreation\t5",
    "tank/ab\ttype\tfilesystem",
    "tank/a@s\tguid\t11",
    "tank/a@s\tcreatetxg\t9",
    "tank/a@s\tcreation\t6",
    "tank/a@s\ttype\tsnapshot",
    "tank/ab@s\tguid\t22",
    "tank/ab@s\tcreatetxg\t8",
    "tank/ab@s\tcreation\t6",
    "tank/ab@s\ttype\tsnapshot",
  ];
  const l = parseGetListing(`${rows.join("\n")}\n`);
  assert.deepEqual([...l.keys()], ["tank/a", "tank/ab"]);
  assert.deepEqual(
    l.get("tank/a")!.snapshots.map((s) => s.guid),
    ["11"],
  );
  assert.deepEqual(
    l.get("tank/ab")!.snapshots.map((s) => [s.guid, s.createtxg]),
    [["22", 8]],
  );
  assert.throws(() => parseGetListing("tank/a\tguid\n"), /line 1: expected 3 tab-separated fields, got 2/);
  assert.throws(
    () => parseGetListing("tank/a\tguid\t1\n\ntank/a\tguid\t1\textra\n"),
    /line 3: expected 3 tab-separated fields, got 4/,
  );
  assert.throws(() => parseGetListing("tank/a\tcolour\tred\n"), /unexpected property "colour"/);
});

test("parseListListing: listings recorded on OpenZFS 2.1.11 (resume token, volume, bookmark)", () => {
  const l = parseListListing(fixture("openzfs-2.1-vm-listing.txt"), true);
  assert.match(l.get("dst/backup/src/data")!.resumeToken ?? "", /^1-[0-9a-f]+-[0-9a-f]+-789c/);
  assert.equal(l.get("src/vol")!.type, "volume");
  assert.equal(l.get("dst/backup/src/vol")!.type, "volume");
  // The backup's snapshots carry the source's GUIDs: that is what the planner matches on.
  const srcGuids = new Set(l.get("src/data")!.snapshots.map((s) => s.guid));
  assert.ok(l.get("dst/backup/src/data")!.snapshots.every((s) => srcGuids.has(s.guid)));
  const b = parseListListing(fixture("openzfs-2.1-vm-listing-bookmarks.txt"), false);
  const data = b.get("src/data")!;
  assert.equal(data.bookmarks?.length, 1);
  assert.equal(data.bookmarks![0]!.guid, data.snapshots.at(-1)!.guid, "a bookmark has its snapshot's GUID");
});
