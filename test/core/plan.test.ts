import { test } from "node:test";
import assert from "node:assert/strict";
import { planDataset, planSource, missingParents, snapshotRoots } from "../../server/core/plan.ts";
import { planBookmarks } from "../../server/core/bookmarks.ts";
import type { Decision } from "../../server/core/conflicts.ts";
import { ds, listing, snaps } from "../helpers/snapshots.ts";

const T = "backup/web1/tank/a";

/** Compact rendering of a decision for table comparisons. */
function show(d: Decision): string {
  switch (d.kind) {
    case "transfer":
      return d.steps
        .map((s) =>
          s.kind === "resume"
            ? `resume(${s.resumeToken})`
            : s.kind === "full"
              ? `full(@${s.to!.name})`
              : `${s.intermediates ? "-I" : "-i"}(${s.fromBookmark ? "#" : "@"}${s.from!.name}..@${s.to!.name})`,
        )
        .join(" ");
    case "up-to-date":
      return `up-to-date(@${d.snapshot.name})`;
    case "diverged":
      return `diverged(common=@${d.common.name}, targetOnly=${d.targetOnly.map((s) => s.name)})`;
    case "no-common-snapshot":
      return `no-common(${d.targetSnapshots.length})`;
    case "unsafe-name":
      return `unsafe(${d.name})`;
    default:
      return d.kind;
  }
}

const cases: Array<{
  name: string;
  source?: string[];
  target?: string[];
  targetOpts?: object;
  sourceOpts?: object;
  policy?: object;
  want: string;
}> = [
  { name: "source gone", target: ["a"], want: "source-missing" },
  { name: "source without snapshots", source: [], want: "no-source-snapshots" },
  {
    name: "first replication: full of oldest, then -I to newest",
    source: ["a", "b", "c"],
    want: "full(@a) -I(@a..@c)",
  },
  { name: "first replication of a single snapshot", source: ["a"], want: "full(@a)" },
  { name: "first replication of two: -i, no intermediates", source: ["a", "b"], want: "full(@a) -i(@a..@b)" },
  {
    name: "first replication from newest",
    source: ["a", "b", "c"],
    policy: { firstSend: "newest", includePrefixes: [] },
    want: "full(@c)",
  },
  { name: "incremental with intermediates", source: ["a", "b", "c", "d"], target: ["a", "b"], want: "-I(@b..@d)" },
  { name: "incremental of one", source: ["a", "b"], target: ["a"], want: "-i(@a..@b)" },
  { name: "up to date", source: ["a", "b"], target: ["a", "b"], want: "up-to-date(@b)" },
  {
    name: "common found by GUID, not by name",
    source: ["x#1", "y#2", "z#3"],
    target: ["renamed#2"],
    want: "-i(@y..@z)",
  },
  { name: "same name, other GUID is not common", source: ["a#1", "b#2"], target: ["b#9"], want: "no-common(1)" },
  { name: "target exists without snapshots", source: ["a"], target: [], want: "target-exists" },
  { name: "no common snapshot", source: ["a", "b"], target: ["q", "r"], want: "no-common(2)" },
  {
    name: "target has a snapshot the source lacks",
    source: ["a", "b", "c"],
    target: ["a", "b", "t"],
    want: "diverged(common=@b, targetOnly=t)",
  },
  {
    name: "diverged even when the source has nothing newer",
    source: ["a", "b"],
    target: ["a", "b", "t"],
    want: "diverged(common=@b, targetOnly=t)",
  },
  {
    name: "source pruned old snapshots: still incremental",
    source: ["c", "d", "e"],
    target: ["a", "b", "c"],
    want: "-I(@c..@e)",
  },
  {
    name: "filtered intermediates: chain of -i",
    source: ["bzman_1", "manual", "bzman_2", "bzman_3"],
    target: ["bzman_1"],
    policy: { firstSend: "oldest", includePrefixes: ["bzman_"] },
    want: "-i(@bzman_1..@bzman_2) -i(@bzman_2..@bzman_3)",
  },
  {
    name: "filter with nothing filtered between: one -I",
    source: ["bzman_1", "bzman_2", "bzman_3", "manual"],
    target: ["bzman_1"],
    policy: { firstSend: "oldest", includePrefixes: ["bzman_"] },
    want: "-I(@bzman_1..@bzman_3)",
  },
  {
    name: "filter leaves nothing",
    source: ["manual"],
    policy: { firstSend: "oldest", includePrefixes: ["bzman_"] },
    want: "no-source-snapshots",
  },
  {
    name: "common base may be an unfiltered snapshot",
    source: ["manual", "bzman_1"],
    target: ["manual"],
    policy: { firstSend: "oldest", includePrefixes: ["bzman_"] },
    want: "-i(@manual..@bzman_1)",
  },
  { name: "unsafe snapshot name never an endpoint", source: ["a", "b;rm"], target: ["a"], want: "up-to-date(@a)" },
  {
    name: "resume token wins",
    source: ["a", "b"],
    target: ["a"],
    targetOpts: { resumeToken: "1-abc" },
    want: "resume(1-abc)",
  },
  // Bookmarks: the common snapshot was destroyed on the source, its bookmark (same GUID) is left.
  {
    name: "common snapshot gone, its bookmark continues: -i from the bookmark",
    source: ["c", "d"],
    target: ["a", "b"],
    sourceOpts: { bookmarks: snaps("a", "b") },
    want: "-i(#b..@c) -i(@c..@d)",
  },
  {
    name: "from a bookmark to the only newer snapshot",
    source: ["c"],
    target: ["a", "b"],
    sourceOpts: { bookmarks: snaps("b") },
    want: "-i(#b..@c)",
  },
  {
    name: "a common snapshot is preferred to a bookmark",
    source: ["b", "c"],
    target: ["a", "b"],
    sourceOpts: { bookmarks: snaps("a") },
    want: "-i(@b..@c)",
  },
  {
    name: "bookmark with another GUID is no base",
    source: ["c"],
    target: ["a", "b"],
    sourceOpts: { bookmarks: snaps("b#other") },
    want: "no-common(2)",
  },
  {
    name: "target newer than the bookmark: diverged, nothing sent",
    source: ["c"],
    target: ["a", "b", "t"],
    sourceOpts: { bookmarks: snaps("a", "b") },
    want: "diverged(common=@b, targetOnly=t)",
  },
  {
    name: "only bookmarks left on the source, no snapshot: nothing to send",
    source: [],
    target: ["a", "b"],
    sourceOpts: { bookmarks: snaps("a", "b") },
    want: "no-source-snapshots",
  },
];

