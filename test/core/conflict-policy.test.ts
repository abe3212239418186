import { test } from "node:test";
import assert from "node:assert/strict";
import { onConflict, withSnapshotOutcome } from "../../server/core/conflict-policy.ts";
import { planDataset, DEFAULT_POLICY } from "../../server/core/plan.ts";
import type { Decision } from "../../server/core/conflicts.ts";
import { ds, snaps } from "../helpers/snapshots.ts";

const source = ds("tank/a", snaps("a", "b", "c"));
const decisions: Record<string, Decision> = {
  diverged: planDataset(source, ds("bak/tank/a", snaps("a", "x")), "bak/tank/a", DEFAULT_POLICY),
  "no-common-snapshot": planDataset(source, ds("bak/tank/a", snaps("x#other")), "bak/tank/a", DEFAULT_POLICY),
  "target-exists": planDataset(source, ds("bak/tank/a", []), "bak/tank/a", DEFAULT_POLICY),
  transfer: planDataset(source, ds("bak/tank/a", snaps("a")), "bak/tank/a", DEFAULT_POLICY),
  "up-to-date": planDataset(source, ds("bak/tank/a", snaps("a", "b", "c")), "bak/tank/a", DEFAULT_POLICY),
};

test("onConflict: what a pass does with each decision under report and rename, with and without children", () => {
  for (const [kind, d] of Object.entries(decisions)) assert.equal(d.kind, kind, `fixture ${kind}`);
  const ctx = { source, targetDataset: "bak/tank/a", targetHasChildren: false, replication: DEFAULT_POLICY };
  const rows: Array<[string, "report" | "rename" | undefined, boolean, string, string | undefined]> = [
    // decision, on_conflict, target has children → action, note
    ["diverged", "report", false, "as-planned", undefined],
    ["diverged", undefined, false, "as-planned", undefined],
    ["diverged", "rename", false, "rename-and-reseed", undefined],
    ["no-common-snapshot", "rename", false, "rename-and-reseed", undefined],
    ["target-exists", "rename", false, "rename-and-reseed", undefined],
    ["diverged", "rename", true, "as-planned", "Not renamed aside: bak/tank/a has child datasets."],
    ["transfer", "rename", false, "as-planned", undefined],
    ["up-to-date", "rename", false, "as-planned", undefined],
  ];
  for (const [kind, policy, children, want, note] of rows) {
    const a = onConflict(decisions[kind]!, policy, { ...ctx, targetHasChildren: children });
    assert.equal(a.kind, want, `${kind} under ${policy} (children: ${children})`);
    assert.equal(a.kind === "as-planned" ? a.note : undefined, note);
    if (a.kind === "rename-and-reseed") {
      assert.equal(a.decision.steps[0]!.kind, "full", "re-seeded in full");
      assert.equal(a.decision.steps.at(-1)!.to!.name, "c");
    } else assert.equal(a.decision, decisions[kind], "the planner's decision, untouched");
  }
  assert.equal(
    onConflict(decisions.diverged!, "rename", { ...ctx, source: undefined }).kind,
    "as-planned",
    "nothing on the source to re-seed from",
  );
});

test("withSnapshotOutcome: a missing pass snapshot turns ok and up-to-date into failed, nothing else", () => {
  const rows: Array<[Parameters<typeof withSnapshotOutcome>[0], string | undefined, string]> = [
    ["ok", undefined, "ok"],
    ["up-to-date", undefined, "up-to-date"],
    ["ok", "permission denied", "failed"],
    ["up-to-date", "permission denied", "failed"],
    ["failed", "permission denied", "failed"],
    ["conflict", "permission denied", "conflict"],
    ["skipped", "x", "skipped"],
  ];
  for (const [result, err, want] of rows) {
    const o = withSnapshotOutcome(result, err);
    assert.equal(o.result, want, `${result} with ${err}`);
    assert.equal(o.failedBecause !== undefined, want === "failed" && result !== "failed");
  }
  assert.match(
    withSnapshotOutcome("ok", "boom").failedBecause!,
    /^the source snapshot for this pass was not taken: boom$/,
  );
});
