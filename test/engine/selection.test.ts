// A pass over a recursive root with datasets left out (engine/run-source.ts with core/selection.ts
// deciding): nothing is sent for them, they are recorded as excluded, their backups are neither
// pruned nor touched, the pass's own new snapshot is taken off them again; an older guard that
// refuses the property column still gets a pass; receive properties a receiver lacks fail clearly.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runSource, runSucceeded, type SourceJob } from "../../server/engine/run-source.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import { excludePatterns } from "../../server/config/exclude.ts";
import { FakeRunner, starts, type Script } from "../helpers/fake-runner.ts";

const usage = readFileSync(new URL("../fixtures/zfs/zfs-fuse-usage.txt", import.meta.url), "utf8");
const probe: Script = { match: (a) => a.length === 1 && a[0] === "zfs", stderr: usage, code: 2 };
const OLD = "bzman_20261126T100000Z";
const S0 = "bzman_20261126T110000Z";
const PASS = "bzman_20261126T120000Z";
const now = (): Date => new Date("2026-11-26T12:00:00Z");

/** `zfs get` lines of a dataset: its properties (bzman:backup when given) and its snapshots. */
function dataset(name: string, guid: string, snaps: Array<[string, string, number]>, select?: string): string[] {
  return [
    `${name}\tguid\t${guid}`,
    `${name}\tcreatetxg\t1`,
    `${name}\tcreation\t1`,
    `${name}\ttype\tfilesystem`,
    ...(select !== undefined ? [`${name}\tbzman:backup\t${select}`] : []),
    ...snaps.flatMap(([s, g, txg]) => [
      `${name}@${s}\tguid\t${g}`,
      `${name}@${s}\tcreatetxg\t${txg}`,
      `${name}@${s}\tcreation\t${1_764_150_000 + txg}`,
      `${name}@${s}\ttype\tsnapshot`,
    ]),
  ];
}
const text = (lines: string[]): string => `${lines.join("\n")}\n`;
const both = (p: string): Array<[string, string, number]> => [
  [S0, `${p}0`, 10],
  [PASS, `${p}1`, 20],
];

const sourceLines = (withSelect: boolean): string[] => [
  ...dataset("tank", "1", both("10"), withSelect ? "-" : undefined),
  ...dataset("tank/www", "2", both("20"), withSelect ? "-" : undefined),
  ...dataset("tank/scratch", "3", both("30"), withSelect ? "-" : undefined),
  ...dataset("tank/off", "4", both("40"), withSelect ? "off" : undefined),
  ...dataset("tank/off/back-on", "5", both("50"), withSelect ? "on" : undefined),
];
const source = text(sourceLines(true));
const backup = text([
  ...dataset("bak/w", "90", []),
  ...dataset("bak/w/tank", "91", [[S0, "100", 10]]),
  ...dataset("bak/w/tank/www", "92", [[S0, "200", 10]]),
  // Old backups of the datasets now left out, each with two of bzman's snapshots retention would thin.
  ...dataset("bak/w/tank/scratch", "93", [
    [OLD, "399", 5],
    [S0, "300", 10],
  ]),
  ...dataset("bak/w/tank/off", "94", [
    [OLD, "499", 5],
    [S0, "400", 10],
  ]),
  ...dataset("bak/w/tank/off/back-on", "95", [[S0, "500", 10]]),
]);

function hosts(
  remoteList: Script[],
  backupText = backup,
): { remote: ZfsHost; local: ZfsHost; r: FakeRunner; l: FakeRunner } {
  const r = new FakeRunner("web1", [
    probe,
    ...remoteList,
    { match: starts("zfs", "snapshot") },
    { match: starts("zfs", "send"), stdout: "data" },
    { match: starts("zfs", "destroy") },
  ]);
  const l = new FakeRunner("local", [
    probe,
    { match: starts("zfs", "get"), stdout: backupText },
    { match: starts("zfs", "receive"), readsStdin: true },
    { match: starts("zfs", "set") },
    { match: starts("zfs", "destroy") },
  ]);
  return { remote: new ZfsHost(r), local: new ZfsHost(l), r, l };
}

const job: SourceJob = {
  name: "web1",
  targetRoot: "bak/w",
  policy: { firstSend: "oldest", includePrefixes: [] },
  roots: [{ name: "tank", recursive: true, exclude: excludePatterns(["scratch"]) }],
  snapshot: { name: PASS, prefix: "bzman" },
  retention: { prefix: "bzman", keepSource: { last: 1 }, keepBackup: { last: 1 } },
};

