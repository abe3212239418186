import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { transferStep } from "../../server/engine/transfer.ts";
import { runSource, runSucceeded, type SourceJob } from "../../server/engine/run-source.ts";
import { BackupError } from "../../server/errors.ts";
import { Slots } from "../../server/engine/slots.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import { LocalRunner, type CommandRunner, type ExitStatus } from "../../server/zfs/runner.ts";
import { FakeRunner, starts, type Script } from "../helpers/fake-runner.ts";
import { snaps } from "../helpers/snapshots.ts";
import type { Snapshot } from "../../server/core/model.ts";

const usage = readFileSync(new URL("../fixtures/zfs/zfs-fuse-usage.txt", import.meta.url), "utf8");
const probe: Script = { match: (a) => a.length === 1 && a[0] === "zfs", stderr: usage, code: 2 };
const [s1, s2] = snaps("s1", "s2") as [Snapshot, Snapshot];
const full = {
  kind: "full" as const,
  sourceDataset: "tank/a",
  targetDataset: "bak/w/tank/a",
  to: s1,
  intermediates: false,
};
const incr = {
  kind: "incremental" as const,
  sourceDataset: "tank/a",
  targetDataset: "bak/w/tank/a",
  from: s1,
  to: s2,
  intermediates: false,
};

function hosts(
  remote: Script[],
  local: Script[],
): { remote: ZfsHost; local: ZfsHost; sender: ZfsHost; receiver: ZfsHost; r: FakeRunner; l: FakeRunner } {
  const r = new FakeRunner("web1", [probe, ...remote]);
  const l = new FakeRunner("local", [probe, ...local]);
  const [remoteHost, localHost] = [new ZfsHost(r), new ZfsHost(l)];
  return { remote: remoteHost, local: localHost, sender: remoteHost, receiver: localHost, r, l };
}

test("transferStep: bytes are counted through, both exits 0 → bytes", async () => {
  const h = hosts(
    [{ match: starts("zfs", "send"), stdout: Buffer.alloc(300_000, 7) }],
    [{ match: starts("zfs", "receive"), readsStdin: true }],
  );
  assert.equal(await transferStep(full, h, { type: "filesystem" }), 300_000);
  assert.deepEqual(h.l.calls.at(-1), ["zfs", "receive", "-u", "bak/w/tank/a"]);
  assert.equal(h.l.stdinBytes.get("zfs receive -u bak/w/tank/a"), 300_000);
});

const rootCauses: Array<{ name: string; send: Partial<Script>; recv: Partial<Script>; code: string; message: RegExp }> =
  [
    {
      name: "destination modified wins over the sender's broken pipe",
      send: { stderr: "warning: cannot send 'tank/a@s2': Broken pipe", code: 1 },
      recv: {
        stderr:
          "cannot receive incremental stream: destination bak/w/tank/a has been modified\nsince most recent snapshot",
        code: 1,
      },
      code: "ZFS_DEST_MODIFIED",
      message:
        /local: zfs receive: cannot receive incremental stream: destination bak\/w\/tank\/a has been modified since most recent snapshot/,
    },
    {
      name: "a sender that dies is the cause of the receiver's invalid stream",
      send: { code: null, signal: "KILL" },
      recv: { stderr: "cannot receive incremental stream: invalid backup stream", code: 1 },
      code: "ZFS_SEND_FAILED",
      message: /web1: zfs send ended with signal KILL/,
    },
    {
      name: "a sender without exit status (connection lost)",
      send: { code: null, signal: null },
      recv: { stderr: "cannot receive: failed to read from stream", code: 1 },
      code: "SSH_NO_EXIT_STATUS",
      message: /zfs send ended with no exit status/,
    },
    {
      name: "a missing source snapshot",
      send: { stderr: "cannot open 'tank/a@s2': dataset does not exist", code: 1 },
      recv: { stderr: "cannot receive: failed to read from stream", code: 1 },
      code: "ZFS_DATASET_MISSING",
      message: /web1: zfs send: cannot open 'tank\/a@s2': dataset does not exist/,
    },
    {
      name: "the guard's refusal",
      send: { stderr: "bzman-guard: rejected: zfs send -R tank", code: 255 },
      recv: { code: 1, stderr: "cannot receive: failed to read from stream" },
      code: "GUARD_REJECTED",
      message: /bzman-guard: rejected/,
    },
    {
      name: "a failing SSH channel",
      send: { fail: new BackupError("SSH_CHANNEL", "web1: cannot run zfs send: Channel open failure") },
      recv: { code: 1 },
      code: "SSH_CHANNEL",
      message: /Channel open failure/,
    },
    {
      name: "an unknown receive failure is ZFS_FAILED with its stderr",
      send: {},
      recv: { stderr: "cannot receive: something new", code: 1 },
      code: "ZFS_FAILED",
      message: /something new/,
    },
  ];
