// ZfsHost: the domain operations bzman needs from one host's ZFS (list, send, receive, create,
// set), over any CommandRunner. The same class serves the local pool and a remote source.

import type { DatasetType, Listing, Step } from "../core/model.ts";
import type { ConfiguredReceive } from "../core/receive-properties.ts";
import type { Marks, TargetMarks } from "../core/unchanged.ts";
import { SELECT_PROPERTY } from "../core/naming.ts";
import { BackupError, type ErrorCode } from "../errors.ts";
import {
  abortReceiveArgs,
  bookmarkArgs,
  destroyBookmarkArgs,
  holdBatchArgs,
  cloneArgs,
  createArgs,
  destroyDatasetArgs,
  getArgs,
  inheritArgs,
  mountArgs,
  renameArgs,
  restoreReceiveArgs,
  scrubArgs,
  zpoolStatusArgs,
  poolStatusArgs,
  availableArgs,
  destroySnapshotArgs,
  destroySnapshotsArgs,
  holdArgs,
  releaseArgs,
  snapshotArgs,
  sendEstimateArgs,
  createContainerArgs,
  listArgs,
  marksArgs,
  targetMarksArgs,
  type MarkColumns,
  poolHealthArgs,
  probeArgs,
  receiveArgs,
  restoreKeyProbeArgs,
  resumeProbeArgs,
  writtenArgs,
  mountedArgs,
  safeProperties,
  sendArgs,
  setArgs,
} from "./args.ts";
import type { SendOptions } from "./args.ts";
import type { StreamOffload } from "./offload.ts";
import { MINIMAL_CAPABILITIES, parseCapabilities, type Capabilities } from "./capabilities.ts";
import {
  parseScrubStatus,
  type ScrubState,
  parsePoolStatus,
  parseSendEstimate,
  missingDatasets,
  onlyMissingDatasets,
  parseGetListing,
  parseListListing,
  parseMarks,
  parseTargetMarks,
  stderrHeadline,
  tryClassifyStderr,
} from "./parse.ts";
import type { CommandRunner, ExitStatus, RunningCommand } from "./runner.ts";

/** A listing and the requested roots that do not exist. */
export interface ListResult {
  listing: Listing;
  missing: string[];
  /** Why the listing has no `bzman:backup` values although they were asked for (an older guard). */
  selectUnavailable?: string;
}

/** Describes how a command ended, for messages: "exit 1", "signal KILL", "no exit status". */
export function describeExit(s: ExitStatus): string {
  if (s.code !== null) return `exit ${s.code}`;
  return s.signal ? `signal ${s.signal}` : "no exit status";
}

/** The BackupError for a failed zfs command: classified from stderr, with the stderr tail as detail. */
export function commandError(
  where: string,
  argv: string[],
  s: ExitStatus,
  fallback: ErrorCode = "ZFS_FAILED",
): BackupError {
  const code = tryClassifyStderr(s.stderr) ?? fallback;
  const headline = stderrHeadline(s.stderr) || describeExit(s);
  return new BackupError(code, `${where}: ${argv.slice(0, 2).join(" ")}: ${headline}`, {
    detail: s.stderr.trim() || undefined,
  });
}

/**
 * A failure a caller takes as done: an error code that parse.ts classifies stderr as, a pattern
 * of stderr for what it does not classify, or a test of stderr.
 */
export type Accepted = ErrorCode | RegExp | ((stderr: string) => boolean);

function accepts(accepted: Accepted, stderr: string): boolean {
  if (typeof accepted === "function") return accepted(stderr);
  return typeof accepted === "string" ? tryClassifyStderr(stderr) === accepted : accepted.test(stderr);
}

/** One host's ZFS. Capabilities are probed once and cached for the life of the object. */
export class ZfsHost {
  private caps: Promise<Capabilities> | undefined;

  /**
   * @param offload how this host streams a step into the local receive on a thread of its own
   *   (an SSH source); absent: every stream goes through the main thread
   */
  constructor(
    readonly runner: CommandRunner,
    readonly offload?: StreamOffload,
  ) {}

  /** Where this host's commands run ("local" or the source name). */
  get where(): string {
    return this.runner.where;
  }

  /** Runs argv and throws a classified BackupError unless it exits 0. */
  async runChecked(argv: string[], signal?: AbortSignal): Promise<string> {
    return (await this.runAccepting(argv, [], signal)).stdout;
  }

