// The running daemon's live state: transfers in progress (bytes, rate, since when), the newest
// pool checks of the backup host and of each source, and the status model built from them with
// the history and the scheduler's next runs. It only holds and combines; it runs nothing.

import type { Config } from "../config/schema.ts";
import { buildStatus, type LiveTransfer, type PoolStatus, type StatusModel } from "../core/status.ts";
import type { Services } from "./deps.ts";

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

  /** `nextRuns` is the scheduler's next time per source (null: none). */
  constructor(
    private readonly config: Config,
    private readonly services: Services,
    private readonly now: () => Date,
    private readonly nextRuns: () => Map<string, Date | null>,
  ) {}

  /** Keeps the newest check of each pool. */
  setPools(list: PoolStatus[]): void {
    for (const p of list) this.pools.set(`${p.host}\u0000${p.pool}`, p);
  }

  /** A transfer of `source` moved on; its rate counts from the first report. */
  progress(source: string, p: TransferProgress): void {
    const k = `${source}\u0000${p.sourceDataset}`;
    const nowMs = this.now().getTime();
    const t0 = this.started.get(k) ?? (this.started.set(k, nowMs), nowMs);
    const ms = Math.max(1, this.now().getTime() - t0);
    this.live.set(k, {
      source,
      dataset: p.sourceDataset,
      bytes: p.bytes,
      since: new Date(t0).toISOString(),
      bytesPerSecond: Math.round((p.bytes * 1000) / ms),
      ...(p.estimatedBytes !== undefined ? { estimatedBytes: p.estimatedBytes } : {}),
    });
  }

  /** A dataset of `source` is done: it is no longer a live transfer. */
  datasetDone(source: string, dataset: string): void {
    this.live.delete(`${source}\u0000${dataset}`);
  }

  /** Forgets when the transfers of one pass started (a new pass measures its rates afresh). */
  passStarts(source: string): void {
    for (const k of this.started.keys()) if (k.startsWith(`${source}\u0000`)) this.started.delete(k);
  }

  /** The status model of this moment (what GET /status shows). */
  status(): StatusModel {
    const { config, services } = this;
    return buildStatus({
      sources: config.sources,
      rows: services.store.statusRows(),
      promotions: [...services.journal.promotions().values()],
      operations: services.journal.operations(),
      pools: [...this.pools.values()],
      live: [...this.live.values()],
      nextRuns: new Map([...this.nextRuns()].map(([n, d]) => [n, d?.toISOString() ?? null])),
      now: this.now().getTime(),
      capacityLimit: config.capacityLimit,
    });
  }
}
