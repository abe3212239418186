// `bzman run [SOURCE[:DATASET]]` and `bzman plan [SOURCE] [--json]`: one pass now in the
// foreground, or what it would do. Adapters come in through CliDeps (built by main.ts).

import { dirname, join } from "node:path";
import type { Config, SourceConfig } from "../config/schema.ts";
import { describeConflict, isConflict } from "../core/conflicts.ts";
import type { RunRecord, SnapshotRef } from "../core/model.ts";
import { utcStamp } from "../core/naming.ts";
import { stepBase } from "../core/plan.ts";
import { inspectSource, runSource, runSucceeded, type PassDeps } from "../engine/run-source.ts";
import { toBackupError } from "../errors.ts";
import { TargetLocks } from "../state/locks.ts";
import { HistoryStore } from "../state/store.ts";
import { Journal } from "../state/journal.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { datasetLine, finalSummary, range, sourceSummary } from "./format.ts";
import { createProgress } from "./progress.ts";
import { jobFor } from "./job.ts";
import { selectSources, type Selection } from "./select.ts";

/** An open connection to a source, as the CLI needs it. */
export interface OpenSource {
  host: ZfsHost;
  close(): Promise<void>;
}

/** What the commands need from outside; main.ts builds the real ones. */
export interface CliDeps {
  local: ZfsHost;
  /** Opens a connection to a source: with its replication key, or (`restore`) its restore key. */
  connect(source: SourceConfig, signal?: AbortSignal, opts?: { restore?: boolean }): Promise<OpenSource>;
  now(): Date;
  /** Whether ssh2's native crypto binding is built (absent: unknown). */
  sshNative?: boolean;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  signal: AbortSignal;
}

/** Exit codes of the CLI. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** A run id: UTC time of the pass plus a few random characters. */
export function newRunId(now: Date): string {
  return utcStamp(now.getTime()) + "-" + Math.random().toString(36).slice(2, 6);
}

/** Runs `fn` with a pass's dependencies for one source, closing the connection afterwards. */
async function withSource<T>(sel: Selection, deps: CliDeps, extra: Partial<PassDeps>, fn: (p: PassDeps) => Promise<T>): Promise<T> {
  // A retry within the pass may connect again: every connection opened is closed at the end.
  const opened: OpenSource[] = [];
  const signal = extra.signal ?? deps.signal;
  const pass: PassDeps = {
    connect: async () => {
      const o = await deps.connect(sel.source, signal);
      opened.push(o);
      return o.host;
    },
    local: deps.local, now: deps.now, signal, ...extra,
  };
  try {
    return await fn(pass);
  } finally {
    await Promise.all(opened.map((o) => o.close()));
  }
}

/** The history, the operations journal and the locks of this machine's bzman. */
export interface Services {
  store: HistoryStore;
  journal: Journal;
  locks: TargetLocks;
}

/** The source datasets of `source` whose pulls are paused (promoted), with the reason. */
export function pausedDatasets(journal: Journal, source: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of journal.promotions().values()) {
    if (p.source === source) out.set(p.dataset, `promoted to local:${p.live} at ${p.at}; pulls resume after bzman failback ${source}:${p.dataset}`);
  }
  return out;
}

/**
 * Opens the history (next to it, the locks); a message when that is impossible. `readOnly`
 * (status, report) reads the history in whichever format it is and creates or changes nothing;
 * `daemon` checkpoints the history in a thread of its own.
 */
export async function openServices(config: Config, what: string, warn: (line: string) => void, opts: { readOnly?: boolean; daemon?: boolean } = {}): Promise<Services | string> {
  try {
    const { store, problem, notice } = await HistoryStore.open(config.state, { keep: config.history, ...(opts.readOnly ? { readOnly: true } : {}), ...(opts.daemon ? { checkpointThread: true } : {}) });
    if (notice) warn(notice);
    if (problem) warn(problem);
    return { store, journal: Journal.besideState(config.state), locks: new TargetLocks(join(dirname(config.state), "locks"), what, warn) };
  } catch (err) {
    return `cannot use the state file ${config.state}: ${(err as Error).message}`;
  }
}

/** One whole pass over one source (snapshot, pull, prune as `opts` say), recorded in the history. */
export async function passOnce(sel: Selection, deps: CliDeps, services: Services, opts: { snapshot: boolean; prune: boolean; runId?: string }, extra: Partial<PassDeps> = {}): Promise<RunRecord> {
  const job = { ...jobFor(sel, deps.now, opts), paused: pausedDatasets(services.journal, sel.source.name) };
  const record = await withSource(sel, deps, { lock: (t) => services.locks.acquire(t), pausedNow: () => pausedDatasets(services.journal, sel.source.name), ...extra },
    (pass) => runSource(job, pass, opts.runId ?? newRunId(deps.now())));
  await services.store.appendRun(record);
  return record;
}

