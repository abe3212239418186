// skip_unchanged through runSource, on scripted hosts that keep a model of both sides (the
// snapshots a `zfs snapshot -r` adds, what a receive adds): how many commands each pass runs on
// each side, which roots get a snapshot, and what the records say. The real proof is the OpenZFS
// tier (test/openzfs/openzfs.test.ts); these pin down the decisions and the fallbacks.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runSource, type SourceJob } from "../../server/engine/run-source.ts";
import { newSourceMemo, type SourceMemo } from "../../server/engine/unchanged-pass.ts";
import { FULL_LISTING_EVERY, SETTLE_SECONDS } from "../../server/core/unchanged.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import { FakeRunner, starts, type Script } from "../helpers/fake-runner.ts";

const usage23 = readFileSync(new URL("../fixtures/zfs/openzfs-2.3-usage.txt", import.meta.url), "utf8");
const usageFuse = readFileSync(new URL("../fixtures/zfs/zfs-fuse-usage.txt", import.meta.url), "utf8");

const ids = new Map<string, string>();
/** A numeric GUID for a label, the same each time (zfs prints GUIDs as decimal numbers). */
const gid = (label: string): string => {
  if (!ids.has(label)) ids.set(label, String(9_000_000 + ids.size));
  return ids.get(label)!;
};

interface Snap {
  name: string;
  guid: string;
  txg: number;
}
interface Ds {
  guid: string;
  written: number;
  changed: number;
  snaps: Snap[];
}

/** Both sides of a source `tank` (recursive: tank, tank/a, tank/b) and its backup under bak/w. */
class World {
  txg = 100;
  src = new Map<string, Ds>();
  dst = new Map<string, Ds>();
  /** The source's zfs: "2.3" (written and snapshots_changed), "2.1" (written only), "fuse" (neither). */
  constructor(readonly zfs: "2.3" | "2.1" | "fuse" = "2.3") {
    for (const n of ["tank", "tank/a", "tank/b"]) {
      const s: Snap = { name: "bzman_20261201T000000Z", guid: gid(`g-${n}-0`), txg: 10 };
      this.src.set(n, { guid: gid(`d-${n}`), written: 0, changed: 1_796_000_000, snaps: [s] });
      this.dst.set(`bak/w/${n}`, { guid: gid(`b-${n}`), written: 0, changed: 1_796_000_000, snaps: [{ ...s }] });
    }
    this.dst.set("bak", { guid: gid("b-bak"), written: 0, changed: 1_796_000_000, snaps: [] });
    this.dst.set("bak/w", { guid: gid("b-bak-w"), written: 0, changed: 1_796_000_000, snaps: [] });
  }

  private under(map: Map<string, Ds>, roots: string[]): string[] {
    return [...map.keys()].filter((n) => roots.some((r) => n === r || n.startsWith(`${r}/`))).sort();
  }

  /** A `zfs list -H -p` listing with as many columns as `argv` asks for (the extra ones "-"). */
  private listing(map: Map<string, Ds>, argv: string[]): string {
    const extra = Array(argv[5]!.split(",").length - 6)
      .fill("-")
      .join("\t");
    return this.under(map, argv.slice(9))
      .flatMap((n) => {
        const d = map.get(n)!;
        return [
          `${n}\tfilesystem\t${d.guid}\t1\t1796000000\t-${extra ? `\t${extra}` : ""}`,
          ...d.snaps.map(
            (s) => `${n}@${s.name}\tsnapshot\t${s.guid}\t${s.txg}\t1796000000\t0${extra ? `\t${extra}` : ""}`,
          ),
        ];
      })
      .join("\n");
  }

