import { test } from "node:test";
import assert from "node:assert/strict";
import { continueStep } from "../../server/core/continue.ts";
import type { Snapshot, Step } from "../../server/core/model.ts";
import { ds, snaps } from "../helpers/snapshots.ts";

const [a, b, c] = snaps("a", "b", "c") as [Snapshot, Snapshot, Snapshot];
const inc: Step = {
  kind: "incremental",
  sourceDataset: "tank/x",
  targetDataset: "bak/tank/x",
  from: a,
  to: c,
  intermediates: true,
};
const full: Step = { kind: "full", sourceDataset: "tank/x", targetDataset: "bak/tank/x", to: a, intermediates: false };

test("continueStep: after a cut stream, continue from what the target holds, by GUID", () => {
  assert.deepEqual(continueStep(inc, ds("bak/tank/x", [a!])), { kind: "step", step: inc });
  const fromB = continueStep(inc, ds("bak/tank/x", [a!, b!]));
  assert.equal(
    fromB.kind === "step" && fromB.step.kind === "incremental" && fromB.step.from.name,
    "b",
    "a -I stream that delivered b goes on from b",
  );
  assert.deepEqual(continueStep(inc, ds("bak/tank/x", [a!, b!, c!])), { kind: "done" });
  assert.deepEqual(continueStep(full, undefined), { kind: "step", step: full });
  assert.deepEqual(continueStep(full, ds("bak/tank/x", [a!])), { kind: "done" });
});

test("continueStep: a resume token wins; anything unexpected is stuck, with the reason", () => {
  const r = continueStep(inc, ds("bak/tank/x", [a!], { resumeToken: "1-abc" }));
  assert.equal(r.kind === "step" && r.step.kind, "resume");
  assert.equal(r.kind === "step" && r.step.kind === "resume" && r.step.resumeToken, "1-abc");
  const stuck = (x: ReturnType<typeof continueStep>): string => (x.kind === "stuck" ? x.reason : "");
  assert.match(stuck(continueStep(inc, ds("bak/tank/x", snaps("a#other")))), /newest snapshot a is not the base/);
  assert.match(stuck(continueStep(inc, undefined)), /has no snapshot/);
  assert.match(stuck(continueStep(full, ds("bak/tank/x", snaps("z")))), /exists now but lacks a/);
  assert.match(stuck(continueStep(inc, ds("bak/tank/x", [a!, c!, ...snaps("d")]))), /has snapshots after c/);
  assert.match(
    stuck(continueStep({ ...inc, kind: "resume", resumeToken: "1-x" }, ds("bak/tank/x", [a!]))),
    /partial receive .* is gone/,
  );
});
