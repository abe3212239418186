// One pass over one source: connect → list both sides once → plan (pure) → transfer each
// dataset → a RunRecord. Gets its hosts injected; never touches SSH, state or email itself.

import { bookmarkReplicated } from "./bookmarks.ts";
import { describeConflict, isConflict } from "../core/conflicts.ts";
import type { DatasetRecord, Listing, Phases, ReplicationPolicy, RunRecord, SnapshotRef } from "../core/model.ts";
import { divergedName, isWithin, parentOf, poolOf, targetFor } from "../core/naming.ts";
import {
  missingParents,
  planDataset,
  planSource,
  snapshotRoots,
  stepBase,
  type DatasetPlan,
  type DatasetRoot,
  type SourcePlan,
} from "../core/plan.ts";
import { BackupError, recordedError, toBackupError } from "../errors.ts";
import { commonStreamFlags, type Capabilities } from "../zfs/capabilities.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { holdCommonAll, pruneDataset, type ReplicatedDataset, type RetentionSpec } from "./retention-pass.ts";
import { takeSnapshots, type SnapshotErrors, type SnapshotSpec, type TakenSnapshots } from "./source-snapshots.ts";
import pRetry, { AbortError } from "p-retry";
import { afterFailedResume, continueStep } from "../core/continue.ts";
import { onConflict, withSnapshotOutcome } from "../core/conflict-policy.ts";
import { pauseReason, type Paused } from "../core/pause.ts";
import type { Step } from "../core/model.ts";
import type { ConfiguredReceive } from "../core/receive-properties.ts";
import { passSnapshotsToDrop } from "../core/selection.ts";
import { runPlanned } from "./dispatch.ts";
import type { TransferProgress } from "./transfer.ts";
import { streamStep } from "./stream-step.ts";
import type { DataPath } from "../core/data-path.ts";
import { addWarning } from "./warnings.ts";
import type { ListResult } from "../zfs/zfs-host.ts";
import { rootsAllowSkip, type Marks } from "../core/unchanged.ts";
import {
  backupListing,
  joinListings,
  leftAloneMessage,
  memoFor,
  rememberPass,
  memoKey,
  readMarks,
  settleRoots,
  unsupportedWarning,
  type RootOutcome,
  type SourceMemo,
} from "./unchanged-pass.ts";

/** What to replicate from one source, and where to. */
export interface SourceJob {
  name: string;
  targetRoot: string;
  roots: DatasetRoot[];
  policy: ReplicationPolicy;
  /** Limit the pass to this source dataset and what lies below it. */
  only?: string;
  /** Snapshot the source first (the daemon's passes); absent: replicate what is there. */
  snapshot?: SnapshotSpec;
  /** Retention after replication; absent: nothing is pruned. */
  retention?: RetentionSpec;
  /** Tag of the hold on the newest common snapshot; absent: no holds. */
  holdTag?: string;
  /**
   * Source datasets not to pull (with what lies below them), each with the reason: datasets
   * promoted to live ones, until failback. Their records say "skipped" and why.
   */
  paused?: ReadonlyMap<string, string>;
  /** Stop a transfer that moves no byte for this long (absent: no watchdog). */
  stallMs?: number;
  /**
   * Retries of a step that failed for a transient reason (connection lost, stream cut, stalled),
   * within the pass: reconnect, re-list the target, continue from what it holds (absent: none).
   */
  retry?: { retries: number; minTimeoutMs: number };
  /** A backup that conflicts with its source: report it (default) or keep it aside and re-seed. */
  onConflict?: "report" | "rename";
  /** The bandwidth limit per transfer now, in bytes per second (null: none); absent: no limit. */
  rate?: () => number | null;
  /** Send raw streams (`zfs send -w`): encrypted datasets arrive encrypted. */
  raw?: boolean;
  /**
   * Keep a bookmark of each replicated dataset's newest common snapshot on the source (bzman's
   * own snapshots, names with this prefix; bookmarks named for this receiver's instance), so a
   * pass can continue after that snapshot is gone.
   */
  bookmarks?: { prefix: string; instance: string };
  /** The operator's properties for full receives (`receive_exclude`, `receive_set`); absent: none. */
  receive?: ConfiguredReceive;
  /**
   * Datasets replicated at once (`max_transfers_per_source`), parents before children; absent: 1,
   * one after another. Each also takes a global slot (`PassDeps.transferSlot`) while it transfers.
   */
  parallel?: number;
  /**
   * Leave alone roots with nothing written since the snapshot the backup has, and do not list
   * those whose snapshots did not change either (`skip_unchanged`; needs `PassDeps.memo`).
   */
  skipUnchanged?: boolean;
  /**
   * Which thread carries the streams (`data_path`, core/data-path.ts): a source host with a
   * StreamOffload sends large ones through a worker thread; absent: "auto".
   */
  dataPath?: DataPath;
}

