// The replication planner: from both sides' snapshot lists and the policy, decide per dataset
// what to send, or return a typed conflict. Pure: no I/O, no clock. Algorithm: core/README.md.

import type { DatasetSnapshots, DatasetType, Listing, ReplicationPolicy, Snapshot, Step } from "./model.ts";
import type { Decision } from "./conflicts.ts";
import { coveringRoot, isSafeDatasetName, isSafeSnapshotName, isWithin, parentOf, targetFor } from "./naming.ts";
import type { KeepPolicy } from "./retention.ts";
import { selectDataset, type ExcludePattern } from "./selection.ts";

const byTxg = (a: Snapshot, b: Snapshot): number => a.createtxg - b.createtxg;

/** The base of an incremental step; none for a full stream or a resumed one. */
export function stepBase(step: Step): Snapshot | undefined {
  return step.kind === "incremental" ? step.from : undefined;
}

/** The default policy: first replication starts from the oldest snapshot; every snapshot is sent. */
export const DEFAULT_POLICY: ReplicationPolicy = { firstSend: "oldest", includePrefixes: [] };

function included(policy: ReplicationPolicy, s: Snapshot): boolean {
  return policy.includePrefixes.length === 0 || policy.includePrefixes.some((p) => s.name.startsWith(p));
}

/**
 * Steps from `from` (exclusive) to the newest of `wanted`. One `-I` step when every source snapshot
 * in between is wanted; a chain of `-i` steps over the wanted ones when some are filtered out.
 * Precondition: `all` sorted by createtxg, `from` in `all`, `wanted` ⊆ `all` and non-empty after `from`.
 */
function incrementalSteps(all: Snapshot[], wanted: Snapshot[], from: Snapshot, src: string, dst: string): Step[] {
  const later = all.filter((s) => s.createtxg > from.createtxg);
  const targets = wanted.filter((s) => s.createtxg > from.createtxg);
  const newest = targets[targets.length - 1]!;
  const between = later.filter((s) => s.createtxg < newest.createtxg);
  const wantedGuids = new Set(targets.map((s) => s.guid));
  const filtered = between.some((s) => !wantedGuids.has(s.guid));
  const base = { kind: "incremental" as const, sourceDataset: src, targetDataset: dst };
  if (!filtered) return [{ ...base, from, to: newest, intermediates: between.length > 0 }];
  const steps: Step[] = [];
  let prev = from;
  for (const s of targets) {
    steps.push({ ...base, from: prev, to: s, intermediates: false });
    prev = s;
  }
  return steps;
}

/**
 * No snapshot is common, but a bookmark of the source may mark one the target has (its snapshot
 * was destroyed on the source): then the first step is `-i dataset#bookmark` to the first wanted
 * snapshot after it. Without one, the typed no-common-snapshot conflict.
 */
function fromBookmark(
  source: DatasetSnapshots,
  targetSnaps: Snapshot[],
  all: Snapshot[],
  wanted: Snapshot[],
  targetDataset: string,
): Decision {
  const targetByGuid = new Map(targetSnaps.map((s) => [s.guid, s]));
  const mark = [...(source.bookmarks ?? [])]
    .sort(byTxg)
    .reverse()
    .find((b) => targetByGuid.has(b.guid) && isSafeSnapshotName(b.name));
  if (!mark) return { kind: "no-common-snapshot", targetSnapshots: targetSnaps };
  const onTarget = targetByGuid.get(mark.guid)!;
  const sourceGuids = new Set(all.map((s) => s.guid));
  const targetOnly = targetSnaps.filter((s) => s.createtxg > onTarget.createtxg && !sourceGuids.has(s.guid));
  const sourceOnly = all.filter((s) => s.createtxg > mark.createtxg);
  if (targetOnly.length > 0) return { kind: "diverged", common: onTarget, targetOnly, sourceOnly };
  const next = wanted.find((s) => s.createtxg > mark.createtxg);
  if (!next) return { kind: "up-to-date", snapshot: onTarget };
  const src = source.name;
  const first: Step = {
    kind: "incremental",
    sourceDataset: src,
    targetDataset,
    from: mark,
    fromBookmark: true,
    to: next,
    intermediates: false,
  };
  const rest = wanted.some((s) => s.createtxg > next.createtxg)
    ? incrementalSteps(all, wanted, next, src, targetDataset)
    : [];
  return { kind: "transfer", steps: [first, ...rest] };
}

