import { test } from "node:test";
import assert from "node:assert/strict";
import type { ErrorCode } from "../../server/core/codes.ts";
import { CHECK, checkVerdict, unknownVerdict } from "../../server/core/check.ts";
import { buildStatus, type PoolStatus, type StatusRow } from "../../server/core/status.ts";

const NOW = Date.parse("2026-11-26T12:00:00Z");
const ago = (min: number): string => new Date(NOW - min * 60_000).toISOString();
const sources = [
  {
    name: "web1",
    target: "backup/web1",
    datasets: [
      { name: "tank/a", recursive: false },
      { name: "tank/b", recursive: false },
    ],
    maxLagSeconds: 3600,
  },
];
const ok = (dataset: string, min: number): StatusRow => ({
  source: "web1",
  dataset,
  target: `backup/web1/${dataset}`,
  mode: "incremental",
  result: "ok",
  steps: 1,
  bytes: 1,
  transferMs: 1,
  to: { name: "s", guid: "1" },
  startedAt: ago(min),
  finishedAt: ago(min),
});
const failed = (dataset: string, min: number, code: ErrorCode = "SSH_CONNECT"): StatusRow => ({
  ...ok(dataset, min),
  to: undefined,
  result: "failed",
  mode: "error",
  error: { code, message: "m", at: ago(min) },
});
const conflict = (dataset: string, min: number): StatusRow => ({
  ...ok(dataset, min),
  to: undefined,
  result: "conflict",
  mode: "conflict",
  conflict: "diverged",
});
const pool = (health = "ONLINE", capacity = 0.4): PoolStatus => ({
  host: "local",
  pool: "backup",
  health,
  sizeBytes: 100,
  freeBytes: 60,
  capacity,
  checkedAt: ago(0),
});

