// End to end on zfs-fuse: the same increment (BENCH_E2E_MIB, default 256 MiB of random data)
// pulled by `bzman run` and by a hand-written `ssh source zfs send -I … | zfs receive -u …` into a
// second target seeded with the same base, through the same sshd and guard, in one run. Reports
// both times and the ratio hand/bzman (goal >= 0.95: bzman costs at most 5% more than the bare
// pipeline, its connect, listing and planning included). Needs root, zfs-fuse and sshd.

import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRig } from "../server/sandbox/rig.ts";
import { must } from "../server/sandbox/zfs-pools.ts";
import { LocalRunner } from "../server/zfs/runner.ts";

const MIB = Number(process.env.BENCH_E2E_MIB ?? 256);
const local = new LocalRunner();

async function seconds(f: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

// bzman as installed: the compiled dist/ (built here first), not TypeScript compiled on the fly.
const MAIN = new URL("../dist/server/main.js", import.meta.url).pathname;

async function bzman(args: string[]): Promise<{ phases: Record<string, number> }> {
  const r = await local.run([process.execPath, MAIN, ...args, "--json"]);
  if (r.code !== 0) throw new Error(`bzman ${args.join(" ")}: ${r.code}\n${r.stderr.slice(-2000)}`);
  return {
    phases: (JSON.parse(r.stdout) as { records: Array<{ phases: Record<string, number> }> }).records[0]!.phases,
  };
}

async function main(): Promise<void> {
  const build = await local.run(["npx", "tsc", "-p", new URL("../tsconfig.build.json", import.meta.url).pathname]);
  if (build.code !== 0) throw new Error(`build: ${build.stdout}${build.stderr}`);
  const rig = await startRig({ name: "bne", poolSizeMiB: Math.max(256, MIB * 2 + 128) });
  try {
    const S = `${rig.sourcePool}/data`;
    const manual = `${rig.backupPool}/manual`;
    await must(["zfs", "create", S]);
    writeFileSync(join(rig.sourceMount, "data", "seed.bin"), randomBytes(1024 * 1024));
    await must(["zfs", "snapshot", `${S}@s1`]);
    const config = rig.writeConfig({ datasets: [{ name: S }] });
    await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    await must(["sh", "-c", `zfs send ${S}@s1 | zfs receive -u ${manual}`]);
    const f = Buffer.alloc(1024 * 1024);
    const path = join(rig.sourceMount, "data", "increment.bin");
    writeFileSync(path, "");
    for (let i = 0; i < MIB; i++) writeFileSync(path, randomBytes(f.length), { flag: "a" });
    await must(["zfs", "snapshot", `${S}@s2`]);

    const ssh = [
      "ssh",
      "-i",
      rig.identity,
      "-p",
      String(rig.sshd.port),
      "-c",
      "aes128-gcm@openssh.com",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      `UserKnownHostsFile=${join(rig.dir, "known_hosts")}`,
      "root@127.0.0.1",
    ].join(" ");
    const hand = await seconds(
      async () => void (await must(["sh", "-c", `${ssh} zfs send -I ${S}@s1 ${S}@s2 | zfs receive -u ${manual}`])),
    );
    let phases: Record<string, number> = {};
    const tool = await seconds(async () => {
      ({ phases } = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]));
    });
    const mbps = (s: number): string => `${((MIB * 1.048576) / s).toFixed(0)} MB/s`;
    process.stdout.write(
      `e2e on zfs-fuse, a ${MIB} MiB increment through sshd and the guard:\n` +
        `  hand-written ssh … zfs send -I | zfs receive: ${hand.toFixed(2)} s (${mbps(hand)})\n` +
        `  bzman run (connect, list, plan, send, receive, record): ${tool.toFixed(2)} s (${mbps(tool)})\n` +
        `  of which bzman's phases: ${Object.entries(phases)
          .map(([k, v]) => `${k} ${(v / 1000).toFixed(2)} s`)
          .join(", ")}\n` +
        `  ratio hand/bzman ${(hand / tool).toFixed(2)}x (goal >= 0.95); hand vs bzman's transfer phase alone ${(hand / ((phases.transfer ?? 0) / 1000)).toFixed(2)}x\n`,
    );
  } finally {
    await rig.cleanup();
  }
}

await main();
