import { test } from "node:test";
import assert from "node:assert/strict";
import { buildStatus, type StatusRow } from "../../server/core/status.ts";

const NOW = Date.parse("2026-11-26T12:00:00Z");
const src = {
  name: "web1",
  target: "backup/web1",
  datasets: [
    { name: "tank", recursive: true },
    { name: "data/db", recursive: false },
  ],
  maxLagSeconds: 3600,
};
const row = (dataset: string, at: string, result: StatusRow["result"], extra: Partial<StatusRow> = {}): StatusRow => ({
  source: "web1",
  dataset,
  target: `backup/web1/${dataset}`,
  mode: "incremental",
  result,
  steps: 1,
  bytes: 10,
  transferMs: 5,
  startedAt: at,
  finishedAt: at,
  ...(result === "ok" || result === "up-to-date" ? { to: { name: `s-${at}`, guid: "1" } } : {}),
  ...extra,
});

test("fresh datasets, children of recursive roots, and a never-run dataset", () => {
  const m = buildStatus({
    sources: [src],
    rows: [row("tank", "2026-11-26T11:30:00Z", "ok"), row("tank/a", "2026-11-26T11:30:00Z", "up-to-date")],
    pools: [],
    live: [],
    nextRuns: new Map([["web1", "2026-11-26T12:10:00.000Z"]]),
    now: NOW,
  });
  assert.deepEqual(
    m.datasets.map((d) => [d.dataset, d.fresh, d.lagSeconds]),
    [
      ["data/db", false, null],
      ["tank", true, 1800],
      ["tank/a", true, 1800],
    ],
  );
  assert.equal(m.healthy, false);
  assert.deepEqual(m.problems, ["web1:data/db has never been backed up"]);
  assert.equal(m.datasets[1]!.nextRun, "2026-11-26T12:10:00.000Z");
  assert.equal(m.datasets[1]!.newest?.name, "s-2026-11-26T11:30:00Z");
});

test("stale, failed after a success (lag from the last success), skipped ticks ignored", () => {
  const rows = [
    row("tank", "2026-11-26T09:00:00Z", "ok"),
    row("tank", "2026-11-26T11:50:00Z", "failed", { error: { code: "SSH_CONNECT", message: "down", at: "x" } }),
    row("tank", "2026-11-26T11:55:00Z", "skipped"),
    row("data/db", "2026-11-26T11:59:00Z", "ok"),
  ];
  const m = buildStatus({ sources: [src], rows, pools: [], live: [], nextRuns: new Map(), now: NOW });
  const tank = m.datasets.find((d) => d.dataset === "tank")!;
  assert.equal(tank.lagSeconds, 3 * 3600);
  assert.equal(tank.fresh, false);
  assert.equal(tank.lastResult, "failed");
  assert.deepEqual(tank.lastError, { code: "SSH_CONNECT", message: "down" });
  assert.deepEqual(m.problems, [
    "web1:tank is 10800s behind (goal 3600s)",
    "web1:tank last pass failed: SSH_CONNECT down",
  ]);
});

test("pools: not ONLINE, or fuller than the limit, is a problem", () => {
  const pool = (name: string, health: string, capacity: number) => ({
    host: "local",
    pool: name,
    health,
    sizeBytes: 100,
    freeBytes: 100 - capacity * 100,
    capacity,
    checkedAt: "x",
  });
  const m = buildStatus({
    sources: [],
    rows: [],
    pools: [pool("a", "ONLINE", 0.5), pool("b", "DEGRADED", 0.1), pool("c", "ONLINE", 0.8)],
    live: [],
    nextRuns: new Map(),
    now: NOW,
  });
  assert.deepEqual(m.problems, ["pool b on local is DEGRADED", "pool c on local is 80% full (limit 75%)"]);
  assert.equal(
    buildStatus({
      sources: [],
      rows: [],
      pools: [pool("c", "ONLINE", 0.8)],
      live: [],
      nextRuns: new Map(),
      now: NOW,
      capacityLimit: 0.9,
    }).healthy,
    true,
  );
});

test("a pass stopped on purpose (ABORTED) does not turn a fresh dataset into a failure", () => {
  const rows = [
    row("tank", "2026-11-26T11:50:00Z", "ok"),
    row("tank", "2026-11-26T11:55:00Z", "failed", { error: { code: "ABORTED", message: "transfer aborted", at: "x" } }),
  ];
  const m = buildStatus({
    sources: [{ ...src, datasets: [{ name: "tank", recursive: false }] }],
    rows,
    pools: [],
    live: [],
    nextRuns: new Map(),
    now: NOW,
  });
  assert.equal(m.datasets[0]!.lastResult, "ok");
  assert.equal(m.healthy, true, m.problems.join("; "));
});