/** Releases a lock. */
export type Unlock = () => Promise<void>;

/** What a pass needs from the outside world. */
export interface PassDeps {
  /** Opens the connection to the source (timed as the connect phase). */
  connect: () => Promise<ZfsHost>;
  local: ZfsHost;
  /** The clock; injected so records are testable. */
  now: () => Date;
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
  /**
   * Called as each dataset finishes, for live output. With holds, bookmarks or retention it is
   * called for every dataset after them, at the end of the pass.
   */
  onDataset?: (record: DatasetRecord) => void;
  /** Called as each dataset's replication ends, whatever comes after it: it is no longer a live transfer. */
  onTransferEnd?: (sourceDataset: string) => void;
  /**
   * Locks a target dataset for receiving. Resolves with the unlock function, or with a message
   * saying who holds the lock; absent: no locking (one-shot tools that cannot overlap).
   */
  lock?: (target: string) => Promise<Unlock | string>;
  /** Called with the source's host at the end of a pass that connected (e.g. to check its pools). */
  afterPass?: (remote: ZfsHost) => Promise<void>;
  /** Waits for one of the global transfer slots; absent: no limit. */
  transferSlot?: (signal?: AbortSignal) => Promise<() => void>;
  /**
   * The paused (promoted) datasets as they are now; absent: `job.paused` throughout. A pass asks
   * again before snapshotting, before each dataset, after taking its lock, and before holds and
   * pruning, so a promote that finished meanwhile is respected.
   */
  pausedNow?: () => Paused | Promise<Paused>;
  /** What earlier passes of this source remembered, for `skip_unchanged` (the daemon's; absent: none). */
  memo?: SourceMemo;
}

/** The paused datasets now (fresh where the pass can ask, else as the job started with). */
async function currentPaused(job: SourceJob, deps: PassDeps): Promise<Paused | undefined> {
  return deps.pausedNow ? await deps.pausedNow() : job.paused;
}

/** The result of looking at a source without changing anything. */
export interface Inspection {
  remote: ZfsHost;
  remoteCaps: Capabilities;
  plan: SourcePlan;
  sourceListing: Listing;
  targetListing: Listing;
  phases: Phases;
  /** Roots whose snapshot for this pass could not be taken. */
  snapshotErrors: SnapshotErrors;
  /** The roots this pass snapshotted, and under which name. */
  snapshotsTaken: TakenSnapshots["taken"];
  /** Why the source's `bzman:backup` values could not be read (then only config selects). */
  selectUnavailable?: string;
  /** With `skip_unchanged`: how each root went through the listing, and the marks it went by. */
  skip?: SkipState;
  /** With `skip_unchanged` on a source that cannot do it: why (said on the pass's first dataset). */
  skipWarning?: string;
}

/** What a pass with `skip_unchanged` knows after listing. */
export interface SkipState {
  memo: SourceMemo;
  marks: Marks;
  outcomes: Map<string, RootOutcome>;
  /** When the source's marks were asked (seconds): its listings were made after. */
  listedAt: number;
}

const ref = (s: { name: string; guid: string } | undefined): SnapshotRef | undefined =>
  s ? { name: s.name, guid: s.guid } : undefined;

async function timed<T>(phases: Phases, phase: keyof Phases, f: () => Promise<T>, now: () => Date): Promise<T> {
  const t0 = now().getTime();
  try {
    return await f();
  } finally {
    phases[phase] = (phases[phase] ?? 0) + now().getTime() - t0;
  }
}

/**
 * Connects, takes the pass's snapshots when the job says so, lists both sides (one call each)
 * and plans. Without `job.snapshot` it changes nothing anywhere. With `job.skipUnchanged` and a
 * memo, only the roots that need it are snapshotted and listed (inspectSkipping).
 */
