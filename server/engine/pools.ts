// Checking pools (the old bzman's -m and -c): health, size and capacity of the named pools on
// one host, as status entries. A pool that does not exist is reported as MISSING.

import type { PoolStatus } from "../core/status.ts";
import { toBackupError } from "../errors.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";

/** Status of each pool on `host` ("local" or a source name); a failed check is health "UNKNOWN". */
export async function checkPools(
  host: ZfsHost,
  hostLabel: string,
  pools: string[],
  now: () => Date,
  signal?: AbortSignal,
): Promise<PoolStatus[]> {
  const out: PoolStatus[] = [];
  for (const pool of [...new Set(pools)].sort()) {
    const checkedAt = now().toISOString();
    try {
      const s = await host.poolStatus(pool, signal);
      out.push(
        s
          ? {
              host: hostLabel,
              pool,
              health: s.health,
              sizeBytes: s.sizeBytes,
              freeBytes: s.freeBytes,
              capacity: s.capacity,
              checkedAt,
            }
          : { host: hostLabel, pool, health: "MISSING", sizeBytes: 0, freeBytes: 0, capacity: 0, checkedAt },
      );
    } catch (err) {
      out.push({
        host: hostLabel,
        pool,
        health: `UNKNOWN (${toBackupError(err).code})`,
        sizeBytes: 0,
        freeBytes: 0,
        capacity: 0,
        checkedAt,
      });
    }
  }
  return out;
}