test("kept aside: by passes, restores and failbacks (also failed ones), newest first, one entry per dataset, host-qualified", () => {
  const op = (
    kind: "restore" | "failback" | "drill",
    at: string,
    result: "ok" | "failed",
    details: Record<string, string>,
  ) => ({
    id: at,
    kind,
    subject: "web1:tank",
    source: "web1",
    dataset: "tank",
    startedAt: at,
    finishedAt: at,
    result,
    message: "m",
    details,
  });
  const ops = [
    op("restore", "2026-11-26T09:00:00Z", "ok", { to: "web2:tank/x", aside: "tank/x.before-restore-20261126T090000Z" }), // older record: name alone
    op("failback", "2026-11-26T10:00:00Z", "failed", { aside: "web1:tank.before-failback-20261126T100000Z" }),
    op("drill", "2026-11-26T10:30:00Z", "ok", { aside: "not-a-move" }),
    op("restore", "2026-11-26T11:00:00Z", "failed", { to: "web1:tank/y" }),
  ];
  const rows = [
    row("tank", "2026-11-26T08:00:00Z", "ok", { keptAside: "backup/web1/tank.before-conflict-20261126T080000Z" }),
  ];
  const m = buildStatus({ sources: [src], rows, pools: [], live: [], nextRuns: new Map(), now: NOW, operations: ops });
  assert.deepEqual(
    m.keptAside.map((k) => [k.dataset, k.by, k.result]),
    [
      ["web1:tank.before-failback-20261126T100000Z", "failback", "failed"],
      ["web2:tank/x.before-restore-20261126T090000Z", "restore", "ok"],
      ["local:backup/web1/tank.before-conflict-20261126T080000Z", "pass", "ok"],
    ],
  );
});

test("an excluded dataset is shown as excluded, with its old backup, and is no problem, no alert, no check failure", async () => {
  const { conditionsOf } = await import("../../server/core/alerts.ts");
  const { checkVerdict } = await import("../../server/core/check.ts");
  const rows = [
    row("tank", "2026-11-26T11:50:00Z", "ok"),
    row("tank/scratch", "2026-11-20T00:00:00Z", "ok"),
    row("tank/scratch", "2026-11-26T11:50:00Z", "excluded", {
      mode: "excluded",
      message: 'left out by exclude "scratch" of tank; its backup backup/web1/tank/scratch is kept as it is',
    }),
    row("tank/never", "2026-11-26T11:50:00Z", "excluded", {
      mode: "excluded",
      message: "left out by bzman:backup=off on the source; it has no backup",
    }),
    row("data/db", "2026-11-26T11:50:00Z", "ok"),
  ];
  const m = buildStatus({ sources: [src], rows, pools: [], live: [], nextRuns: new Map(), now: NOW });
  const scratch = m.datasets.find((d) => d.dataset === "tank/scratch")!;
  assert.equal(scratch.lastResult, "excluded");
  assert.match(scratch.excluded!, /exclude "scratch"/);
  assert.equal(scratch.newest?.name, "s-2026-11-20T00:00:00Z", "its backup is still shown");
  assert.equal(m.datasets.find((d) => d.dataset === "tank/never")!.excluded !== null, true);
  assert.deepEqual(m.problems, []);
  assert.equal(m.healthy, true);
  assert.deepEqual(conditionsOf(m), []);
  assert.equal(checkVerdict(m, { capacityLimit: 0.75 }).code, 0);
});

test("a root's own max_lag is the goal of every dataset below it", () => {
  const s = {
    ...src,
    datasets: [
      { name: "tank", recursive: true, maxLagSeconds: 7200 },
      { name: "data/db", recursive: false },
    ],
  };
  const rows = [row("tank/a", "2026-11-26T10:30:00Z", "ok"), row("data/db", "2026-11-26T10:30:00Z", "ok")];
  const m = buildStatus({ sources: [s], rows, pools: [], live: [], nextRuns: new Map(), now: NOW });
  assert.deepEqual(
    m.datasets.map((d) => [d.dataset, d.maxLagSeconds, d.fresh]),
    [
      ["data/db", 3600, false],
      ["tank", 7200, false],
      ["tank/a", 7200, true],
    ],
  );
});
