// The status as Prometheus metrics (prom-client), built fresh from the model on each scrape in
// slices that leave the event loop free between them (a fleet's thousands of series),
// plus the daemon's process-local counters (core/counters.ts) and its build info. The names
// registered here are the ones bzman exports: the dashboard and rule tests read them from here.

import { Counter, Gauge, Registry } from "prom-client";
import { PassCounters, type CounterSample } from "../core/counters.ts";
import { setImmediate } from "node:timers/promises";
import type { DatasetStatus, StatusModel } from "../core/status.ts";

/** What bzman is running as, for `bzman_build_info{version,node}`. */
export interface BuildInfo {
  version: string;
  node: string;
}

/** What the metrics show beside the status: the daemon's counters and build info. */
export interface MetricsExtras {
  counters?: PassCounters;
  build?: BuildInfo;
}

/** Datasets set between two turns of the event loop, so that a big fleet's scrape never holds it long. */
const DATASETS_PER_TURN = 200;

/**
 * The Prometheus text exposition of the status, and its content type: what prom-client's
 * `registry.metrics()` gives for {@link filledRegistry}, made in slices with the event loop
 * free between them (`pause`; default: the next turn of the loop).
 */
export async function metricsText(
  m: StatusModel,
  extras: MetricsExtras = {},
  pause: () => Promise<unknown> = () => setImmediate(),
): Promise<{ body: string; contentType: string }> {
  const { registry, setDataset } = metricsRegistry(m, extras);
  for (let i = 0; i < m.datasets.length; i++) {
    setDataset(m.datasets[i]!);
    if (i % DATASETS_PER_TURN === DATASETS_PER_TURN - 1) await pause();
  }
  // One metric family a turn, joined as registry.metrics() joins them (the Prometheus text format).
  const families: string[] = [];
  for (const metric of registry.getMetricsAsArray()) {
    families.push(await registry.getSingleMetricAsString(metric.name));
    await pause();
  }
  return { body: `${families.join("\n\n")}\n`, contentType: registry.contentType };
}

/** The registry of `m` filled at once: the reference {@link metricsText} is tested against. */
export function filledRegistry(m: StatusModel, extras: MetricsExtras = {}): Registry {
  const { registry, setDataset } = metricsRegistry(m, extras);
  for (const d of m.datasets) setDataset(d);
  return registry;
}

/** The name of every metric bzman exports (whether or not it has samples now), sorted. */
export function exportedMetricNames(): string[] {
  const empty: StatusModel = {
    generatedAt: new Date(0).toISOString(),
    healthy: true,
    problems: [],
    datasets: [],
    pools: [],
    drills: [],
    scrubs: [],
    keptAside: [],
  };
  return metricsRegistry(empty, { counters: new PassCounters(), build: { version: "0", node: "0" } })
    .registry.getMetricsAsArray()
    .map((x) => x.name)
    .sort();
}

