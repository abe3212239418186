import { test } from "node:test";
import assert from "node:assert/strict";
import type { ReportModel } from "../../server/core/summary.ts";
import { reportTextTable } from "../../server/email/report-text.ts";

const report = (n: number): ReportModel => ({
  from: "2026-11-30T00:00:00Z",
  to: "2026-12-01T00:00:00Z",
  totals: { passes: n, failures: 1, bytes: 1e6, datasets: n },
  rows: Array.from({ length: n }, (_, i) => ({
    source: `web${i}`,
    dataset: `tank/a-rather-long-dataset-name-number-${i}`,
    state: i === 0 ? ("failed" as const) : ("ok" as const),
    newest: "bzman_20261201T000000Z",
    lagSeconds: 600 * (i + 1),
    passes: 144,
    failures: i === 0 ? 1 : 0,
    bytes: 12_345 * (i + 1),
    transferMs: 1500,
    lastError: null,
  })),
  bytesPerHour: Array(24).fill(0),
  problems: ["web0:tank/a-rather-long-dataset-name-number-0 last pass failed"],
  pools: [],
  checks: [],
});

test("the report's text: aligned columns under their heads, no wider than asked (names shortened from the left), every dataset once", () => {
  for (const width of [72, 100, 160]) {
    const text = reportTextTable(report(12), width);
    const lines = text.trimEnd().split("\n");
    for (const l of lines) assert.ok(l.length <= width, `${l.length} > ${width}: ${l}`);
    const head = lines.findIndex((l) => l.startsWith("DATASET"));
    assert.ok(head > 0, text);
    const rows = lines.slice(head + 1, head + 13);
    assert.equal(rows.length, 12);
    // Every column starts where its head does.
    for (const name of ["STATE", "NEWEST", "LAG", "PASSES", "FAILURES", "BYTES", "TIME"]) {
      const at = lines[head]!.indexOf(name);
      for (const r of rows) {
        assert.equal(r[at - 1], " ", `${name} column of: ${r}`);
        assert.notEqual(r[at] ?? " ", " ", `${name} column of: ${r}`);
      }
    }
    assert.match(rows[0]!, /FAILED/);
    if (width < 100) assert.match(rows[3]!, /^…/, "a long name is cut from the left");
  }
});
