import { test } from "node:test";
import assert from "node:assert/strict";
import { pauseReason } from "../../server/core/pause.ts";

test("pauseReason: a promoted dataset and what lies below it are paused; siblings and look-alikes are not", () => {
  const paused = new Map([["tank/www", "promoted to local:b/live/www"]]);
  const cases: Array<[string, string | undefined]> = [
    ["tank/www", "promoted to local:b/live/www"],
    ["tank/www/logs", "promoted to local:b/live/www"],
    ["tank/www2", undefined],
    ["tank", undefined],
    ["other/www", undefined],
  ];
  for (const [dataset, want] of cases) assert.equal(pauseReason(paused, dataset), want, dataset);
  assert.equal(pauseReason(undefined, "tank/www"), undefined);
  assert.equal(pauseReason(new Map(), "tank/www"), undefined);
});
