// bzman against syncoid on the same rig: zfs-fuse pools and the loopback sshd, a root with
// BENCH_SYNCOID_DATASETS children (default 50, so 51 datasets with the root), small files in
// each. Three passes a round, each tool into its own target: the initial full, a pass where every
// dataset has a new snapshot, and a pass with nothing new. `bzman run --no-snapshot --no-prune`
// (the built dist/, the config keys' defaults) against `syncoid -r --no-sync-snap` (Debian's
// sanoid package), whole process, medians of BENCH_SYNCOID_ROUNDS rounds (default 3), which tool
// goes first alternating. Commands are counted per side by `zfs`/`zpool` wrappers: the local ones
// first on PATH for both tools, the source's as the guard's `--zfs`/`--zpool` (installed by
// install-source.sh) for bzman and first on PATH of syncoid's forced command. Syncoid 2.1 asks
// `zfs get -t snapshot|bookmark`, which zfs-fuse lacks: the wrappers drop `-t snapshot` (syncoid
// keeps only the `name@snap` lines) and answer `-t bookmark` with nothing, as a ZFS without
// bookmarks does. Needs root, zfs-fuse, sshd and syncoid.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { makeKey } from "../server/sandbox/sshd.ts";
import { startRig } from "../server/sandbox/rig.ts";
import { must } from "../server/sandbox/zfs-pools.ts";
import { LocalRunner } from "../server/zfs/runner.ts";

const CHILDREN = Number(process.env.BENCH_SYNCOID_DATASETS ?? 50);
const ROUNDS = Number(process.env.BENCH_SYNCOID_ROUNDS ?? 3);
/** `max_transfers` and `max_transfers_per_source` for bzman (default: the config's defaults). */
const TRANSFERS = process.env.BENCH_SYNCOID_TRANSFERS ? Number(process.env.BENCH_SYNCOID_TRANSFERS) : undefined;
const local = new LocalRunner();
const run = promisify(execFile);
const MAIN = new URL("../dist/server/main.js", import.meta.url).pathname;
const PASSES = ["full", "all changed", "nothing new"] as const;
type Pass = (typeof PASSES)[number];
type Tool = "bzman" | "syncoid";

/** One tool's pass: wall time of the whole process and the zfs/zpool commands on each side. */
interface Sample {
  seconds: number;
  local: number;
  source: number;
}

/** Writes a counting wrapper of `real` at `path`, logging each call to `log`. */
function wrapper(path: string, real: string, log: string): void {
  const zfsGet = real.endsWith("/zfs")
    ? [
        'if [ "$1" = get ]; then',
        '  for a in "$@"; do case $a in bookmark) exit 0 ;; esac; done',
        '  n=$#; i=0; t=""',
        '  for a in "$@"; do',
        "    i=$((i + 1))",
        '    if [ "$t" = 1 ]; then t=""; [ "$a" = snapshot ] && continue; set -- "$@" -t; fi',
        '    if [ "$a" = -t ]; then t=1; continue; fi',
        '    set -- "$@" "$a"',
        "  done",
        '  shift "$n"',
        "fi",
      ]
    : [];
  writeFileSync(path, ["#!/bin/sh", `echo "$0 $*" >> '${log}'`, ...zfsGet, `exec '${real}' "$@"`, ""].join("\n"));
  chmodSync(path, 0o755);
}

function logLines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
}

/** "zfs get: 51, zfs receive: 51, …" of the wrapper's lines (the command and its subcommand). */
function tally(calls: string[]): string {
  const n = new Map<string, number>();
  for (const c of calls) {
    const [cmd, sub] = c.split(" ");
    const key = `${cmd!.slice(cmd!.lastIndexOf("/") + 1)} ${sub ?? ""}`.trim();
    n.set(key, (n.get(key) ?? 0) + 1);
  }
  return [...n].map(([k, v]) => `${k} ${v}`).join(", ");
}