/**
 * Decides what to do for one dataset. `source` undefined: the dataset is gone on the source.
 * `target` undefined: the target dataset does not exist yet. Never proposes anything that would
 * destroy or roll back data on the target: such cases come back as conflicts.
 */
export function planDataset(
  source: DatasetSnapshots | undefined,
  target: DatasetSnapshots | undefined,
  targetDataset: string,
  policy: ReplicationPolicy = DEFAULT_POLICY,
): Decision {
  if (!source) return { kind: "source-missing" };
  if (!isSafeDatasetName(source.name)) return { kind: "unsafe-name", name: source.name };
  if (!isSafeDatasetName(targetDataset)) return { kind: "unsafe-name", name: targetDataset };
  const src = source.name;

  if (target?.resumeToken) {
    return {
      kind: "transfer",
      steps: [
        { kind: "resume", sourceDataset: src, targetDataset, resumeToken: target.resumeToken, intermediates: false },
      ],
    };
  }

  // Snapshots with unsafe names are never endpoints (they never appear in argv); `-I` may carry them.
  const all = [...source.snapshots].sort(byTxg).filter((s) => isSafeSnapshotName(s.name));
  const wanted = all.filter((s) => included(policy, s));
  if (wanted.length === 0) return { kind: "no-source-snapshots" };

  if (!target) {
    const first = policy.firstSend === "newest" ? wanted[wanted.length - 1]! : wanted[0]!;
    const full: Step = { kind: "full", sourceDataset: src, targetDataset, to: first, intermediates: false };
    const rest = wanted.some((s) => s.createtxg > first.createtxg)
      ? incrementalSteps(all, wanted, first, src, targetDataset)
      : [];
    return { kind: "transfer", steps: [full, ...rest] };
  }

  const targetSnaps = [...target.snapshots].sort(byTxg);
  if (targetSnaps.length === 0) return { kind: "target-exists" };

  const targetByGuid = new Map(targetSnaps.map((s) => [s.guid, s]));
  const common = [...all].reverse().find((s) => targetByGuid.has(s.guid));
  if (!common) return fromBookmark(source, targetSnaps, all, wanted, targetDataset);

  const commonOnTarget = targetByGuid.get(common.guid)!;
  const sourceGuids = new Set(source.snapshots.map((s) => s.guid));
  const targetOnly = targetSnaps.filter((s) => s.createtxg > commonOnTarget.createtxg && !sourceGuids.has(s.guid));
  const sourceOnly = all.filter((s) => s.createtxg > common.createtxg);
  if (targetOnly.length > 0) return { kind: "diverged", common, targetOnly, sourceOnly };

  if (!wanted.some((s) => s.createtxg > common.createtxg)) return { kind: "up-to-date", snapshot: common };
  return { kind: "transfer", common, steps: incrementalSteps(all, wanted, common, src, targetDataset) };
}

/** Settings a configured dataset overrides for itself and, when recursive, everything below it. */
export interface DatasetOverrides {
  keepSource?: KeepPolicy;
  keepBackup?: KeepPolicy;
  maxLagSeconds?: number;
  onConflict?: "report" | "rename";
}

/** A configured dataset root of a source. */
export interface DatasetRoot extends DatasetOverrides {
  name: string;
  recursive: boolean;
  /** Datasets below a recursive root left out (with what lies below them). */
  exclude?: ExcludePattern[];
}

/**
 * The roots a pass snapshots. Without `only`, the configured roots. With `only` (a pass limited
 * to one dataset and what lies below it), only that dataset: recursively when the root covering
 * it is recursive, so nothing outside the limit gets a snapshot it will not pull. Empty when
 * `only` lies under no root.
 */
export function snapshotRoots(roots: DatasetRoot[], only?: string): DatasetRoot[] {
  if (only === undefined) return roots;
  const root = coveringRoot(roots, only);
  return root ? [{ name: only, recursive: root.recursive }] : [];
}

/** The decision for one dataset of a source, with where it lands. */
export interface DatasetPlan {
  sourceDataset: string;
  targetDataset: string;
  type: DatasetType;
  decision: Decision;
  /** What the dataset's root overrides of the source's settings (empty: nothing). */
  overrides: DatasetOverrides;
  /** Why the source's `bzman:backup` was overruled (the config names the dataset). */
  note?: string;
}

