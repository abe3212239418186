// One pass over one source: connect → list both sides once → plan (pure) → transfer each
// dataset → a RunRecord. Gets its hosts injected; never touches SSH, state or email itself.

import { describeConflict, isConflict } from "../core/conflicts.ts";
import type { DatasetRecord, Listing, Phases, RecordedError, ReplicationPolicy, RunRecord, SnapshotRef } from "../core/model.ts";
import { parentOf, poolOf } from "../core/naming.ts";
import { missingParents, planSource, type DatasetPlan, type DatasetRoot, type SourcePlan } from "../core/plan.ts";
import { BackupError, toBackupError } from "../errors.ts";
import type { Capabilities } from "../zfs/capabilities.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { transferStep, type TransferProgress } from "./transfer.ts";

/** What to replicate from one source, and where to. */
export interface SourceJob {
  name: string;
  targetRoot: string;
  roots: DatasetRoot[];
  policy: ReplicationPolicy;
  /** Limit the pass to this source dataset and what lies below it. */
  only?: string;
}

/** What a pass needs from the outside world. */
export interface PassDeps {
  /** Opens the connection to the source (timed as the connect phase). */
  connect: () => Promise<ZfsHost>;
  local: ZfsHost;
  /** The clock; injected so records are testable. */
  now: () => Date;
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
  /** Called as each dataset finishes, for live output. */
  onDataset?: (record: DatasetRecord) => void;
}

/** The result of looking at a source without changing anything. */
export interface Inspection {
  remote: ZfsHost;
  remoteCaps: Capabilities;
  plan: SourcePlan;
  targetListing: Listing;
  phases: Phases;
}

function recordError(err: BackupError, at: Date): RecordedError {
  return { code: err.code, message: err.message, at: at.toISOString(), ...(err.detail ? { detail: err.detail.slice(-4000) } : {}) };
}

const ref = (s: { name: string; guid: string } | undefined): SnapshotRef | undefined => (s ? { name: s.name, guid: s.guid } : undefined);

async function timed<T>(phases: Phases, phase: keyof Phases, f: () => Promise<T>, now: () => Date): Promise<T> {
  const t0 = now().getTime();
  try {
    return await f();
  } finally {
    phases[phase] = (phases[phase] ?? 0) + now().getTime() - t0;
  }
}

/** Connects, lists both sides (one call each) and plans. Changes nothing anywhere. */
export async function inspectSource(job: SourceJob, deps: PassDeps, phases: Phases = {}): Promise<Inspection> {
  const remote = await timed(phases, "connect", deps.connect, deps.now);
  const [remoteCaps, src, dst] = await timed(phases, "list", async () => {
    const caps = await remote.capabilities(deps.signal);
    return [caps, ...(await Promise.all([
      remote.list(job.roots.map((r) => r.name), { signal: deps.signal }),
      deps.local.list([job.targetRoot], { resumeTokens: true, signal: deps.signal }),
    ]))] as const;
  }, deps.now);
  if (dst.missing.includes(job.targetRoot)) {
    const pool = poolOf(job.targetRoot);
    if ((await deps.local.poolHealth(pool, deps.signal)) === null) {
      throw new BackupError("ZFS_POOL_MISSING", `the backup pool "${pool}" (target ${job.targetRoot} of source ${job.name}) does not exist`);
    }
  }
  const plan = await timed(phases, "plan", async () => planSource(job.roots, src.listing, dst.listing, job.targetRoot, job.policy, job.only), deps.now);
  return { remote, remoteCaps, plan, targetListing: dst.listing, phases };
}

/** The record of a dataset the planner did not send: up to date or a conflict. */
function recordDecision(base: DatasetRecord, dp: DatasetPlan, job: SourceJob): DatasetRecord {
  const d = dp.decision;
  if (d.kind === "up-to-date") return { ...base, mode: "up-to-date", result: "up-to-date", to: ref(d.snapshot) };
  if (isConflict(d)) return { ...base, mode: "conflict", result: "conflict", conflict: d.kind, message: describeConflict(d, `${job.name}:${dp.sourceDataset}`, dp.targetDataset) };
  return base;
}

