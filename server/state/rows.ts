// Writing history rows: a pass's records become rows (one per dataset), each inserted with the
// per-dataset `latest` entry kept current in the same statement batch. Shared by appends and by
// the migration of a JSON state file. Callers own the transaction.

import type { RunRecord } from "../core/model.ts";
import type { HistoryRow } from "./legacy-json.ts";
import type { Db } from "./schema.ts";

/** A pass's records as history rows, one per dataset. */
export function rowsOf(run: RunRecord): HistoryRow[] {
  return run.datasets.map((d) => ({
    ...d,
    runId: run.runId,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    phases: run.phases,
    bytesPerSecond: d.transferMs > 0 ? Math.round((d.bytes * 1000) / d.transferMs) : 0,
  }));
}

/** True iff a row says something about its dataset (a skipped tick or a deliberate stop does not). */
export function countsForStatus(r: HistoryRow): boolean {
  return r.result !== "skipped" && r.error?.code !== "ABORTED";
}

/** True iff a row is a success that left a known snapshot on the backup. */
export function isGood(r: HistoryRow): boolean {
  return countsForStatus(r) && (r.result === "ok" || r.result === "up-to-date") && r.to !== undefined;
}

/** Results that count as failures in rollups and reports. */
export const FAILED_RESULTS = new Set(["failed", "conflict"]);

/** Milliseconds of an ISO time; 0 for a time that does not parse (it then ages out at once). */
export function msOf(iso: string): number {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : 0;
}

/** The statements of writing rows (exported for the query-plan test). */
export const ROW_SQL = {
  insertDataset: "INSERT OR IGNORE INTO datasets (source, dataset) VALUES (?, ?)",
  selectDataset: "SELECT id FROM datasets WHERE source = ? AND dataset = ?",
  insertRun: "INSERT INTO runs (ds, started_ms, result, bytes, transfer_ms, rolled, row) VALUES (?, ?, ?, ?, ?, ?, ?)",
  // Unqualified columns in DO UPDATE are the stored row's; `excluded` is the new one.
  upsertLatest: `
    INSERT INTO latest (ds, seq, oldest_ms, any_ms, any_row, last_id, last_ms, last_row, good_id, good_ms, good_row)
    VALUES (@ds, @seq, @oldest, @anyMs, @anyRow, @lastId, @lastMs, @lastRow, @goodId, @goodMs, @goodRow)
    ON CONFLICT (ds) DO UPDATE SET
      seq = excluded.seq,
      any_ms = coalesce(excluded.any_ms, any_ms), any_row = coalesce(excluded.any_row, any_row),
      last_id = coalesce(excluded.last_id, last_id), last_ms = coalesce(excluded.last_ms, last_ms), last_row = coalesce(excluded.last_row, last_row),
      good_id = coalesce(excluded.good_id, good_id), good_ms = coalesce(excluded.good_ms, good_ms), good_row = coalesce(excluded.good_row, good_row),
      oldest_ms = min(coalesce(excluded.any_ms, any_ms, excluded.oldest_ms), coalesce(excluded.last_ms, last_ms, excluded.oldest_ms), coalesce(excluded.good_ms, good_ms, excluded.oldest_ms))`,
  fillLatest: `
    INSERT INTO latest (ds, seq, oldest_ms, last_id, last_ms, last_row, good_id, good_ms, good_row) VALUES (@ds, @seq, @ms, 0, @ms, @row, 0, @ms, @row)
    ON CONFLICT (ds) DO UPDATE SET
      last_id = coalesce(last_id, 0), last_ms = coalesce(last_ms, excluded.last_ms), last_row = coalesce(last_row, excluded.last_row),
      good_id = coalesce(good_id, 0), good_ms = coalesce(good_ms, excluded.good_ms), good_row = coalesce(good_row, excluded.good_row),
      oldest_ms = min(oldest_ms, excluded.oldest_ms)`,
} as const;

/** Inserts rows and keeps `latest` current. One instance per connection. */
export class RowWriter {
  private readonly ids = new Map<string, number>();
  private readonly insertDataset;
  private readonly selectDataset;
  private readonly insertRun;
  private readonly upsertLatest;
  private readonly fillLatest;

  constructor(db: Db) {
    this.insertDataset = db.prepare(ROW_SQL.insertDataset);
    this.selectDataset = db.prepare(ROW_SQL.selectDataset).pluck();
    this.insertRun = db.prepare(ROW_SQL.insertRun);
    this.upsertLatest = db.prepare(ROW_SQL.upsertLatest);
    this.fillLatest = db.prepare(ROW_SQL.fillLatest);
  }

  /** The id of a dataset, created on first use. */
  datasetId(source: string, dataset: string): number {
    const key = `${source}\u0000${dataset}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      this.insertDataset.run(source, dataset);
      id = this.selectDataset.get(source, dataset) as number;
      this.ids.set(key, id);
    }
    return id;
  }

  /** Forgets cached dataset ids (after a transaction that created some was rolled back). */
  forget(): void {
    this.ids.clear();
  }

  /** Inserts one row (`rolled` as the JSON file had it) and updates its dataset's `latest`; returns the row's id. */
  insert(row: HistoryRow): number {
    const { rolled, ...stored } = row;
    const ds = this.datasetId(row.source, row.dataset);
    const ms = msOf(row.startedAt);
    const json = JSON.stringify(stored);
    const id = Number(
      this.insertRun.run(ds, ms, row.result, row.bytes, row.transferMs, rolled ? 1 : 0, json).lastInsertRowid,
    );
    const last = countsForStatus(row);
    const good = isGood(row);
    this.upsertLatest.run({
      ds,
      seq: id,
      oldest: ms,
      anyMs: ms,
      anyRow: json,
      lastId: last ? id : null,
      lastMs: last ? ms : null,
      lastRow: last ? json : null,
      goodId: good ? id : null,
      goodMs: good ? ms : null,
      goodRow: good ? json : null,
    });
    return id;
  }

  /**
   * Sets a dataset's `last` and `good` where it has none, to a row standing for an old success
   * (id 0: older than any row). Used by the migration, after every row, for successes that only
   * rollups remember; `seq` is the newest row id then.
   */
  fillFromRollup(row: HistoryRow, seq: number): void {
    this.fillLatest.run({
      ds: this.datasetId(row.source, row.dataset),
      seq,
      ms: msOf(row.startedAt),
      row: JSON.stringify(row),
    });
  }
}