for (const c of rootCauses) {
  test(`transferStep root cause: ${c.name}`, async () => {
    const h = hosts(
      [{ match: starts("zfs", "send"), stdout: "x".repeat(1000), ...c.send }],
      [{ match: starts("zfs", "receive"), readsStdin: true, ...c.recv }],
    );
    await assert.rejects(transferStep(incr, h, { type: "filesystem" }), (e: unknown) => {
      assert.ok(e instanceof BackupError);
      assert.equal(e.code, c.code, e.message);
      assert.match(e.message, c.message);
      return true;
    });
  });
}

test("transferStep: an aborted transfer is ABORTED and both commands are stopped", async () => {
  const h = hosts(
    [{ match: starts("zfs", "send"), stdout: "x", delayMs: 200 }],
    [{ match: starts("zfs", "receive"), readsStdin: true }],
  );
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 20);
  await assert.rejects(
    transferStep(incr, h, { type: "filesystem", signal: stop.signal }),
    (e: unknown) => e instanceof BackupError && e.code === "ABORTED",
  );
});

test("transferStep: a stream that moves no byte for the stall timeout is STALLED; both ends are stopped", async () => {
  const h = hosts(
    [{ match: starts("zfs", "send"), stdout: "x", delayMs: 1500 }],
    [{ match: starts("zfs", "receive"), readsStdin: true }],
  );
  const t0 = Date.now();
  await assert.rejects(transferStep(incr, h, { type: "filesystem", stallMs: 100 }), (e: unknown) => {
    assert.ok(e instanceof BackupError);
    assert.equal(e.code, "STALLED");
    assert.match(e.message, /moved no byte for 0s after 0 bytes; both ends were stopped/);
    assert.equal(e.transient, true);
    return true;
  });
  assert.ok(Date.now() - t0 < 1400, "the receive was stopped, not waited for");
  // A stream that keeps moving is never stopped, however slow overall.
  const ok = hosts(
    [{ match: starts("zfs", "send"), stdout: "y".repeat(10), delayMs: 50 }],
    [{ match: starts("zfs", "receive"), readsStdin: true }],
  );
  assert.equal(await transferStep(incr, ok, { type: "filesystem", stallMs: 1000 }), 10);
});

