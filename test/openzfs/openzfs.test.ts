// The OpenZFS tier: bzman against real OpenZFS (2.1 or 2.3, BZMAN_OPENZFS) in a QEMU guest
// (test/openzfs/vm.sh), for what zfs-fuse cannot show: resumable receives (`-s`, tokens,
// `send -t`, `receive -A`), bookmarks, zvols, raw sends and `-p` listings, and the worker-thread
// data path that `data_path: auto` picks for a large stream. The guest is the
// source, set up by the shipped install-source.sh (account bzman with `zfs allow` delegation,
// the guard, its key lines) and, through bin/zfs, also the backup host: both ends of every
// stream are OpenZFS.

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { KEY_COMMENT, SERIES, startGuest, type Guest } from "./guest.ts";
import { vmSkip } from "./skip.ts";
import { REPO, sleep, until } from "../helpers/sandbox.ts";
import { listArgs } from "../../server/zfs/args.ts";
import { parseCapabilities } from "../../server/zfs/capabilities.ts";
import { parseListListing } from "../../server/zfs/parse.ts";

const SKIP = vmSkip();
const FIXTURES = join(REPO, "test/fixtures/zfs");

/** With BZMAN_RECORD_FIXTURES=1, keeps what the guest printed as a parser fixture (openzfs-<series>-<name>). */
function record(name: string, text: string): void {
  if (process.env.BZMAN_RECORD_FIXTURES) writeFileSync(join(FIXTURES, `openzfs-${SERIES}-${name}`), text);
}
const TARGET = "dst/backup";
type Result = { code: number | null; stdout: string; stderr: string };

