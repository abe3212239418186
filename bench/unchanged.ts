// Unchanged source on real OpenZFS 2.3 (the QEMU guest of test/openzfs/): the daemon (built
// `dist/`, `bzman serve`) passing over 100 datasets nothing writes to, three ways in one run:
//   snapshot  skip_unchanged off: each pass snapshots, lists and sends every dataset (the default);
//   written   skip_unchanged on, the source's zfs without snapshots_changed (a guard wrapper
//             refuses the property as OpenZFS 2.1 does): no snapshot, but every pass lists;
//   changed   skip_unchanged on, snapshots_changed used: the pass reuses its last listing.
// Per way: the median pass time (the record's phases from connect to prune; the daemon's pool
// checks after a pass are left out, they are the same in every way) and its whole time
// (phases.total), and the zfs commands per pass on each side, counted by wrappers the guard and
// the backup's zfs run. The default way's passes take minutes here (the guest is emulated), so
// it runs 3 of them; the others BENCH_UNCHANGED_PASSES (default 5).
// Ratios against `changed`. Needs root, QEMU and the built 2.3 guest (test/openzfs/run.sh build).

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { startGuest, type Guest } from "../test/openzfs/guest.ts";
import { LocalRunner } from "../server/zfs/runner.ts";

const N = Number(process.env.BENCH_UNCHANGED_DATASETS ?? 100);
const PASSES = Number(process.env.BENCH_UNCHANGED_PASSES ?? 5);
const MAIN = new URL("../dist/server/main.js", import.meta.url).pathname;

interface Way {
  name: "snapshot" | "written" | "changed";
  config: string;
}

