import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { REPO } from "../helpers/sandbox.ts";
import Database from "better-sqlite3";
import { HistoryStore, historyPaths } from "../../server/state/store.ts";
import { tallyRows } from "../../server/core/summary.ts";
import type { RunRecord } from "../../server/core/model.ts";

const tmp = (): string => mkdtempSync(join(tmpdir(), "bzman-store-"));

function run(at: string, result: "ok" | "failed" | "skipped", dataset = "tank/a", bytes = 100): RunRecord {
  return {
    runId: `r-${at}-${dataset}`,
    source: "web1",
    startedAt: at,
    finishedAt: at,
    phases: { total: 5 },
    goneOnSource: [],
    datasets: [
      {
        source: "web1",
        dataset,
        target: `b/w/${dataset}`,
        mode: result === "skipped" ? "error" : "incremental",
        result,
        steps: 1,
        bytes,
        transferMs: 10,
        ...(result === "ok" ? { to: { name: "s", guid: "1" } } : {}),
      },
    ],
  };
}

test("the database's name follows state: (.json becomes .sqlite; any other name is the database)", () => {
  assert.deepEqual(historyPaths("/var/lib/bzman/state.json"), {
    db: "/var/lib/bzman/state.sqlite",
    legacy: "/var/lib/bzman/state.json",
    backup: "/var/lib/bzman/state.json.migrated",
  });
  assert.deepEqual(historyPaths("/srv/bzman/history.db"), {
    db: "/srv/bzman/history.db",
    legacy: "/srv/bzman/history.db",
    backup: "/srv/bzman/history.db.migrated",
  });
});

test("appended runs survive a reopen; latest, recent and lastSuccess read them back", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  const now = Date.parse("2026-11-26T12:00:00Z");
  const { store, problem } = await HistoryStore.open(path, { now: () => now });
  assert.equal(problem, undefined);
  await store.appendRun(run("2026-11-26T11:00:00.000Z", "ok"));
  await store.appendRun(run("2026-11-26T11:10:00.000Z", "failed"));
  store.close();
  assert.deepEqual(readdirSync(dir), ["state.sqlite"], "a closed history is one file: no JSON, no -wal, no -shm");
  const again = (await HistoryStore.open(path, { now: () => now })).store;
  assert.deepEqual(
    again.latest().map((r) => r.result),
    ["failed"],
  );
  assert.equal(again.recent(1).length, 2);
  assert.equal(again.lastSuccess().get("web1:tank/a")?.startedAt, "2026-11-26T11:00:00.000Z");
  assert.equal(again.recent(1)[0]!.bytesPerSecond, 10_000, "100 bytes in 10 ms");
  assert.deepEqual(
    again.statusRows().map((r) => r.result),
    ["ok", "failed"],
    "the newest success, then the newest row that counts",
  );
  again.close();
  rmSync(dir, { recursive: true });
});

test("status rows: a skipped tick or an aborted pass never hides the result before it", async () => {
  const dir = tmp();
  const now = Date.parse("2026-11-26T12:00:00Z");
  const { store } = await HistoryStore.open(join(dir, "state.json"), { now: () => now });
  await store.appendRun(run("2026-11-26T11:00:00.000Z", "failed"));
  await store.appendRun(run("2026-11-26T11:10:00.000Z", "skipped"));
  const aborted = run("2026-11-26T11:20:00.000Z", "failed");
  aborted.datasets[0]!.error = { code: "ABORTED", message: "stopped", at: aborted.startedAt };
  await store.appendRun(aborted);
  assert.deepEqual(
    store.statusRows().map((r) => `${r.startedAt.slice(11, 16)} ${r.result}`),
    ["11:00 failed"],
  );
  assert.deepEqual(
    store.latest().map((r) => r.error?.code),
    ["ABORTED"],
    "latest() is the newest row of any kind",
  );
  store.close();
  rmSync(dir, { recursive: true });
});