/** Every metric registered and set from `m` but the datasets', which `setDataset` sets one by one. */
function metricsRegistry(
  m: StatusModel,
  extras: MetricsExtras,
): { registry: Registry; setDataset: (d: DatasetStatus) => void } {
  const registry = new Registry();
  const g = (name: string, help: string, labelNames: string[]): Gauge =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const c = (name: string, help: string, labelNames: string[], samples: CounterSample[]): void => {
    const counter = new Counter({ name, help, labelNames, registers: [registry] });
    for (const s of samples) counter.inc(s.labels, s.value);
  };
  const counters = extras.counters ?? new PassCounters();
  c(
    "bzman_transferred_bytes_total",
    "bytes received from the sources by this daemon's passes (since it started)",
    ["source"],
    counters.bytesSamples(),
  );
  c(
    "bzman_passes_total",
    "passes this daemon ran, by result: ok, failed, conflict, aborted, skipped (since it started)",
    ["source", "result"],
    counters.passSamples(),
  );
  c(
    "bzman_failures_total",
    "datasets that failed or hit a conflict in this daemon's passes, by error code or conflict kind (since it started)",
    ["source", "code"],
    counters.failureSamples(),
  );
  const build = g("bzman_build_info", "always 1; the labels say which bzman and which Node.js run", [
    "version",
    "node",
  ]);
  if (extras.build) build.set({ version: extras.build.version, node: extras.build.node }, 1);
  const healthy = g("bzman_healthy", "1 when every dataset is fresh and every pool is healthy", []);
  const lastSuccess = g("bzman_dataset_last_success_timestamp_seconds", "start of the last successful pass", [
    "source",
    "dataset",
  ]);
  const lag = g("bzman_dataset_lag_seconds", "seconds since the last successful pass started", ["source", "dataset"]);
  const goal = g("bzman_dataset_max_lag_seconds", "the freshness goal", ["source", "dataset"]);
  const fresh = g("bzman_dataset_fresh", "1 when within the freshness goal", ["source", "dataset"]);
  const failed = g("bzman_dataset_last_pass_failed", "1 when the last pass failed or hit a conflict", [
    "source",
    "dataset",
  ]);
  const bytes = g("bzman_dataset_last_bytes", "bytes moved by the last pass", ["source", "dataset"]);
  const duration = g("bzman_dataset_last_transfer_seconds", "transfer time of the last pass", ["source", "dataset"]);
  const running = g("bzman_dataset_transfer_bytes", "bytes moved so far by a running transfer", ["source", "dataset"]);
  const capacity = g("bzman_pool_capacity_ratio", "used share of the pool", ["host", "pool"]);
  const free = g("bzman_pool_free_bytes", "free bytes in the pool", ["host", "pool"]);
  const online = g("bzman_pool_online", "1 when the pool is ONLINE", ["host", "pool"]);
  const promoted = g("bzman_dataset_promoted", "1 while the backup is promoted to a live dataset (pulls paused)", [
    "source",
    "dataset",
  ]);
  const drillOk = g("bzman_drill_ok", "1 when the newest restore drill of the source passed", ["source"]);
  const drillAt = g("bzman_drill_timestamp_seconds", "when the newest restore drill of the source ended", ["source"]);
  const scrubOk = g("bzman_scrub_ok", "1 when the newest scrub of the backup pool found no errors", ["pool"]);
  const scrubAt = g("bzman_scrub_timestamp_seconds", "when the newest scrub of the backup pool ended", ["pool"]);
  healthy.set(m.healthy ? 1 : 0);
  for (const d of m.drills) {
    drillOk.set({ source: d.subject }, d.result === "ok" ? 1 : 0);
    drillAt.set({ source: d.subject }, Date.parse(d.at) / 1000);
  }
  for (const c of m.scrubs) {
    scrubOk.set({ pool: c.subject }, c.result === "ok" ? 1 : 0);
    scrubAt.set({ pool: c.subject }, Date.parse(c.at) / 1000);
  }
  for (const p of m.pools) {
    const l = { host: p.host, pool: p.pool };
    capacity.set(l, p.capacity);
    free.set(l, p.freeBytes);
    online.set(l, p.health === "ONLINE" ? 1 : 0);
  }
  const setDataset = (d: DatasetStatus): void => {
    // A dataset left out on purpose (exclude, bzman:backup=off) has no goal to meet: no series.
    if (d.excluded !== null) return;
    const l = { source: d.source, dataset: d.dataset };
    if (d.newest) lastSuccess.set(l, Date.parse(d.newest.at) / 1000);
    if (d.lagSeconds !== null) lag.set(l, d.lagSeconds);
    goal.set(l, d.maxLagSeconds);
    fresh.set(l, d.fresh ? 1 : 0);
    failed.set(l, d.lastResult === "failed" || d.lastResult === "conflict" ? 1 : 0);
    bytes.set(l, d.lastBytes);
    duration.set(l, d.lastDurationMs / 1000);
    if (d.progress) running.set(l, d.progress.bytes);
    promoted.set(l, d.promoted ? 1 : 0);
  };
  return { registry, setDataset };
}
