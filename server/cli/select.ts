// Which sources and datasets a command works on, from "SOURCE[:DATASET]" arguments.

import type { Config, SourceConfig } from "../config/schema.ts";
import { coveringRoot } from "../core/naming.ts";

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
  if (!source)
    return `no source named "${name}" in the config (sources: ${config.sources.map((s) => s.name).join(", ")})`;
  if (only === undefined) return [{ source, instance }];
  if (!coveringRoot(source.datasets, only)) {
    return `"${only}" is not among the datasets of ${name} (${source.datasets.map((d) => d.name + (d.recursive ? " (recursive)" : "")).join(", ")})`;
  }
  return [{ source, instance, only }];
}
