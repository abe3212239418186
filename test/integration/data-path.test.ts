// Streams on worker threads (`data_path`, server/offload) on real ZFS (zfs-fuse) over the real
// sshd: each step logs in once more and its bytes arrive as on the main thread; the stall
// watchdog and an abort stop both ends of a worker's stream; a worker that cannot connect hands
// its step back to the main thread with a warning.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { RunRecord } from "../../server/core/model.ts";
import { runSource, type SourceJob } from "../../server/engine/run-source.ts";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { freePort } from "../../server/sandbox/sshd.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, realPassDeps, sandboxSkip, snapshotGuids, until } from "../helpers/sandbox.ts";

const skip = sandboxSkip();
const MIB = 1024 * 1024;

/** pids of running `zfs <verb>` processes naming `dataset` (or a snapshot of it). */
function processesWith(verb: string, dataset: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      if (
        argv[0]?.endsWith("zfs") &&
        argv[1] === verb &&
        argv.some((a) => a === dataset || a.startsWith(`${dataset}@`))
      )
        pids.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** pids of the processes whose parent is `ppid` (the sshd's sessions). */
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

describe("streams on worker threads", { skip }, () => {
  let rig: Rig;
  let S: string;
  let T: string;
  let job: SourceJob;
  const logins = (): number => (readFileSync(rig.sshd.logPath, "utf8").match(/Accepted publickey/g) ?? []).length;

  before(async () => {
    rig = await startRig({ name: "dpt", poolSizeMiB: 192 });
    S = rig.sourcePool;
    T = `${rig.backupPool}/${rig.sourceName}/${S}/big`;
    await must(["zfs", "create", `${S}/big`]);
    writeFileSync(join(rig.sourceMount, "big", "a.bin"), randomBytes(8 * MIB));
    await must(["zfs", "snapshot", `${S}/big@s1`]);
    writeFileSync(join(rig.sourceMount, "big", "b.bin"), randomBytes(16 * MIB));
    await must(["zfs", "snapshot", `${S}/big@s2`]);
    job = {
      name: rig.sourceName,
      targetRoot: `${rig.backupPool}/${rig.sourceName}`,
      roots: [{ name: `${S}/big`, recursive: false }],
      policy: { firstSend: "oldest", includePrefixes: [] },
      dataPath: "worker",
    };
  });
  after(async () => rig && (await rig.cleanup()));

  test("data_path: worker through the CLI: the steps on a connection of their own, every snapshot arrives", async () => {
    const file = rig.writeConfig({ datasets: [{ name: `${S}/big` }] });
    writeFileSync(file, stringify({ ...parse(readFileSync(file, "utf8")), defaults: { data_path: "worker" } }));
    const before = logins();
    const r = await bzman(["--config", file, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await snapshotGuids(T), await snapshotGuids(`${S}/big`));
    // The pass's own connection, then the full of s1 and the increment to s2 on the worker's one:
    // the worker that sent s1 is kept for the next step.
    assert.equal(logins() - before, 2, "two logins: the pass and the worker of both streams");
    const d = (JSON.parse(r.stdout) as { records: RunRecord[] }).records[0]!.datasets[0]!;
    assert.equal(d.result, "ok");
    assert.ok(d.bytes > 24 * MIB, `the bytes of both streams are counted (${d.bytes})`);
    assert.equal(d.warnings, undefined, JSON.stringify(d.warnings));
  });

  test("the stall watchdog stops both ends of a worker's stream", async () => {
    writeFileSync(join(rig.sourceMount, "big", "c.bin"), randomBytes(24 * MIB));
    await must(["zfs", "snapshot", `${S}/big@s3`]);
    const before = [...(await snapshotGuids(T)).keys()];
    let frozen: number[] = [];
    const deps = realPassDeps(rig, {
      windowBytes: 2 * MIB,
      offload: {},
      onProgress: (p) => {
        if (frozen.length === 0 && p.bytes > MIB) {
          frozen = childrenOf(rig.sshd.pid);
          for (const pid of frozen) process.kill(pid, "SIGSTOP");
        }
      },
    });
    const started = logins();
    let rec: RunRecord;
    try {
      // 8 MiB/s: the stream is still under way when the bytes are told.
      rec = await runSource({ ...job, stallMs: 1500, rate: () => 8 * MIB }, deps, "stall");
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
    assert.ok(frozen.length > 0, "the source's sshd sessions were found and frozen");
    assert.ok(logins() - started >= 2, "the stream ran on a connection of its own");
    const d = rec.datasets[0]!;
    assert.equal(d.result, "failed", JSON.stringify(d));
    assert.equal(d.error!.code, "STALLED", JSON.stringify(d.error));
    assert.match(d.message!, /moved no byte for 2s after \d+ bytes; both ends were stopped/);
    assert.deepEqual([...(await snapshotGuids(T)).keys()], before, "target still at its previous snapshot");
    await until("no receive left running", () => processesWith("receive", T).length === 0, 10_000);
  });

  test("an abort stops both ends of a worker's stream; the next pass completes", async () => {
    const stop = new AbortController();
    const deps = realPassDeps(rig, {
      windowBytes: 2 * MIB,
      offload: {},
      signal: stop.signal,
      onProgress: (p) => {
        if (p.bytes > MIB) stop.abort();
      },
    });
    const started = logins();
    const rec = await runSource({ ...job, rate: () => 8 * MIB }, deps, "abort");
    await deps.close();
    const d = rec.datasets[0]!;
    assert.equal(d.result, "failed", JSON.stringify(d));
    assert.equal(d.error!.code, "ABORTED", JSON.stringify(d.error));
    assert.ok(logins() - started >= 2, "the stream ran on a connection of its own");
    assert.deepEqual([...(await snapshotGuids(T)).keys()], ["@s1", "@s2"], "target still at its previous snapshot");
    await until("no receive left running", () => processesWith("receive", T).length === 0, 10_000);
    await until("no send left running", () => processesWith("send", `${S}/big`).length === 0, 10_000);

    const again = realPassDeps(rig, { offload: {} });
    const ok = await runSource(job, again, "after-abort");
    await again.close();
    assert.equal(ok.datasets[0]!.result, "ok", JSON.stringify(ok.datasets[0]));
    assert.deepEqual(await snapshotGuids(T), await snapshotGuids(`${S}/big`));
  });

  test("a worker that cannot connect hands the step back to the main thread, with a warning", async () => {
    writeFileSync(join(rig.sourceMount, "big", "d.bin"), randomBytes(MIB));
    await must(["zfs", "snapshot", `${S}/big@s4`]);
    const deps = realPassDeps(rig, { offload: { port: await freePort() } });
    const rec = await runSource(job, deps, "fallback");
    await deps.close();
    const d = rec.datasets[0]!;
    assert.equal(d.result, "ok", JSON.stringify(d));
    assert.match(
      d.warnings?.join("\n") ?? "",
      /no stream thread: .*cannot connect.*; the stream went through the main thread/,
    );
    assert.deepEqual(await snapshotGuids(T), await snapshotGuids(`${S}/big`));
  });
});