  /**
   * Runs argv; a failure that one of `accepted` matches is returned (the caller sees its exit
   * code), any other failure is thrown as a classified BackupError.
   */
  private async runAccepting(
    argv: string[],
    accepted: Accepted | Accepted[],
    signal?: AbortSignal,
  ): Promise<ExitStatus & { stdout: string }> {
    const r = await this.runner.run(argv, { signal });
    if (r.code !== 0 && ![accepted].flat().some((a) => accepts(a, r.stderr))) throw commandError(this.where, argv, r);
    return r;
  }

  /** What this host's zfs supports (probed once; a failed probe means the minimal set). */
  capabilities(signal?: AbortSignal): Promise<Capabilities> {
    this.caps ??= this.runner.run(probeArgs(), { signal }).then((r) => {
      const usage = `${r.stdout}\n${r.stderr}`;
      if (r.code === 127 || !/usage:/.test(usage)) {
        if (tryClassifyStderr(r.stderr) === "GUARD_REJECTED") throw commandError(this.where, probeArgs(), r);
        throw new BackupError("ZFS_FAILED", `${this.where}: zfs is not usable here (${describeExit(r)})`, {
          detail: usage.trim(),
        });
      }
      return parseCapabilities(usage);
    });
    this.caps.catch(() => (this.caps = undefined));
    return this.caps;
  }

  /** Takes `caps` as this host's capabilities, probed elsewhere (nothing is run for them). */
  assumeCapabilities(caps: Capabilities): void {
    this.caps = Promise.resolve(caps);
  }

  /** Capabilities if already probed, else the minimal set (never runs anything). */
  async knownCapabilities(): Promise<Capabilities> {
    return this.caps ? this.caps.catch(() => MINIMAL_CAPABILITIES) : MINIMAL_CAPABILITIES;
  }

  /**
   * Lists every dataset and snapshot below `roots` in one call. Roots that do not exist are
   * returned in `missing`; any other failure throws.
   */
  async list(
    roots: string[],
    opts: { resumeTokens?: boolean; bookmarks?: boolean; select?: boolean; signal?: AbortSignal } = {},
  ): Promise<ListResult> {
    const caps = await this.capabilities(opts.signal);
    const argv = listArgs(roots, caps, opts.resumeTokens ?? false, opts.bookmarks ?? false, opts.select ?? false);
    const r = await this.runner.run(argv, { signal: opts.signal });
    if (r.code !== 0 && opts.select && tryClassifyStderr(r.stderr) === "GUARD_REJECTED") {
      // A guard installed before property selection refuses the extra column: list without it.
      const plain = await this.list(roots, { ...opts, select: false });
      return {
        ...plain,
        selectUnavailable: `${this.where}'s guard refused the ${SELECT_PROPERTY} column of the listing (a bzman-guard older than property selection), so ${SELECT_PROPERTY} is not read there; run source-hooks/install-source.sh on it again`,
      };
    }
    if (r.code !== 0 && !accepts(onlyMissingDatasets, r.stderr)) throw commandError(this.where, argv, r);
    const withToken = argv.some((a) => a.includes("receive_resume_token"));
    const listing = caps.listParsable
      ? parseListListing(r.stdout, withToken, opts.select ?? false)
      : parseGetListing(r.stdout);
    return { listing, missing: missingDatasets(r.stderr) };
  }

  /**
   * The cheap per-dataset query of `skip_unchanged` (core/unchanged.ts) below `roots`, in one
   * call. Null, with zfs's message, when the host does not answer it with these columns (a zfs
   * without `written` or `snapshots_changed`, or a guard older than the query); a failed
   * transport still throws.
   */
  async marks(
    roots: string[],
    columns: MarkColumns,
    signal?: AbortSignal,
  ): Promise<{ marks: Marks; missing: string[] } | { unsupported: string }> {
    const argv = marksArgs(roots, columns);
    const r = await this.runner.run(argv, { signal });
    if (r.code !== 0 && !accepts(onlyMissingDatasets, r.stderr))
      return { unsupported: commandError(this.where, argv, r).message };
    return { marks: parseMarks(r.stdout, columns === "changed"), missing: missingDatasets(r.stderr) };
  }

