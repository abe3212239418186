// Scale benchmarks, each as a ratio against a baseline measured in the same run:
//   1. Planning 1,000 and 10,000 datasets x 100 snapshots (one listing per side) vs parsing the
//      listings: CPU time and heap growth.
//   2. Commands per daemon pass for 100 datasets (every one with the pass's new snapshot), counted
//      on scripted hosts, against the goal of 10 + the datasets that changed.

import { readFileSync } from "node:fs";
import { planSource } from "../server/core/plan.ts";
import { runSource, type SourceJob } from "../server/engine/run-source.ts";
import { ZfsHost } from "../server/zfs/zfs-host.ts";
import { parseGetListing } from "../server/zfs/parse.ts";
import { FakeRunner, starts } from "../test/helpers/fake-runner.ts";
import { listingText } from "./listings.ts";

function measure(f: () => unknown): { cpuMs: number; heapMB: number } {
  global.gc?.();
  const h0 = process.memoryUsage().heapUsed;
  const c0 = process.cpuUsage();
  const keep = f();
  const c = process.cpuUsage(c0);
  const heapMB = (process.memoryUsage().heapUsed - h0) / 1e6;
  void keep;
  return { cpuMs: (c.user + c.system) / 1000, heapMB };
}

async function planning(): Promise<void> {
  for (const n of [1000, 10000]) {
    const src = listingText("tank", n, 100);
    const dst = listingText("backup/w/tank", n, 99);
    let s = parseGetListing(src);
    let t = parseGetListing(dst);
    const parse = measure(() => [parseGetListing(src), parseGetListing(dst)]);
    const plan = measure(() => planSource([{ name: "tank", recursive: true }], s, t, "backup/w"));
    const p = planSource([{ name: "tank", recursive: true }], s, t, "backup/w");
    const incr = p.datasets.filter((d) => d.decision.kind === "transfer").length;
    process.stdout.write(
      `1. plan ${n} datasets x 100 snapshots: ${plan.cpuMs.toFixed(0)} ms CPU, heap +${plan.heapMB.toFixed(1)} MB; ` +
        `parsing both listings ${parse.cpuMs.toFixed(0)} ms, +${parse.heapMB.toFixed(1)} MB; ratio ${(plan.cpuMs / parse.cpuMs).toFixed(3)}x CPU (${incr} incremental plans)\n`,
    );
    s = t = new Map();
  }
}

async function commandCount(): Promise<void> {
  const usage = readFileSync(new URL("../test/fixtures/zfs/zfs-fuse-usage.txt", import.meta.url), "utf8");
  const N = 100;
  // Steady state: the source has 25 snapshots per dataset (24 kept + the pass's new one), the
  // backup the 24 older ones. Every dataset gets one incremental; retention then destroys one
  // snapshot per dataset on the source.
  const src = listingText("tank", N, 25);
  const dst = listingText("backup/w/tank", N, 24);
  const probe = { match: (a: string[]) => a.length === 1 && a[0] === "zfs", stderr: usage, code: 2 };
  const remote = new FakeRunner("web1", [
    probe,
    { match: starts("zfs", "get"), stdout: src },
    { match: starts("zfs", "send"), stdout: "x" },
    { match: () => true, code: 0 },
  ]);
  const local = new FakeRunner("local", [
    probe,
    { match: starts("zfs", "get"), stdout: dst },
    { match: starts("zfs", "receive"), readsStdin: true },
    { match: () => true, code: 0 },
  ]);
  const r = new ZfsHost(remote);
  const l = new ZfsHost(local);
  const job: SourceJob = {
    name: "web1",
    targetRoot: "backup/w",
    roots: [{ name: "tank", recursive: true }],
    policy: { firstSend: "oldest", includePrefixes: [] },
    snapshot: { name: "bzman_99999", prefix: "bzman" },
    holdTag: "bzman-common",
    retention: { prefix: "bzman", keepSource: { last: 24 }, keepBackup: { last: 48 } },
  };
  await runSource(job, { connect: async () => r, local: l, now: () => new Date("2026-11-27T00:00:00Z") }, "bench");
  const by = (calls: string[][]): Record<string, number> => {
    const m: Record<string, number> = {};
    for (const a of calls) m[a.slice(0, 2).join(" ")] = (m[a.slice(0, 2).join(" ")] ?? 0) + 1;
    return m;
  };
  const total = remote.calls.length + local.calls.length;
  const replicate = [...remote.calls, ...local.calls].filter(
    (a) => !["hold", "release", "destroy"].includes(a[1] ?? ""),
  ).length;
  const goal = 10 + N;
  const onSource = remote.calls.length;
  const sourceReplicate = remote.calls.filter((a) => a[1] !== "destroy").length;
  process.stdout.write(
    `2. commands for one daemon pass over ${N} datasets (each with the pass's new snapshot): ${total} in all, ${onSource} on the source.\n` +
      `   On the source without pruning: ${sourceReplicate} vs the goal 10 + ${N} changed = ${goal}, ratio ${(sourceReplicate / goal).toFixed(2)}x; ` +
      `with pruning (one destroy per dataset): ${onSource}, ratio ${(onSource / goal).toFixed(2)}x. Both sides, replication only: ${replicate}.\n` +
      `   source: ${JSON.stringify(by(remote.calls))}\n   backup: ${JSON.stringify(by(local.calls))}\n`,
  );
}

await planning();
await commandCount();
