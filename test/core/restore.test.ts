import { test } from "node:test";
import assert from "node:assert/strict";
import {
  backupNameProblem,
  clonePath,
  defaultLiveName,
  drillCandidates,
  drillProblems,
  pickDrill,
  pickSnapshot,
  planFailback,
  failbackRefusalAdvice,
  restoreDestination,
} from "../../server/core/restore.ts";
import { asideName } from "../../server/core/naming.ts";
import { ds, snaps } from "../helpers/snapshots.ts";

const NOW = Date.parse("2026-11-27T01:02:03Z");

test("pickSnapshot: the newest by default, the named one, or a message listing what exists", () => {
  const d = ds("bak/w/tank", snaps("a", "b", "c"));
  assert.equal((pickSnapshot(d) as { name: string }).name, "c");
  assert.equal((pickSnapshot(d, "a") as { name: string }).name, "a");
  assert.match(pickSnapshot(d, "zz") as string, /bak\/w\/tank@zz is not on the backup; it has a, b, c/);
  assert.match(pickSnapshot(ds("x/y", [])) as string, /has no snapshot/);
});

test("restoreDestination: sibling by default with a UTC stamp; --as as sibling or full path; a pool root gets a child", () => {
  assert.equal(restoreDestination("tank/www", undefined, NOW), "tank/www-restored-20261127T010203Z");
  assert.equal(restoreDestination("tank/www", "www-old", NOW), "tank/www-old");
  assert.equal(restoreDestination("tank/www", "data/elsewhere", NOW), "data/elsewhere");
  assert.equal(restoreDestination("tank", undefined, NOW), "tank/restored-20261127T010203Z");
});

test("names on the backup host: clones and live datasets stay in their pool and outside every target", () => {
  assert.equal(clonePath("bak", "files"), "bak/bzman-restore/files");
  assert.equal(clonePath("bak", "bak/mine/files"), "bak/mine/files");
  assert.equal(defaultLiveName("bak/web1/tank/www", "web1", "tank/www"), "bak/bzman-live/web1/tank/www");
  assert.equal(backupNameProblem("bak/bzman-restore/x", "bak", ["bak/web1"]), null);
  assert.match(backupNameProblem("other/x", "bak", ["bak/web1"])!, /not in the pool bak/);
  assert.match(backupNameProblem("bak/web1/x", "bak", ["bak/web1"])!, /overlaps the replication target bak\/web1/);
  assert.match(backupNameProblem("bak", "bak", ["bak/web1"])!, /overlaps/);
  assert.equal(asideName("tank/www", "failback", NOW), "tank/www.before-failback-20261127T010203Z");
});

test("planFailback: full when the source is gone, incremental from the source's newest when the copy has it, else refused or (force) aside", () => {
  const live = ds("bak/live", snaps("a", "b", "f"));
  assert.deepEqual(planFailback(live, undefined, false), { kind: "full" });
  const inc = planFailback(live, ds("tank/www", snaps("a", "b")), false);
  assert.equal(inc.kind, "incremental");
  assert.equal(inc.kind === "incremental" && inc.from.name, "b");
  const diverged = ds("tank/www", snaps("a", "b", "x"));
  const refused = planFailback(live, diverged, false);
  assert.equal(refused.kind, "refuse");
  assert.match(
    refused.kind === "refuse" ? refused.reason : "",
    /has 1 snapshot\(s\) the promoted copy lacks \(newest x\)/,
  );
  assert.equal(planFailback(live, diverged, true).kind, "full-aside");
  // Same names are not enough: identity is the GUID.
  assert.equal(planFailback(live, ds("tank/www", snaps("a", "b#other")), false).kind, "refuse");
  assert.equal(planFailback(live, ds("tank/www", []), false).kind, "refuse");
});

