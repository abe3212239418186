import { test } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { createStatusApp, isLoopback, parseListen } from "../../server/http/status-app.ts";
import type { StatusModel } from "../../server/core/status.ts";

const model = (healthy: boolean): StatusModel => ({
  generatedAt: "2026-11-26T12:00:00.000Z",
  healthy,
  problems: healthy ? [] : ["web1:tank is 10800s behind (goal 3600s)"],
  datasets: [
    {
      source: "web1",
      dataset: "tank/a-rather-long-dataset-name/with/children/and/more",
      target: "backup/web1/tank/x",
      newest: { name: "bzman_20261126T110000Z", guid: "1", at: "2026-11-26T11:00:00.000Z" },
      lagSeconds: healthy ? 60 : 10800,
      maxLagSeconds: 3600,
      fresh: healthy,
      lastResult: healthy ? "ok" : "failed",
      lastRunAt: "2026-11-26T11:00:00.000Z",
      lastError: healthy ? null : { code: "SSH_CONNECT", message: "web1: cannot connect <script>" },
      lastConflict: null,
      lastMessage: null,
      lastPhase: null,
      lastBytes: 123456789,
      lastDurationMs: 4200,
      progress: null,
      nextRun: "2026-11-26T12:10:00.000Z",
      promoted: null,
      lastKeptAside: null,
      resumeToken: null,
      excluded: null,
    },
  ],
  drills: [{ subject: "web1", at: "2026-11-26T04:00:00.000Z", result: "ok", message: "restored" }],
  scrubs: [{ subject: "backup", at: "2026-11-26T02:00:00.000Z", result: "ok", message: "0 errors" }],
  keptAside: [
    {
      dataset: "web1:tank.before-failback-20261126T020000Z",
      subject: "web1:tank",
      by: "failback",
      at: "2026-11-26T02:00:00.000Z",
      result: "ok",
    },
  ],
  pools: [
    { host: "local", pool: "backup", health: "ONLINE", sizeBytes: 1e9, freeBytes: 6e8, capacity: 0.4, checkedAt: "x" },
  ],
});

