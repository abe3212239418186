// The run history in SQLite: one row per dataset per pass, daily rollups, per-dataset `latest`
// entries and the alert records, in one database file shared by every bzman process (the
// daemon, a `bzman run` beside it, `bzman status`). Calls run synchronously (appendRun returns a
// settled promise). An append is one transaction: its rows and a compaction step bounded by the
// rows it adds. The status reads a process's cache of `latest` (latest-cache.ts), refreshed when
// the file changed: with the entries changed since, or all of them after compaction changed the
// epoch; so it grows with the datasets, never with the history. The report counts one hour per
// query and yields between. Read-only opens never create, migrate or write.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { AlertRecord } from "../core/alerts.ts";
import type { RunRecord } from "../core/model.ts";
import type { ReportTally } from "../core/summary.ts";
import { BackupError } from "../errors.ts";
import { Checkpointer } from "./checkpointer.ts";
import { Compactor, DEFAULT_HISTORY, type Retention } from "./compaction.ts";
import { fileKind, historyPaths, moveAside, type HistoryPaths } from "./history-files.ts";
import { readLegacyFile, type DailyRollup, type HistoryRow } from "./legacy-json.ts";
import { LatestCache } from "./latest-cache.ts";
import { finishInterrupted, importLegacy, tryMigrate } from "./migrate.ts";
import { RowWriter, rowsOf } from "./rows.ts";
import {
  SCHEMA_VERSION,
  closeWriter,
  connect,
  createSchema,
  schemaVersionOf,
  stateError,
  tableCount,
  type Db,
} from "./schema.ts";

// What consumers of the history need, from one module.
export { DEFAULT_HISTORY, historyPaths, type DailyRollup, type HistoryPaths, type HistoryRow, type Retention };

/** The outcome of opening the store: `problem` says what was moved aside or could not be read, `notice` what was migrated. */
export interface OpenedStore {
  store: HistoryStore;
  problem?: string;
  notice?: string;
}

/** Options of {@link HistoryStore.open}. */
export interface OpenOptions {
  keep?: Retention;
  now?: () => number;
  /** Read only (status, report): never creates, migrates, moves aside or writes anything. */
  readOnly?: boolean;
  /**
   * Checkpoint the write-ahead log in a worker thread instead of inside appends (the daemon:
   * no append then ever waits for an fsync of the database).
   */
  checkpointThread?: boolean;
}

/**
 * The store's queries (exported for the query-plan test). `alerts` and `daily` read whole
 * tables on purpose: alerts are a handful, and daily() is for tools and tests.
 */
export const STORE_SQL = {
  recent: "SELECT row, rolled FROM runs INDEXED BY runs_by_time WHERE started_ms >= ? ORDER BY id",
  reportHour: `SELECT d.source, d.dataset, count(*) AS passes, sum(r.result IN ('failed', 'conflict')) AS failures,
    sum(r.bytes) AS bytes, sum(r.transfer_ms) AS transferMs FROM runs r JOIN datasets d ON d.id = r.ds
    WHERE r.started_ms >= ? AND r.started_ms < ? AND r.result <> 'skipped' GROUP BY r.ds`,
  alerts: "SELECT record FROM alerts ORDER BY rowid",
  // REPLACE gives the record a new rowid: a re-sent alert moves to the end, as the JSON file did.
  putAlert: "INSERT OR REPLACE INTO alerts (key, record) VALUES (?, ?)",
  dropAlert: "DELETE FROM alerts WHERE key = ?",
  daily: `SELECT d.day, s.source, s.dataset, d.passes, d.failures, d.bytes, d.transfer_ms, d.last_result, d.last_to,
    d.last_success_at, d.last_success_to FROM daily d JOIN datasets s ON s.id = d.ds ORDER BY d.day, s.source, s.dataset`,
} as const;

/** How long a process waits for another one's migration of the JSON file. */
const MIGRATION_WAIT_MS = 10 * 60_000;

const openStores = new Set<HistoryStore>();
let exitHooked = false;

