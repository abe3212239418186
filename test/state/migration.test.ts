// Migration of the previous version's JSON state file (test/fixtures/state/state-v1.json, written
// by that version's store) and reading it in place: every row, rollup and alert record kept, and
// the status and report built from it equal to what the previous store gave.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  copyFileSync,
  linkSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { buildStatus, type StatusModel, type StatusSource } from "../../server/core/status.ts";
import { buildReportFromTallies, type ReportModel } from "../../server/core/summary.ts";
import type { AlertRecord } from "../../server/core/alerts.ts";
import type { StateData } from "../../server/state/legacy-json.ts";
import { HistoryStore, type DailyRollup, type HistoryRow } from "../../server/state/store.ts";

const FIXTURE = new URL("../fixtures/state/state-v1.json", import.meta.url).pathname;
const expected = JSON.parse(
  readFileSync(new URL("../fixtures/state/state-v1.expected.json", import.meta.url), "utf8"),
) as {
  now: string;
  sources: StatusSource[];
  status: StatusModel;
  report: ReportModel;
  latest: HistoryRow[];
  lastSuccess: Record<string, HistoryRow>;
  daily: DailyRollup[];
  alerts: AlertRecord[];
  recent24: number;
};
const NOW = Date.parse(expected.now);
const fixture = JSON.parse(readFileSync(FIXTURE, "utf8")) as StateData;
const tmp = (): string => mkdtempSync(join(tmpdir(), "bzman-migrate-"));
const byKey = <T extends { source: string; dataset: string }>(a: T[], extra: (x: T) => string = () => ""): T[] =>
  [...a].sort((x, y) => `${x.source}:${x.dataset}:${extra(x)}`.localeCompare(`${y.source}:${y.dataset}:${extra(y)}`));

/** Everything the store answers, compared with what the previous store answered for the same file. */
async function assertSameAsBefore(store: HistoryStore): Promise<void> {
  const status = buildStatus({
    sources: expected.sources,
    rows: store.statusRows(),
    pools: [],
    live: [],
    nextRuns: new Map(),
    now: NOW,
  });
  assert.deepEqual(status, expected.status, "the status is unchanged");
  assert.deepEqual(
    buildReportFromTallies(status, await store.reportTallies(NOW), NOW),
    expected.report,
    "the report is unchanged",
  );
  assert.deepEqual(byKey(store.latest()), byKey(expected.latest));
  assert.deepEqual(Object.fromEntries(store.lastSuccess()), expected.lastSuccess);
  assert.deepEqual(
    byKey(store.daily(), (d) => d.day),
    byKey(expected.daily, (d) => d.day),
  );
  assert.deepEqual([...store.alerts().values()], expected.alerts);
  assert.equal(store.recent(24).length, expected.recent24);
}

test("the JSON state file is migrated on first open, once, keeping every row, rollup and alert record", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  copyFileSync(FIXTURE, path);
  const { store, notice, problem } = await HistoryStore.open(path, { now: () => NOW });
  assert.equal(problem, undefined);
  assert.match(
    notice!,
    /migrated the JSON state file .*state\.json \(42 rows, 8 daily rollups, 2 alert records\) into .*state\.sqlite; the JSON file is kept as .*state\.json\.migrated/,
  );
  assert.deepEqual(readdirSync(dir).sort(), [
    "state.json.migrated",
    "state.sqlite",
    "state.sqlite-shm",
    "state.sqlite-wal",
  ]);
  assert.equal(
    readFileSync(join(dir, "state.json.migrated"), "utf8"),
    readFileSync(FIXTURE, "utf8"),
    "the JSON is kept as it was",
  );
  // Every row, in its order, with its rolled flag, and every rollup as it was.
  assert.deepEqual(store.recent(24 * 365), fixture.history);
  assert.deepEqual(
    byKey(store.daily(), (d) => d.day),
    byKey(fixture.daily, (d) => d.day),
  );
  await assertSameAsBefore(store);
  store.close();
  const again = await HistoryStore.open(path, { now: () => NOW });
  assert.equal(again.notice, undefined, "not migrated twice");
  await assertSameAsBefore(again.store);
  again.store.close();
  rmSync(dir, { recursive: true });
});

