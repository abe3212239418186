// The coalescing decision on a simulated clock: bursts share one run, runs start at most once an
// interval, no request is dropped or waits longer than the bound, a run is never started twice.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  COALESCE_IDLE,
  coalesceDueAt,
  coalesceFinish,
  coalesceRequest,
  coalesceStart,
  type CoalescePolicy,
} from "../../server/core/coalesce.ts";

const policy: CoalescePolicy = { quietMs: 200, intervalMs: 1000 };

/**
 * Drives the decision as the adapter does: requests at `times`, each run lasting `runMs`.
 * Returns when runs started and which run served each request.
 */
function simulate(times: number[], runMs: number): { starts: number[]; servedAt: number[] } {
  let s = COALESCE_IDLE;
  const starts: number[] = [];
  const servedAt = times.map(() => Number.NaN);
  const waiting: number[] = [];
  let runEnd = Number.POSITIVE_INFINITY;
  let i = 0;
  let clock = Number.NEGATIVE_INFINITY;
  for (let guard = 0; guard < 100_000; guard++) {
    // A due time in the past means at once.
    const due = Math.max(clock, coalesceDueAt(s, policy) ?? Number.POSITIVE_INFINITY);
    const nextReq = times[i] ?? Number.POSITIVE_INFINITY;
    const t = Math.min(due, nextReq, runEnd);
    clock = t;
    if (t === Number.POSITIVE_INFINITY) break;
    // At one instant: a run ends, then requests come, then a due run starts.
    if (t === runEnd) {
      s = coalesceFinish(s);
      runEnd = Number.POSITIVE_INFINITY;
    } else if (t === nextReq) {
      s = coalesceRequest(s, t);
      waiting.push(i++);
    } else {
      assert.ok(!s.running, "a run never starts while one is under way");
      s = coalesceStart(s, t);
      starts.push(t);
      for (const w of waiting.splice(0)) servedAt[w] = t;
      runEnd = t + runMs;
    }
  }
  return { starts, servedAt };
}

test("one request runs once, quietMs after it", () => {
  assert.deepEqual(simulate([5000], 10).starts, [5200]);
  assert.equal(coalesceDueAt(COALESCE_IDLE, policy), null, "nothing waits: nothing is due");
});

test("a burst of 300 requests 10 ms apart runs at most once a second, each served within a second", () => {
  const times = Array.from({ length: 300 }, (_, k) => 10_000 + k * 10);
  const { starts, servedAt } = simulate(times, 50);
  assert.ok(starts.length <= 4, `${starts.length} runs for a 3-second burst`);
  for (let k = 1; k < starts.length; k++) assert.ok(starts[k]! - starts[k - 1]! >= policy.intervalMs);
  times.forEach((t, k) => {
    assert.ok(servedAt[k]! >= t, `request ${k} is served by a run that starts after it`);
    assert.ok(servedAt[k]! - t <= policy.intervalMs, `request ${k} waited ${servedAt[k]! - t} ms`);
  });
  // The last request of the burst (the last pass's result) is evaluated.
  assert.ok(starts.at(-1)! >= times.at(-1)!);
});

test("requests while a run is under way get a run after it: none is dropped", () => {
  // A run that takes 3 s (a slow mail server); requests come during it.
  const times = [0, 500, 1500, 2500];
  const { starts, servedAt } = simulate(times, 3000);
  assert.deepEqual(starts, [200, 3200]);
  assert.deepEqual(servedAt, [200, 3200, 3200, 3200]);
});

test("sparse requests (further apart than the interval) each run on their own, quietMs late", () => {
  const times = [0, 2000, 4000];
  assert.deepEqual(simulate(times, 10).starts, [200, 2200, 4200]);
});

test("requests 300 ms apart: a run at most once a second, never more than a second late", () => {
  const times = Array.from({ length: 20 }, (_, k) => k * 300);
  const { starts, servedAt } = simulate(times, 10);
  for (let k = 1; k < starts.length; k++) assert.ok(starts[k]! - starts[k - 1]! >= policy.intervalMs);
  times.forEach((t, k) => {
    assert.ok(servedAt[k]! - t <= policy.intervalMs && servedAt[k]! >= t);
  });
});