export async function inspectSource(job: SourceJob, deps: PassDeps, phases: Phases = {}): Promise<Inspection> {
  const remote = await timed(phases, "connect", deps.connect, deps.now);
  const listSource = (roots: string[]): Promise<ListResult> =>
    remote.list(roots, { bookmarks: true, select: true, signal: deps.signal });
  const listTarget = (): Promise<ListResult> =>
    deps.local.list([job.targetRoot], { resumeTokens: true, signal: deps.signal });
  const skipOn = job.skipUnchanged === true && deps.memo !== undefined && rootsAllowSkip(job.roots, job.only);
  const skipping =
    skipOn && deps.memo && ((await currentPaused(job, deps))?.size ?? 0) === 0 // a paused dataset: the usual way
      ? await inspectSkipping(job, deps, phases, remote, memoFor(deps.memo, memoKey(job)), listSource, listTarget)
      : undefined;
  let snapshots: TakenSnapshots = { errors: new Map(), taken: [] };
  let src: ListResult;
  let dst: ListResult;
  let remoteCaps: Capabilities;
  if (skipping && "skip" in skipping) {
    ({ src, dst, snapshots } = skipping);
    remoteCaps = await remote.knownCapabilities();
  } else {
    if (job.snapshot)
      snapshots = await timed(
        phases,
        "snapshot",
        async () =>
          takeSnapshots(
            remote,
            snapshotRoots(job.roots, job.only),
            job.snapshot!,
            deps.signal,
            await currentPaused(job, deps),
          ),
        deps.now,
      );
    const listed = await timed(
      phases,
      "list",
      async () => {
        // Both sides at once: the source's listing waits for its capabilities probe, the
        // backup's need not. Both are waited for, and the source's failure is the one told.
        const [s, d] = await Promise.allSettled([
          listSource(job.roots.map((r) => r.name)),
          skipping?.dst ?? listTarget(),
        ]);
        if (s.status === "rejected") throw s.reason;
        if (d.status === "rejected") throw d.reason;
        return [await remote.capabilities(deps.signal), s.value, d.value] as const;
      },
      deps.now,
    );
    [remoteCaps, src, dst] = listed;
  }
  if (dst.missing.includes(job.targetRoot)) {
    const pool = poolOf(job.targetRoot);
    if ((await deps.local.poolHealth(pool, deps.signal)) === null) {
      throw new BackupError(
        "ZFS_POOL_MISSING",
        `the backup pool "${pool}" (target ${job.targetRoot} of source ${job.name}) does not exist`,
      );
    }
  }
  const plan = await timed(
    phases,
    "plan",
    async () => planSource(job.roots, src.listing, dst.listing, job.targetRoot, job.policy, job.only),
    deps.now,
  );
  return {
    remote,
    remoteCaps,
    plan,
    sourceListing: src.listing,
    targetListing: dst.listing,
    phases,
    snapshotErrors: snapshots.errors,
    snapshotsTaken: snapshots.taken,
    ...(src.selectUnavailable ? { selectUnavailable: src.selectUnavailable } : {}),
    ...(skipping && "skip" in skipping ? { skip: skipping.skip } : {}),
    ...(skipping && "warning" in skipping ? { skipWarning: skipping.warning } : {}),
  };
}

/**
 * The listing phase with `skip_unchanged` (engine/unchanged-pass.ts): the marks and the backup's
 * listing at once, then only the roots that need it listed or snapshotted. Where the source
 * answers no marks, returns the backup's listing and why, for the usual way to go on with.
 */
async function inspectSkipping(
  job: SourceJob,
  deps: PassDeps,
  phases: Phases,
  remote: ZfsHost,
  memo: SourceMemo,
  listSource: (roots: string[]) => Promise<ListResult>,
  listTarget: () => Promise<ListResult>,
): Promise<
  | { skip: SkipState; src: ListResult; dst: ListResult; snapshots: TakenSnapshots }
  | { warning: string; dst: ListResult }
> {
  const names = job.roots.map((r) => r.name);
  const seconds = (): number => deps.now().getTime() / 1000;
  const listedAt = seconds();
  const [m, dst] = await timed(
    phases,
    "list",
    () =>
      Promise.all([
        readMarks(remote, names, memo, deps.signal),
        backupListing(deps.local, job.targetRoot, memo, listTarget, seconds, deps.signal),
      ]),
    deps.now,
  );
  if (!("marks" in m)) return { warning: unsupportedWarning(job.name, m.unsupported), dst };
  const settled = await timed(
    phases,
    "list",
    () =>
      settleRoots(job.roots, m.marks, memo, job.snapshot !== undefined, dst.listing, job.targetRoot, (rs) =>
        listSource(rs.map((r) => r.name)),
      ),
    deps.now,
  );
  let snapshots: TakenSnapshots = { errors: new Map(), taken: [] };
  let fresh: ListResult | undefined;
  if (settled.toSnapshot.length > 0) {
    if (job.snapshot)
      snapshots = await timed(
        phases,
        "snapshot",
        () => takeSnapshots(remote, settled.toSnapshot, job.snapshot!, deps.signal),
        deps.now,
      );
    fresh = await timed(phases, "list", () => listSource(settled.toSnapshot.map((r) => r.name)), deps.now);
  }
  const parts = [settled.checked, fresh].filter((x): x is ListResult => x !== undefined);
  const selectUnavailable = parts.find((p) => p.selectUnavailable)?.selectUnavailable;
  const src: ListResult = {
    listing: joinListings([settled.reused, ...parts.map((p) => p.listing)]),
    missing: parts.flatMap((p) => p.missing),
    ...(selectUnavailable ? { selectUnavailable } : {}),
  };
  return { skip: { memo, marks: m.marks, outcomes: settled.outcomes, listedAt }, src, dst, snapshots };
}

