// Wording of run and plan results for the terminal: one line per dataset, one per source, a
// final summary. Formatting only; no I/O.

import prettyBytes from "pretty-bytes";
import prettyMs from "pretty-ms";
import type { DatasetRecord, Phases, RunRecord } from "../core/model.ts";

/** "12.3 MB". */
export function bytes(n: number): string {
  return prettyBytes(n);
}

/** "1.2s", "340ms". */
export function ms(n: number | undefined): string {
  return n === undefined
    ? "-"
    : prettyMs(Math.max(0, Math.round(n)), { secondsDecimalDigits: 1, millisecondsDecimalDigits: 0 });
}

/** "45.1 MB/s" from bytes and milliseconds. */
export function rate(n: number, elapsedMs: number): string {
  return elapsedMs > 0 ? `${prettyBytes((n * 1000) / elapsedMs)}/s` : "-";
}

/** "@a..@c", "@c" or "-". */
export function range(from?: { name: string }, to?: { name: string }): string {
  if (from && to && from.name === to.name) return `@${to.name}`;
  if (from && to) return `@${from.name}..@${to.name}`;
  return to ? `@${to.name}` : "-";
}

/** The line printed when a dataset finishes. */
export function datasetLine(r: DatasetRecord): string {
  const head = `${r.source}:${r.dataset} -> ${r.target}`;
  switch (r.result) {
    case "ok":
      return `OK        ${head}  ${r.mode} ${range(r.from ?? r.seed, r.to)}  ${bytes(r.bytes)} in ${ms(r.transferMs)} (${rate(r.bytes, r.transferMs)})`;
    case "up-to-date":
      return `UP-TO-DATE ${head}  at ${range(undefined, r.to)}`;
    case "conflict":
      return `CONFLICT  ${head}  ${r.conflict}: ${r.message}`;
    case "skipped":
      return `SKIPPED   ${head}  ${r.message}`;
    case "excluded":
      return `EXCLUDED  ${head}  ${r.message}`;
    default:
      return (
        `FAILED    ${head}  ${r.mode === "error" ? "" : `${r.mode} ${range(r.from ?? r.seed, r.to)}  `}[${r.error?.code}] ${r.message}` +
        (r.error?.detail && !r.message?.includes(r.error.detail)
          ? `\n          stderr: ${r.error.detail.split("\n").slice(-3).join("\n                  ")}`
          : "")
      );
  }
}

/** "connect 120ms, list 80ms, plan 1ms, transfer 2.1s, total 2.4s". */
export function phasesLine(p: Phases): string {
  return (["connect", "snapshot", "list", "plan", "transfer", "prune", "total"] as const)
    .filter((k) => (k !== "snapshot" && k !== "prune") || p[k] !== undefined)
    .map((k) => `${k} ${ms(p[k])}`)
    .join(", ");
}

/** Counts of results over records. */
export function tally(
  records: RunRecord[],
): Record<DatasetRecord["result"], number> & { datasets: number; bytes: number } {
  const t = { ok: 0, "up-to-date": 0, conflict: 0, failed: 0, skipped: 0, excluded: 0, datasets: 0, bytes: 0 };
  for (const d of records.flatMap((r) => r.datasets)) {
    t[d.result]++;
    t.datasets++;
    t.bytes += d.bytes;
  }
  return t;
}

/** The block printed after a source's pass. */
export function sourceSummary(r: RunRecord): string {
  const t = tally([r]);
  const lines = [
    `${r.source}: ${phasesLine(r.phases)} — ${t.ok} replicated, ${t["up-to-date"]} up to date, ${t.conflict} conflict(s), ${t.failed} failed${t.skipped ? `, ${t.skipped} skipped` : ""}${t.excluded ? `, ${t.excluded} excluded` : ""}, ${bytes(t.bytes)}`,
  ];
  for (const d of r.datasets) for (const w of d.warnings ?? []) lines.push(`  warning: ${w}`);
  for (const g of r.goneOnSource) lines.push(`  kept: ${g} (its source dataset is gone; the backup is kept)`);
  return lines.join("\n");
}

/** The final summary line over all sources. */
export function finalSummary(records: RunRecord[], elapsedMs: number): string {
  const t = tally(records);
  const verdict =
    t.failed + t.conflict === 0 && t.datasets > 0 ? "all datasets backed up" : "NOT all datasets are backed up";
  return (
    `Summary: ${records.length} source(s), ${t.datasets} dataset(s): ${t.ok} replicated, ${t["up-to-date"]} up to date, ` +
    `${t.conflict} conflict(s), ${t.failed} failed${t.excluded ? `, ${t.excluded} excluded` : ""}; ${bytes(t.bytes)} in ${ms(elapsedMs)} — ${verdict}.`
  );
}
