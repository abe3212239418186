import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Throttle } from "../../server/engine/throttle.ts";
import { limitAt, parseRate, parseTimeOfDay } from "../../server/core/bandwidth.ts";

/** A clock whose time moves only when the throttle sleeps (and by what the test says). */
function fakeClock(): { now(): number; sleep(ms: number): Promise<void>; slept: number } {
  const c = {
    t: 0,
    slept: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
      c.slept += ms;
    },
  };
  return c;
}

async function pass(chunks: number, size: number, t: Throttle): Promise<number> {
  let n = 0;
  await pipeline(
    Readable.from(Array.from({ length: chunks }, () => Buffer.alloc(size))),
    t,
    new Writable({
      write(c: Buffer, _e, cb) {
        n += c.length;
        cb();
      },
    }),
  );
  return n;
}

test("Throttle: 1 MiB at 100 KiB/s takes about 10 s of waiting (minus the quarter-second burst); every byte passes", async () => {
  const clock = fakeClock();
  const n = await pass(16, 64 * 1024, new Throttle(() => 100 * 1024, clock));
  assert.equal(n, 1024 * 1024);
  assert.ok(clock.slept > 9_900 && clock.slept < 10_300, `slept ${clock.slept} ms`);
});

test("Throttle: no limit (or a window that is closed) passes everything without waiting", async () => {
  const clock = fakeClock();
  assert.equal(await pass(16, 64 * 1024, new Throttle(() => null, clock)), 1024 * 1024);
  assert.equal(clock.slept, 0);
});

test("bandwidth: sizes, times of day, and windows (also across midnight)", () => {
  assert.equal(parseRate("20M"), 20 * 1024 * 1024);
  assert.equal(parseRate("1.5K"), 1536);
  assert.equal(parseRate("1000"), 1000);
  for (const bad of ["", "0", "20 M", "20MB", "-5", "fast"]) assert.equal(parseRate(bad), null, bad);
  assert.equal(parseTimeOfDay("08:30"), 510);
  assert.equal(parseTimeOfDay("24:00"), null);
  const day = { bytesPerSecond: 100, from: 480, to: 1080 };
  assert.deepEqual(
    [479, 480, 1079, 1080].map((m) => limitAt(day, m)),
    [null, 100, 100, null],
  );
  const night = { bytesPerSecond: 100, from: 1320, to: 360 };
  assert.deepEqual(
    [1319, 1320, 0, 359, 360].map((m) => limitAt(night, m)),
    [null, 100, 100, 100, null],
  );
  assert.equal(limitAt({ bytesPerSecond: 7 }, 0), 7);
  assert.equal(limitAt(undefined, 0), null);
});
