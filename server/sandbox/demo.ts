// `bzman demo`: a sandbox with real ZFS and a real SSH source on this machine, replicated end to
// end (a full pull, then an incremental one with a new child dataset), verified, explained.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readConfig } from "../config/load.ts";
import { EXIT, type CliDeps } from "../cli/deps.ts";
import { runCommand, planCommand } from "../cli/run-command.ts";
import { statusCommand } from "../cli/status-command.ts";
import { ensurePackages } from "./host-parts.ts";
import { startRig, type Rig } from "./rig.ts";
import { destroyDataset, must } from "./zfs-pools.ts";
import { BackupError } from "../errors.ts";

/** Options of the demo. */
export interface DemoOptions {
  keep: boolean;
  signal: AbortSignal;
  deps: CliDeps;
}

const sha = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

async function populate(rig: Rig): Promise<void> {
  const p = rig.sourcePool;
  for (const ds of ["www", "db", "home", "home/alice"]) await must(["zfs", "create", `${p}/${ds}`]);
  writeFileSync(join(rig.sourceMount, "www", "index.html"), "<h1>hello from the source host</h1>\n");
  writeFileSync(join(rig.sourceMount, "db", "table.bin"), randomBytes(4 * 1024 * 1024));
  writeFileSync(join(rig.sourceMount, "home", "alice", "notes.txt"), "remember the milk\n");
  await must(["zfs", "snapshot", "-r", `${p}@demo_1`]);
}

async function change(rig: Rig): Promise<void> {
  const p = rig.sourcePool;
  writeFileSync(join(rig.sourceMount, "db", "journal.bin"), randomBytes(1024 * 1024));
  await must(["zfs", "snapshot", "-r", `${p}@demo_2`]);
  writeFileSync(join(rig.sourceMount, "home", "alice", "notes.txt"), "remember the milk\nand the eggs\n");
  await must(["zfs", "create", `${p}/logs`]);
  writeFileSync(join(rig.sourceMount, "logs", "app.log"), "started\n");
  await must(["zfs", "snapshot", "-r", `${p}@demo_3`]);
}

/** Mounts a clone of `snapshot` at a fresh directory, runs `f` on it, and destroys the clone. */
async function withClone<T>(rig: Rig, snapshot: string, cloneName: string, f: (mnt: string) => T): Promise<T> {
  const mnt = join(rig.dir, "mnt", cloneName.replaceAll("/", "_"));
  mkdirSync(mnt, { recursive: true });
  await must(["zfs", "clone", "-o", `mountpoint=${mnt}`, "-o", "readonly=on", snapshot, cloneName]);
  try {
    return f(mnt);
  } finally {
    await destroyDataset(cloneName);
  }
}

/** Compares a file of a snapshot on the source with the same file of the backed-up snapshot. */
async function verify(rig: Rig, dataset: string, file: string, snapshot: string): Promise<boolean> {
  const source = await withClone(rig, `${rig.sourcePool}/${dataset}@${snapshot}`, `${rig.sourcePool}/verify`, (m) =>
    sha(join(m, file)),
  );
  const backup = await withClone(
    rig,
    `${rig.backupPool}/${rig.sourceName}/${rig.sourcePool}/${dataset}@${snapshot}`,
    `${rig.backupPool}/verify`,
    (m) => sha(join(m, file)),
  );
  return source === backup;
}

/** Runs the demo; resolves with the exit code. */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = (s: string): void => void opts.deps.stdout.write(`${s}\n`);
  const say = (s: string): void => out(`\n\x1b[1m== ${s}\x1b[0m`);
  if (process.getuid?.() !== 0) {
    opts.deps.stderr.write("bzman demo: needs root (zfs-fuse pools and a private sshd); try: sudo npm run demo\n");
    return EXIT.USAGE;
  }
  say("Checking this machine's parts (zfs-fuse, openssh-server)");
  const installed = await ensurePackages(out);
  out(installed.length ? `installed: ${installed.join(", ")}` : "all present");

  say("Building the sandbox: two ZFS pools on files, a private sshd on 127.0.0.1 as the source host");
  const rig = await startRig({ name: "demo", poolSizeMiB: 256 });
  let ok = false;
  try {
    out(
      `source pool: ${rig.sourcePool} (mounted at ${rig.sourceMount})\nbackup pool: ${rig.backupPool}\nsource host: sshd pid ${rig.sshd.pid} on 127.0.0.1:${rig.sshd.port}, host key pinned in the config`,
    );
    await populate(rig);
    const configPath = rig.writeConfig();
    out(`config: ${configPath}\n${readFileSync(configPath, "utf8").trim().replace(/^/gm, "  ")}`);
    const loaded = await readConfig(configPath);
    if ("errors" in loaded) throw new BackupError("CONFIG_INVALID", loaded.errors.join("\n"));
    const config = loaded.config;

    say("Plan before the first pull (bzman plan): nothing on the backup yet, so full sends");
    await planCommand(config, undefined, false, opts.deps);
    say("First pull (bzman run): full streams over SSH, received unmounted and read-only");
    const first = await runCommand(config, undefined, opts.deps);

    say("Changing the source: new data, two more snapshots, a new child dataset (logs)");
    await change(rig);
    say("Second pull: incremental from the newest common snapshot (by GUID); the new child arrives in full");
    const second = await runCommand(config, undefined, opts.deps);

    say("What the backup pool holds now");
    out(
      (
        await must([
          "zfs",
          "list",
          "-t",
          "all",
          "-r",
          "-o",
          "name,used,readonly,mounted",
          `${rig.backupPool}/${rig.sourceName}`,
        ])
      ).trimEnd(),
    );
    say("The status (bzman status; GET /status of the daemon shows the same)");
    await statusCommand(config, false, opts.deps);
    say("Verifying: a clone of the backed-up snapshot has the same bytes as the source");
    const same =
      (await verify(rig, "home/alice", "notes.txt", "demo_3")) && (await verify(rig, "db", "table.bin", "demo_1"));
    out(
      same
        ? "home/alice/notes.txt@demo_3 and db/table.bin@demo_1: identical on source and backup"
        : "MISMATCH between source and backup",
    );
    ok = first === EXIT.OK && second === EXIT.OK && same;

    say(ok ? "Demo finished: replicated end to end" : "Demo finished WITH PROBLEMS (see above)");
    if (opts.keep) {
      rig.release();
      out(
        `The sandbox is left running (--keep). Look around with:\n  npx tsx server/main.ts --config ${configPath} plan\n` +
          `  npx tsx server/main.ts --config ${configPath} run\n  zfs list -t snapshot -r ${rig.backupPool}\n` +
          `To remove it:\n  kill ${rig.sshd.pid}; zpool destroy ${rig.sourcePool}; zpool destroy ${rig.backupPool}; rm -rf ${rig.dir}`,
      );
    } else {
      out("To keep the sandbox for a look around afterwards: npm run demo -- --keep");
    }
    return ok ? EXIT.OK : EXIT.FAILED;
  } finally {
    if (!opts.keep) {
      say("Cleaning up the sandbox (sshd, both pools, temp files)");
      await rig.cleanup();
      out("done");
    }
  }
}
