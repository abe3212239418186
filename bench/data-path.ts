// Data path benchmark: which thread carries a stream (`data_path`). N GiB (default 1,
// BENCH_DATA_PATH_GIB) through engine/transfer.ts's whole step — `zfs send` on the source over
// a private loopback sshd, `zfs receive` here — side by side in one run:
//   a. one stream on the main thread (`data_path: main`, the source's shared connection);
//   b. one stream on a worker thread (`data_path: worker`, a connection of its own);
//   c. `ssh -c aes128-gcm@openssh.com host 'zfs send …' | zfs receive` (what syncoid does);
//   d-f. the same with four streams at once, a quarter of the bytes each.
// The zfs at both ends is a stand-in that moves bytes only (zero bytes, from head into dd), so
// the numbers are the transport's, not a pool's: the source's key runs it as its forced
// command, and the local one is first in PATH. Reports the throughput, its ratios, and the CPU
// of Node's main thread (its own /proc task, not the process's other threads) per GiB.
// Needs root and OpenSSH's sshd (as the test suite does).

import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Snapshot, Step } from "../server/core/model.ts";
import { transferStep } from "../server/engine/transfer.ts";
import { ThreadOffload } from "../server/offload/thread-offload.ts";
import { makeKey, startSshd } from "../server/sandbox/sshd.ts";
import { connectSource, type SourceEndpoint } from "../server/ssh/connection.ts";
import { MINIMAL_CAPABILITIES } from "../server/zfs/capabilities.ts";
import { LocalRunner } from "../server/zfs/runner.ts";
import { ZfsHost } from "../server/zfs/zfs-host.ts";

const GIB = Number(process.env.BENCH_DATA_PATH_GIB ?? 1);
const BYTES = Math.round(GIB * 1024 ** 3);
/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const TICKS = 100;

/** CPU seconds of this process's main thread so far (its task's utime + stime). */
function mainThreadCpu(): number {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8")
    .replace(/^.*\) /, "")
    .split(" ");
  return (Number(f[11]) + Number(f[12])) / TICKS;
}

/** Wall seconds and main-thread CPU seconds of `f`. */
async function measured(f: () => Promise<void>): Promise<{ s: number; cpu: number }> {
  const c0 = mainThreadCpu();
  const t0 = process.hrtime.bigint();
  await f();
  return { s: Number(process.hrtime.bigint() - t0) / 1e9, cpu: mainThreadCpu() - c0 };
}

