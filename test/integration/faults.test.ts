// Faults on real parts: a stream cut mid-way (the remote zfs send killed, or our side aborting),
// a wrong or unknown host key, an unreachable source, a bad config. Each fails cleanly, leaves
// the backup at its previous snapshot, and the next run succeeds.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runSource, type SourceJob } from "../../server/engine/run-source.ts";
import type { RunRecord } from "../../server/core/model.ts";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { freePort, makeKey } from "../../server/sandbox/sshd.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { buildStatus } from "../../server/core/status.ts";
import { conditionsOf } from "../../server/core/alerts.ts";
import { bzman, poolFingerprint, realPassDeps, sandboxSkip, snapshotGuids } from "../helpers/sandbox.ts";

const skip = sandboxSkip();
/** ssh2's own channel window, for tests that act mid-stream (the default lets sshd run 32 MiB ahead). */
const MIB2 = 2 * 1024 * 1024;

/**
 * pids of running `zfs <verb>` processes naming `dataset`. Matches on the dataset, not on
 * dataset@snapshot: zfs-fuse's zfs overwrites the '@' in its own argv.
 */
function processesWith(verb: string, dataset: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      if (
        argv[0]?.endsWith("zfs") &&
        argv[1] === verb &&
        argv.some((a) => a === dataset || a.startsWith(`${dataset}@`)) &&
        Number(p) !== process.pid
      )
        pids.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** pids of the processes whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((p) => {
      try {
        return (
          Number(
            readFileSync(`/proc/${p}/stat`, "utf8")
              .replace(/^.*\) /, "")
              .split(" ")[1],
          ) === ppid
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Runs a pass of `j` and checks it completes with the target equal to the source (by GUID). */
async function passCompletes(rig: Rig, j: SourceJob, id: string, target: string, source: string): Promise<void> {
  const deps = realPassDeps(rig);
  const rec = await runSource(j, deps, id);
  await deps.close();
  assert.equal(rec.datasets[0]!.result, "ok", JSON.stringify(rec.datasets[0]));
  assert.deepEqual(await snapshotGuids(target), await snapshotGuids(source));
}

const accepted = (rig: Rig): number =>
  (readFileSync(rig.sshd.logPath, "utf8").match(/Accepted publickey/g) ?? []).length;

describe("faults", { skip }, () => {
  let rig: Rig;
  let S: string;
  let T: string;
  let job: SourceJob;

  before(async () => {
    rig = await startRig({ name: "flt", poolSizeMiB: 192 });
    S = rig.sourcePool;
    T = `${rig.backupPool}/${rig.sourceName}/${S}/big`;
    await must(["zfs", "create", `${S}/big`]);
    writeFileSync(join(rig.sourceMount, "big", "small.txt"), "seed\n");
    await must(["zfs", "snapshot", `${S}/big@s1`]);
    job = {
      name: rig.sourceName,
      targetRoot: `${rig.backupPool}/${rig.sourceName}`,
      roots: [{ name: `${S}/big`, recursive: false }],
      policy: { firstSend: "oldest", includePrefixes: [] },
    };
    const deps = realPassDeps(rig);
    const rec = await runSource(job, deps, "seed");
    await deps.close();
    assert.equal(rec.datasets[0]!.result, "ok", JSON.stringify(rec));
    writeFileSync(join(rig.sourceMount, "big", "blob.bin"), randomBytes(40 * 1024 * 1024));
    await must(["zfs", "snapshot", `${S}/big@s2`]);
  });
  after(async () => rig && (await rig.cleanup()));

  test("the SSH session dies mid-stream: dataset fails cleanly, target stays at its snapshot, next run succeeds", async () => {
    // Killing the source's sshd session process cuts the stream for real. (Killing the remote
    // `zfs send` client does not on zfs-fuse: its daemon owns the stream and finishes it.)
    let killed: number[] = [];
    const deps = realPassDeps(rig, {
      windowBytes: MIB2, // the source cannot run far ahead of what the test sees
      onProgress: (p) => {
        if (killed.length === 0 && p.bytes > 1024 * 1024) {
          killed = childrenOf(rig.sshd.pid);
          for (const pid of killed) process.kill(pid, "SIGKILL");
        }
      },
    });
    const rec = await runSource(job, deps, "cut");
    await deps.close();
    assert.ok(killed.length > 0, "the source's sshd session was found and killed");
    const d = rec.datasets[0]!;
    assert.equal(d.result, "failed");
    assert.ok(d.bytes < 40 * 1024 * 1024, `the stream did not complete (${d.bytes} bytes)`);
    assert.match(d.error!.code, /^(SSH_NO_EXIT_STATUS|SSH_CHANNEL|ZFS_INVALID_STREAM)$/, JSON.stringify(d.error));
    assert.match(d.message!, /zfs send ended with no exit status|invalid backup stream|failed to read|broke/);
    assert.deepEqual([...(await snapshotGuids(T)).keys()], ["@s1"], "target still at its previous snapshot");
    assert.deepEqual(processesWith("receive", T), [], "no receive left running");

    await passCompletes(rig, job, "retry", T, `${S}/big`);
  });

  test("a stream that stops moving hits the stall watchdog: both ends stopped, STALLED alerted, next run completes", async () => {
    writeFileSync(join(rig.sourceMount, "big", "blob2.bin"), randomBytes(24 * 1024 * 1024));
    await must(["zfs", "snapshot", `${S}/big@s3`]);
    const before = [...(await snapshotGuids(T)).keys()];
    // Freezing the source's sshd session (SIGSTOP) stalls the stream without closing anything.
    let frozen: number[] = [];
    const deps = realPassDeps(rig, {
      // ssh2's own 2 MiB window: with the default 32 MiB one the source's sshd can have sent the
      // whole 24 MiB stream (and its exit status) before the test freezes it.
      windowBytes: MIB2,
      onProgress: (p) => {
        if (frozen.length === 0 && p.bytes > 1024 * 1024) {
          frozen = childrenOf(rig.sshd.pid);
          for (const pid of frozen) process.kill(pid, "SIGSTOP");
        }
      },
    });
    let rec: RunRecord;
    try {
      rec = await runSource({ ...job, stallMs: 1500 }, deps, "stall");
    } finally {
      for (const pid of frozen) {
        try {
          process.kill(pid, "SIGKILL");
          process.kill(pid, "SIGCONT");
        } catch {
          /* gone */
        }
      }
      await deps.close();
    }
    assert.ok(frozen.length > 0, "the source's sshd session was found and frozen");
    const d = rec.datasets[0]!;
    assert.equal(d.result, "failed");
    assert.equal(d.error!.code, "STALLED", JSON.stringify(d.error));
    assert.match(d.message!, /moved no byte for 2s after \d+ bytes; both ends were stopped/);
    assert.deepEqual([...(await snapshotGuids(T)).keys()], before, "target still at its previous snapshot");
    assert.deepEqual(processesWith("receive", T), [], "no receive left running");
    const status = buildStatus({
      sources: [
        {
          name: rig.sourceName,
          target: job.targetRoot,
          datasets: [{ name: `${S}/big`, recursive: false }],
          maxLagSeconds: 3600,
        },
      ],
      rows: rec.datasets.map((x) => ({ ...x, startedAt: rec.startedAt, finishedAt: rec.finishedAt })),
      pools: [],
      live: [],
      nextRuns: new Map(),
      now: Date.now(),
    });
    const alert = conditionsOf(status).find((c) => c.code === "STALLED");
    assert.ok(alert, "a STALLED pass is an alert");
    assert.match(alert.advice, /raise stall_timeout/);

    await passCompletes(rig, { ...job, stallMs: 60_000 }, "after-stall", T, `${S}/big`);
  });

  test("with retries, a session killed mid-stream is reconnected and the same pass completes", async () => {
    writeFileSync(join(rig.sourceMount, "big", "blob3.bin"), randomBytes(16 * 1024 * 1024));
    await must(["zfs", "snapshot", `${S}/big@s4`]);
    let killed: number[] = [];
    const logins = accepted(rig);
    const deps = realPassDeps(rig, {
      windowBytes: MIB2, // the 16 MiB stream must still be under way when its session dies
      onProgress: (p) => {
        if (killed.length === 0 && p.bytes > 1024 * 1024) {
          killed = childrenOf(rig.sshd.pid);
          for (const pid of killed) process.kill(pid, "SIGKILL");
        }
      },
    });
    const rec = await runSource({ ...job, retry: { retries: 2, minTimeoutMs: 200 } }, deps, "retry-in-pass");
    await deps.close();
    assert.ok(killed.length > 0, "the source's sshd session was found and killed");
    const d = rec.datasets[0]!;
    assert.equal(d.result, "ok", JSON.stringify(d));
    assert.match(d.warnings!.join(" "), /attempt 1 failed \((SSH_NO_EXIT_STATUS|SSH_CHANNEL|ZFS_INVALID_STREAM)/);
    assert.ok(accepted(rig) >= logins + 2, "a second connection was made");
    assert.deepEqual(await snapshotGuids(T), await snapshotGuids(`${S}/big`));
  });

  test("bandwidth_limit from the config slows the stream to the limit; every byte arrives", async () => {
    // 3 MiB at 1 MiB/s cannot take less than ~2.7 s (a quarter second of burst); on loopback the
    // same stream takes a fraction of a second. Noise only makes it slower, never faster.
    writeFileSync(join(rig.sourceMount, "big", "limited.bin"), randomBytes(3 * 1024 * 1024));
    const config = rig.writeConfig(
      { datasets: [{ name: `${S}/big` }], bandwidth_limit: "1M" },
      join(rig.dir, "limited.yaml"),
    );
    const r = await bzman(["--config", config, "run", "--no-prune", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const d = JSON.parse(r.stdout).records[0].datasets[0] as { bytes: number; transferMs: number };
    assert.ok(d.bytes > 3 * 1024 * 1024, `${d.bytes} bytes`);
    assert.ok(d.transferMs >= 2700, `took ${d.transferMs} ms for ${d.bytes} bytes at 1 MiB/s`);
    assert.deepEqual(await snapshotGuids(T), await snapshotGuids(`${S}/big`));
  });

  test("ssh_compression and ssh_cipher from the config: the connection is made with them and the pass completes", async () => {
    writeFileSync(join(rig.sourceMount, "big", "text.txt"), "compressible\n".repeat(100_000));
    const config = rig.writeConfig(
      { datasets: [{ name: `${S}/big` }], ssh_compression: true, ssh_cipher: "aes256-gcm@openssh.com" },
      join(rig.dir, "zlib.yaml"),
    );
    const r = await bzman(["--config", config, "run", "--no-prune"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await snapshotGuids(T), await snapshotGuids(`${S}/big`));
    const bad = rig.writeConfig(
      { datasets: [{ name: `${S}/big` }], ssh_cipher: "3des-cbc" },
      join(rig.dir, "bad-cipher.yaml"),
    );
    const refused = await bzman(["--config", bad, "run"]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /ssh_cipher/);
  });

  test("send_raw on a source whose zfs has no raw send fails clearly and changes nothing", async () => {
    const config = rig.writeConfig(
      { datasets: [{ name: `${S}/big` }], send_raw: true, retries: 0 },
      join(rig.dir, "raw.yaml"),
    );
    const before = await poolFingerprint(rig.backupPool);
    writeFileSync(join(rig.sourceMount, "big", "raw.txt"), "x");
    const r = await bzman(["--config", config, "run", "--no-prune"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /FAILED .*\[ZFS_UNSUPPORTED\] src1: this zfs cannot send raw streams \(zfs send -w\); remove send_raw/,
    );
    assert.equal(await poolFingerprint(rig.backupPool), before);
  });

  test("our side aborts mid-stream (the channel is closed): both processes end, target unchanged", async () => {
    await must(["zfs", "create", `${S}/fresh`]);
    writeFileSync(join(rig.sourceMount, "fresh", "blob.bin"), randomBytes(24 * 1024 * 1024));
    await must(["zfs", "snapshot", `${S}/fresh@f1`]);
    const stop = new AbortController();
    const deps = realPassDeps(rig, { signal: stop.signal, onProgress: (p) => p.bytes > 1024 * 1024 && stop.abort() });
    const freshJob = { ...job, roots: [{ name: `${S}/fresh`, recursive: false }] };
    const rec = await runSource(freshJob, deps, "abort");
    await deps.close();
    assert.equal(rec.datasets[0]!.result, "failed");
    assert.equal(rec.datasets[0]!.error!.code, "ABORTED");
    await assert.rejects(
      must(["zfs", "list", `${job.targetRoot}/${S}/fresh`]),
      /does not exist/,
      "a cut full stream leaves no target",
    );
    assert.deepEqual(processesWith("receive", `${job.targetRoot}/${S}/fresh`), []);
    assert.deepEqual(processesWith("send", `${S}/fresh`), [], "the remote send ended too");

    const again = realPassDeps(rig);
    const rec2 = await runSource(freshJob, again, "retry");
    await again.close();
    assert.equal(rec2.datasets[0]!.result, "ok", JSON.stringify(rec2.datasets[0]));
  });

  test("a wrong host key is refused before any command runs", async () => {
    const otherKey = (await makeKey(join(rig.dir, "other_host_key"))).split(" ").slice(0, 2).join(" ");
    const config = rig.writeConfig({ host_key: otherKey, datasets: [{ name: `${S}/big` }] });
    const before = await poolFingerprint(rig.backupPool);
    const acceptedBefore = accepted(rig);
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(r.code, 1);
    const d = JSON.parse(r.stdout).records[0].datasets[0];
    assert.equal(d.error.code, "SSH_HOSTKEY");
    assert.match(
      d.message,
      /host key changed or wrong! pinned ssh-ed25519 SHA256:\S+, the host presented ssh-ed25519 SHA256:\S+\. Nothing was sent/,
    );
    assert.equal(accepted(rig), acceptedBefore, "never authenticated, so no command could run");
    assert.equal(await poolFingerprint(rig.backupPool), before);
  });

  test("no pinned host key: refused, with the presented fingerprint to verify", async () => {
    const config = rig.writeConfig({ host_key: undefined, datasets: [{ name: `${S}/big` }] });
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /warning: sources\[0\]\.host_key: not set/);
    const d = JSON.parse(r.stdout).records[0].datasets[0];
    assert.equal(d.error.code, "SSH_HOSTKEY_UNKNOWN");
    assert.match(d.message, /no host_key is pinned; the host presented ssh-ed25519 SHA256:/);
  });

  test("an unreachable source fails with a clear error while the other sources go on", async () => {
    const closed = await freePort();
    const config = join(rig.dir, "two.yaml");
    rig.writeConfig({ datasets: [{ name: `${S}/big` }] }, config);
    const text = readFileSync(config, "utf8");
    const down = `  - name: down\n    host: 127.0.0.1\n    port: ${closed}\n    user: root\n    identity: ${rig.identity}\n    host_key: ${rig.sshd.hostKey}\n    target: ${rig.backupPool}/down\n    datasets:\n      - name: tank\n`;
    writeFileSync(config, text.replace("sources:\n", `sources:\n${down}`));
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(r.code, 1, r.stderr);
    const [first, second] = JSON.parse(r.stdout).records;
    assert.equal(first.source, "down");
    assert.equal(first.datasets[0].error.code, "SSH_CONNECT");
    assert.match(
      first.datasets[0].message,
      new RegExp(`down \\(root@127\\.0\\.0\\.1:${closed}\\): cannot connect: ECONNREFUSED`),
    );
    assert.equal(second.source, rig.sourceName);
    assert.ok(["ok", "up-to-date"].includes(second.datasets[0].result), JSON.stringify(second.datasets[0]));
  });

  test("a bad config lists every problem with its path, exits 2 and runs nothing", async () => {
    const config = join(rig.dir, "bad.yaml");
    writeFileSync(
      config,
      `sources:\n  - name: a\n    host: 127.0.0.1\n    port: ${rig.sshd.port}\n    identity: ${rig.identity}\n    target: ${rig.backupPool}/x\n    colour: blue\n    datasets: [{ name: "${S}/big;reboot" }]\n` +
        `  - name: b\n    host: 127.0.0.1\n    target: ${rig.backupPool}/x\n    datasets: [{ name: ${S} }]\n`,
    );
    const acceptedBefore = accepted(rig);
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sources\[0\]: unknown key "colour"/);
    assert.match(r.stderr, /sources\[1\]\.identity: missing \(required\)/);
    assert.match(r.stderr, /nothing was run/);
    writeFileSync(
      config,
      `sources:\n  - name: a\n    host: 127.0.0.1\n    port: ${rig.sshd.port}\n    identity: ${rig.identity}\n    target: ${rig.backupPool}/x\n    datasets: [{ name: "${S}/big;reboot" }]\n` +
        `  - name: b\n    host: 127.0.0.1\n    identity: ${rig.identity}\n    target: ${rig.backupPool}/x\n    datasets: [{ name: ${S} }]\n`,
    );
    const r3 = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(r3.code, 2, r3.stderr);
    assert.match(r3.stderr, /sources\[0\]\.datasets\[0\]\.name: ".*big;reboot" contains a character/);
    assert.match(r3.stderr, /sources\[1\]\.target: ".*\/x" overlaps the target/);
    assert.equal(accepted(rig), acceptedBefore, "no connection was made");
    await assert.rejects(must(["zfs", "list", `${rig.backupPool}/x`]), /does not exist/);
  });
});
