// What the daemon does around each pass besides replicating: counts it for /metrics and pings
// the source's dead man's switch (`ping_url`). Nothing here may block or fail a pass: the calls
// return at once, pings run in the background under their own time limit, and a ping that fails
// is logged and forgotten (the switch notices the silence).

import type { Config, SourceConfig } from "../config/schema.ts";
import { PassCounters } from "../core/counters.ts";
import type { RunRecord } from "../core/model.ts";
import { pingBody, pingKindOf, pingTarget, type PingKind } from "../core/ping.ts";
import { HookClient } from "../http/hooks.ts";
import type { Logger } from "../log.ts";

/** The daemon's per-pass hooks. */
export class PassHooks {
  /** The process-local totals behind the `_total` counters of /metrics. */
  readonly counters: PassCounters;
  private readonly client: HookClient;

  constructor(
    config: Config,
    private readonly log: Logger,
  ) {
    this.counters = new PassCounters(config.sources.map((s) => s.name));
    this.client = new HookClient((line) => this.log.warn(line));
  }

  /** A pass of `source` starts: `<ping_url>/start` when asked for. Returns at once. */
  started(source: SourceConfig): void {
    if (source.ping?.start) this.ping(source, "start");
  }

  /** A pass of `source` ended with `record` (also a skipped tick): counted, then pinged. Returns at once. */
  finished(source: SourceConfig, record: RunRecord): void {
    this.counters.add(record);
    const kind = pingKindOf(record);
    if (source.ping && kind) this.ping(source, kind, record);
  }

  /** Waits at most `ms` for pings still in flight (at shutdown, so the last pass is reported). */
  drain(ms: number): Promise<void> {
    return this.client.drain(ms);
  }

  private ping(source: SourceConfig, kind: PingKind, record?: RunRecord): void {
    const p = source.ping!;
    this.client.fire({
      url: pingTarget(p.url, kind),
      method: p.method,
      timeoutMs: p.timeoutMs,
      what: `ping (${kind}) of ${source.name}`,
      ...(p.method === "POST" && record ? { body: pingBody(record) } : {}),
    });
  }
}