  /**
   * The backup's side of `skip_unchanged`: each dataset below `root` with its GUID,
   * `snapshots_changed` and whether a partial receive waits there. Null with zfs's message where
   * the host cannot say (no `-p` listings or no `snapshots_changed`, as zfs-fuse and OpenZFS 2.1).
   */
  async targetMarks(root: string, signal?: AbortSignal): Promise<{ marks: TargetMarks } | { unsupported: string }> {
    const argv = targetMarksArgs(root);
    const r = await this.runner.run(argv, { signal });
    if (r.code !== 0 && !accepts(onlyMissingDatasets, r.stderr))
      return { unsupported: commandError(this.where, argv, r).message };
    return { marks: parseTargetMarks(r.stdout) };
  }

  /** Health of `pool` ("ONLINE", "DEGRADED", …), or null when the pool does not exist. */
  async poolHealth(pool: string, signal?: AbortSignal): Promise<string | null> {
    const r = await this.runAccepting(poolHealthArgs(pool), "ZFS_POOL_MISSING", signal);
    if (r.code !== 0) return null;
    return r.stdout.trim().split("\t")[1] ?? "UNKNOWN";
  }

  /** Estimated stream size of a step in bytes, or null where the host cannot estimate (`send -nP`). */
  async estimateSend(step: Step, signal?: AbortSignal, opts: SendOptions = {}): Promise<number | null> {
    if (!(await this.capabilities(signal)).sendEstimate) return null;
    return parseSendEstimate(await this.runChecked(sendEstimateArgs(step, opts), signal));
  }

  /** Bytes available to `dataset` (for space checks). */
  async available(dataset: string, signal?: AbortSignal): Promise<number> {
    const out = (await this.runChecked(availableArgs(dataset), signal)).trim();
    if (!/^\d+$/.test(out)) throw new BackupError("ZFS_PARSE", `${this.where}: available of ${dataset} is "${out}"`);
    return Number(out);
  }

  /**
   * Health, size and capacity of `pool`, or null when it does not exist. Uses `zpool list -p`
   * and falls back to human-readable sizes where the host's zpool has no -p.
   */
  async poolStatus(pool: string, signal?: AbortSignal): Promise<ReturnType<typeof parsePoolStatus> | null> {
    for (const parsable of [true, false]) {
      // Without -p (an older zpool) the same columns come human-readable.
      const accepted: Accepted[] = parsable ? ["ZFS_POOL_MISSING", "ZFS_UNSUPPORTED"] : ["ZFS_POOL_MISSING"];
      const r = await this.runAccepting(poolStatusArgs(pool, parsable), accepted, signal);
      if (r.code === 0) return parsePoolStatus(r.stdout);
      if (tryClassifyStderr(r.stderr) === "ZFS_POOL_MISSING") return null;
    }
    return null;
  }

  /** Starts `zfs send` for a step; the caller pipes stdout and awaits `done`. */
  async send(step: Step, signal?: AbortSignal, opts: SendOptions = {}): Promise<RunningCommand> {
    if (opts.raw && !(await this.capabilities(signal)).rawSend) {
      throw new BackupError(
        "ZFS_UNSUPPORTED",
        `${this.where}: this zfs cannot send raw streams (zfs send -w); remove send_raw for this source or upgrade its ZFS`,
      );
    }
    return this.runner.spawn(sendArgs(step, opts), { signal });
  }

  /**
   * Starts `zfs receive` into `target` (never -F); the caller writes the stream to stdin. A full
   * receive gets the properties core/receive-properties.ts decides; where this zfs cannot do what
   * `configured` asks (`-x`, `-o`), it fails with ZFS_UNSUPPORTED before anything runs.
   */
  async receive(
    target: string,
    opts: { full: boolean; type: DatasetType; configured?: ConfiguredReceive },
    signal?: AbortSignal,
  ): Promise<RunningCommand> {
    const caps = await this.capabilities(signal);
    return this.runner.spawn(receiveArgs(target, caps, opts), { signal });
  }

  /** Creates a container dataset (read-only, never mounted) above received datasets. */
  async createContainer(dataset: string, signal?: AbortSignal): Promise<void> {
    await this.runChecked(createContainerArgs(dataset), signal);
  }