test("excluded by pattern and by property: not sent, recorded as excluded, backups kept, the pass's snapshot taken off them", async () => {
  const h = hosts([{ match: starts("zfs", "get"), stdout: source }]);
  const rec = await runSource(job, { connect: async () => h.remote, local: h.local, now }, "r1");
  assert.ok(runSucceeded(rec), JSON.stringify(rec.datasets, null, 1));
  assert.deepEqual(
    rec.datasets.map((d) => [d.dataset, d.result]),
    [
      ["tank/off", "excluded"],
      ["tank/scratch", "excluded"],
      ["tank", "ok"],
      ["tank/www", "ok"],
      ["tank/off/back-on", "ok"],
    ],
  );
  assert.match(
    rec.datasets[0]!.message!,
    /left out by bzman:backup=off on the source; its backup bak\/w\/tank\/off is kept as it is/,
  );
  assert.match(
    rec.datasets[1]!.message!,
    /left out by exclude "scratch" of tank; its backup bak\/w\/tank\/scratch is kept as it is/,
  );
  assert.ok(rec.datasets.every((d) => d.result !== "conflict"));
  // The listing asked for the property in the same call; nothing else was listed on the source.
  assert.deepEqual(
    h.r.calls.filter((a) => a[1] === "get"),
    [
      [
        "zfs",
        "get",
        "-H",
        "-p",
        "-o",
        "name,property,value",
        "guid,createtxg,creation,type,userrefs,bzman:backup",
        "-r",
        "tank",
      ],
    ],
  );
  const sent = h.r.calls.filter((a) => a[1] === "send").map((a) => a.at(-1));
  assert.deepEqual(sent, [`tank@${PASS}`, `tank/www@${PASS}`, `tank/off/back-on@${PASS}`]);
  const destroyedOnSource = h.r.calls.filter((a) => a[1] === "destroy").map((a) => a[2]);
  assert.ok(
    destroyedOnSource.includes(`tank/scratch@${PASS}`) && destroyedOnSource.includes(`tank/off@${PASS}`),
    destroyedOnSource.join(" "),
  );
  assert.ok(
    !destroyedOnSource.some((d) => d!.startsWith("tank/scratch@") && d !== `tank/scratch@${PASS}`),
    "only the pass's own new snapshot",
  );
  const local = h.l.calls.filter((a) => a[1] !== "get").map((a) => a.join(" "));
  assert.ok(
    !local.some((c) => /bak\/w\/tank\/(scratch|off)(@|$| )/.test(c) && !c.includes("back-on")),
    `an excluded backup is never touched:\n${local.join("\n")}`,
  );
});

test("the pass's name was taken (a snapshot of that second from before): its own is a second later, and only that one is taken off the excluded datasets", async () => {
  const LATER = "bzman_20261126T120001Z";
  const three = (p: string): Array<[string, string, number]> => [...both(p), [LATER, `${p}2`, 30]];
  const listed = text([
    ...dataset("tank", "1", three("10"), "-"),
    ...dataset("tank/www", "2", three("20"), "-"),
    ...dataset("tank/scratch", "3", three("30"), "-"),
    ...dataset("tank/off", "4", three("40"), "off"),
    ...dataset("tank/off/back-on", "5", three("50"), "on"),
  ]);
  const taken: Script = {
    match: (a) => starts("zfs", "snapshot")(a) && a.at(-1) === `tank@${PASS}`,
    code: 1,
    stderr: `cannot create snapshot 'tank@${PASS}': dataset already exists\n`,
  };
  const h = hosts([taken, { match: starts("zfs", "get"), stdout: listed }]);
  const rec = await runSource(
    { ...job, snapshot: { name: PASS, prefix: "bzman", nameNow: () => LATER } },
    { connect: async () => h.remote, local: h.local, now },
    "r1b",
  );
  assert.ok(runSucceeded(rec), JSON.stringify(rec.datasets, null, 1));
  assert.deepEqual(
    h.r.calls.filter((a) => a[1] === "snapshot").map((a) => a.at(-1)),
    [`tank@${PASS}`, `tank@${LATER}`],
  );
  const destroyedOnSource = h.r.calls.filter((a) => a[1] === "destroy").map((a) => a[2]);
  assert.ok(
    destroyedOnSource.includes(`tank/scratch@${LATER}`) && destroyedOnSource.includes(`tank/off@${LATER}`),
    destroyedOnSource.join(" "),
  );
  assert.ok(
    !destroyedOnSource.includes(`tank/scratch@${PASS}`) && !destroyedOnSource.includes(`tank/off@${PASS}`),
    `the snapshot that was there before the pass stays: ${destroyedOnSource.join(" ")}`,
  );
  const sent = h.r.calls.filter((a) => a[1] === "send").map((a) => a.at(-1));
  assert.ok(sent.includes(`tank/www@${LATER}`), sent.join(" "));
});

