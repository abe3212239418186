// /metrics beyond the status gauges: the `_total` counters of the daemon's passes and
// bzman_build_info, in exposition format, through the real express app.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { PassCounters } from "../../server/core/counters.ts";
import type { RunRecord } from "../../server/core/model.ts";
import type { StatusModel } from "../../server/core/status.ts";
import { buildInfo } from "../../server/cli/build-info.ts";
import { exportedMetricNames } from "../../server/http/metrics.ts";
import { createStatusApp } from "../../server/http/status-app.ts";

const empty: StatusModel = {
  generatedAt: "2026-11-26T12:00:00.000Z",
  healthy: true,
  problems: [],
  datasets: [],
  pools: [],
  drills: [],
  scrubs: [],
  keptAside: [],
};
const rec = (result: "ok" | "failed", bytes: number): RunRecord => ({
  runId: "r",
  source: "web1",
  startedAt: "x",
  finishedAt: "x",
  phases: {},
  goneOnSource: [],
  datasets: [
    {
      source: "web1",
      dataset: "tank",
      target: "b/tank",
      mode: "incremental",
      result,
      steps: 1,
      bytes,
      transferMs: 1,
      ...(result === "failed" ? { error: { code: "ZFS_NO_SPACE", message: "full", at: "x" } } : {}),
    },
  ],
});

test("GET /metrics: counters grow with the passes recorded; build info names the version and Node", async () => {
  const counters = new PassCounters(["web1"]);
  const app = createStatusApp({ status: () => empty, metrics: { counters, build: buildInfo() } });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  try {
    const first = await (await fetch(url)).text();
    assert.match(first, /^# TYPE bzman_passes_total counter$/m);
    assert.match(
      first,
      /^bzman_passes_total\{source="web1",result="failed"\} 0$/m,
      "a configured source's series exist from the start",
    );
    assert.match(first, /^bzman_transferred_bytes_total\{source="web1"\} 0$/m);
    assert.match(
      first,
      new RegExp(
        `^bzman_build_info\\{version="${buildInfo().version.replace(/\./g, "\\.")}",node="${process.version}"\\} 1$`,
        "m",
      ),
    );
    assert.notEqual(buildInfo().version, "unknown", "read from package.json");
    counters.add(rec("ok", 1000));
    counters.add(rec("failed", 24));
    const second = await (await fetch(url)).text();
    assert.match(second, /^bzman_passes_total\{source="web1",result="ok"\} 1$/m);
    assert.match(second, /^bzman_passes_total\{source="web1",result="failed"\} 1$/m);
    assert.match(second, /^bzman_transferred_bytes_total\{source="web1"\} 1024$/m);
    assert.match(second, /^# TYPE bzman_failures_total counter$/m);
    assert.match(second, /^bzman_failures_total\{source="web1",code="ZFS_NO_SPACE"\} 1$/m);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test("exportedMetricNames: every name registered, Prometheus-style (bzman_ prefix, units, _total only on counters)", () => {
  const names = exportedMetricNames();
  for (const n of [
    "bzman_transferred_bytes_total",
    "bzman_passes_total",
    "bzman_failures_total",
    "bzman_build_info",
    "bzman_healthy",
    "bzman_dataset_lag_seconds",
    "bzman_pool_capacity_ratio",
  ])
    assert.ok(names.includes(n), n);
  for (const n of names) assert.match(n, /^bzman_[a-z][a-z0-9_]*$/, n);
  assert.deepEqual(
    names.filter((n) => n.endsWith("_total")),
    ["bzman_failures_total", "bzman_passes_total", "bzman_transferred_bytes_total"],
  );
});

test("a fleet's /metrics is made in slices, with the event loop free between them, and is what prom-client renders at once", async () => {
  const { buildStatus } = await import("../../server/core/status.ts");
  const { filledRegistry, metricsText } = await import("../../server/http/metrics.ts");
  const sources = Array.from({ length: 300 }, (_, i) => ({
    name: `s${i}`,
    target: `backup/s${i}`,
    datasets: [{ name: `tank/"d${i}"`, recursive: false }],
    maxLagSeconds: 3600,
  }));
  const rows = sources.map((s, i) => ({
    source: s.name,
    dataset: s.datasets[0]!.name,
    target: `${s.target}/tank`,
    mode: "incremental" as const,
    result: i % 4 === 0 ? ("failed" as const) : ("ok" as const),
    steps: 1,
    bytes: i,
    transferMs: i * 7,
    startedAt: new Date(Date.parse("2026-11-26T11:00:00Z") - i * 1000).toISOString(),
    finishedAt: "x",
    ...(i % 4 === 0 ? {} : { to: { name: "s", guid: String(i) } }),
  }));
  const m = buildStatus({
    sources,
    rows,
    pools: [],
    live: [],
    nextRuns: new Map(),
    now: Date.parse(empty.generatedAt),
  });
  const counters = new PassCounters(["s1"]);
  let pauses = 0;
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const pause = async (): Promise<void> => {
    pauses++;
    await new Promise((r) => setTimeout(r, 1));
  };
  const got = await metricsText(m, { counters }, pause).finally(() => clearInterval(timer));
  const want = await filledRegistry(m, { counters }).metrics();
  assert.equal(got.body, want);
  assert.match(got.body, /^bzman_dataset_lag_seconds\{source="s299",dataset="tank\/\\"d299\\""\} \d+$/m);
  assert.ok(pauses > 10, `${pauses} slices`);
  assert.ok(ticks > 5, `the loop ran between the slices (${ticks} timer ticks)`);
});
