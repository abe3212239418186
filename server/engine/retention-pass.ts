// After a dataset is replicated: hold its newest common snapshot on both sides (releasing the
// previous hold), and prune bzman's own snapshots on both sides by the retention policies.
// Only this receiver's hold tag (and the legacy one it wrote before instances) is ever released;
// a snapshot another receiver holds is left alone, so several receivers can share one source.

import type { DatasetRecord, Listing, Snapshot } from "../core/model.ts";
import { LEGACY_HOLD_TAG } from "../core/naming.ts";
import { planPrune, type KeepPolicy } from "../core/retention.ts";
import { toBackupError } from "../errors.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { addWarning } from "./warnings.ts";

/** What retention needs to know about a pass. */
export interface RetentionSpec {
  prefix: string;
  keepSource: KeepPolicy;
  keepBackup: KeepPolicy;
}

/** One replicated dataset, as retention sees it. */
export interface ReplicatedDataset {
  record: DatasetRecord;
  /** The newest common snapshot before this pass (absent after a first, full send). */
  previousCommon?: Snapshot;
  /** The dataset's own retention (its configured root's `keep_source` / `keep_backup`), where set. */
  keep?: { keepSource?: KeepPolicy; keepBackup?: KeepPolicy };
}

/**
 * Holds the newest common snapshot (`record.to`) of every replicated dataset with `tag` on both
 * sides and releases the tag from the previous common ones: per side one `zfs hold` and one
 * `zfs release` (in batches), not two commands per dataset. Problems become warnings on the
 * records they concern: a missing hold does not make the backup wrong, but the operator should know.
 */
export async function holdCommonAll(
  list: ReplicatedDataset[],
  tag: string,
  hosts: { remote: ZfsHost; local: ZfsHost },
  signal?: AbortSignal,
): Promise<void> {
  const withTo = list.filter((d) => d.record.to);
  const sides: Array<[ZfsHost, (d: ReplicatedDataset) => string]> = [
    [hosts.remote, (d) => d.record.dataset],
    [hosts.local, (d) => d.record.target],
  ];
  for (const [host, datasetOf] of sides) {
    try {
      if (!(await host.capabilities(signal)).holds) continue;
      const warn = (failures: string[]): void => {
        for (const f of failures) {
          const d = withTo.find((x) => f.startsWith(`${datasetOf(x)}@`));
          if (d) addWarning(d.record, `hold on ${host.where} ${f}`);
        }
      };
      warn(
        await host.holdMany(
          "hold",
          tag,
          withTo.map((d) => [datasetOf(d), d.record.to!.name]),
          signal,
        ),
      );
      const moved = withTo.filter((d) => d.previousCommon && d.previousCommon.guid !== d.record.to!.guid);
      warn(
        await host.holdMany(
          "release",
          tag,
          moved.map((d) => [datasetOf(d), d.previousCommon!.name]),
          signal,
        ),
      );
    } catch (err) {
      for (const d of withTo) addWarning(d.record, `holds on ${host.where}: ${toBackupError(err).message}`);
    }
  }
}

async function pruneSide(
  host: ZfsHost,
  dataset: string,
  snapshots: Snapshot[],
  keep: KeepPolicy,
  spec: RetentionSpec,
  protect: Set<string>,
  now: number,
  tag: string | undefined,
  record: DatasetRecord,
  signal?: AbortSignal,
): Promise<number> {
  const { destroy } = planPrune(snapshots, keep, { prefix: spec.prefix, protect, now });
  if (destroy.length === 0) return 0;
  const caps = await host.capabilities(signal);
  // A hold of ours left on an older snapshot (a pass that died between hold and release, or the
  // legacy tag of this receiver before instances) would make the destroy fail; only those two
  // tags are released, never another receiver's.
  const released = new Set<string>();
  const releaseOurs = async (s: Snapshot): Promise<void> => {
    if (released.has(s.name) || !tag || (s.userrefs ?? 0) === 0 || !caps.holds) return;
    await host.release(tag, dataset, s.name, signal);
    if (tag !== LEGACY_HOLD_TAG) await host.release(LEGACY_HOLD_TAG, dataset, s.name, signal);
    released.add(s.name);
  };
  if (destroy.length > 1 && caps.destroyMany) {
    // One command for all; all or none are destroyed, so after a failure each is tried alone.
    try {
      for (const s of destroy) await releaseOurs(s);
      await host.destroySnapshots(
        dataset,
        destroy.map((s) => s.name),
        spec.prefix,
        signal,
      );
      return destroy.length;
    } catch {
      // One of them held by another receiver, or gone meanwhile: the loop below says which.
    }
  }
  let n = 0;
  for (const s of destroy) {
    try {
      await releaseOurs(s);
      await host.destroySnapshot(dataset, s.name, spec.prefix, signal);
      n++;
    } catch (err) {
      const e = toBackupError(err);
      // Still held: by another receiver of this source (or an operator). Theirs to release.
      if (e.code === "ZFS_BUSY") continue;
      addWarning(record, `prune on ${host.where} ${dataset}@${s.name}: ${e.message}`);
    }
  }
  return n;
}

/**
 * Prunes one replicated dataset on both sides. Precondition: the dataset was replicated (or was
 * up to date) in this pass, so `record.to` is the newest common snapshot, which is protected.
 */
export async function pruneDataset(
  ds: ReplicatedDataset,
  spec: RetentionSpec,
  listings: { source: Listing; target: Listing },
  hosts: { remote: ZfsHost; local: ZfsHost },
  opts: { now: number; tag?: string; signal?: AbortSignal },
): Promise<void> {
  const { record } = ds;
  if (!record.to) return;
  const protect = new Set([record.to.guid]);
  const src = listings.source.get(record.dataset)?.snapshots ?? [];
  const dst = listings.target.get(record.target)?.snapshots ?? [];
  const commonOnSource = src.find((s) => s.guid === record.to!.guid);
  // On the source, nothing newer than the common snapshot is pruned: it is not on the backup yet.
  const protectSource = new Set([
    ...protect,
    ...src.filter((s) => commonOnSource && s.createtxg > commonOnSource.createtxg).map((s) => s.guid),
  ]);
  // Never prune a side whose listing does not show the common snapshot: something is off.
  const source = commonOnSource
    ? await pruneSide(
        hosts.remote,
        record.dataset,
        src,
        ds.keep?.keepSource ?? spec.keepSource,
        spec,
        protectSource,
        opts.now,
        opts.tag,
        record,
        opts.signal,
      )
    : 0;
  const backup = dst.some((s) => s.guid === record.to!.guid)
    ? await pruneSide(
        hosts.local,
        record.target,
        dst,
        ds.keep?.keepBackup ?? spec.keepBackup,
        spec,
        protect,
        opts.now,
        opts.tag,
        record,
        opts.signal,
      )
    : 0;
  record.pruned = { source, backup };
}