  /** The source's scripts for one connection. */
  remoteScripts(): Script[] {
    const marks = (cols: string): Script => ({ match: (a) => starts("zfs", "list")(a) && a[5] === cols });
    return [
      { match: (a) => a.length === 1 && a[0] === "zfs", stderr: this.zfs === "fuse" ? usageFuse : usage23, code: 2 },
      ...(this.zfs === "2.3"
        ? [
            {
              match: (a: string[]) =>
                starts("zfs", "list")(a) && a[5] === "name,guid,written,snapshots_changed,bzman:backup",
              stdout: "",
              dynamic: (a: string[]) =>
                this.under(this.src, a.slice(9))
                  .map(
                    (n) =>
                      `${n}\t${this.src.get(n)!.guid}\t${this.src.get(n)!.written}\t${this.src.get(n)!.changed}\t-`,
                  )
                  .join("\n"),
            },
          ]
        : []),
      ...(this.zfs !== "fuse"
        ? [
            {
              match: (a: string[]) => starts("zfs", "list")(a) && a[5] === "name,guid,written,bzman:backup",
              stdout: "",
              dynamic: (a: string[]) =>
                this.under(this.src, a.slice(9))
                  .map((n) => `${n}\t${this.src.get(n)!.guid}\t${this.src.get(n)!.written}\t-`)
                  .join("\n"),
            },
          ]
        : []),
      { ...marks("name,guid,written,snapshots_changed,bzman:backup"), stderr: "bad property list", code: 2 },
      { ...marks("name,guid,written,bzman:backup"), stderr: "bad property list", code: 2 },
      {
        match: starts("zfs", "list"),
        stdout: "",
        dynamic: (a: string[]) => this.listing(this.src, a),
      },
      {
        match: starts("zfs", "get"),
        stdout: "",
        dynamic: (a: string[]) =>
          this.under(this.src, a.slice(7))
            .flatMap((n) => {
              const d = this.src.get(n)!;
              const rows = (name: string, type: string, guid: string, txg: number): string[] => [
                `${name}\tguid\t${guid}`,
                `${name}\tcreatetxg\t${txg}`,
                `${name}\tcreation\t1796000000`,
                `${name}\ttype\t${type}`,
                `${name}\tuserrefs\t${type === "snapshot" ? "0" : "-"}`,
              ];
              return [
                ...rows(n, "filesystem", d.guid, 1),
                ...d.snaps.flatMap((s) => rows(`${n}@${s.name}`, "snapshot", s.guid, s.txg)),
              ];
            })
            .join("\n"),
      },
      {
        match: starts("zfs", "snapshot"),
        effect: (a: string[]) => {
          const recursive = a[2] === "-r";
          const [root, name] = a.at(-1)!.split("@") as [string, string];
          for (const n of recursive ? this.under(this.src, [root]) : [root]) {
            const d = this.src.get(n)!;
            d.snaps.push({ name, guid: gid(`g-${n}-${++this.txg}`), txg: this.txg });
            d.written = 0;
            d.changed++;
          }
        },
      },
      { match: starts("zfs", "send"), stdout: "stream" },
      { match: () => true, code: 0 },
    ] as Script[];
  }

  localScripts(): Script[] {
    return [
      { match: (a) => a.length === 1 && a[0] === "zfs", stderr: usage23, code: 2 },
      {
        match: (a: string[]) => starts("zfs", "list")(a) && a[5] === "name,guid,snapshots_changed,receive_resume_token",
        stdout: "",
        dynamic: (a: string[]) =>
          this.under(this.dst, a.slice(9))
            .map((n) => `${n}\t${this.dst.get(n)!.guid}\t${this.dst.get(n)!.changed}\t-`)
            .join("\n"),
      },
      {
        match: starts("zfs", "list"),
        stdout: "",
        dynamic: (a: string[]) => this.listing(this.dst, a),
      },
      {
        match: starts("zfs", "receive"),
        readsStdin: true,
        effect: (a: string[]) => {
          const target = a.at(-1)!;
          const src = this.src.get(target.slice("bak/w/".length))!;
          this.dst.get(target)!.snaps.push({ ...src.snaps.at(-1)! });
          this.dst.get(target)!.changed++;
        },
      },
      { match: () => true, code: 0 },
    ] as Script[];
  }
}

/** A FakeRunner whose scripts may compute stdout from the argv and change the world as they run. */
class ModelRunner extends FakeRunner {
  constructor(where: string, scripts: Script[]) {
    super(
      where,
      scripts.map((s) => {
        const x = s as Script & { dynamic?: (a: string[]) => string; effect?: (a: string[]) => void };
        if (!x.dynamic && !x.effect) return s;
        let argv: string[] = [];
        return {
          ...s,
          match: (a: string[]) => {
            if (!s.match(a)) return false;
            argv = a;
            x.effect?.(a);
            return true;
          },
          get stdout() {
            return x.dynamic ? x.dynamic(argv) : s.stdout;
          },
        };
      }),
    );
  }
}

const job = (extra: Partial<SourceJob> = {}): SourceJob => ({
  name: "web1",
  targetRoot: "bak/w",
  roots: [{ name: "tank", recursive: true }],
  policy: { firstSend: "oldest", includePrefixes: [] },
  skipUnchanged: true,
  snapshot: { name: "bzman_20261201T001000Z", prefix: "bzman" },
  retention: { prefix: "bzman", keepSource: { last: 24 }, keepBackup: { last: 48 } },
  holdTag: "bzman.backup1",
  ...extra,
});

