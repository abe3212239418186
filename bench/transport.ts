// Transport benchmark: N GiB (default 2, BENCH_TRANSPORT_GIB) from a remote command to a local
// consumer over a private loopback sshd, three ways, side by side in one run:
//   a. bzman's path: ssh2 exec (AES-GCM, TCP_NODELAY) through its runner, counted, → a local child;
//   b. what syncoid does: `ssh -c aes128-gcm@openssh.com host cmd | consumer` in a shell;
//   c. the physical limit on this machine: `cmd | consumer` locally, no SSH;
//   d. ssh2 itself: a bare exec channel piped into the consumer (what bzman's own code adds to it);
//   e. four streams at once by bzman's path (four channels of the one connection, as four
//      datasets of a source replicate side by side), a quarter of the bytes each;
//   f. four `ssh … | consumer` pipes at once, a quarter each.
// Reports MB/s, the ratios, and the Node process's CPU seconds per GiB in (a), (d) and (e).
// Needs root and OpenSSH's sshd (as the test suite does).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { makeKey, startSshd } from "../server/sandbox/sshd.ts";
import { connectSource, nativeCryptoAvailable } from "../server/ssh/connection.ts";
import { LocalRunner } from "../server/zfs/runner.ts";

const GIB = Number(process.env.BENCH_TRANSPORT_GIB ?? 2);
/** The channel window of bzman's path in MiB (BENCH_TRANSPORT_WINDOW_MIB; default: ssh_window's default). */
const WINDOW = process.env.BENCH_TRANSPORT_WINDOW_MIB
  ? Number(process.env.BENCH_TRANSPORT_WINDOW_MIB) * 1024 ** 2
  : undefined;
const BYTES = Math.round(GIB * 1024 ** 3);
const PRODUCER = ["head", "-c", String(BYTES), "/dev/zero"];
const CONSUMER = ["dd", "of=/dev/null", "bs=1M", "status=none"];
const local = new LocalRunner();