test("planFailback: a source written after the shared snapshot is refused with its rollback, or (force) kept aside; a zfs that cannot tell gets an unchecked incremental", () => {
  const live = ds("bak/live", snaps("a", "b", "f"));
  const src = ds("tank/www", snaps("a", "b"));
  // Rows: bytes written after @b (null: no `written` property), force → the plan.
  const rows: Array<[number | null, boolean, Record<string, unknown>]> = [
    [0, false, { kind: "incremental", unchecked: false }],
    [null, false, { kind: "incremental", unchecked: true }],
    [null, true, { kind: "incremental", unchecked: true }],
    [4096, false, { kind: "refuse", rollback: "tank/www@b" }],
    [4096, true, { kind: "full-aside", rollback: "tank/www@b" }],
  ];
  for (const [written, force, want] of rows) {
    const plan = planFailback(live, src, force, written) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(want))
      assert.equal(plan[k], v, `${written} ${force}: ${k} of ${JSON.stringify(plan)}`);
    if (plan.kind !== "incremental")
      assert.match(
        plan.reason as string,
        /tank\/www on the source was written after its newest snapshot @b \(4096 bytes\)/,
      );
  }
  // Snapshots the copy lacks come first: no rollback offered, since a rollback would not bring them back.
  const diverged = planFailback(live, ds("tank/www", snaps("a", "b", "x")), false, 10);
  assert.equal(diverged.kind === "refuse" && diverged.rollback, undefined);
});

test("failbackRefusalAdvice: both ways on, each a whole command", () => {
  const aside = asideName("tank/www", "failback", NOW);
  const both = failbackRefusalAdvice("web1:tank/www", "tank/www", aside, "tank/www@b");
  assert.match(
    both,
    /bzman failback web1:tank\/www --force \(renames tank\/www aside on the source as tank\/www\.before-failback-20261127T010203Z/,
  );
  assert.match(both, /on the source: zfs rollback tank\/www@b, then bzman failback web1:tank\/www$/);
  assert.doesNotMatch(failbackRefusalAdvice("web1:tank/www", "tank/www", aside), /rollback/);
});

test("drill candidates: filesystems only, the newest `recent` snapshots that the source still has by GUID", () => {
  const backup = [
    ds("bak/w/tank", snaps("a", "b", "c")),
    ds("bak/w/tank/vol", snaps("a"), { type: "volume" }),
    ds("bak/w/tank/gone", snaps("a")),
  ];
  const source = new Map([
    ["tank", ds("tank", snaps("b", "c#changed"))],
    ["tank/vol", ds("tank/vol", snaps("a"))],
  ]);
  const c = drillCandidates(backup, source, (t) => (t.startsWith("bak/w/") ? t.slice(6) : null), 2);
  assert.deepEqual(
    c.map((x) => `${x.dataset}@${x.snapshot.name}`),
    ["tank@b"],
  );
  assert.equal(pickDrill(c, 0.999)?.snapshot.name, "b");
  assert.equal(pickDrill([], 0.5), null);
  const three = drillCandidates(
    [ds("bak/w/tank", snaps("a", "b", "c"))],
    new Map([["tank", ds("tank", snaps("a", "b", "c"))]]),
    (t) => t.slice(6),
    10,
  );
  assert.deepEqual(
    [0, 0.34, 0.99].map((r) => pickDrill(three, r)?.snapshot.name),
    ["a", "b", "c"],
  );
});

test("drillProblems: unreadable files, referenced apart beyond the tolerance, a snapshot whose contents changed", () => {
  const good = { sourceReferenced: 100_000_000, backupReferenced: 101_000_000, files: 3, bytes: 10, unreadable: [] };
  assert.deepEqual(drillProblems(good), []);
  assert.deepEqual(drillProblems({ ...good, sourceReferenced: 20_000, backupReferenced: 900_000 }), []);
  assert.match(
    drillProblems({ ...good, backupReferenced: 110_000_000 })[0]!,
    /references 110000000 bytes on the backup but 100000000 on the source/,
  );
  const eio = drillProblems({
    ...good,
    unreadable: Array.from({ length: 7 }, (_, i) => ({ path: `f${i}`, error: "EIO" })),
  });
  assert.deepEqual(eio.slice(0, 1).concat(eio.slice(-1)), ["cannot read f0: EIO", "and 2 more unreadable file(s)"]);
  assert.match(drillProblems({ ...good, previous: { files: 4, bytes: 10 } })[0]!, /a snapshot never changes/);
});
