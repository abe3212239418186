// A complete sandbox on one machine: a "source" pool and a "backup" pool on files (zfs-fuse),
// a private sshd on loopback as the source host, bzman's keys installed there by the shipped
// source-hooks/install-source.sh, and a config pointing at them. Used by `bzman demo` and by the
// integration tests; cleans up everything it made.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { ensureZfsDaemon, createFilePool, destroyPool, must, uniqueSuffix, type ZfsDaemon } from "./zfs-pools.ts";
import { makeKey, startSshd, type Sshd } from "./sshd.ts";
import { BackupError } from "../errors.ts";

/** A file shipped in source-hooks/ (found from the sources or from the built dist/). */
function sourceHook(name: string): string {
  return (
    [new URL(`../../source-hooks/${name}`, import.meta.url), new URL(`../../../source-hooks/${name}`, import.meta.url)]
      .map((u) => fileURLToPath(u))
      .find((p) => existsSync(p)) ?? fileURLToPath(new URL(`../../source-hooks/${name}`, import.meta.url))
  );
}

/** The source guard shipped in source-hooks/. */
export const GUARD = sourceHook("bzman-guard");

/** The source installer shipped in source-hooks/. */
export const INSTALL_SOURCE = sourceHook("install-source.sh");

/** The comment of bzman's keys, as deploy/install.sh writes it (the installer reads the instance from it). */
export const KEY_COMMENT = `bzman@${hostname()}`;

/**
 * Runs install-source.sh for root (zfs-fuse cannot delegate, so the source account is root, as
 * the README says for such hosts) with the guard below `prefix`. root's home is bound to `home`
 * in a private mount namespace, so the key line lands in `home/.ssh/authorized_keys` (which the
 * rig's sshd reads) and the machine's own /root stays untouched. Returns what it printed.
 */
async function installForRoot(home: string, prefix: string, args: string[]): Promise<string> {
  mkdirSync(home, { recursive: true });
  return must([
    "unshare",
    "-m",
    "sh",
    "-c",
    'mount --bind "$1" /root && shift && exec sh "$@"',
    "sh",
    home,
    INSTALL_SOURCE,
    "--as-root",
    "--prefix",
    prefix,
    ...args,
  ]);
}

/** Options of a rig. */
export interface RigOptions {
  /** Prefix of the pool names (a unique suffix is added). */
  name?: string;
  /**
   * Extra install-source.sh arguments for bzman's key (the rig always gives `--key`, `--root
   * POOL`, `--as-root`, its `--prefix`, and the guard option `--hook "zfs set bzman:flushed=yes
   * POOL"` for the hook tests).
   */
  installArgs?: string[];
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
  /** The source's authorized_keys, as install-source.sh wrote it (sshd reads it). */
  authorizedKeys: string;
  /**
   * Another receiver's key for this source: made with the comment `bzman@<host>` (the installer
   * reads the instance from it) and installed like the first, with `extra` installer arguments.
   * Returns the private key's path.
   */
  installKey(host: string, extra?: string[]): Promise<string>;
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
    if (errors.length) throw new BackupError("SANDBOX", `cleanup: ${errors.join("; ")}`);
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
    const pub = await makeKey(identity, KEY_COMMENT);
    const restoreIdentity = join(dir, "id_restore");
    const restorePub = await makeKey(restoreIdentity, KEY_COMMENT.replace(/^bzman@/, "bzman-restore@"));
    // Both keys installed as an operator installs them (README: "Setting up a source").
    const home = join(dir, "source-root-home");
    const prefix = join(dir, "source-usr-local");
    await installForRoot(home, prefix, [
      "--key",
      pub,
      "--root",
      sourcePool,
      "--guard-option",
      `--hook 'zfs set bzman:flushed=yes ${sourcePool}'`,
      ...(opts.installArgs ?? []),
    ]);
    await installForRoot(home, prefix, [
      "--key",
      restorePub,
      "--restore",
      ...(opts.restoreRoots ?? [""]).flatMap((r) => ["--root", r ? `${sourcePool}/${r}` : sourcePool]),
    ]);
    const authorizedKeys = join(home, ".ssh", "authorized_keys");
    const sshd = await startSshd(join(dir, "sshd"), authorizedKeys);
    const installKey = async (host: string, extra: string[] = []): Promise<string> => {
      const key = join(dir, `id_${host}`);
      const keyPub = await makeKey(key, `bzman@${host}`);
      await installForRoot(home, prefix, ["--key", keyPub, "--root", sourcePool, ...extra]);
      return key;
    };
    undo.push(() => sshd.stop());
    const sourceName = "src1";
    return {
      dir,
      sourcePool,
      backupPool,
      sourceMount: src.mountpoint,
      identity,
      restoreIdentity,
      sshd,
      authorizedKeys,
      installKey,
      sourceName,
      cleanup,
      release: () => {
        sshd.release();
        daemon.release();
      },
      writeConfig(source = {}, file = join(dir, "bzman.yaml")) {
        const config = {
          state: join(dir, "state.json"),
          http: { listen: "" },
          sources: [
            {
              name: sourceName,
              host: "127.0.0.1",
              port: sshd.port,
              user: "root",
              identity,
              restore_identity: restoreIdentity,
              host_key: sshd.hostKey,
              target: `${backupPool}/${sourceName}`,
              datasets: [{ name: sourcePool, recursive: true }],
              ...source,
            },
          ],
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