  /**
   * Takes `dataset@name` (recursively: every child at one instant). False, with nothing taken,
   * where the name exists already (on the dataset or, with `recursive`, on a child): that
   * snapshot was taken earlier and may lack what was written since, so it is not this one.
   */
  async snapshot(dataset: string, name: string, recursive: boolean, signal?: AbortSignal): Promise<boolean> {
    const r = await this.runAccepting(snapshotArgs(dataset, name, recursive), /dataset already exists/, signal);
    return r.code === 0;
  }

  /** Destroys one of bzman's own snapshots (refuses any other name before running anything). */
  async destroySnapshot(dataset: string, snapshot: string, prefix: string, signal?: AbortSignal): Promise<void> {
    await this.runChecked(destroySnapshotArgs(dataset, snapshot, prefix), signal);
  }

  /**
   * Destroys several of bzman's snapshots of `dataset` in one `zfs destroy DS@a,b,c`. OpenZFS
   * destroys all or none: a failure (one is held by another receiver) leaves every one in place.
   * Precondition: `Capabilities.destroyMany`.
   */
  async destroySnapshots(dataset: string, snapshots: string[], prefix: string, signal?: AbortSignal): Promise<void> {
    await this.runChecked(destroySnapshotsArgs(dataset, snapshots, prefix), signal);
  }

  /**
   * False iff this host's guard refuses resumed sends (`zfs send -t`), asked with a dry resume of
   * a token that names nothing. Only meaningful where the host's zfs can resume.
   */
  async resumeAllowed(signal?: AbortSignal): Promise<boolean> {
    const r = await this.runner.run(resumeProbeArgs(), { signal });
    return !/bzman-guard: rejected: this key may not resume/.test(r.stderr);
  }

  /**
   * False iff this host's guard is not in --restore mode: a restore key must be refused a send
   * (a dry send estimate of a snapshot that does not exist, harmless anywhere).
   */
  async refusesSend(dataset: string, signal?: AbortSignal): Promise<boolean> {
    const r = await this.runner.run(restoreKeyProbeArgs(dataset), { signal });
    return tryClassifyStderr(r.stderr) === "GUARD_REJECTED";
  }

  /** Bookmarks `dataset@snapshot` as `dataset#bookmark`; a bookmark that is already there is fine. */
  async bookmark(dataset: string, snapshot: string, bookmark: string, signal?: AbortSignal): Promise<void> {
    await this.runAccepting(bookmarkArgs(dataset, snapshot, bookmark), /bookmark exists/, signal);
  }

  /** Destroys one of this receiver's own bookmarks (refuses any other name before running anything). */
  async destroyBookmark(
    dataset: string,
    name: string,
    own: { prefix: string; instance: string },
    signal?: AbortSignal,
  ): Promise<void> {
    await this.runChecked(destroyBookmarkArgs(dataset, name, own), signal);
  }

  /** Places hold `tag` on a snapshot; a hold that is already there is fine. */
  async hold(tag: string, dataset: string, snapshot: string, signal?: AbortSignal): Promise<void> {
    await this.runAccepting(holdArgs(tag, dataset, snapshot), /tag already exists/, signal);
  }

  /** Releases hold `tag` from a snapshot; a hold that is not there is fine. */
  async release(tag: string, dataset: string, snapshot: string, signal?: AbortSignal): Promise<void> {
    await this.runAccepting(releaseArgs(tag, dataset, snapshot), /no such tag|does not exist/, signal);
  }

  /**
   * Places (`hold`) or releases hold `tag` on many snapshots, one command per batch. A batch that
   * fails is redone one snapshot at a time, so a tag already there (or already gone) stays fine
   * and every other failure is reported per snapshot: "dataset@snap: message".
   */
  async holdMany(
    verb: "hold" | "release",
    tag: string,
    snapshots: Array<[string, string]>,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const failures: string[] = [];
    for (const argv of holdBatchArgs(verb, tag, snapshots)) {
      const r = await this.runner.run(argv, { signal });
      if (r.code === 0) continue;
      for (const a of argv.slice(3)) {
        const [dataset, snap] = [a.slice(0, a.indexOf("@")), a.slice(a.indexOf("@") + 1)];
        try {
          if (verb === "hold") await this.hold(tag, dataset, snap, signal);
          else await this.release(tag, dataset, snap, signal);
        } catch (err) {
          failures.push(`${a}: ${(err as Error).message}`);
        }
      }
    }
    return failures;
  }

