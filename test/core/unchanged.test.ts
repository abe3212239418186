import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FULL_LISTING_EVERY,
  rootIsClean,
  rootsAllowSkip,
  rootWays,
  SETTLE_SECONDS,
  targetMemoable,
  targetMemoHolds,
  type DatasetMark,
  type Marks,
  type RootMemo,
} from "../../server/core/unchanged.ts";
import { parseMarks, parseTargetMarks } from "../../server/zfs/parse.ts";
import { ds, listing, snaps } from "../helpers/snapshots.ts";

const mark = (extra: Partial<DatasetMark> = {}): DatasetMark => ({
  guid: "1",
  written: 0,
  snapshotsChanged: "1796000000",
  select: "-",
  ...extra,
});
const root = { name: "tank", recursive: true, exclude: [{ pattern: "tmp", re: /^tmp$/ }] };
const marks = (over: Record<string, Partial<DatasetMark>> = {}): Marks =>
  new Map(["tank", "tank/a", "tank/tmp"].map((n) => [n, mark(over[n])]));
const memoOf = (m: Marks, reused = 0): Map<string, RootMemo> =>
  new Map([["tank", { marks: m, listing: new Map(), reused }]]);

test("rootWays: nothing written and the marks as memoized: unchanged; without a memo: check; a write: snapshot", () => {
  const m = marks();
  assert.equal(rootWays([root], m, memoOf(marks()), true).get("tank"), "unchanged");
  assert.equal(rootWays([root], m, new Map(), true).get("tank"), "check");
  assert.equal(rootWays([root], marks({ "tank/a": { written: 8192 } }), memoOf(marks()), true).get("tank"), "snapshot");
});

test("rootWays: what an excluded dataset does is not a change (written, snapshots); a new dataset, a new GUID or a changed bzman:backup is", () => {
  const memo = memoOf(marks());
  const excludedBusy = marks({ "tank/tmp": { written: 1 << 20, snapshotsChanged: "1796009999" } });
  assert.equal(rootWays([root], excludedBusy, memo, true).get("tank"), "unchanged");
  const grown = marks();
  grown.set("tank/new", mark());
  assert.equal(rootWays([root], grown, memo, true).get("tank"), "check");
  assert.equal(rootWays([root], marks({ "tank/a": { guid: "2" } }), memo, true).get("tank"), "check");
  assert.equal(rootWays([root], marks({ "tank/a": { select: "off" } }), memo, true).get("tank"), "check");
  // Switched off by the property, its writes no longer count.
  const off = marks({ "tank/a": { select: "off", written: 4096 } });
  assert.equal(rootWays([root], off, memoOf(marks({ "tank/a": { select: "off" } })), true).get("tank"), "unchanged");
});

test("rootWays: no snapshots_changed (OpenZFS 2.1, or unset): never unchanged; a memo reused FULL_LISTING_EVERY times: check", () => {
  const none = marks({ tank: { snapshotsChanged: undefined }, "tank/a": { snapshotsChanged: undefined } });
  assert.equal(rootWays([root], none, memoOf(none), true).get("tank"), "check");
  // Unset ("-": nothing made or destroyed since it could be recorded) is a value like any other.
  const unset = marks({ "tank/a": { snapshotsChanged: null } });
  assert.equal(rootWays([root], unset, memoOf(unset), true).get("tank"), "unchanged");
  assert.equal(rootWays([root], marks(), memoOf(unset), true).get("tank"), "check");
  assert.equal(rootWays([root], marks(), memoOf(marks(), FULL_LISTING_EVERY), true).get("tank"), "check");
  assert.equal(rootWays([root], marks(), memoOf(marks(), FULL_LISTING_EVERY - 1), true).get("tank"), "unchanged");
});

test("rootWays: a pass without snapshots ignores what was written; a root the marks lack goes the usual way", () => {
  const busy = marks({ "tank/a": { written: 1 } });
  assert.equal(rootWays([root], busy, memoOf(marks()), false).get("tank"), "unchanged");
  assert.equal(rootWays([{ name: "gone", recursive: false }], busy, new Map(), true).get("gone"), "snapshot");
});

