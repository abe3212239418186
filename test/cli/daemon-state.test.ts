// The daemon's status model is reused while nothing it depends on changed, and rebuilt when
// anything did: a pass recorded by another process on the same history file (a `bzman run`
// beside the daemon), the journal, a transfer's progress, a pool check, the next runs, the second.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DaemonState } from "../../server/cli/daemon-state.ts";
import type { RunRecord } from "../../server/core/model.ts";
import { STATUS_TIME_BUCKET_MS } from "../../server/core/status.ts";
import { Journal } from "../../server/state/journal.ts";
import { HistoryStore } from "../../server/state/store.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-daemon-state-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const pass = (at: number, dataset: string): RunRecord => ({
  runId: `r-${at}-${dataset}`,
  source: "web1",
  startedAt: new Date(at).toISOString(),
  finishedAt: new Date(at).toISOString(),
  phases: {},
  goneOnSource: [],
  datasets: [
    {
      source: "web1",
      dataset,
      target: `backup/web1/${dataset}`,
      mode: "incremental",
      result: "ok",
      steps: 1,
      bytes: 1,
      transferMs: 1,
      to: { name: "bzman_20261201T120000Z", guid: String(at) },
    },
  ],
});

test("the status is reused until another process's write, the journal, progress, pools, next runs or the clock change it", async () => {
  const state = join(tmp, "state.json");
  let now = Date.parse("2026-12-01T12:00:00.000Z");
  const daemon = (await HistoryStore.open(state, { now: () => now })).store;
  // Another process's store on the same file (a second connection, as `bzman run` has).
  const other = (await HistoryStore.open(state, { now: () => now })).store;
  const journal = Journal.besideState(state);
  const next = new Map<string, Date | null>([["web1", new Date(now + 600_000)]]);
  const ds = new DaemonState(
    {
      sources: [
        { name: "web1", target: "backup/web1", datasets: [{ name: "tank", recursive: true }], maxLagSeconds: 3600 },
      ],
      capacityLimit: 0.75,
    },
    { store: daemon, journal },
    () => new Date(now),
    () => next,
  );
  try {
    await daemon.appendRun(pass(now - 60_000, "tank"));
    const first = ds.status();
    assert.equal(ds.status(), first, "nothing changed: the same model");

    await other.appendRun(pass(now - 30_000, "tank/vm"));
    const afterOther = ds.status();
    assert.notEqual(afterOther, first, "another process's pass is seen at once (data_version)");
    assert.ok(afterOther.datasets.some((d) => d.dataset === "tank/vm"));
    assert.equal(ds.status(), afterOther);

    now += STATUS_TIME_BUCKET_MS;
    const later = ds.status();
    assert.notEqual(later, afterOther, "a new second: the lag is computed afresh");
    assert.equal(later.datasets.find((d) => d.dataset === "tank")!.lagSeconds, 61);

    journal.append({
      id: "op-1",
      kind: "drill",
      subject: "web1",
      source: "web1",
      startedAt: new Date(now).toISOString(),
      finishedAt: new Date(now).toISOString(),
      result: "failed",
      message: "unreadable file",
    });
    const afterJournal = ds.status();
    assert.notEqual(afterJournal, later, "a journal record (another process's drill) is seen");
    assert.equal(afterJournal.drills[0]?.result, "failed");

    ds.progress("web1", { sourceDataset: "tank", bytes: 100 });
    const withProgress = ds.status();
    assert.notEqual(withProgress, afterJournal);
    assert.equal(withProgress.datasets.find((d) => d.dataset === "tank")!.progress?.bytes, 100);

    ds.setPools([
      { host: "local", pool: "backup", health: "DEGRADED", sizeBytes: 1, freeBytes: 1, capacity: 0, checkedAt: "x" },
    ]);
    const withPools = ds.status();
    assert.notEqual(withPools, withProgress);
    assert.equal(withPools.healthy, false);

    next.set("web1", new Date(now + 1_200_000));
    const withNext = ds.status();
    assert.notEqual(withNext, withPools, "a new next run");
    assert.equal(withNext.datasets[0]!.nextRun, new Date(now + 1_200_000).toISOString());
    assert.equal(ds.status(), withNext);
  } finally {
    other.close();
    daemon.close();
  }
});
