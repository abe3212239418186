// The restore drill: proves a backup can be restored. It picks a random recent backup snapshot
// that the source still has (same GUID), compares `referenced` on both sides, clones it on the
// backup host, checks the clone mounts, reads every file in it (so ZFS verifies every block's
// checksum), and destroys the clone again, whatever happened. The verdict is decided in core.

import { opendir, open } from "node:fs/promises";
import { join } from "node:path";
import { drillCandidates, drillProblems, pickDrill, type DrillCandidate, type DrillMeasure } from "../core/restore.ts";
import { RESTORE_CONTAINER, poolOf, snapshotPath, sourceFor, utcStamp } from "../core/naming.ts";
import { BackupError } from "../errors.ts";
import { DRILL_PROPERTIES } from "../zfs/args.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { cloneSnapshot, destroyClone } from "./restore.ts";

/** What a drill is asked to do. */
export interface DrillRequest {
  source: string;
  targetRoot: string;
  /** The source's replicated roots (listed once). */
  roots: string[];
  /** Choose among this many newest backup snapshots per dataset. */
  recent: number;
  /** In [0, 1): which candidate (injected so tests can choose). */
  random: number;
  nowMs: number;
  /** An empty directory to mount the clone on. */
  mountpoint: string;
  /** Files and bytes an earlier drill counted in the same snapshot (by GUID), if any. */
  previous?: (guid: string) => { files: number; bytes: number } | undefined;
}

/** What a drill found. */
export interface DrillOutcome {
  checked: DrillCandidate;
  clone: string;
  measure: DrillMeasure;
  /** Empty: the backup snapshot is restorable and complete. */
  problems: string[];
}

/** Reads every regular file below `dir` to the end; counts files and bytes; collects read errors. */
export async function readTree(
  dir: string,
  signal?: AbortSignal,
): Promise<{ files: number; bytes: number; unreadable: Array<{ path: string; error: string }> }> {
  const out = { files: 0, bytes: 0, unreadable: [] as Array<{ path: string; error: string }> };
  const buf = Buffer.allocUnsafe(1 << 20);
  const walk = async (d: string): Promise<void> => {
    for await (const e of await opendir(d)) {
      if (signal?.aborted) throw new BackupError("ABORTED", "the drill was stopped");
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        out.files++;
        try {
          const fh = await open(p, "r");
          try {
            for (;;) {
              const { bytesRead } = await fh.read(buf, 0, buf.length, null);
              if (bytesRead === 0) break;
              out.bytes += bytesRead;
            }
          } finally {
            await fh.close();
          }
        } catch (err) {
          out.unreadable.push({
            path: p.slice(dir.length + 1),
            error: (err as NodeJS.ErrnoException).code ?? (err as Error).message,
          });
        }
      }
    }
  };
  await walk(dir);
  return out;
}

function referenced(
  props: Map<string, Record<string, string>>,
  snap: string,
  where: string,
): { guid: string; referenced: number } {
  const p = props.get(snap);
  const n = Number(p?.referenced);
  if (!p?.guid || !Number.isFinite(n)) throw new BackupError("ZFS_PARSE", `${where}: no guid/referenced for ${snap}`);
  return { guid: p.guid, referenced: n };
}

/** Runs one drill for a source. Throws only when no drill could be made (nothing to check, zfs failed). */
export async function runDrill(
  local: ZfsHost,
  remote: ZfsHost,
  req: DrillRequest,
  signal?: AbortSignal,
): Promise<DrillOutcome> {
  const [backup, src] = await Promise.all([
    local.list([req.targetRoot], { signal }),
    remote.list(req.roots, { signal }),
  ]);
  const candidates = drillCandidates(
    [...backup.listing.values()],
    src.listing,
    (t) => sourceFor(req.targetRoot, t),
    req.recent,
  );
  const checked = pickDrill(candidates, req.random);
  if (!checked)
    throw new BackupError(
      "ZFS_DATASET_MISSING",
      `${req.source}: no backup snapshot the source still has; nothing to drill (has a pass succeeded?)`,
    );
  const [s, b] = await Promise.all([
    remote.properties(DRILL_PROPERTIES, [snapshotPath(checked.dataset, checked.snapshot.name)], signal),
    local.properties(DRILL_PROPERTIES, [snapshotPath(checked.target, checked.snapshot.name)], signal),
  ]);
  const onSource = referenced(s, snapshotPath(checked.dataset, checked.snapshot.name), remote.where);
  const onBackup = referenced(b, snapshotPath(checked.target, checked.snapshot.name), "local");
  const clone = `${poolOf(req.targetRoot)}/${RESTORE_CONTAINER}/drill-${req.source}-${utcStamp(req.nowMs)}`;
  await cloneSnapshot(
    local,
    { dataset: checked.target, snapshot: checked.snapshot.name, clone, mountpoint: req.mountpoint, readonly: true },
    signal,
  );
  try {
    const mounted = (await local.properties("mounted", [clone], signal)).get(clone)?.mounted;
    if (mounted !== "yes")
      throw new BackupError(
        "ZFS_FAILED",
        `the clone ${clone} of ${checked.target}@${checked.snapshot.name} did not mount (mounted=${mounted ?? "?"})`,
      );
    const tree = await readTree(req.mountpoint, signal);
    const previous = req.previous?.(checked.snapshot.guid);
    const measure: DrillMeasure = {
      sourceReferenced: onSource.referenced,
      backupReferenced: onBackup.referenced,
      ...tree,
      ...(previous ? { previous } : {}),
    };
    const problems = drillProblems(measure);
    if (onSource.guid !== onBackup.guid)
      problems.unshift(`GUID ${onBackup.guid} on the backup, ${onSource.guid} on the source`);
    return { checked, clone, measure, problems };
  } finally {
    await destroyClone(local, clone).catch(() => destroyClone(local, clone));
  }
}
