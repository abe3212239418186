// core/parallel.ts: which datasets of a pass may start now (parents before children, the
// per-source bound, a failure holding back no sibling). Table-tested, plus a whole pass
// simulated step by step.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mayStart, planParents, type DatasetState } from "../../server/core/parallel.ts";

/** Compact states: "w" waiting, "r" running, "d" done, "f" failed. */
const S: Record<string, DatasetState> = { w: "waiting", r: "running", d: "done", f: "failed" };
const states = (s: string): DatasetState[] => [...s].map((c) => S[c]!);

const tree = ["t/a", "t/b", "t/c", "t/a/1", "t/a/2", "t/b/1", "t/a/1/x"];

const cases: Array<{ name: string; names: string[]; states: string; limit: number; start: string[] }> = [
  { name: "nothing planned", names: [], states: "", limit: 4, start: [] },
  {
    name: "all roots at once, children wait for their parents",
    names: tree,
    states: "wwwwwww",
    limit: 8,
    start: ["t/a", "t/b", "t/c"],
  },
  {
    name: "the bound: limit 2 starts the first two in plan order",
    names: tree,
    states: "wwwwwww",
    limit: 2,
    start: ["t/a", "t/b"],
  },
  { name: "limit 1 is the sequential pass", names: tree, states: "wwwwwww", limit: 1, start: ["t/a"] },
  { name: "limit below 1 counts as 1", names: tree, states: "wwwwwww", limit: 0, start: ["t/a"] },
  { name: "running ones use up the bound", names: tree, states: "rrwwwww", limit: 3, start: ["t/c"] },
  { name: "bound full: nothing starts", names: tree, states: "rrrwwww", limit: 3, start: [] },
  {
    name: "a running parent holds back its children only",
    names: tree,
    states: "rdwwwww",
    limit: 8,
    start: ["t/c", "t/b/1"],
  },
  {
    name: "a done parent releases its children (not its grandchildren)",
    names: tree,
    states: "dddwwww",
    limit: 8,
    start: ["t/a/1", "t/a/2", "t/b/1"],
  },
  {
    name: "a failed parent releases its children too (each then checks whether it can be received)",
    names: tree,
    states: "fddwwww",
    limit: 8,
    start: ["t/a/1", "t/a/2", "t/b/1"],
  },
  { name: "a failed sibling holds back nothing", names: tree, states: "fwwwwww", limit: 2, start: ["t/b", "t/c"] },
  {
    name: "grandchild waits for its own parent, not just the root",
    names: tree,
    states: "dddrddw",
    limit: 8,
    start: [],
  },
  { name: "grandchild after its parent failed", names: tree, states: "dddfddw", limit: 8, start: ["t/a/1/x"] },
  { name: "everything ended: nothing starts", names: tree, states: "dfdddfd", limit: 4, start: [] },
  {
    name: "the nearest planned ancestor counts when the one between is not planned",
    names: ["t/a", "t/a/1/x", "u"],
    states: "rww",
    limit: 4,
    start: ["u"],
  },
  {
    name: "datasets of different pools do not wait for each other",
    names: ["tank", "rpool", "tank/a", "rpool/b"],
    states: "rdww",
    limit: 4,
    start: ["rpool/b"],
  },
  {
    name: "a name that only looks like a child (t/ab is not below t/a)",
    names: ["t/a", "t/ab"],
    states: "rw",
    limit: 4,
    start: ["t/ab"],
  },
];

for (const c of cases) {
  test(`mayStart: ${c.name}`, () => {
    assert.deepEqual(
      mayStart(c.names, states(c.states), c.limit).map((i) => c.names[i]),
      c.start,
    );
  });
}

test("planParents: nearest ancestor in the list, by index", () => {
  assert.deepEqual(planParents(tree), [null, null, null, 0, 0, 1, 3]);
  assert.deepEqual(planParents(["a/b/c", "a"]), [1, null]);
});

test("mayStart: a missing state counts as waiting", () => {
  assert.deepEqual(mayStart(["a", "b"], [], 1), [0]);
});

/**
 * Runs a whole pass: starts what mayStart allows, then ends the running dataset that `pick`
 * chooses (failing those in `fail`), until nothing is left. Returns the events in order.
 */
function simulate(
  names: string[],
  limit: number,
  fail: Set<string>,
  pick: (running: number[]) => number,
): { events: string[]; peak: number } {
  const st: DatasetState[] = names.map(() => "waiting");
  const events: string[] = [];
  let peak = 0;
  for (;;) {
    for (const i of mayStart(names, st, limit)) {
      st[i] = "running";
      events.push(`start ${names[i]}`);
    }
    const running = st.flatMap((s, i) => (s === "running" ? [i] : []));
    peak = Math.max(peak, running.length);
    if (running.length === 0) break;
    const i = pick(running);
    st[i] = fail.has(names[i]!) ? "failed" : "done";
    events.push(`end ${names[i]}`);
  }
  assert.ok(
    st.every((s) => s === "done" || s === "failed"),
    "every dataset ran",
  );
  return { events, peak };
}

test("a whole pass, ending in any order: each dataset runs once, after its parent ended, within the bound", () => {
  const names = ["p", "p/a", "p/b", "p/c", "p/a/1", "p/a/2", "p/a/3", "p/b/1", "p/b/2", "p/b/1/x", "p/b/1/y", "p/c/1"];
  const parents = planParents(names);
  const orders: Array<[string, (r: number[]) => number]> = [
    ["first started ends first", (r) => r[0]!],
    ["last started ends first", (r) => r.at(-1)!],
    ["middle ends first", (r) => r[Math.floor(r.length / 2)]!],
  ];
  for (const [label, pick] of orders) {
    for (const limit of [1, 2, 4]) {
      for (const fail of [new Set<string>(), new Set(["p/b", "p/a/2"])]) {
        const { events, peak } = simulate(names, limit, fail, pick);
        const at = (e: string): number => events.indexOf(e);
        for (const [i, n] of names.entries()) {
          assert.equal(events.filter((e) => e === `start ${n}`).length, 1, `${label}: ${n} started once`);
          const p = parents[i];
          if (p !== null && p !== undefined)
            assert.ok(at(`start ${n}`) > at(`end ${names[p]}`), `${label}, limit ${limit}: ${n} after its parent`);
        }
        assert.ok(peak <= limit, `${label}: at most ${limit} at once (saw ${peak})`);
        if (limit > 1) assert.ok(peak > 1, `${label}: limit ${limit} runs datasets side by side`);
      }
    }
  }
});
