// argv builders for every zfs/zpool command bzman runs. The only place command lines are
// shaped; the source guard (source-hooks/) allows exactly these shapes.

import type { DatasetType, Step } from "../core/model.ts";
import { isOwnBookmark, isOwnSnapshot } from "../core/naming.ts";
import { BackupError } from "../errors.ts";
import { SELECT_PROPERTY, snapshotPath } from "../core/naming.ts";
import type { Capabilities } from "./capabilities.ts";
import { LIST_COLUMNS } from "./parse.ts";
import { receiveProperties, safeProperties, type ConfiguredReceive } from "../core/receive-properties.ts";

/** `zfs` without arguments: prints the usage text the capability probe reads. */
export function probeArgs(): string[] {
  return ["zfs"];
}

/**
 * One listing of datasets and snapshots below `roots`, in the most efficient form the host
 * supports; with `withBookmarks`, bookmarks too where the host has them (the source's listing);
 * with `withSelect`, the `bzman:backup` property (core/selection.ts) in the same call.
 */
export function listArgs(
  roots: string[],
  caps: Capabilities,
  withResumeToken: boolean,
  withBookmarks = false,
  withSelect = false,
): string[] {
  const token = withResumeToken && caps.resume;
  const extra = [...(token ? ["receive_resume_token"] : []), ...(withSelect ? [SELECT_PROPERTY] : [])];
  if (caps.listParsable) {
    const cols = [...LIST_COLUMNS, ...extra].join(",");
    const types =
      withBookmarks && caps.bookmarks ? "filesystem,volume,snapshot,bookmark" : "filesystem,volume,snapshot";
    return ["zfs", "list", "-H", "-p", "-o", cols, "-t", types, "-r", ...roots];
  }
  const props = ["guid", "createtxg", "creation", "type", "userrefs", ...extra].join(",");
  return ["zfs", "get", "-H", "-p", "-o", "name,property,value", props, "-r", ...roots];
}

/**
 * The columns of the cheap per-dataset query of `skip_unchanged` (core/unchanged.ts): with
 * `snapshots_changed` where the host has it (OpenZFS 2.2+), else without.
 */
export const MARK_COLUMNS = {
  changed: ["name", "guid", "written", "snapshots_changed", SELECT_PROPERTY],
  written: ["name", "guid", "written", SELECT_PROPERTY],
} as const;

/** Which set of {@link MARK_COLUMNS} a host answers. */
export type MarkColumns = keyof typeof MARK_COLUMNS;

/** `zfs list -H -p -o name,guid,written[,snapshots_changed],bzman:backup -t filesystem,volume -r ROOTS`. */
export function marksArgs(roots: string[], columns: MarkColumns): string[] {
  return ["zfs", "list", "-H", "-p", "-o", MARK_COLUMNS[columns].join(","), "-t", "filesystem,volume", "-r", ...roots];
}

/** The backup's side of `skip_unchanged`: `zfs list -H -p -o name,guid,snapshots_changed,receive_resume_token -t filesystem,volume -r ROOT`. */
export function targetMarksArgs(root: string): string[] {
  return [
    "zfs",
    "list",
    "-H",
    "-p",
    "-o",
    "name,guid,snapshots_changed,receive_resume_token",
    "-t",
    "filesystem,volume",
    "-r",
    root,
  ];
}

/** How a stream is sent: raw (`-w`, encrypted data stays encrypted) and stream flags (`-L -e -c`). */
export interface SendOptions {
  raw?: boolean;
  flags?: string[];
}

/** `zfs send` for one planned step. Never `-p`/`-R`: no source property reaches the backup. */
export function sendArgs(step: Step, opts: SendOptions = {}): string[] {
  // A resumed send takes its flags (-L -e -c -w) from the token; OpenZFS lists only -nVvPe with -t.
  if (step.kind === "resume") return ["zfs", "send", "-t", step.resumeToken];
  const head = ["zfs", "send", ...(opts.flags ?? []), ...(opts.raw ? ["-w"] : [])];
  const to = snapshotPath(step.sourceDataset, step.to.name);
  if (step.kind === "full") return [...head, to];
  const from = step.fromBookmark
    ? `${step.sourceDataset}#${step.from.name}`
    : snapshotPath(step.sourceDataset, step.from.name);
  return [...head, step.intermediates && !step.fromBookmark ? "-I" : "-i", from, to];
}