/** A dataset's record before anything was done: failed, nothing sent (steps and results fill it in). */
function failedRecord(source: string, dataset: string, target: string): DatasetRecord {
  return { source, dataset, target, mode: "error", result: "failed", steps: 0, bytes: 0, transferMs: 0 };
}

/** The record of a dataset the planner did not send: up to date or a conflict. */
function recordDecision(base: DatasetRecord, dp: DatasetPlan, job: SourceJob): DatasetRecord {
  const d = dp.decision;
  if (d.kind === "up-to-date") return { ...base, mode: "up-to-date", result: "up-to-date", to: ref(d.snapshot) };
  if (isConflict(d))
    return {
      ...base,
      mode: "conflict",
      result: "conflict",
      conflict: d.kind,
      message: describeConflict(d, `${job.name}:${dp.sourceDataset}`, dp.targetDataset),
    };
  return base;
}

/**
 * Records each dataset selection left out (core/selection.ts): result "excluded", its backup
 * untouched. A `zfs snapshot -r` of the pass cannot leave a child out, so the pass's snapshot is
 * removed again from excluded datasets (bzman's own, taken a moment ago; one destroy each).
 */
async function recordExcluded(
  plan: SourcePlan,
  inspection: Inspection,
  job: SourceJob,
  deps: PassDeps,
  record: RunRecord,
): Promise<void> {
  const drop = passSnapshotsToDrop(plan.excluded, inspection.sourceListing, inspection.snapshotsTaken);
  for (const x of plan.excluded) {
    const rec: DatasetRecord = {
      source: job.name,
      dataset: x.sourceDataset,
      target: x.targetDataset,
      mode: "excluded",
      result: "excluded",
      steps: 0,
      bytes: 0,
      transferMs: 0,
      message: `${x.reason}; ${x.hasBackup ? `its backup ${x.targetDataset} is kept as it is` : "it has no backup"}`,
    };
    for (const { snapshot } of drop.filter((p) => p.dataset === x.sourceDataset)) {
      const prefix = job.snapshot?.prefix ?? snapshot.slice(0, snapshot.lastIndexOf("_"));
      await inspection.remote.destroySnapshot(x.sourceDataset, snapshot, prefix, deps.signal).catch((err: unknown) => {
        addWarning(
          rec,
          `the pass's snapshot ${x.sourceDataset}@${snapshot} could not be removed again: ${toBackupError(err).message}`,
        );
      });
    }
    record.datasets.push(rec);
    deps.onDataset?.(rec);
  }
}

/**
 * Runs one pass over a source and returns its record. Never throws for a failure of the source
 * or of a dataset: those are in the record. Conflicts leave the backup untouched.
 */
