// What the daemon does around each pass besides replicating: counts it for /metrics. Nothing
// here may block or fail a pass; the calls return at once.

import type { Config, SourceConfig } from "../config/schema.ts";
import { PassCounters } from "../core/counters.ts";
import type { RunRecord } from "../core/model.ts";
import type { Logger } from "../log.ts";

/** The daemon's per-pass hooks. */
export class PassHooks {
  /** The process-local totals behind the `_total` counters of /metrics. */
  readonly counters: PassCounters;

  constructor(config: Config, private readonly log: Logger) {
    this.counters = new PassCounters(config.sources.map((s) => s.name));
  }

  /** A pass of `source` starts. */
  started(_source: SourceConfig): void {}

  /** A pass of `source` ended with `record` (also for a skipped tick); returns at once. */
  finished(_source: SourceConfig, record: RunRecord): void {
    this.counters.add(record);
  }

  /** Waits at most `ms` for what the hooks still have in flight. */
  async drain(_ms: number): Promise<void> {}
}
