// Failover and failback. `promote` renames a backup dataset to a live one on the backup host
// (writable, mounted); its pulls pause. `failback` freezes the live copy, snapshots it, sends the
// difference back to the source through the restore key, and renames the copy back into the
// backup tree, so the source and the backup share that snapshot and pulls go on from it.
// No step destroys anything: what is in the way is refused or, with force, renamed aside.

import type { DatasetSnapshots, Promotion, Snapshot, Step } from "../core/model.ts";
import { asideName, snapshotNameAt, snapshotPath } from "../core/naming.ts";
import { failbackRefusalAdvice, planFailback } from "../core/restore.ts";
import { BackupError, toBackupError } from "../errors.ts";
import { safeProperties } from "../zfs/args.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { createParents, datasetExists, receiveAllowingUnmounted } from "./restore.ts";
import { transferStep, type TransferProgress } from "./transfer.ts";
import { takeFreshSnapshot } from "./source-snapshots.ts";

/** What to promote. */
export interface PromoteRequest {
  source: string;
  dataset: string;
  target: string;
  live: string;
  mountpoint?: string;
  nowMs: number;
}

async function listOne(
  host: ZfsHost,
  dataset: string,
  signal?: AbortSignal,
): Promise<{ ds: DatasetSnapshots | undefined; children: string[] }> {
  const { listing } = await host.list([dataset], { resumeTokens: host.where === "local", signal });
  return { ds: listing.get(dataset), children: [...listing.keys()].filter((n) => n.startsWith(`${dataset}/`)) };
}

/**
 * Everything promote checks before it changes anything (the backup exists, has a snapshot, no
 * children, no partial receive; the live name is free); throws what promote would. A dry run
 * calls exactly this. Returns the backup dataset and its newest snapshot.
 */
export async function checkPromote(
  local: ZfsHost,
  req: PromoteRequest,
  signal?: AbortSignal,
): Promise<{ ds: DatasetSnapshots; newest: Snapshot }> {
  const { ds, children } = await listOne(local, req.target, signal);
  if (!ds)
    throw new BackupError(
      "ZFS_DATASET_MISSING",
      `local:${req.target} (the backup of ${req.source}:${req.dataset}) does not exist`,
    );
  if (children.length > 0)
    throw new BackupError(
      "ZFS_FAILED",
      `local:${req.target} has child datasets (${children.slice(0, 3).join(", ")}); promote works on one dataset without children`,
    );
  if (ds.resumeToken)
    throw new BackupError(
      "ZFS_RECV_RESUMABLE",
      `local:${req.target} holds a partly received stream; let the next pass finish it first`,
    );
  const newest = ds.snapshots[ds.snapshots.length - 1];
  if (!newest) throw new BackupError("ZFS_DATASET_MISSING", `local:${req.target} has no snapshot to promote`);
  if (await datasetExists(local, req.live, signal))
    throw new BackupError("ZFS_DEST_EXISTS", `local:${req.live} exists; pick another name (--as)`);
  return { ds, newest };
}

/**
 * Promotes a backup dataset: checks it ({@link checkPromote}), renames it to `live`, calls
 * `onPromoted` at once (so its pulls pause even if a later step fails), then makes it writable
 * and mounts it.
 */
export async function promote(
  local: ZfsHost,
  req: PromoteRequest,
  onPromoted: (p: Promotion) => void,
  signal?: AbortSignal,
): Promise<Promotion> {
  const { ds, newest } = await checkPromote(local, req, signal);
  await createParents(local, req.live, signal);
  await local.rename(req.target, req.live, signal);
  const promotion: Promotion = {
    source: req.source,
    dataset: req.dataset,
    target: req.target,
    live: req.live,
    snapshot: { name: newest.name, guid: newest.guid },
    at: new Date(req.nowMs).toISOString(),
  };
  onPromoted(promotion);
  await local.set("readonly", "off", req.live, signal);
  if (ds.type === "filesystem") {
    await local.set("canmount", "on", req.live, signal);
    await local.set("exec", "on", req.live, signal);
    if (req.mountpoint) await local.set("mountpoint", req.mountpoint, req.live, signal);
    else await local.inherit("mountpoint", req.live, signal);
    await local.mount(req.live, true, signal);
  }
  return promotion;
}

/** What to fail back. */
export interface FailbackRequest {
  promotion: Promotion;
  /** A source dataset with snapshots the live copy lacks is renamed aside (kept) and re-seeded. */
  force: boolean;
  snapshotPrefix: string;
  nowMs: number;
}

/** What a failback did. */
export interface FailbackResult {
  mode: "incremental" | "full";
  snapshot: Snapshot;
  bytes: number;
  /** Where the source dataset that was in the way was kept. */
  aside?: string;
  /** Set when the copy could not be renamed back and was copied instead: the redundant live dataset. */
  leftLive?: string;
  /** What is left for root to do on the source (a mount the restore key may not do). */
  notes: string[];
}