/** Opens (or creates) the database at `path`; an unreadable file is moved aside and a new one begins. */
function openWritable(path: string, nowMs: number): { db: Db; problem?: string } {
  const verified = (): Db => {
    const db = connect(path);
    try {
      const version = schemaVersionOf(db);
      if (version !== null && version > SCHEMA_VERSION) {
        throw new BackupError(
          "STATE_NEWER",
          `the history ${path} has schema ${version}, newer than this bzman's ${SCHEMA_VERSION}; upgrade bzman (the file was left as it is)`,
        );
      }
      if (version === null && tableCount(db) > 0) {
        throw new BackupError("STATE_UNREADABLE", "not a bzman history database (it has other tables)");
      }
      db.transaction(() => createSchema(db)).immediate();
      db.prepare("SELECT max(id) FROM runs").get();
      return db;
    } catch (err) {
      db.close();
      throw err;
    }
  };
  const kind = fileKind(path);
  if (kind !== "other") {
    try {
      return { db: verified() };
    } catch (err) {
      if (err instanceof BackupError && err.code === "STATE_NEWER") throw err;
      const code = (err as { code?: string }).code ?? "";
      // Only a file SQLite itself finds wrong (or one with other tables) is moved aside. A driver
      // that cannot load (better-sqlite3 built for another Node) or a busy file says nothing of
      // the file: it stays where it is.
      const fileIsBad = err instanceof BackupError ? err.code === "STATE_UNREADABLE" : /^SQLITE_/.test(code);
      if (code.startsWith("SQLITE_BUSY") || !fileIsBad)
        throw stateError(err, "STATE_UNREADABLE", `cannot open the history ${path}`);
      const aside = moveAside(path, nowMs);
      return {
        db: verified(),
        problem: `the state file ${path} was unreadable (${(err as Error).message.split("\n")[0]}); it was moved to ${aside} and a new history begins`,
      };
    }
  }
  const aside = moveAside(path, nowMs);
  return {
    db: verified(),
    problem: `the state file ${path} was unreadable (not an SQLite database nor a bzman JSON state file); it was moved to ${aside} and a new history begins`,
  };
}

/** An empty history in memory, or one filled from a JSON state file: for read-only opens. */
function inMemory(fill?: (db: Db) => void): Db {
  const db = new Database(":memory:");
  createSchema(db);
  fill?.(db);
  return db;
}

/** Opens the history for reading only, from whichever format is there. */
function openReadOnly(paths: HistoryPaths): { db: Db; problem?: string } {
  const kind = fileKind(paths.db);
  const unreadable = (what: string, err: unknown): { db: Db; problem: string } => ({
    db: inMemory(),
    problem: `the state file ${what} cannot be read (${(err as Error).message.split("\n")[0]}); showing no history (it was left as it is)`,
  });
  if (kind === "sqlite") {
    let db: Db | undefined;
    try {
      db = connect(paths.db, { readOnly: true });
      const version = schemaVersionOf(db);
      if (version === null) throw new BackupError("STATE_UNREADABLE", "not a bzman history database");
      if (version > SCHEMA_VERSION)
        throw new BackupError("STATE_NEWER", `schema ${version} is newer than this bzman's`);
      return { db };
    } catch (err) {
      db?.close();
      return unreadable(paths.db, err);
    }
  }
  // Something else where the database belongs is reported, never read past as "no history".
  if (kind === "other" || (kind === "json" && paths.legacy !== paths.db)) {
    return unreadable(paths.db, new BackupError("STATE_UNREADABLE", "not an SQLite database"));
  }
  const legacy = paths.legacy === paths.db ? kind : fileKind(paths.legacy);
  if (legacy === "missing" || (legacy === "empty" && paths.legacy === paths.db)) return { db: inMemory() };
  try {
    const data = readLegacyFile(paths.legacy);
    return { db: inMemory((db) => importLegacy(db, data)) };
  } catch (err) {
    return unreadable(paths.legacy, err);
  }
}

/** Typed access to the run history. One instance per process and file. */
export class HistoryStore {
  private readonly writer: RowWriter | undefined;
  private readonly compactor: Compactor | undefined;
  private readonly cache: LatestCache;
  private checkpointer: Checkpointer | undefined;
  private readonly statements = new Map<string, Database.Statement>();
  /** The last compaction error (compaction is best effort: the next append tries again). */
  compactionError: string | undefined;