/** `zfs bookmark DATASET@SNAP DATASET#BOOKMARK` (bzman names it `<snapshot>.<instance>`). */
export function bookmarkArgs(dataset: string, snapshot: string, bookmark: string): string[] {
  return ["zfs", "bookmark", snapshotPath(dataset, snapshot), `${dataset}#${bookmark}`];
}

/**
 * `zfs destroy DATASET#NAME` for one of this receiver's own bookmarks (`<prefix>_<UTC>.<instance>`,
 * or the unsuffixed name of receivers before instances); refuses any other before running anything.
 */
export function destroyBookmarkArgs(
  dataset: string,
  name: string,
  own: { prefix: string; instance: string },
): string[] {
  if (!isOwnBookmark(name, own.prefix, own.instance) || /[@#]/.test(dataset) || /[@#]/.test(name)) {
    throw new BackupError(
      "UNSAFE_ARGUMENT",
      `refusing to destroy ${dataset}#${name}: not a bookmark of this receiver (${own.prefix}_<UTC>.${own.instance})`,
    );
  }
  return ["zfs", "destroy", `${dataset}#${name}`];
}

/** `zfs send -n -P` for a step: prints the estimated stream size, sends nothing. */
export function sendEstimateArgs(step: Step, opts: SendOptions = {}): string[] {
  const [zfs, send, ...rest] = sendArgs(step, opts);
  return [zfs!, send!, "-n", "-P", ...rest];
}

export { safeProperties };

/**
 * `zfs receive` into `target`: unmounted (`-u`), never `-F`. An interrupted stream is kept for
 * resume (`-s`) where the host can. A full receive gets, as `-o` and `-x`, the properties
 * core/receive-properties.ts decides (bzman's safe properties, the inert defaults, the
 * operator's `configured` ones); an incremental one keeps what the full receive set. Throws
 * ZFS_UNSUPPORTED, before anything runs, where this zfs cannot do what `configured` asks.
 */
export function receiveArgs(
  target: string,
  caps: Capabilities,
  opts: { full: boolean; type: DatasetType; configured?: ConfiguredReceive },
): string[] {
  const resumable = caps.resume ? ["-s"] : [];
  const plan = receiveProperties(opts.type, opts.configured ?? { exclude: [], set: [] }, {
    set: caps.receiveProperties,
    exclude: caps.receiveExclude,
    volmode: caps.volmode,
  });
  if ("unsupported" in plan)
    throw new BackupError(
      "ZFS_UNSUPPORTED",
      `cannot receive ${target}: ${plan.unsupported}; remove it from the config for this backup host`,
    );
  const props = opts.full
    ? [...plan.set.flatMap(([k, v]) => ["-o", `${k}=${v}`]), ...plan.exclude.flatMap((k) => ["-x", k])]
    : [];
  return ["zfs", "receive", "-u", ...resumable, ...props, target];
}

/** A container dataset above received ones: never mounted, read-only, inheriting nothing unsafe. */
export function createContainerArgs(dataset: string): string[] {
  const props = safeProperties("filesystem").map(([k, v]): [string, string] =>
    k === "canmount" ? [k, "off"] : [k, v],
  );
  return ["zfs", "create", ...props.flatMap(([k, v]) => ["-o", `${k}=${v}`]), dataset];
}

/** `zfs set property=value dataset` (one property a call: old implementations take only one). */
export function setArgs(property: string, value: string, dataset: string): string[] {
  return ["zfs", "set", `${property}=${value}`, dataset];
}

/** Health of one pool; fails with "no such pool" when it is missing. */
export function poolHealthArgs(pool: string): string[] {
  return ["zpool", "list", "-H", "-o", "name,health", pool];
}

/** `zfs snapshot [-r] dataset@name`: with -r, the dataset and every child at one instant. */
export function snapshotArgs(dataset: string, name: string, recursive: boolean): string[] {
  return ["zfs", "snapshot", ...(recursive ? ["-r"] : []), snapshotPath(dataset, name)];
}

/**
 * `zfs destroy dataset@snap` of one of bzman's own snapshots. Refuses anything else: a dataset,
 * a foreign snapshot, a recursive destroy. The last line of defence behind retention.
 */
export function destroySnapshotArgs(dataset: string, snapshot: string, prefix: string): string[] {
  if (!isOwnSnapshot(snapshot, prefix) || dataset.includes("@") || snapshot.includes("@")) {
    throw new BackupError(
      "UNSAFE_ARGUMENT",
      `refusing to destroy ${dataset}@${snapshot}: not one of bzman's snapshots (${prefix}_<UTC stamp>)`,
    );
  }
  return ["zfs", "destroy", snapshotPath(dataset, snapshot)];
}

/**
 * `zfs destroy dataset@a,b,c`: several of bzman's own snapshots of one dataset in one command
 * (where the host's zfs has the comma form, `Capabilities.destroyMany`). Never a `%` range.
 */
export function destroySnapshotsArgs(dataset: string, snapshots: string[], prefix: string): string[] {
  if (snapshots.length === 0) throw new BackupError("UNSAFE_ARGUMENT", `no snapshot of ${dataset} to destroy`);
  for (const s of snapshots) destroySnapshotArgs(dataset, s, prefix);
  return ["zfs", "destroy", snapshotPath(dataset, snapshots.join(","))];
}

/** `zfs hold TAG dataset@snap`. */
export function holdArgs(tag: string, dataset: string, snapshot: string): string[] {
  return ["zfs", "hold", tag, snapshotPath(dataset, snapshot)];
}

/** `zfs release TAG dataset@snap`. */
export function releaseArgs(tag: string, dataset: string, snapshot: string): string[] {
  return ["zfs", "release", tag, snapshotPath(dataset, snapshot)];
}

/** Longest list of snapshots in one batch (the guard refuses command lines over 4096 characters). */
const BATCH_CHARS = 3500;

/**
 * `zfs hold|release TAG ds@snap …`: one command for many snapshots, split into batches whose
 * command lines stay short. One command instead of one per dataset on every pass.
 */
export function holdBatchArgs(verb: "hold" | "release", tag: string, snapshots: Array<[string, string]>): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let len = 0;
  for (const [dataset, snapshot] of snapshots) {
    const a = snapshotPath(dataset, snapshot);
    if (cur.length > 0 && len + a.length + 1 > BATCH_CHARS) {
      out.push(["zfs", verb, tag, ...cur]);
      cur = [];
      len = 0;
    }
    cur.push(a);
    len += a.length + 1;
  }
  if (cur.length > 0) out.push(["zfs", verb, tag, ...cur]);
  return out;
}

