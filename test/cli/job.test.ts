// Config → engine job (server/cli/job.ts): what a pass does follows the config and the injected clock.

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../server/config/load.ts";
import { jobFor } from "../../server/cli/job.ts";
import { selectSources } from "../../server/cli/select.ts";

const config = (extra: string) => {
  const r = parseConfig(
    `instance: rx\nsources:\n  - { name: a, host: h, identity: /k, target: backup/a, datasets: [{ name: tank }]${extra} }\n`,
  );
  assert.ok("config" in r, JSON.stringify(r));
  const sel = selectSources(r.config);
  assert.ok(typeof sel !== "string");
  return sel[0]!;
};

test("the bandwidth window is read from the injected clock, each time the transfer asks", () => {
  let now = new Date(2026, 0, 1, 7, 59); // local time, as the window is
  const job = jobFor(config(`, bandwidth_limit: { rate: 1M, from: "08:00", to: "18:00" }`), () => now);
  assert.equal(job.rate?.(), null);
  now = new Date(2026, 0, 1, 8, 0);
  assert.equal(job.rate?.(), 1024 ** 2);
  now = new Date(2026, 0, 1, 18, 0);
  assert.equal(job.rate?.(), null);
});

test("a pass's snapshot is named by the injected clock; a plan takes none and prunes nothing", () => {
  const sel = config("");
  const at = () => new Date(Date.UTC(2026, 4, 6, 7, 8, 9));
  assert.equal(jobFor(sel, at, { snapshot: true, prune: true }).snapshot?.name, "bzman_20260506T070809Z");
  const plan = jobFor(sel, at);
  assert.deepEqual(
    [plan.snapshot, plan.retention, plan.holdTag, plan.bookmarks],
    [undefined, undefined, undefined, undefined],
  );
  assert.equal(jobFor(sel, at, { snapshot: false, prune: true }).holdTag, "bzman.rx");
});