let minute = 10;
/** One pass: a new connection (its own runner), the long-lived local host; the commands each side ran. */
async function pass(
  w: World,
  memo: SourceMemo | undefined,
  local: { host: ZfsHost; runner: FakeRunner },
  extra: Partial<SourceJob> = {},
) {
  const remote = new ModelRunner("web1", w.remoteScripts());
  const before = local.runner.calls.length;
  const stamp = `bzman_20261201T${String(Math.floor(minute / 60)).padStart(2, "0")}${String(minute % 60).padStart(2, "0")}00Z`;
  minute += 10;
  const rec = await runSource(
    job({ snapshot: { name: stamp, prefix: "bzman" }, ...extra }),
    {
      connect: async () => new ZfsHost(remote),
      local: local.host,
      now: () => new Date("2026-12-01T01:00:00Z"),
      ...(memo ? { memo } : {}),
    },
    "r1",
  );
  const words = (c: string[]): string => (c.length === 1 ? "zfs" : `${c[0]} ${c[1]}`);
  return {
    rec,
    remote: remote.calls.map(words),
    local: local.runner.calls.slice(before).map(words),
    snapshotted: remote.calls.some((c) => c[1] === "snapshot"),
  };
}

function localHost(w: World): { host: ZfsHost; runner: FakeRunner } {
  const runner = new ModelRunner("local", w.localScripts());
  return { host: new ZfsHost(runner), runner };
}

test("an idle source on OpenZFS 2.2+: the first pass lists without a snapshot, then each pass runs one command a side and leaves every dataset alone", async () => {
  const w = new World("2.3");
  const memo = newSourceMemo();
  const local = localHost(w);
  const p1 = await pass(w, memo, local);
  assert.equal(p1.snapshotted, false, "nothing was written: no snapshot");
  assert.deepEqual(p1.remote.slice(0, 3), ["zfs list", "zfs", "zfs list"]);
  assert.deepEqual(
    p1.rec.datasets.map((d) => [d.dataset, d.result, d.to?.name]),
    ["tank", "tank/a", "tank/b"].map((n) => [n, "up-to-date", "bzman_20261201T000000Z"]),
  );
  assert.match(p1.rec.datasets[0]!.message ?? "", /nothing written since its newest snapshot/);
  assert.equal(p1.rec.datasets[0]!.warnings, undefined);
  assert.deepEqual(p1.remote.slice(3), [], "nothing held or pruned: the pass that sent the snapshot did");
  for (let i = 0; i < 3; i++) {
    const p = await pass(w, memo, local);
    assert.deepEqual(p.remote, ["zfs list"], "only the marks on the source");
    assert.deepEqual(p.local, ["zfs list"], "only the backup's marks: its listing is reused too");
    assert.deepEqual(
      p.rec.datasets.map((d) => [d.dataset, d.result, d.to?.guid]),
      ["tank", "tank/a", "tank/b"].map((n) => [n, "up-to-date", gid(`g-${n}-0`)]),
    );
    assert.match(p.rec.datasets[1]!.message ?? "", /unchanged since the last pass/);
    assert.equal(p.rec.error, undefined);
  }
});

test("a write below the root: the root is snapshotted and sent as usual; the pass after lists once more, then the source is idle again", async () => {
  const w = new World("2.3");
  const memo = newSourceMemo();
  const local = localHost(w);
  await pass(w, memo, local);
  await pass(w, memo, local);
  w.src.get("tank/a")!.written = 4096;
  const p = await pass(w, memo, local);
  assert.equal(p.snapshotted, true);
  assert.deepEqual(
    p.rec.datasets.map((d) => [d.dataset, d.result]),
    [
      ["tank", "ok"],
      ["tank/a", "ok"],
      ["tank/b", "ok"],
    ],
  );
  assert.equal(w.dst.get("bak/w/tank/a")!.snaps.length, 2, "the new snapshot reached the backup");
  const next = await pass(w, memo, local);
  assert.equal(next.snapshotted, false);
  assert.ok(next.remote.includes("zfs"), "listed again (the memo of a snapshotted root is dropped)");
  const idle = await pass(w, memo, local);
  assert.deepEqual(idle.remote, ["zfs list"]);
});

test("a snapshot made on the source by someone else (snapshots_changed moves, nothing written): listed again, and sent", async () => {
  const w = new World("2.3");
  const memo = newSourceMemo();
  const local = localHost(w);
  await pass(w, memo, local);
  const d = w.src.get("tank/b")!;
  d.snaps.push({ name: "manual", guid: gid("g-manual"), txg: ++w.txg });
  d.changed++;
  const p = await pass(w, memo, local);
  assert.ok(p.remote.filter((c) => c === "zfs list").length >= 2, "the root is listed");
  assert.equal(p.snapshotted, true, "the backup lacks the newest snapshot: a snapshot of the pass covers it");
  assert.equal(p.rec.datasets.find((r) => r.dataset === "tank/b")!.result, "ok");
});

