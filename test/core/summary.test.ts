import { test } from "node:test";
import assert from "node:assert/strict";
import { buildStatus, type StatusRow } from "../../server/core/status.ts";
import { buildReport, buildReportFromTallies, reportIsClean, tallyRows } from "../../server/core/summary.ts";

const NOW = Date.parse("2026-11-26T12:00:00Z");
const src = {
  name: "web1",
  target: "backup/web1",
  datasets: [
    { name: "tank", recursive: false },
    { name: "data", recursive: false },
  ],
  maxLagSeconds: 3600,
};
const row = (dataset: string, at: string, result: StatusRow["result"], bytes: number): StatusRow => ({
  source: "web1",
  dataset,
  target: `backup/web1/${dataset}`,
  mode: "incremental",
  result,
  steps: 1,
  bytes,
  transferMs: 5,
  startedAt: at,
  finishedAt: at,
  ...(result === "ok" ? { to: { name: `s-${at}`, guid: "1" } } : {}),
});
const rows = [
  row("tank", "2026-11-25T11:59:59.999Z", "ok", 1), // before the window
  row("tank", "2026-11-25T12:00:00.000Z", "ok", 10), // its first instant: hour 0
  row("tank", "2026-11-25T12:30:00.000Z", "failed", 20),
  row("data", "2026-11-26T09:15:00.000Z", "conflict", 30),
  row("data", "2026-11-26T11:10:00.000Z", "skipped", 40), // skipped ticks are not passes
  row("tank", "2026-11-26T11:59:59.999Z", "ok", 50), // hour 23
  row("data", "2026-11-26T12:00:00.000Z", "ok", 60), // at the report's time: outside
];

test("tallies: passes of the 24 hours before now, per dataset and hour, skipped ticks left out", () => {
  assert.deepEqual(
    tallyRows(rows, NOW).map((t) => [t.dataset, t.hour, t.passes, t.failures, t.bytes]),
    [
      ["tank", 0, 2, 1, 30],
      ["data", 21, 1, 1, 30],
      ["tank", 23, 1, 0, 50],
    ],
  );
});

test("the report from tallies is the report from rows", () => {
  const status = buildStatus({ sources: [src], rows, pools: [], live: [], nextRuns: new Map(), now: NOW });
  const report = buildReport(status, rows, NOW);
  assert.deepEqual(buildReportFromTallies(status, tallyRows(rows, NOW), NOW), report);
  assert.deepEqual(report.totals, { passes: 4, failures: 2, bytes: 110, datasets: 2 });
  assert.deepEqual(
    report.rows.map((r) => [r.dataset, r.state, r.passes, r.failures, r.bytes]),
    [
      ["data", "ok", 1, 1, 30],
      ["tank", "ok", 3, 1, 80],
    ],
  );
  assert.equal(report.bytesPerHour[0], 30);
  assert.equal(report.bytesPerHour[21], 30);
  assert.equal(report.bytesPerHour[23], 50);
});

test("reportIsClean (report --print's exit 0): only when no dataset failed or is stale and nothing is a problem", () => {
  const ok = row("tank", "2026-11-26T11:30:00.000Z", "ok", 1);
  const okData = row("data", "2026-11-26T11:30:00.000Z", "ok", 1);
  const pool = {
    host: "local",
    pool: "backup",
    health: "ONLINE",
    sizeBytes: 100,
    freeBytes: 60,
    capacity: 0.4,
    checkedAt: "2026-11-26T11:59:00.000Z",
  };
  const cases: Array<[string, StatusRow[], (typeof pool)[], boolean]> = [
    ["both fresh, the pool fine", [ok, okData], [pool], true],
    ["one last pass failed", [ok, okData, row("data", "2026-11-26T11:40:00.000Z", "failed", 0)], [pool], false],
    ["one conflict", [ok, okData, row("data", "2026-11-26T11:40:00.000Z", "conflict", 0)], [pool], false],
    ["one behind its goal", [ok, row("data", "2026-11-26T09:00:00.000Z", "ok", 1)], [pool], false],
    ["one never backed up", [ok], [pool], false],
    ["the pool degraded", [ok, okData], [{ ...pool, health: "DEGRADED" }], false],
  ];
  for (const [what, rs, pools, clean] of cases) {
    const status = buildStatus({ sources: [src], rows: rs, pools, live: [], nextRuns: new Map(), now: NOW });
    assert.equal(reportIsClean(buildReport(status, rs, NOW)), clean, what);
  }
});