test("two stores on one file see each other's rows and alerts (data_version refresh)", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  const now = Date.parse("2026-11-26T12:00:00Z");
  const daemon = (await HistoryStore.open(path, { now: () => now })).store;
  await daemon.appendRun(run("2026-11-26T11:00:00.000Z", "ok", "tank/a"));
  assert.equal(daemon.statusRows().length, 1);
  const manual = (await HistoryStore.open(path, { now: () => now })).store;
  await manual.appendRun(run("2026-11-26T11:05:00.000Z", "ok", "tank/b"));
  await manual.recordAlert("pass web1:tank/b", {
    key: "pass web1:tank/b",
    condition: {
      key: "pass web1:tank/b",
      host: "web1",
      what: "x",
      where: "y",
      code: "INTERNAL",
      message: "m",
      advice: "a",
    },
    since: "t",
    lastSent: "t",
  });
  await daemon.appendRun(run("2026-11-26T11:10:00.000Z", "failed", "tank/a"));
  assert.deepEqual(
    daemon.recent(2).map((r) => `${r.dataset} ${r.startedAt.slice(11, 16)}`),
    ["tank/a 11:00", "tank/b 11:05", "tank/a 11:10"],
  );
  assert.deepEqual([...daemon.alerts().keys()], ["pass web1:tank/b"]);
  assert.equal(daemon.latest().length, 2, "the daemon sees the other process's dataset");
  assert.deepEqual(
    manual.statusRows().map((r) => `${r.dataset} ${r.result}`),
    ["tank/a ok", "tank/b ok", "tank/a failed"],
  );
  await daemon.recordAlert("pass web1:tank/b", null);
  assert.equal(manual.alerts().size, 0);
  manual.close();
  daemon.close();
  rmSync(dir, { recursive: true });
});

test("compaction: details age into daily rollups, failures stay in detail, the bound drops the rest", async () => {
  const dir = tmp();
  let now = Date.parse("2026-07-01T00:10:00Z");
  const { store } = await HistoryStore.open(join(dir, "state.json"), {
    now: () => now,
    keep: { days: 90, detailHours: 48 },
  });
  await store.appendRun(run("2026-07-01T00:00:00.000Z", "ok")); // older than 90 days at the end: dropped
  now = Date.parse("2026-11-20T03:10:00Z");
  await store.appendRun(run("2026-11-20T01:00:00.000Z", "ok"));
  await store.appendRun(run("2026-11-20T02:00:00.000Z", "failed"));
  await store.appendRun(run("2026-11-20T03:00:00.000Z", "ok", "tank/a", 50));
  now = Date.parse("2026-11-26T12:00:00Z");
  await store.appendRun(run("2026-11-26T11:00:00.000Z", "ok")); // within 48 h: detail
  assert.deepEqual(
    store.recent(24 * 365).map((r) => `${r.startedAt.slice(0, 13)} ${r.result}${r.rolled ? " rolled" : ""}`),
    ["2026-11-20T02 failed rolled", "2026-11-26T11 ok"],
  );
  assert.deepEqual(
    store.daily().map((d) => [d.day, d.passes, d.failures, d.bytes, d.lastResult, d.lastSuccessAt]),
    [["2026-11-20", 3, 1, 250, "ok", "2026-11-20T03:00:00.000Z"]],
  );
  await store.appendRun(run("2026-11-26T11:10:00.000Z", "ok"));
  assert.deepEqual(
    store.daily().map((d) => [d.day, d.passes, d.failures]),
    [["2026-11-20", 3, 1]],
    "compacting again counts nothing twice",
  );
  assert.equal(store.lastSuccess().get("web1:tank/a")?.startedAt, "2026-11-26T11:10:00.000Z");
  store.close();
  rmSync(dir, { recursive: true });
});

test("compaction is bounded per append and catches up over the next passes", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  let now = Date.parse("2026-11-01T00:00:00Z");
  const { store } = await HistoryStore.open(path, { now: () => now });
  const many: RunRecord = {
    ...run("2026-11-01T00:00:00.000Z", "ok"),
    datasets: Array.from({ length: 400 }, (_, i) => ({ ...run("x", "ok", `tank/d${i}`).datasets[0]! })),
  };
  await store.appendRun(many);
  now = Date.parse("2026-11-10T00:00:00Z");
  const count = (): number =>
    new Database(historyPaths(path).db, { readonly: true })
      .prepare("SELECT count(*) FROM runs")
      .pluck()
      .get() as number;
  await store.appendRun(run("2026-11-10T00:00:00.000Z", "ok"));
  assert.equal(count(), 401 - 68, "one append folds at most 64 + 4 x its rows");
  for (let i = 0; i < 6; i++) await store.appendRun(run(`2026-11-10T00:0${i + 1}:00.000Z`, "ok"));
  assert.equal(count(), 7, "caught up: only the new rows are left in detail");
  assert.equal(store.daily().length, 400);
  store.close();
  rmSync(dir, { recursive: true });
});

