// The window-growth rule (core/window-growth.ts) on arrivals made up to the shape each kind of link
// gives: bursts of a window a round trip apart, an unbroken flow, a slow sender, a slow reader.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BOUND_ROUNDS,
  GAP_MS,
  IDLE_SHARE,
  LinkIdle,
  MAX_GROWTH,
  WindowGrowth,
} from "../../server/core/window-growth.ts";

const MIB = 1024 * 1024;
const PACKET = 32 * 1024;

/**
 * Feeds `g` bursts as a window-bound link delivers them: each burst is the window at the time, in
 * 32 KiB packets `spacingMs` apart, and the next starts `rttMs` after this one did. `unread` gives the
 * unread bytes for each packet. Returns the windows seen at each burst's start.
 */
function windowBound(
  g: WindowGrowth,
  bursts: number,
  rttMs: number,
  unread = (): number => 0,
  spacingMs = 0.1,
): number[] {
  const seen: number[] = [];
  let t = 0;
  for (let b = 0; b < bursts; b++) {
    const w = g.window;
    seen.push(w);
    for (let sent = 0; sent < w; sent += PACKET) g.arrived(PACKET, t + (sent / PACKET) * spacingMs, unread());
    t += rttMs;
  }
  return seen;
}

test("a window-bound long link: after two bound rounds the window grows by the link's idle share, up to the ceiling, never past it", () => {
  // RTT 200 ms, 2 MiB busy for 6.4 ms: 97% idle, so 8 times (the most); then 16 MiB busy for
  // 51 ms: 74% idle, 4.8 times, but the ceiling is 32 MiB.
  const g = new WindowGrowth(2 * MIB, 32 * MIB);
  const seen = windowBound(g, 16, 200).map((w) => w / MIB);
  assert.deepEqual(seen.slice(0, BOUND_ROUNDS + 1), [2, 2, 2], "no growth before two whole bound rounds");
  assert.deepEqual([...new Set(seen)], [2, 2 * MAX_GROWTH, 32], `windows seen: ${seen}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `it never shrinks: ${seen}`);
  assert.equal(g.window, 32 * MIB);
  assert.equal(g.growths, 2);
});

test("the growth follows the idle share: 60% idle grows the window 1.25 / 0.4, about 3.1 times", () => {
  const g = new WindowGrowth(2 * MIB, 32 * MIB);
  windowBound(g, BOUND_ROUNDS + 1, 6.4 / 0.4);
  assert.ok(g.window >= 6.25 * MIB && g.window <= 6.5 * MIB, `${g.window / MIB} MiB`);
  assert.equal(g.window % 65536, 0, "in whole 64 KiB");
});

test("a ceiling that is not a power of two from the start is reached, not passed", () => {
  const g = new WindowGrowth(2 * MIB, 5 * MIB);
  windowBound(g, 10, 50);
  assert.equal(g.window, 5 * MIB);
});

test("a close link (one unbroken flow, the CPU the limit): the window stays at the start", () => {
  const g = new WindowGrowth(2 * MIB, 32 * MIB);
  // 1 GiB in packets 0.08 ms apart (400 MB/s), with a 5 ms pause (a GC, the scheduler) every
  // 64 MiB: the bursts between pauses are far longer than any window.
  let t = 0;
  for (let n = 0; n < 1024 * MIB; n += PACKET) {
    t += n % (64 * MIB) === 0 ? 5 : 0.08;
    g.arrived(PACKET, t, 0);
  }
  assert.equal(g.window, 2 * MIB);
});

test("a flow with short pauses of its own (under GAP_MS, however many): the window stays", () => {
  const g = new WindowGrowth(2 * MIB, 32 * MIB);
  let t = 0;
  for (let n = 0; n < 512 * MIB; n += PACKET) {
    t += n % (256 * 1024) === 0 ? GAP_MS * 0.9 : 0.05;
    g.arrived(PACKET, t, 0);
  }
  assert.equal(g.window, 2 * MIB);
});

test("a round trip's idle share just under IDLE_SHARE: the window stays; just over: it grows", () => {
  const under = new WindowGrowth(2 * MIB, 32 * MIB);
  const over = new WindowGrowth(2 * MIB, 32 * MIB);
  // 64 packets 1 ms apart: a 2 MiB burst busy for 64 ms; the idle share is 1 - 64 / RTT.
  windowBound(under, 20, 64 / (1 - IDLE_SHARE * 0.9), () => 0, 1);
  windowBound(over, 20, 64 / (1 - IDLE_SHARE * 1.1), () => 0, 1);
  assert.equal(under.window, 2 * MIB);
  assert.ok(over.window > 2 * MIB);
});

test("a slow reader (bytes unread when the burst ends): the peer waits on the reader, the window stays", () => {
  const g = new WindowGrowth(2 * MIB, 32 * MIB);
  windowBound(g, 20, 100, () => MIB);
  assert.equal(g.window, 2 * MIB);
});

test("one window-sized burst between unbroken flows is not enough: bursts must be window-bound twice in a row", () => {
  const g = new WindowGrowth(2 * MIB, 32 * MIB);
  let t = 0;
  const flow = (bytes: number): void => {
    for (let n = 0; n < bytes; n += PACKET) {
      t += 0.05;
      g.arrived(PACKET, t, 0);
    }
    t += 5;
  };
  for (let i = 0; i < 50; i++) {
    flow(2 * MIB); // window-sized, then a pause
    flow(64 * MIB); // then a long unbroken flow
  }
  assert.equal(g.window, 2 * MIB);
});

test("a ceiling at or below the start: the window is the ceiling and never grows", () => {
  const g = new WindowGrowth(2 * MIB, MIB);
  windowBound(g, 10, 100);
  assert.equal(g.window, MIB);
  assert.equal(g.growths, 0);
});

test("four channels of one busy connection, each waiting while its siblings' data arrives: no window grows", () => {
  const link = new LinkIdle();
  const channels = [0, 1, 2, 3].map(() => new WindowGrowth(2 * MIB, 32 * MIB, link));
  // Each channel in turn gets a 2 MiB burst (6.4 ms); the connection is never idle, but each
  // channel pauses 19 ms between its bursts.
  let t = 0;
  for (let round = 0; round < 50; round++)
    for (const ch of channels)
      for (let n = 0; n < 2 * MIB; n += PACKET) {
        t += 0.1;
        ch.arrived(PACKET, t, 0);
      }
  assert.deepEqual(
    channels.map((c) => c.window),
    [2 * MIB, 2 * MIB, 2 * MIB, 2 * MIB],
  );
  // The same channels each on a connection of its own would have grown: the pauses are real.
  const alone = new WindowGrowth(2 * MIB, 32 * MIB);
  t = 0;
  for (let round = 0; round < 50; round++) {
    for (let n = 0; n < 2 * MIB; n += PACKET) {
      t += 0.1;
      alone.arrived(PACKET, t, 0);
    }
    t += 19.2;
  }
  assert.ok(alone.window > 2 * MIB);
});

test("a close link while the process is busy elsewhere (a 5 ms stall every 4 MiB): the stalls are not idle link, the window stays", () => {
  // 400 MB/s in 32 KiB packets; every 4 MiB the event loop is busy 5 ms with other work, so the
  // data waits in the kernel. Told the busy time, the rule sees no idle link; not told, it would
  // take each stall for a third of a round idle and grow.
  const feed = (g: WindowGrowth, tellBusy: boolean): void => {
    let t = 0;
    let busy = 0;
    for (let n = 0; n < 1024 * MIB; n += PACKET) {
      if (n % (4 * MIB) === 0) {
        t += 5;
        busy += 5;
      }
      t += 0.08;
      busy += 0.01;
      g.arrived(PACKET, t, 0, tellBusy ? busy : 0);
    }
  };
  const told = new WindowGrowth(2 * MIB, 32 * MIB);
  feed(told, true);
  assert.equal(told.window, 2 * MIB);
  const blind = new WindowGrowth(2 * MIB, 32 * MIB);
  feed(blind, false);
  assert.ok(blind.window > 2 * MIB, "without the busy time the stalls look like an idle link");
});