/**
 * Runs one pass over a source and returns its record. Never throws for a failure of the source
 * or of a dataset: those are in the record. Conflicts leave the backup untouched.
 */
export async function runSource(job: SourceJob, deps: PassDeps, runId: string): Promise<RunRecord> {
  const started = deps.now();
  const phases: Phases = {};
  const record: RunRecord = { runId, source: job.name, startedAt: started.toISOString(), finishedAt: "", phases, datasets: [], goneOnSource: [] };
  const finish = (): RunRecord => {
    const end = deps.now();
    record.finishedAt = end.toISOString();
    phases.total = end.getTime() - started.getTime();
    return record;
  };

  let inspection: Inspection;
  try {
    inspection = await inspectSource(job, deps, phases);
  } catch (err) {
    const e = toBackupError(err);
    record.error = recordError(e, deps.now());
    const roots = job.only ? [job.only] : job.roots.map((r) => r.name);
    for (const name of roots) {
      const rec: DatasetRecord = { source: job.name, dataset: name, target: `${job.targetRoot}/${name}`, mode: "error", result: "failed", steps: 0, bytes: 0, transferMs: 0, message: e.message, error: record.error };
      record.datasets.push(rec);
      deps.onDataset?.(rec);
    }
    return finish();
  }

  const { remote, plan, targetListing } = inspection;
  record.goneOnSource = plan.goneOnSource;
  const present = new Set(targetListing.keys());
  let containerError: BackupError | undefined;
  try {
    for (const c of missingParents(plan.datasets, targetListing, job.targetRoot)) {
      await deps.local.createContainer(c, deps.signal);
      present.add(c);
    }
  } catch (err) {
    containerError = toBackupError(err);
    record.error = recordError(containerError, deps.now());
  }

  for (const dp of plan.datasets) {
    const base: DatasetRecord = { source: job.name, dataset: dp.sourceDataset, target: dp.targetDataset, mode: "error", result: "failed", steps: 0, bytes: 0, transferMs: 0 };
    let rec: DatasetRecord;
    if (dp.decision.kind !== "transfer") rec = recordDecision(base, dp, job);
    else {
      const steps = dp.decision.steps;
      const first = steps[0]!;
      const last = steps[steps.length - 1]!;
      rec = { ...base, mode: first.kind, from: ref(first.from), to: ref(last.to), steps: steps.length, ...(first.kind === "full" ? { seed: ref(first.to) } : {}) };
      const t0 = deps.now().getTime();
      try {
        if (deps.signal?.aborted) throw new BackupError("ABORTED", "the pass was stopped before this dataset");
        if (containerError) throw containerError;
        const parent = parentOf(dp.targetDataset);
        if (first.kind === "full" && parent !== null && !present.has(parent)) {
          throw new BackupError("ZFS_DATASET_MISSING", `parent ${parent} was not replicated, so ${dp.targetDataset} cannot be received`);
        }
        for (const step of steps) {
          rec.bytes += await transferStep(step, { remote, local: deps.local }, { type: dp.type, signal: deps.signal, onProgress: deps.onProgress });
          if (step.kind === "full") {
            present.add(dp.targetDataset);
            await deps.local.secureReceived(dp.targetDataset, dp.type, deps.signal);
          }
        }
        rec.result = "ok";
      } catch (err) {
        const e = toBackupError(err);
        rec.result = "failed";
        rec.error = recordError(e, deps.now());
        rec.message = e.message;
      }
      rec.transferMs = deps.now().getTime() - t0;
      phases.transfer = (phases.transfer ?? 0) + rec.transferMs;
    }
    record.datasets.push(rec);
    deps.onDataset?.(rec);
  }
  return finish();
}

/** True iff every dataset of the record is replicated or already up to date. */
export function runSucceeded(record: RunRecord): boolean {
  return record.datasets.length > 0 && record.datasets.every((d) => d.result === "ok" || d.result === "up-to-date");
}