/** Source snapshots; with bookmarks, created after the bookmarked ones (createtxg past theirs). */
function snapsAfter(names: string[], opts?: { bookmarks?: unknown[] }): ReturnType<typeof snaps> {
  const offset = opts?.bookmarks ? 1000 : 0;
  return snaps(...names).map((s) => ({ ...s, createtxg: s.createtxg + offset }));
}

for (const c of cases) {
  test(`planDataset: ${c.name}`, () => {
    const source = c.source ? ds("tank/a", snapsAfter(c.source, c.sourceOpts), c.sourceOpts) : undefined;
    const target = c.target ? ds(T, snaps(...c.target), c.targetOpts) : undefined;
    assert.equal(show(planDataset(source, target, T, c.policy as never)), c.want);
  });
}

test("planDataset: unsafe source or target dataset names are refused", () => {
  assert.equal(show(planDataset(ds("tank/a b", snaps("a")), undefined, "backup/x/tank/a b")), "unsafe(tank/a b)");
  assert.equal(
    show(planDataset(ds("tank/a", snaps("a")), undefined, "backup/$(x)/tank/a")),
    "unsafe(backup/$(x)/tank/a)",
  );
});

test("planSource: recursive root plans every child, parents first; gone children are kept and reported", () => {
  const src = listing(
    ds("tank", snaps("s1")),
    ds("tank/b", snaps("s1")),
    ds("tank/a", snaps("s1")),
    ds("tank/a/x", snaps("s1")),
    ds("other", snaps("s1")),
  );
  const dst = listing(ds("backup/w", []), ds("backup/w/tank", snaps("s1")), ds("backup/w/tank/old", snaps("s0")));
  const p = planSource([{ name: "tank", recursive: true }], src, dst, "backup/w");
  assert.deepEqual(
    p.datasets.map((d) => `${d.sourceDataset}:${show(d.decision)}`),
    ["tank:up-to-date(@s1)", "tank/a:full(@s1)", "tank/b:full(@s1)", "tank/a/x:full(@s1)"],
  );
  assert.deepEqual(p.goneOnSource, ["backup/w/tank/old"]);
});

