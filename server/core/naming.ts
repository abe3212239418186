// Names bzman trusts and names bzman owns: what a safe dataset/snapshot name is, where a source
// dataset lands on the backup, and bzman's reserved ZFS-side names (snapshot prefix, hold tag).

/** Default prefix of snapshots bzman takes on sources; retention only ever touches these. */
export const DEFAULT_SNAPSHOT_PREFIX = "bzman";

/**
 * The user property that switches a source dataset's backup off (`zfs set bzman:backup=off
 * tank/scratch`) or back on below such a dataset (`on`); inherited as ZFS inherits properties.
 */
export const SELECT_PROPERTY = "bzman:backup";

/**
 * The hold tag of receivers from before instances existed. An upgraded receiver releases it
 * where it finds it on its own snapshots (it was its own), but never places it.
 */
export const LEGACY_HOLD_TAG = "bzman-common";

// A receiver's identity: what its hold tag and bookmark names carry, so that several receivers
// of one source (3-2-1) never release or destroy each other's.
const INSTANCE_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** True iff `name` is a valid receiver instance name (`[a-z0-9][a-z0-9_-]*`, at most 63). */
export function isValidInstance(name: string): boolean {
  return INSTANCE_RE.test(name);
}

/**
 * The default instance of a receiver, from its host name: cut at the first `.`, lower-cased, any
 * character outside `[a-z0-9_-]` made `-`. The source installer derives the same from the key's
 * comment (`bzman@<hostname>`), so both ends agree without configuration. Null when that yields no
 * valid name.
 */
export function instanceFromHostname(hostname: string): string | null {
  const name = hostname
    .split(".")[0]!
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "-");
  return isValidInstance(name) ? name : null;
}

/** The tag of the holds a receiver places on its newest common snapshots: `bzman.<instance>`. */
export function holdTagFor(instance: string): string {
  return `bzman.${instance}`;
}

/** The name of a receiver's bookmark of its snapshot `snapshot`: `<snapshot>.<instance>`. */
export function bookmarkNameFor(snapshot: string, instance: string): string {
  return `${snapshot}.${instance}`;
}

// The UTC stamp bzman writes into its snapshot names (see snapshotNameAt).
const STAMP = "[0-9]{8}T[0-9]{6}Z";
const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * True iff `name` is exactly one of bzman's snapshots for `prefix`: `<prefix>_<UTC stamp>` as
 * {@link snapshotNameAt} writes it. A name that merely starts with the prefix (another receiver's
 * `bzman_dr_…`, an operator's `bzman_before_upgrade`) is not.
 */
export function isOwnSnapshot(name: string, prefix: string): boolean {
  return new RegExp(`^${escapeRegExp(prefix)}_${STAMP}$`).test(name);
}

/**
 * True iff `name` is one of this receiver's bookmarks: `<own snapshot>.<instance>`, or the
 * `<own snapshot>` that receivers from before instances wrote (`legacy`, default true).
 */
export function isOwnBookmark(name: string, prefix: string, instance: string, legacy = true): boolean {
  if (legacy && isOwnSnapshot(name, prefix)) return true;
  const suffix = `.${instance}`;
  return name.endsWith(suffix) && isOwnSnapshot(name.slice(0, -suffix.length), prefix);
}

// A component starts with a letter, digit or underscore (never '-': it would read as an option)
// and holds only ZFS's name characters minus the space, so argv never needs quoting anywhere.
const DATASET_RE = /^[A-Za-z][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_][A-Za-z0-9_.:-]*)*$/;
const SNAPSHOT_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;
const MAX_NAME = 255;

/** True iff `name` is a dataset name bzman accepts: pool first, `/`-separated, no spaces or shell metacharacters. */
export function isSafeDatasetName(name: string): boolean {
  return name.length <= MAX_NAME && DATASET_RE.test(name) && !name.split("/").some((c) => c === "." || c === "..");
}

/** True iff `name` (the part after `@`) is a snapshot name bzman accepts. */
export function isSafeSnapshotName(name: string): boolean {
  return name.length <= MAX_NAME && SNAPSHOT_NAME_RE.test(name);
}

/** Explains why a dataset name is refused, or returns null when it is safe. */
export function datasetNameProblem(name: string): string | null {
  if (isSafeDatasetName(name)) return null;
  if (name === "") return "is empty";
  if (/\s/.test(name)) return `"${name}" contains whitespace`;
  if (/[^A-Za-z0-9_.:/-]/.test(name)) return `"${name}" contains a character other than letters, digits and _ . : - /`;
  return `"${name}" is not a ZFS dataset name (pool/child, each part starting with a letter, digit or _)`;
}

/** The pool a dataset lives in. */
export function poolOf(dataset: string): string {
  const i = dataset.indexOf("/");
  return i < 0 ? dataset : dataset.slice(0, i);
}

/** The parent dataset, or null for a pool's root dataset. */
export function parentOf(dataset: string): string | null {
  const i = dataset.lastIndexOf("/");
  return i < 0 ? null : dataset.slice(0, i);
}

/** True iff `dataset` is `root` or lies below it. */
export function isWithin(dataset: string, root: string): boolean {
  return dataset === root || dataset.startsWith(`${root}/`);
}

/**
 * The configured root that covers `dataset` (a source's `datasets:` entry): the entry naming it
 * (an explicit entry wins, with its own overrides), else a recursive root above it; undefined
 * when the source does not back `dataset` up.
 */
export function coveringRoot<R extends { name: string; recursive: boolean }>(
  roots: readonly R[],
  dataset: string,
): R | undefined {
  return roots.find((r) => r.name === dataset) ?? roots.find((r) => r.recursive && isWithin(dataset, r.name));
}

/** Where a source dataset lands: `<targetRoot>/<source dataset path>` (tank/vm → backup/web1/tank/vm). */
export function targetFor(targetRoot: string, sourceDataset: string): string {
  return `${targetRoot}/${sourceDataset}`;
}

/** The source dataset a target dataset came from, or null when it lies outside `targetRoot`. */
export function sourceFor(targetRoot: string, targetDataset: string): string | null {
  return targetDataset.startsWith(`${targetRoot}/`) ? targetDataset.slice(targetRoot.length + 1) : null;
}

/** `dataset@snapshot`. */
export function snapshotPath(dataset: string, snapshot: string): string {
  return `${dataset}@${snapshot}`;
}

/** The name of the snapshot bzman takes at `epochMs`: `<prefix>_<UTC time>`, e.g. bzman_20261126T233000Z. */
export function snapshotNameAt(prefix: string, epochMs: number): string {
  return `${prefix}_${utcStamp(epochMs)}`;
}

/** A compact UTC stamp for names: 20261127T014500Z. */
export function utcStamp(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** Why a dataset is renamed aside rather than overwritten. */
export type AsideReason = "restore" | "failback";

/**
 * The name a dataset is kept under when a restore or failback needs its place:
 * `<dataset>.before-restore-<UTC>`. The source guard allows renames to exactly this shape.
 */
export function asideName(dataset: string, why: AsideReason, epochMs: number): string {
  return `${dataset}.before-${why}-${utcStamp(epochMs)}`;
}

/** The dataset on each backup pool below which bzman's own clones live (restores, drills). */
export const RESTORE_CONTAINER = "bzman-restore";

/** The dataset on each backup pool below which promoted datasets live by default. */
export const LIVE_CONTAINER = "bzman-live";

/** Where `on_conflict: rename` keeps a conflicting backup: `<dataset>.diverged-<UTC>`. */
export function divergedName(dataset: string, epochMs: number): string {
  return `${dataset}.diverged-${utcStamp(epochMs)}`;
}
