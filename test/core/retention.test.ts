import { test } from "node:test";
import assert from "node:assert/strict";
import { periodOf, planPrune, type KeepPolicy } from "../../server/core/retention.ts";
import type { Snapshot } from "../../server/core/model.ts";
import { snapshotNameAt } from "../../server/core/naming.ts";

const at = (iso: string): number => Date.parse(iso) / 1000;
let txg = 0;
// bzman's own names are `bzman_<UTC stamp>`; the tests speak of them as bzman_<n> (their index).
const alias = new Map<string, string>();
/** Snapshots at ISO times (UTC); bzman's own names (bzman_<n> in results) unless a name is given as "name=ISO". */
function snapsAt(...specs: string[]): Snapshot[] {
  return specs.map((spec, i) => {
    const [given, iso] = spec.includes("=") ? (spec.split("=") as [string, string]) : [undefined, spec];
    const name = given ?? snapshotNameAt("bzman", at(iso) * 1000);
    if (!given) alias.set(name, `bzman_${i}`);
    return { name, guid: `g${i}-${name}`, createtxg: ++txg, creation: at(iso) };
  });
}
const NOW = at("2026-06-15T12:00:00Z");
const prune = (s: Snapshot[], policy: KeepPolicy, protect: string[] = [], now = NOW): string[] =>
  planPrune(s, policy, { prefix: "bzman", protect: new Set(protect), now }).destroy.map(
    (x) => alias.get(x.name) ?? x.name,
  );

test("periodOf: UTC hours, days, ISO weeks (Monday), months and years", () => {
  assert.equal(periodOf(at("2026-03-01T00:00:00Z"), "daily") - periodOf(at("2026-02-28T23:59:59Z"), "daily"), 1);
  assert.equal(periodOf(at("2026-01-31T23:00:00Z"), "monthly") + 1, periodOf(at("2026-02-01T00:00:00Z"), "monthly"));
  assert.equal(
    periodOf(at("2026-06-14T23:59:59Z"), "weekly") + 1,
    periodOf(at("2026-06-15T00:00:00Z"), "weekly"),
    "Sunday → Monday starts a week",
  );
  assert.equal(
    periodOf(at("2026-06-15T00:00:00Z"), "weekly"),
    periodOf(at("2026-06-21T23:59:59Z"), "weekly"),
    "Monday..Sunday is one week",
  );
  assert.equal(periodOf(at("2025-12-31T23:59:59Z"), "yearly"), 2025);
  assert.equal(
    periodOf(at("2026-03-29T01:30:00Z"), "hourly") - periodOf(at("2026-03-29T00:30:00Z"), "hourly"),
    1,
    "no DST in UTC",
  );
});

test("a policy without rules destroys nothing", () => {
  assert.deepEqual(prune(snapsAt("2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"), {}), []);
});

test("last: N keeps the newest N of ours", () => {
  const s = snapsAt("2026-06-15T10:00:00Z", "2026-06-15T10:10:00Z", "2026-06-15T10:20:00Z", "2026-06-15T10:30:00Z");
  assert.deepEqual(prune(s, { last: 2 }), ["bzman_0", "bzman_1"]);
  assert.deepEqual(prune(s, { last: 0 }), ["bzman_0", "bzman_1", "bzman_2", "bzman_3"]);
});

test("foreign snapshots are never destroyed, whatever the policy", () => {
  const s = snapsAt(
    "manual=2026-06-01T00:00:00Z",
    "2026-06-02T00:00:00Z",
    "other_1=2026-06-03T00:00:00Z",
    "bzmanx=2026-06-04T00:00:00Z",
  );
  assert.deepEqual(prune(s, { last: 0 }), ["bzman_1"]);
});

test("only exactly <prefix>_<UTC stamp> is ours: another receiver's bzman_dr_…, a hand-made bzman_before_upgrade, bzman_1 are not", () => {
  const s = snapsAt(
    "bzman_dr_20260601T000000Z=2026-06-01T00:00:00Z",
    "bzman_before_upgrade=2026-06-01T01:00:00Z",
    "bzman_1=2026-06-01T02:00:00Z",
    "bzman_20260601T030000Z.x=2026-06-01T03:00:00Z",
    "xbzman_20260601T040000Z=2026-06-01T04:00:00Z",
    "2026-06-02T00:00:00Z",
  );
  assert.deepEqual(prune(s, { last: 0 }), ["bzman_5"]);
  const dr = planPrune(s, { last: 0 }, { prefix: "bzman_dr", protect: new Set(), now: NOW }).destroy.map((x) => x.name);
  assert.deepEqual(dr, ["bzman_dr_20260601T000000Z"], "the other receiver's own, by its own prefix");
});

test("the protected (common) snapshot survives even when every rule would drop it", () => {
  const s = snapsAt("2026-06-15T10:00:00Z", "2026-06-15T10:10:00Z");
  assert.deepEqual(prune(s, { last: 0 }, [s[0]!.guid]), ["bzman_1"]);
});

test("hourly: one per hour (the oldest of the hour), for the N most recent hours that have snapshots", () => {
  const s = snapsAt(
    "2026-06-15T09:00:00Z",
    "2026-06-15T09:30:00Z",
    "2026-06-15T10:00:00Z",
    "2026-06-15T10:50:00Z",
    "2026-06-15T11:10:00Z",
  );
  assert.deepEqual(prune(s, { hourly: 2 }), ["bzman_0", "bzman_1", "bzman_3"]);
});

test("gaps in time do not use up slots: an outage never costs older history", () => {
  const s = snapsAt("2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", "2026-06-14T00:00:00Z");
  assert.deepEqual(prune(s, { daily: 3 }), [], "three days with snapshots, twelve days apart");
  assert.deepEqual(prune(s, { daily: 2 }), ["bzman_0"]);
});

test("month ends: Jan 31 and Feb 1 are different months; Feb 28 and Mar 1 different days", () => {
  const s = snapsAt("2026-01-31T23:50:00Z", "2026-02-01T00:10:00Z", "2026-02-28T23:59:00Z", "2026-03-01T00:01:00Z");
  assert.deepEqual(prune(s, { monthly: 3 }), ["bzman_2"], "Feb keeps its oldest (Feb 1)");
  assert.deepEqual(prune(s, { monthly: 2 }), ["bzman_0", "bzman_2"]);
});

test("weekly and yearly buckets", () => {
  const s = snapsAt(
    "2024-12-30T00:00:00Z",
    "2025-06-01T00:00:00Z",
    "2026-06-08T00:00:00Z",
    "2026-06-14T23:00:00Z",
    "2026-06-15T01:00:00Z",
  );
  assert.deepEqual(prune(s, { weekly: 2 }), ["bzman_0", "bzman_1", "bzman_3"]);
  assert.deepEqual(prune(s, { yearly: 2 }), ["bzman_0", "bzman_3", "bzman_4"]);
});

test("rules combine as a union: kept if any rule keeps it", () => {
  const s = snapsAt("2026-05-01T00:00:00Z", "2026-06-14T00:00:00Z", "2026-06-15T10:00:00Z", "2026-06-15T11:00:00Z");
  assert.deepEqual(prune(s, { last: 1, monthly: 2 }), ["bzman_2"]);
});

test("snapshots dated after now (clock skew) are kept", () => {
  const s = snapsAt("2026-06-15T10:00:00Z", "2026-06-16T10:00:00Z");
  assert.deepEqual(prune(s, { last: 0 }), ["bzman_0"]);
});