/** Bytes available to a dataset (`zfs get -H -p -o value available`). */
export function availableArgs(dataset: string): string[] {
  return ["zfs", "get", "-H", "-p", "-o", "value", "available", dataset];
}

/** Columns of the pool status listing. */
export const POOL_COLUMNS = "name,health,size,allocated,free,capacity";

/** Health and capacity of one pool (`-p`: exact numbers where the host supports it). */
export function poolStatusArgs(pool: string, parsable: boolean): string[] {
  return ["zpool", "list", "-H", ...(parsable ? ["-p"] : []), "-o", POOL_COLUMNS, pool];
}

/**
 * `zfs receive [-u] target` for a restore onto a host: no `-F`, no safe properties (the restored
 * dataset is meant to be used), mounted unless `mount` is false. The guard's --restore mode allows
 * exactly this shape.
 */
export function restoreReceiveArgs(target: string, mount: boolean): string[] {
  return ["zfs", "receive", ...(mount ? [] : ["-u"]), target];
}

/**
 * `zfs rename [-u] from to` (both datasets, never snapshots). `-u` (OpenZFS, FreeBSD) leaves a
 * mounted filesystem mounted where it is: the rename then needs no unmount, which an account
 * with `zfs allow` delegation may not do on Linux.
 */
export function renameArgs(from: string, to: string, noRemount = false): string[] {
  if (from.includes("@") || to.includes("@"))
    throw new BackupError("UNSAFE_ARGUMENT", `refusing to rename ${from} to ${to}: not datasets`);
  return ["zfs", "rename", ...(noRemount ? ["-u"] : []), from, to];
}

