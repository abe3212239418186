// `bzman status --check`, each Nagios code from a real state: a history file written through the
// real HistoryStore with crafted pass records, the real status model built from it, and the
// backup pool answered by a scripted `zpool list` (no ZFS here). The last case runs the real
// command line with a bad config: UNKNOWN, not the usual 2.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { parseConfig } from "../../server/config/load.ts";
import type { CliDeps } from "../../server/cli/deps.ts";
import { statusCheckCommand } from "../../server/cli/status-command.ts";
import type { DatasetRecord, RunRecord } from "../../server/core/model.ts";
import { historyPaths } from "../../server/state/history-files.ts";
import { HistoryStore } from "../../server/state/store.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import { FakeRunner, starts } from "../helpers/fake-runner.ts";
import { REPO } from "../helpers/sandbox.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-check-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ago = (min: number): string => new Date(Date.now() - min * 60_000).toISOString();
const ds = (dataset: string, result: DatasetRecord["result"], extra: Partial<DatasetRecord> = {}): DatasetRecord => ({
  source: "web1",
  dataset,
  target: `backup/web1/${dataset}`,
  mode: result === "ok" ? "incremental" : result === "conflict" ? "conflict" : "error",
  result,
  steps: 1,
  bytes: 1000,
  transferMs: 50,
  ...(result === "ok" ? { to: { name: "bzman_20261126T110000Z", guid: "42" } } : {}),
  ...extra,
});
const pass = (min: number, ...datasets: DatasetRecord[]): RunRecord => ({
  runId: `r-${min}-${Math.random()}`,
  source: "web1",
  startedAt: ago(min),
  finishedAt: ago(min - 0.5),
  phases: {},
  datasets,
  goneOnSource: [],
});

/** A state directory with these passes written through the real store; returns the config. */
async function stateWith(name: string, passes: RunRecord[]) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const { store } = await HistoryStore.open(join(dir, "state.json"));
  for (const p of passes) await store.appendRun(p);
  await store.flush();
  return configIn(dir);
}

/** The test's config with its history in `dir` (nothing opened). */
function configIn(dir: string) {
  const r = parseConfig(
    `state: ${join(dir, "state.json")}
http: { listen: "" }
sources:
  - { name: web1, host: h, identity: /k, host_key: "ssh-ed25519 AAAA", target: backup/web1, max_lag: 1h, datasets: [{ name: tank/a }, { name: tank/b }] }
`,
    "c",
    "backup1",
  );
  assert.ok("config" in r, JSON.stringify(r));
  return r.config;
}

async function check(
  config: Awaited<ReturnType<typeof stateWith>>,
  poolLine = "backup\tONLINE\t1000000\t400000\t600000\t40%\n",
): Promise<{ code: number; out: string }> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (c: Buffer) => (text += c.toString()));
  const deps: CliDeps = {
    local: new ZfsHost(new FakeRunner("local", [{ match: starts("zpool", "list"), stdout: poolLine }])),
    connect: async () => {
      throw new Error("the check never connects to a source");
    },
    now: () => new Date(),
    stdout: out as unknown as NodeJS.WriteStream,
    stderr: out as unknown as NodeJS.WriteStream,
    signal: new AbortController().signal,
  };
  const code = await statusCheckCommand(config, deps);
  return { code, out: text };
}

test("OK (0): both datasets backed up 10 minutes ago, the pool ONLINE at 40%", async () => {
  const config = await stateWith("ok", [
    pass(70, ds("tank/a", "ok"), ds("tank/b", "ok")),
    pass(10, ds("tank/a", "ok"), ds("tank/b", "up-to-date", { to: { name: "bzman_20261126T110000Z", guid: "42" } })),
  ]);
  const r = await check(config);
  assert.equal(r.code, 0, r.out);
  assert.equal(
    r.out,
    "BZMAN OK - 2 datasets fresh, 1 pool ONLINE | datasets=2;;;0 stale=0;;;0 failing=0;;;0 worst_lag_ratio=0.17;1;2;0 'pool_local:backup'=40%;75;95;0;100\n",
  );
});