test("transferStep: a receive that exits 0 with the whole stream before the sender's end arrives is a complete step", async (t) => {
  // A real child as the receiver: Node destroys its stdin when it exits, and the pipe then reports
  // a premature close, as when the SSH channel's EOF comes after `zfs receive` has finished.
  const dir = mkdtempSync(join(tmpdir(), "bzman-early-exit-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fakeZfs = join(dir, "zfs");
  const usageFile = fileURLToPath(new URL("../fixtures/zfs/zfs-fuse-usage.txt", import.meta.url));
  const script = (receive: string): void =>
    writeFileSync(
      fakeZfs,
      ["#!/bin/sh", `[ $# -eq 0 ] && { cat '${usageFile}' >&2; exit 2; }`, receive, ""].join("\n"),
      { mode: 0o755 },
    );
  const real = new LocalRunner();
  const local: CommandRunner = {
    where: "local",
    run: (argv, o) => real.run([fakeZfs, ...argv.slice(1)], o),
    spawn: (argv, o) => real.spawn([fakeZfs, ...argv.slice(1)], o),
    running: () => [],
  };
  const probing = new FakeRunner("web1", [probe]);
  /** How the sender's output ends, 300 ms after its last byte: with its end, or gone without it. */
  let ending: "end" | "destroy" = "end";
  const remote: CommandRunner = {
    where: "web1",
    run: (argv, o) => probing.run(argv, o),
    spawn: (argv, o) => {
      if (argv[1] !== "send") return probing.spawn(argv, o);
      const stdout = new PassThrough();
      stdout.write(Buffer.alloc(4096, 7));
      // The sender's end (SSH's EOF and exit status) comes 300 ms after its last byte.
      const done = new Promise<ExitStatus>((r) =>
        setTimeout(() => {
          if (!stdout.destroyed) ending === "end" ? stdout.end() : stdout.destroy();
          r({ code: 0, signal: null, stderr: "" });
        }, 300),
      );
      return { argv, stdin: new PassThrough(), stdout, done, kill: () => undefined };
    },
    running: () => [],
  };
  const h = { sender: new ZfsHost(remote), receiver: new ZfsHost(local) };
  script("head -c 4096 > /dev/null; exit 0");
  assert.equal(await transferStep(incr, h, { type: "filesystem" }), 4096);
  // The same early end with a receive that failed is still the receive's failure.
  script("head -c 4096 > /dev/null; echo 'cannot receive incremental stream: invalid backup stream' >&2; exit 1");
  await assert.rejects(transferStep(incr, h, { type: "filesystem" }), (e: unknown) => {
    assert.ok(e instanceof BackupError);
    assert.match(e.message, /invalid backup stream/);
    return true;
  });
  // The sender's output gone before its end, while the receive still reads: a broken stream,
  // even though both commands exit 0 (the receive saw only the end of its input).
  ending = "destroy";
  script("cat > /dev/null; exit 0");
  await assert.rejects(transferStep(incr, h, { type: "filesystem" }), (e: unknown) => {
    assert.ok(e instanceof BackupError);
    assert.equal(e.code, "SSH_CHANNEL");
    assert.match(e.message, /broke: Premature close/);
    return true;
  });
});

function listing(lines: string[]): string {
  return `${lines.map((l) => l.split(" ").join("\t")).join("\n")}\n`;
}
const dataset = (name: string, guid: string, snapsOf: Array<[string, string, number]>): string[] => [
  `${name} guid ${guid}`,
  `${name} createtxg 1`,
  `${name} creation 1`,
  `${name} type filesystem`,
  ...snapsOf.flatMap(([s, g, txg]) => [
    `${name}@${s} guid ${g}`,
    `${name}@${s} createtxg ${txg}`,
    `${name}@${s} creation 1`,
    `${name}@${s} type snapshot`,
  ]),
];

const job: SourceJob = {
  name: "web1",
  targetRoot: "bak/w",
  roots: [{ name: "tank", recursive: true }],
  policy: { firstSend: "oldest", includePrefixes: [] },
};
const fixedNow = (): Date => new Date("2026-11-26T12:00:00Z");

/** The backup host's answers when the target root does not exist yet: everything arrives in full. */
const emptyBackup = (): Script[] => [
  { match: starts("zfs", "get"), stdout: "", stderr: "cannot open 'bak/w': dataset does not exist\n", code: 1 },
  { match: starts("zpool", "list"), stdout: "bak\tONLINE\n" },
  { match: starts("zfs", "create"), code: 0 },
  { match: starts("zfs", "receive"), readsStdin: true },
  { match: starts("zfs", "set"), code: 0 },
];

test("runSource: containers first, parents before children, full then incremental, safe properties set", async () => {
  const src = listing([
    ...dataset("tank", "1", [
      ["a", "11", 10],
      ["b", "12", 20],
    ]),
    ...dataset("tank/c", "2", [["a", "21", 10]]),
  ]);
  const h = hosts(
    [
      { match: starts("zfs", "get"), stdout: src },
      { match: starts("zfs", "send"), stdout: "data" },
    ],
    emptyBackup(),
  );
  const rec = await runSource(job, { connect: async () => h.remote, local: h.local, now: fixedNow }, "r1");
  assert.ok(runSucceeded(rec), JSON.stringify(rec, null, 1));
  const local = h.l.calls
    .filter((a) => a[1] !== "get" && a.length > 1)
    .map((a) => a.filter((x) => !x.startsWith("-") && !x.includes("=")).join(" "));
  assert.deepEqual(
    local.filter((x) => !x.startsWith("zfs set")),
    [
      "zpool list name,health bak",
      "zfs create bak/w",
      "zfs receive bak/w/tank",
      "zfs receive bak/w/tank",
      "zfs receive bak/w/tank/c",
    ],
  );
  assert.deepEqual(
    h.r.calls.filter((a) => a[1] === "send"),
    [
      ["zfs", "send", "tank@a"],
      ["zfs", "send", "-i", "tank@a", "tank@b"],
      ["zfs", "send", "tank/c@a"],
    ],
  );
  assert.ok(h.l.calls.some((a) => a.join(" ") === "zfs set readonly=on bak/w/tank/c"));
  assert.deepEqual(
    rec.datasets.map((d) => [d.dataset, d.mode, d.seed?.name, d.to?.name, d.bytes]),
    [
      ["tank", "full", "a", "b", 8],
      ["tank/c", "full", "a", "a", 4],
    ],
  );
  assert.equal(rec.startedAt, "2026-11-26T12:00:00.000Z");
});

test("runSource: a child whose parent failed to arrive fails with a clear message; nothing else is tried for it", async () => {
  const src = listing([...dataset("tank", "1", [["a", "11", 10]]), ...dataset("tank/c", "2", [["a", "21", 10]])]);
  const h = hosts(
    [
      { match: starts("zfs", "get"), stdout: src },
      { match: starts("zfs", "send"), stdout: "data" },
    ],
    [
      { match: starts("zfs", "get"), stdout: listing(dataset("bak/w", "9", [])) },
      {
        match: (a) => a[1] === "receive" && a.at(-1) === "bak/w/tank",
        readsStdin: true,
        code: 1,
        stderr: "cannot receive: out of space",
      },
      { match: starts("zfs", "receive"), readsStdin: true },
    ],
  );
  const rec = await runSource(job, { connect: async () => h.remote, local: h.local, now: fixedNow }, "r2");
  assert.equal(rec.datasets[0]!.error?.code, "ZFS_NO_SPACE");
  assert.equal(rec.datasets[1]!.result, "failed");
  assert.match(rec.datasets[1]!.message!, /parent bak\/w\/tank was not replicated/);
  assert.ok(!h.l.calls.some((a) => a.at(-1) === "bak/w/tank/c"), "the child's receive was never started");
});

test("runSource: a connect failure fails every configured root with the error, and never throws", async () => {
  const h = hosts([], []);
  const rec = await runSource(
    {
      ...job,
      roots: [
        { name: "tank", recursive: true },
        { name: "data/x", recursive: false },
      ],
    },
    {
      connect: async () => {
        throw new BackupError("SSH_CONNECT", "web1 (root@h:22): cannot connect: ECONNREFUSED");
      },
      local: h.local,
      now: fixedNow,
    },
    "r3",
  );
  assert.deepEqual(
    rec.datasets.map((d) => [d.dataset, d.result, d.error?.code]),
    [
      ["tank", "failed", "SSH_CONNECT"],
      ["data/x", "failed", "SSH_CONNECT"],
    ],
  );
  assert.equal(rec.error?.code, "SSH_CONNECT");
  assert.ok(!runSucceeded(rec));
  assert.equal(h.l.calls.length, 0, "nothing was run locally");
});

test("runSource: every transfer waits for a global slot and gives it back, even when it fails", async () => {
  const src = listing([
    ...dataset("tank", "1", [["a", "11", 10]]),
    ...dataset("tank/c", "2", [["a", "21", 10]]),
    ...dataset("tank/d", "3", [["a", "31", 10]]),
  ]);
  const h = hosts(
    [
      { match: starts("zfs", "get"), stdout: src },
      { match: starts("zfs", "send"), stdout: "data" },
    ],
    [
      { match: starts("zfs", "get"), stdout: listing(dataset("bak/w", "9", [])) },
      {
        match: (a) => a[1] === "receive" && a.at(-1) === "bak/w/tank/d",
        readsStdin: true,
        code: 1,
        stderr: "cannot receive: out of space",
      },
      { match: starts("zfs", "receive"), readsStdin: true },
      { match: starts("zfs", "set"), code: 0 },
    ],
  );
  let held = 0;
  let acquired = 0;
  const transferSlot = async (): Promise<() => void> => {
    assert.equal(held, 0, "one at a time");
    held++;
    acquired++;
    return () => void held--;
  };
  const rec = await runSource(
    job,
    { connect: async () => h.remote, local: h.local, now: fixedNow, transferSlot },
    "r4",
  );
  assert.equal(acquired, 3);
  assert.equal(held, 0, "every slot given back");
  assert.deepEqual(
    rec.datasets.map((d) => d.result),
    ["ok", "ok", "failed"],
  );
});

test("runSource with holds: each dataset's transfer end is told as it ends, its record after the holds", async () => {
  const names = ["tank", "tank/c", "tank/d"];
  const src = listing(names.flatMap((n, i) => dataset(n, `${i + 1}`, [["a", `${i + 1}1`, 10]])));
  const h = hosts(
    [
      { match: starts("zfs", "get"), stdout: src },
      { match: starts("zfs", "send"), stdout: "data" },
    ],
    [
      { match: starts("zfs", "get"), stdout: listing(dataset("bak/w", "9", [])) },
      { match: starts("zfs", "receive"), readsStdin: true },
      { match: starts("zfs", "set"), code: 0 },
    ],
  );
  const events: string[] = [];
  await runSource(
    { ...job, parallel: 2, holdTag: "bzman.test" },
    {
      connect: async () => h.remote,
      local: h.local,
      now: fixedNow,
      onTransferEnd: (ds) => events.push(`transfer ${ds}`),
      onDataset: (d) => events.push(`record ${d.dataset}`),
    },
    "r-ends",
  );
  assert.deepEqual(events.slice(0, 3).sort(), ["transfer tank", "transfer tank/c", "transfer tank/d"]);
  assert.deepEqual(events.slice(3), ["record tank", "record tank/c", "record tank/d"]);
});

test("runSource with parallel: parents before children, within both bounds; a failure stops no sibling; records in plan order", async () => {
  const names = ["tank", "tank/c", "tank/d", "tank/e", "tank/f", "tank/c/x", "tank/d/y"];
  const src = listing(names.flatMap((n, i) => dataset(n, `${i + 1}`, [["a", `${i + 1}1`, 10]])));
  const h = hosts(
    [
      { match: starts("zfs", "get"), stdout: src },
      { match: starts("zfs", "send"), stdout: "data" },
    ],
    [
      { match: starts("zfs", "get"), stdout: listing(dataset("bak/w", "9", [])) },
      {
        match: (a) => a[1] === "receive" && a.at(-1) === "bak/w/tank/d",
        readsStdin: true,
        code: 1,
        stderr: "cannot receive: out of space",
      },
      { match: starts("zfs", "receive"), readsStdin: true },
      { match: starts("zfs", "set"), code: 0 },
    ],
  );
  const events: string[] = [];
  let running = 0;
  let peak = 0;
  const slots = new Slots(2);
  let slotPeak = 0;
  const rec = await runSource(
    { ...job, parallel: 3 },
    {
      connect: async () => h.remote,
      local: h.local,
      now: fixedNow,
      // Taken as a dataset's replication starts; its record arrives as it ends.
      lock: async (t) => {
        events.push(`start ${t}`);
        peak = Math.max(peak, ++running);
        return async () => undefined;
      },
      transferSlot: async (sig) => {
        const release = await slots.acquire(sig);
        slotPeak = Math.max(slotPeak, slots.inUse);
        return release;
      },
      onDataset: (d) => {
        running--;
        events.push(`end ${d.target}`);
      },
    },
    "r-par",
  );
  assert.deepEqual(
    rec.datasets.map((d) => [d.dataset, d.result]),
    [
      ["tank", "ok"],
      ["tank/c", "ok"],
      ["tank/d", "failed"],
      ["tank/e", "ok"],
      ["tank/f", "ok"],
      ["tank/c/x", "ok"],
      ["tank/d/y", "failed"],
    ],
  );
  assert.match(rec.datasets[6]!.message!, /parent bak\/w\/tank\/d was not replicated/);
  const at = (e: string): number => events.indexOf(e);
  for (const [child, parent] of [
    ["c", ""],
    ["d", ""],
    ["e", ""],
    ["f", ""],
    ["c/x", "/c"],
  ])
    assert.ok(at(`start bak/w/tank/${child}`) > at(`end bak/w/tank${parent}`), `tank/${child} after its parent`);
  // The child of the failed parent is looked at only after the parent ended, and never received.
  assert.ok(at("end bak/w/tank/d/y") > at("end bak/w/tank/d"));
  assert.equal(at("start bak/w/tank/d/y"), -1);
  assert.ok(!h.l.calls.some((a) => a.at(-1) === "bak/w/tank/d/y"), "the failed parent's child was never received");
  assert.equal(peak, 3, "three datasets side by side (parallel: 3)");
  assert.equal(slotPeak, 2, "the global slots bound the streams: 2 of the 3 at once");
  assert.equal(slots.inUse, 0, "every slot given back");
  assert.equal(events.length, 2 * names.length - 1, "every dataset ended once, each received one started once");
});

test("runSource: a paused (promoted) dataset is skipped with its reason; no container is made for it and the rest replicate", async () => {
  const src = listing([...dataset("tank", "1", [["a", "11", 10]]), ...dataset("tank/c", "2", [["a", "21", 10]])]);
  const h = hosts(
    [
      { match: starts("zfs", "get"), stdout: src },
      { match: starts("zfs", "send"), stdout: "data" },
    ],
    emptyBackup(),
  );
  const paused = new Map([["tank/c", "promoted to local:bak/bzman-live/w/tank/c"]]);
  const rec = await runSource(
    { ...job, paused },
    { connect: async () => h.remote, local: h.local, now: fixedNow },
    "r1",
  );
  assert.deepEqual(
    rec.datasets.map((d) => [d.dataset, d.result, d.message ?? ""]),
    [
      ["tank", "ok", ""],
      ["tank/c", "skipped", "promoted to local:bak/bzman-live/w/tank/c"],
    ],
  );
  assert.ok(
    !h.l.calls.some((a) => a.at(-1) === "bak/w/tank/c"),
    "nothing is received or created at the promoted dataset's name",
  );
});

test("runSource: a transient failure is retried within the pass (reconnecting, continuing from the target); a permanent one is not", async () => {
  const src = listing(
    dataset("tank", "1", [
      ["a", "11", 10],
      ["b", "12", 20],
    ]),
  );
  const bak = listing(dataset("bak/w/tank", "9", [["a", "11", 10]]).map((l) => l));
  let sends = 0;
  const h = hosts(
    [
      { match: starts("zfs", "get"), stdout: src },
      {
        match: (a) => starts("zfs", "send")(a) && ++sends === 1,
        fail: new BackupError("SSH_CHANNEL", "web1: connection lost"),
      },
      { match: starts("zfs", "send"), stdout: "data" },
    ],
    [
      { match: starts("zfs", "get"), stdout: bak },
      { match: starts("zfs", "receive"), readsStdin: true },
    ],
  );
  let connects = 0;
  const rec = await runSource(
    { ...job, retry: { retries: 2, minTimeoutMs: 10 } },
    {
      connect: async () => {
        connects++;
        return h.remote;
      },
      local: h.local,
      now: fixedNow,
    },
    "r1",
  );
  assert.equal(rec.datasets[0]!.result, "ok", JSON.stringify(rec.datasets[0]));
  assert.equal(connects, 2, "reconnected before the retry");
  assert.match(
    rec.datasets[0]!.warnings!.join(" "),
    /attempt 1 failed \(SSH_CHANNEL: web1: connection lost\); retried/,
  );
  assert.deepEqual(
    h.r.calls.filter((a) => a[1] === "send").map((a) => a.join(" ")),
    ["zfs send -i tank@a tank@b", "zfs send -i tank@a tank@b"],
  );

  const denied = hosts(
    [
      { match: starts("zfs", "get"), stdout: src },
      { match: starts("zfs", "send"), stderr: "bzman-guard: rejected: x", code: 255 },
    ],
    [
      { match: starts("zfs", "get"), stdout: bak },
      { match: starts("zfs", "receive"), readsStdin: true },
    ],
  );
  const rec2 = await runSource(
    { ...job, retry: { retries: 2, minTimeoutMs: 10 } },
    { connect: async () => denied.remote, local: denied.local, now: fixedNow },
    "r2",
  );
  assert.equal(rec2.datasets[0]!.error?.code, "GUARD_REJECTED");
  assert.equal(denied.r.calls.filter((a) => a[1] === "send").length, 1, "a permanent failure is not retried");
});

test("runSource: a listing killed by a stop request is recorded as ABORTED, not as a failure of the source", async () => {
  const stop = new AbortController();
  const h = hosts(
    [{ match: starts("zfs", "get"), stdout: "", stderr: "", code: null, signal: "SIGPIPE", delayMs: 30 }],
    [{ match: starts("zfs", "get"), stdout: "" }],
  );
  setTimeout(() => stop.abort(), 5);
  const rec = await runSource(
    job,
    { connect: async () => h.remote, local: h.local, now: fixedNow, signal: stop.signal },
    "r1",
  );
  assert.equal(rec.error?.code, "ABORTED");
  assert.match(rec.error!.message, /the pass was stopped/);
});

test("holdMany: one command per batch; a failed batch is redone per snapshot, a tag already there is fine", async () => {
  let batches = 0;
  const r = new FakeRunner("web1", [
    probe,
    {
      match: (a) => starts("zfs", "hold")(a) && a.length > 4 && ++batches > 0,
      stderr: "cannot hold 'tank/a@s1': tag already exists on this dataset\n",
      code: 1,
    },
    {
      match: (a) => starts("zfs", "hold")(a) && a[3] === "tank/a@s1",
      stderr: "cannot hold 'tank/a@s1': tag already exists on this dataset\n",
      code: 1,
    },
    {
      match: (a) => starts("zfs", "hold")(a) && a[3] === "tank/c@s1",
      stderr: "cannot hold 'tank/c@s1': permission denied\n",
      code: 1,
    },
    { match: starts("zfs", "hold"), code: 0 },
  ]);
  const failures = await new ZfsHost(r).holdMany("hold", "bzman-common", [
    ["tank/a", "s1"],
    ["tank/b", "s1"],
    ["tank/c", "s1"],
  ]);
  assert.equal(batches, 1);
  assert.deepEqual(
    r.calls.filter((a) => a[1] === "hold").map((a) => a.length),
    [6, 4, 4, 4],
  );
  assert.equal(failures.length, 1);
  assert.match(failures[0]!, /^tank\/c@s1: .*permission denied/);
});

// A resume that can never work, two ways (core/continue.ts afterFailedResume): the partial
// receive is discarded (receive -A) and the step sent again in the same pass, with a warning.
const RESUME_GIVEN_UP: Array<{ why: string; stderr: string; code: number; warning: RegExp }> = [
  {
    why: "its snapshot is gone on the source",
    stderr: "cannot resume send: 'tank@b' used in the initial send no longer exists\n",
    code: 1,
    warning:
      /could not resume: its snapshot is gone on the source .* discarded \(zfs receive -A\) and the dataset planned again/,
  },
  {
    why: "the source's guard refuses zfs send -t",
    stderr: "bzman-guard: rejected: this key may not resume sends (zfs send -t); its guard lacks --allow-resume\n",
    code: 255,
    warning: /could not resume: the source's guard refuses to resume sends .* discarded \(zfs receive -A\)/,
  },
];
for (const c of RESUME_GIVEN_UP) {
  test(`runSource: a resume that cannot work (${c.why}) is given up: partial discarded (receive -A), the step sent again in the same pass`, async () => {
    const ozUsage = readFileSync(new URL("../fixtures/zfs/openzfs-2.1-usage.txt", import.meta.url), "utf8");
    const src = listing(
      dataset("tank", "1", [
        ["a", "11", 10],
        ["c", "13", 30],
      ]),
    );
    const row = (name: string, type: string, guid: string, txg: number, token = "-"): string =>
      [name, type, guid, String(txg), "1700000000", "-", token].join("\t");
    let lists = 0;
    const bak = (withToken: boolean): string =>
      `${[
        row("bak/w", "filesystem", "7", 1),
        row("bak/w/tank", "filesystem", "9", 2, withToken ? "1-abc-def" : "-"),
        row("bak/w/tank@a", "snapshot", "11", 10),
      ].join("\n")}\n`;
    const r = new FakeRunner("web1", [
      probe,
      { match: starts("zfs", "get"), stdout: src },
      { match: starts("zfs", "send", "-t"), stderr: c.stderr, code: c.code },
      { match: starts("zfs", "send"), stdout: "data" },
    ]);
    const l = new FakeRunner("local", [
      { match: (a) => a.length === 1 && a[0] === "zfs", stderr: ozUsage, code: 2 },
      { match: (a) => starts("zfs", "list")(a) && ++lists === 1, stdout: bak(true) },
      { match: starts("zfs", "list"), stdout: bak(false) },
      { match: starts("zfs", "receive", "-A"), code: 0 },
      { match: starts("zfs", "receive"), readsStdin: true },
    ]);
    const rec = await runSource(
      { ...job, retry: { retries: 2, minTimeoutMs: 10 } },
      { connect: async () => new ZfsHost(r), local: new ZfsHost(l), now: fixedNow },
      "r1",
    );
    const d = rec.datasets[0]!;
    assert.equal(d.result, "ok", JSON.stringify(d));
    assert.ok(
      l.calls.some((a) => a.join(" ") === "zfs receive -A bak/w/tank"),
      "the partial state was discarded",
    );
    assert.deepEqual(
      r.calls.filter((a) => a[1] === "send").map((a) => a.join(" ")),
      ["zfs send -t 1-abc-def", "zfs send -i tank@a tank@c"],
      "not retried, then replanned from @a",
    );
    assert.match(d.warnings!.join(" "), c.warning);
    assert.equal(d.mode, "incremental");
    assert.equal(d.to?.name, "c");
  });
}

test("runSource: a cut stream into a resumable backup records the token it left; the pass that resumes names it", async () => {
  const ozUsage = readFileSync(new URL("../fixtures/zfs/openzfs-2.1-usage.txt", import.meta.url), "utf8");
  const src = listing(
    dataset("tank", "1", [
      ["a", "11", 10],
      ["c", "13", 30],
    ]),
  );
  const row = (name: string, type: string, guid: string, txg: number, token = "-"): string =>
    [name, type, guid, String(txg), "1700000000", "-", token].join("\t");
  const bak = (token: string): string =>
    `${[
      row("bak/w", "filesystem", "7", 1),
      row("bak/w/tank", "filesystem", "9", 2, token),
      row("bak/w/tank@a", "snapshot", "11", 10),
    ].join("\n")}\n`;
  const usage = { match: (a: string[]) => a.length === 1 && a[0] === "zfs", stderr: ozUsage, code: 2 };
  const remote = (): FakeRunner =>
    new FakeRunner("web1", [
      probe,
      { match: starts("zfs", "get"), stdout: src },
      { match: starts("zfs", "send"), stdout: "data" },
    ]);
  let lists = 0;
  const l1 = new FakeRunner("local", [
    usage,
    { match: (a) => starts("zfs", "list")(a) && ++lists === 1, stdout: bak("-") },
    { match: starts("zfs", "list"), stdout: bak("1-abc-def") },
    {
      match: starts("zfs", "receive"),
      readsStdin: true,
      code: 1,
      stderr:
        "cannot receive incremental stream: checksum mismatch or incomplete stream.\nPartially received snapshot is saved.\n",
    },
  ]);
  const cut = (
    await runSource(job, { connect: async () => new ZfsHost(remote()), local: new ZfsHost(l1), now: fixedNow }, "r1")
  ).datasets[0]!;
  assert.equal(cut.result, "failed");
  assert.equal(cut.resumeToken, "1-abc-def", "the token the cut stream left");
  assert.match(cut.message!, /next pass resumes it/);
  const r2 = remote();
  const l2 = new FakeRunner("local", [
    usage,
    { match: starts("zfs", "list"), stdout: bak("1-abc-def") },
    { match: starts("zfs", "receive"), readsStdin: true },
  ]);
  const resumed = (
    await runSource(job, { connect: async () => new ZfsHost(r2), local: new ZfsHost(l2), now: fixedNow }, "r2")
  ).datasets[0]!;
  assert.equal(resumed.result, "ok", JSON.stringify(resumed));
  assert.equal(resumed.mode, "resume");
  assert.equal(resumed.resumeToken, "1-abc-def", "the resumed token is in the record");
  assert.deepEqual(
    r2.calls.filter((a) => a[1] === "send").map((a) => a.join(" ")),
    ["zfs send -t 1-abc-def"],
  );
  assert.ok(
    l2.calls.some((a) => a[1] === "receive" && a.includes("-s")),
    "received resumable again",
  );
});
