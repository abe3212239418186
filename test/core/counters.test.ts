import { test } from "node:test";
import assert from "node:assert/strict";
import type { ErrorCode } from "../../server/core/codes.ts";
import { PassCounters, failureCodes, passResult } from "../../server/core/counters.ts";
import type { DatasetRecord, RunRecord } from "../../server/core/model.ts";

const ds = (result: DatasetRecord["result"], extra: Partial<DatasetRecord> = {}): DatasetRecord => ({
  source: "web1",
  dataset: `tank/${result}`,
  target: "b",
  mode: "incremental",
  result,
  steps: 1,
  bytes: 0,
  transferMs: 0,
  ...extra,
});
const run = (...datasets: DatasetRecord[]): RunRecord => ({
  runId: "r",
  source: "web1",
  startedAt: "x",
  finishedAt: "x",
  phases: {},
  datasets,
  goneOnSource: [],
});
const failed = (code: ErrorCode): DatasetRecord => ds("failed", { error: { code, message: "m", at: "x" } });

test("passResult: failed beats conflict beats aborted beats skipped; a promoted (skipped) dataset beside good ones is ok", () => {
  const table: Array<[RunRecord, string]> = [
    [run(ds("ok"), ds("up-to-date")), "ok"],
    [run(ds("ok"), ds("skipped")), "ok"],
    [run(ds("ok"), failed("SSH_CONNECT")), "failed"],
    [run(ds("conflict"), failed("ZFS_NO_SPACE")), "failed"],
    [run(ds("ok"), ds("conflict", { conflict: "diverged" })), "conflict"],
    [run(failed("ABORTED"), ds("conflict")), "conflict"],
    [run(ds("ok"), failed("ABORTED")), "aborted"],
    [run(failed("ABORTED"), failed("SSH_CONNECT")), "failed"],
    [run(ds("skipped"), ds("skipped")), "skipped"],
    [run(), "skipped"],
  ];
  for (const [rec, want] of table)
    assert.equal(passResult(rec), want, JSON.stringify(rec.datasets.map((d) => [d.result, d.error?.code])));
});

test("failureCodes: error codes and conflict kinds, never an abort", () => {
  assert.deepEqual(
    failureCodes(
      run(ds("ok"), failed("ZFS_NO_SPACE"), ds("conflict", { conflict: "diverged" }), failed("ABORTED"), ds("failed")),
    ),
    ["ZFS_NO_SPACE", "diverged", "INTERNAL"],
  );
});

test("PassCounters: configured sources start at zero for every result; records add up; unknown sources appear", () => {
  const c = new PassCounters(["web1", "db1"]);
  assert.deepEqual(c.bytesSamples(), [
    { labels: { source: "web1" }, value: 0 },
    { labels: { source: "db1" }, value: 0 },
  ]);
  assert.equal(c.passSamples().length, 10);
  assert.ok(c.passSamples().every((s) => s.value === 0));
  assert.deepEqual(c.failureSamples(), []);
  c.add(run(ds("ok", { bytes: 100 }), failed("ZFS_NO_SPACE")));
  c.add(run(ds("ok", { bytes: 50 }), failed("ZFS_NO_SPACE"), failed("SSH_CHANNEL")));
  c.add(run(ds("ok", { bytes: 7 })));
  c.add({ ...run(ds("ok", { bytes: 1 })), source: "new1" });
  const v = (
    samples: Array<{ labels: Record<string, string>; value: number }>,
    labels: Record<string, string>,
  ): number | undefined => samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
  assert.equal(v(c.bytesSamples(), { source: "web1" }), 157);
  assert.equal(v(c.bytesSamples(), { source: "new1" }), 1);
  assert.equal(v(c.passSamples(), { source: "web1", result: "failed" }), 2);
  assert.equal(v(c.passSamples(), { source: "web1", result: "ok" }), 1);
  assert.equal(v(c.passSamples(), { source: "db1", result: "ok" }), 0);
  assert.equal(v(c.failureSamples(), { source: "web1", code: "ZFS_NO_SPACE" }), 2);
  assert.equal(v(c.failureSamples(), { source: "web1", code: "SSH_CHANNEL" }), 1);
});