test("WARNING (1): one dataset 90 minutes behind its 1h goal (its later passes failed); the pool at 80%", async () => {
  const config = await stateWith("warning", [
    pass(90, ds("tank/a", "ok"), ds("tank/b", "ok")),
    pass(
      30,
      ds("tank/a", "ok"),
      ds("tank/b", "failed", { error: { code: "SSH_CHANNEL", message: "connection lost", at: ago(30) } }),
    ),
    pass(
      10,
      ds("tank/a", "ok"),
      ds("tank/b", "failed", { error: { code: "SSH_CHANNEL", message: "connection lost", at: ago(10) } }),
    ),
  ]);
  const r = await check(config, "backup\tONLINE\t1000000\t800000\t200000\t80%\n");
  assert.equal(r.code, 1, r.out);
  assert.match(
    r.out,
    /^BZMAN WARNING - 2 warnings: web1:tank\/b 1\.5h behind \(goal 1\.0h\); pool backup on local 80% full \| datasets=2;;;0 stale=1;;;0 failing=1;;;0 worst_lag_ratio=1\.50;1;2;0 'pool_local:backup'=80%;75;95;0;100\n$/,
  );
});

test("CRITICAL (2): a diverged backup and a DEGRADED pool", async () => {
  const config = await stateWith("critical", [
    pass(20, ds("tank/a", "ok"), ds("tank/b", "ok")),
    pass(
      5,
      ds("tank/a", "ok"),
      ds("tank/b", "conflict", { conflict: "diverged", message: "the backup has snapshots the source lacks" }),
    ),
  ]);
  const r = await check(config, "backup\tDEGRADED\t1000000\t400000\t600000\t40%\n");
  assert.equal(r.code, 2, r.out);
  assert.match(
    r.out,
    /^BZMAN CRITICAL - 2 critical: web1:tank\/b conflict \(diverged\); pool backup on local DEGRADED \| .*failing=1;;;0/,
  );
});

test("UNKNOWN (3): the history holds only a skipped tick and a pass stopped by SIGTERM", async () => {
  const config = await stateWith("unknown", [
    pass(
      20,
      ds("tank/a", "failed", { error: { code: "ABORTED", message: "aborted", at: ago(20) } }),
      ds("tank/b", "failed", { error: { code: "ABORTED", message: "aborted", at: ago(20) } }),
    ),
    pass(
      19,
      ds("tank/a", "skipped", { message: "the previous pass has not ended; this tick was skipped" }),
      ds("tank/b", "skipped"),
    ),
  ]);
  const r = await check(config);
  assert.equal(r.code, 3, r.out);
  assert.match(
    r.out,
    /^BZMAN UNKNOWN - 1 unknown: no pass of any dataset is recorded yet \(is bzman serve running\?\) \| datasets=2;;;0/,
  );
});

test("UNKNOWN (3): a state file that is not a history (left as it is: the check only reads)", async () => {
  // A history no store of this process has opened yet (a store is one per process and file).
  const dir = join(tmp, "garbage");
  mkdirSync(dir, { recursive: true });
  const config = configIn(dir);
  const db = historyPaths(config.state).db;
  writeFileSync(db, "this is not a database");
  const r = await check(config);
  assert.equal(r.code, 3, r.out);
  assert.match(
    r.out,
    /^BZMAN UNKNOWN - the state file .*state\.sqlite cannot be read \(.*\); showing no history \(it was left as it is\)\n$/,
  );
  assert.equal(readFileSync(db, "utf8"), "this is not a database", "not moved, not rewritten");
});

test("UNKNOWN (3) from the command line: a config with a mistake", () => {
  const file = join(tmp, "bad.yaml");
  writeFileSync(
    file,
    "sources:\n  - { name: web1, host: h, identity: /k, target: backup/web1, datasets: [{ name: tank }], max_lag: soon }\n",
  );
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(REPO, "server/main.ts"), "--config", file, "status", "--check"],
    { encoding: "utf8", cwd: REPO },
  );
  assert.equal(r.status, 3, r.stdout + r.stderr);
  assert.equal(
    r.stdout,
    `BZMAN UNKNOWN - the configuration has 1 problem(s): ${file}: sources[0].max_lag: expected a duration like "30m", "1h", "2d"\n`,
  );
});