  private constructor(
    private readonly db: Db,
    readonly path: string,
    private readonly readOnly: boolean,
    private readonly keep: Retention,
    private readonly now: () => number,
  ) {
    this.writer = readOnly ? undefined : new RowWriter(db);
    this.compactor = readOnly ? undefined : new Compactor(db);
    this.cache = new LatestCache(db);
  }

  /**
   * Opens the history configured as `state:` (see {@link historyPaths} for the file names). A
   * writer migrates the previous version's JSON file on first open, once, keeping it as
   * `<json>.migrated`; a file that cannot be opened is renamed to `<file>.corrupt-<time>` and a
   * new history begins. Read-only opens read either format and never change a file.
   */
  static async open(state: string, opts: OpenOptions = {}): Promise<OpenedStore> {
    const paths = historyPaths(state);
    const now = opts.now ?? Date.now;
    const keep = opts.keep ?? DEFAULT_HISTORY;
    if (opts.readOnly) {
      const { db, problem } = openReadOnly(paths);
      return {
        store: HistoryStore.track(new HistoryStore(db, paths.db, true, keep, now)),
        ...(problem ? { problem } : {}),
      };
    }
    mkdirSync(dirname(paths.db), { recursive: true });
    let notice: string | undefined;
    let problem: string | undefined;
    const deadline = Date.now() + MIGRATION_WAIT_MS;
    for (;;) {
      finishInterrupted(paths);
      const dbKind = fileKind(paths.db);
      const legacyKind = paths.legacy === paths.db ? (dbKind === "json" ? "json" : "missing") : fileKind(paths.legacy);
      const needsMigration = dbKind === "json" || (dbKind === "missing" && legacyKind !== "missing");
      if (!needsMigration) break;
      const r = tryMigrate(paths, now());
      if (r.kind === "migrated") notice = r.message;
      if (r.kind === "unreadable") problem = r.message;
      if (r.kind !== "busy") break;
      if (Date.now() > deadline)
        throw new BackupError(
          "STATE_BUSY",
          `another process has been migrating ${paths.legacy} into ${paths.db} for over ${MIGRATION_WAIT_MS / 60_000} minutes`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    const opened = openWritable(paths.db, now());
    problem = [problem, opened.problem].filter(Boolean).join("; ") || undefined;
    const store = HistoryStore.track(new HistoryStore(opened.db, paths.db, false, keep, now));
    if (opts.checkpointThread) {
      opened.db.pragma("wal_autocheckpoint = 0");
      store.checkpointer = new Checkpointer(paths.db);
    }
    return { store, ...(problem ? { problem } : {}), ...(notice ? { notice } : {}) };
  }

  private static track(store: HistoryStore): HistoryStore {
    openStores.add(store);
    if (!exitHooked) {
      exitHooked = true;
      // A command that exits without closing still leaves the file at rest (one file, no -wal).
      process.once("exit", () => {
        for (const s of openStores) s.close();
      });
    }
    return store;
  }

  private statement(sql: string): Database.Statement {
    const cached = this.statements.get(sql);
    if (cached) return cached;
    const st = this.db.prepare(sql);
    this.statements.set(sql, st);
    return st;
  }

  private writable(what: string): RowWriter {
    if (!this.writer) throw new BackupError("INTERNAL", `${what}: the history ${this.path} was opened read-only`);
    return this.writer;
  }

  /**
   * Appends a pass's records (one row per dataset) and a bounded compaction step, in one
   * transaction; the compaction runs in a savepoint, so its failure never loses the rows.
   */
  appendRun(run: RunRecord): Promise<void> {
    try {
      const writer = this.writable("appendRun");
      const rows = rowsOf(run);
      const compact = this.db.transaction(() => this.compactor!.step(this.now(), this.keep, 64 + 4 * rows.length));
      try {
        this.db
          .transaction(() => {
            for (const r of rows) writer.insert(r);
            try {
              compact();
              this.compactionError = undefined;
            } catch (err) {
              this.compactionError = (err as Error).message;
            }
          })
          .immediate();
      } catch (err) {
        writer.forget();
        throw stateError(err, "STATE_WRITE", `cannot record pass ${run.runId} in ${this.path}`);
      } finally {
        this.cache.invalidate();
      }
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Rows of the last `hours` hours, in append order. Proportional to the window: not for a pass. */
  recent(hours: number): HistoryRow[] {
    const cut = this.now() - hours * 3600_000;
    return (this.db.prepare(STORE_SQL.recent).all(cut) as Array<{ row: string; rolled: number }>).map((r) =>
      r.rolled ? { ...(JSON.parse(r.row) as HistoryRow), rolled: true } : (JSON.parse(r.row) as HistoryRow),
    );
  }

  /** The newest row per source and dataset, of any result. */
  latest(): HistoryRow[] {
    return this.cache.entries().flatMap((e) => (e.any ? [e.any] : []));
  }

  /** The newest success with a snapshot per dataset (for freshness), keyed "source:dataset". */
  lastSuccess(): Map<string, HistoryRow> {
    return new Map(
      this.cache.entries().flatMap((e) => (e.good ? [[`${e.source}:${e.dataset}`, e.good.row] as const] : [])),
    );
  }

  /**
   * Rows for the status, oldest first: per dataset its newest success with a snapshot and its
   * newest row that counts (not skipped, not aborted), which is what `buildStatus` reads.
   */
  statusRows(): HistoryRow[] {
    return this.cache.statusRows();
  }

  /**
   * A number that changes whenever {@link statusRows} and {@link latest} would (a pass recorded
   * by this process or by another one on the same file); one `PRAGMA data_version` when nothing did.
   */
  statusGeneration(): number {
    return this.cache.generation();
  }

  /**
   * The report's tallies of the 24 hours before `nowMs`: one indexed query per hour, yielding
   * to the event loop between them.
   */
  async reportTallies(nowMs: number = this.now()): Promise<ReportTally[]> {
    const fromMs = nowMs - 24 * 3600_000;
    const q = this.statement(STORE_SQL.reportHour);
    const out: ReportTally[] = [];
    for (let hour = 0; hour < 24; hour++) {
      const from = fromMs + hour * 3600_000;
      for (const t of q.all(from, hour === 23 ? nowMs : from + 3600_000) as Array<Omit<ReportTally, "hour">>)
        out.push({ ...t, hour });
      await new Promise((r) => setImmediate(r));
    }
    return out;
  }

  /** What was mailed about open conditions, by key, in the order recorded. */
  alerts(): Map<string, AlertRecord> {
    const rows = this.statement(STORE_SQL.alerts).pluck().all() as string[];
    return new Map(rows.map((r) => JSON.parse(r) as AlertRecord).map((a) => [a.key, a]));
  }

  /** Records that an alert was sent (`record`), or that the condition was resolved (`null`). */
  recordAlert(key: string, record: AlertRecord | null): Promise<void> {
    try {
      this.writable("recordAlert");
      try {
        if (record) this.statement(STORE_SQL.putAlert).run(key, JSON.stringify(record));
        else this.statement(STORE_SQL.dropAlert).run(key);
      } catch (err) {
        throw stateError(err, "STATE_WRITE", `cannot record the alert ${key} in ${this.path}`);
      }
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Every daily rollup, oldest day first. The whole retention: for tools and tests, not for a pass. */
  daily(): DailyRollup[] {
    const rows = this.db.prepare(STORE_SQL.daily).all() as Array<Record<string, string | number | null>>;
    return rows.map((r) => ({
      day: r.day as string,
      source: r.source as string,
      dataset: r.dataset as string,
      passes: r.passes as number,
      failures: r.failures as number,
      bytes: r.bytes as number,
      transferMs: r.transfer_ms as number,
      lastResult: r.last_result as string,
      ...(r.last_to ? { lastTo: JSON.parse(r.last_to as string) as DailyRollup["lastTo"] } : {}),
      ...(r.last_success_at ? { lastSuccessAt: r.last_success_at as string } : {}),
      ...(r.last_success_to
        ? { lastSuccessTo: JSON.parse(r.last_success_to as string) as DailyRollup["lastSuccessTo"] }
        : {}),
    }));
  }

  /** Resolves once every write is durable in the file (writes are synchronous: at once). */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Closes the database (idempotent). A writer that is the last one leaves the file at rest. */
  close(): void {
    openStores.delete(this);
    if (!this.db.open) return;
    this.checkpointer?.stop();
    if (this.readOnly) this.db.close();
    else closeWriter(this.db);
  }
}
