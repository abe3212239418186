// Migrating the previous version's JSON state file into the history database, once: every row
// (in its order, with its rolled flag), every rollup and every alert record go, in one
// transaction, into `<db>.migrating`, which is then renamed into place; the JSON is kept as
// `<json>.migrated`. One process migrates at a time, under an SQLite lock that dies with its
// holder, and re-checks under it that no other process has finished first.

import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
} from "node:fs";
import { dirname } from "node:path";
import type { DailyRollup, HistoryRow, StateData } from "./legacy-json.ts";
import { readLegacyFile } from "./legacy-json.ts";
import { fileKind, moveAside, type HistoryPaths } from "./history-files.ts";
import { RowWriter } from "./rows.ts";
import { connect, connectLock, createSchema, type Db } from "./schema.ts";

/** What a migration attempt did. */
export type MigrationResult =
  | { kind: "busy" }
  | { kind: "done-by-other" }
  | { kind: "migrated"; message: string }
  | { kind: "unreadable"; message: string };

/** The row the previous version's status stood in for a success only a rollup remembers. */
function rollupSuccessRow(r: DailyRollup): HistoryRow | null {
  if (!r.lastSuccessAt || !r.lastSuccessTo) return null;
  return {
    source: r.source,
    dataset: r.dataset,
    target: "",
    mode: "incremental",
    result: "ok",
    steps: 0,
    bytes: 0,
    transferMs: 0,
    to: r.lastSuccessTo,
    runId: "rollup",
    startedAt: r.lastSuccessAt,
    finishedAt: r.lastSuccessAt,
    phases: {},
    bytesPerSecond: 0,
  };
}

/**
 * Imports a JSON state file's contents into a database that has the schema, in one
 * transaction: rows in file order (so ids keep the append order), rollups, alert records, and
 * for datasets whose last success has aged into the rollups, that success as their `latest`.
 */
export function importLegacy(db: Db, data: StateData): void {
  const w = new RowWriter(db);
  const daily =
    db.prepare(`INSERT OR REPLACE INTO daily (day, ds, passes, failures, bytes, transfer_ms, last_result, last_to, last_success_at, last_success_to)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const alert = db.prepare("INSERT OR REPLACE INTO alerts (key, record) VALUES (?, ?)");
  db.transaction(() => {
    let seq = 0;
    for (const row of data.history) seq = w.insert(row);
    const fromRollups = new Map<string, HistoryRow>();
    for (const r of data.daily) {
      daily.run(
        r.day,
        w.datasetId(r.source, r.dataset),
        r.passes,
        r.failures,
        r.bytes,
        r.transferMs,
        r.lastResult,
        r.lastTo ? JSON.stringify(r.lastTo) : null,
        r.lastSuccessAt ?? null,
        r.lastSuccessTo ? JSON.stringify(r.lastSuccessTo) : null,
      );
      const success = rollupSuccessRow(r);
      if (success) fromRollups.set(`${r.source}\u0000${r.dataset}`, success);
    }
    for (const row of fromRollups.values()) w.fillFromRollup(row, seq);
    for (const a of data.alerts ?? []) alert.run(a.key, JSON.stringify(a));
  }).immediate();
}

function fsyncPath(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    fsyncSync(fd);
  } catch {
    // Some systems cannot fsync a directory; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function removeIfThere(path: string): void {
  for (const p of [path, `${path}-journal`, `${path}-wal`, `${path}-shm`]) if (existsSync(p)) unlinkSync(p);
}

/**
 * A migration that stopped after the database was renamed into place but before the JSON file
 * was removed (its backup is the same file, hard-linked): removes the JSON, finishing it.
 */
export function finishInterrupted(paths: HistoryPaths): void {
  if (
    paths.legacy === paths.db ||
    !existsSync(paths.legacy) ||
    !existsSync(paths.backup) ||
    fileKind(paths.db) !== "sqlite"
  )
    return;
  const a = statSync(paths.legacy);
  const b = statSync(paths.backup);
  if (a.ino === b.ino && a.dev === b.dev) unlinkSync(paths.legacy);
}

/**
 * Migrates the JSON file at `paths.legacy` into `paths.db`, if this process gets the lock and
 * nobody did it first. A JSON file that cannot be read is moved aside instead (the caller then
 * starts a new history). Throws only on I/O errors (a full disk, permissions).
 */
export function tryMigrate(paths: HistoryPaths, nowMs: number): MigrationResult {
  const lockPath = `${paths.db}.migrate-lock`;
  const lock = connectLock(lockPath);
  let held = false;
  try {
    try {
      lock.prepare("BEGIN EXCLUSIVE").run();
      held = true;
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith("SQLITE_BUSY")) return { kind: "busy" };
      throw err;
    }
    // Under the lock: another process may have finished (or moved an unreadable file aside).
    if (fileKind(paths.db) === "sqlite" || fileKind(paths.legacy) === "missing") return { kind: "done-by-other" };
    let data: StateData;
    try {
      data = readLegacyFile(paths.legacy);
    } catch (err) {
      const aside = moveAside(paths.legacy, nowMs);
      return {
        kind: "unreadable",
        message: `the state file ${paths.legacy} was unreadable (${(err as Error).message.split("\n")[0]}); it was moved to ${aside} and a new history begins`,
      };
    }
    const temp = `${paths.db}.migrating`;
    removeIfThere(temp);
    const db = connect(temp, { rollbackJournal: true });
    try {
      db.pragma("synchronous = FULL");
      createSchema(db);
      importLegacy(db, data);
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('migrated_from', ?), ('migrated_at', ?)").run(
        paths.legacy,
        new Date(nowMs).toISOString(),
      );
    } finally {
      db.close();
    }
    fsyncPath(temp);
    // The backup first (a hard link: the same file, no copy), then the database into place.
    if (existsSync(paths.backup)) unlinkSync(paths.backup);
    try {
      linkSync(paths.legacy, paths.backup);
    } catch {
      copyFileSync(paths.legacy, paths.backup);
    }
    renameSync(temp, paths.db);
    if (paths.legacy !== paths.db) unlinkSync(paths.legacy);
    fsyncPath(dirname(paths.db));
    const counts = `${data.history.length} rows, ${data.daily.length} daily rollups, ${(data.alerts ?? []).length} alert records`;
    return {
      kind: "migrated",
      message: `migrated the JSON state file ${paths.legacy} (${counts}) into ${paths.db}; the JSON file is kept as ${paths.backup}`,
    };
  } finally {
    // Removed while still held: a process waiting on this file gets it next and finds the work
    // done; one arriving later makes a new lock file.
    if (held) removeIfThere(lockPath);
    lock.close();
  }
}
