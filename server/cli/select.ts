// Which sources and datasets a command works on, from "SOURCE[:DATASET]" arguments.

import type { Config, SourceConfig } from "../config/schema.ts";
import { holdTagFor, isWithin, snapshotNameAt } from "../core/naming.ts";
import type { SourceJob } from "../engine/run-source.ts";
import { limitAt } from "../core/bandwidth.ts";
import { excludePatterns } from "../config/exclude.ts";

/** A source with an optional dataset limit. */
export interface Selection {
  source: SourceConfig;
  /** This receiver's instance (the config's `instance`): its hold tag and bookmark names. */
  instance: string;
  only?: string;
}

/** Resolves "SOURCE[:DATASET]" (or nothing: every source); an error message when it names nothing configured. */
export function selectSources(config: Config, selector?: string): Selection[] | string {
  const instance = config.instance;
  if (!selector) return config.sources.map((source) => ({ source, instance }));
  const i = selector.indexOf(":");
  const name = i < 0 ? selector : selector.slice(0, i);
  const only = i < 0 ? undefined : selector.slice(i + 1);
  const source = config.sources.find((s) => s.name === name);
  if (!source) return `no source named "${name}" in the config (sources: ${config.sources.map((s) => s.name).join(", ")})`;
  if (only === undefined) return [{ source, instance }];
  const covered = source.datasets.some((d) => d.name === only || (d.recursive && isWithin(only, d.name)));
  if (!covered) return `"${only}" is not among the datasets of ${name} (${source.datasets.map((d) => d.name + (d.recursive ? " (recursive)" : "")).join(", ")})`;
  return [{ source, instance, only }];
}

/** What a pass does besides replicating. */
export interface PassOptions {
  /** Take `<prefix>_<time>` snapshots on the source first. */
  snapshot: boolean;
  /** Hold the common snapshot and prune both sides afterwards. */
  prune: boolean;
  /** Now, in milliseconds since the epoch (names the snapshot). */
  nowMs: number;
}

/** Minutes since local midnight (bandwidth windows are in the backup host's local time). */
function localMinuteOfDay(d: Date): number {
  return d.getHours() * 60 + d.getMinutes();
}

/** The engine's job for a selected source. */
export function jobFor(sel: Selection, pass: PassOptions = { snapshot: false, prune: false, nowMs: 0 }): SourceJob {
  const s = sel.source;
  const instance = sel.instance;
  return {
    name: s.name,
    targetRoot: s.target,
    roots: s.datasets.map((d) => ({ ...d, exclude: excludePatterns(d.exclude) })),
    policy: { firstSend: s.firstSend, includePrefixes: s.includePrefixes },
    stallMs: s.stallTimeoutSeconds * 1000,
    retry: { retries: s.retries, minTimeoutMs: 5000 },
    onConflict: s.onConflict,
    ...(s.receive.exclude.length > 0 || s.receive.set.length > 0 ? { receive: s.receive } : {}),
    ...(s.sendRaw ? { raw: true } : {}),
    ...(s.bandwidthLimit ? { rate: () => limitAt(s.bandwidthLimit, localMinuteOfDay(new Date())) } : {}),
    ...(sel.only ? { only: sel.only } : {}),
    ...(pass.snapshot ? { snapshot: { name: snapshotNameAt(s.snapshotPrefix, pass.nowMs), prefix: s.snapshotPrefix, pre: s.preSnapshot, post: s.postSnapshot } } : {}),
    ...(pass.prune && s.bookmarks ? { bookmarks: { prefix: s.snapshotPrefix, instance } } : {}),
    ...(pass.prune ? { retention: { prefix: s.snapshotPrefix, keepSource: s.keepSource, keepBackup: s.keepBackup }, holdTag: holdTagFor(instance) } : {}),
  };
}
