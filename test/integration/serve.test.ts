// `bzman serve` on real ZFS and sshd: scheduled passes snapshot, pull and prune; a tick during a
// running pass is skipped and recorded; SIGTERM mid-transfer exits cleanly within the bound with
// both zfs processes gone; kill -9 mid-transfer leaves no stale lock and the next daemon succeeds.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { HistoryStore } from "../../server/state/store.ts";
import { sandboxSkip, serveDaemon as serve, snapshotGuids, stopAfter, until } from "../helpers/sandbox.ts";

const skip = sandboxSkip();
/** pids of `zfs send`/`zfs receive` processes naming something in `pool`. */
function zfsProcesses(pool: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
        return (
          argv[0]?.endsWith("zfs") &&
          (argv[1] === "send" || argv[1] === "receive") &&
          argv.some((a) => a.includes(pool))
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("bzman serve", { skip }, () => {
  let rig: Rig;
  let S: string;
  let T: string;

  before(async () => {
    rig = await startRig({ name: "srv", poolSizeMiB: 256 });
    S = rig.sourcePool;
    T = `${rig.backupPool}/${rig.sourceName}/${S}`;
    for (const d of ["a", "b"]) await must(["zfs", "create", `${S}/${d}`]);
    await must(["zfs", "snapshot", "-r", `${S}@manual`]);
  });
  after(async () => rig && (await rig.cleanup()));

  test("scheduled passes replicate, snapshot and prune on both sides; overlapping ticks are skipped and recorded", async () => {
    const config = rig.writeConfig({ schedule: "*/2 * * * * *", keep_source: { last: 2 }, keep_backup: { last: 3 } });
    const d = serve(config);
    try {
      await until(
        "three successful passes",
        () => d.lines.filter((l) => l.msg === "pass succeeded").length >= 3,
        90_000,
      );
    } finally {
      d.child.kill("SIGTERM");
    }
    assert.equal(await d.exited, 0, "SIGTERM → exit 0");
    // A slow pass, whatever the machine's speed: 24 MiB at 4 MB/s (bandwidth_limit) take six
    // seconds, while ticks keep coming every second. Written after the daemon stopped, so no pass
    // took part of it early.
    writeFileSync(join(rig.sourceMount, "a", "big.bin"), randomBytes(24 * 1024 * 1024));
    rig.writeConfig(
      { schedule: "* * * * * *", keep_source: { last: 2 }, keep_backup: { last: 3 }, bandwidth_limit: "4M" },
      config,
    );
    const d2 = serve(config);
    try {
      await until("a skipped tick", () => d2.lines.some((l) => /this tick was skipped/.test(String(l.msg))), 90_000);
      await until(
        "a pass after the big one",
        () => d2.lines.filter((l) => l.msg === "pass succeeded").length >= 2,
        90_000,
      );
    } finally {
      d2.child.kill("SIGTERM");
    }
    assert.equal(await d2.exited, 0);

    const ours = (m: Map<string, string>, prefix: string): string[] =>
      [...m.keys()].filter((k) => k.startsWith(`${prefix}@bzman_`));
    const src = await snapshotGuids(S);
    const dst = await snapshotGuids(T);
    assert.equal(ours(src, "/a").length, 2, [...src.keys()].join(" "));
    assert.equal(ours(dst, "/a").length, 3, [...dst.keys()].join(" "));
    assert.ok(src.has("/a@manual") && dst.has("/a@manual"), "foreign snapshots survive");
    const newest = ours(src, "/a").at(-1)!;
    assert.equal(dst.get(newest), src.get(newest), "the newest is on both sides with the same GUID");
    const userrefs = async (snap: string): Promise<string> =>
      (await must(["zfs", "get", "-H", "-o", "value", "userrefs", snap])).trim();
    assert.equal(await userrefs(`${S}${newest}`), "1", "the common snapshot is held on the source");
    assert.equal(await userrefs(`${T}${newest}`), "1", "and on the backup");
    for (const old of ours(dst, "/a").slice(0, -1))
      assert.equal(await userrefs(`${T}${old}`), "0", `no hold left on ${old}`);

    const { store, problem } = await HistoryStore.open(join(rig.dir, "state.json"));
    assert.equal(problem, undefined);
    const rows = store.recent(1);
    assert.ok(rows.filter((r) => r.result === "ok").length >= 4, "passes are recorded");
    assert.ok(
      rows.some((r) => r.result === "skipped" && /this tick was skipped/.test(r.message ?? "")),
      "the skip is recorded",
    );
    assert.ok(
      rows.every((r) => r.phases && r.runId),
      "rows carry run id and phases",
    );
  });

  test("SIGTERM mid-transfer: exits within the bound, no zfs process left, the aborted pass recorded", async (t) => {
    await must(["zfs", "create", `${S}/c`]);
    writeFileSync(join(rig.sourceMount, "c", "big.bin"), randomBytes(80 * 1024 * 1024));
    const config = rig.writeConfig({ schedule: "*/1 * * * * *", datasets: [{ name: `${S}/c` }] });
    const d = serve(config);
    stopAfter(t, d.child);
    await until(
      "a transfer in flight",
      () => zfsProcesses(`${S}/c`).length > 0 || zfsProcesses(`${T}/c`).length > 0,
      60_000,
    );
    const t0 = Date.now();
    d.child.kill("SIGTERM");
    const code = await d.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 35_000, "within the stop bound");
    await until(
      "zfs processes gone",
      () => zfsProcesses(S).length === 0 && zfsProcesses(rig.backupPool).length === 0,
      30_000,
    );
    const { store } = await HistoryStore.open(join(rig.dir, "state.json"));
    const c = store.recent(1).filter((r) => r.dataset === `${S}/c`);
    assert.ok(
      c.some((r) => r.error?.code === "ABORTED"),
      JSON.stringify(c.map((r) => [r.result, r.error?.code])),
    );
    assert.deepEqual(readdirSync(join(rig.dir, "locks")), [], "locks released");
  });

  test("kill -9 mid-transfer: restart recovers the lock, the history is valid, the next pass succeeds", async (t) => {
    const config = rig.writeConfig({ schedule: "*/1 * * * * *", datasets: [{ name: `${S}/c` }] });
    const d = serve(config);
    stopAfter(t, d.child);
    await until("a transfer in flight", () => zfsProcesses(`${S}/c`).length > 0, 60_000);
    d.child.kill("SIGKILL");
    await d.exited;
    assert.ok(existsSync(join(rig.dir, "locks")));
    await until(
      "orphaned zfs processes end",
      () => zfsProcesses(S).length === 0 && zfsProcesses(rig.backupPool).length === 0,
      60_000,
    );
    const { problem } = await HistoryStore.open(join(rig.dir, "state.json"));
    assert.equal(problem, undefined, "history readable after kill -9");
    const d2 = serve(config);
    try {
      await until(
        "a successful pass after the restart",
        () => d2.lines.some((l) => l.msg === "pass succeeded"),
        120_000,
      );
    } finally {
      d2.child.kill("SIGTERM");
    }
    assert.equal(await d2.exited, 0);
    assert.ok(
      d2.lines.some((l) => /recovered a stale lock on .*\/c left by pid \d+/.test(String(l.msg))),
      "the stale lock was recovered, with a log line",
    );
    const c = await snapshotGuids(`${T}/c`);
    assert.ok(
      [...c.keys()].some((k) => k.startsWith("@bzman_")),
      "the dataset arrived",
    );
  });
});
