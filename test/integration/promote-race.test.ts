// A promote while a pass runs, on real zfs-fuse with installer-made keys: the pass is held in a
// slow transfer of one dataset (bandwidth_limit) while the operator promotes another dataset that
// comes later in the same pass. The pass must notice the promotion (it asks the journal again
// before each dataset and after taking its lock): it never receives into, holds or prunes the
// promoted dataset, whose live copy stays exactly as promote left it.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { REPO, bzman, poolFingerprint, sandboxSkip, stopAfter, until } from "../helpers/sandbox.ts";

const skip = sandboxSkip();

describe("promote during a running pass", { skip }, () => {
  let rig: Rig;
  let S: string;
  let config: string;
  let slow: string;

  before(async () => {
    rig = await startRig({ name: "prm" });
    S = rig.sourcePool;
    for (const d of ["a", "b"]) await must(["zfs", "create", `${S}/${d}`]);
    config = rig.writeConfig({ keep_source: { last: 2 }, keep_backup: { last: 2 } });
    // One dataset at a time, so that S/b still waits its turn behind the slow S/a when it is
    // promoted (with datasets side by side it would be received beside S/a before the promote).
    slow = rig.writeConfig(
      { keep_source: { last: 2 }, keep_backup: { last: 2 }, bandwidth_limit: "256K", max_transfers_per_source: 1 },
      join(rig.dir, "slow.yaml"),
    );
    const first = await bzman(["--config", config, "run"]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
  });
  after(async () => rig && (await rig.cleanup()));

  test("a dataset promoted while the pass works on another is skipped by the pass: not received into, held or pruned", async (t) => {
    // About 6 s of stream for S/a at 256 KiB/s; S/b comes after it in the pass.
    writeFileSync(join(rig.sourceMount, "a", "big"), Buffer.alloc(1536 * 1024, 7));
    writeFileSync(join(rig.sourceMount, "b", "f"), "new on the source\n");
    const pass = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "--config", slow, "run", "--json"], {
      cwd: REPO,
    });
    stopAfter(t, pass);
    let out = "";
    pass.stdout.on("data", (c) => (out += c));
    pass.stderr.on("data", (c) => (out += c));
    const done = new Promise<number | null>((r) => pass.once("close", r));
    await until(
      "the pass to be receiving S/a",
      async () => (await must(["sh", "-c", "pgrep -af '^zfs receive' || true"])).includes(`${S}/a`),
      60_000,
    );
    const live = join(rig.dir, "live");
    const p = await bzman(["--config", config, "promote", `src1:${S}/b`, "--mountpoint", live]);
    assert.equal(p.code, 0, p.stdout + p.stderr);
    const liveName = /local:(\S+) is live/.exec(p.stdout)![1]!;
    const refs = async (): Promise<string> =>
      (
        await must([
          "sh",
          "-c",
          `zfs list -H -o name -t snapshot -r ${liveName} | xargs zfs get -H -o name,value userrefs`,
        ])
      ).trim();
    const before = await poolFingerprint(rig.backupPool).then((f) =>
      f
        .split("\n")
        .filter((l) => l.startsWith(liveName))
        .join("\n"),
    );
    const holdsBefore = await refs();
    const code = await done;
    assert.equal(code, 1, `the pass reports the skipped dataset:\n${out}`);
    const rec = JSON.parse(out.slice(out.indexOf("{"))).records[0];
    const b = rec.datasets.find((d: { dataset: string }) => d.dataset === `${S}/b`);
    assert.equal(b.result, "skipped", JSON.stringify(b));
    assert.match(b.message, /promoted to local:/);
    assert.equal(rec.datasets.find((d: { dataset: string }) => d.dataset === `${S}/a`).result, "ok");
    const afterPass = (await poolFingerprint(rig.backupPool))
      .split("\n")
      .filter((l) => l.startsWith(liveName))
      .join("\n");
    assert.equal(afterPass, before, "the live dataset is exactly as promote left it");
    assert.equal(await refs(), holdsBefore, "no hold placed or released on the live dataset's snapshots");
  });
});