test("planSource: non-recursive roots ignore children; a missing root is planned as source-missing", () => {
  const src = listing(ds("tank/vm", snaps("s1")), ds("tank/vm/disk0", snaps("s1")));
  const p = planSource(
    [
      { name: "tank/vm", recursive: false },
      { name: "tank/nope", recursive: false },
    ],
    src,
    listing(),
    "backup/w",
  );
  assert.deepEqual(
    p.datasets.map((d) => `${d.sourceDataset}->${d.targetDataset}:${d.decision.kind}`),
    ["tank/nope->backup/w/tank/nope:source-missing", "tank/vm->backup/w/tank/vm:transfer"],
  );
});

test("snapshotRoots: a pass limited to one dataset snapshots only it (recursively under a recursive root)", () => {
  const roots = [
    { name: "tank", recursive: true },
    { name: "data/vm", recursive: false },
  ];
  const cases: Array<[string | undefined, Array<{ name: string; recursive: boolean }>]> = [
    [undefined, roots],
    ["tank", [{ name: "tank", recursive: true }]],
    ["tank/www", [{ name: "tank/www", recursive: true }]],
    ["data/vm", [{ name: "data/vm", recursive: false }]],
    ["data/vm/child", []],
    ["other", []],
  ];
  for (const [only, want] of cases) assert.deepEqual(snapshotRoots(roots, only), want, String(only));
});

test("planSource: `only` limits to one subtree", () => {
  const src = listing(
    ds("tank", snaps("s1")),
    ds("tank/a", snaps("s1")),
    ds("tank/a/x", snaps("s1")),
    ds("tank/b", snaps("s1")),
  );
  const p = planSource([{ name: "tank", recursive: true }], src, listing(), "backup/w", undefined, "tank/a");
  assert.deepEqual(
    p.datasets.map((d) => d.sourceDataset),
    ["tank/a", "tank/a/x"],
  );
});

test("missingParents: containers above received datasets, up to and including the target root", () => {
  const src = listing(ds("tank/vm/disk0", snaps("s1")));
  const p = planSource([{ name: "tank/vm/disk0", recursive: false }], src, listing(), "backup/w");
  assert.deepEqual(missingParents(p.datasets, listing(), "backup/w"), [
    "backup/w",
    "backup/w/tank",
    "backup/w/tank/vm",
  ]);
  assert.deepEqual(missingParents(p.datasets, listing(ds("backup/w", []), ds("backup/w/tank", [])), "backup/w"), [
    "backup/w/tank/vm",
  ]);
});

test("missingParents: a parent received in the same pass is not a container", () => {
  const src = listing(ds("tank", snaps("s1")), ds("tank/a", snaps("s1")));
  const p = planSource([{ name: "tank", recursive: true }], src, listing(ds("backup/w", [])), "backup/w");
  assert.deepEqual(missingParents(p.datasets, listing(ds("backup/w", [])), "backup/w"), []);
});

test("planBookmarks: bookmark bzman's newest common snapshot once per instance; destroy only this instance's older bookmarks", () => {
  const S1 = "bzman_20261201T070000Z";
  const S2 = "bzman_20261201T071000Z";
  const [b1, b2] = snaps(S1, S2);
  const mark = (name: string, of: { guid: string; createtxg: number; creation: number }) => ({ ...of, name });
  const src = listing(
    // an unsuffixed bookmark from before instances, another receiver's, a hand-made one
    ds("tank/a", [b1!, b2!], { bookmarks: [mark(S1, b1!), mark(`${S1}.other`, b1!), ...snaps("manual-old")] }),
    // this instance already has one of the common snapshot
    ds("tank/b", snaps(S1), { bookmarks: [mark(`${S1}.b1`, snaps(S1)[0]!)] }),
    // only another receiver has one: this one still makes its own
    ds("tank/d", snaps(S1), { bookmarks: [mark(`${S1}.other`, snaps(S1)[0]!)] }),
    ds("tank/c", snaps("hand-made")),
    // a name that only starts with the prefix is not bzman's
    ds("tank/e", snaps("bzman_before_upgrade")),
  );
  const plan = planBookmarks(
    [
      ["tank/a", b2!],
      ["tank/b", { name: S1, guid: `g-${S1}` }],
      ["tank/d", { name: S1, guid: `g-${S1}` }],
      ["tank/c", { name: "hand-made", guid: "g-hand-made" }],
      ["tank/e", { name: "bzman_before_upgrade", guid: "g-bzman_before_upgrade" }],
      ["tank/gone", b2!],
    ],
    src,
    "bzman",
    "b1",
  );
  assert.deepEqual(plan.create, [
    ["tank/a", S2, `${S2}.b1`],
    ["tank/d", S1, `${S1}.b1`],
  ]);
  assert.deepEqual(plan.destroy, [["tank/a", S1]]);
});