const table: Array<{ name: string; rows: StatusRow[]; pools?: PoolStatus[]; code: number; says: RegExp }> = [
  {
    name: "all fresh",
    rows: [ok("tank/a", 10), ok("tank/b", 20)],
    code: CHECK.OK,
    says: /^BZMAN OK - 2 datasets fresh, 1 pool ONLINE \| datasets=2;;;0 stale=0;;;0 failing=0;;;0 worst_lag_ratio=0\.33;1;2;0 'pool_local:backup'=40%;75;95;0;100$/,
  },
  {
    name: "behind the goal",
    rows: [ok("tank/a", 10), ok("tank/b", 90)],
    code: CHECK.WARNING,
    says: /^BZMAN WARNING - 1 warning: web1:tank\/b 1\.5h behind \(goal 1\.0h\) \| .*stale=1;;;0 failing=0;;;0 worst_lag_ratio=1\.50;1;2;0/,
  },
  {
    name: "a failed pass while still fresh",
    rows: [ok("tank/a", 10), ok("tank/b", 20), failed("tank/b", 5)],
    code: CHECK.WARNING,
    says: /^BZMAN WARNING - 1 warning: web1:tank\/b last pass failed \(SSH_CONNECT\) \| .*failing=1/,
  },
  {
    name: "a pool beyond the capacity limit",
    rows: [ok("tank/a", 10), ok("tank/b", 10)],
    pools: [pool("ONLINE", 0.8)],
    code: CHECK.WARNING,
    says: /pool backup on local 80% full.*'pool_local:backup'=80%;75;95;0;100$/,
  },
  {
    name: "a dataset with no pass yet beside good ones",
    rows: [ok("tank/a", 10)],
    code: CHECK.WARNING,
    says: /web1:tank\/b not backed up yet/,
  },
  {
    name: "more than twice behind",
    rows: [ok("tank/a", 10), ok("tank/b", 180)],
    code: CHECK.CRITICAL,
    says: /^BZMAN CRITICAL - 1 critical: web1:tank\/b 3\.0h behind \(goal 1\.0h\)/,
  },
  {
    name: "a conflict",
    rows: [ok("tank/a", 10), ok("tank/b", 20), conflict("tank/b", 5)],
    code: CHECK.CRITICAL,
    says: /web1:tank\/b conflict \(diverged\)/,
  },
  {
    name: "never backed up although passes ran",
    rows: [ok("tank/a", 10), failed("tank/b", 5, "ZFS_NO_SPACE")],
    code: CHECK.CRITICAL,
    says: /web1:tank\/b never backed up \(last: ZFS_NO_SPACE\)/,
  },
  {
    name: "a degraded pool",
    rows: [ok("tank/a", 10), ok("tank/b", 10)],
    pools: [pool("DEGRADED")],
    code: CHECK.CRITICAL,
    says: /^BZMAN CRITICAL - 1 critical: pool backup on local DEGRADED/,
  },
  {
    name: "a nearly full pool",
    rows: [ok("tank/a", 10), ok("tank/b", 10)],
    pools: [pool("ONLINE", 0.97)],
    code: CHECK.CRITICAL,
    says: /pool backup on local 97% full/,
  },
  {
    name: "critical before warning, then a count of the rest",
    rows: [ok("tank/a", 90), ok("tank/b", 200)],
    pools: [pool("FAULTED", 0.8)],
    code: CHECK.CRITICAL,
    says: /^BZMAN CRITICAL - 2 critical, 2 warnings: web1:tank\/b 3\.3h behind \(goal 1\.0h\); pool backup on local FAULTED; web1:tank\/a 1\.5h behind \(goal 1\.0h\); and 1 more \|/,
  },
  {
    name: "nothing recorded yet",
    rows: [],
    code: CHECK.UNKNOWN,
    says: /^BZMAN UNKNOWN - 1 unknown: no pass of any dataset is recorded yet \(is bzman serve running\?\) \|/,
  },
  {
    name: "a pool that could not be checked",
    rows: [ok("tank/a", 10), ok("tank/b", 10)],
    pools: [pool("UNKNOWN (SPAWN_FAILED)")],
    code: CHECK.UNKNOWN,
    says: /pool backup on local could not be checked \(UNKNOWN \(SPAWN_FAILED\)\)/,
  },
  {
    name: "a warning outranks an unknown",
    rows: [ok("tank/a", 10), ok("tank/b", 90)],
    pools: [pool("UNKNOWN (SSH_CONNECT)")],
    code: CHECK.WARNING,
    says: /^BZMAN WARNING - 1 warning, 1 unknown:/,
  },
];

for (const c of table) {
  test(`checkVerdict: ${c.name} → ${["OK", "WARNING", "CRITICAL", "UNKNOWN"][c.code]}`, () => {
    const m = buildStatus({
      sources,
      rows: c.rows,
      pools: c.pools ?? [pool()],
      live: [],
      nextRuns: new Map(),
      now: NOW,
    });
    const v = checkVerdict(m, { capacityLimit: 0.75 });
    assert.equal(v.code, c.code, v.line);
    assert.match(v.line, c.says);
    assert.equal(v.line.split("\n").length, 1);
    assert.equal(v.line.split("|").length, 2, "one perfdata separator");
  });
}

test("checkVerdict: a promoted dataset is not judged", () => {
  const m = buildStatus({
    sources,
    rows: [ok("tank/a", 10), ok("tank/b", 600)],
    pools: [pool()],
    live: [],
    nextRuns: new Map(),
    now: NOW,
    promotions: [
      {
        source: "web1",
        dataset: "tank/b",
        target: "backup/web1/tank/b",
        live: "backup/bzman-live/web1/tank/b",
        snapshot: { name: "s", guid: "1" },
        at: ago(600),
      },
    ],
  });
  const v = checkVerdict(m, { capacityLimit: 0.75 });
  assert.equal(v.code, CHECK.OK, v.line);
  assert.match(v.line, /datasets=1;/);
});

test("unknownVerdict: one line, no perfdata separator in the text", () => {
  assert.deepEqual(unknownVerdict("cannot use the state file /x: bad | worse\nline"), {
    code: 3,
    line: "BZMAN UNKNOWN - cannot use the state file /x: bad / worse line",
  });
});
