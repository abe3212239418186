// Selection (core/selection.ts) as tables: explicit config first (a named root is always in, an
// exclude pattern always out), then the source's bzman:backup as zfs reports it; and how
// planSource reports what selection leaves out.

import { test } from "node:test";
import assert from "node:assert/strict";
import { coveringRoot } from "../../server/core/naming.ts";
import { passSnapshotsToDrop, selectDataset, type SelectionRoot } from "../../server/core/selection.ts";
import { planSource } from "../../server/core/plan.ts";
import { excludePatterns } from "../../server/config/exclude.ts";
import { ds, listing, snaps } from "../helpers/snapshots.ts";

const root = (exclude: string[] = []): SelectionRoot => ({
  name: "tank",
  recursive: true,
  exclude: excludePatterns(exclude),
});

test("selectDataset: config wins, then the property", () => {
  // [dataset, exclude patterns, effective bzman:backup, verdict, reason or note matches]
  type Verdict = "in" | "exclude" | "property";
  const cases: Array<[string, string[], string | undefined, Verdict, RegExp | null]> = [
    ["tank/www", [], undefined, "in", null],
    ["tank/www", [], "on", "in", null],
    ["tank/www", [], "-", "in", null],
    ["tank/scratch", ["scratch"], undefined, "exclude", /exclude "scratch" of tank$/],
    [
      "tank/scratch/deep",
      ["scratch"],
      undefined,
      "exclude",
      /exclude "scratch" of tank \(it lies below tank\/scratch\)/,
    ],
    ["tank/scratch", ["scratch"], "on", "exclude", /exclude "scratch"/], // config wins over the property
    ["tank/www/tmp", ["*/tmp"], undefined, "exclude", /exclude "\*\/tmp"/],
    ["tank/www/tmp2", ["*/tmp"], undefined, "in", null],
    ["tank/a/b/cache", ["**/cache"], undefined, "exclude", /exclude "\*\*\/cache"/],
    ["tank/vm/web-old", ["vm/*-old"], undefined, "exclude", /vm\/\*-old/],
    ["tank/vm/web", ["vm/*-old"], undefined, "in", null],
    ["tank/vm/web", ["vm/*-old"], "off", "property", /bzman:backup=off/],
    ["tank/my data", ["my data"], undefined, "exclude", /exclude "my data"/], // a name bzman refuses can be silenced
    ["tank/www", [], "off", "property", /bzman:backup=off on the source/],
    ["tank/www", [], "OFF", "property", /bzman:backup=OFF/],
    ["tank/www", [], "false", "property", /bzman:backup=false/],
    ["tank/www", [], "no", "property", /bzman:backup=no/],
    ["tank/www", [], "maybe", "in", null], // anything but off/false/no leaves it in
    ["tank", ["*"], "off", "in", /overruled: the config names tank/], // the root itself is named by the config
    ["tank/www", ["*"], undefined, "exclude", /exclude "\*"/],
  ];
  for (const [dataset, exclude, property, verdict, re] of cases) {
    const s = selectDataset(dataset, root(exclude), property);
    const label = `${dataset} exclude=${JSON.stringify(exclude)} bzman:backup=${property}`;
    assert.equal(s.included ? "in" : s.by, verdict, label);
    const text = s.included ? s.note : s.reason;
    if (re) assert.match(text ?? "", re, label);
    else assert.equal(text, undefined, label);
  }
});

test("coveringRoot: the root naming a dataset, else the recursive root it lies below", () => {
  const roots = [
    { name: "tank", recursive: true },
    { name: "data/pg", recursive: false },
  ];
  assert.equal(coveringRoot(roots, "tank/a/b")?.name, "tank");
  assert.equal(coveringRoot(roots, "data/pg")?.name, "data/pg");
  assert.equal(coveringRoot(roots, "data/pg/x"), undefined);
  assert.equal(coveringRoot(roots, "other"), undefined);
});