export async function runSource(job: SourceJob, deps: PassDeps, runId: string): Promise<RunRecord> {
  const started = deps.now();
  const phases: Phases = {};
  const record: RunRecord = {
    runId,
    source: job.name,
    startedAt: started.toISOString(),
    finishedAt: "",
    phases,
    datasets: [],
    goneOnSource: [],
  };
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
    // A stop request kills whatever runs (a listing dies of SIGPIPE): that is the stop, not a fault.
    const e = deps.signal?.aborted
      ? new BackupError("ABORTED", `the pass was stopped (${toBackupError(err).message})`)
      : toBackupError(err);
    record.error = recordedError(e, deps.now());
    const roots = job.only ? [job.only] : job.roots.map((r) => r.name);
    for (const name of roots) {
      const rec: DatasetRecord = {
        ...failedRecord(job.name, name, targetFor(job.targetRoot, name)),
        message: e.message,
        error: record.error,
      };
      record.datasets.push(rec);
      deps.onDataset?.(rec);
    }
    return finish();
  }

  const { plan, targetListing } = inspection;
  record.goneOnSource = plan.goneOnSource;
  await recordExcluded(plan, inspection, job, deps, record);
  const pausedAtStart = await currentPaused(job, deps);
  const active = plan.datasets.filter((dp) => pauseReason(pausedAtStart, dp.sourceDataset) === undefined);
  const present = new Set(targetListing.keys());
  let containerError: BackupError | undefined;
  try {
    for (const c of missingParents(active, targetListing, job.targetRoot)) {
      await deps.local.createContainer(c, deps.signal);
      present.add(c);
    }
  } catch (err) {
    containerError = toBackupError(err);
    record.error = recordedError(containerError, deps.now());
  }

  const replicated: ReplicatedDataset[] = [];
  const ctx: DatasetContext = {
    job,
    deps,
    remote: inspection.remote,
    sourceListing: inspection.sourceListing,
    present,
    ...(containerError ? { containerError } : {}),
  };
  // Datasets run side by side, parents before children (core/parallel.ts decides what may start);
  // the record lists them in plan order whatever order they end in.
  const done: Array<DatasetRecord | undefined> = plan.datasets.map(() => undefined);
  const kept: Array<ReplicatedDataset | undefined> = plan.datasets.map(() => undefined);
  // Said once per pass, on its first dataset not paused: an older guard keeps the property from being read.
  const noteSelect = inspection.selectUnavailable ? plan.datasets.indexOf(active[0]!) : -1;
  const noteSkip = inspection.skipWarning ? plan.datasets.indexOf(active[0]!) : -1;
  const leftAlone = (dataset: string): RootOutcome | undefined => {
    const o = inspection.skip?.outcomes;
    const root = o ? [...o.keys()].find((r) => isWithin(dataset, r)) : undefined;
    return root !== undefined && o!.get(root)!.leftAlone ? o!.get(root) : undefined;
  };
  const liveDataset = !job.retention && !job.holdTag && !job.bookmarks;
  await timed(
    phases,
    "transfer",
    () =>
      runPlanned(
        plan.datasets.map((dp) => dp.sourceDataset),
        job.parallel ?? 1,
        async (i) => {
          const dp = plan.datasets[i]!;
          const rec = await passDataset(dp, ctx, inspection.snapshotErrors, (r) => {
            kept[i] = r;
          }).finally(() => deps.onTransferEnd?.(dp.sourceDataset));
          if (i === noteSelect) addWarning(rec, inspection.selectUnavailable!);
          if (i === noteSkip) addWarning(rec, inspection.skipWarning!);
          const alone = leftAlone(dp.sourceDataset);
          if (alone && rec.result === "up-to-date" && !rec.message) rec.message = leftAloneMessage(alone.way);
          done[i] = rec;
          if (liveDataset) deps.onDataset?.(rec);
          return rec.result !== "failed";
        },
      ),
    deps.now,
  );
  for (const rec of done) record.datasets.push(rec!);
  // A root left alone is as the pass that sent its newest snapshot left it, held and pruned then.
  for (const r of kept) if (r && !leftAlone(r.record.dataset)) replicated.push(r);

  if (job.holdTag || job.retention || job.bookmarks) {
    // A dataset promoted since it was replicated is live now: never held or pruned on either side.
    const pausedNow = await currentPaused(job, deps);
    for (let i = replicated.length - 1; i >= 0; i--) {
      const r = replicated[i]!;
      const why = pauseReason(pausedNow, r.record.dataset);
      if (why !== undefined) {
        replicated.splice(i, 1);
        addWarning(r.record, `not held or pruned: ${why}`);
      }
    }
    // A pass that left every root alone runs nothing here (not even a capability probe).
    await timed(
      phases,
      "prune",
      async () => {
        if (replicated.length === 0 && inspection.skip) return;
        const hosts = { remote: ctx.remote, local: deps.local };
        if (job.holdTag) await holdCommonAll(replicated, job.holdTag, hosts, deps.signal);
        if (job.bookmarks)
          await bookmarkReplicated(replicated, inspection.sourceListing, job.bookmarks, ctx.remote, deps.signal);
        if (job.retention && replicated.length > 0) {
          let target: Listing | undefined;
          try {
            target = (await deps.local.list([job.targetRoot], { signal: deps.signal })).listing;
          } catch (err) {
            for (const r of replicated)
              addWarning(r.record, `no pruning: cannot list the backup: ${toBackupError(err).message}`);
          }
          if (target) {
            // Datasets are pruned side by side, as many at once as they replicate.
            const listings = { source: inspection.sourceListing, target };
            await runPlanned(
              replicated.map((r) => r.record.dataset),
              job.parallel ?? 1,
              async (i) => {
                await pruneDataset(replicated[i]!, job.retention!, listings, hosts, {
                  now: deps.now().getTime() / 1000,
                  tag: job.holdTag,
                  signal: deps.signal,
                });
                return true;
              },
            );
          }
        }
      },
      deps.now,
    );
    for (const rec of record.datasets) deps.onDataset?.(rec);
  }
  if (inspection.skip) {
    const { memo, marks, outcomes, listedAt } = inspection.skip;
    rememberPass(memo, job.roots, marks, inspection.sourceListing, outcomes, record, listedAt);
  }
  await deps.afterPass?.(ctx.remote).catch(() => undefined);
  return finish();
}

