// A process's copy of the `latest` table (per dataset: newest row, newest row that counts for
// the status, newest success), parsed once. It is refreshed only when the file changed: by this
// connection's own writes, or by another process's commit (`PRAGMA data_version`), and then it
// loads only the entries changed since (seq), or everything after compaction forgot some (epoch).

import type { HistoryRow } from "./legacy-json.ts";
import type { Db } from "./schema.ts";

/** One dataset's newest rows. */
export interface LatestEntry {
  source: string;
  dataset: string;
  any?: HistoryRow;
  last?: { id: number; row: HistoryRow };
  good?: { id: number; row: HistoryRow };
}

interface Stored {
  ds: number;
  seq: number;
  source: string;
  dataset: string;
  any_row: string | null;
  last_id: number | null;
  last_row: string | null;
  good_id: number | null;
  good_row: string | null;
}

/** The statements of the refresh (exported for the query-plan test). */
export const CACHE_SQL = {
  readEpoch: "SELECT value FROM meta WHERE key = 'epoch'",
  changedSince: `SELECT l.ds, l.seq, d.source, d.dataset, l.any_row, l.last_id, l.last_row, l.good_id, l.good_row
    FROM latest l JOIN datasets d ON d.id = l.ds WHERE l.seq > ? ORDER BY l.seq`,
} as const;

/** The `latest` table in memory. */
export class LatestCache {
  private readonly entriesByDs = new Map<number, LatestEntry>();
  private seq = -1;
  private epoch: string | undefined;
  private version: number | undefined;
  private stale = true;
  private rows: HistoryRow[] | undefined;
  private changes = 0;
  private readonly dataVersion;
  private readonly readEpoch;
  private readonly changedSince;

  constructor(db: Db) {
    this.dataVersion = db.prepare("PRAGMA data_version").pluck();
    this.readEpoch = db.prepare(CACHE_SQL.readEpoch).pluck();
    this.changedSince = db.prepare(CACHE_SQL.changedSince);
  }

  /** Marks the cache stale after a write through this connection (data_version does not see those). */
  invalidate(): void {
    this.stale = true;
  }

  private refresh(): void {
    const version = this.dataVersion.get() as number;
    if (!this.stale && version === this.version) return;
    this.version = version;
    this.stale = false;
    const epoch = this.readEpoch.get() as string;
    if (epoch !== this.epoch) {
      this.entriesByDs.clear();
      this.seq = -1;
      this.epoch = epoch;
      this.rows = undefined;
      this.changes++;
    }
    const changed = this.changedSince.all(this.seq) as Stored[];
    if (changed.length === 0) return;
    this.changes++;
    for (const s of changed) {
      const parse = (json: string | null, prev?: { json: string; row: HistoryRow }): HistoryRow | undefined =>
        json === null ? undefined : prev?.json === json ? prev.row : (JSON.parse(json) as HistoryRow);
      const any = parse(s.any_row);
      const anyRef = any && s.any_row ? { json: s.any_row, row: any } : undefined;
      const last = parse(s.last_row, anyRef);
      const good = parse(s.good_row, s.last_row && last ? { json: s.last_row, row: last } : anyRef);
      this.entriesByDs.set(s.ds, {
        source: s.source,
        dataset: s.dataset,
        ...(any ? { any } : {}),
        ...(last ? { last: { id: s.last_id ?? 0, row: last } } : {}),
        ...(good ? { good: { id: s.good_id ?? 0, row: good } } : {}),
      });
      this.seq = Math.max(this.seq, s.seq);
    }
    this.rows = undefined;
  }

  /**
   * A number that changes whenever an entry did (by this process's writes or another's), after
   * the same refresh the reads do: equal numbers mean equal {@link entries} and {@link statusRows}.
   */
  generation(): number {
    this.refresh();
    return this.changes;
  }

  /** Every dataset's entry. */
  entries(): LatestEntry[] {
    this.refresh();
    return [...this.entriesByDs.values()];
  }

  /** Per dataset its newest success and its newest row that counts, oldest first (a fresh array). */
  statusRows(): HistoryRow[] {
    this.refresh();
    if (!this.rows) {
      const pairs: Array<{ id: number; row: HistoryRow }> = [];
      for (const e of this.entriesByDs.values()) {
        if (e.good) pairs.push(e.good);
        if (e.last && !(e.good && e.good.id === e.last.id)) pairs.push(e.last);
      }
      this.rows = pairs.sort((a, b) => a.id - b.id).map((p) => p.row);
    }
    return [...this.rows];
  }
}