test("the backup lost its newest snapshot: the memo is not used, the root is listed and replicated", async () => {
  const w = new World("2.3");
  const memo = newSourceMemo();
  const local = localHost(w);
  await pass(w, memo, local);
  w.dst.get("bak/w/tank/a")!.snaps = [];
  w.dst.get("bak/w/tank/a")!.changed++;
  const p = await pass(w, memo, local);
  assert.ok(p.remote.length > 1);
  assert.notEqual(p.rec.datasets.find((r) => r.dataset === "tank/a")!.result, "up-to-date");
});

test(`after ${FULL_LISTING_EVERY} passes that reused a listing, the root is listed again`, async () => {
  const w = new World("2.3");
  const memo = newSourceMemo();
  const local = localHost(w);
  await pass(w, memo, local);
  const counts: number[] = [];
  for (let i = 0; i < FULL_LISTING_EVERY + 1; i++) counts.push((await pass(w, memo, local)).remote.length);
  assert.deepEqual(counts.slice(0, FULL_LISTING_EVERY), Array(FULL_LISTING_EVERY).fill(1));
  assert.ok(counts[FULL_LISTING_EVERY]! > 1, `pass ${FULL_LISTING_EVERY + 1} lists: ${counts.join(",")}`);
});

test("OpenZFS 2.1 (written, no snapshots_changed): no empty snapshot, but every pass lists", async () => {
  const w = new World("2.1");
  const memo = newSourceMemo();
  const local = localHost(w);
  const first = await pass(w, memo, local);
  assert.deepEqual(
    first.remote.slice(0, 2),
    ["zfs list", "zfs list"],
    "the query with snapshots_changed, then without",
  );
  for (let i = 0; i < 2; i++) {
    const p = await pass(w, memo, local);
    assert.equal(p.snapshotted, false);
    assert.equal(p.remote[0], "zfs list");
    assert.ok(p.remote.length >= 3, "marks (the columns it answered), probe, listing");
    assert.equal(p.rec.datasets[0]!.result, "up-to-date");
  }
});

test("zfs-fuse (no written property): a warning, and the pass snapshots and lists as without skip_unchanged", async () => {
  const w = new World("fuse");
  const p = await pass(w, newSourceMemo(), localHost(w));
  assert.equal(p.snapshotted, true);
  assert.match(
    p.rec.datasets[0]!.warnings?.join(" ") ?? "",
    /skip_unchanged: web1 answers no query of what was written/,
  );
  assert.ok(p.rec.datasets.every((d) => d.result === "ok"));
});

test("without skip_unchanged (or without the daemon's memo) a pass snapshots every root as always", async () => {
  const w = new World("2.3");
  const local = localHost(w);
  const off = await pass(w, newSourceMemo(), local, { skipUnchanged: false });
  assert.equal(off.snapshotted, true);
  assert.equal(off.remote[0], "zfs snapshot");
  const noMemo = await pass(w, undefined, local);
  assert.equal(noMemo.snapshotted, true);
});

test("a snapshot list changed within SETTLE_SECONDS of the listing is not trusted (two changes in one second look like one): listed every pass until it settles", async () => {
  const w = new World("2.3");
  const nowSeconds = Date.parse("2026-12-01T01:00:00Z") / 1000;
  for (const d of w.src.values()) d.changed = nowSeconds - SETTLE_SECONDS + 2;
  const memo = newSourceMemo();
  const local = localHost(w);
  await pass(w, memo, local);
  const again = await pass(w, memo, local);
  assert.ok(again.remote.length > 1, `listed again: ${again.remote.join(", ")}`);
  assert.equal(again.snapshotted, false);
  for (const d of w.src.values()) d.changed = nowSeconds - SETTLE_SECONDS - 1;
  await pass(w, memo, local);
  assert.deepEqual((await pass(w, memo, local)).remote, ["zfs list"]);
});

test("the backup's listing is made again when its marks change (a receive, a destroyed snapshot) and reused while they do not", async () => {
  const w = new World("2.3");
  const memo = newSourceMemo();
  const local = localHost(w);
  await pass(w, memo, local);
  assert.deepEqual((await pass(w, memo, local)).local, ["zfs list"]);
  w.dst.get("bak/w/tank/b")!.changed++;
  const p = await pass(w, memo, local);
  assert.deepEqual(p.local, ["zfs list", "zfs list"], "marks, then the listing");
  assert.deepEqual((await pass(w, memo, local)).local, ["zfs list"]);
});
