// The daemon's incremental status: a build with a memo is the model a fresh build makes, and its
// JSON (statusJson) is byte for byte JSON.stringify's, through a sequence of changes (passes of
// every kind, a promotion, live transfers, next runs, sources added and removed, the clock); and
// a build after one pass redoes only that pass's datasets.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Promotion } from "../../server/core/model.ts";
import { buildStatus, type LiveTransfer, type StatusInputs, type StatusRow } from "../../server/core/status.ts";
import { StatusMemo, statusJson } from "../../server/core/status-memo.ts";

const T0 = Date.parse("2026-12-01T12:00:00Z");
const source = (i: number) => ({
  name: `s${i}`,
  target: `backup/s${i}`,
  datasets: [
    { name: "tank", recursive: true, ...(i % 3 === 0 ? { maxLagSeconds: 600 } : {}) },
    { name: "data/db", recursive: false },
  ],
  maxLagSeconds: 3600,
});
const results = ["ok", "up-to-date", "failed", "conflict", "excluded", "skipped"] as const;
let seq = 0;
/** A pass row of every kind in turn. */
function row(src: string, dataset: string, at: number): StatusRow {
  const result = results[seq++ % results.length]!;
  return {
    source: src,
    dataset,
    target: `backup/${src}/${dataset}`,
    mode: result === "failed" ? "error" : result === "conflict" ? "conflict" : "incremental",
    result,
    steps: 1,
    bytes: seq * 1000,
    transferMs: seq,
    startedAt: new Date(at).toISOString(),
    finishedAt: new Date(at + 500).toISOString(),
    ...(result === "ok" || result === "up-to-date" ? { to: { name: `bzman_${seq}`, guid: String(seq) } } : {}),
    ...(result === "failed"
      ? { error: { code: "SSH_CONNECT" as const, message: 'refused "quoted"\n', at: "x" }, resumeToken: "1-abc" }
      : {}),
    ...(result === "conflict" ? { conflict: "DIVERGED" as const, message: "diverged", keptAside: `x${seq}` } : {}),
    ...(result === "excluded" ? { message: "left out by exclude" } : {}),
  } as StatusRow;
}

test("a memoized build is a fresh build's model and JSON through passes, promotions, progress, next runs and the clock", () => {
  const memo = new StatusMemo();
  let sources = [0, 1, 2, 3].map(source);
  let rows: StatusRow[] = [];
  let now = T0;
  let promotions: Promotion[] = [];
  let live: LiveTransfer[] = [];
  const nextRuns = new Map<string, string | null>();
  const check = (what: string): number => {
    const inp: StatusInputs = { sources, rows, pools: [], live, nextRuns, now, promotions, operations: [] };
    const fresh = buildStatus(inp);
    const kept = buildStatus(inp, memo);
    assert.deepEqual(kept, fresh, what);
    assert.equal(statusJson(kept), JSON.stringify(fresh), what);
    assert.equal(statusJson(fresh), JSON.stringify(fresh), `${what}: a model built without a memo`);
    return memo.built;
  };
  check("empty history");
  for (let step = 0; step < 40; step++) {
    const s = sources[step % sources.length]!;
    rows = [...rows, row(s.name, "tank", now), row(s.name, `tank/c${step % 3}`, now), row(s.name, "data/db", now)];
    nextRuns.set(s.name, new Date(now + 600_000).toISOString());
    now += 97_000;
    check(`after pass ${step}`);
    if (step === 7)
      promotions = [
        {
          source: "s1",
          dataset: "tank",
          target: "backup/s1/tank",
          live: "backup/live",
          snapshot: { name: "x", guid: "1" },
          at: "2026-12-01T13:00:00Z",
        },
      ];
    if (step === 11) live = [{ source: "s2", dataset: "tank/c1", bytes: 5, since: "x", bytesPerSecond: 1 }];
    if (step === 12) live = [{ ...live[0]!, bytes: 9 }];
    if (step === 15) live = [];
    if (step === 20) sources = [...sources, source(4)];
    if (step === 30) sources = sources.filter((x) => x.name !== "s0");
    if (step === 33) promotions = [];
  }
  // The clock alone: every part kept.
  now += 5_000;
  assert.equal(check("the clock moved"), 0, "nothing was rebuilt");
});

test("after one source's pass only its datasets are built again", () => {
  const memo = new StatusMemo();
  const sources = Array.from({ length: 50 }, (_, i) => source(i));
  const byKey = new Map<string, StatusRow>();
  for (const s of sources)
    for (const d of ["tank", "tank/a", "data/db"]) byKey.set(`${s.name}/${d}`, row(s.name, d, T0));
  const inp = (now: number): StatusInputs => ({
    sources,
    rows: [...byKey.values()],
    pools: [],
    live: [],
    nextRuns: new Map(),
    now,
  });
  buildStatus(inp(T0), memo);
  assert.equal(memo.built, 150);
  byKey.set("s7/tank/a", row("s7", "tank/a", T0 + 60_000));
  const m = buildStatus(inp(T0 + 61_000), memo);
  assert.equal(memo.built, 1, "the one dataset the pass recorded");
  assert.deepEqual(m, buildStatus(inp(T0 + 61_000)));
});