test("the report's tallies equal counting the window's rows", async () => {
  const dir = tmp();
  const now = Date.parse("2026-11-26T12:00:00Z");
  const { store } = await HistoryStore.open(join(dir, "state.json"), { now: () => now });
  for (let m = 0; m < 26 * 60; m += 50) {
    const at = new Date(now - m * 60_000).toISOString();
    await store.appendRun(
      run(at, m % 200 === 0 ? "failed" : m % 300 === 0 ? "skipped" : "ok", m % 100 === 0 ? "tank/a" : "tank/b", m),
    );
  }
  const key = (t: { hour: number; source: string; dataset: string }): string => `${t.hour} ${t.source} ${t.dataset}`;
  const sort = <T extends { hour: number; source: string; dataset: string }>(a: T[]): T[] =>
    [...a].sort((x, y) => key(x).localeCompare(key(y)));
  assert.deepEqual(sort(await store.reportTallies(now)), sort(tallyRows(store.recent(48), now)));
  store.close();
  rmSync(dir, { recursive: true });
});

test("an unreadable JSON state file is moved aside with a clear problem, never silently emptied", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  writeFileSync(path, '{"schemaVersion":1,"history":[{"trunc');
  const { store, problem } = await HistoryStore.open(path);
  assert.match(problem!, /state file .*state\.json was unreadable .* moved to .*state\.json\.corrupt-/);
  const aside = readdirSync(dir).find((f) => f.startsWith("state.json.corrupt-"))!;
  assert.equal(
    readFileSync(join(dir, aside), "utf8"),
    '{"schemaVersion":1,"history":[{"trunc',
    "the old content is kept",
  );
  await store.appendRun(run("2026-11-26T11:00:00.000Z", "ok"));
  assert.ok(existsSync(join(dir, "state.sqlite")));
  store.close();
  rmSync(dir, { recursive: true });
});

test("a JSON file of another shape is moved aside too", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  writeFileSync(path, JSON.stringify({ schemaVersion: 7, runs: [] }));
  const { store, problem } = await HistoryStore.open(path);
  assert.match(problem!, /not a bzman state file: schemaVersion/);
  store.close();
  rmSync(dir, { recursive: true });
});

test("a database file that cannot be opened is moved aside", async () => {
  const dir = tmp();
  const path = join(dir, "state.sqlite");
  writeFileSync(path, `SQLite format 3\u0000${"garbage".repeat(200)}`);
  const { store, problem } = await HistoryStore.open(path, { now: () => Date.parse("2026-11-26T12:00:00Z") });
  assert.match(
    problem!,
    /state file .*state\.sqlite was unreadable \(.*\); it was moved to .*state\.sqlite\.corrupt-\d+T\d+Z and a new history begins/,
  );
  const aside = readdirSync(dir).find((f) => /^state\.sqlite\.corrupt-\d+T\d+Z$/.test(f))!;
  assert.match(readFileSync(join(dir, aside), "latin1"), /garbagegarbage/, "the old content is kept");
  await store.appendRun(run("2026-11-26T11:00:00.000Z", "ok"));
  assert.equal(store.recent(1e6).length, 1);
  store.close();
  rmSync(dir, { recursive: true });
});

test("a history whose SQLite driver cannot load (built for another Node) is left where it is, and the error says why", async () => {
  const dir = tmp();
  const path = join(dir, "state.sqlite");
  const first = await HistoryStore.open(path);
  await first.store.appendRun(run("2026-11-26T11:00:00.000Z", "ok"));
  first.store.close();
  const before = readFileSync(path);
  // The driver's native module refused as Node refuses one built for another Node version.
  const script = [
    "process.dlopen = () => { throw Object.assign(new Error('The module better_sqlite3.node was compiled against a different Node.js version using NODE_MODULE_VERSION 1'), { code: 'ERR_DLOPEN_FAILED' }); };",
    `import("./server/state/store.ts").then((m) => m.HistoryStore.open(${JSON.stringify(path)})).then(`,
    "  () => { console.log('OPENED'); },",
    "  (e) => { console.log('REFUSED ' + e.code + ': ' + e.message); },",
    ");",
  ].join("\n");
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: REPO, encoding: "utf8" });
  assert.match(
    r.stdout,
    /REFUSED STATE_UNREADABLE: cannot open the history .*state\.sqlite: The module better_sqlite3\.node was compiled against a different Node\.js version/,
    r.stdout + r.stderr,
  );
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes("corrupt")),
    [],
    "nothing moved aside",
  );
  assert.deepEqual(readFileSync(path), before, "the history is untouched");
  rmSync(dir, { recursive: true });
});