async function must(argv: string[]): Promise<void> {
  const r = await local.run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.code ?? r.signal} ${r.stderr.trim()}`);
}

/** Seconds of wall time for `f`. */
async function seconds(f: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const mbps = (s: number): string => `${(BYTES / 1e6 / s).toFixed(0)} MB/s`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bzman-bench-transport-"));
  const identity = join(dir, "id_ed25519");
  const pub = await makeKey(identity, "bench");
  const sshd = await startSshd(join(dir, "sshd"), [pub]);
  try {
    const conn = await connectSource({
      name: "bench",
      host: "127.0.0.1",
      port: sshd.port,
      user: "root",
      identity,
      hostKey: sshd.hostKey,
      ...(WINDOW ? { windowBytes: WINDOW } : {}),
    });
    let bzman = 0;
    let raw = 0;
    let cpu = { user: 0, system: 0 };
    let rawCpu = { user: 0, system: 0 };
    let four = 0;
    let fourCpu = { user: 0, system: 0 };
    /** Each of bzman's streams' window at its end, in MiB: (a) first, then the four of (e). */
    const windows: number[] = [];
    try {
      // As engine/transfer.ts does it: count with a listener beside the pipe.
      const stream = async (bytes: number): Promise<void> => {
        const send = conn.runner.spawn(["head", "-c", String(bytes), "/dev/zero"]);
        const recv = local.spawn(CONSUMER);
        let n = 0;
        send.stdout.on("data", (c: Buffer) => {
          n += c.length;
        });
        const [, s, r] = await Promise.all([pipeline(send.stdout, recv.stdin), send.done, recv.done]);
        if (s.code !== 0 || r.code !== 0 || n !== bytes)
          throw new Error(`bzman path: send ${s.code}, receive ${r.code}, ${n} of ${bytes} bytes`);
        windows.push((send.window?.() ?? 2 * 1024 ** 2) / 1024 ** 2);
      };
      const cpu0 = process.cpuUsage();
      bzman = await seconds(() => stream(BYTES));
      cpu = process.cpuUsage(cpu0);
      // e. Four streams side by side over the one connection.
      const fourCpu0 = process.cpuUsage();
      four = await seconds(async () => {
        await Promise.all([0, 1, 2, 3].map(() => stream(Math.floor(BYTES / 4))));
      });
      fourCpu = process.cpuUsage(fourCpu0);
      // d. The bare ssh2 channel, for the CPU that ssh2 itself costs in this process.
      const client = (conn as unknown as { client: import("ssh2").Client }).client;
      const rawCpu0 = process.cpuUsage();
      raw = await seconds(async () => {
        const recv = local.spawn(CONSUMER);
        await new Promise<void>((resolve, reject) =>
          client.exec(PRODUCER.join(" "), (err, ch) =>
            err ? reject(err) : pipeline(ch, recv.stdin).then(resolve, reject),
          ),
        );
        if ((await recv.done).code !== 0) throw new Error("raw path: consumer failed");
      });
      rawCpu = process.cpuUsage(rawCpu0);
    } finally {
      await conn.close();
    }
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
      PRODUCER.join(" "),
    ];
    const openssh = await seconds(() => must(["sh", "-c", `${ssh.join(" ")} | ${CONSUMER.join(" ")}`]));
    const plain = await seconds(() => must(["sh", "-c", `${PRODUCER.join(" ")} | ${CONSUMER.join(" ")}`]));
    const sshQuarter = [...ssh.slice(0, -1), `head -c ${Math.floor(BYTES / 4)} /dev/zero`];
    const fourOpenssh = await seconds(async () => {
      await Promise.all([0, 1, 2, 3].map(() => must(["sh", "-c", `${sshQuarter.join(" ")} | ${CONSUMER.join(" ")}`])));
    });
    const fourCpuPerGiB = (fourCpu.user + fourCpu.system) / 1e6 / GIB;
    const cpuPerGiB = (cpu.user + cpu.system) / 1e6 / GIB;
    process.stdout.write(
      `transport, ${GIB} GiB over loopback (ssh2 native crypto binding: ${nativeCryptoAvailable() ? "built" : "NOT built"}; window ${WINDOW ? `${WINDOW / 1024 ** 2} MiB` : "ssh_window's default"}):\n` +
        `  a. bzman (ssh2 runner → child):     ${bzman.toFixed(2)} s, ${mbps(bzman)}, Node CPU ${cpuPerGiB.toFixed(2)} s per GiB\n` +
        `  b. ssh -c aes128-gcm | consumer:    ${openssh.toFixed(2)} s, ${mbps(openssh)}\n` +
        `  c. local pipe (the limit):          ${plain.toFixed(2)} s, ${mbps(plain)}\n` +
        `  d. bare ssh2 exec → consumer:       ${raw.toFixed(2)} s, ${mbps(raw)}, Node CPU ${((rawCpu.user + rawCpu.system) / 1e6 / GIB).toFixed(2)} s per GiB\n` +
        `  e. bzman, 4 streams at once:          ${four.toFixed(2)} s, ${mbps(four)} in all, Node CPU ${fourCpuPerGiB.toFixed(2)} s per GiB\n` +
        `  f. 4 ssh pipes at once:              ${fourOpenssh.toFixed(2)} s, ${mbps(fourOpenssh)} in all\n` +
        `  windows at the end (MiB): a ${windows[0]}, e ${windows.slice(1).join(", ")}\n` +
        `  ratio e/f throughput ${(fourOpenssh / four).toFixed(2)}x (goal >= 0.95), e/a ${(bzman / four).toFixed(2)}x\n` +
        `  ratio a/b throughput ${(openssh / bzman).toFixed(2)}x (goal >= 1.1), a/c ${(plain / bzman).toFixed(2)}x, a/d ${(raw / bzman).toFixed(2)}x; ` +
        `CPU a/d ${(cpuPerGiB / ((rawCpu.user + rawCpu.system) / 1e6 / GIB)).toFixed(2)}x (goal: a <= 1.0 s/GiB)\n`,
    );
  } finally {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