/** Runs argv to its end with `env` (a failed exit throws with its stderr); returns the seconds it took. */
async function timed(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run(argv[0]!, argv.slice(1), { env, maxBuffer: 64 * 1024 * 1024 }).catch((e: Error & { stderr?: string }) => {
    throw new Error(`${argv.join(" ")}: ${e.message}\n${String(e.stderr ?? "").slice(-3000)}`);
  });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** name -> guid of every snapshot below `root`, names relative to it. */
async function snapshotGuids(root: string): Promise<Map<string, string>> {
  const out = await must(["zfs", "get", "-H", "-p", "-o", "name,value", "guid", "-r", root]);
  const m = new Map<string, string>();
  for (const line of out.split("\n")) {
    const [name, guid] = line.split("\t");
    if (name?.includes("@")) m.set(name.slice(root.length), guid!);
  }
  return m;
}

async function main(): Promise<void> {
  const build = await local.run(["npx", "tsc", "-p", new URL("../tsconfig.build.json", import.meta.url).pathname]);
  if (build.code !== 0) throw new Error(`build: ${build.stdout}${build.stderr}`);
  const syncoid = ["/usr/sbin/syncoid", "/usr/bin/syncoid"].find((p) => existsSync(p));
  if (!syncoid) throw new Error("syncoid not found: apt-get install sanoid");
  const realZfs = (await must(["sh", "-c", "command -v zfs"])).trim();
  const realZpool = (await must(["sh", "-c", "command -v zpool"])).trim();
  const work = (await must(["mktemp", "-d", "/tmp/bzman-bench-syncoid-XXXXXX"])).trim();
  const [localBin, sourceBin] = [join(work, "local-bin"), join(work, "source-bin")];
  const [localLog, sourceLog] = [join(work, "local.log"), join(work, "source.log")];
  for (const [dir, log] of [
    [localBin, localLog],
    [sourceBin, sourceLog],
  ] as const) {
    mkdirSync(dir);
    wrapper(join(dir, "zfs"), realZfs, log);
    wrapper(join(dir, "zpool"), realZpool, log);
  }
  const rig = await startRig({
    name: "bsy",
    poolSizeMiB: 512,
    installArgs: [
      "--guard-option",
      `--zfs ${join(sourceBin, "zfs")}`,
      "--guard-option",
      `--zpool ${join(sourceBin, "zpool")}`,
    ],
  }).catch(async (e: unknown) => {
    await must(["rm", "-rf", work]);
    throw e;
  });
  try {
    // syncoid's key: any command, run by sh with the source's wrappers first on PATH.
    const forced = join(work, "syncoid-forced.sh");
    writeFileSync(forced, `#!/bin/sh\nPATH='${sourceBin}':$PATH\nexport PATH\nexec sh -c "$SSH_ORIGINAL_COMMAND"\n`);
    chmodSync(forced, 0o755);
    const syncoidKey = join(work, "id_syncoid");
    const pub = (await makeKey(syncoidKey, "syncoid")).trim();
    appendFileSync(rig.authorizedKeys, `command="${forced}" ${pub}\n`);
    const env = { ...process.env, PATH: `${localBin}:${process.env.PATH}` };
    const samples: Record<Tool, Record<Pass, Sample[]>> = {
      bzman: { full: [], "all changed": [], "nothing new": [] },
      syncoid: { full: [], "all changed": [], "nothing new": [] },
    };
    const calls: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const root = `${rig.sourcePool}/r${round}`;
      const datasets = [root, ...Array.from({ length: CHILDREN }, (_, i) => `${root}/d${String(i).padStart(3, "0")}`)];
      for (const ds of datasets) await must(["zfs", "create", ds]);
      const write = (tag: string): void => {
        for (const ds of datasets)
          writeFileSync(join(rig.sourceMount, ds.slice(rig.sourcePool.length), `${tag}.bin`), randomBytes(16 * 1024));
      };
      write("a");
      await must(["zfs", "snapshot", "-r", `${root}@s1`]);
      const bzTarget = `${rig.backupPool}/bz${round}`;
      const syTarget = `${rig.backupPool}/sy${round}`;
      await must(["zfs", "create", syTarget]);
      const config = rig.writeConfig({
        target: bzTarget,
        datasets: [{ name: root, recursive: true }],
        ...(TRANSFERS ? { max_transfers_per_source: TRANSFERS } : {}),
      });
      if (TRANSFERS) {
        const yaml = readFileSync(config, "utf8");
        writeFileSync(config, `max_transfers: ${TRANSFERS}\n${yaml}`);
      }
      const runs: Record<Tool, () => Promise<number>> = {
        bzman: () =>
          timed([process.execPath, MAIN, "--config", config, "run", "--no-snapshot", "--no-prune", "--json"], env),
        syncoid: () =>
          timed(
            [
              syncoid,
              "-r",
              "--no-sync-snap",
              "--quiet",
              `--sshkey=${syncoidKey}`,
              `--sshport=${rig.sshd.port}`,
              "--sshoption=StrictHostKeyChecking=no",
              `--sshoption=UserKnownHostsFile=${join(work, "known_hosts")}`,
              `root@127.0.0.1:${root}`,
              `${syTarget}/r${round}`,
            ],
            env,
          ),
      };
      const order: Tool[] = round % 2 === 0 ? ["bzman", "syncoid"] : ["syncoid", "bzman"];
      for (const pass of PASSES) {
        if (pass === "all changed") {
          write("b");
          await must(["zfs", "snapshot", "-r", `${root}@s2`]);
        }
        for (const tool of order) {
          const [l0, s0] = [logLines(localLog).length, logLines(sourceLog).length];
          const seconds = await runs[tool]();
          const [l, s] = [logLines(localLog).slice(l0), logLines(sourceLog).slice(s0)];
          samples[tool][pass].push({ seconds, local: l.length, source: s.length });
          if (round === ROUNDS - 1) calls.push(`${tool}, ${pass}: source: ${tally(s)}; local: ${tally(l)}`);
        }
        // Both backups hold every snapshot of the source, by GUID.
        const want = await snapshotGuids(root);
        for (const got of [await snapshotGuids(`${bzTarget}/${root}`), await snapshotGuids(`${syTarget}/r${round}`)]) {
          const missing = [...want].filter(([k, v]) => got.get(k) !== v);
          if (missing.length || got.size !== want.size)
            throw new Error(`${pass}: a backup differs from ${root}: ${missing.length} of ${want.size} missing`);
        }
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const target: Record<Pass, number> = { full: 3, "all changed": 10, "nothing new": 10 };
    let out = `bzman vs syncoid on zfs-fuse over the loopback sshd: ${CHILDREN + 1} datasets, median of ${ROUNDS}\n`;
    out +=
      "| pass | bzman | syncoid | syncoid / bzman | goal | zfs commands, source: bzman / syncoid | local: bzman / syncoid |\n";
    out += "|---|---|---|---|---|---|---|\n";
    for (const pass of PASSES) {
      const [b, s] = [samples.bzman[pass], samples.syncoid[pass]];
      const [bt, st] = [median(b.map((x) => x.seconds)), median(s.map((x) => x.seconds))];
      out +=
        `| ${pass} | ${bt.toFixed(2)} s | ${st.toFixed(2)} s | ${(st / bt).toFixed(1)}x | >= ${target[pass]}x ` +
        `| ${median(b.map((x) => x.source))} / ${median(s.map((x) => x.source))} ` +
        `| ${median(b.map((x) => x.local))} / ${median(s.map((x) => x.local))} |\n`;
    }
    out += `each round's times, bzman / syncoid: ${PASSES.map(
      (p) =>
        `${p}: ${samples.bzman[p].map((x, i) => `${x.seconds.toFixed(2)}/${samples.syncoid[p][i]!.seconds.toFixed(2)}`).join(" ")}`,
    ).join("; ")}\n`;
    out += `the last round's commands:\n${calls.map((c) => `  ${c}\n`).join("")}`;
    process.stdout.write(out);
  } finally {
    await rig.cleanup();
    await must(["rm", "-rf", work]);
  }
}

await main();
