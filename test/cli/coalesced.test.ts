// The coalescing adapter on a fake clock: a burst of requests runs the job once, a request during
// a run gets a run after it, flush() runs what waits at once, and close() stops the timer.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Coalesced, type CoalesceClock } from "../../server/cli/coalesced.ts";

/** Lets promise chains settle (real time: the fake clock does not move). */
const settled = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A manual clock: timers fire only when the test advances time. */
function fakeClock(): CoalesceClock & { advance(ms: number): Promise<void>; pending(): number } {
  let now = 0;
  let timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let ids = 0;
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = ++ids;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (h) => {
      timers = timers.filter((t) => t.id !== h);
    },
    pending: () => timers.length,
    async advance(ms) {
      await settled();
      const end = now + ms;
      for (;;) {
        const next = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        timers = timers.filter((t) => t !== next);
        now = next.at;
        next.fn();
        await settled();
      }
      now = end;
    },
  };
}

test("a burst runs the job once, after it; a later request runs it again", async () => {
  const clock = fakeClock();
  let runs = 0;
  const c = new Coalesced(async () => void runs++, { quietMs: 200, intervalMs: 1000 }, clock);
  for (let k = 0; k < 50; k++) {
    c.request();
    await clock.advance(10);
  }
  assert.equal(runs, 0, "nothing runs while the burst goes on (under a second)");
  await clock.advance(1000);
  assert.equal(runs, 1, "the burst ran the job once");
  await clock.advance(5000);
  assert.equal(runs, 1, "and nothing more without requests");
  c.request();
  await clock.advance(200);
  assert.equal(runs, 2);
  c.close();
});

test("a request during a run is not dropped; flush runs what waits at once; close stops", async () => {
  const clock = fakeClock();
  let runs = 0;
  let release: () => void = () => undefined;
  const c = new Coalesced(
    () =>
      new Promise<void>((r) => {
        runs++;
        release = r;
      }),
    { quietMs: 200, intervalMs: 1000 },
    clock,
  );
  c.request();
  await clock.advance(200);
  assert.equal(runs, 1);
  c.request(); // during the run
  await clock.advance(5000);
  assert.equal(runs, 1, "never two runs at once");
  release();
  await clock.advance(0);
  await clock.advance(1000);
  assert.equal(runs, 2, "the request during the run got a run of its own");
  release();
  c.request();
  const flushed = c.flush();
  await settled();
  assert.equal(runs, 3, "flush starts the waiting run without waiting for the timer");
  release();
  await flushed;
  c.close();
  c.request();
  await clock.advance(5000);
  assert.equal(runs, 3, "after close nothing runs");
  assert.equal(clock.pending(), 0, "and no timer is left");
});
