// deploy/grafana/bzman-dashboard.json: every query of every panel and template variable names
// only metrics bzman exports (the names come from the real metrics module), the counters are
// on it, and it is a dashboard Grafana can import (unique panel ids, grid positions, one
// datasource variable). Grafana itself is not packaged for Debian; the JSON is checked here.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { exportedMetricNames } from "../../server/http/metrics.ts";
import { metricsIn } from "../helpers/promql.ts";
import { REPO } from "../helpers/sandbox.ts";

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const FILE = join(REPO, "deploy/grafana/bzman-dashboard.json");

/** Every query in a dashboard, labelled with where it is. */
function dashboardQueries(d: Dashboard): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  const walk = (ps: Panel[]): void =>
    ps.forEach((p) => {
      for (const [i, t] of (p.targets ?? []).entries())
        out.push({ where: `panel "${p.title}" target ${i}`, expr: t.expr });
      walk(p.panels ?? []);
    });
  walk(d.panels);
  for (const v of d.templating.list) {
    if (v.type !== "query") continue;
    const q = typeof v.query === "string" ? v.query : v.query.query;
    // label_values(SELECTOR, label): the selector is PromQL, the label is not a metric.
    const lv = /^label_values\((.*),\s*\w+\)$/.exec(q.trim());
    out.push({ where: `variable $${v.name}`, expr: lv ? lv[1]! : q });
  }
  return out;
}

/** The queries of `d` that name a metric bzman does not export, or none at all. */
function unknownMetrics(d: Dashboard, exported: ReadonlySet<string>): string[] {
  return dashboardQueries(d).flatMap(({ where, expr }) => {
    const names = metricsIn(expr);
    if (names.length === 0) return [`${where}: names no metric: ${expr}`];
    return names.filter((n) => !exported.has(n)).map((n) => `${where}: ${n} is not exported by bzman`);
  });
}

const dashboard = (): Dashboard => JSON.parse(readFileSync(FILE, "utf8")) as Dashboard;

test("every dashboard query names only metrics bzman exports", () => {
  assert.deepEqual(unknownMetrics(dashboard(), new Set(exportedMetricNames())), []);
});

test("the check fails on a query naming a metric bzman does not export (and on one naming none)", () => {
  const d = dashboard();
  d.panels
    .find((p) => p.targets?.length)!
    .targets!.push({ expr: 'sum(rate(bzman_bytes_sent_total{source=~"$source"}[5m]))' });
  d.panels.find((p) => p.targets?.length)!.targets!.push({ expr: "vector(1)" });
  const bad = unknownMetrics(d, new Set(exportedMetricNames()));
  assert.equal(bad.length, 2, bad.join("\n"));
  assert.match(bad[0]!, /bzman_bytes_sent_total is not exported by bzman/);
  assert.match(bad[1]!, /names no metric/);
});

test("the counters and the build info are on the dashboard", () => {
  const used = new Set(dashboardQueries(dashboard()).flatMap((q) => metricsIn(q.expr)));
  for (const n of [
    "bzman_transferred_bytes_total",
    "bzman_passes_total",
    "bzman_failures_total",
    "bzman_build_info",
    "bzman_dataset_lag_seconds",
    "bzman_pool_capacity_ratio",
  ])
    assert.ok(used.has(n), n);
});

test("an importable dashboard: uid, unique panel ids, grid inside 24 columns, every query on the datasource variable", () => {
  const d = dashboard();
  assert.equal(d.uid, "bzman");
  const all: Panel[] = [];
  const walk = (ps: Panel[]): void => {
    for (const p of ps) {
      all.push(p);
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  assert.equal(new Set(all.map((p) => p.id)).size, all.length, "unique ids");
  for (const p of all) {
    assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24 && p.gridPos.h > 0, `${p.title}: gridPos`);
    if (p.type === "row") continue;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's template variable, as the JSON has it
    const variable = "${datasource}";
    assert.equal(p.datasource?.uid, variable, `${p.title}: datasource`);
    for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, variable, `${p.title}: target datasource`);
  }
  assert.deepEqual(
    d.templating.list.filter((v) => v.type === "datasource").map((v) => v.name),
    ["datasource"],
  );
});