/** Copies every snapshot of `live` (oldest full, the rest in one -I) into the new dataset `target`. */
async function copyBack(local: ZfsHost, live: DatasetSnapshots, target: string, signal?: AbortSignal): Promise<void> {
  const snaps = (await listOne(local, live.name, signal)).ds!.snapshots;
  const [first, last] = [snaps[0]!, snaps[snaps.length - 1]!];
  const steps: Step[] = [
    { kind: "full", sourceDataset: live.name, targetDataset: target, to: first, intermediates: false },
  ];
  if (last.guid !== first.guid)
    steps.push({
      kind: "incremental",
      sourceDataset: live.name,
      targetDataset: target,
      from: first,
      to: last,
      intermediates: true,
    });
  for (const step of steps)
    await transferStep(step, { sender: local, receiver: local }, { type: live.type, ...(signal ? { signal } : {}) });
  const got = new Set((await listOne(local, target, signal)).ds?.snapshots.map((s) => s.guid) ?? []);
  const lost = snaps.filter((s) => !got.has(s.guid));
  if (lost.length)
    throw new BackupError(
      "ZFS_FAILED",
      `copying local:${live.name} back to ${target} missed ${lost.map((s) => s.name).join(", ")}`,
    );
}

/** What a failback reports while it runs. */
export interface FailbackHooks {
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
  /** Called as soon as the source's dataset was renamed aside, whatever happens after. */
  onAside?: (aside: string) => void;
}

/**
 * Renames the source's dataset aside for a forced failback. A zfs that cannot rename it (zfs-fuse
 * cannot rename a dataset that was ever mounted) leaves it as it was, with both ways on said.
 */
async function moveSourceAside(
  remote: ZfsHost,
  dataset: string,
  aside: string,
  subject: string,
  rollback: string | undefined,
  signal?: AbortSignal,
): Promise<{ stillMounted: boolean }> {
  try {
    return await remote.renameAside(dataset, aside, signal);
  } catch (err) {
    const e = toBackupError(err);
    const drop = rollback ? `, then drop the writes (on the source: zfs rollback ${rollback})` : "";
    throw new BackupError(
      e.code,
      `${remote.where}:${dataset} could not be renamed aside to ${aside} on the source, so nothing was sent and nothing changed there (${e.message}). ` +
        `Copy out what you need of it${drop}, or rename it out of the way where its zfs can, then bzman failback ${subject} again`,
      { detail: e.detail, cause: err },
    );
  }
}

/**
 * Fails back: freezes the live copy (read-only) and snapshots it, sends it to the source (the
 * restore key), checks the snapshot arrived, and renames the copy back to its backup name with
 * the backup's safe properties. A refusal before anything was sent makes the copy writable again.
 */
