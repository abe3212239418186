// The history database's schema and connection settings (SQLite through better-sqlite3): the
// tables, the indexes (each one serves a named query and nothing else), and the pragmas every
// connection sets. No queries of the history live here.

import Database from "better-sqlite3";
import { BackupError } from "../errors.ts";

/** A connection to the history database. */
export type Db = Database.Database;

/** The schema version this code writes. Version 1 was the JSON file (`legacy-json.ts`). */
export const SCHEMA_VERSION = 2;

/**
 * The page cache of each connection, in KiB. The driver is built with 16 MiB; what a pass and the
 * status read is the tail of the runs table and the `latest` rows, a few hundred pages, and the
 * operating system caches the file anyway: more only makes the daemon bigger.
 */
export const PAGE_CACHE_KIB = 2048;

/** How long a statement waits for another process's write lock before failing (ms). */
export const BUSY_TIMEOUT_MS = 5000;

/** The first 16 bytes of every SQLite database file. */
export const SQLITE_MAGIC = Buffer.from("SQLite format 3\u0000", "latin1");

const DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- One row per source dataset ever recorded; runs, daily and latest refer to it by id.
CREATE TABLE IF NOT EXISTS datasets (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  dataset TEXT NOT NULL,
  UNIQUE (source, dataset)
);

-- One row per dataset per pass, in append order (AUTOINCREMENT: ids never go back, so they
-- order appends across processes and mark what a reader has seen). The row itself is JSON.
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ds INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  result TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  transfer_ms INTEGER NOT NULL,
  -- 1 once a failure kept in detail has been counted in its day's rollup
  rolled INTEGER NOT NULL DEFAULT 0,
  row TEXT NOT NULL
);
-- recent(), the report's hourly windows, and dropping rows past history.days.
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (started_ms);
-- Folding aged rows into rollups: skips the rolled failures kept in detail, which would
-- otherwise be scanned again on every pass.
CREATE INDEX IF NOT EXISTS runs_to_fold ON runs (started_ms) WHERE rolled = 0;

-- Per-day rollups of a dataset's aged-out passes (the previous version's "daily").
CREATE TABLE IF NOT EXISTS daily (
  day TEXT NOT NULL,
  ds INTEGER NOT NULL,
  passes INTEGER NOT NULL,
  failures INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  transfer_ms INTEGER NOT NULL,
  last_result TEXT NOT NULL,
  last_to TEXT,
  last_success_at TEXT,
  last_success_to TEXT,
  PRIMARY KEY (day, ds)
) WITHOUT ROWID;

-- What status, metrics, alerts and freshness ask, kept current on every append: per dataset the
-- newest row of any kind (any), the newest that counts for the status (last: not skipped, not
-- aborted) and the newest success with a snapshot (good). seq is the id of the append that
-- last changed the row, so a reader loads only what changed since it last looked.
CREATE TABLE IF NOT EXISTS latest (
  ds INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL,
  oldest_ms INTEGER NOT NULL,
  any_ms INTEGER, any_row TEXT,
  last_id INTEGER, last_ms INTEGER, last_row TEXT,
  good_id INTEGER, good_ms INTEGER, good_row TEXT
);
-- A reader's refresh: the rows changed since the seq it has.
CREATE INDEX IF NOT EXISTS latest_by_seq ON latest (seq);
-- Forgetting what is older than history.days.
CREATE INDEX IF NOT EXISTS latest_by_oldest ON latest (oldest_ms);

