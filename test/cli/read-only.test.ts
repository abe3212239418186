// The read-only commands (`status`, `report --print`, `plan`, `check --config-only`), run as the
// real CLI, write, move and create no file or folder: the state folder is the same tree, byte
// for byte and time for time, before and after, whether the history is missing, an empty file,
// or written. `report --print` exits 1 when a dataset failed, 0 when all is well. zpool and zfs
// are scripted stand-ins on PATH (no ZFS here); the source is a closed loopback port.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatasetRecord, RunRecord } from "../../server/core/model.ts";
import { HistoryStore } from "../../server/state/store.ts";
import { bzman } from "../helpers/sandbox.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-ro-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Stand-ins: zpool answers for the backup pool (ONLINE, 40% full); zfs knows no dataset.
const bin = join(tmp, "bin");
mkdirSync(bin);
writeFileSync(join(bin, "zpool"), "#!/bin/sh\nprintf 'backup\\tONLINE\\t1000000\\t400000\\t600000\\t40%%\\n'\n");
writeFileSync(join(bin, "zfs"), "#!/bin/sh\necho \"cannot open '$*': dataset does not exist\" >&2\nexit 1\n");
chmodSync(join(bin, "zpool"), 0o755);
chmodSync(join(bin, "zfs"), 0o755);
const env = { PATH: `${bin}:${process.env.PATH}` };

/** Every file and folder below `dir`: type, size, mtime and content. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out[p] = `dir ${st.mtimeMs}`;
        walk(p);
      } else out[p] = `file ${st.size} ${st.mtimeMs} ${readFileSync(p).toString("base64")}`;
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** A config whose history is `<dir>/state/state.json` (the folder need not exist). */
function configIn(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "id_ed25519"), "not a real key\n");
  const file = join(dir, "bzman.yaml");
  writeFileSync(
    file,
    `state: ${join(dir, "state", "state.json")}
instance: backup1
http: { listen: "" }
sources:
  - { name: web1, host: 127.0.0.1, port: 1, identity: ${join(dir, "id_ed25519")}, host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFjFJIdHBGpBFr3kHuBnXIoBe0wbk6ekM5tL9bYPFHF4", target: backup/web1, max_lag: 1h, datasets: [{ name: tank/a }] }
`,
  );
  return file;
}

const ago = (min: number): string => new Date(Date.now() - min * 60_000).toISOString();
const pass = (min: number, result: DatasetRecord["result"]): RunRecord => ({
  runId: `r-${min}`,
  source: "web1",
  startedAt: ago(min),
  finishedAt: ago(min - 0.5),
  phases: {},
  goneOnSource: [],
  datasets: [
    {
      source: "web1",
      dataset: "tank/a",
      target: "backup/web1/tank/a",
      mode: result === "ok" ? "incremental" : "error",
      result,
      steps: 1,
      bytes: 1000,
      transferMs: 50,
      ...(result === "ok"
        ? { to: { name: "bzman_20261126T110000Z", guid: "42" } }
        : { error: { code: "SSH_CHANNEL", message: "connection lost", at: ago(min) } }),
    },
  ],
});

/** Writes these passes through the real store, closed afterwards. */
async function history(dir: string, passes: RunRecord[]): Promise<void> {
  mkdirSync(join(dir, "state"), { recursive: true });
  const { store } = await HistoryStore.open(join(dir, "state", "state.json"));
  for (const p of passes) await store.appendRun(p);
  await store.flush();
  store.close();
}

const READ_ONLY: string[][] = [
  ["status"],
  ["status", "--check"],
  ["report", "--print"],
  ["plan", "--json"],
  ["check", "--config-only"],
];

/** Runs every read-only command and asserts the folder is unchanged; returns each exit code. */
async function unchanged(dir: string, file: string): Promise<Map<string, number | null>> {
  const before = tree(dir);
  const codes = new Map<string, number | null>();
  for (const args of READ_ONLY) {
    const r = await bzman(["--config", file, ...args], env);
    codes.set(args.join(" "), r.code);
    assert.deepEqual(tree(dir), before, `bzman ${args.join(" ")} changed ${dir}\n${r.stderr}`);
  }
  return codes;
}

test("no history yet: the read-only commands create no state folder, no lock folder, no journal", async () => {
  const dir = join(tmp, "none");
  const codes = await unchanged(dir, configIn(dir));
  assert.equal(existsSync(join(dir, "state")), false);
  assert.equal(codes.get("check --config-only"), 0);
  assert.equal(codes.get("plan --json"), 1, "the source is unreachable");
});

test("an empty state file is left where it is, not moved aside as corrupt", async () => {
  const dir = join(tmp, "empty");
  const file = configIn(dir);
  mkdirSync(join(dir, "state"));
  writeFileSync(join(dir, "state", "state.json"), "");
  await unchanged(dir, file);
  assert.deepEqual(readdirSync(join(dir, "state")), ["state.json"]);
});

test("a written history is read, not changed; report --print exits 0 when every dataset is fine", async () => {
  const dir = join(tmp, "ok");
  const file = configIn(dir);
  await history(dir, [pass(70, "ok"), pass(10, "ok")]);
  const codes = await unchanged(dir, file);
  assert.equal(codes.get("report --print"), 0);
  assert.equal(codes.get("status"), 0);
});

test("report --print exits 1 when a dataset's last pass failed, as the README says", async () => {
  const dir = join(tmp, "failed");
  const file = configIn(dir);
  await history(dir, [pass(20, "ok"), pass(5, "failed")]);
  const before = tree(dir);
  const r = await bzman(["--config", file, "report", "--print", "--width", "100"], env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /SSH_CHANNEL/);
  assert.deepEqual(tree(dir), before);
});
