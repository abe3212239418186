// `bzman run [SOURCE[:DATASET]]` and `bzman plan [SOURCE] [--json]`: one pass now in the
// foreground, or what it would do, and how each is printed. Adapters come in through CliDeps
// (cli/deps.ts, built by main.ts); the recorded pass itself is cli/pass.ts.

import type { Config } from "../config/schema.ts";
import { describeConflict, isConflict } from "../core/conflicts.ts";
import type { RunRecord, SnapshotRef } from "../core/model.ts";
import { stepBase } from "../core/plan.ts";
import { inspectSource, runSucceeded } from "../engine/run-source.ts";
import { toBackupError } from "../errors.ts";
import { EXIT, openServices, type CliDeps } from "./deps.ts";
import { datasetLine, finalSummary, range, sourceSummary } from "./format.ts";
import { passOnce, withSource } from "./pass.ts";
import { createProgress } from "./progress.ts";
import { jobFor } from "./job.ts";
import { selectSources } from "./select.ts";

/** One pass over the selected sources, one after another. Exit 0 iff every dataset succeeded. */
export async function runCommand(
  config: Config,
  selector: string | undefined,
  deps: CliDeps,
  opts: { json?: boolean; snapshot?: boolean; prune?: boolean } = {},
): Promise<number> {
  const json = opts.json ?? false;
  const selected = selectSources(config, selector);
  if (typeof selected === "string") {
    deps.stderr.write(`bzman run: ${selected}\n`);
    return EXIT.USAGE;
  }
  const services = await openServices(config, "bzman run", (l) => deps.stderr.write(`bzman: warning: ${l}\n`));
  if (typeof services === "string") {
    deps.stderr.write(`bzman run: ${services}\n`);
    return EXIT.USAGE;
  }
  const t0 = deps.now().getTime();
  const progress = createProgress(deps.stderr);
  const records: RunRecord[] = [];
  try {
    for (const sel of selected) {
      const s = sel.source;
      progress.log(
        `${s.name}: pulling ${sel.only ?? s.datasets.map((r) => r.name).join(", ")} from ${s.user}@${s.host}:${s.port} into ${s.target}`,
      );
      const record = await passOnce(
        sel,
        deps,
        services,
        { snapshot: opts.snapshot ?? true, prune: opts.prune ?? true },
        {
          onProgress: (p) =>
            progress.update(
              p.step.targetDataset,
              `${s.name}:${p.step.sourceDataset} ${p.step.kind} ${range(stepBase(p.step), p.step.to)}`,
              p.bytes,
            ),
          onDataset: (d) => {
            progress.finish(d.target);
            progress.log(datasetLine(d));
          },
        },
      );
      records.push(record);
      progress.log(sourceSummary(record));
    }
  } finally {
    progress.stop();
  }
  const summary = finalSummary(records, deps.now().getTime() - t0);
  if (json) {
    deps.stderr.write(`${summary}\n`);
    deps.stdout.write(`${JSON.stringify({ records }, null, 2)}\n`);
  } else deps.stdout.write(`${summary}\n`);
  return records.every(runSucceeded) ? EXIT.OK : EXIT.FAILED;
}

/** The JSON shape of `bzman plan --json`, stable for scripts. */
export interface PlanJson {
  sources: Array<{
    source: string;
    target: string;
    error: { code: string; message: string } | null;
    goneOnSource: string[];
    /** Datasets left out (exclude, bzman:backup=off): nothing is sent, their backups are kept. */
    excluded: Array<{
      dataset: string;
      target: string;
      by: "exclude" | "property";
      reason: string;
      backupKept: boolean;
    }>;
    datasets: Array<{
      dataset: string;
      target: string;
      type: string;
      mode: string;
      from: { name: string; guid: string } | null;
      to: { name: string; guid: string } | null;
      steps: Array<{ kind: string; from: string | null; to: string | null; intermediates: boolean }>;
      estimatedBytes: number | null;
      conflict: string | null;
      message: string | null;
    }>;
  }>;
}

