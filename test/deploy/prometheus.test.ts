// deploy/prometheus: the alert rules pass `promtool check rules`, their unit tests pass
// `promtool test rules`, and every metric the rules and their test series name is one bzman
// exports (read from the real metrics module) or Prometheus' own `up`. In CI promtool must be
// installed (Debian package prometheus); elsewhere its checks are skipped, loudly.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { exportedMetricNames } from "../../server/http/metrics.ts";
import { metricsIn } from "../helpers/promql.ts";
import { REPO } from "../helpers/sandbox.ts";

const RULES = join(REPO, "deploy/prometheus/bzman-rules.yml");
const RULE_TESTS = join(REPO, "deploy/prometheus/bzman-rules.test.yml");

function promtool(): boolean {
  if (spawnSync("sh", ["-c", "command -v promtool"]).status === 0) return true;
  if (process.env.CI)
    throw new Error("promtool is missing; CI must install it (apt-get install prometheus, see .ci/run)");
  process.stderr.write(
    "*** SKIPPING promtool check rules / test rules: promtool is not installed (apt-get install prometheus) ***\n",
  );
  return false;
}
const have = promtool();

test("promtool check rules accepts deploy/prometheus/bzman-rules.yml", { skip: !have }, () => {
  const r = spawnSync("promtool", ["check", "rules", RULES], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
});

test("promtool test rules: the rules' unit tests pass", { skip: !have }, () => {
  const r = spawnSync("promtool", ["test", "rules", RULE_TESTS], {
    encoding: "utf8",
    cwd: join(REPO, "deploy/prometheus"),
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS/);
});

test("the rules cover what the README promises: a dead daemon, stale datasets, failed passes, pool health and space", () => {
  const doc = parse(readFileSync(RULES, "utf8")) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  const alerts = doc.groups.flatMap((g) => g.rules.map((r) => r.alert));
  for (const a of [
    "BzmanDown",
    "BzmanAbsent",
    "BzmanDatasetStale",
    "BzmanPassFailed",
    "BzmanPassesFailing",
    "BzmanPoolUnhealthy",
    "BzmanPoolLowOnSpace",
  ])
    assert.ok(alerts.includes(a), a);
  const tests = parse(readFileSync(RULE_TESTS, "utf8")) as {
    tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
  };
  const fired = new Set(
    tests.tests.flatMap((t) => t.alert_rule_test.filter((x) => x.exp_alerts.length > 0).map((x) => x.alertname)),
  );
  assert.deepEqual(
    alerts.filter((a) => !fired.has(a)),
    [],
    "every rule has a test in which it fires",
  );
});

test("every metric the rules and their test series name is exported by bzman (or is Prometheus' up)", () => {
  const exported = new Set([...exportedMetricNames(), "up"]);
  const doc = parse(readFileSync(RULES, "utf8")) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  const unknown: string[] = [];
  for (const r of doc.groups.flatMap((g) => g.rules)) {
    const names = metricsIn(r.expr);
    assert.ok(names.length > 0, `${r.alert}: reads no metric`);
    unknown.push(...names.filter((n) => !exported.has(n)).map((n) => `${r.alert}: ${n}`));
  }
  const tests = parse(readFileSync(RULE_TESTS, "utf8")) as {
    tests: Array<{ input_series: Array<{ series: string }> }>;
  };
  for (const s of tests.tests.flatMap((t) => t.input_series))
    unknown.push(
      ...metricsIn(s.series)
        .filter((n) => !exported.has(n))
        .map((n) => `test series: ${n}`),
    );
  assert.deepEqual(unknown, []);
});

test("metricsIn: metric names only, not functions, keywords, labels, strings or durations", () => {
  assert.deepEqual(
    metricsIn(
      'sum by (instance, source) (increase(bzman_passes_total{result=~"failed|x y"}[1h] offset 5m)) / on (source) group_left (pool) other_metric > bool 0.5',
    ),
    ["bzman_passes_total", "other_metric"],
  );
  assert.deepEqual(
    metricsIn(
      'bzman_dataset_lag_seconds{source=~"$source"} > bzman_dataset_max_lag_seconds unless on (instance, source, dataset) bzman_dataset_promoted == 1',
    ),
    ["bzman_dataset_lag_seconds", "bzman_dataset_max_lag_seconds", "bzman_dataset_promoted"],
  );
  assert.deepEqual(metricsIn("rate(bzman_transferred_bytes_total[$__rate_interval]) * 8"), [
    "bzman_transferred_bytes_total",
  ]);
  assert.deepEqual(metricsIn('absent(up{job="bzman"})'), ["up"]);
});