describe(`on real OpenZFS ${SERIES} in a QEMU guest, sources set up by install-source.sh`, {
  skip: SKIP,
  timeout: 1_800_000,
}, () => {
  let g: Guest;
  let config: string;
  let slowConfig: string;
  let bookmarkConfig: string;
  let cutConfig: string;
  let noResumeConfig: string;
  let noResumeSlowConfig: string;
  let rawConfig: string;
  let rawCutConfig: string;
  let propsConfig: string;
  let identity: string;
  let failbackConfig: string;
  let raceConfig: string;
  let raceSlowConfig: string;
  let idleConfig: string;
  let pruneConfig: string;
  let bigConfig: string;

  /** bzman's CLI with the guest's zfs as the local one. */
  const bzman = (args: string[]): { child: ReturnType<typeof spawn>; done: Promise<Result> } => {
    const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", ...args], {
      cwd: REPO,
      env: { ...process.env, PATH: `${g.bin}:${process.env.PATH}` },
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c) => (stdout += c));
    child.stderr!.on("data", (c) => (stderr += c));
    const done = new Promise<Result>((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
    return { child, done };
  };
  /** One `bzman run --json`; returns the record of each dataset by source dataset. */
  const runPass = async (cfg = config): Promise<Map<string, Record<string, unknown>>> => {
    const r = await bzman(["--config", cfg, "run", "--json"]).done;
    assert.equal(r.code, 0, `bzman run failed:\n${r.stdout}\n${r.stderr}`);
    const { records } = JSON.parse(r.stdout) as { records: Array<{ datasets: Array<Record<string, unknown>> }> };
    return new Map(records.flatMap((rec) => rec.datasets).map((d) => [d.dataset as string, d]));
  };
  const zfs = (...args: string[]): Promise<string> => g.admin(["zfs", ...args]);
  /** name → guid of the snapshots of one dataset. */
  const guids = async (ds: string): Promise<Map<string, string>> => {
    const out = await zfs("list", "-H", "-p", "-o", "name,guid", "-t", "snapshot", "-d", "1", ds);
    return new Map(
      out
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t") as [string, string])
        .map(([n, id]) => [n.slice(n.indexOf("@") + 1), id]),
    );
  };
  const newestGuid = async (ds: string): Promise<string> => {
    const out = await zfs("list", "-H", "-p", "-o", "guid", "-t", "snapshot", "-s", "createtxg", "-d", "1", ds);
    return out.trim().split("\n").at(-1)!;
  };
  const token = async (ds: string): Promise<string> =>
    (await zfs("get", "-H", "-o", "value", "receive_resume_token", ds)).trim();

  /** Starts a throttled pass, kills it with SIGKILL while `zfs receive` runs, and waits for the token. */
  const killMidStream = async (dataset: string, cfg = slowConfig): Promise<string> => {
    const pass = bzman(["--config", cfg, "run"]);
    try {
      await until(
        "zfs receive to start in the guest",
        async () => (await g.admin(["pgrep", "-f", `^zfs receive .*${dataset}`])).trim() !== "",
        120_000,
      );
      await sleep(3000);
    } finally {
      // Killed also when the receive never started: the next test must not run beside it.
      pass.child.kill("SIGKILL");
      await pass.done;
    }
    // OpenZFS shows a token while a resumable receive is still running: wait for its end.
    await until(
      "zfs receive to end in the guest",
      async () => (await g.admin(["sh", "-c", "pgrep -f '^zfs receive' || echo none"])).trim() === "none",
      60_000,
    );
    let t = "-";
    await until(
      "a resume token on the target",
      async () => {
        t = await token(dataset);
        return t !== "-";
      },
      60_000,
    );
    return t;
  };

  before(async () => {
    g = await startGuest();
    for (const pool of ["src", "dst", "other"]) {
      await g.admin(["truncate", "-s", pool === "other" ? "128M" : "768M", `/tmp/${pool}.img`]);
      await g.admin([
        "zpool",
        "create",
        "-O",
        "compression=off",
        "-O",
        `mountpoint=/${pool}`,
        pool,
        `/tmp/${pool}.img`,
      ]);
    }
    await zfs("create", "src/data");
    await zfs("create", "-V", "32M", "-o", "volmode=dev", "src/vol");
    // An encrypted dataset, for raw sends (they leave the source encrypted and stay so).
    await g.admin(
      ["zfs", "create", "-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "keylocation=prompt", "src/raw"],
      Buffer.from("not-a-secret-passphrase\n"),
    );
    await zfs("create", "-p", TARGET);
    await zfs("create", "-p", "dst/raw");
    await g.admin([
      "sh",
      "-c",
      "echo first > /src/data/first.txt && udevadm settle && dd if=/dev/urandom of=/dev/zvol/src/vol bs=1M count=8 status=none && sync",
    ]);
    // The source as an operator sets it up: the README's installer line per key.
    const main = await g.installSource("bzman");
    assert.match(main.output, /allow -u bzman .*send/, "delegation, not root");
    assert.match(main.output, /--allow-resume/, "the installer enabled resume: this zfs has it");
    identity = main.identity;
    const cut = await g.installSource("cut", ["--guard-option", "--zfs /mnt/share/zfs-cut"]);
    const noResume = await g.installSource("noresume", ["--no-resume"]);
    assert.doesNotMatch(noResume.output, /--allow-resume/);
    const raw = await g.installSource("raw", ["--guard-option", "--raw-only"]);
    const rawCut = await g.installSource("rawcut", [
      "--guard-option",
      "--raw-only",
      "--guard-option",
      "--zfs /mnt/share/zfs-cut",
    ]);
    const source = {
      name: "vm",
      host: "127.0.0.1",
      port: g.port,
      user: "bzman",
      identity,
      host_key: g.hostKey,
      target: TARGET,
      retries: 0,
      // Not src recursively: src/raw is the raw receiver's (below), one receiver per dataset and instance.
      datasets: [{ name: "src" }, { name: "src/data" }, { name: "src/vol" }],
    };
    const write = (name: string, over: Record<string, unknown>): string => {
      const file = join(g.dir, `${name}.yaml`);
      writeFileSync(
        file,
        stringify({ state: join(g.dir, "state.json"), http: { listen: "" }, sources: [{ ...source, ...over }] }),
      );
      return file;
    };
    config = write("bzman", {});
    cutConfig = write("cut", { identity: cut.identity });
    bookmarkConfig = write("bookmarks", { bookmarks: true });
    // ssh2's own 2 MiB window: with the default 32 MiB one the source's zfs send of a 24 MiB stream
    // hands it all to sshd and exits before the test can kill it mid-stream.
    slowConfig = write("slow", { bandwidth_limit: "4M", ssh_window: "2M" });
    noResumeConfig = write("noresume", { identity: noResume.identity });
    noResumeSlowConfig = write("noresume-slow", { identity: noResume.identity, bandwidth_limit: "4M" });
    const rawSource = { datasets: [{ name: "src/raw" }], target: "dst/raw", send_raw: true };
    rawConfig = write("raw", { ...rawSource, identity: raw.identity });
    rawCutConfig = write("rawcut", { ...rawSource, identity: rawCut.identity });
    // Failover and back: a dataset of its own, and the restore key the README installs with --restore.
    await zfs("create", "src/fb");
    await zfs("create", "-p", "dst/fb");
    await g.admin(["sh", "-c", "echo before > /src/fb/before.txt && sync"]);
    const restoreKey = await g.installSource("restore", ["--restore"]);
    assert.match(restoreKey.output, /allow -u bzman receive,create,mount,rename src/);
    failbackConfig = write("failback", {
      datasets: [{ name: "src/fb" }],
      target: "dst/fb",
      restore_identity: restoreKey.identity,
    });
    // A promote during a pass: two datasets of their own, the pass slowed down on the first.
    for (const d of ["src/ra", "src/rb"]) await zfs("create", d);
    await zfs("create", "-p", "dst/race");
    const race = {
      datasets: [{ name: "src/ra" }, { name: "src/rb" }],
      target: "dst/race",
      keep_source: { last: 2 },
      keep_backup: { last: 2 },
    };
    raceConfig = write("race", race);
    // One dataset at a time, so that src/rb still waits its turn behind the slow src/ra when it is
    // promoted (side by side it would be received beside src/ra before the promote).
    raceSlowConfig = write("race-slow", { ...race, bandwidth_limit: "2M", max_transfers_per_source: 1 });
    // Receive properties and a dataset switched off by its property, read from the -p listing.
    await zfs("create", "-o", "atime=off", "-o", "mountpoint=/srv/props", "src/props");
    await zfs("create", "src/props/skip");
    await zfs("set", "bzman:backup=off", "src/props/skip");
    // skip_unchanged: a tree of its own, its key's guard logging every zfs command it runs.
    for (const d of ["src/idle", "src/idle/a", "src/idle/b"]) await zfs("create", d);
    await zfs("create", "-p", "dst/idle");
    const idleKey = await g.installSource("idle", ["--guard-option", "--zfs /mnt/share/zfs-log"]);
    idleConfig = write("idle", {
      identity: idleKey.identity,
      datasets: [{ name: "src/idle", recursive: true }],
      target: "dst/idle",
      skip_unchanged: true,
      schedule: "*/3 * * * * *",
    });
    pruneConfig = write("prune", {
      identity: idleKey.identity,
      datasets: [{ name: "src/idle", recursive: true }],
      target: "dst/idle",
      keep_source: { last: 1 },
      keep_backup: { last: 1 },
    });
    // data_path at its default (auto): a stream of 64 MiB or more goes through a worker thread.
    await zfs("create", "src/big");
    await zfs("create", "-p", "dst/big");
    bigConfig = write("big", { datasets: [{ name: "src/big" }], target: "dst/big" });
    propsConfig = write("props", {
      target: "dst/props",
      datasets: [{ name: "src/props", recursive: true }],
      receive_exclude: ["atime"],
      receive_set: ["compression=lz4", "com.example:tier=cold"],
    });
  });
  after(async () => {
    await g?.stop();
  });

  it("replicates a filesystem and a zvol; the volume arrives with the same bytes", async () => {
    const recs = await runPass();
    for (const ds of ["src", "src/data", "src/vol"]) {
      assert.equal(recs.get(ds)?.result, "ok", JSON.stringify(recs.get(ds)));
      assert.equal(await newestGuid(`${TARGET}/${ds}`), await newestGuid(ds), `${ds}: newest snapshot replicated`);
    }
    assert.equal((await zfs("get", "-H", "-o", "value", "type", `${TARGET}/src/vol`)).trim(), "volume");
    // The backup volume is inert: no device node on the backup host, although the source's is volmode=dev.
    assert.equal((await zfs("get", "-H", "-o", "value,source", "volmode", `${TARGET}/src/vol`)).trim(), "none\tlocal");
    assert.equal(
      (
        await g.admin(["sh", "-c", `udevadm settle; ls /dev/zvol/${TARGET}/src/ 2>/dev/null | grep -c '^vol' || true`])
      ).trim(),
      "0",
      "no /dev/zvol node for the backup",
    );
    // To compare its bytes, the test gives it devices: the newest snapshot's must equal the source's.
    await zfs("set", "volmode=dev", `${TARGET}/src/vol`);
    const sum = (dev: string): Promise<string> => g.admin(["sh", "-c", `udevadm settle; md5sum < ${dev}`]);
    const snap = [...(await guids("src/vol")).keys()].at(-1)!;
    await zfs("set", "snapdev=visible", "src/vol");
    await zfs("set", "snapdev=visible", `${TARGET}/src/vol`);
    assert.equal(await sum(`/dev/zvol/${TARGET}/src/vol@${snap}`), await sum(`/dev/zvol/src/vol@${snap}`));
  });

  it("data_path auto (the default): a stream the source estimates at 64 MiB or more goes through a worker on a login of its own; a small increment stays on the pass's connection", async () => {
    /** The logins of the account install-source.sh made, by the guest's sshd. */
    const logins = async (): Promise<number> =>
      ((await g.admin(["cat", "/mnt/share/sshd.log"])).match(/Accepted publickey for bzman /g) ?? []).length;
    await g.admin(["sh", "-c", "dd if=/dev/urandom of=/src/big/a.bin bs=1M count=72 status=none && zpool sync src"]);
    const atStart = await logins();
    const full = (await runPass(bigConfig)).get("src/big")!;
    assert.equal(full.result, "ok", JSON.stringify(full));
    assert.equal(full.warnings, undefined, JSON.stringify(full.warnings));
    assert.ok((full.bytes as number) > 72 * 1024 * 1024, `the worker's bytes are counted (${full.bytes})`);
    assert.equal(await logins(), atStart + 2, "two logins: the pass's connection and the stream's worker");
    assert.equal(await newestGuid("dst/big/src/big"), await newestGuid("src/big"));
    await g.admin(["sh", "-c", "echo small > /src/big/b.txt && zpool sync src"]);
    const atSmall = await logins();
    const small = (await runPass(bigConfig)).get("src/big")!;
    assert.equal(small.result, "ok", JSON.stringify(small));
    assert.equal(await logins(), atSmall + 1, "one login: the small increment went over the pass's connection");
    assert.equal(await newestGuid("dst/big/src/big"), await newestGuid("src/big"));
  });

  it("receive_exclude and receive_set take effect on the backup; bzman's safe properties and the inert defaults stay; bzman:backup=off is read from the -p listing", async () => {
    const recs = await runPass(propsConfig);
    assert.equal(recs.get("src/props")?.result, "ok", JSON.stringify(recs.get("src/props")));
    assert.equal(recs.get("src/props/skip")?.result, "excluded", JSON.stringify(recs.get("src/props/skip")));
    assert.match(String(recs.get("src/props/skip")?.message), /bzman:backup=off on the source/);
    await assert.rejects(
      zfs("list", "dst/props/src/props/skip"),
      /does not exist/,
      "the switched-off child was not sent",
    );
    const get = async (property: string): Promise<string> =>
      (await zfs("get", "-H", "-o", "value,source", property, "dst/props/src/props")).trim();
    assert.equal(await get("compression"), "lz4\tlocal", "receive_set: -o compression=lz4");
    assert.equal(await get("com.example:tier"), "cold\tlocal", "receive_set: a user property");
    assert.equal(await get("readonly"), "on\tlocal", "the safe properties are bzman's");
    assert.equal(await get("canmount"), "noauto\tlocal");
    // -x: the received dataset takes neither atime nor mountpoint from anywhere but the backup host.
    for (const p of ["atime", "mountpoint"]) assert.doesNotMatch(await get(p), /\t(received|local)$/, p);
    assert.notEqual((await get("mountpoint")).split("\t")[0], "/srv/props");
    // The receiving zfs was given exactly these options (its pool history keeps the command line).
    const history = await g.admin(["zpool", "history", "dst"]);
    const recv = history.split("\n").find((l) => /zfs receive .*dst\/props\/src\/props$/.test(l.trim()));
    assert.ok(recv, history);
    for (const opt of [
      "-o compression=lz4",
      "-o com.example:tier=cold",
      "-o readonly=on",
      "-x mountpoint",
      "-x sharenfs",
      "-x sharesmb",
      "-x atime",
    ])
      assert.ok(recv!.includes(opt), `${opt} in: ${recv}`);
    const again = await runPass(propsConfig);
    assert.equal(again.get("src/props")?.result, "ok", "the next pass (incremental) works with the same properties");
  });

  it("check (after the first pass) reads OpenZFS's capabilities: resume, bookmarks, zvols, parsable listings; it says whether the guard resumes", async () => {
    record("usage.txt", await g.admin(["sh", "-c", "zfs 2>&1; true"]));
    const r = await bzman(["--config", config, "check", "vm"]).done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const cap of ["listParsable", "holds", "bookmarks", "resume", "rawSend", "zvols", "send -L -e -c"])
      assert.match(r.stdout, new RegExp(cap), `check names ${cap}`);
    assert.match(r.stdout, /ok +interrupted transfers resume/);
    const n = await bzman(["--config", noResumeConfig, "check", "vm"]).done;
    assert.match(n.stdout, /note +the guard on vm refuses zfs send -t/, n.stdout + n.stderr);
  });

  it("a pass killed with SIGKILL mid-stream leaves a resume token; the next pass resumes it with send -t", async () => {
    await g.admin(["sh", "-c", "dd if=/dev/urandom of=/src/data/big.bin bs=1M count=40 status=none && sync"]);
    const before = await guids(`${TARGET}/src/data`);
    const t = await killMidStream(`${TARGET}/src/data`);
    // bzman's parser reads this OpenZFS's own listing: the token, bookmarks, the volume.
    const argv = listArgs(["src", "dst"], parseCapabilities(await g.admin(["sh", "-c", "zfs 2>&1; true"])), true, true);
    const live = await g.admin(argv);
    record("vm-listing.txt", live);
    // What the guard reads to check a token: `zfs send -nvt` names the snapshot it resumes.
    record("send-nvt.txt", await g.admin(["sh", "-c", `zfs send -nvt ${t} 2>&1`]));
    const parsed = parseListListing(live, true);
    assert.equal(parsed.get(`${TARGET}/src/data`)?.resumeToken, t);
    assert.equal(parsed.get("src/vol")?.type, "volume");
    assert.equal(parsed.get("src/data")?.snapshots.at(-1)?.guid, await newestGuid("src/data"));
    // Nothing was lost: every snapshot the backup had is still there, with the same GUID.
    assert.deepEqual(new Map([...(await guids(`${TARGET}/src/data`))].filter(([n]) => before.has(n))), before);
    const recs = await runPass();
    const rec = recs.get("src/data")!;
    assert.equal(rec.mode, "resume", JSON.stringify(rec));
    assert.equal(rec.result, "ok", JSON.stringify(rec));
    assert.equal(rec.resumeToken, t, "the record names the token it resumed");
    assert.ok((rec.bytes as number) < 38 * 1024 * 1024, `the resumed stream sent only the rest (${rec.bytes} bytes)`);
    assert.equal(await token(`${TARGET}/src/data`), "-");
    const after = await runPass();
    assert.equal(after.get("src/data")?.result, "ok");
    assert.equal(await newestGuid(`${TARGET}/src/data`), await newestGuid("src/data"));
  });

  it("the remote zfs send killed mid-stream: the dataset fails with its token in the record and the status; the next pass resumes", async () => {
    await g.admin(["sh", "-c", "dd if=/dev/urandom of=/src/data/big3.bin bs=1M count=24 status=none && sync"]);
    const pass = bzman(["--config", slowConfig, "run"]);
    // The send of src/data itself (other datasets of the pass send beside it and may end first).
    const dataSend = "^zfs send .*src/data@";
    await until(
      "the send of src/data to start in the guest",
      async () => (await g.admin(["sh", "-c", `pgrep -f '${dataSend}' || true`])).trim() !== "",
      120_000,
    ).catch(async (err: Error) => {
      pass.child.kill("SIGKILL"); // the next test must not run beside it
      await pass.done;
      throw err;
    });
    await sleep(2000);
    const killed = await g.admin(["pkill", "-KILL", "-f", dataSend]).catch((err: Error) => err);
    const r = await pass.done; // awaited even when the kill failed: the next test must not run beside it
    assert.ok(!(killed instanceof Error), `the send of src/data was running: ${String(killed)}`);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const left = await token(`${TARGET}/src/data`);
    assert.notEqual(left, "-", "the receive kept the partial stream");
    const status = await bzman(["--config", config, "status", "--json"]).done;
    const d = (JSON.parse(status.stdout) as { datasets: Array<Record<string, unknown>> }).datasets.find(
      (x) => x.dataset === "src/data",
    )!;
    assert.equal(d.lastResult, "failed");
    assert.equal(d.resumeToken, left, "the status shows the token");
    assert.match(String(d.lastMessage), /next pass resumes it/);
    const rec = (await runPass()).get("src/data")!;
    assert.equal(rec.mode, "resume", JSON.stringify(rec));
    assert.equal(rec.result, "ok");
    assert.equal(await token(`${TARGET}/src/data`), "-");
  });

  it("a stream cut short on the source (head -c, and its send exits 0) fails the receive, never the backup; the next pass resumes", async () => {
    await g.admin(["sh", "-c", "dd if=/dev/urandom of=/src/data/big4.bin bs=1M count=8 status=none && sync"]);
    const before = await guids(`${TARGET}/src/data`);
    const r = await bzman(["--config", cutConfig, "run", "--json"]).done;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const { records } = JSON.parse(r.stdout) as { records: Array<{ datasets: Array<Record<string, unknown>> }> };
    const cut = records[0]!.datasets.find((x) => x.dataset === "src/data")!;
    assert.equal(cut.result, "failed", JSON.stringify(cut));
    // Nothing lost: every snapshot the backup had is there; what arrived is whole source snapshots
    // (a cut -I stream keeps the ones it completed).
    const after = await guids(`${TARGET}/src/data`);
    assert.deepEqual(new Map([...after].filter(([n]) => before.has(n))), before);
    const sourceGuids = new Set((await guids("src/data")).values());
    assert.ok([...after].filter(([n]) => !before.has(n)).every(([, id]) => sourceGuids.has(id)));
    assert.equal(cut.resumeToken, await token(`${TARGET}/src/data`));
    const rec = (await runPass()).get("src/data")!;
    assert.equal(rec.mode, "resume", JSON.stringify(rec));
    assert.equal(rec.result, "ok");
    await runPass();
    assert.equal(await newestGuid(`${TARGET}/src/data`), await newestGuid("src/data"));
  });

  it("a token whose snapshot vanished on the source is discarded with receive -A and the dataset replanned", async () => {
    await g.admin(["sh", "-c", "dd if=/dev/urandom of=/src/data/big2.bin bs=1M count=32 status=none && sync"]);
    await killMidStream(`${TARGET}/src/data`);
    const gone = [...(await guids("src/data")).keys()].at(-1)!;
    await g.admin([
      "sh",
      "-c",
      `zfs holds -H src/data@${gone} | cut -f2 | while read -r tag; do zfs release "$tag" src/data@${gone}; done; zfs destroy src/data@${gone}`,
    ]);
    const recs = await runPass();
    const rec = recs.get("src/data")!;
    assert.equal(rec.result, "ok", JSON.stringify(rec));
    assert.equal(rec.mode, "incremental", JSON.stringify(rec));
    assert.match(String(rec.warnings), /discarded \(zfs receive -A\)/);
    assert.equal(await token(`${TARGET}/src/data`), "-");
    assert.equal(await newestGuid(`${TARGET}/src/data`), await newestGuid("src/data"));
    assert.ok(!(await guids(`${TARGET}/src/data`)).has(gone));
  });

  it("a guard that refuses resume (installed with --no-resume): the partial receive is discarded and the step sent again in the same pass", async () => {
    await g.admin(["sh", "-c", "dd if=/dev/urandom of=/src/data/big5.bin bs=1M count=24 status=none && sync"]);
    await killMidStream(`${TARGET}/src/data`, noResumeSlowConfig);
    const rec = (await runPass(noResumeConfig)).get("src/data")!;
    assert.equal(rec.result, "ok", JSON.stringify(rec));
    assert.equal(rec.mode, "incremental", JSON.stringify(rec));
    assert.match(String(rec.warnings), /guard refuses to resume sends .*discarded \(zfs receive -A\)/);
    assert.equal(await token(`${TARGET}/src/data`), "-");
    assert.equal(await newestGuid(`${TARGET}/src/data`), await newestGuid("src/data"));
  });

  it("a token of a dataset outside the guard's roots is refused by the guard, and nothing is sent", async () => {
    // A real token naming other/secret: a cut stream of it received resumably, as root.
    await g.admin([
      "sh",
      "-c",
      "zfs create other/secret && dd if=/dev/urandom of=/other/secret/s.bin bs=1M count=4 status=none && zfs snapshot other/secret@s && " +
        "{ zfs send other/secret@s | head -c 1048576 | zfs receive -s -u dst/stolen; true; }",
    ]);
    const t = await token("dst/stolen");
    assert.notEqual(t, "-");
    assert.match(await g.admin(["sh", "-c", `zfs send -nvt ${t} 2>&1; true`]), /toname = other\/secret@s/);
    const r = await new Promise<Result>((resolve) => {
      const child = spawn("ssh", [
        "-i",
        identity,
        "-p",
        String(g.port),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "bzman@127.0.0.1",
        `zfs send -t ${t}`,
      ]);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c) => (stdout += c));
      child.stderr.on("data", (c) => (stderr += c));
      child.once("close", (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.code, 255, r.stderr);
    assert.match(r.stderr, /bzman-guard: rejected/);
    assert.equal(r.stdout.length, 0, "not a byte of the stream");
  });

  it("an encrypted dataset's raw stream cut under --raw-only resumes through the raw-only guard (its token is raw)", async () => {
    assert.equal((await runPass(rawConfig)).get("src/raw")?.result, "ok");
    await g.admin(["sh", "-c", "dd if=/dev/urandom of=/src/raw/big.bin bs=1M count=8 status=none && sync"]);
    const r = await bzman(["--config", rawCutConfig, "run", "--json"]).done;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const t = await token("dst/raw/src/raw");
    assert.notEqual(t, "-", "the cut raw stream left a token");
    const nvt = await g.admin(["sh", "-c", `zfs send -nvt ${t} 2>&1; true`]);
    record("send-nvt-raw.txt", nvt);
    assert.match(nvt, /rawok = 1/);
    const rec = (await runPass(rawConfig)).get("src/raw")!;
    assert.equal(rec.mode, "resume", JSON.stringify(rec));
    assert.equal(rec.result, "ok", JSON.stringify(rec));
    assert.equal(await token("dst/raw/src/raw"), "-");
    await runPass(rawConfig);
    assert.equal(await newestGuid("dst/raw/src/raw"), await newestGuid("src/raw"));
  });

  it("continues from a bookmark when the newest common snapshot is destroyed on the source", async () => {
    await runPass(bookmarkConfig);
    const common = [...(await guids("src/data")).keys()].at(-1)!;
    const marks = async (): Promise<string[]> =>
      (await zfs("list", "-H", "-o", "name", "-t", "bookmark", "-d", "1", "src/data"))
        .trim()
        .split("\n")
        .filter(Boolean);
    const instance = KEY_COMMENT.slice("bzman@".length)
      .split(".")[0]!
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, "-");
    assert.deepEqual(
      await marks(),
      [`src/data#${common}.${instance}`],
      "bzman bookmarked the newest common snapshot, named for its instance",
    );
    // Someone releases bzman's hold and destroys every snapshot of the dataset on the source.
    await g.admin([
      "sh",
      "-c",
      'for s in $(zfs list -H -o name -t snapshot -d 1 src/data); do zfs holds -H $s | cut -f2 | while read -r tag; do zfs release "$tag" $s; done; zfs destroy $s; done',
    ]);
    await g.admin(["sh", "-c", "echo after > /src/data/after.txt && sync"]);
    const backupGuid = (await zfs("get", "-H", "-p", "-o", "value", "guid", `${TARGET}/src/data`)).trim();
    const recs = await runPass(bookmarkConfig);
    const rec = recs.get("src/data")!;
    assert.equal(rec.result, "ok", JSON.stringify(rec));
    assert.equal(rec.mode, "incremental", JSON.stringify(rec));
    assert.match(String(rec.warnings), new RegExp(`continued from its bookmark src/data#${common}\\.${instance}`));
    const now = [...(await guids("src/data")).keys()].at(-1)!;
    assert.equal(await newestGuid(`${TARGET}/src/data`), await newestGuid("src/data"));
    assert.equal(
      (await zfs("get", "-H", "-p", "-o", "value", "guid", `${TARGET}/src/data`)).trim(),
      backupGuid,
      "the same backup dataset, received into",
    );
    assert.equal((rec.from as { name: string }).name, `${common}.${instance}`, "the step started from the bookmark");
    assert.deepEqual(await marks(), [`src/data#${now}.${instance}`], "the bookmark moved to the new common snapshot");
    const live = await g.admin(
      listArgs(["src"], parseCapabilities(await g.admin(["sh", "-c", "zfs 2>&1; true"])), false, true),
    );
    record("vm-listing-bookmarks.txt", live);
    assert.deepEqual(
      parseListListing(live, false)
        .get("src/data")
        ?.bookmarks?.map((b) => b.name),
      [`${now}.${instance}`],
    );
  });

  it("failback over writes made on the source after the shared snapshot: refused with the rollback that would drop them, or with --force kept aside as .before-failback-<UTC>", async () => {
    await runPass(failbackConfig);
    const promoted = await bzman(["--config", failbackConfig, "promote", "vm:src/fb"]).done;
    assert.equal(promoted.code, 0, promoted.stdout + promoted.stderr);
    const live = "dst/bzman-live/vm/src/fb";
    await g.admin(["sh", "-c", `echo failover > "$(zfs get -H -o value mountpoint ${live})/order.txt" && sync`]);
    // The source is back, and something wrote to it after the snapshot the live copy shares.
    // `written` counts what a synced transaction group holds: sync(1) only commits the ZIL, so the
    // pool is synced too (else the check can read 0 for up to zfs_txg_timeout after the write).
    await g.admin(["sh", "-c", "echo late > /src/fb/late.txt && sync && zpool sync src"]);
    const newest = [...(await guids("src/fb")).keys()].at(-1)!;

    const dry = await bzman(["--config", failbackConfig, "failback", "vm:src/fb", "--dry-run"]).done;
    assert.equal(dry.code, 1, dry.stdout + dry.stderr);
    assert.match(
      dry.stdout,
      new RegExp(`refused: src/fb on the source was written after its newest snapshot @${newest} \\(\\d+ bytes\\)`),
    );
    const refused = await bzman(["--config", failbackConfig, "failback", "vm:src/fb"]).done;
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /FAILED \[ZFS_DEST_MODIFIED\]/);
    assert.ok(
      refused.stderr.includes(`on the source: zfs rollback src/fb@${newest}, then bzman failback vm:src/fb`),
      refused.stderr,
    );
    assert.equal((await g.admin(["cat", "/src/fb/late.txt"])).trim(), "late", "nothing rolled back");
    assert.equal((await zfs("get", "-H", "-o", "value", "readonly", live)).trim(), "off", "the live copy serves on");

    const dryForce = await bzman(["--config", failbackConfig, "failback", "vm:src/fb", "--dry-run", "--force"]).done;
    assert.equal(dryForce.code, 0, dryForce.stdout + dryForce.stderr);
    assert.match(
      dryForce.stdout,
      /src\/fb on the source would be renamed aside as src\/fb\.before-failback-\d{8}T\d{6}Z \(kept, not destroyed\)/,
    );
    const forced = await bzman(["--config", failbackConfig, "failback", "vm:src/fb", "--force", "--yes"]).done;
    assert.equal(forced.code, 0, forced.stdout + forced.stderr);
    const aside = /kept as (src\/fb\.before-failback-\d{8}T\d{6}Z)/.exec(forced.stdout)?.[1];
    assert.ok(aside, forced.stdout);
    // On Linux the restore key's account (zfs allow delegation) may neither unmount nor mount: the
    // source was renamed aside with -u (still mounted at /src/fb) and bzman says what root does.
    const asRoot = /as root on the source, (zfs unmount \S+; zfs mount \S+; zfs mount \S+)$/m.exec(forced.stdout)?.[1];
    assert.ok(asRoot, forced.stdout);
    assert.equal(asRoot, `zfs unmount ${aside}; zfs mount src/fb; zfs mount ${aside}`);
    await g.admin(["sh", "-c", asRoot]);
    // The late write is kept aside with its dataset; the source now has the live copy's data.
    assert.equal(
      (await g.admin(["sh", "-c", `cat "$(zfs get -H -o value mountpoint ${aside})/late.txt"`])).trim(),
      "late",
    );
    assert.equal((await g.admin(["cat", "/src/fb/order.txt"])).trim(), "failover");
    assert.equal((await g.admin(["cat", "/src/fb/before.txt"])).trim(), "before");
    assert.equal(
      (await zfs("get", "-H", "-o", "value", "readonly", "dst/fb/src/fb")).trim(),
      "on",
      "the copy is a backup again",
    );
    const status = JSON.parse((await bzman(["--config", failbackConfig, "status", "--json"]).done).stdout) as {
      keptAside: Array<{ dataset: string; by: string }>;
    };
    assert.ok(
      status.keptAside.some((k) => k.dataset === `vm:${aside}` && k.by === "failback"),
      JSON.stringify(status.keptAside),
    );
    const rec = (await runPass(failbackConfig)).get("src/fb")!;
    assert.equal(rec.result, "ok", JSON.stringify(rec));
    assert.equal(rec.mode, "incremental", "pulls go on from the failback snapshot");
  });

  it("a --force restore over a mounted dataset: renamed aside with -u (the delegated key may not unmount), listed as kept aside, and what root mounts is said", async () => {
    await zfs("create", "src/fbcopy");
    await g.admin(["sh", "-c", "echo mine > /src/fbcopy/mine.txt && sync"]);
    const r = await bzman([
      "--config",
      failbackConfig,
      "restore",
      "vm:src/fb",
      "--as",
      "src/fbcopy",
      "--force",
      "--yes",
      "--mount",
    ]).done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const aside = /kept as (src\/fbcopy\.before-restore-\d{8}T\d{6}Z) \(still mounted where it was/.exec(r.stdout)?.[1];
    assert.ok(aside, r.stdout);
    assert.match(
      r.stdout,
      /It is not mounted \(the restore key may not mount on vm\): as root there, zfs mount src\/fbcopy/,
    );
    assert.equal((await zfs("get", "-H", "-o", "value", "mounted", aside)).trim(), "yes");
    assert.equal(
      (await g.admin(["cat", "/src/fbcopy/mine.txt"])).trim(),
      "mine",
      "the kept dataset is still where it was mounted",
    );
    const status = JSON.parse((await bzman(["--config", failbackConfig, "status", "--json"]).done).stdout) as {
      keptAside: Array<{ dataset: string; by: string }>;
    };
    assert.ok(
      status.keptAside.some((k) => k.dataset === `vm:${aside}` && k.by === "restore"),
      JSON.stringify(status.keptAside),
    );
  });

  it("skip_unchanged under the daemon: an idle source costs one zfs command a side per pass and no new snapshot; a write is snapshotted and sent at the next pass", async () => {
    const first = await runPass(idleConfig);
    assert.equal(first.get("src/idle/a")?.result, "ok", JSON.stringify(first.get("src/idle/a")));
    const before = (await guids("src/idle/a")).size;
    const check = await bzman(["--config", idleConfig, "check"]).done;
    assert.match(
      check.stdout,
      SERIES === "2.1"
        ? /note {4}skip_unchanged: the source reports written but not snapshots_changed/
        : /ok {6}skip_unchanged: the source reports written and snapshots_changed/,
      check.stdout + check.stderr,
    );
    // The backup side's zfs, logged too (the guest's zfs through bin/, as for every test here).
    const local = join(g.dir, "zfs-logged");
    mkdirSync(local, { recursive: true });
    const localLog = join(local, "log");
    writeFileSync(localLog, "");
    writeFileSync(
      join(local, "zfs"),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> ${localLog}\nexec ${join(g.bin, "zfs")} "$@"\n`,
      { mode: 0o755 },
    );
    await g.admin(["rm", "-f", "/tmp/bzman-zfs.log"]);
    const serve = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "--config", idleConfig, "serve"], {
      cwd: REPO,
      env: { ...process.env, PATH: `${local}:${g.bin}:${process.env.PATH}` },
    });
    let out = "";
    serve.stdout.on("data", (c) => (out += c));
    serve.stderr.on("data", (c) => (out += c));
    const exited = new Promise<number | null>((r) => serve.once("close", (code) => r(code)));
    const passes = (): number => (out.match(/"msg":"pass (succeeded|FAILED)"/g) ?? []).length;
    const remoteLog = async (): Promise<string[]> =>
      (await g.admin(["sh", "-c", "cat /tmp/bzman-zfs.log 2>/dev/null || true"])).split("\n").filter(Boolean);
    const localLines = (): string[] => readFileSync(localLog, "utf8").split("\n").filter(Boolean);
    /** Waits for the next pass to end and reads both logs at once (the next pass starts 3 s later). */
    const afterPass = async (): Promise<{ n: number; remote: string[]; local: string[] }> => {
      const n = passes();
      await until("a daemon pass to end", () => passes() > n, 60_000);
      return { n: passes(), remote: await remoteLog(), local: localLines() };
    };
    try {
      // The first passes list src/idle without a snapshot (the backup has its newest ones); a
      // listing is kept once the snapshots it saw changed SETTLE_SECONDS (10 s) before it.
      for (let i = 0; i < 5; i++) await afterPass();
      const a = await afterPass();
      for (let i = 0; i < 2; i++) await afterPass();
      const b = await afterPass();
      assert.doesNotMatch(out, /"msg":"pass FAILED"/, out);
      const remote = b.remote.slice(a.remote.length);
      const localRan = b.local.slice(a.local.length);
      const idlePasses = b.n - a.n;
      assert.equal(idlePasses, 3);
      if (SERIES !== "2.1") {
        assert.deepEqual(
          remote,
          Array(idlePasses).fill(
            "list -H -p -o name,guid,written,snapshots_changed,bzman:backup -t filesystem,volume -r src/idle",
          ),
          "one zfs command per pass on the source",
        );
        const st = await bzman(["--config", idleConfig, "status", "--json"]).done;
        const row = (JSON.parse(st.stdout) as { datasets: Array<Record<string, unknown>> }).datasets.find(
          (d) => d.dataset === "src/idle/a",
        );
        assert.match(String(row?.lastMessage), /unchanged since the last pass/, JSON.stringify(row));
      } else {
        // OpenZFS 2.1 has written but no snapshots_changed: no empty snapshot, but each pass lists.
        assert.ok(remote.includes("list -H -p -o name,guid,written,bzman:backup -t filesystem,volume -r src/idle"));
        assert.ok(
          remote.every((l) => /^(list|get) /.test(l) || l === ""),
          remote.join("\n"),
        );
      }
      assert.deepEqual(
        localRan,
        Array(idlePasses).fill(
          SERIES === "2.1"
            ? "list -H -p -o name,type,guid,createtxg,creation,userrefs,receive_resume_token -t filesystem,volume,snapshot -r dst/idle"
            : "list -H -p -o name,guid,snapshots_changed,receive_resume_token -t filesystem,volume -r dst/idle",
        ),
        "one zfs command per pass on the backup: its marks (2.3), or its listing (2.1)",
      );
      assert.equal((await guids("src/idle/a")).size, before, "no new snapshot while nothing was written");
      // A write: the next pass snapshots src/idle (recursively, one instant) and sends it.
      await g.admin(["sh", "-c", "echo new > /src/idle/a/f && zpool sync src"]);
      await until(
        "the write to reach the backup",
        async () =>
          (await guids("src/idle/a")).size === before + 1 &&
          (await newestGuid("dst/idle/src/idle/a")) === (await newestGuid("src/idle/a")),
        60_000,
      );
      assert.equal((await guids("src/idle/b")).size, before + 1, "the root's snapshot is recursive");
    } finally {
      serve.kill("SIGTERM");
    }
    assert.equal(await exited, 0, out.slice(-3000));
  });

  it("pruning several expired snapshots of a dataset goes in one zfs destroy DS@a,b,c through the guard, on both sides", async () => {
    for (let i = 0; i < 3; i++) {
      await g.admin(["sh", "-c", `echo ${i} >> /src/idle/a/p && zpool sync src`]);
      assert.equal((await runPass(idleConfig)).get("src/idle/a")?.result, "ok");
    }
    assert.ok((await guids("src/idle/a")).size >= 3);
    await g.admin(["rm", "-f", "/tmp/bzman-zfs.log"]);
    const rec = (await runPass(pruneConfig)).get("src/idle/a")!;
    assert.equal(rec.warnings, undefined, JSON.stringify(rec));
    const pruned = rec.pruned as { source: number; backup: number };
    assert.ok(pruned.source >= 2 && pruned.backup >= 2, JSON.stringify(pruned));
    const log = await g.admin(["cat", "/tmp/bzman-zfs.log"]);
    assert.match(log, /^destroy src\/idle\/a@bzman_\w+(,bzman_\w+)+$/m, log);
    assert.equal((await guids("src/idle/a")).size, 1);
    assert.equal((await guids("dst/idle/src/idle/a")).size, 1);
  });

  it("promote during a running pass: the pass skips the promoted dataset (no receive into the renamed live copy, no hold, no prune)", async () => {
    await runPass(raceConfig);
    await g.admin([
      "sh",
      "-c",
      "dd if=/dev/urandom of=/src/ra/big bs=1M count=24 status=none && echo new > /src/rb/f && sync",
    ]);
    const pass = bzman(["--config", raceSlowConfig, "run", "--json"]);
    await until(
      "the pass to be receiving src/ra",
      async () => (await g.admin(["sh", "-c", "pgrep -af '^zfs receive' || true"])).includes("dst/race/src/ra"),
      120_000,
    );
    const promoted = await bzman(["--config", raceConfig, "promote", "vm:src/rb"]).done;
    assert.equal(promoted.code, 0, promoted.stdout + promoted.stderr);
    const live = "dst/bzman-live/vm/src/rb";
    const fingerprint = async (): Promise<string> =>
      (await zfs("list", "-H", "-p", "-o", "name,guid,userrefs,receive_resume_token", "-t", "all", "-r", live)).trim();
    const before = await fingerprint();
    const r = await pass.done;
    assert.equal(r.code, 1, `the pass reports the skipped dataset:\n${r.stdout}\n${r.stderr}`);
    const rec = (JSON.parse(r.stdout) as { records: Array<{ datasets: Array<Record<string, unknown>> }> }).records[0]!;
    const b = rec.datasets.find((d) => d.dataset === "src/rb")!;
    assert.equal(b.result, "skipped", JSON.stringify(b));
    assert.match(String(b.message), /promoted to local:/);
    assert.equal(rec.datasets.find((d) => d.dataset === "src/ra")!.result, "ok");
    assert.equal(await fingerprint(), before, "the live copy is exactly as promote left it");
    assert.equal((await zfs("get", "-H", "-o", "value", "readonly", live)).trim(), "off");
  });
});