async function serve(healthy: boolean, token?: string): Promise<{ url: string; close(): Promise<void> }> {
  const app = createStatusApp({ status: () => model(healthy), ...(token ? { token } : {}) });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

test("GET /status: an aligned table within 100 columns; JSON on ?format=json and on Accept", async () => {
  const s = await serve(true);
  try {
    const text = await (await fetch(`${s.url}/status`)).text();
    assert.match(text, /^bzman status at .*: all well/);
    assert.match(text, /DATASET +STATE +NEWEST +LAG +GOAL +BYTES +TIME +NEXT/);
    assert.match(text, /ok +@bzman_20261126T110000Z +1m +1h0m +123 MB +4\.2s +12:10:00/);
    for (const line of text.split("\n")) assert.ok(line.length <= 100, `too wide (${line.length}): ${line}`);
    const json = await (await fetch(`${s.url}/status?format=json`)).json();
    assert.equal(json.healthy, true);
    assert.equal(json.datasets[0].newest.name, "bzman_20261126T110000Z");
    const accept = await fetch(`${s.url}/status`, { headers: { accept: "application/json" } });
    assert.match(accept.headers.get("content-type")!, /application\/json/);
  } finally {
    await s.close();
  }
});

test("GET /healthz: 200 when all is well, 503 with the reasons otherwise", async () => {
  const good = await serve(true);
  const bad = await serve(false);
  try {
    const g = await fetch(`${good.url}/healthz`);
    assert.equal(g.status, 200);
    const b = await fetch(`${bad.url}/healthz`);
    assert.equal(b.status, 503);
    assert.match(await b.text(), /web1:tank is 10800s behind/);
  } finally {
    await good.close();
    await bad.close();
  }
});

test("GET /metrics: Prometheus text format with the dataset and pool series", async () => {
  const s = await serve(false);
  try {
    const res = await fetch(`${s.url}/metrics`);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    for (const line of body
      .trim()
      .split("\n")
      .filter((l) => l !== "")) {
      assert.match(
        line,
        /^(# (HELP|TYPE) \w+ .+|\w+(\{(\w+="[^"]*",?)*\})? -?[\d.e+-]+)$/,
        `not exposition format: ${line}`,
      );
    }
    assert.match(body, /^bzman_healthy 0$/m);
    assert.match(body, /^bzman_dataset_lag_seconds\{source="web1",dataset="tank\/a-rather[^"]*"\} 10800$/m);
    assert.match(body, /^bzman_dataset_last_pass_failed\{[^}]*\} 1$/m);
    assert.match(body, /^bzman_pool_capacity_ratio\{host="local",pool="backup"\} 0\.4$/m);
    assert.match(body, /^bzman_drill_ok\{source="web1"\} 1$/m);
    assert.match(body, /^bzman_scrub_ok\{pool="backup"\} 1$/m);
    assert.match(body, /^bzman_dataset_promoted\{[^}]*\} 0$/m);
  } finally {
    await s.close();
  }
});

test("GET /: a self-contained HTML page, failures highlighted, text escaped; read-only; 404 elsewhere", async () => {
  const s = await serve(false);
  try {
    const html = await (await fetch(`${s.url}/`)).text();
    assert.match(html, /<tr class="bad" data-dataset="web1:tank\/a-rather/);
    assert.ok(!html.includes("<script>"), "escaped");
    assert.ok(html.includes("&#60;script&#62;"));
    assert.doesNotMatch(html, /src="http|href="http/, "no external assets");
    assert.equal((await fetch(`${s.url}/status`, { method: "POST" })).status, 405);
    assert.equal((await fetch(`${s.url}/nope`)).status, 404);
  } finally {
    await s.close();
  }
});

test("a token, when set, is required on every path", async () => {
  const s = await serve(true, "s3cret-token");
  try {
    for (const path of ["/status", "/metrics", "/healthz", "/"])
      assert.equal((await fetch(`${s.url}${path}`)).status, 401, path);
    assert.equal((await fetch(`${s.url}/status`, { headers: { authorization: "Bearer wrong" } })).status, 401);
    assert.equal((await fetch(`${s.url}/status`, { headers: { authorization: "Bearer s3cret-token" } })).status, 200);
  } finally {
    await s.close();
  }
});

test("parseListen and isLoopback", () => {
  assert.deepEqual(parseListen("127.0.0.1:9720"), { host: "127.0.0.1", port: 9720 });
  assert.deepEqual(parseListen("[::1]:80"), { host: "::1", port: 80 });
  assert.match(parseListen("nope") as string, /not host:port/);
  assert.ok(isLoopback("127.0.0.5") && isLoopback("::1") && !isLoopback("0.0.0.0"));
});

test("a running transfer shows its bytes and, with an estimate, its ETA", async () => {
  const { statusText } = await import("../../server/http/status-text.ts");
  const m = model(true);
  m.datasets[0]!.progress = {
    source: "web1",
    dataset: "tank",
    bytes: 1_000_000,
    since: "x",
    bytesPerSecond: 100_000,
    estimatedBytes: 7_000_000,
  };
  assert.match(statusText(m), /running 1 MB ETA 1m/);
  m.datasets[0]!.progress = { source: "web1", dataset: "tank", bytes: 1_000_000, since: "x", bytesPerSecond: 100_000 };
  assert.match(statusText(m), /running 1 MB +@/, "no estimate, no ETA");
});

test("the JSON shape of /status is the documented one (fields are only ever added)", async () => {
  const s = await serve(true);
  try {
    const json = await (await fetch(`${s.url}/status?format=json`)).json();
    assert.deepEqual(Object.keys(json).sort(), [
      "datasets",
      "drills",
      "generatedAt",
      "healthy",
      "keptAside",
      "pools",
      "problems",
      "scrubs",
    ]);
    assert.deepEqual(Object.keys(json.keptAside[0]).sort(), ["at", "by", "dataset", "result", "subject"]);
    assert.deepEqual(Object.keys(json.datasets[0]).sort(), [
      "dataset",
      "excluded",
      "fresh",
      "lagSeconds",
      "lastBytes",
      "lastConflict",
      "lastDurationMs",
      "lastError",
      "lastKeptAside",
      "lastMessage",
      "lastPhase",
      "lastResult",
      "lastRunAt",
      "maxLagSeconds",
      "newest",
      "nextRun",
      "progress",
      "promoted",
      "resumeToken",
      "source",
      "target",
    ]);
    assert.deepEqual(Object.keys(json.drills[0]).sort(), ["at", "message", "result", "subject"]);
    assert.deepEqual(Object.keys(json.scrubs[0]).sort(), ["at", "message", "result", "subject"]);
    assert.deepEqual(Object.keys(json.pools[0]).sort(), [
      "capacity",
      "checkedAt",
      "freeBytes",
      "health",
      "host",
      "pool",
      "sizeBytes",
    ]);
  } finally {
    await s.close();
  }
});
