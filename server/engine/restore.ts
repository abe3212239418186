// Getting data back: a backup snapshot sent from the backup pool to a source (or another host)
// under a new name, or cloned writable on the backup host for file-level recovery, and those
// clones removed again. A dataset in the way is never overwritten: it is refused, or with force
// renamed aside and kept.

import type { DatasetType, Snapshot, Step } from "../core/model.ts";
import { RESTORE_CONTAINER, asideName, parentOf, poolOf, snapshotPath } from "../core/naming.ts";
import { BackupError, toBackupError } from "../errors.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { transferStep, type TransferProgress } from "./transfer.ts";

/** The user property marking a dataset as a clone bzman made (value: the snapshot it came from). */
export const RESTORE_PROPERTY = "bzman:restore-of";

/** A restore of one backup snapshot onto a host. */
export interface RestoreRequest {
  /** The dataset on the backup pool and the snapshot to send. */
  backupDataset: string;
  snapshot: Snapshot;
  type: DatasetType;
  /** The dataset to create on the receiving host. */
  destination: string;
  /** A dataset already at `destination` is renamed aside (kept) instead of refusing. */
  force: boolean;
  /** Mount the restored dataset (a restore to a new name stays unmounted). */
  mount: boolean;
  /** Send raw (`-w`), as the backup of an encrypted dataset must be. */
  raw?: boolean;
  nowMs: number;
}

/** What a restore did. */
export interface RestoreResult {
  bytes: number;
  /** Where a dataset that was in the way was kept. */
  aside?: string;
  /** The kept dataset is still mounted where it was (renamed with -u: the key may not unmount). */
  asideStillMounted?: boolean;
  /** A mount was asked for and did not happen (the key may not mount there). */
  notMounted?: boolean;
}

/** Whether `dataset` exists on `host` (through the listing its guard allows). */
export async function datasetExists(host: ZfsHost, dataset: string, signal?: AbortSignal): Promise<boolean> {
  const r = await host.list([dataset], { signal });
  return r.listing.has(dataset);
}

/**
 * Sends `req.snapshot` of the backup dataset (a full stream) from `from` into `req.destination`
 * on `to`, and checks that the snapshot arrived with its GUID.
 */
export async function restoreSnapshot(
  req: RestoreRequest,
  hosts: { from: ZfsHost; to: ZfsHost },
  opts: { signal?: AbortSignal; onProgress?: (p: TransferProgress) => void; onAside?: (aside: string) => void } = {},
): Promise<RestoreResult> {
  const where = `${hosts.to.where}:${req.destination}`;
  let aside: string | undefined;
  let stillMounted = false;
  if (await datasetExists(hosts.to, req.destination, opts.signal)) {
    if (!req.force) {
      throw new BackupError(
        "ZFS_DEST_EXISTS",
        `${where} exists; bzman never overwrites a dataset. Pick another name (--as), or --force to keep it as ${asideName(req.destination, "restore", req.nowMs)} and restore in its place`,
      );
    }
    aside = asideName(req.destination, "restore", req.nowMs);
    ({ stillMounted } = await hosts.to.renameAside(req.destination, aside, opts.signal));
    opts.onAside?.(aside);
  }
  try {
    const bytes = await receiveRestore(req, hosts, opts);
    // An account with delegation may not mount on Linux: the receive leaves it unmounted.
    const unmounted =
      req.mount && req.type === "filesystem" && (await hosts.to.mounted(req.destination, opts.signal)) === false;
    return {
      bytes,
      ...(unmounted ? { notMounted: true } : {}),
      ...(aside ? { aside, asideStillMounted: stillMounted } : {}),
    };
  } catch (err) {
    if (!aside) throw err;
    // Whatever failed after the move, the operator learns where the dataset that was there is.
    const e = toBackupError(err);
    throw new BackupError(
      e.code,
      `${e.message}; ${req.destination} had been renamed aside first and is kept as ${hosts.to.where}:${aside} (zfs rename ${aside} ${req.destination} on ${hosts.to.where} puts it back)`,
      { detail: e.detail, cause: err },
    );
  }
}

/** The receive of a restore into a free `destination`, checked by GUID; resolves with the bytes sent. */
async function receiveRestore(
  req: RestoreRequest,
  hosts: { from: ZfsHost; to: ZfsHost },
  opts: { signal?: AbortSignal; onProgress?: (p: TransferProgress) => void },
): Promise<number> {
  const where = `${hosts.to.where}:${req.destination}`;
  const parent = parentOf(req.destination);
  if (parent !== null && !(await datasetExists(hosts.to, parent, opts.signal))) {
    throw new BackupError(
      "ZFS_DATASET_MISSING",
      `${hosts.to.where}:${parent} does not exist, so ${req.destination} cannot be received; create it first`,
    );
  }
  const step: Step = {
    kind: "full",
    sourceDataset: req.backupDataset,
    targetDataset: req.destination,
    to: req.snapshot,
    intermediates: false,
  };
  const send = { raw: req.raw ?? false };
  const estimate = await hosts.from.estimateSend(step, opts.signal, send).catch(() => null);
  const bytes =
    (await receiveAllowingUnmounted(
      () =>
        transferStep(
          step,
          { sender: hosts.from, receiver: hosts.to },
          {
            type: req.type,
            restore: { mount: req.mount },
            send,
            ...(opts.signal ? { signal: opts.signal } : {}),
            ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
            ...(estimate !== null ? { estimatedBytes: estimate } : {}),
          },
        ),
      hosts.to,
      req.destination,
      req.snapshot.guid,
      opts.signal,
    )) ??
    estimate ??
    0;
  const got = (await hosts.to.list([req.destination], opts.signal ? { signal: opts.signal } : {})).listing.get(
    req.destination,
  );
  if (!got?.snapshots.some((s) => s.guid === req.snapshot.guid)) {
    throw new BackupError(
      "ZFS_FAILED",
      `${where}: the receive ended well but ${req.snapshot.name} (GUID ${req.snapshot.guid}) is not there`,
    );
  }
  return bytes;
}

