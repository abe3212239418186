// Scrubs of the backup pools: start `zpool scrub`, follow `zpool status` until it ends, and report
// what it found. A scrub that reports errors, or a pool with data errors, means backups are damaged.

import { BackupError } from "../errors.ts";
import type { ScrubState } from "../zfs/parse.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";

/** Starts a scrub of `pool` and resolves with its final state once it has finished or stopped. */
export async function scrubPool(
  local: ZfsHost,
  pool: string,
  opts: { pollMs: number; signal?: AbortSignal; onProgress?: (s: ScrubState) => void },
): Promise<ScrubState> {
  await local.scrub(pool, opts.signal);
  for (;;) {
    const s = await local.scrubStatus(pool, opts.signal);
    if (s.state !== "running") return s;
    opts.onProgress?.(s);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, opts.pollMs);
      opts.signal?.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          reject(new BackupError("ABORTED", `stopped following the scrub of ${pool} (it goes on in ZFS)`));
        },
        { once: true },
      );
    });
  }
}

/** The problems a scrub result shows; empty when the pool is clean. */
export function scrubProblems(pool: string, s: ScrubState): string[] {
  const out: string[] = [];
  if (s.state === "canceled") out.push(`the scrub of ${pool} was canceled before it finished`);
  if (s.errors !== null && s.errors > 0) out.push(`the scrub of ${pool} found ${s.errors} error(s)`);
  if (s.dataErrors > 0)
    out.push(`${pool} has ${s.dataErrors} file(s) with permanent data errors (zpool status -v ${pool})`);
  else if (s.checksumErrors > 0) out.push(`${pool} counted ${s.checksumErrors} checksum error(s)`);
  return out;
}
