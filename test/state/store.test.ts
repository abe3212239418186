import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HistoryStore, compact, type StateData } from "../../server/state/store.ts";
import type { RunRecord } from "../../server/core/model.ts";

const tmp = (): string => mkdtempSync(join(tmpdir(), "bzman-store-"));

function run(at: string, result: "ok" | "failed", dataset = "tank/a", bytes = 100): RunRecord {
  return {
    runId: `r-${at}`, source: "web1", startedAt: at, finishedAt: at, phases: { total: 5 }, goneOnSource: [],
    datasets: [{ source: "web1", dataset, target: `b/w/${dataset}`, mode: "incremental", result, steps: 1, bytes, transferMs: 10, to: { name: "s", guid: "1" } }],
  };
}

test("appended runs survive a reopen; latest and recent read them back", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  const now = Date.parse("2026-11-26T12:00:00Z");
  const { store, problem } = await HistoryStore.open(path, { now: () => now });
  assert.equal(problem, undefined);
  await store.appendRun(run("2026-11-26T11:00:00.000Z", "ok"));
  await store.appendRun(run("2026-11-26T11:10:00.000Z", "failed"));
  const again = (await HistoryStore.open(path, { now: () => now })).store;
  assert.deepEqual(again.latest().map((r) => r.result), ["failed"]);
  assert.equal(again.recent(1).length, 2);
  assert.equal(again.lastSuccess().get("web1:tank/a")?.startedAt, "2026-11-26T11:00:00.000Z");
  assert.equal(again.recent(1)[0]!.bytesPerSecond, 10_000, "100 bytes in 10 ms");
  rmSync(dir, { recursive: true });
});

test("two processes on one file (the daemon and a bzman run): neither overwrites what the other recorded", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  const now = Date.parse("2026-11-26T12:00:00Z");
  const daemon = (await HistoryStore.open(path, { now: () => now })).store;
  await daemon.appendRun(run("2026-11-26T11:00:00.000Z", "ok", "tank/a"));
  const manual = (await HistoryStore.open(path, { now: () => now })).store;
  await manual.appendRun(run("2026-11-26T11:05:00.000Z", "ok", "tank/b"));
  await manual.recordAlert("pass web1:tank/b", { key: "pass web1:tank/b", condition: { key: "pass web1:tank/b", host: "web1", what: "x", where: "y", code: "Z", message: "m", advice: "a" }, since: "t", lastSent: "t" });
  await daemon.appendRun(run("2026-11-26T11:10:00.000Z", "failed", "tank/a"));
  const onDisk = JSON.parse(readFileSync(path, "utf8")) as StateData;
  assert.deepEqual(onDisk.history.map((r) => `${r.dataset} ${r.startedAt.slice(11, 16)}`), ["tank/a 11:00", "tank/b 11:05", "tank/a 11:10"]);
  assert.deepEqual(onDisk.alerts?.map((a) => a.key), ["pass web1:tank/b"]);
  assert.equal(daemon.latest().length, 2, "the daemon sees the other process's row after its own write");
  rmSync(dir, { recursive: true });
});

test("compact: details age into daily rollups, failures stay in detail, the bound drops the rest", () => {
  const now = Date.parse("2026-11-26T12:00:00Z");
  const rows = [
    run("2026-07-01T00:00:00.000Z", "ok"), // older than 90 days: dropped
    run("2026-11-20T01:00:00.000Z", "ok"), run("2026-11-20T02:00:00.000Z", "failed"), run("2026-11-20T03:00:00.000Z", "ok", "tank/a", 50),
    run("2026-11-26T11:00:00.000Z", "ok"), // within 48 h: detail
  ].flatMap((r) => r.datasets.map((d) => ({ ...d, runId: r.runId, startedAt: r.startedAt, finishedAt: r.finishedAt, phases: r.phases, bytesPerSecond: 0 })));
  const data: StateData = { schemaVersion: 1, history: rows, daily: [] };
  compact(data, now, { days: 90, detailHours: 48 });
  assert.deepEqual(data.history.map((r) => `${r.startedAt.slice(0, 13)} ${r.result}`), ["2026-11-20T02 failed", "2026-11-26T11 ok"]);
  assert.deepEqual(data.daily.map((d) => [d.day, d.passes, d.failures, d.bytes]), [["2026-11-20", 3, 1, 250]]);
  compact(data, now, { days: 90, detailHours: 48 });
  assert.deepEqual(data.daily.map((d) => [d.day, d.passes, d.failures]), [["2026-11-20", 3, 1]], "compacting again counts nothing twice");
});

test("a corrupt file is moved aside with a clear problem, never silently emptied", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  writeFileSync(path, '{"schemaVersion":1,"history":[{"trunc');
  const { store, problem } = await HistoryStore.open(path);
  assert.match(problem!, /state file .*state\.json was unreadable .* moved to .*state\.json\.corrupt-/);
  const aside = readdirSync(dir).find((f) => f.startsWith("state.json.corrupt-"))!;
  assert.equal(readFileSync(join(dir, aside), "utf8"), '{"schemaVersion":1,"history":[{"trunc', "the old content is kept");
  await store.appendRun(run("2026-11-26T11:00:00.000Z", "ok"));
  assert.ok(existsSync(path));
  rmSync(dir, { recursive: true });
});

test("a file of another shape is moved aside too", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  writeFileSync(path, JSON.stringify({ schemaVersion: 7, runs: [] }));
  const { problem } = await HistoryStore.open(path);
  assert.match(problem!, /not a bzman state file: schemaVersion/);
  rmSync(dir, { recursive: true });
});

test("kill -9 at random moments of writing never leaves an unreadable file", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  const writer = `
    import { HistoryStore } from ${JSON.stringify(new URL("../../server/state/store.ts", import.meta.url).pathname)};
    const { store } = await HistoryStore.open(${JSON.stringify(path)});
    process.stdout.write("ready\\n");
    for (let i = 0; ; i++) {
      await store.appendRun({ runId: "k" + i, source: "s", startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), phases: {}, goneOnSource: [],
        datasets: Array.from({ length: 50 }, (_, j) => ({ source: "s", dataset: "tank/d" + j, target: "b/d" + j, mode: "incremental", result: "ok", steps: 1, bytes: i, transferMs: 1 })) });
    }`;
  writeFileSync(join(dir, "writer.mts"), writer);
  for (let round = 0; round < 8; round++) {
    const child = spawn(process.execPath, ["--import", "tsx", join(dir, "writer.mts")], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 250));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    const { problem, store } = await HistoryStore.open(path);
    assert.equal(problem, undefined, `round ${round}: ${problem}`);
    assert.ok(store.recent(1).length > 0 || round === 0, `round ${round}: history was kept`);
  }
  rmSync(dir, { recursive: true });
});