test("a guard older than property selection refuses the column: the pass lists without it, says so once, config still selects", async () => {
  const rejected = {
    match: (a: string[]) => starts("zfs", "get")(a) && a.includes("guid,createtxg,creation,type,userrefs,bzman:backup"),
    stderr: "bzman-guard: rejected: zfs get shape\n",
    code: 255,
  };
  const h = hosts([rejected, { match: starts("zfs", "get"), stdout: text(sourceLines(false)) }]);
  const rec = await runSource(job, { connect: async () => h.remote, local: h.local, now }, "r2");
  assert.deepEqual(
    rec.datasets.map((d) => [d.dataset, d.result]),
    [
      ["tank/scratch", "excluded"],
      ["tank", "ok"],
      ["tank/off", "ok"],
      ["tank/www", "ok"],
      ["tank/off/back-on", "ok"],
    ],
    "without the column only the exclude pattern leaves a dataset out",
  );
  const warnings = rec.datasets.flatMap((d) => d.warnings ?? []).filter((w) => w.includes("bzman:backup"));
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!,
    /guard refused the bzman:backup column .* run source-hooks\/install-source.sh on it again/,
  );
});

test("receive properties the backup host's zfs cannot apply fail the receive with ZFS_UNSUPPORTED, before anything is sent", async () => {
  const h = hosts([{ match: starts("zfs", "get"), stdout: source }]);
  const rec = await runSource(
    {
      ...job,
      roots: [{ name: "tank", recursive: true }],
      snapshot: undefined,
      retention: undefined,
      receive: { exclude: ["atime"], set: [] },
    },
    { connect: async () => h.remote, local: h.local, now },
    "r3",
  );
  const failed = rec.datasets.filter((d) => d.result === "failed");
  assert.ok(failed.length > 0);
  for (const d of failed) {
    assert.equal(d.error?.code, "ZFS_UNSUPPORTED");
    assert.match(
      d.message!,
      /receive_exclude \(atime\) needs zfs receive -x, which the backup host's zfs does not have/,
    );
  }
  assert.equal(h.l.calls.filter((a) => a[1] === "receive").length, 0, "no receive was started");
  assert.equal(h.r.calls.filter((a) => a[1] === "send").length, 0, "no send was started");
});

test("a root's keep_backup overrides the source's for every dataset below it", async () => {
  // Every backup is up to date and holds two older snapshots of bzman's: retention decides.
  const upToDate = text([
    ...dataset("bak/w", "90", []),
    ...["tank", "tank/www", "tank/scratch"].flatMap((d, i) =>
      dataset(`bak/w/${d}`, `9${i}`, [
        [OLD, `${i + 1}9`, 5],
        [S0, `${i + 1}00`, 10],
        [PASS, `${i + 1}01`, 20],
      ]),
    ),
  ]);
  const only = text(sourceLines(false).filter((l) => !l.startsWith("tank/off")));
  const destroyed = async (keepBackup?: { last: number }): Promise<string[]> => {
    const h = hosts([{ match: starts("zfs", "get"), stdout: only }], upToDate);
    await runSource(
      {
        ...job,
        snapshot: undefined,
        roots: [{ name: "tank", recursive: true, ...(keepBackup ? { keepBackup } : {}) }],
      },
      { connect: async () => h.remote, local: h.local, now },
      "r4",
    );
    return h.l.calls
      .filter((a) => a[1] === "destroy")
      .map((a) => a[2]!)
      .sort();
  };
  assert.deepEqual(await destroyed({ last: 10 }), [], "the root's last: 10 keeps everything");
  assert.deepEqual(
    await destroyed(),
    ["tank", "tank/scratch", "tank/www"].flatMap((d) => [`bak/w/${d}@${OLD}`, `bak/w/${d}@${S0}`]).sort(),
    "the source's last: 1 thins every backup",
  );
});
