// The previous version's history store (lowdb, one JSON file), kept unchanged as the baseline of
// bench/fleet.ts. Not used by bzman itself.
//
// Run history in lowdb: one row per pass per dataset. Writes are serialized through one queue
// and atomic (lowdb writes a temp file and renames it), so the file survives kill -9. A corrupt
// or invalid file is moved aside with a clear error, never silently emptied. History is bounded:
// rows older than `detailHours` fold into per-day rollups (failures stay in detail), and
// everything older than `days` is dropped. Another bzman process (a `bzman run` beside the daemon)
// may write the same file: every write first re-reads the file when it changed since this
// process last wrote it, so no process overwrites what another recorded.

import { readFile, rename, stat } from "node:fs/promises";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Low } from "lowdb";
import { JSONFile } from "lowdb/node";
import { z } from "zod";
import type { AlertRecord } from "../server/core/alerts.ts";
import type { DatasetRecord, RunRecord } from "../server/core/model.ts";

/** One dataset of one pass, as stored. */
export type HistoryRow = DatasetRecord & {
  runId: string;
  startedAt: string;
  finishedAt: string;
  phases: RunRecord["phases"];
  /** Transfer rate of this dataset in the pass (bytes / transfer time). */
  bytesPerSecond: number;
  /** Set once a failure kept in detail has been counted in its day's rollup. */
  rolled?: boolean;
};

/** One dataset's passes of one UTC day, once their details have aged out. */
export interface DailyRollup {
  day: string;
  source: string;
  dataset: string;
  passes: number;
  failures: number;
  bytes: number;
  transferMs: number;
  lastResult: string;
  lastTo?: { name: string; guid: string };
  /** Start of the day's last successful pass, and the snapshot it left on the backup. */
  lastSuccessAt?: string;
  lastSuccessTo?: { name: string; guid: string };
}

const refSchema = z.object({ name: z.string(), guid: z.string() });
const rowSchema = z.looseObject({
  runId: z.string(),
  source: z.string(),
  dataset: z.string(),
  target: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  mode: z.string(),
  result: z.string(),
  bytes: z.number(),
  transferMs: z.number(),
  steps: z.number(),
  to: refSchema.optional(),
  from: refSchema.optional(),
});
const rollupSchema = z.object({
  day: z.string(),
  source: z.string(),
  dataset: z.string(),
  passes: z.number(),
  failures: z.number(),
  bytes: z.number(),
  transferMs: z.number(),
  lastResult: z.string(),
  lastTo: refSchema.optional(),
  lastSuccessAt: z.string().optional(),
  lastSuccessTo: refSchema.optional(),
});
const fileSchema = z.object({
  schemaVersion: z.literal(1),
  history: z.array(rowSchema),
  daily: z.array(rollupSchema),
  alerts: z.array(z.looseObject({ key: z.string(), since: z.string(), lastSent: z.string() })).optional(),
});

/** The state file's contents. */
export interface StateData {
  schemaVersion: 1;
  history: HistoryRow[];
  daily: DailyRollup[];
  /** What was mailed about conditions still open (so a restart does not mail them again). */
  alerts?: AlertRecord[];
}

/** How much history to keep. */
export interface Retention {
  /** Everything older is dropped. */
  days: number;
  /** Successful rows older than this fold into daily rollups. */
  detailHours: number;
}

/** Defaults: 90 days of history, 48 hours of detail. */
export const DEFAULT_HISTORY: Retention = { days: 90, detailHours: 48 };

/** The outcome of opening the store; `problem` says what was moved aside, if anything. */
export interface OpenedStore {
  store: HistoryStore;
  problem?: string;
}

const FAILED = new Set(["failed", "conflict"]);

/** Folds aged-out rows into rollups and drops what is older than the bound. Pure. */
export function compact(data: StateData, nowMs: number, keep: Retention): void {
  const detailCut = new Date(nowMs - keep.detailHours * 3600_000).toISOString();
  const dropCut = new Date(nowMs - keep.days * 86400_000).toISOString();
  const rollups = new Map(data.daily.map((r) => [`${r.day}|${r.source}|${r.dataset}`, r]));
  const kept: HistoryRow[] = [];
  for (const row of data.history) {
    if (row.startedAt < dropCut) continue;
    if (row.startedAt >= detailCut || FAILED.has(row.result)) kept.push(row);
    if (row.startedAt >= detailCut) continue;
    // Failures stay in detail but still count in their day's rollup (once, when they age out).
    if (row.rolled) continue;
    const day = row.startedAt.slice(0, 10);
    const key = `${day}|${row.source}|${row.dataset}`;
    const r = rollups.get(key) ?? {
      day,
      source: row.source,
      dataset: row.dataset,
      passes: 0,
      failures: 0,
      bytes: 0,
      transferMs: 0,
      lastResult: row.result,
    };
    r.passes++;
    if (FAILED.has(row.result)) {
      r.failures++;
      row.rolled = true;
    }
    r.bytes += row.bytes;
    r.transferMs += row.transferMs;
    r.lastResult = row.result;
    if (row.to) r.lastTo = row.to;
    if ((row.result === "ok" || row.result === "up-to-date") && row.to) {
      r.lastSuccessAt = row.startedAt;
      r.lastSuccessTo = row.to;
    }
    rollups.set(key, r);
  }
  data.history = kept;
  data.daily = [...rollups.values()]
    .filter((r) => r.day >= dropCut.slice(0, 10))
    .sort((a, b) => a.day.localeCompare(b.day));
}