interface DatasetContext {
  job: SourceJob;
  deps: PassDeps;
  /** The source's host; replaced when a retry had to reconnect. */
  remote: ZfsHost;
  /** A reconnect under way, which every dataset whose stream broke with the old host awaits. */
  reconnecting?: Promise<ZfsHost>;
  /** The source's listing of this pass (to re-plan a dataset that is re-seeded). */
  sourceListing: Listing;
  /** Target datasets that exist now (grows as datasets are received). */
  present: Set<string>;
  containerError?: BackupError;
}

/**
 * One planned dataset of the pass: skipped when it is paused now, else replicated; the pass
 * snapshot's outcome and the plan's note applied. `keep` receives what holds and retention
 * need of a dataset that is replicated or up to date. Never throws: a failure is its record.
 */
async function passDataset(
  dp: DatasetPlan,
  ctx: DatasetContext,
  snapshotErrors: SnapshotErrors,
  keep: (r: ReplicatedDataset) => void,
): Promise<DatasetRecord> {
  const { job, deps } = ctx;
  const base = failedRecord(job.name, dp.sourceDataset, dp.targetDataset);
  let rec: DatasetRecord;
  try {
    const why = pauseReason(await currentPaused(job, deps), dp.sourceDataset);
    if (why !== undefined) return { ...base, result: "skipped", message: why };
    rec = await replicateDataset(dp, ctx);
  } catch (err) {
    const e = toBackupError(err);
    return { ...base, error: recordedError(e, deps.now()), message: e.message };
  }
  const snapErr = [...snapshotErrors].find(([root]) => isWithin(dp.sourceDataset, root))?.[1];
  const outcome = withSnapshotOutcome(rec.result, snapErr?.message);
  if (outcome.failedBecause !== undefined) {
    rec.result = outcome.result;
    rec.error = recordedError(snapErr!, deps.now());
    rec.message = outcome.failedBecause;
  } else if (rec.result === "ok" || rec.result === "up-to-date") {
    const d = dp.decision;
    keep({
      record: rec,
      ...(d.kind === "transfer" && d.common ? { previousCommon: d.common } : {}),
      keep: {
        ...(dp.overrides.keepSource ? { keepSource: dp.overrides.keepSource } : {}),
        ...(dp.overrides.keepBackup ? { keepBackup: dp.overrides.keepBackup } : {}),
      },
    });
  }
  if (dp.note) addWarning(rec, dp.note);
  return rec;
}