/** A source dataset left out of the pass; its backup, if any, is kept untouched. */
export interface ExcludedDataset {
  sourceDataset: string;
  targetDataset: string;
  by: "exclude" | "property";
  reason: string;
  /** The backup has this dataset (kept as it is: never pruned, never destroyed). */
  hasBackup: boolean;
}

/** Everything a pass over one source will do, decided from one listing of each side. */
export interface SourcePlan {
  datasets: DatasetPlan[];
  /** Target datasets kept on the backup although their source dataset is gone. */
  goneOnSource: string[];
  /** Source datasets below the roots that the config or the source's property leaves out. */
  excluded: ExcludedDataset[];
}

/**
 * Plans every dataset of a source: each configured root, and for recursive roots every dataset
 * below it, each planned on its own. Parents come before children so a child's parent exists
 * when the child is received. `only` limits the plan to one dataset and what lies below it.
 * Datasets left out by selection (core/selection.ts) are not planned at all, so an unsafe name
 * or a conflict among them is never reported; they are listed in `excluded`.
 */
export function planSource(
  roots: DatasetRoot[],
  sourceListing: Listing,
  targetListing: Listing,
  targetRoot: string,
  policy: ReplicationPolicy = DEFAULT_POLICY,
  only?: string,
): SourcePlan {
  const plans = new Map<string, DatasetPlan>();
  const excluded = new Map<string, ExcludedDataset>();
  const gone = new Set<string>();
  for (const root of roots) {
    const overrides: DatasetOverrides = {
      ...(root.keepSource ? { keepSource: root.keepSource } : {}),
      ...(root.keepBackup ? { keepBackup: root.keepBackup } : {}),
      ...(root.maxLagSeconds !== undefined ? { maxLagSeconds: root.maxLagSeconds } : {}),
      ...(root.onConflict ? { onConflict: root.onConflict } : {}),
    };
    const names = root.recursive
      ? [...sourceListing.keys()].filter((n) => isWithin(n, root.name))
      : sourceListing.has(root.name)
        ? [root.name]
        : [];
    if (names.length === 0) names.push(root.name); // planned as source-missing
    for (const name of names) {
      const target = targetFor(targetRoot, name);
      const src = sourceListing.get(name);
      const sel = selectDataset(name, root, src?.select);
      if (!sel.included) {
        excluded.set(name, {
          sourceDataset: name,
          targetDataset: target,
          by: sel.by,
          reason: sel.reason,
          hasBackup: targetListing.has(target),
        });
        continue;
      }
      plans.set(name, {
        sourceDataset: name,
        targetDataset: target,
        type: src?.type ?? "filesystem",
        decision: planDataset(src, targetListing.get(target), target, policy),
        overrides,
        ...(sel.note ? { note: sel.note } : {}),
      });
    }
    if (root.recursive) {
      const targetBase = targetFor(targetRoot, root.name);
      for (const t of targetListing.keys()) {
        const s = t.slice(targetRoot.length + 1);
        if (isWithin(t, targetBase) && !sourceListing.has(s) && s !== root.name) gone.add(t);
      }
    }
  }
  const depth = (n: string): number => n.split("/").length;
  const datasets = [...plans.values()]
    .filter((p) => only === undefined || isWithin(p.sourceDataset, only))
    .sort((a, b) => depth(a.sourceDataset) - depth(b.sourceDataset) || a.sourceDataset.localeCompare(b.sourceDataset));
  const goneOnSource = [...gone].filter((t) => only === undefined || isWithin(t, targetFor(targetRoot, only))).sort();
  const left = [...excluded.values()]
    .filter((x) => only === undefined || isWithin(x.sourceDataset, only))
    .sort((a, b) => a.sourceDataset.localeCompare(b.sourceDataset));
  return { datasets, goneOnSource, excluded: left };
}

/** The target datasets that must exist before `plan` runs but that no step creates (containers). */
export function missingParents(datasets: DatasetPlan[], targetListing: Listing, targetRoot: string): string[] {
  const received = new Set(datasets.filter((d) => d.decision.kind === "transfer").map((d) => d.targetDataset));
  const needed = new Set<string>();
  for (const d of datasets) {
    if (d.decision.kind !== "transfer" || d.decision.steps[0]?.kind !== "full") continue;
    for (let p = parentOf(d.targetDataset); p !== null && isWithin(p, targetRoot); p = parentOf(p)) {
      if (received.has(p) || targetListing.has(p)) break;
      needed.add(p);
    }
  }
  return [...needed].sort((a, b) => a.split("/").length - b.split("/").length);
}