test("rootIsClean: the newest source snapshot of every backed-up dataset is on the backup by GUID, no partial receive", () => {
  const [a, b] = snaps("s1", "s2");
  const src = listing(ds("tank", [a!, b!]), ds("tank/a", [a!]), ds("tank/tmp", [a!, b!]));
  const m = marks();
  const dst = (extra = {}) =>
    listing(ds("bak/tank", [a!, b!]), ds("bak/tank/a", [a!], extra), ds("bak/tank/tmp", [a!]));
  assert.equal(rootIsClean(root, m, src, dst(), "bak"), true, "tank/tmp is excluded: its lag does not count");
  assert.equal(rootIsClean(root, m, src, dst({ resumeToken: "1-abc" }), "bak"), false);
  const renamed = listing(ds("bak/tank", [a!, { ...b!, guid: "other" }]), ds("bak/tank/a", [a!]));
  assert.equal(rootIsClean(root, m, src, renamed, "bak"), false, "same name, other GUID");
  assert.equal(rootIsClean(root, m, listing(ds("tank", []), ds("tank/a", [a!])), dst(), "bak"), false, "no snapshot");
});

test("rootsAllowSkip: not for nested roots, not for a pass limited to one dataset", () => {
  assert.equal(rootsAllowSkip([{ name: "tank" }, { name: "data" }], undefined), true);
  assert.equal(rootsAllowSkip([{ name: "tank" }, { name: "tank/a" }], undefined), false);
  assert.equal(rootsAllowSkip([{ name: "tank" }], "tank/a"), false);
});

test("parseMarks: both column sets; '-' is no value; a bad line throws ZFS_PARSE", () => {
  const m = parseMarks("tank\t123\t0\t1796000000\t-\ntank/v\t456\t8192\t-\toff\n", true);
  assert.deepEqual(m.get("tank"), { guid: "123", written: 0, snapshotsChanged: "1796000000", select: "-" });
  assert.deepEqual(m.get("tank/v"), { guid: "456", written: 8192, snapshotsChanged: null, select: "off" });
  assert.deepEqual(parseMarks("tank\t123\t0\t-\n", false).get("tank"), {
    guid: "123",
    written: 0,
    snapshotsChanged: undefined,
    select: "-",
  });
  assert.throws(() => parseMarks("tank\t123\t0\n", false), { code: "ZFS_PARSE" });
  assert.throws(() => parseMarks("tank\tx\t0\t-\n", false), { code: "ZFS_PARSE" });
});

test("the backup's marks: parsed with '-' as no value; a memo holds only for the same datasets, GUIDs and values, without a partial receive", () => {
  const m = parseTargetMarks("bak/a\t11\t1796000000\t-\nbak/b\t12\t-\t1-abc-def\n");
  assert.deepEqual(m.get("bak/a"), { guid: "11", snapshotsChanged: "1796000000", partial: false });
  assert.deepEqual(m.get("bak/b"), { guid: "12", snapshotsChanged: null, partial: true });
  const good = parseTargetMarks("bak/a\t11\t1796000000\t-\n");
  const memo = { marks: good, listing: new Map(), reused: 0 };
  assert.equal(targetMemoHolds(parseTargetMarks("bak/a\t11\t1796000000\t-\n"), memo), true);
  assert.equal(targetMemoHolds(parseTargetMarks("bak/a\t11\t1796000001\t-\n"), memo), false, "changed");
  assert.equal(targetMemoHolds(parseTargetMarks("bak/a\t13\t1796000000\t-\n"), memo), false, "recreated");
  assert.equal(targetMemoHolds(parseTargetMarks("bak/a\t11\t1796000000\t1-x\n"), memo), false, "partial");
  assert.equal(targetMemoHolds(m, memo), false, "another dataset");
  assert.equal(targetMemoHolds(good, { ...memo, reused: FULL_LISTING_EVERY }), false, "reused enough");
  assert.equal(targetMemoable(good, 1_796_000_000 + SETTLE_SECONDS), true);
  assert.equal(targetMemoable(good, 1_796_000_000 + SETTLE_SECONDS - 1), false, "too recent to trust");
  assert.equal(targetMemoable(m, 1_900_000_000), false, "a partial receive");
  assert.equal(
    targetMemoable(parseTargetMarks("bak\t10\t-\t-\nbak/a\t11\t1796000000\t-\n"), 1_900_000_000),
    true,
    "a container never snapshotted",
  );
});
