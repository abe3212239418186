// The daemon's running totals for the Prometheus counters: bytes moved, passes by result and
// failures by code, per source, folded from the pass records as they are written. Pure and
// process-local: the totals start at zero with each daemon (Prometheus' rate() and increase()
// treat the drop as a counter reset).

import type { Code } from "./codes.ts";
import type { RunRecord } from "./model.ts";

/** How a whole pass over one source ended, as counted in `bzman_passes_total{result}`. */
export type PassResult = "ok" | "failed" | "conflict" | "aborted" | "skipped";

/** Every {@link PassResult}, in the order the counters list them. */
export const PASS_RESULTS: readonly PassResult[] = ["ok", "failed", "conflict", "aborted", "skipped"];

/**
 * The result of a pass: "failed" if a dataset failed (other than by being stopped on purpose),
 * else "conflict" if one hit a conflict, else "aborted" if one was stopped (SIGTERM), else
 * "skipped" if nothing ran (an overlapping tick, or every dataset paused), else "ok".
 */
export function passResult(record: RunRecord): PassResult {
  const ds = record.datasets;
  if (ds.some((d) => d.result === "failed" && d.error?.code !== "ABORTED")) return "failed";
  if (ds.some((d) => d.result === "conflict")) return "conflict";
  if (ds.some((d) => d.result === "failed")) return "aborted";
  if (ds.every((d) => d.result === "skipped")) return "skipped";
  return "ok";
}

/**
 * The failure code of each dataset that failed or hit a conflict in a pass: its error code, or
 * for a conflict its kind ("diverged", "no-common-snapshot", "source-missing"), the same codes
 * alerts carry. A dataset stopped on purpose (ABORTED) is no failure.
 */
export function failureCodes(record: RunRecord): Code[] {
  const out: Code[] = [];
  for (const d of record.datasets) {
    if (d.result === "failed" && d.error?.code !== "ABORTED") out.push(d.error?.code ?? "INTERNAL");
    else if (d.result === "conflict") out.push(d.conflict ?? "conflict");
  }
  return out;
}

/** One counter sample: its labels and its value. */
export interface CounterSample {
  labels: Record<string, string>;
  value: number;
}

const k = (a: string, b: string): string => `${a}\u0000${b}`;

/** Running totals of the passes one process has recorded. */
export class PassCounters {
  private readonly bytes = new Map<string, number>();
  private readonly passes = new Map<string, number>();
  private readonly failures = new Map<string, number>();

  /**
   * `sources` start at zero for every pass result, so their series exist from the first scrape
   * and the first failure shows in increase() (a series that appears at 1 would not).
   */
  constructor(sources: Iterable<string> = []) {
    for (const s of sources) {
      this.bytes.set(s, 0);
      for (const r of PASS_RESULTS) this.passes.set(k(s, r), 0);
    }
  }

  /** Counts one pass record (once per record: the caller adds each record it writes). */
  add(record: RunRecord): void {
    const s = record.source;
    this.bytes.set(s, (this.bytes.get(s) ?? 0) + record.datasets.reduce((n, d) => n + d.bytes, 0));
    const pk = k(s, passResult(record));
    this.passes.set(pk, (this.passes.get(pk) ?? 0) + 1);
    for (const code of failureCodes(record)) {
      const fk = k(s, code);
      this.failures.set(fk, (this.failures.get(fk) ?? 0) + 1);
    }
  }

  /** `bzman_transferred_bytes_total` samples, by source. */
  bytesSamples(): CounterSample[] {
    return [...this.bytes].map(([source, value]) => ({ labels: { source }, value }));
  }

  /** `bzman_passes_total` samples, by source and result. */
  passSamples(): CounterSample[] {
    return [...this.passes].map(([key, value]) => {
      const [source, result] = key.split("\u0000") as [string, string];
      return { labels: { source, result }, value };
    });
  }

  /** `bzman_failures_total` samples, by source and code. */
  failureSamples(): CounterSample[] {
    return [...this.failures].map(([key, value]) => {
      const [source, code] = key.split("\u0000") as [string, string];
      return { labels: { source, code }, value };
    });
  }
}