/** Replicates one planned dataset (under its lock) and returns its record. */
async function replicateDataset(dp: DatasetPlan, ctx: DatasetContext): Promise<DatasetRecord> {
  const { job, deps, present } = ctx;
  const base = failedRecord(job.name, dp.sourceDataset, dp.targetDataset);
  // on_conflict (core/conflict-policy.ts): as planned, or keep the backup aside and re-seed it.
  const action = onConflict(dp.decision, dp.overrides.onConflict ?? job.onConflict, {
    source: ctx.sourceListing.get(dp.sourceDataset),
    targetDataset: dp.targetDataset,
    replication: job.policy,
    targetHasChildren: [...present].some((n) => n.startsWith(`${dp.targetDataset}/`)),
  });
  const decision = action.decision;
  if (decision.kind !== "transfer") {
    const r = recordDecision(base, dp, job);
    if (action.kind === "as-planned" && action.note) r.message = `${r.message ?? ""} ${action.note}`.trim();
    return r;
  }
  const steps = decision.steps;
  const first = steps[0]!;
  const last = steps[steps.length - 1]!;
  const rec: DatasetRecord = {
    ...base,
    mode: first.kind,
    from: ref(stepBase(first)),
    to: ref(last.to),
    steps: steps.length,
    ...(first.kind === "full" ? { seed: ref(first.to) } : {}),
    ...(first.kind === "resume" ? { resumeToken: first.resumeToken } : {}),
  };
  if (first.kind === "incremental" && first.fromBookmark) {
    addWarning(
      rec,
      `the newest common snapshot is gone on the source; continued from its bookmark ${dp.sourceDataset}#${first.from.name}`,
    );
  }
  const t0 = deps.now().getTime();
  let unlock: Unlock | undefined;
  let sent = false;
  try {
    if (deps.signal?.aborted) throw new BackupError("ABORTED", "the pass was stopped before this dataset");
    if (ctx.containerError) throw ctx.containerError;
    const parent = parentOf(dp.targetDataset);
    if (first.kind === "full" && parent !== null && !present.has(parent)) {
      throw new BackupError(
        "ZFS_DATASET_MISSING",
        `parent ${parent} was not replicated, so ${dp.targetDataset} cannot be received`,
      );
    }
    if (deps.lock) {
      const got = await deps.lock(dp.targetDataset);
      if (typeof got === "string") {
        rec.result = "skipped";
        rec.message = got;
        return rec;
      }
      unlock = got;
      // A promote of this dataset may have finished while the pass waited for the lock.
      const why = pauseReason(await currentPaused(job, deps), dp.sourceDataset);
      if (why !== undefined) {
        rec.result = "skipped";
        rec.message = why;
        return rec;
      }
    }
    if (deps.transferSlot) {
      const release = await deps.transferSlot(deps.signal);
      const prev = unlock;
      unlock = async () => {
        release();
        await prev?.();
      };
    }
    if (action.kind === "rename-and-reseed") {
      const aside = divergedName(dp.targetDataset, deps.now().getTime());
      await deps.local.rename(dp.targetDataset, aside, deps.signal);
      present.delete(dp.targetDataset);
      rec.keptAside = aside;
      addWarning(
        rec,
        `the backup ${dp.targetDataset} conflicted with the source (${dp.decision.kind}); it is kept as ${aside} and was re-seeded in full`,
      );
    }
    const run = async (list: Step[]): Promise<void> => {
      for (const step of list) {
        rec.bytes += await transferWithRetries(step, dp, rec, ctx);
        if (step.kind === "full") {
          present.add(dp.targetDataset);
          await deps.local.secureReceived(dp.targetDataset, dp.type, deps.signal);
        }
      }
    };
    sent = true;
    try {
      await run(steps);
    } catch (err) {
      // A partial receive that can never resume (core/continue.ts decides): discard it
      // (`zfs receive -A`) and plan the dataset again from what the target really holds.
      const failure =
        first.kind === "resume" ? afterFailedResume(toBackupError(err).code) : { discard: false as const };
      if (!failure.discard) throw err;
      await deps.local.abortPartialReceive(dp.targetDataset, deps.signal);
      addWarning(
        rec,
        `the partial receive of ${dp.targetDataset} could not resume: ${failure.why} (${toBackupError(err).message}); it was discarded (zfs receive -A) and the dataset planned again`,
      );
      const target = (
        await deps.local.list([dp.targetDataset], { resumeTokens: true, signal: deps.signal })
      ).listing.get(dp.targetDataset);
      const again = planDataset(ctx.sourceListing.get(dp.sourceDataset), target, dp.targetDataset, job.policy);
      if (again.kind === "transfer") {
        Object.assign(rec, {
          mode: again.steps[0]!.kind,
          from: ref(stepBase(again.steps[0]!)),
          to: ref(again.steps.at(-1)!.to),
          steps: again.steps.length,
        });
        await run(again.steps);
      } else if (again.kind === "up-to-date") rec.to = ref(again.snapshot);
      else
        throw new BackupError(
          "ZFS_RESUME_STALE",
          `after discarding the partial receive: ${describeConflict(again, `${job.name}:${dp.sourceDataset}`, dp.targetDataset)}`,
        );
    }
    rec.result = "ok";
  } catch (err) {
    const e = toBackupError(err);
    rec.result = "failed";
    rec.error = recordedError(e, deps.now());
    rec.message = e.message;
    // Where the backup keeps an interrupted stream (`receive -s`), the next pass resumes it.
    const resumable = sent && (await deps.local.knownCapabilities()).resume;
    const left = resumable
      ? (await deps.local.list([dp.targetDataset], { resumeTokens: true }).catch(() => undefined))?.listing.get(
          dp.targetDataset,
        )?.resumeToken
      : undefined;
    if (left) {
      rec.resumeToken = left;
      rec.message += " The partial stream is kept; the next pass resumes it (zfs send -t).";
    } else delete rec.resumeToken;
  } finally {
    await unlock?.();
    rec.transferMs = deps.now().getTime() - t0;
  }
  return rec;
}

