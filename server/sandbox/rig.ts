// A complete sandbox on one machine: a "source" pool and a "backup" pool on files (zfs-fuse),
// a private sshd on loopback as the source host, bzman's key, and a config pointing at them.
// Used by `bzman demo` and by the integration tests; cleans up everything it made.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { ensureZfsDaemon, createFilePool, destroyPool, uniqueSuffix, type ZfsDaemon } from "./zfs-pools.ts";
import { makeKey, startSshd, type Sshd } from "./sshd.ts";

/** The source guard shipped in source-hooks/ (found from the sources or from the built dist/). */
export const GUARD = [new URL("../../source-hooks/bzman-guard", import.meta.url), new URL("../../../source-hooks/bzman-guard", import.meta.url)]
  .map((u) => fileURLToPath(u)).find((p) => existsSync(p)) ?? fileURLToPath(new URL("../../source-hooks/bzman-guard", import.meta.url));

/** Options of a rig. */
export interface RigOptions {
  /** Prefix of the pool names (a unique suffix is added). */
  name?: string;
  /**
   * Options put in front of bzman's key in authorized_keys. Default: `restrict` and the source
   * guard as forced command, allowing the source pool and the hook `zfs set bzman:flushed=yes POOL`.
   */
  keyOptions?: string;
  /** Where the restore key may write, as paths below the source pool (default: the whole pool). */
  restoreRoots?: string[];
  poolSizeMiB?: number;
}

/** A running sandbox. */
export interface Rig {
  dir: string;
  sourcePool: string;
  backupPool: string;
  sourceMount: string;
  identity: string;
  /** The restore key: bound to the guard's --restore mode below `restoreRoots` (default the source pool). */
  restoreIdentity: string;
  sshd: Sshd;
  /** Source name used in configs written by {@link Rig.writeConfig}. */
  sourceName: string;
  /**
   * Writes a config for this rig and returns its path; `source` overrides keys of the source
   * entry (and `http`, which goes to the top level; default: no HTTP listener).
   */
  writeConfig(source?: Record<string, unknown>, file?: string): string;
  /** Leaves sshd and a zfs-fuse started here running when this process exits. */
  release(): void;
  /** Stops sshd, destroys both pools, stops zfs-fuse if the rig started it, removes the directory. */
  cleanup(): Promise<void>;
}

/** Starts a rig. On failure, whatever was started is cleaned up again. */
export async function startRig(opts: RigOptions = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), "bzman-rig-"));
  const suffix = uniqueSuffix();
  const sourcePool = `${opts.name ?? "bz"}src${suffix}`;
  const backupPool = `${opts.name ?? "bz"}bak${suffix}`;
  const undo: Array<() => Promise<void>> = [async () => rmSync(dir, { recursive: true, force: true })];
  const cleanup = async (): Promise<void> => {
    const errors: string[] = [];
    for (const f of undo.splice(0).reverse()) await f().catch((e: Error) => errors.push(e.message));
    if (errors.length) throw new Error(`cleanup: ${errors.join("; ")}`);
  };
  try {
    const daemon: ZfsDaemon = await ensureZfsDaemon(dir);
    undo.push(() => daemon.stop());
    const size = opts.poolSizeMiB ?? 128;
    const src = await createFilePool(sourcePool, dir, size);
    undo.push(() => destroyPool(sourcePool));
    await createFilePool(backupPool, dir, size);
    undo.push(() => destroyPool(backupPool));
    const identity = join(dir, "id_ed25519");
    const pub = await makeKey(identity, "bzman-sandbox-client");
    const guard = `/bin/sh ${GUARD} --root ${sourcePool} --hook 'zfs set bzman:flushed=yes ${sourcePool}'`;
    const keyOptions = opts.keyOptions ?? `restrict,command="${guard}"`;
    const restoreIdentity = join(dir, "id_restore");
    const restorePub = await makeKey(restoreIdentity, "bzman-sandbox-restore");
    const restoreGuard = `/bin/sh ${GUARD} --restore ${(opts.restoreRoots ?? [""]).map((r) => `--root ${r ? `${sourcePool}/${r}` : sourcePool}`).join(" ")}`;
    const sshd = await startSshd(join(dir, "sshd"), [`${keyOptions} ${pub}`, `restrict,command="${restoreGuard}" ${restorePub}`]);
    undo.push(() => sshd.stop());
    const sourceName = "src1";
    return {
      dir, sourcePool, backupPool, sourceMount: src.mountpoint, identity, restoreIdentity, sshd, sourceName, cleanup,
      release: () => (sshd.release(), daemon.release()),
      writeConfig(source = {}, file = join(dir, "bzman.yaml")) {
        const config = {
          state: join(dir, "state.json"),
          http: { listen: "" },
          sources: [{
            name: sourceName, host: "127.0.0.1", port: sshd.port, user: "root", identity, restore_identity: restoreIdentity, host_key: sshd.hostKey,
            target: `${backupPool}/${sourceName}`, datasets: [{ name: sourcePool, recursive: true }], ...source,
          }],
        } as Record<string, unknown>;
        if (source.http) {
          config.http = source.http;
          delete (config.sources as Array<Record<string, unknown>>)[0]!.http;
        }
        writeFileSync(file, stringify(config));
        return file;
      },
    };
  } catch (err) {
    await cleanup().catch(() => {});
    throw err;
  }
}
