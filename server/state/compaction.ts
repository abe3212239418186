// Keeping the history bounded, a little at a time: each call folds at most `budget` aged rows
// into their day's rollup and drops at most `budget` rows, rollups and latest entries past
// `history.days`, so its cost never grows with the history. Called after every append with a
// budget above the rows appended, so it keeps pace and catches up after a pause. The rules are
// the previous version's: failures stay in detail (counted once in their rollup), the rest of an
// aged row lives on only in its rollup. The caller owns the transaction.

import type { HistoryRow } from "./legacy-json.ts";
import { FAILED_RESULTS } from "./rows.ts";
import type { Db } from "./schema.ts";

/** How much history to keep. */
export interface Retention {
  /** Everything older is dropped. */
  days: number;
  /** Successful rows older than this fold into daily rollups. */
  detailHours: number;
}

/** Defaults: 90 days of history, 48 hours of detail. */
export const DEFAULT_HISTORY: Retention = { days: 90, detailHours: 48 };

/** What one step did. */
export interface CompactionStep {
  folded: number;
  dropped: number;
}

interface FoldRow {
  id: number;
  ds: number;
  started_ms: number;
  result: string;
  bytes: number;
  transfer_ms: number;
  row: string;
}

interface LatestRow {
  ds: number;
  any_ms: number | null;
  last_ms: number | null;
  good_ms: number | null;
}

/** The statements of compaction (exported for the query-plan test: each must use an index). */
export const COMPACTION_SQL = {
  toFold:
    "SELECT id, ds, started_ms, result, bytes, transfer_ms, row FROM runs WHERE rolled = 0 AND started_ms < ? ORDER BY started_ms, id LIMIT ?",
  upsertDaily: `
    INSERT INTO daily (day, ds, passes, failures, bytes, transfer_ms, last_result, last_to, last_success_at, last_success_to)
    VALUES (@day, @ds, 1, @failures, @bytes, @transferMs, @result, @to, @successAt, @successTo)
    ON CONFLICT (day, ds) DO UPDATE SET
      passes = passes + 1, failures = failures + excluded.failures, bytes = bytes + excluded.bytes,
      transfer_ms = transfer_ms + excluded.transfer_ms, last_result = excluded.last_result,
      last_to = coalesce(excluded.last_to, last_to),
      last_success_at = coalesce(excluded.last_success_at, last_success_at),
      last_success_to = coalesce(excluded.last_success_to, last_success_to)`,
  markRolled: "UPDATE runs SET rolled = 1 WHERE id = ?",
  deleteRun: "DELETE FROM runs WHERE id = ?",
  dropRuns: "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE started_ms < ? ORDER BY started_ms LIMIT ?)",
  dropDaily: "DELETE FROM daily WHERE (day, ds) IN (SELECT day, ds FROM daily WHERE day < ? ORDER BY day LIMIT ?)",
  agedLatest: "SELECT ds, any_ms, last_ms, good_ms FROM latest WHERE oldest_ms < ? ORDER BY oldest_ms LIMIT ?",
  updateLatest: `UPDATE latest SET
    any_ms = CASE WHEN any_ms < @cut THEN NULL ELSE any_ms END, any_row = CASE WHEN any_ms < @cut THEN NULL ELSE any_row END,
    last_id = CASE WHEN last_ms < @cut THEN NULL ELSE last_id END, last_row = CASE WHEN last_ms < @cut THEN NULL ELSE last_row END,
    last_ms = CASE WHEN last_ms < @cut THEN NULL ELSE last_ms END,
    good_id = CASE WHEN good_ms < @cut THEN NULL ELSE good_id END, good_row = CASE WHEN good_ms < @cut THEN NULL ELSE good_row END,
    good_ms = CASE WHEN good_ms < @cut THEN NULL ELSE good_ms END,
    oldest_ms = @oldest WHERE ds = @ds`,
  deleteLatest: "DELETE FROM latest WHERE ds = ?",
  bumpEpoch: "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'epoch'",
} as const;

/** Prepared statements of compaction for one connection. */
export class Compactor {
  private readonly toFold;
  private readonly upsertDaily;
  private readonly markRolled;
  private readonly deleteRun;
  private readonly dropRuns;
  private readonly dropDaily;
  private readonly agedLatest;
  private readonly updateLatest;
  private readonly deleteLatest;
  private readonly bumpEpoch;

  constructor(db: Db) {
    const q = COMPACTION_SQL;
    this.toFold = db.prepare(q.toFold);
    this.upsertDaily = db.prepare(q.upsertDaily);
    this.markRolled = db.prepare(q.markRolled);
    this.deleteRun = db.prepare(q.deleteRun);
    this.dropRuns = db.prepare(q.dropRuns);
    this.dropDaily = db.prepare(q.dropDaily);
    this.agedLatest = db.prepare(q.agedLatest);
    this.updateLatest = db.prepare(q.updateLatest);
    this.deleteLatest = db.prepare(q.deleteLatest);
    this.bumpEpoch = db.prepare(q.bumpEpoch);
  }

  /** One bounded step of compaction at `nowMs`. */
  step(nowMs: number, keep: Retention, budget: number): CompactionStep {
    const detailCut = nowMs - keep.detailHours * 3600_000;
    const dropCut = nowMs - keep.days * 86400_000;
    let folded = 0;
    let dropped = 0;
    for (const r of this.toFold.all(detailCut, budget) as FoldRow[]) {
      folded++;
      // Older than the bound: dropped unfolded, as its rollup would be dropped too.
      if (r.started_ms < dropCut) {
        this.deleteRun.run(r.id);
        continue;
      }
      const row = JSON.parse(r.row) as HistoryRow;
      const failed = FAILED_RESULTS.has(r.result);
      const success = (r.result === "ok" || r.result === "up-to-date") && row.to !== undefined;
      this.upsertDaily.run({
        day: row.startedAt.slice(0, 10),
        ds: r.ds,
        failures: failed ? 1 : 0,
        bytes: r.bytes,
        transferMs: r.transfer_ms,
        result: r.result,
        to: row.to ? JSON.stringify(row.to) : null,
        successAt: success ? row.startedAt : null,
        successTo: success ? JSON.stringify(row.to) : null,
      });
      if (failed) this.markRolled.run(r.id);
      else this.deleteRun.run(r.id);
    }
    dropped += this.dropRuns.run(dropCut, budget).changes;
    dropped += this.dropDaily.run(new Date(dropCut).toISOString().slice(0, 10), budget).changes;
    let forgot = 0;
    for (const l of this.agedLatest.all(dropCut, budget) as LatestRow[]) {
      const kept = [l.any_ms, l.last_ms, l.good_ms].filter((m): m is number => m !== null && m >= dropCut);
      if (kept.length === 0) this.deleteLatest.run(l.ds);
      else this.updateLatest.run({ ds: l.ds, cut: dropCut, oldest: Math.min(...kept) });
      forgot++;
    }
    // Readers reload `latest` whole when the epoch moves (they follow only seq otherwise).
    if (forgot > 0) this.bumpEpoch.run();
    return { folded, dropped: dropped + forgot };
  }
}