test("planSource: excluded datasets are not planned (no conflict, no unsafe name), and say whether a backup is kept", () => {
  const src = listing(
    ds("tank", snaps("s1", "s2")),
    ds("tank/www", snaps("s1", "s2")),
    ds("tank/scratch", snaps("s1", "s2")),
    ds("tank/scratch/big", snaps("s1", "s2")),
    ds("tank/off", snaps("s1", "s2"), { select: "off" }),
    ds("tank/off/back-on", snaps("s1", "s2"), { select: "on" }),
    ds("tank/my data", snaps("s1")),
  );
  // The old backup of tank/off diverged: excluded, it is not a conflict.
  const dst = listing(
    ds("b/w", []),
    ds("b/w/tank", snaps("s1")),
    ds("b/w/tank/off", snaps("x#other")),
    ds("b/w/tank/scratch", snaps("s1")),
  );
  const p = planSource(
    [
      {
        name: "tank",
        recursive: true,
        exclude: excludePatterns(["scratch", "my data"]),
        maxLagSeconds: 7200,
        onConflict: "rename",
      },
    ],
    src,
    dst,
    "b/w",
  );
  assert.deepEqual(
    p.datasets.map((d) => [d.sourceDataset, d.decision.kind]),
    [
      ["tank", "transfer"],
      ["tank/off/back-on", "transfer"],
      ["tank/www", "transfer"],
    ].sort((a, b) => a[0]!.split("/").length - b[0]!.split("/").length || a[0]!.localeCompare(b[0]!)),
  );
  assert.deepEqual(
    p.excluded.map((x) => [x.sourceDataset, x.by, x.hasBackup]),
    [
      ["tank/my data", "exclude", false],
      ["tank/off", "property", true],
      ["tank/scratch", "exclude", true],
      ["tank/scratch/big", "exclude", false],
    ],
  );
  assert.deepEqual(p.goneOnSource, [], "an excluded dataset is not gone: its backup is simply kept");
  assert.deepEqual(
    p.datasets[0]!.overrides,
    { maxLagSeconds: 7200, onConflict: "rename" },
    "the root's overrides reach every dataset below it",
  );
  const only = planSource(
    [{ name: "tank", recursive: true, exclude: excludePatterns(["scratch"]) }],
    src,
    dst,
    "b/w",
    undefined,
    "tank/scratch",
  );
  assert.deepEqual(
    [only.datasets.length, only.excluded.map((x) => x.sourceDataset)],
    [0, ["tank/scratch", "tank/scratch/big"]],
  );
});

test("passSnapshotsToDrop: the pass's own new snapshot, only where an excluded dataset got it from a root the pass snapshotted", () => {
  const N = "bzman_20261201T070000Z";
  const N1 = "bzman_20261201T070001Z";
  const src = listing(
    ds("tank/a", snaps("old", N)),
    ds("tank/b", snaps("old")),
    ds("tank/c", snaps(N)),
    ds("other/x", snaps(N, N1)),
    ds("other/x/y", snaps(N, N1)),
    ds("flat/z", snaps(N)),
  );
  const taken = [
    { root: "tank", recursive: true, name: N },
    // A root whose name was taken (another snapshot of that second): the pass's is a second later.
    { root: "other", recursive: true, name: N1 },
    // Not recursive: its snapshot reaches no child.
    { root: "flat", recursive: false, name: N },
  ];
  assert.deepEqual(
    passSnapshotsToDrop(
      [
        { sourceDataset: "tank/a" },
        { sourceDataset: "tank/b" },
        { sourceDataset: "tank/gone" },
        { sourceDataset: "other/x/y" },
        { sourceDataset: "flat/z" },
        { sourceDataset: "elsewhere/q" },
      ],
      src,
      taken,
    ),
    [
      { dataset: "tank/a", snapshot: N },
      { dataset: "other/x/y", snapshot: N1 },
    ],
  );
  assert.deepEqual(passSnapshotsToDrop([{ sourceDataset: "tank/a" }], src, []), [], "no snapshot taken, none dropped");
});