test("a database of a newer bzman is refused and left as it is", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  const { store } = await HistoryStore.open(path);
  store.close();
  const db = new Database(join(dir, "state.sqlite"));
  db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema'").run();
  db.close();
  await assert.rejects(
    HistoryStore.open(path),
    (err: Error & { code?: string }) => err.code === "STATE_NEWER" && /schema 99, newer/.test(err.message),
  );
  assert.deepEqual(readdirSync(dir), ["state.sqlite"]);
  rmSync(dir, { recursive: true });
});

test("read-only opens create nothing: no folder, no file, no -wal or -shm", async () => {
  const dir = tmp();
  const missing = join(dir, "not", "there", "state.json");
  const ro = await HistoryStore.open(missing, { readOnly: true });
  assert.deepEqual([ro.store.statusRows(), ro.problem], [[], undefined]);
  await assert.rejects(ro.store.appendRun(run("2026-11-26T11:00:00.000Z", "ok")), /read-only/);
  ro.store.close();
  assert.deepEqual(readdirSync(dir), [], "no folder was made");
  const path = join(dir, "state.json");
  const { store } = await HistoryStore.open(path);
  await store.appendRun(run("2026-11-26T11:00:00.000Z", "ok"));
  store.close();
  const reader = (await HistoryStore.open(path, { readOnly: true })).store;
  assert.equal(reader.statusRows().length, 1);
  reader.close();
  assert.deepEqual(readdirSync(dir), ["state.sqlite"]);
  rmSync(dir, { recursive: true });
});

test("a compaction that fails never loses the pass it follows (it runs in a savepoint)", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  let now = Date.parse("2026-11-20T00:00:00Z");
  const { store } = await HistoryStore.open(path, { now: () => now });
  await store.appendRun(run("2026-11-20T00:00:00.000Z", "ok"));
  const other = new Database(historyPaths(path).db);
  other.exec("DROP TABLE daily");
  other.close();
  now = Date.parse("2026-11-26T12:00:00Z");
  await store.appendRun(run("2026-11-26T11:00:00.000Z", "ok", "tank/b"));
  assert.match(store.compactionError ?? "", /daily/);
  assert.deepEqual(
    store.recent(24 * 30).map((r) => r.dataset),
    ["tank/a", "tank/b"],
    "the new row is there, the aged one was not folded",
  );
  store.close();
  rmSync(dir, { recursive: true });
});

test("the daemon's checkpoint thread keeps the log short and leaves one file at close", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  let now = Date.parse("2026-11-26T00:00:00Z");
  const { store } = await HistoryStore.open(path, { now: () => now, checkpointThread: true });
  // Fewer pages than SQLite's own automatic checkpoint waits for (1,000).
  for (let i = 0; i < 40; i++) {
    now += 3000;
    await store.appendRun(run(new Date(now).toISOString(), "ok", `tank/d${i % 50}`));
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 400));
  // Without checkpoints every page would still be in the -wal and the database would be its first pages.
  assert.ok(
    statSync(historyPaths(path).db).size > 40_000,
    `the database file holds the rows (${statSync(historyPaths(path).db).size} bytes)`,
  );
  assert.equal(store.recent(24).length, 40);
  store.close();
  assert.deepEqual(readdirSync(dir), ["state.sqlite"]);
  rmSync(dir, { recursive: true });
});

test("a read-only open of an unreadable file says so, shows no history, and leaves the file as it is", async () => {
  const dir = tmp();
  writeFileSync(join(dir, "state.sqlite"), `SQLite format 3\u0000${"garbage".repeat(200)}`);
  const { store, problem } = await HistoryStore.open(join(dir, "state.json"), { readOnly: true });
  assert.match(
    problem!,
    /the state file .*state\.sqlite cannot be read \(.*\); showing no history \(it was left as it is\)/,
  );
  assert.deepEqual(store.statusRows(), []);
  store.close();
  assert.deepEqual(readdirSync(dir), ["state.sqlite"]);
  rmSync(dir, { recursive: true });
});