/** Typed access to the run history. One instance per file; all writes go through it. */
export class HistoryStore {
  private queue: Promise<unknown> = Promise.resolve();

  /** size, mtime and inode of the file as this process last read or wrote it. */
  private seen = "";

  private constructor(
    private readonly db: Low<StateData>,
    private readonly keep: Retention,
    private readonly now: () => number,
    private readonly path: string,
  ) {}

  private static async fingerprint(path: string): Promise<string> {
    try {
      const st = await stat(path);
      return `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      return "";
    }
  }

  /** Re-reads the file if another process wrote it since this one last did (a bad file is left to the next open). */
  private async refresh(): Promise<void> {
    const now = await HistoryStore.fingerprint(this.path);
    if (now === this.seen || now === "") return;
    try {
      const raw: unknown = JSON.parse(await readFile(this.path, "utf8"));
      if (fileSchema.safeParse(raw).success) this.db.data = raw as StateData;
    } catch {
      // Unreadable now (a writer mid-rename is impossible: writes are atomic); keep what is in memory.
    }
    this.seen = now;
  }

  /** Writes the file and remembers its fingerprint. */
  private async write(): Promise<void> {
    await this.db.write();
    this.seen = await HistoryStore.fingerprint(this.path);
  }

  /**
   * Opens (or creates) the state file. A file that cannot be parsed or does not match the schema
   * is renamed to `<file>.corrupt-<time>` and a fresh history begins; `problem` says so.
   */
  static async open(path: string, opts: { keep?: Retention; now?: () => number } = {}): Promise<OpenedStore> {
    mkdirSync(dirname(path), { recursive: true });
    const now = opts.now ?? Date.now;
    const fresh = (): StateData => ({ schemaVersion: 1, history: [], daily: [] });
    const db = new Low<StateData>(new JSONFile<StateData>(path), fresh());
    let problem: string | undefined;
    try {
      await db.read();
      const parsed = fileSchema.safeParse(db.data);
      if (!parsed.success)
        throw new Error(
          `not a bzman state file: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
        );
    } catch (err) {
      const aside = `${path}.corrupt-${new Date(now()).toISOString().replace(/[:.]/g, "")}`;
      await rename(path, aside);
      problem = `the state file ${path} was unreadable (${(err as Error).message.split("\n")[0]}); it was moved to ${aside} and a new history begins`;
      db.data = fresh();
    }
    const store = new HistoryStore(db, opts.keep ?? DEFAULT_HISTORY, now, path);
    store.seen = await HistoryStore.fingerprint(path);
    return { store, ...(problem ? { problem } : {}) };
  }

  /** Appends a pass's records (one row per dataset), compacts, and writes atomically. */
  appendRun(run: RunRecord): Promise<void> {
    return this.serialize(async () => {
      await this.refresh();
      for (const d of run.datasets) {
        const bytesPerSecond = d.transferMs > 0 ? Math.round((d.bytes * 1000) / d.transferMs) : 0;
        this.db.data.history.push({
          ...d,
          runId: run.runId,
          startedAt: run.startedAt,
          finishedAt: run.finishedAt,
          phases: run.phases,
          bytesPerSecond,
        });
      }
      compact(this.db.data, this.now(), this.keep);
      await this.write();
    });
  }

  /** Rows of the last `hours` hours, oldest first. */
  recent(hours: number): HistoryRow[] {
    const cut = new Date(this.now() - hours * 3600_000).toISOString();
    return this.db.data.history.filter((r) => r.startedAt >= cut);
  }

  /** The newest row per source and dataset. */
  latest(): HistoryRow[] {
    const m = new Map<string, HistoryRow>();
    for (const r of this.db.data.history) m.set(`${r.source}\u0000${r.dataset}`, r);
    return [...m.values()];
  }

  /** The newest successful row per source and dataset (for freshness). */
  lastSuccess(): Map<string, HistoryRow> {
    const m = new Map<string, HistoryRow>();
    for (const r of this.db.data.history)
      if (r.result === "ok" || r.result === "up-to-date") m.set(`${r.source}:${r.dataset}`, r);
    return m;
  }

  /**
   * Rows for the status: every detail row, preceded by one row per dataset whose last success
   * has aged into the daily rollups (so an old success still counts, at its real time).
   */
  statusRows(): HistoryRow[] {
    const fromRollups = new Map<string, HistoryRow>();
    for (const r of this.db.data.daily) {
      if (!r.lastSuccessAt || !r.lastSuccessTo) continue;
      fromRollups.set(`${r.source}\u0000${r.dataset}`, {
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
      });
    }
    return [...fromRollups.values(), ...this.db.data.history];
  }

  /** What was mailed about open conditions, by key. */
  alerts(): Map<string, AlertRecord> {
    return new Map((this.db.data.alerts ?? []).map((a) => [a.key, a]));
  }

  /** Records that an alert was sent (`record`), or that the condition was resolved (`null`). */
  recordAlert(key: string, record: AlertRecord | null): Promise<void> {
    return this.serialize(async () => {
      await this.refresh();
      const rest = (this.db.data.alerts ?? []).filter((a) => a.key !== key);
      this.db.data.alerts = record ? [...rest, record] : rest;
      await this.write();
    });
  }

  /** Daily rollups. */
  daily(): DailyRollup[] {
    return this.db.data.daily;
  }

  /** Waits for every queued write. */
  flush(): Promise<void> {
    return this.serialize(async () => {});
  }

  private serialize<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f, f);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