/** `zfs clone -o k=v … dataset@snapshot clone`. */
export function cloneArgs(snapshot: string, clone: string, props: Array<[string, string]>): string[] {
  return ["zfs", "clone", ...props.flatMap(([k, v]) => ["-o", `${k}=${v}`]), snapshot, clone];
}

/** `zfs destroy dataset` of one dataset without children or snapshots (never -r, never a snapshot). */
export function destroyDatasetArgs(dataset: string): string[] {
  if (dataset.includes("@") || !dataset.includes("/"))
    throw new BackupError("UNSAFE_ARGUMENT", `refusing to destroy ${dataset}: not a dataset below a pool`);
  return ["zfs", "destroy", dataset];
}

/** `zfs create -o k=v … dataset` (a plain dataset, e.g. a container of clones). */
export function createArgs(dataset: string, props: Array<[string, string]>): string[] {
  return ["zfs", "create", ...props.flatMap(([k, v]) => ["-o", `${k}=${v}`]), dataset];
}

/** `zfs inherit property dataset`. */
export function inheritArgs(property: string, dataset: string): string[] {
  return ["zfs", "inherit", property, dataset];
}

/** `zfs mount dataset` / `zfs unmount dataset`. */
export function mountArgs(dataset: string, mount: boolean): string[] {
  return ["zfs", mount ? "mount" : "unmount", dataset];
}

/** Properties of a snapshot the restore drill compares between source and backup. */
export const DRILL_PROPERTIES = "guid,referenced";

/**
 * `zfs get -H -p -o name,property,value PROPS dataset…` (no recursion). With `localOnly`
 * (`-s local`), only values set on the dataset itself: an inherited mark is no mark.
 */
export function getArgs(properties: string, datasets: string[], localOnly = false): string[] {
  return [
    "zfs",
    "get",
    "-H",
    "-p",
    "-o",
    "name,property,value",
    ...(localOnly ? ["-s", "local"] : []),
    properties,
    ...datasets,
  ];
}

/**
 * `zfs get -H -p -o name,property,value written dataset`: bytes written to a filesystem or volume
 * since its newest snapshot (OpenZFS, illumos; zfs-fuse has no such property). The guard lets this
 * exact shape through for one dataset below its roots.
 */
export function writtenArgs(dataset: string): string[] {
  if (dataset.includes("@"))
    throw new BackupError(
      "UNSAFE_ARGUMENT",
      `refusing to ask ${dataset} what was written since its newest snapshot: not a dataset`,
    );
  return getArgs("written", [dataset]);
}

/** `zfs get -H -p -o name,property,value mounted dataset`: whether a restored filesystem got mounted. */
export function mountedArgs(dataset: string): string[] {
  if (dataset.includes("@"))
    throw new BackupError("UNSAFE_ARGUMENT", `refusing to ask whether ${dataset} is mounted: not a dataset`);
  return getArgs("mounted", [dataset]);
}

/** `zpool scrub pool`: starts a scrub (returns at once). */
export function scrubArgs(pool: string): string[] {
  return ["zpool", "scrub", pool];
}

/** `zpool status pool`: the text with the scrub line and error counts. */
export function zpoolStatusArgs(pool: string): string[] {
  return ["zpool", "status", pool];
}

/** `zfs receive -A target`: discards the partly received state of an interrupted receive. */
export function abortReceiveArgs(target: string): string[] {
  return ["zfs", "receive", "-A", target];
}

/**
 * What `bzman check` asks of a restore key to prove its guard is in --restore mode: a send
 * estimate of a snapshot that does not exist, which that mode refuses and a replication key's
 * guard would let through (to fail harmlessly in zfs).
 */
export function restoreKeyProbeArgs(dataset: string): string[] {
  return ["zfs", "send", "-n", "-P", `${dataset}@bzman-check`];
}

/** A resume token of the right shape that names nothing: what `bzman check` resumes, dry. */
export const RESUME_PROBE_TOKEN = "1-0-0-0";

/**
 * What `bzman check` asks of a source whose zfs can resume: a dry resumed send (`-n -P -t`) of a
 * token that names nothing. A guard without resume refuses it with its "may not resume" message;
 * one with resume inspects the token, which fails harmlessly.
 */
export function resumeProbeArgs(): string[] {
  return ["zfs", "send", "-n", "-P", "-t", RESUME_PROBE_TOKEN];
}