-- What was mailed about conditions still open, in the order recorded.
CREATE TABLE IF NOT EXISTS alerts (key TEXT PRIMARY KEY, record TEXT NOT NULL);
`;

/** Creates the tables and indexes (idempotent) and stamps the schema version. */
export function createSchema(db: Db): void {
  db.exec(DDL);
  db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?), ('epoch', '0')").run(
    String(SCHEMA_VERSION),
  );
}

/** The schema version stamped in a database, or null when it has no bzman tables. */
export function schemaVersionOf(db: Db): number | null {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'").get();
  if (!hasMeta) return null;
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
  return row ? Number(row.value) : null;
}

/** Tables of any kind in a database (to tell an empty file from a foreign one). */
export function tableCount(db: Db): number {
  return (db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number }).n;
}

/**
 * Opens a connection with the settings bzman relies on. Writers use WAL (readers never wait for
 * a writer, a crash loses at most the transaction in flight) with synchronous=NORMAL (no fsync
 * per commit; a power cut may lose the newest commits, never the file). `readOnly` connections
 * never create the file or change its mode; `rollbackJournal` is for private files (a migration's
 * temporary database, its lock). Throws the driver's error unchanged.
 */
export function connect(path: string, opts: { readOnly?: boolean; rollbackJournal?: boolean } = {}): Db {
  const db = new Database(path, {
    readonly: opts.readOnly ?? false,
    fileMustExist: opts.readOnly ?? false,
    timeout: BUSY_TIMEOUT_MS,
  });
  try {
    if (opts.rollbackJournal) db.pragma("journal_mode = DELETE");
    else if (!opts.readOnly) {
      toWal(db);
      db.pragma("synchronous = NORMAL");
      // After a burst the log is cut back to this size once checkpointed (it is reused, not grown).
      db.pragma("journal_size_limit = 4194304");
    } else db.pragma("query_only = ON");
    db.pragma("temp_store = MEMORY");
    db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** How long `toWal` sleeps between its tries (ms). */
const WAL_RETRY_MS = 20;

/**
 * Puts a connection in WAL mode. Two processes switching one file at the same moment (the first
 * open of a new history by the daemon and a `bzman run`) can get SQLITE_BUSY at once, without
 * the busy timeout: each holds a read lock and wants the write lock, and SQLite refuses the one
 * that would deadlock. So the switch is tried again for up to BUSY_TIMEOUT_MS. The wait blocks
 * the thread, as the busy timeout itself does, and only while a file is opened.
 */
function toWal(db: Db): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.pragma("journal_mode = WAL");
      return;
    } catch (err) {
      if (!(err as { code?: string }).code?.startsWith("SQLITE_BUSY") || Date.now() > deadline) throw err;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, WAL_RETRY_MS);
  }
}

/**
 * Opens a lock file as an SQLite database that never waits: a process holds the lock while it
 * holds `BEGIN EXCLUSIVE` on it, and the lock dies with the process.
 */
export function connectLock(path: string): Db {
  return new Database(path, { timeout: 0 });
}

/**
 * Closes a writer's connection. When it is the last connection to the file, the database is
 * switched back to a rollback journal first, which checkpoints and removes the -wal and -shm
 * files: a file at rest is one file, and a read-only command opening it later creates none.
 * Another connection still open makes the switch fail at once (busy), and WAL stays.
 */
export function closeWriter(db: Db): void {
  if (!db.open) return;
  try {
    db.pragma("busy_timeout = 0");
    db.pragma("journal_mode = DELETE");
  } catch {
    // Another process has the file open: it stays in WAL mode, which is right.
  }
  db.close();
}

/** Wraps a driver error: SQLITE_BUSY as STATE_BUSY (transient), anything else as `code`. */
export function stateError(err: unknown, code: "STATE_WRITE" | "STATE_UNREADABLE", what: string): BackupError {
  if (err instanceof BackupError) return err;
  const e = err as { code?: string; message?: string };
  if (typeof e.code === "string" && e.code.startsWith("SQLITE_BUSY")) {
    return new BackupError(
      "STATE_BUSY",
      `${what}: another process held the history's write lock for over ${BUSY_TIMEOUT_MS / 1000}s`,
      { cause: err },
    );
  }
  return new BackupError(code, `${what}: ${e.message ?? String(err)}`, { cause: err, detail: e.code });
}
