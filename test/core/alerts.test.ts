import { test } from "node:test";
import assert from "node:assert/strict";
import { conditionsOf, planAlerts, type AlertRecord, type Condition } from "../../server/core/alerts.ts";
import type { StatusModel } from "../../server/core/status.ts";

const HOUR = 3600_000;
const T0 = Date.parse("2026-11-26T12:00:00Z");
const cond = (key: string): Condition => ({
  key,
  host: "web1",
  what: "x",
  where: "web1:tank",
  code: "SSH_CONNECT",
  message: "m",
  advice: "a",
});

function step(active: Condition[], sent: Map<string, AlertRecord>, now: number): string[] {
  const plan = planAlerts(active, sent, now, 6 * HOUR);
  for (const p of plan) {
    if (p.after) sent.set(p.after.key, p.after);
    else sent.delete(p.mail.condition.key);
  }
  return plan.map((p) => `${p.mail.kind}:${p.mail.condition.key}`);
}

test("an alert at once, no repeat within the interval, a reminder after it, resolved when it clears", () => {
  const sent = new Map<string, AlertRecord>();
  assert.deepEqual(step([cond("a")], sent, T0), ["alert:a"]);
  assert.deepEqual(step([cond("a")], sent, T0 + HOUR), [], "not again every pass");
  assert.deepEqual(step([cond("a"), cond("b")], sent, T0 + 2 * HOUR), ["alert:b"]);
  assert.deepEqual(step([cond("a"), cond("b")], sent, T0 + 6 * HOUR), ["reminder:a"]);
  assert.deepEqual(step([cond("b")], sent, T0 + 7 * HOUR), ["resolved:a"]);
  assert.deepEqual(step([], sent, T0 + 8 * HOUR), ["resolved:b"]);
  assert.deepEqual(step([], sent, T0 + 9 * HOUR), []);
});

test("a mail that could not be sent is planned again next time", () => {
  const sent = new Map<string, AlertRecord>();
  assert.deepEqual(
    planAlerts([cond("a")], sent, T0, HOUR).map((p) => p.mail.kind),
    ["alert"],
  );
  assert.deepEqual(
    planAlerts([cond("a")], sent, T0 + 1000, HOUR).map((p) => p.mail.kind),
    ["alert"],
    "nothing was recorded, so it is retried",
  );
});

test("conditionsOf: failed and conflicting passes, stale datasets, unhealthy and full pools, with advice", () => {
  const m: StatusModel = {
    generatedAt: "x",
    healthy: false,
    problems: [],
    datasets: [
      {
        source: "web1",
        dataset: "tank/a",
        target: "b/a",
        newest: null,
        lagSeconds: 7200,
        maxLagSeconds: 3600,
        fresh: false,
        lastResult: "failed",
        lastRunAt: "x",
        lastError: { code: "ZFS_DEST_MODIFIED", message: "modified" },
        lastConflict: null,
        lastMessage: null,
        lastPhase: null,
        lastBytes: 0,
        lastDurationMs: 0,
        progress: null,
        nextRun: null,
        promoted: null,
        lastKeptAside: null,
        resumeToken: null,
        excluded: null,
      },
      {
        source: "web1",
        dataset: "tank/b",
        target: "b/b",
        newest: null,
        lagSeconds: 10,
        maxLagSeconds: 3600,
        fresh: true,
        lastResult: "conflict",
        lastRunAt: "x",
        lastError: null,
        lastConflict: null,
        lastMessage: null,
        lastPhase: null,
        lastBytes: 0,
        lastDurationMs: 0,
        progress: null,
        nextRun: null,
        promoted: null,
        lastKeptAside: null,
        resumeToken: null,
        excluded: null,
      },
      {
        source: "web1",
        dataset: "tank/c",
        target: "b/c",
        newest: null,
        lagSeconds: 10,
        maxLagSeconds: 3600,
        fresh: true,
        lastResult: "ok",
        lastRunAt: "x",
        lastError: null,
        lastConflict: null,
        lastMessage: null,
        lastPhase: null,
        lastBytes: 0,
        lastDurationMs: 0,
        progress: null,
        nextRun: null,
        promoted: null,
        lastKeptAside: null,
        resumeToken: null,
        excluded: null,
      },
    ],
    pools: [
      { host: "local", pool: "backup", health: "DEGRADED", sizeBytes: 1, freeBytes: 0, capacity: 0.9, checkedAt: "x" },
    ],
    drills: [
      { subject: "web1", at: "x", result: "failed", message: "cannot read a.bin: EIO" },
      { subject: "web2", at: "x", result: "ok", message: "fine" },
    ],
    scrubs: [{ subject: "backup", at: "x", result: "failed", message: "the scrub of backup found 2 error(s)" }],
    keptAside: [],
  };
  const c = conditionsOf(m, new Map([["web1:tank/a", "cannot receive: destination modified"]]));
  assert.deepEqual(
    c.map((x) => x.key),
    [
      "pass web1:tank/a",
      "lag web1:tank/a",
      "pass web1:tank/b",
      "drill web1",
      "scrub backup",
      "pool-health local:backup",
      "pool-space local:backup",
    ],
  );
  assert.equal(c[3]!.code, "DRILL_FAILED");
  assert.match(c[4]!.advice, /zpool status -v/);
  assert.equal(c[0]!.detail, "cannot receive: destination modified");
  assert.match(c[0]!.advice, /will not roll it back/);
  assert.equal(c[0]!.what, "pass FAILED (ZFS_DEST_MODIFIED)");
});

test("conditionsOf: a restore or failback that kept a dataset aside alerts for a day, saying where and whether it failed; a pass's aside alerts from its row", () => {
  const base = {
    generatedAt: "2026-11-26T12:00:00.000Z",
    healthy: true,
    problems: [],
    datasets: [],
    pools: [],
    drills: [],
    scrubs: [],
  };
  const keptAside = [
    {
      dataset: "web1:tank.before-failback-20261126T100000Z",
      subject: "web1:tank",
      by: "failback" as const,
      at: "2026-11-26T10:00:00.000Z",
      result: "failed",
    },
    {
      dataset: "web1:tank/x.before-restore-20261125T100000Z",
      subject: "web1:tank/x",
      by: "restore" as const,
      at: "2026-11-25T10:00:00.000Z",
      result: "ok",
    },
    {
      dataset: "local:b/tank.before-conflict-20261126T110000Z",
      subject: "web1:tank",
      by: "pass" as const,
      at: "2026-11-26T11:00:00.000Z",
      result: "ok",
    },
  ];
  const c = conditionsOf({ ...base, keptAside });
  assert.deepEqual(
    c.map((x) => [x.key, x.code]),
    [["aside web1:tank.before-failback-20261126T100000Z", "KEPT_ASIDE"]],
  );
  assert.match(c[0]!.message, /it is kept as web1:tank\.before-failback-20261126T100000Z; the failback then failed/);
  assert.match(c[0]!.what, /failback FAILED after it kept a dataset aside/);
});