test("read-only commands read the JSON file in place and change nothing", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  copyFileSync(FIXTURE, path);
  const before = statSync(path);
  const { store, problem } = await HistoryStore.open(path, { now: () => NOW, readOnly: true });
  assert.equal(problem, undefined);
  await assertSameAsBefore(store);
  store.close();
  assert.deepEqual(readdirSync(dir), ["state.json"], "no database, no backup, no lock");
  assert.equal(statSync(path).mtimeMs, before.mtimeMs);
  rmSync(dir, { recursive: true });
});

test("a JSON file under a name that is not .json is migrated in place, its JSON kept beside", async () => {
  const dir = tmp();
  const path = join(dir, "history");
  copyFileSync(FIXTURE, path);
  const ro = await HistoryStore.open(path, { now: () => NOW, readOnly: true });
  await assertSameAsBefore(ro.store);
  ro.store.close();
  const { store, notice } = await HistoryStore.open(path, { now: () => NOW });
  assert.match(notice!, /kept as .*history\.migrated/);
  await assertSameAsBefore(store);
  store.close();
  assert.deepEqual(readdirSync(dir).sort(), ["history", "history.migrated"]);
  assert.equal(readFileSync(join(dir, "history.migrated"), "utf8"), readFileSync(FIXTURE, "utf8"));
  assert.equal(readFileSync(path).subarray(0, 15).toString(), "SQLite format 3");
  rmSync(dir, { recursive: true });
});

test("a migration stopped after the rename is finished at the next open (the JSON goes, its backup stays)", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  copyFileSync(FIXTURE, path);
  (await HistoryStore.open(path, { now: () => NOW })).store.close();
  // As if the process died between renaming the database into place and removing the JSON.
  linkSync(join(dir, "state.json.migrated"), path);
  const { store, notice } = await HistoryStore.open(path, { now: () => NOW });
  assert.equal(notice, undefined);
  await assertSameAsBefore(store);
  store.close();
  assert.deepEqual(readdirSync(dir).sort(), ["state.json.migrated", "state.sqlite"]);
  rmSync(dir, { recursive: true });
});

test("a migration killed before the rename leaves the JSON in use, and the next open migrates it", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  copyFileSync(FIXTURE, path);
  (await HistoryStore.open(path, { now: () => NOW })).store.close();
  // As if it died after writing <db>.migrating and linking the backup: the database is not in place yet.
  renameSync(join(dir, "state.sqlite"), join(dir, "state.sqlite.migrating"));
  copyFileSync(join(dir, "state.json.migrated"), path);
  const { store, notice } = await HistoryStore.open(path, { now: () => NOW });
  assert.match(notice!, /42 rows/);
  await assertSameAsBefore(store);
  store.close();
  assert.deepEqual(readdirSync(dir).sort(), ["state.json.migrated", "state.sqlite"]);
  rmSync(dir, { recursive: true });
});

test("two processes opening the JSON file at once: one migrates, both see every row once", async () => {
  const dir = tmp();
  const path = join(dir, "state.json");
  // A bigger file, so the migration takes long enough for the other process to wait on it.
  const big: StateData = {
    ...fixture,
    history: Array.from({ length: 150 }, (_, i) =>
      fixture.history.map((r) => ({ ...r, runId: `${r.runId}-${i}` })),
    ).flat(),
  };
  writeFileSync(path, JSON.stringify(big));
  const script = join(dir, "open.mts");
  writeFileSync(
    script,
    `
    import { HistoryStore } from ${JSON.stringify(new URL("../../server/state/store.ts", import.meta.url).pathname)};
    const { store, notice } = await HistoryStore.open(${JSON.stringify(path)}, { now: () => ${NOW} });
    process.stdout.write(JSON.stringify({ notice: notice ?? null, rows: store.recent(24 * 365).length }));
    store.close();`,
  );
  const one = (): Promise<{ notice: string | null; rows: number }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c));
      child.once("close", (code) =>
        code === 0
          ? resolve(JSON.parse(out) as { notice: string | null; rows: number })
          : reject(new Error(`exit ${code}`)),
      );
    });
  const results = await Promise.all([one(), one()]);
  assert.deepEqual(
    results.map((r) => r.rows),
    [big.history.length, big.history.length],
  );
  assert.equal(results.filter((r) => r.notice !== null).length, 1, "exactly one process migrated");
  const db = new Database(join(dir, "state.sqlite"), { readonly: true });
  assert.equal(db.prepare("SELECT count(*) FROM runs").pluck().get(), big.history.length);
  db.close();
  assert.deepEqual(readdirSync(dir).sort(), ["open.mts", "state.json.migrated", "state.sqlite"]);
  rmSync(dir, { recursive: true });
});
