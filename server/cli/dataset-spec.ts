// "SOURCE:DATASET[@SNAPSHOT]" as restore, promote and failback take it: which configured source,
// which of its datasets (listed, or below a recursive root), which snapshot if one is named.

import type { Config, SourceConfig } from "../config/schema.ts";
import { coveringRoot } from "../core/naming.ts";

/** "SOURCE:DATASET[@SNAPSHOT]" → its parts, or a message. */
export function parseSpec(
  config: Config,
  spec: string,
): { source: SourceConfig; dataset: string; snapshot?: string } | string {
  const m = /^([^:@]+):([^@]+)(?:@(.+))?$/.exec(spec);
  if (!m) return `"${spec}" is not SOURCE:DATASET[@SNAPSHOT]`;
  const source = config.sources.find((s) => s.name === m[1]);
  if (!source)
    return `no source named "${m[1]}" in the config (sources: ${config.sources.map((s) => s.name).join(", ")})`;
  const dataset = m[2]!;
  if (!coveringRoot(source.datasets, dataset)) {
    return `"${dataset}" is not among the datasets of ${source.name} (${source.datasets.map((d) => d.name).join(", ")})`;
  }
  return { source, dataset, ...(m[3] ? { snapshot: m[3] } : {}) };
}