  /**
   * Sets the safe properties on a freshly received dataset where receive could not (`-o`), all at
   * once: each `zfs set` waits for a transaction group, and sets running together share one
   * (on zfs-fuse five at once take 0.5x the time of five in a row). Throws the first failure, once
   * every set has ended.
   */
  async secureReceived(dataset: string, type: DatasetType, signal?: AbortSignal): Promise<void> {
    const caps = await this.capabilities(signal);
    if (caps.receiveProperties) return;
    const sets = await Promise.allSettled(
      safeProperties(type).map(([k, v]) => this.runChecked(setArgs(k, v, dataset), signal)),
    );
    const failed = sets.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** Discards the partly received state kept for resume on `target` (`zfs receive -A`). */
  async abortPartialReceive(target: string, signal?: AbortSignal): Promise<void> {
    await this.runChecked(abortReceiveArgs(target), signal);
  }

  /** Starts `zfs receive [-u] target` for a restore (no safe properties, never -F). */
  async receiveRestore(target: string, mount: boolean, signal?: AbortSignal): Promise<RunningCommand> {
    return this.runner.spawn(restoreReceiveArgs(target, mount), { signal });
  }

  /**
   * `zfs get -p` of `properties` on `datasets`: name → property → value. Datasets that do not
   * exist are absent from the result; any other failure throws.
   */
  async properties(
    properties: string,
    datasets: string[],
    signal?: AbortSignal,
    opts: { localOnly?: boolean } = {},
  ): Promise<Map<string, Record<string, string>>> {
    const argv = getArgs(properties, datasets, opts.localOnly ?? false);
    const r = await this.runAccepting(argv, onlyMissingDatasets, signal);
    const out = new Map<string, Record<string, string>>();
    for (const line of r.stdout.split("\n")) {
      const [name, prop, value] = line.split("\t");
      if (!name || !prop || value === undefined) continue;
      out.set(name, { ...out.get(name), [prop]: value });
    }
    return out;
  }

  /**
   * Bytes written to `dataset` after its newest snapshot; null where this host cannot tell: its
   * zfs has no `written` property (zfs-fuse), or its guard predates the question.
   */
  async writtenSinceSnapshot(dataset: string, signal?: AbortSignal): Promise<number | null> {
    const r = await this.runAccepting(
      writtenArgs(dataset),
      [/bad property list|invalid property/, "GUARD_REJECTED"],
      signal,
    );
    if (r.code !== 0) return null;
    const value = r.stdout
      .split("\n")
      .map((l) => l.split("\t"))
      .find((f) => f[0] === dataset && f[1] === "written")?.[2];
    const n = value === undefined ? NaN : Number(value);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new BackupError(
        "ZFS_FAILED",
        `${this.where}: zfs get written ${dataset}: not a byte count: ${JSON.stringify(r.stdout.slice(0, 200))}`,
      );
    return n;
  }

  /** Renames a dataset (both names full paths), retrying a while when ZFS calls it busy. */
  async rename(from: string, to: string, signal?: AbortSignal): Promise<void> {
    await this.retryBusy(renameArgs(from, to), [], signal);
  }

  /**
   * Renames a dataset aside (kept). Where the rename may not unmount it (an account with `zfs
   * allow` delegation on Linux), renames it with `-u`: it then stays mounted where it was until
   * root remounts it. Resolves with whether that happened; the first error when neither works.
   */
  async renameAside(from: string, to: string, signal?: AbortSignal): Promise<{ stillMounted: boolean }> {
    try {
      await this.rename(from, to, signal);
      return { stillMounted: false };
    } catch (err) {
      if (!(err instanceof BackupError) || err.code !== "ZFS_PERMISSION") throw err;
      const argv = renameArgs(from, to, true);
      const r = await this.runner.run(argv, { signal });
      if (r.code !== 0) throw err;
      return { stillMounted: true };
    }
  }

  /** Whether a filesystem is mounted; null where this host's guard does not let the question through. */
  async mounted(dataset: string, signal?: AbortSignal): Promise<boolean | null> {
    const r = await this.runAccepting(mountedArgs(dataset), "GUARD_REJECTED", signal);
    if (r.code !== 0) return null;
    return r.stdout.split("\n").some((l) => l === `${dataset}\tmounted\tyes`);
  }

  /** Runs argv, retrying for a few seconds while ZFS says busy; a failure `accepted` matches is done. */
  private async retryBusy(argv: string[], accepted: Accepted[], signal?: AbortSignal): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.runAccepting(argv, attempt < 15 ? [...accepted, "ZFS_BUSY"] : accepted, signal);
      if (r.code === 0 || accepted.some((a) => accepts(a, r.stderr))) return;
      await new Promise((res) => setTimeout(res, 400)); // busy: again in a moment
    }
  }

  /** Clones `snapshot` (dataset@name) as `clone` with the given properties. */
  async clone(snapshot: string, clone: string, props: Array<[string, string]>, signal?: AbortSignal): Promise<void> {
    await this.runChecked(cloneArgs(snapshot, clone, props), signal);
  }

  /** Creates a plain dataset with the given properties. */
  async create(dataset: string, props: Array<[string, string]>, signal?: AbortSignal): Promise<void> {
    await this.runChecked(createArgs(dataset, props), signal);
  }

  /**
   * Destroys one dataset without children or snapshots, retrying a few times while ZFS calls it
   * busy (a clone just unmounted). A dataset already gone is fine.
   */
  /**
   * Destroys `clone`, a dataset bzman cloned, and nothing else: the only way bzman destroys a
   * dataset. Refuses (before unmounting anything) unless `mark` is set on it locally (an
   * inherited value marks an operator's dataset inside bzman's), it is a clone (has an origin),
   * and it has no children or snapshots of its own. Then unmounts and destroys it.
   */
  async destroyOwnClone(clone: string, mark: string, signal?: AbortSignal): Promise<void> {
    const own = (await this.properties(mark, [clone], signal, { localOnly: true })).get(clone)?.[mark];
    const origin = (await this.properties("origin", [clone], signal)).get(clone)?.origin;
    if (origin === undefined) throw new BackupError("ZFS_DATASET_MISSING", `${this.where}:${clone} does not exist`);
    if (!own || own === "-" || origin === "-") {
      throw new BackupError(
        "UNSAFE_ARGUMENT",
        `${this.where}:${clone} is not a clone bzman made (no ${mark} set on it); it is left alone`,
      );
    }
    const below = [...(await this.list([clone], { signal })).listing.entries()];
    const children = below.map(([n]) => n).filter((n) => n !== clone);
    const snapshots = below.find(([n]) => n === clone)?.[1].snapshots.length ?? 0;
    if (children.length > 0 || snapshots > 0) {
      throw new BackupError(
        "UNSAFE_ARGUMENT",
        `${this.where}:${clone} holds ${children.length > 0 ? `datasets bzman did not make (${children.join(", ")})` : `${snapshots} snapshot(s)`}; it is left alone, with them`,
      );
    }
    await this.mount(clone, false, signal);
    await this.retryBusy(destroyDatasetArgs(clone), ["ZFS_DATASET_MISSING"], signal);
  }

  /** `zfs set property=value dataset`. */
  async set(property: string, value: string, dataset: string, signal?: AbortSignal): Promise<void> {
    await this.runChecked(setArgs(property, value, dataset), signal);
  }

  /** `zfs inherit property dataset`. */
  async inherit(property: string, dataset: string, signal?: AbortSignal): Promise<void> {
    await this.runChecked(inheritArgs(property, dataset), signal);
  }

  /** Mounts (true) or unmounts (false) a dataset; already in that state is fine. */
  async mount(dataset: string, mount: boolean, signal?: AbortSignal): Promise<void> {
    await this.runAccepting(mountArgs(dataset, mount), /already mounted|not currently mounted|not mounted/, signal);
  }

  /** Starts a scrub of `pool`; one already running is fine. */
  async scrub(pool: string, signal?: AbortSignal): Promise<void> {
    await this.runAccepting(scrubArgs(pool), /currently scrubbing|scrub.*in progress/i, signal);
  }

  /** The scrub state and error counts of `pool`. */
  async scrubStatus(pool: string, signal?: AbortSignal): Promise<ScrubState> {
    return parseScrubStatus(await this.runChecked(zpoolStatusArgs(pool), signal), pool);
  }
}
