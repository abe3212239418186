import { test } from "node:test";
import assert from "node:assert/strict";
import { Scheduler } from "../../server/schedule/scheduler.ts";
import { Slots } from "../../server/engine/slots.ts";
import { BackupError } from "../../server/errors.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test("Slots: never more than the limit at once, served in order; waiting can be aborted", async () => {
  const slots = new Slots(2);
  let now = 0;
  let max = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 7 }, async (_, i) => {
      const release = await slots.acquire();
      order.push(i);
      max = Math.max(max, ++now);
      await sleep(5 + (i % 3) * 5);
      now--;
      release();
    }),
  );
  assert.equal(max, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(slots.inUse, 0);

  const hold = await slots.acquire();
  const hold2 = await slots.acquire();
  const stop = new AbortController();
  const waiting = slots.acquire(stop.signal);
  stop.abort();
  await assert.rejects(waiting, (e: unknown) => e instanceof BackupError && e.code === "ABORTED");
  hold();
  hold();
  hold2();
  assert.equal(slots.inUse, 0, "a release is counted once");
});

test("Scheduler: a source's pass never overlaps itself; the skipped tick is reported; others run", async () => {
  const runs: string[] = [];
  const skipped: string[] = [];
  let release!: () => void;
  const slow = new Promise<void>((r) => (release = r));
  const s = new Scheduler(
    [
      { name: "a", cron: "0 0 1 1 *" },
      { name: "b", cron: "0 0 1 1 *" },
    ],
    {
      pass: async (name) => {
        runs.push(name);
        if (name === "a") await slow;
      },
      skipped: (name) => skipped.push(name),
    },
  );
  s.start();
  try {
    s.fire("a");
    s.fire("a");
    s.fire("b");
    await sleep(10);
    assert.deepEqual(runs, ["a", "b"]);
    assert.deepEqual(skipped, ["a"]);
    assert.deepEqual([...s.running().keys()], ["a"], "b has ended, a still runs");
    assert.ok(s.nextRuns().get("a") instanceof Date);
    release();
    await sleep(10);
    s.fire("a");
    assert.deepEqual(runs, ["a", "b", "a"], "after the pass ended, the next tick runs");
  } finally {
    assert.deepEqual(await s.shutdown(1000), []);
  }
});

test("Scheduler: shutdown aborts running passes and waits for them, within the bound", async () => {
  let aborted = false;
  const s = new Scheduler([{ name: "a", cron: "0 0 1 1 *" }], {
    pass: (_name, signal) =>
      new Promise<void>((resolve) =>
        signal.addEventListener("abort", () => {
          aborted = true;
          setTimeout(resolve, 50);
        }),
      ),
    skipped: () => {},
  });
  s.start();
  s.fire("a");
  assert.deepEqual(await s.shutdown(5000), []);
  assert.ok(aborted);
  s.fire("a");
  assert.equal(s.running().size, 0, "no pass starts after shutdown");

  const stuck = new Scheduler([{ name: "x", cron: "0 0 1 1 *" }], {
    pass: () => new Promise(() => {}),
    skipped: () => {},
  });
  stuck.start();
  stuck.fire("x");
  assert.deepEqual(
    await stuck.shutdown(50),
    ["x"],
    "a pass that ignores the abort is reported, not waited for forever",
  );
});

test("Scheduler: an invalid cron expression is an error at start", () => {
  const s = new Scheduler([{ name: "a", cron: "61 * * * *" }], { pass: async () => {}, skipped: () => {} });
  assert.throws(() => s.start(), /schedule "61 \* \* \* \*" of a is not a valid cron expression/);
});
