// zfs-fuse for sandboxes: reuse the machine's daemon or start one (and stop only that one), and
// pools on files with unique names that are destroyed again.

import { mkdirSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { LocalRunner } from "../zfs/runner.ts";
import { startDaemon, type Daemon } from "./daemon.ts";
import { BackupError } from "../errors.ts";

const runner = new LocalRunner();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The zfs daemon in use; `stop` ends it only if this process started it. */
export interface ZfsDaemon {
  startedHere: boolean;
  stop(): Promise<void>;
  /** Leaves a daemon started here running after this process exits. */
  release(): void;
}

/** True when `zpool list` answers (a ZFS is running). */
export async function zfsAnswers(): Promise<boolean> {
  try {
    return (await runner.run(["zpool", "list", "-H", "-o", "name"])).code === 0;
  } catch {
    return false;
  }
}

/** Reuses a running ZFS or starts zfs-fuse, waiting until it answers. */
export async function ensureZfsDaemon(logDir: string): Promise<ZfsDaemon> {
  if (await zfsAnswers()) return { startedHere: false, stop: async () => {}, release: () => {} };
  mkdirSync("/var/run/zfs", { recursive: true });
  mkdirSync("/var/lock/zfs", { recursive: true });
  const d: Daemon = startDaemon(["zfs-fuse", "--no-daemon"], join(logDir, "zfs-fuse.log"));
  for (let i = 0; i < 100; i++) {
    if (await zfsAnswers()) return { startedHere: true, stop: () => d.stop(10_000), release: () => d.release() };
    await sleep(150);
  }
  await d.stop();
  throw new BackupError("SANDBOX", `zfs-fuse did not answer within 15 s (log: ${join(logDir, "zfs-fuse.log")})`);
}

/** Runs a command that must succeed. */
export async function must(argv: string[]): Promise<string> {
  const r = await runner.run(argv);
  if (r.code !== 0)
    throw new BackupError("SANDBOX", `${argv.join(" ")} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Creates pool `name` on a sparse file in `dir`, mounted below `dir/mnt` (never at /name). */
export async function createFilePool(
  name: string,
  dir: string,
  sizeMiB = 128,
): Promise<{ vdev: string; mountpoint: string }> {
  const vdev = join(dir, `${name}.img`);
  const f = await open(vdev, "w");
  await f.truncate(sizeMiB * 1024 * 1024);
  await f.close();
  const mountpoint = join(dir, "mnt", name);
  mkdirSync(mountpoint, { recursive: true });
  await must(["zpool", "create", "-m", mountpoint, name, vdev]);
  return { vdev, mountpoint };
}

/** Destroys a pool, retrying while zfs-fuse still calls it busy; ignores a pool already gone. */
export async function destroyPool(name: string): Promise<void> {
  for (let i = 0; ; i++) {
    const r = await runner.run(["zpool", "destroy", "-f", name]);
    if (r.code === 0 || /no such pool/.test(r.stderr)) return;
    if (i >= 20) throw new BackupError("SANDBOX", `zpool destroy ${name}: ${r.stderr.trim()}`);
    await sleep(300);
  }
}

/** A short random suffix for unique pool names. */
export function uniqueSuffix(): string {
  return `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** Unmounts and destroys a dataset (with `recursive`, its children and snapshots too), retrying
 * while zfs-fuse still calls it busy. */
export async function destroyDataset(name: string, opts: { recursive?: boolean } = {}): Promise<void> {
  for (let i = 0; ; i++) {
    await runner.run(["zfs", "unmount", "-f", name]);
    const r = await runner.run(["zfs", "destroy", ...(opts.recursive ? ["-r"] : []), name]);
    if (r.code === 0 || /does not exist/.test(r.stderr)) return;
    if (i >= 30) throw new BackupError("SANDBOX", `zfs destroy ${name}: ${r.stderr.trim()}`);
    await sleep(300);
  }
}