interface Measured {
  name: string;
  medianMs: number;
  totalMs: number;
  source: number;
  backup: number;
  snapshotsAdded: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Runs the daemon until `warm + PASSES` passes ended; the measured passes' times and commands. */
async function measure(
  g: Guest,
  way: Way,
  localLog: string,
  localBin: string,
  warm: number,
  passes: number,
): Promise<Measured> {
  const snapshots = async (): Promise<number> =>
    (await g.admin(["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r", "src/fleet"]))
      .split("\n")
      .filter(Boolean).length;
  const remoteLines = async (): Promise<number> =>
    (await g.admin(["sh", "-c", "cat /tmp/bzman-zfs.log 2>/dev/null || true"])).split("\n").filter(Boolean).length;
  const localLines = (): number => readFileSync(localLog, "utf8").split("\n").filter(Boolean).length;
  const child = spawn(process.execPath, [MAIN, "--config", way.config, "serve"], {
    env: { ...process.env, PATH: `${localBin}:${g.bin}:${process.env.PATH}` },
  });
  let out = "";
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
  const phases = (): Array<Record<string, number>> =>
    [...out.matchAll(/"phases":(\{[^}]*\}),"msg":"pass succeeded"/g)].map(
      (m) => JSON.parse(m[1]!) as Record<string, number>,
    );
  const totals = (): number[] => phases().map((p) => p.total!);
  const work = (p: Record<string, number>): number =>
    ["connect", "snapshot", "list", "plan", "transfer", "prune"].reduce((a, k) => a + (p[k] ?? 0), 0);
  const failed = (): boolean => /"msg":"pass FAILED"/.test(out);
  const waitPasses = async (n: number): Promise<void> => {
    const end = Date.now() + 30 * 60_000;
    while (totals().length < n) {
      if (failed()) throw new Error(`${way.name}: a pass failed:\n${out.slice(-4000)}`);
      if (Date.now() > end) throw new Error(`${way.name}: ${n} passes did not end in 30 min`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    await waitPasses(warm);
    const [r0, l0, s0] = [await remoteLines(), localLines(), await snapshots()];
    await waitPasses(warm + passes);
    const [r1, l1, s1] = [await remoteLines(), localLines(), await snapshots()];
    const ran = totals().length - warm;
    return {
      name: way.name,
      medianMs: median(phases().slice(warm).map(work)),
      totalMs: median(totals().slice(warm)),
      source: (r1 - r0) / ran,
      backup: (l1 - l0) / ran,
      snapshotsAdded: (s1 - s0) / ran,
    };
  } finally {
    child.kill("SIGTERM");
    const code = await exited;
    if (code !== 0) process.stderr.write(`${way.name}: bzman serve exited ${code}\n${out.slice(-2000)}\n`);
  }
}

async function main(): Promise<void> {
  const local = new LocalRunner();
  const build = await local.run(["npx", "tsc", "-p", new URL("../tsconfig.build.json", import.meta.url).pathname]);
  if (build.code !== 0) throw new Error(`build: ${build.stdout}${build.stderr}`);
  const g = await startGuest("2.3");
  try {
    for (const pool of ["src", "dst"]) {
      await g.admin(["truncate", "-s", "1G", `/tmp/${pool}.img`]);
      await g.admin(["zpool", "create", "-O", `mountpoint=/${pool}`, pool, `/tmp/${pool}.img`]);
    }
    await g.admin([
      "sh",
      "-c",
      `zfs create src/fleet && i=0; while [ $i -lt ${N} ]; do zfs create src/fleet/d$i; i=$((i+1)); done; zfs create dst/b`,
    ]);
    const changed = await g.installSource("changed", ["--guard-option", "--zfs /mnt/share/zfs-log"]);
    const written = await g.installSource("written", ["--guard-option", "--zfs /mnt/share/zfs-nochanged"]);
    const localBin = join(g.dir, "zfs-logged");
    mkdirSync(localBin, { recursive: true });
    const localLog = join(localBin, "log");
    writeFileSync(
      join(localBin, "zfs"),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> ${localLog}\nexec ${join(g.bin, "zfs")} "$@"\n`,
      { mode: 0o755 },
    );
    const config = (name: string, identity: string, over: Record<string, unknown>): string => {
      const file = join(g.dir, `${name}.yaml`);
      const source = {
        name: "fleet",
        host: "127.0.0.1",
        port: g.port,
        identity,
        host_key: g.hostKey,
        target: "dst/b",
        schedule: "*/2 * * * * *",
        max_transfers_per_source: 4,
        datasets: [{ name: "src/fleet", recursive: true }],
        ...over,
      };
      writeFileSync(
        file,
        stringify({ state: join(g.dir, "state.db"), http: { listen: "" }, max_transfers: 4, sources: [source] }),
      );
      return file;
    };
    const ways: Way[] = [
      { name: "snapshot", config: config("snapshot", changed.identity, {}) },
      { name: "written", config: config("written", written.identity, { skip_unchanged: true }) },
      { name: "changed", config: config("changed", changed.identity, { skip_unchanged: true }) },
    ];
    const first = spawn(process.execPath, [MAIN, "--config", ways[0]!.config, "run"], {
      env: { ...process.env, PATH: `${g.bin}:${process.env.PATH}` },
    });
    let firstOut = "";
    first.stdout.on("data", (c) => (firstOut += c));
    first.stderr.on("data", (c) => (firstOut += c));
    const firstCode = await new Promise<number | null>((r) => first.once("close", (code) => r(code)));
    if (firstCode !== 0) throw new Error(`the first full pass: ${firstOut.slice(-4000)}`);
    const results: Measured[] = [];
    for (const way of ways) {
      writeFileSync(localLog, "");
      await g.admin(["rm", "-f", "/tmp/bzman-zfs.log"]);
      // The skip ways need a pass to list once (and one to reuse); the default's warm-up is one pass.
      const snapshotWay = way.name === "snapshot";
      results.push(await measure(g, way, localLog, localBin, snapshotWay ? 1 : 2, snapshotWay ? 3 : PASSES));
    }
    const base = results.find((r) => r.name === "changed")!;
    process.stdout.write(
      `4. unchanged source on OpenZFS 2.3, ${N} datasets (median pass, connect to prune / whole; zfs commands per pass):\n`,
    );
    for (const r of results)
      process.stdout.write(
        `   ${r.name.padEnd(9)} ${r.medianMs.toFixed(0).padStart(6)} / ${r.totalMs.toFixed(0).padStart(6)} ms  source ${r.source.toFixed(1).padStart(6)}  backup ${r.backup.toFixed(1).padStart(6)}  new snapshots ${r.snapshotsAdded.toFixed(0).padStart(4)}  ${(r.medianMs / base.medianMs).toFixed(1)}x the time of changed\n`,
      );
  } finally {
    await g.stop();
  }
}

await main();