/** What zfs prints when a receive got the stream but could not mount it (OpenZFS 2.1 then exits 1). */
const MOUNT_FAILED = /cannot mount|unable to mount|failed to create mountpoint/i;

/**
 * Runs a restore-shaped receive (`send`), accepting one that failed only to mount: the stream
 * arrived (`guid` is on `dataset`, checked) but the account may not mount there (a delegated
 * account on Linux). Resolves with the bytes sent, or null when the bytes are unknown that way.
 */
export async function receiveAllowingUnmounted(
  send: () => Promise<number>,
  to: ZfsHost,
  dataset: string,
  guid: string,
  signal?: AbortSignal,
): Promise<number | null> {
  try {
    return await send();
  } catch (err) {
    const e = toBackupError(err);
    if (!MOUNT_FAILED.test(`${e.message}\n${e.detail ?? ""}`)) throw err;
    const got = (await to.list([dataset], signal ? { signal } : {})).listing.get(dataset);
    if (!got?.snapshots.some((s) => s.guid === guid)) throw err;
    return null;
  }
}

/** Creates the missing ancestors of `dataset` below its pool as unmounted plain containers. */
export async function createParents(host: ZfsHost, dataset: string, signal?: AbortSignal): Promise<void> {
  const missing: string[] = [];
  for (let p = parentOf(dataset); p !== null && p !== poolOf(dataset); p = parentOf(p)) {
    if (await datasetExists(host, p, signal)) break;
    missing.unshift(p);
  }
  for (const p of missing) await host.create(p, [["canmount", "off"]], signal);
}

/**
 * A writable clone of a backup snapshot on the backup host, mounted (at `mountpoint`, else where
 * it inherits). Marked with {@link RESTORE_PROPERTY} so that cleanup finds it. Nothing executable.
 */
export async function cloneSnapshot(
  local: ZfsHost,
  req: { dataset: string; snapshot: string; clone: string; mountpoint?: string; readonly?: boolean },
  signal?: AbortSignal,
): Promise<void> {
  if (await datasetExists(local, req.clone, signal)) {
    throw new BackupError(
      "ZFS_DEST_EXISTS",
      `local:${req.clone} exists; pick another name (--as) or remove it (bzman restore --cleanup ${req.clone})`,
    );
  }
  await createParents(local, req.clone, signal);
  const props: Array<[string, string]> = [
    ["readonly", req.readonly ? "on" : "off"],
    ["canmount", "on"],
    ["exec", "off"],
    ["setuid", "off"],
    ["devices", "off"],
    [RESTORE_PROPERTY, snapshotPath(req.dataset, req.snapshot)],
    ...(req.mountpoint ? [["mountpoint", req.mountpoint] as [string, string]] : []),
  ];
  await local.clone(snapshotPath(req.dataset, req.snapshot), req.clone, props, signal);
  await local.mount(req.clone, true, signal);
}

/** The clones bzman made below `<pool>/bzman-restore` of each pool: name → the snapshot it came from. */
export async function listClones(local: ZfsHost, pools: string[], signal?: AbortSignal): Promise<Map<string, string>> {
  const containers = [...new Set(pools)].map((p) => `${p}/${RESTORE_CONTAINER}`);
  const { listing } = await local.list(containers, { signal });
  const names = [...listing.keys()].filter((n) => !containers.includes(n));
  if (names.length === 0) return new Map();
  // Only where bzman set its mark: a dataset an operator made inside a clone inherits it.
  const props = await local.properties(RESTORE_PROPERTY, names, signal, { localOnly: true });
  const out = new Map<string, string>();
  for (const [name, p] of props) {
    const of = p[RESTORE_PROPERTY];
    if (of && of !== "-") out.set(name, of);
  }
  return out;
}

/**
 * Unmounts and destroys one clone bzman made. Refuses a dataset without bzman's mark set on it
 * (not inherited), and one with snapshots or children of its own: see ZfsHost.destroyOwnClone.
 */
export async function destroyClone(local: ZfsHost, clone: string, signal?: AbortSignal): Promise<void> {
  await local.destroyOwnClone(clone, RESTORE_PROPERTY, signal);
}