/**
 * The source's host for a retry after a stream over `failed` broke: a new connection, opened
 * once however many datasets running side by side lost the old one; a connection that already
 * replaced `failed` is used as it is.
 */
async function reconnect(ctx: DatasetContext, failed: ZfsHost): Promise<ZfsHost> {
  if (ctx.remote !== failed) return ctx.remote;
  ctx.reconnecting ??= ctx.deps
    .connect()
    .then((r) => {
      ctx.remote = r;
      return r;
    })
    .finally(() => {
      delete ctx.reconnecting;
    });
  return ctx.reconnecting;
}

/** Errors worth another attempt within the pass: transient, and not a deliberate stop. */
function retryable(err: unknown): boolean {
  const e = toBackupError(err);
  return e.transient && e.code !== "ABORTED";
}

/**
 * Runs one step, retrying transient failures with exponential backoff (p-retry). Before each
 * retry it reconnects (the failure may have been the connection) and re-lists the target, and
 * continues from what the target holds: done, the same step, a later base, or a resume token.
 */
async function transferWithRetries(
  step: Step,
  dp: DatasetPlan,
  rec: DatasetRecord,
  ctx: DatasetContext,
): Promise<number> {
  const { job, deps } = ctx;
  let last: BackupError | undefined;
  let used = ctx.remote;
  return pRetry(
    async (attempt) => {
      let current = step;
      if (attempt > 1) {
        if (deps.signal?.aborted)
          throw new AbortError(new BackupError("ABORTED", "the pass was stopped before a retry"));
        await reconnect(ctx, used);
        const target = (
          await deps.local.list([dp.targetDataset], { resumeTokens: true, signal: deps.signal })
        ).listing.get(dp.targetDataset);
        const next = continueStep(step, target);
        if (next.kind === "done") return 0;
        if (next.kind === "stuck")
          throw new AbortError(
            new BackupError(last!.code, `${last!.message} (not retried: ${next.reason})`, { detail: last!.detail }),
          );
        current = next.step;
      }
      // This attempt's host: a reconnect by a dataset beside this one does not change it midway.
      const remote = ctx.remote;
      used = remote;
      // `-L -e -c` where both ends have them: blocks travel as stored (compressed stays compressed).
      const send = {
        raw: job.raw ?? false,
        flags: job.raw
          ? []
          : commonStreamFlags(await remote.capabilities(deps.signal), await deps.local.capabilities(deps.signal)),
      };
      // An estimate (for progress and ETA, and for which thread the stream takes) costs one
      // `send -nP`, only where the source has it.
      const estimate =
        deps.onProgress || (remote.offload && (job.dataPath ?? "auto") === "auto")
          ? await remote.estimateSend(current, deps.signal, send).catch(() => null)
          : null;
      return streamStep(current, remote, deps.local, rec, {
        send,
        type: dp.type,
        dataPath: job.dataPath ?? "auto",
        ...(deps.signal ? { signal: deps.signal } : {}),
        ...(deps.onProgress ? { onProgress: deps.onProgress } : {}),
        ...(estimate !== null ? { estimatedBytes: estimate } : {}),
        ...(job.stallMs !== undefined ? { stallMs: job.stallMs } : {}),
        ...(job.rate ? { rate: job.rate } : {}),
        ...(job.receive ? { receiveProps: job.receive } : {}),
      });
    },
    {
      // No `signal` here: p-retry would reject at once on abort, before the running transfer has
      // stopped both ends; the transfer itself reacts to the signal and is awaited.
      retries: job.retry?.retries ?? 0,
      minTimeout: job.retry?.minTimeoutMs ?? 5000,
      maxTimeout: 15_000,
      factor: 2,
      randomize: true,
      shouldRetry: (err) => retryable(err) && !deps.signal?.aborted,
      onFailedAttempt: (err) => {
        last = toBackupError(err);
        if (err.retriesLeft > 0 && retryable(err) && !deps.signal?.aborted)
          addWarning(rec, `attempt ${err.attemptNumber} failed (${last.code}: ${last.message}); retried`);
      },
    },
  );
}

/** True iff every dataset of the record is replicated, already up to date, or left out on purpose. */
export function runSucceeded(record: RunRecord): boolean {
  return (
    record.datasets.length > 0 &&
    record.datasets.every((d) => d.result === "ok" || d.result === "up-to-date" || d.result === "excluded")
  );
}