/** One pass over the selected sources, one after another. Exit 0 iff every dataset succeeded. */
export async function runCommand(config: Config, selector: string | undefined, deps: CliDeps, opts: { json?: boolean; snapshot?: boolean; prune?: boolean } = {}): Promise<number> {
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
      progress.log(`${s.name}: pulling ${sel.only ?? s.datasets.map((r) => r.name).join(", ")} from ${s.user}@${s.host}:${s.port} into ${s.target}`);
      const record = await passOnce(sel, deps, services, { snapshot: opts.snapshot ?? true, prune: opts.prune ?? true }, {
        onProgress: (p) => progress.update(p.step.targetDataset, `${s.name}:${p.step.sourceDataset} ${p.step.kind} ${range(stepBase(p.step), p.step.to)}`, p.bytes),
        onDataset: (d) => { progress.finish(d.target); progress.log(datasetLine(d)); },
      });
      records.push(record);
      progress.log(sourceSummary(record));
    }
  } finally {
    progress.stop();
  }
  const summary = finalSummary(records, deps.now().getTime() - t0);
  if (json) {
    deps.stderr.write(summary + "\n");
    deps.stdout.write(JSON.stringify({ records }, null, 2) + "\n");
  } else deps.stdout.write(summary + "\n");
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
    excluded: Array<{ dataset: string; target: string; by: "exclude" | "property"; reason: string; backupKept: boolean }>;
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

export async function planCommand(config: Config, selector: string | undefined, json: boolean, deps: CliDeps): Promise<number> {
  const selected = selectSources(config, selector);
  if (typeof selected === "string") {
    deps.stderr.write(`bzman plan: ${selected}\n`);
    return EXIT.USAGE;
  }
  const out: PlanJson = { sources: [] };
  for (const sel of selected) {
    const job = jobFor(sel, deps.now);
    const entry: PlanJson["sources"][number] = { source: job.name, target: job.targetRoot, error: null, goneOnSource: [], excluded: [], datasets: [] };
    out.sources.push(entry);
    await withSource(sel, deps, {}, async (pass) => {
      try {
        const { plan, remote } = await inspectSource(job, pass);
        entry.goneOnSource = plan.goneOnSource;
        entry.excluded = plan.excluded.map((x) => ({ dataset: x.sourceDataset, target: x.targetDataset, by: x.by, reason: x.reason, backupKept: x.hasBackup }));
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
            dataset: dp.sourceDataset, target: dp.targetDataset, type: dp.type,
            mode: d.kind === "transfer" ? steps[0]!.kind : d.kind === "up-to-date" ? "up-to-date" : "conflict",
            from: jsonRef(steps[0] && stepBase(steps[0])),
            to: d.kind === "up-to-date" ? { name: d.snapshot.name, guid: d.snapshot.guid }
              : jsonRef(steps.at(-1)?.to),
            steps: steps.map((s) => ({ kind: s.kind, from: stepBase(s)?.name ?? null, to: s.to?.name ?? null, intermediates: s.intermediates })),
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
  deps.stdout.write(json ? JSON.stringify(out, null, 2) + "\n" : planText(out));
  const ok = out.sources.every((s) => s.error === null && s.datasets.every((d) => d.conflict === null));
  return ok ? EXIT.OK : EXIT.FAILED;
}

function planText(p: PlanJson): string {
  const lines: string[] = [];
  for (const s of p.sources) {
    lines.push(`${s.source} -> ${s.target}`);
    if (s.error) lines.push(`  ERROR [${s.error.code}] ${s.error.message}`);
    for (const d of s.datasets) {
      const what = d.conflict ? `CONFLICT ${d.conflict}: ${d.message}`
        : `${d.mode} ${range(d.from ?? (d.steps[0]?.kind === "full" ? { name: d.steps[0].to! } : undefined), d.to ?? undefined)}${d.steps.length > 1 ? ` (${d.steps.length} steps)` : ""}` +
          (d.estimatedBytes !== null ? `, about ${d.estimatedBytes} bytes` : "");
      lines.push(`  ${d.dataset} -> ${d.target}: ${what}`);
    }
    for (const x of s.excluded) lines.push(`  ${x.dataset} -> ${x.target}: excluded, ${x.reason}${x.backupKept ? "; its backup is kept" : ""}`);
    for (const g of s.goneOnSource) lines.push(`  kept: ${g} (gone on the source)`);
  }
  return lines.join("\n") + "\n";
}
