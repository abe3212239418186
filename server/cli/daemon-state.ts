// The running daemon's live state: transfers in progress (bytes, rate, since when), the newest
// pool checks of the backup host and of each source, and the status model built from them with
// the history and the scheduler's next runs. It only holds and combines; it runs nothing. The
// model is reused while nothing it depends on changed (core/status.ts `StatusKey`): the history
// (also when another process wrote it), the journal, the pools, the transfers, the next runs, the second;
// a rebuild redoes only the datasets whose inputs changed (core/status-memo.ts).

import type { Journal } from "../state/journal.ts";
import {
  buildStatus,
  sameStatusKey,
  statusKeyOf,
  type LiveTransfer,
  type PoolStatus,
  type StatusKey,
  type StatusModel,
  type StatusRow,
  type StatusSource,
} from "../core/status.ts";
import { StatusMemo } from "../core/status-memo.ts";

/** What the state reads of the configuration (a `Config` is one). */
export interface DaemonConfig {
  sources: StatusSource[];
  capacityLimit: number;
}

/** What the state reads of the history and the journal (the daemon's `Services` are one). */
export interface DaemonSources {
  store: { statusRows(): StatusRow[]; statusGeneration(): number };
  journal: Pick<Journal, "view">;
}

/** Progress of one running transfer, as a pass reports it. */
export interface TransferProgress {
  sourceDataset: string;
  bytes: number;
  estimatedBytes?: number;
}

/** See the module header. One per daemon. */
export class DaemonState {
  private readonly live = new Map<string, LiveTransfer>();
  private readonly started = new Map<string, number>();
  private readonly pools = new Map<string, PoolStatus>();
  /** Bumped by every change of the pools and the live transfers. */
  private generation = 0;
  private cached: { key: StatusKey; model: StatusModel } | undefined;
  /** Each dataset's status apart from the clock, kept between builds. */
  private readonly memo = new StatusMemo();

  /** `nextRuns` is the scheduler's next time per source (null: none). */
  constructor(
    private readonly config: DaemonConfig,
    private readonly services: DaemonSources,
    private readonly now: () => Date,
    private readonly nextRuns: () => Map<string, Date | null>,
  ) {}

  /** Keeps the newest check of each pool. */
  setPools(list: PoolStatus[]): void {
    for (const p of list) this.pools.set(`${p.host}\u0000${p.pool}`, p);
    this.generation++;
  }

  /** A transfer of `source` moved on; its rate counts from the first report. */
  progress(source: string, p: TransferProgress): void {
    const k = `${source}\u0000${p.sourceDataset}`;
    const nowMs = this.now().getTime();
    let t0 = this.started.get(k);
    if (t0 === undefined) {
      t0 = nowMs;
      this.started.set(k, t0);
    }
    const ms = Math.max(1, this.now().getTime() - t0);
    this.live.set(k, {
      source,
      dataset: p.sourceDataset,
      bytes: p.bytes,
      since: new Date(t0).toISOString(),
      bytesPerSecond: Math.round((p.bytes * 1000) / ms),
      ...(p.estimatedBytes !== undefined ? { estimatedBytes: p.estimatedBytes } : {}),
    });
    this.generation++;
  }

  /** A dataset of `source` is done: it is no longer a live transfer. */
  datasetDone(source: string, dataset: string): void {
    if (this.live.delete(`${source}\u0000${dataset}`)) this.generation++;
  }

  /** Forgets when the transfers of one pass started (a new pass measures its rates afresh). */
  passStarts(source: string): void {
    for (const k of this.started.keys()) if (k.startsWith(`${source}\u0000`)) this.started.delete(k);
  }

  /**
   * The status model of this moment (what GET /status shows). The same object while nothing it
   * depends on changed within the second (see the module header): callers must not change it.
   */
  status(): StatusModel {
    const { config, services } = this;
    const now = this.now().getTime();
    const journal = services.journal.view();
    const next = this.nextRuns();
    let nextKey = "";
    for (const d of next.values()) nextKey += `${d?.getTime() ?? "-"},`;
    const key = statusKeyOf(
      { history: services.store.statusGeneration(), journal, daemon: this.generation, nextRuns: nextKey },
      now,
    );
    if (this.cached && sameStatusKey(this.cached.key, key)) return this.cached.model;
    const model = buildStatus(
      {
        sources: config.sources,
        rows: services.store.statusRows(),
        promotions: [...journal.promotions.values()],
        operations: journal.operations,
        pools: [...this.pools.values()],
        live: [...this.live.values()],
        nextRuns: new Map([...next].map(([n, d]) => [n, d?.toISOString() ?? null])),
        now,
        capacityLimit: config.capacityLimit,
      },
      this.memo,
    );
    this.cached = { key, model };
    return model;
  }
}
