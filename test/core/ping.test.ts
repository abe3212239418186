import { test } from "node:test";
import assert from "node:assert/strict";
import type { DatasetRecord, RunRecord } from "../../server/core/model.ts";
import { PING_BODY_LIMIT, pingBody, pingKindOf, pingTarget } from "../../server/core/ping.ts";

const ds = (result: DatasetRecord["result"], extra: Partial<DatasetRecord> = {}): DatasetRecord => ({
  source: "web1",
  dataset: "tank",
  target: "b/tank",
  mode: "incremental",
  result,
  steps: 1,
  bytes: 10,
  transferMs: 1,
  ...extra,
});
const run = (...datasets: DatasetRecord[]): RunRecord => ({
  runId: "r1",
  source: "web1",
  startedAt: "2026-11-26T12:00:00.000Z",
  finishedAt: "2026-11-26T12:00:05.000Z",
  phases: {},
  datasets,
  goneOnSource: [],
});

test("pingTarget: healthchecks.io style suffixes; trailing slashes and queries kept right", () => {
  const table: Array<[string, "start" | "success" | "fail", string]> = [
    ["https://hc-ping.com/0e5f-uuid", "success", "https://hc-ping.com/0e5f-uuid"],
    ["https://hc-ping.com/0e5f-uuid", "fail", "https://hc-ping.com/0e5f-uuid/fail"],
    ["https://hc-ping.com/0e5f-uuid", "start", "https://hc-ping.com/0e5f-uuid/start"],
    ["https://hc-ping.com/key/bzman-web1/", "fail", "https://hc-ping.com/key/bzman-web1/fail"],
    ["https://hc-ping.com/key/bzman-web1?create=1", "fail", "https://hc-ping.com/key/bzman-web1/fail?create=1"],
    ["http://127.0.0.1:8000/ping/abc?create=1", "success", "http://127.0.0.1:8000/ping/abc?create=1"],
  ];
  for (const [url, kind, want] of table) assert.equal(pingTarget(url, kind), want, `${url} ${kind}`);
});

test("pingKindOf: success, fail for failures and conflicts, nothing for aborted or skipped passes", () => {
  assert.equal(pingKindOf(run(ds("ok"), ds("up-to-date"))), "success");
  assert.equal(
    pingKindOf(run(ds("ok"), ds("failed", { error: { code: "SSH_CONNECT", message: "m", at: "x" } }))),
    "fail",
  );
  assert.equal(pingKindOf(run(ds("conflict", { conflict: "diverged" }))), "fail");
  assert.equal(pingKindOf(run(ds("failed", { error: { code: "ABORTED", message: "m", at: "x" } }))), null);
  assert.equal(pingKindOf(run(ds("skipped"))), null);
});

test("pingBody: the pass and a line per dataset with its error; bounded", () => {
  const body = pingBody(
    run(
      ds("ok"),
      ds("failed", { dataset: "tank/b", error: { code: "ZFS_NO_SPACE", message: "out of space", at: "x" } }),
    ),
  );
  assert.equal(
    body,
    "bzman pass of web1 (r1): failed, 2026-11-26T12:00:00.000Z .. 2026-11-26T12:00:05.000Z\nok web1:tank incremental 10 bytes\nfailed web1:tank/b incremental 10 bytes ZFS_NO_SPACE: out of space\n",
  );
  const big = pingBody(run(...Array.from({ length: 2000 }, (_, i) => ds("ok", { dataset: `tank/dataset-${i}` }))));
  assert.ok(big.length <= PING_BODY_LIMIT);
  assert.match(big, /… \(cut\)\n$/);
});
