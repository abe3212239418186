// cronProblem asks node-schedule itself, so what `check` accepts is what `serve` can schedule.

import { test } from "node:test";
import assert from "node:assert/strict";
import schedule from "node-schedule";
import { cronProblem } from "../../server/schedule/cron.ts";

test("cron expressions: accepted exactly when node-schedule schedules them, and nothing stays scheduled", () => {
  const cases: Array<[string, boolean]> = [
    ["*/10 * * * *", true],
    ["0 6 * * *", true],
    ["30 4 * * 0", true],
    ["0 4 * * 7", true],
    ["*/5 * * * * *", true],
    ["0 2 1-7 * 0", true],
    ["61 25 * * *", false],
    ["0 24 * * *", false],
    ["0 0 32 * *", false],
    ["0 0 * 13 *", false],
    ["0 0 * * 8", false],
    ["0 0 31 2 *", false], // valid fields, but February has no 31st: it would never fire
    ["every day", false],
    ["1 2 3 4 5 6 7", false],
  ];
  for (const [expr, ok] of cases) assert.equal(cronProblem(expr) === null, ok, expr);
  assert.match(cronProblem("61 25 * * *")!, /minute \(0-59\) hour \(0-23\)/);
  assert.deepEqual(Object.keys(schedule.scheduledJobs), []);
});