export async function failback(
  local: ZfsHost,
  remote: ZfsHost,
  req: FailbackRequest,
  opts: FailbackHooks = {},
): Promise<FailbackResult> {
  const { promotion: p, signal } = { ...req, signal: opts.signal };
  const where = `${remote.where}:${p.dataset}`;
  const subject = `${p.source}:${p.dataset}`;
  let movedAside: string | undefined;
  const first = await listOne(local, p.live, signal);
  if (!first.ds)
    throw new BackupError("ZFS_DATASET_MISSING", `local:${p.live} (the promoted copy of ${where}) does not exist`);
  if (first.children.length > 0)
    throw new BackupError(
      "ZFS_FAILED",
      `local:${p.live} has child datasets (${first.children.slice(0, 3).join(", ")}); move them out first`,
    );
  if (await datasetExists(local, p.target, signal))
    throw new BackupError(
      "ZFS_DEST_EXISTS",
      `local:${p.target} exists again, so the promoted copy cannot return there; rename it aside first`,
    );

  // Nothing written after the failback snapshot may be lost: the copy is read-only from here on.
  await local.set("readonly", "on", p.live, signal);
  let sent = false;
  try {
    const name = await takeFreshSnapshot(
      local,
      p.live,
      false,
      snapshotNameAt(req.snapshotPrefix, req.nowMs),
      () => snapshotNameAt(req.snapshotPrefix, Date.now()),
      signal,
    );
    const live = (await listOne(local, p.live, signal)).ds!;
    const f = live.snapshots.find((s) => s.name === name);
    if (!f) throw new BackupError("ZFS_FAILED", `local:${snapshotPath(p.live, name)} was not created`);

    const src = (await listOne(remote, p.dataset, signal)).ds;
    const written = src ? await remote.writtenSinceSnapshot(p.dataset, signal) : null;
    const plan = planFailback(live, src, req.force, written);
    const aside = asideName(p.dataset, "failback", req.nowMs);
    if (plan.kind === "refuse") {
      throw new BackupError(
        plan.rollback ? "ZFS_DEST_MODIFIED" : "ZFS_DEST_EXISTS",
        `${plan.reason}. ${failbackRefusalAdvice(subject, p.dataset, aside, plan.rollback)}`,
      );
    }
    let asideStillMounted = false;
    const moveAside = async (): Promise<void> => {
      ({ stillMounted: asideStillMounted } = await moveSourceAside(
        remote,
        p.dataset,
        aside,
        subject,
        plan.kind === "incremental"
          ? `${p.dataset}@${plan.from.name}`
          : plan.kind === "full-aside"
            ? plan.rollback
            : undefined,
        signal,
      ));
      movedAside = aside;
      opts.onAside?.(aside);
    };
    if (plan.kind === "full-aside") await moveAside();
    const full: Step = { kind: "full", sourceDataset: p.live, targetDataset: p.dataset, to: f, intermediates: false };
    let step: Step =
      plan.kind === "incremental"
        ? {
            kind: "incremental",
            sourceDataset: p.live,
            targetDataset: p.dataset,
            from: plan.from,
            to: f,
            intermediates: true,
          }
        : full;
    let bytes = 0;
    if (!(plan.kind === "incremental" && plan.from.guid === f.guid)) {
      sent = true;
      let seen = 0; // bytes the progress reports saw: what a receive that could not mount had sent
      const send = (s: Step): Promise<number> =>
        transferStep(
          s,
          { sender: local, receiver: remote },
          {
            type: live.type,
            restore: { mount: true },
            ...(signal ? { signal } : {}),
            onProgress: (pr) => {
              seen = pr.bytes;
              opts.onProgress?.(pr);
            },
          },
        );
      try {
        bytes =
          step.kind === "full"
            ? ((await receiveAllowingUnmounted(() => send(full), remote, p.dataset, f.guid, signal)) ?? seen)
            : await send(step);
      } catch (err) {
        const e = toBackupError(err);
        if (e.code !== "ZFS_DEST_MODIFIED" || plan.kind !== "incremental") throw e;
        // The source was written after the shared snapshot (its zfs could not say so before, or
        // it happened since): keep those writes aside with force, else say both ways on.
        const reason = `${where} was written on the source after @${plan.from.name}; an incremental over it would lose those writes`;
        sent = false; // the receive refused the stream: nothing reached the source
        if (!req.force)
          throw new BackupError(
            "ZFS_DEST_MODIFIED",
            `${reason}. ${failbackRefusalAdvice(subject, p.dataset, aside, `${p.dataset}@${plan.from.name}`)}`,
            { detail: e.detail },
          );
        await moveAside();
        sent = true;
        step = full;
        bytes = (await receiveAllowingUnmounted(() => send(full), remote, p.dataset, f.guid, signal)) ?? seen;
      }
    }
    const after = (await listOne(remote, p.dataset, signal)).ds;
    if (!after?.snapshots.some((s) => s.guid === f.guid))
      throw new BackupError("ZFS_FAILED", `${where}: the send ended well but ${f.name} (GUID ${f.guid}) is not there`);
    // An account with delegation may not mount on Linux: the data is there, root mounts it.
    const notes: string[] = [];
    if (live.type === "filesystem" && step.kind === "full" && (await remote.mounted(p.dataset, signal)) === false) {
      notes.push(
        asideStillMounted
          ? `${p.dataset} is not mounted, and ${aside} is still mounted where it was (the restore key may not unmount or mount there): as root on the source, zfs unmount ${aside}; zfs mount ${p.dataset}; zfs mount ${aside}`
          : `${p.dataset} is not mounted (the restore key may not mount there): as root on the source, zfs mount ${p.dataset}`,
      );
    }

    // The source has it: the copy goes back into the backup tree as a backup again.
    await local.mount(p.live, false, signal);
    await createParents(local, p.target, signal);
    let copiedBack = false;
    try {
      await local.rename(p.live, p.target, signal);
    } catch (err) {
      // Some ZFS ports (zfs-fuse) cannot rename a dataset that was ever mounted: copy it back
      // instead, every snapshot with its GUID, and leave the live copy (now redundant) in place.
      if (toBackupError(err).code !== "ZFS_BUSY") throw err;
      await copyBack(local, live, p.target, signal);
      copiedBack = true;
    }
    for (const [k, v] of safeProperties(live.type)) await local.set(k, v, p.target, signal);
    if (live.type === "filesystem") await local.inherit("mountpoint", p.target, signal);
    return {
      mode: step.kind === "incremental" ? "incremental" : "full",
      snapshot: f,
      bytes,
      notes,
      ...(movedAside ? { aside: movedAside } : {}),
      ...(copiedBack ? { leftLive: p.live } : {}),
    };
  } catch (err) {
    // Refused or failed before the source got anything: the live copy goes on serving, writable.
    if (!sent) await local.set("readonly", "off", p.live).catch(() => undefined);
    if (!movedAside) throw err;
    // Whatever failed after the move, the operator learns where the source's dataset is kept.
    const e = toBackupError(err);
    throw new BackupError(
      e.code,
      `${e.message}; ${p.dataset} on the source had been renamed aside first and is kept there as ${movedAside}`,
      { detail: e.detail, cause: err },
    );
  }
}