/** A full step of `bytes` bytes: the stand-in source sends as many as the snapshot's name says. */
const step = (bytes: number, i: number): Step => ({
  kind: "full",
  sourceDataset: "bench/ds",
  targetDataset: `bench/copy${i}`,
  intermediates: false,
  to: { name: `b${bytes}`, guid: "1", createtxg: 1, creation: 0 } as Snapshot,
});

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bzman-bench-data-path-"));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  // The source's forced command: `zfs send … bench/ds@b<N>` sends N zero bytes.
  const send = join(dir, "fake-send");
  writeFileSync(send, '#!/bin/sh\nn=$(echo "$SSH_ORIGINAL_COMMAND" | sed "s/.*@b//")\nexec head -c "$n" /dev/zero\n');
  // This host's `zfs receive`: reads the stream to its end.
  writeFileSync(join(bin, "zfs"), "#!/bin/sh\nexec dd of=/dev/null bs=1M status=none\n");
  chmodSync(send, 0o755);
  chmodSync(join(bin, "zfs"), 0o755);
  process.env.PATH = `${bin}:${process.env.PATH}`;
  const identity = join(dir, "id_ed25519");
  const pub = await makeKey(identity, "bench");
  const sshd = await startSshd(join(dir, "sshd"), [`command="${send}",restrict ${pub}`]);
  const ep: SourceEndpoint = {
    name: "bench",
    host: "127.0.0.1",
    port: sshd.port,
    user: "root",
    identity,
    hostKey: sshd.hostKey,
    connections: 1,
  };
  try {
    const conn = await connectSource(ep);
    const local = new ZfsHost(new LocalRunner());
    local.assumeCapabilities(MINIMAL_CAPABILITIES);
    const onMain = new ZfsHost(conn.runner);
    onMain.assumeCapabilities(MINIMAL_CAPABILITIES);
    const offload = new ThreadOffload(ep);
    const checked = (n: number, bytes: number): void => {
      if (n !== bytes) throw new Error(`moved ${n} of ${bytes} bytes`);
    };
    const main1 = async (bytes: number, i: number): Promise<void> =>
      checked(await transferStep(step(bytes, i), { sender: onMain, receiver: local }, { type: "filesystem" }), bytes);
    const worker1 = async (bytes: number, i: number): Promise<void> =>
      checked(
        await offload.transfer(step(bytes, i), {
          type: "filesystem",
          send: {},
          senderCaps: MINIMAL_CAPABILITIES,
          receiverCaps: MINIMAL_CAPABILITIES,
        }),
        bytes,
      );
    const four = (one: (bytes: number, i: number) => Promise<void>) => async (): Promise<void> => {
      await Promise.all([0, 1, 2, 3].map((i) => one(Math.floor(BYTES / 4), i)));
    };
    const ssh = [
      "ssh",
      "-i",
      identity,
      "-p",
      String(sshd.port),
      "-c",
      "aes128-gcm@openssh.com",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      `UserKnownHostsFile=${join(dir, "known_hosts")}`,
      "root@127.0.0.1",
    ];
    const pipe = (bytes: number) => async (): Promise<void> => {
      const r = await new LocalRunner().run([
        "sh",
        "-c",
        `${ssh.join(" ")} zfs send bench/ds@b${bytes} | zfs receive -u bench/copy`,
      ]);
      if (r.code !== 0) throw new Error(`ssh pipe: ${r.code} ${r.stderr}`);
    };
    // Warm-up: the worker's modules and one login each way.
    await worker1(1024 * 1024, 0);
    await main1(1024 * 1024, 0);
    const a = await measured(() => main1(BYTES, 0));
    const b = await measured(() => worker1(BYTES, 0));
    const c = await measured(pipe(BYTES));
    const d = await measured(four(main1));
    const e = await measured(four(worker1));
    const f = await measured(async () => {
      await Promise.all([0, 1, 2, 3].map(() => pipe(Math.floor(BYTES / 4))()));
    });
    await conn.close();
    const rate = (m: { s: number }): string => `${(BYTES / 1024 ** 2 / m.s).toFixed(0)} MiB/s`;
    const cpu = (m: { cpu: number }): string => `${(m.cpu / GIB).toFixed(2)} s/GiB`;
    const line = (name: string, m: { s: number; cpu: number }, withCpu = true): string =>
      `  ${name.padEnd(36)} ${m.s.toFixed(2).padStart(6)} s  ${rate(m).padStart(10)}${withCpu ? `  main-thread CPU ${cpu(m)}` : ""}\n`;
    process.stdout.write(
      `data path, ${GIB} GiB over loopback (stand-in zfs at both ends):\n` +
        line("a. main thread, 1 stream", a) +
        line("b. worker thread, 1 stream", b) +
        line("c. ssh | zfs receive, 1 pipe", c, false) +
        line("d. main thread, 4 streams", d) +
        line("e. worker threads, 4 streams", e) +
        line("f. ssh | zfs receive, 4 pipes", f, false) +
        `  throughput b/a ${(a.s / b.s).toFixed(2)}x, b/c ${(c.s / b.s).toFixed(2)}x (goal >= 0.95), ` +
        `e/d ${(d.s / e.s).toFixed(2)}x, e/f ${(f.s / e.s).toFixed(2)}x (goal >= 0.95)\n` +
        `  main-thread CPU per GiB b/a ${(b.cpu / Math.max(a.cpu, 0.01)).toFixed(2)}x, e/d ${(e.cpu / Math.max(d.cpu, 0.01)).toFixed(2)}x ` +
        `(goal: worker < 0.1 s/GiB: b ${cpu(b)}, e ${cpu(e)})\n`,
    );
  } finally {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
