// The history shared by real processes: the daemon and a `bzman run` appending at once lose no
// row, and kill -9 in the middle of a write loop loses at most the pass in flight.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";

const STORE = new URL("../../server/state/store.ts", import.meta.url).pathname;

/** A script appending `passes` passes of `datasets` rows each (forever when 0), printing each pass once it is recorded. */
function writerScript(path: string, who: string, passes: number, datasets: number, pauseMs = 0): string {
  return `
    import { HistoryStore } from ${JSON.stringify(STORE)};
    const { store } = await HistoryStore.open(${JSON.stringify(path)});
    process.stdout.write("ready\\n");
    await new Promise((r) => process.stdin.once("data", r));
    process.stdin.destroy();
    for (let i = 0; ${passes} === 0 || i < ${passes}; i++) {
      const at = new Date().toISOString();
      await store.appendRun({ runId: "${who}-" + i, source: "${who}", startedAt: at, finishedAt: at, phases: {}, goneOnSource: [],
        datasets: Array.from({ length: ${datasets} }, (_, j) => ({ source: "${who}", dataset: "tank/d" + j, target: "b/d" + j, mode: "incremental", result: "ok", steps: 1, bytes: i, transferMs: 1, to: { name: "s" + i, guid: String(i) } })) });
      process.stdout.write(i + "\\n");
      // A pause between passes, as between real ones, so that two writers overlap even on a busy machine.
      if (${pauseMs} > 0) await new Promise((r) => setTimeout(r, ${pauseMs}));
    }
    store.close();`;
}

function start(
  dir: string,
  name: string,
  script: string,
): { child: ChildProcess; ready: Promise<void>; recorded: () => number[] } {
  writeFileSync(join(dir, name), script);
  const child = spawn(process.execPath, ["--import", "tsx", join(dir, name)], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  let readyResolve: () => void;
  let readyReject: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  child.stdout!.on("data", (c: Buffer) => {
    out += c;
    if (out.startsWith("ready\n")) readyResolve();
  });
  // A writer that could not open the history fails the test (its error is on stderr), not hangs it.
  child.once("exit", (code, signal) => readyReject(new Error(`${name} ended before it was ready (${signal ?? code})`)));
  return {
    child,
    ready,
    recorded: () =>
      out
        .split("\n")
        .slice(1)
        .filter((l) => /^\d+$/.test(l))
        .map(Number),
  };
}

const exited = (child: ChildProcess): Promise<number | null> =>
  new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once("close", (code) => r(code))));

function passesIn(db: string): Map<string, number> {
  const d = new Database(db, { readonly: true });
  const rows = d
    .prepare("SELECT json_extract(row, '$.runId') AS runId, count(*) AS n FROM runs GROUP BY 1")
    .all() as Array<{ runId: string; n: number }>;
  d.close();
  return new Map(rows.map((r) => [r.runId, r.n]));
}

test("the daemon and a bzman run appending at once, 100 passes each: every row is there", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bzman-procs-"));
  const path = join(dir, "state.json");
  const a = start(dir, "daemon.mts", writerScript(path, "daemon", 100, 5, 5));
  const b = start(dir, "run.mts", writerScript(path, "run", 100, 5, 5));
  await Promise.all([a.ready, b.ready]).catch((e: Error) => {
    a.child.kill();
    b.child.kill();
    throw e;
  });
  a.child.stdin!.end("go\n");
  b.child.stdin!.end("go\n");
  assert.deepEqual(await Promise.all([exited(a.child), exited(b.child)]), [0, 0]);
  const passes = passesIn(join(dir, "state.sqlite"));
  for (const who of ["daemon", "run"]) {
    for (let i = 0; i < 100; i++) assert.equal(passes.get(`${who}-${i}`), 5, `${who} pass ${i}`);
  }
  assert.equal(passes.size, 200);
  const d = new Database(join(dir, "state.sqlite"), { readonly: true });
  const order = d.prepare("SELECT json_extract(row, '$.source') FROM runs ORDER BY id").pluck().all() as string[];
  d.close();
  const switches = order.filter((s, i) => i > 0 && s !== order[i - 1]).length;
  assert.ok(switches >= 3, `the two processes really wrote at once (their passes interleave ${switches} times)`);
  rmSync(dir, { recursive: true });
});

test("kill -9 in the middle of a write loop: the file opens, at most the pass in flight is missing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bzman-kill-"));
  const path = join(dir, "state.json");
  const { HistoryStore } = await import("../../server/state/store.ts");
  for (let round = 0; round < 6; round++) {
    const w = start(dir, "writer.mts", writerScript(path, `k${round}`, 0, 50));
    await w.ready;
    w.child.stdin!.end("go\n");
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
    w.child.kill("SIGKILL");
    await exited(w.child);
    const recorded = w.recorded();
    const { store, problem } = await HistoryStore.open(path);
    assert.equal(problem, undefined, `round ${round}: ${problem}`);
    store.close();
    const passes = passesIn(join(dir, "state.sqlite"));
    const mine = [...passes.keys()]
      .filter((k) => k.startsWith(`k${round}-`))
      .map((k) => Number(k.split("-")[1]))
      .sort((x, y) => x - y);
    assert.ok(recorded.length > 0, `round ${round}: the writer recorded something before it was killed`);
    for (const i of recorded)
      assert.equal(
        passes.get(`k${round}-${i}`),
        50,
        `round ${round}: pass ${i} was reported recorded, so all its 50 rows are there`,
      );
    assert.ok(
      mine.length <= recorded.length + 1,
      `round ${round}: at most the pass in flight beyond what was reported (${mine.length} vs ${recorded.length})`,
    );
    assert.deepEqual(
      mine,
      mine.map((_, i) => i),
      `round ${round}: no pass missing in between`,
    );
    for (const k of mine) assert.equal(passes.get(`k${round}-${k}`), 50, `round ${round}: pass ${k} is whole`);
  }
  rmSync(dir, { recursive: true });
});