/** What a run would do, changing nothing. Exit 0 iff every dataset would succeed. */
const jsonRef = (s: SnapshotRef | undefined): SnapshotRef | null => (s ? { name: s.name, guid: s.guid } : null);

export async function planCommand(
  config: Config,
  selector: string | undefined,
  json: boolean,
  deps: CliDeps,
): Promise<number> {
  const selected = selectSources(config, selector);
  if (typeof selected === "string") {
    deps.stderr.write(`bzman plan: ${selected}\n`);
    return EXIT.USAGE;
  }
  const out: PlanJson = { sources: [] };
  for (const sel of selected) {
    const job = jobFor(sel, deps.now);
    const entry: PlanJson["sources"][number] = {
      source: job.name,
      target: job.targetRoot,
      error: null,
      goneOnSource: [],
      excluded: [],
      datasets: [],
    };
    out.sources.push(entry);
    await withSource(sel, deps, {}, async (pass) => {
      try {
        const { plan, remote } = await inspectSource(job, pass);
        entry.goneOnSource = plan.goneOnSource;
        entry.excluded = plan.excluded.map((x) => ({
          dataset: x.sourceDataset,
          target: x.targetDataset,
          by: x.by,
          reason: x.reason,
          backupKept: x.hasBackup,
        }));
        for (const dp of plan.datasets) {
          const d = dp.decision;
          const steps = d.kind === "transfer" ? d.steps : [];
          let estimatedBytes: number | null = steps.length > 0 ? 0 : null;
          for (const s of steps) {
            const e = await remote.estimateSend(s, deps.signal);
            if (e === null) {
              estimatedBytes = null;
              break;
            }
            estimatedBytes! += e;
          }
          entry.datasets.push({
            dataset: dp.sourceDataset,
            target: dp.targetDataset,
            type: dp.type,
            mode: d.kind === "transfer" ? steps[0]!.kind : d.kind === "up-to-date" ? "up-to-date" : "conflict",
            from: jsonRef(steps[0] && stepBase(steps[0])),
            to: d.kind === "up-to-date" ? { name: d.snapshot.name, guid: d.snapshot.guid } : jsonRef(steps.at(-1)?.to),
            steps: steps.map((s) => ({
              kind: s.kind,
              from: stepBase(s)?.name ?? null,
              to: s.to?.name ?? null,
              intermediates: s.intermediates,
            })),
            estimatedBytes,
            conflict: isConflict(d) ? d.kind : null,
            message: isConflict(d) ? describeConflict(d, `${job.name}:${dp.sourceDataset}`, dp.targetDataset) : null,
          });
        }
      } catch (err) {
        const e = toBackupError(err);
        entry.error = { code: e.code, message: e.message };
      }
    });
  }
  deps.stdout.write(json ? `${JSON.stringify(out, null, 2)}\n` : planText(out));
  const ok = out.sources.every((s) => s.error === null && s.datasets.every((d) => d.conflict === null));
  return ok ? EXIT.OK : EXIT.FAILED;
}

function planText(p: PlanJson): string {
  const lines: string[] = [];
  for (const s of p.sources) {
    lines.push(`${s.source} -> ${s.target}`);
    if (s.error) lines.push(`  ERROR [${s.error.code}] ${s.error.message}`);
    for (const d of s.datasets) {
      const what = d.conflict
        ? `CONFLICT ${d.conflict}: ${d.message}`
        : `${d.mode} ${range(d.from ?? (d.steps[0]?.kind === "full" ? { name: d.steps[0].to! } : undefined), d.to ?? undefined)}${d.steps.length > 1 ? ` (${d.steps.length} steps)` : ""}` +
          (d.estimatedBytes !== null ? `, about ${d.estimatedBytes} bytes` : "");
      lines.push(`  ${d.dataset} -> ${d.target}: ${what}`);
    }
    for (const x of s.excluded)
      lines.push(`  ${x.dataset} -> ${x.target}: excluded, ${x.reason}${x.backupKept ? "; its backup is kept" : ""}`);
    for (const g of s.goneOnSource) lines.push(`  kept: ${g} (gone on the source)`);
  }
  return `${lines.join("\n")}\n`;
}
