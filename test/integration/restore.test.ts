// Getting data back, on real parts (zfs-fuse, a private sshd, the guard as forced command on both
// keys): a restore to a new name on the source holds the original's files; the replication key
// can never `zfs receive` on the source and the restore key only below its root; a local clone
// and its cleanup; promote → write → failback → pulls go on, nothing lost.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { destroyDataset, must } from "../../server/sandbox/zfs-pools.ts";
import { LocalRunner } from "../../server/zfs/runner.ts";
import { connectSource } from "../../server/ssh/connection.ts";
import { HOLD_TAG, bzman, prop, sandboxSkip, snapshotGuids } from "../helpers/sandbox.ts";

/** Every file below `dir` with the sha256 of its content. */
function tree(dir: string, base = dir, out = new Map<string, string>()): Map<string, string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) tree(p, base, out);
    else out.set(p.slice(base.length + 1), createHash("sha256").update(readFileSync(p)).digest("hex"));
  }
  return out;
}

async function mountpointOf(dataset: string): Promise<string> {
  return prop(dataset, "mountpoint");
}

const runner = new LocalRunner();
const skip = sandboxSkip();
describe("restore, promote and failback", { skip }, () => {
  let rig: Rig;
  let config: string;
  let S: string;
  let B: string;

  before(async () => {
    rig = await startRig({ name: "rst", restoreRoots: ["restored", "www"] });
    S = rig.sourcePool;
    B = rig.backupPool;
    await must(["zfs", "create", `${S}/www`]);
    await must(["zfs", "create", "-o", "canmount=off", `${S}/restored`]);
    const www = await mountpointOf(`${S}/www`);
    writeFileSync(join(www, "index.html"), "<h1>v1</h1>\n");
    mkdirSync(join(www, "img"));
    writeFileSync(join(www, "img", "logo.bin"), Buffer.alloc(200_000, 7));
    config = rig.writeConfig({ datasets: [{ name: `${S}/www` }] });
    const r = await bzman(["--config", config, "run"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  });
  after(async () => {
    if (rig) await rig.cleanup();
  });

  test("restore to a new name on the source: the original's files at that snapshot, unmounted until asked", async () => {
    const original = tree(await mountpointOf(`${S}/www`));
    writeFileSync(join(await mountpointOf(`${S}/www`), "index.html"), "<h1>v2, after the backup</h1>\n");
    const r = await bzman(["--config", config, "restore", `src1:${S}/www`, "--as", `${S}/restored/www`]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^OK restored /m);
    assert.equal(await prop(`${S}/restored/www`, "mounted"), "no");
    await must(["zfs", "mount", `${S}/restored/www`]);
    assert.deepEqual(tree(await mountpointOf(`${S}/restored/www`)), original);
    // The backup's snapshot arrived with its identity.
    const [bak, restored] = [await snapshotGuids(`${B}/src1/${S}/www`), await snapshotGuids(`${S}/restored/www`)];
    assert.ok([...restored.values()].every((g) => [...bak.values()].includes(g)));
    // Recorded, and never over a dataset that exists.
    const again = await bzman(["--config", config, "restore", `src1:${S}/www`, "--as", `${S}/restored/www`]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; bzman never overwrites a dataset/);
    const journal = readFileSync(join(rig.dir, "operations.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      journal.filter((o) => o.kind === "restore").map((o) => o.result),
      ["ok", "failed"],
    );
  });

  test("--force keeps what is in the way (renamed aside) after confirmation", async () => {
    await must(["zfs", "create", "-o", "canmount=noauto", `${S}/restored/old`]);
    const noTty = await bzman(["--config", config, "restore", `src1:${S}/www`, "--as", `${S}/restored/old`, "--force"]);
    assert.equal(noTty.code, 1);
    assert.match(noTty.stderr, /pass --yes/);
    const dry = await bzman([
      "--config",
      config,
      "restore",
      `src1:${S}/www`,
      "--as",
      `${S}/restored/old`,
      "--force",
      "--dry-run",
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would be renamed aside/);
    const r = await bzman([
      "--config",
      config,
      "restore",
      `src1:${S}/www`,
      "--as",
      `${S}/restored/old`,
      "--force",
      "--yes",
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const names = (await must(["zfs", "list", "-H", "-o", "name", "-r", `${S}/restored`])).split("\n");
    assert.ok(
      names.some((n) => /\/restored\/old\.before-restore-\d{8}T\d{6}Z$/.test(n)),
      names.join(" "),
    );
  });

  test("a --force restore that fails after the rename aside says where the dataset is kept: output, journal, status", async () => {
    // Room for the dataset in the way, not for the restored one: the receive runs out of quota.
    await must(["zfs", "create", "-o", "canmount=off", "-o", "quota=160K", `${S}/restored/tight`]);
    await must(["zfs", "create", "-o", "canmount=noauto", `${S}/restored/tight/x`]);
    const r = await bzman([
      "--config",
      config,
      "restore",
      `src1:${S}/www`,
      "--as",
      `${S}/restored/tight/x`,
      "--force",
      "--yes",
    ]);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    const kept = new RegExp(
      `had been renamed aside first and is kept as src1:(${S}/restored/tight/x\\.before-restore-\\d{8}T\\d{6}Z)`,
    );
    const aside = kept.exec(r.stderr)?.[1];
    assert.ok(aside, r.stderr);
    assert.ok(r.stderr.includes(`zfs rename ${aside} ${S}/restored/tight/x on src1 puts it back`), r.stderr);
    assert.ok(
      (await must(["zfs", "list", "-H", "-o", "name", aside])).trim() === aside,
      "the dataset in the way is there, kept",
    );
    const journal = readFileSync(join(rig.dir, "operations.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; result: string; details?: { aside?: string } });
    const rec = journal.filter((o) => o.kind === "restore").at(-1)!;
    assert.equal(rec.result, "failed");
    assert.equal(rec.details?.aside, `src1:${aside}`);
    const status = await bzman(["--config", config, "status", "--json"]);
    const listed = (JSON.parse(status.stdout) as { keptAside: Array<{ dataset: string; by: string; result: string }> })
      .keptAside;
    assert.ok(
      listed.some((k) => k.dataset === `src1:${aside}` && k.by === "restore" && k.result === "failed"),
      JSON.stringify(listed),
    );
    const text = await bzman(["--config", config, "status"]);
    assert.match(
      text.stdout,
      new RegExp(`KEPT ASIDE[\\s\\S]*src1:${aside.replace(/\./g, "\\.")} +src1:${S}/www +restore \\(failed\\)`),
    );
  });

  test("the replication key cannot receive on the source; the restore key only below its root", async () => {
    const tryReceive = async (identity: string, dataset: string): Promise<string> => {
      const c = await connectSource({
        name: "src1",
        host: "127.0.0.1",
        port: rig.sshd.port,
        user: "root",
        identity,
        hostKey: rig.sshd.hostKey,
      });
      try {
        const run = c.runner.spawn(["zfs", "receive", "-u", dataset]);
        run.stdin.end();
        return (await run.done).stderr;
      } finally {
        await c.close();
      }
    };
    assert.match(await tryReceive(rig.identity, `${S}/restored/x`), /bzman-guard: rejected/);
    assert.match(await tryReceive(rig.restoreIdentity, `${S}/www-elsewhere`), /bzman-guard: rejected/);
    assert.doesNotMatch(await tryReceive(rig.restoreIdentity, `${S}/restored/x`), /bzman-guard/);
    // Through bzman: a destination outside the restore root is refused by the guard, and nothing is written.
    const r = await bzman(["--config", config, "restore", `src1:${S}/www`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GUARD_REJECTED/);
    assert.match(
      r.stderr,
      /lets zfs receive through only below its --root options; pick a destination there with --as/,
    );
    assert.ok(!(await must(["zfs", "list", "-H", "-o", "name", "-r", S])).includes("www-restored"));
  });

  test("a local clone for file recovery, and its cleanup", async () => {
    const at = join(rig.dir, "files");
    const r = await bzman([
      "--config",
      config,
      "restore",
      "--local",
      `src1:${S}/www`,
      "--as",
      "www-files",
      "--mountpoint",
      at,
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(readFileSync(join(at, "index.html"), "utf8"), "<h1>v1</h1>\n");
    writeFileSync(join(at, "scratch.txt"), "writable");
    // An operator's own clone inside bzman's (it inherits bzman's mark): never bzman's to destroy.
    const clone = `${B}/bzman-restore/www-files`;
    await must(["zfs", "snapshot", `${clone}@op`]);
    await must(["zfs", "clone", `${clone}@op`, `${clone}/mywork`]);
    writeFileSync(join(at, "mywork", "notes.txt"), "the operator's work");
    const guarded = await bzman(["--config", config, "restore", "--cleanup"]);
    assert.equal(guarded.code, 1, guarded.stdout + guarded.stderr);
    assert.doesNotMatch(guarded.stdout, /removed/);
    assert.match(guarded.stderr, /www-files holds datasets bzman did not make \(.*mywork\); it is left alone/);
    assert.equal(
      readFileSync(join(at, "mywork", "notes.txt"), "utf8"),
      "the operator's work",
      "still mounted, still there",
    );
    assert.equal(
      (await bzman(["--config", config, "restore", "--cleanup", `${clone}/mywork`])).code,
      1,
      "named explicitly, still refused",
    );
    assert.equal(await prop(`${clone}/mywork`, "type"), "filesystem");
    await destroyDataset(`${clone}/mywork`);
    await destroyDataset(`${clone}@op`);
    const listed = await bzman(["--config", config, "restore", "--cleanup", "--dry-run"]);
    assert.match(listed.stdout, new RegExp(`would destroy ${B}/bzman-restore/www-files`));
    const c = await bzman(["--config", config, "restore", "--cleanup"]);
    assert.equal(c.code, 0, c.stderr);
    assert.ok(!(await must(["zfs", "list", "-H", "-o", "name", "-r", B])).includes("www-files"));
    // A dataset bzman did not clone is never destroyed by cleanup.
    const refused = await bzman(["--config", config, "restore", "--cleanup", `${B}/src1`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not a clone bzman made/);
    const dry = await bzman(["--config", config, "restore", "--cleanup", "--dry-run", `${B}/src1`]);
    assert.equal(dry.code, 1, "the dry run refuses what the real run refuses");
    assert.match(dry.stderr, /not a clone bzman made .* it would be left alone/);
    assert.doesNotMatch(dry.stdout, /would destroy/);
  });

  test("promote → write on the backup host → failback → pulls continue; nothing lost", async () => {
    const target = `${B}/src1/${S}/www`;
    const before = await snapshotGuids(target);
    const live = join(rig.dir, "live");
    // A dry run refuses what the real run would: a live name that is taken.
    await must(["zfs", "create", "-p", `${B}/bzman-live/taken`]);
    const dryTaken = await bzman(["--config", config, "promote", `src1:${S}/www`, "--as", "taken", "--dry-run"]);
    assert.equal(dryTaken.code, 1, dryTaken.stdout + dryTaken.stderr);
    assert.match(dryTaken.stderr, /dry run: refused \[ZFS_DEST_EXISTS\] local:.*bzman-live\/taken exists/);
    assert.equal(
      (await bzman(["--config", config, "promote", `src1:${S}/www`, "--dry-run"])).code,
      0,
      "a free name passes the dry run",
    );
    const p = await bzman(["--config", config, "promote", `src1:${S}/www`, "--mountpoint", live]);
    assert.equal(p.code, 0, p.stderr + p.stdout);
    assert.match(p.stdout, /^PROMOTED /m);
    assert.equal(await prop(`${B}/bzman-live/src1/${S}/www`, "readonly"), "off");
    writeFileSync(join(live, "order-4711.txt"), "written during the failover\n");

    // While promoted: its pulls are skipped (and no snapshot piles up on the source), status says so.
    const srcBefore = await snapshotGuids(`${S}/www`);
    const run = await bzman(["--config", config, "run"]);
    assert.match(run.stdout + run.stderr, /SKIPPED .*promoted to local:/);
    assert.deepEqual(await snapshotGuids(`${S}/www`), srcBefore);
    const st = await bzman(["--config", config, "status", "--json"]);
    const ds = JSON.parse(st.stdout).datasets.find((d: { dataset: string }) => d.dataset === `${S}/www`);
    assert.equal(ds.promoted.live, `${B}/bzman-live/src1/${S}/www`);
    assert.equal(existsSync(target), false);

    // The source lost the dataset (the disaster); failback re-seeds it from the live copy.
    for (const snap of (await snapshotGuids(`${S}/www`)).keys())
      await runner.run(["zfs", "release", HOLD_TAG, `${S}/www${snap}`]);
    await destroyDataset(`${S}/www`, { recursive: true });
    const dry = await bzman(["--config", config, "failback", `src1:${S}/www`, "--dry-run"]);
    assert.match(dry.stdout, /a full stream/);
    const fb = await bzman(["--config", config, "failback", `src1:${S}/www`]);
    assert.equal(fb.code, 0, fb.stderr + fb.stdout);
    assert.match(fb.stdout, /^FAILED BACK /m);
    const www = await mountpointOf(`${S}/www`);
    assert.equal(readFileSync(join(www, "order-4711.txt"), "utf8"), "written during the failover\n");
    assert.equal(readFileSync(join(www, "index.html"), "utf8"), "<h1>v1</h1>\n");

    // The backup keeps its history, gains the failback snapshot, and pulls go on from it.
    const after = await snapshotGuids(target);
    for (const [name, guid] of before) assert.equal(after.get(name), guid, `${name} kept`);
    assert.equal(await prop(target, "readonly"), "on");
    writeFileSync(join(www, "after.txt"), "back to normal\n");
    const next = await bzman(["--config", config, "run"]);
    assert.equal(next.code, 0, next.stderr + next.stdout);
    assert.match(next.stdout + next.stderr, new RegExp(`OK +src1:${S}/www .* incremental`));
    assert.equal(
      JSON.parse((await bzman(["--config", config, "status", "--json"])).stdout).datasets.find(
        (d: { dataset: string }) => d.dataset === `${S}/www`,
      ).promoted,
      null,
    );
    const again = await bzman(["--config", config, "failback", `src1:${S}/www`]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not promoted/);

    // A switchover: the source stays intact, so failback sends only what changed on the live copy.
    assert.equal((await bzman(["--config", config, "promote", `src1:${S}/www`, "--mountpoint", live])).code, 0);
    writeFileSync(join(live, "order-4712.txt"), "second failover\n");
    const inc = await bzman(["--config", config, "failback", `src1:${S}/www`]);
    assert.equal(inc.code, 0, inc.stderr + inc.stdout);
    assert.match(inc.stdout, /sent an incremental/);
    assert.equal(readFileSync(join(www, "order-4712.txt"), "utf8"), "second failover\n");
    assert.equal(readFileSync(join(www, "after.txt"), "utf8"), "back to normal\n");
    assert.equal((await bzman(["--config", config, "run"])).code, 0);
  });

  test("failback over writes made on the source after the shared snapshot: refused with valid commands, never rolled back; --force keeps them aside, or says it could not and changes nothing", async () => {
    const live = join(rig.dir, "live3");
    const liveName = `${B}/bzman-live/src1/${S}/www`;
    assert.equal((await bzman(["--config", config, "promote", `src1:${S}/www`, "--mountpoint", live])).code, 0);
    writeFileSync(join(live, "order-4713.txt"), "third failover\n");
    // The source came back and someone wrote to it: that write exists nowhere else.
    const www = await mountpointOf(`${S}/www`);
    writeFileSync(join(www, "late.txt"), "written on the source after its newest snapshot\n");
    const newest = [...(await snapshotGuids(`${S}/www`)).keys()].at(-1)!;
    const rollback = `zfs rollback ${S}/www${newest}`;

    // zfs-fuse has no `written`: the dry run says it cannot tell, and what the real run then does.
    const dry = await bzman(["--config", config, "failback", `src1:${S}/www`, "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr + dry.stdout);
    assert.match(
      dry.stdout,
      /cannot tell whether .*www was written after @.*: if it was, the failback refuses \(--force keeps it aside/,
    );

    const refused = await bzman(["--config", config, "failback", `src1:${S}/www`]);
    assert.equal(refused.code, 1, refused.stderr + refused.stdout);
    assert.match(refused.stderr, /FAILED \[ZFS_DEST_MODIFIED\] .*was written on the source after @/);
    assert.ok(refused.stderr.includes(`on the source: ${rollback}, then bzman failback src1:${S}/www`), refused.stderr);
    assert.match(refused.stderr, new RegExp(`bzman failback src1:${S}/www --force \\(renames`));
    assert.equal(
      readFileSync(join(www, "late.txt"), "utf8"),
      "written on the source after its newest snapshot\n",
      "never rolled back",
    );
    assert.equal(await prop(liveName, "readonly"), "off", "the live copy serves on, writable");

    // --force keeps the writes by renaming the source aside. zfs-fuse refuses to rename a mounted
    // dataset while it is busy ("dataset is busy", even after retries), and not always: either way
    // nothing is lost, and what bzman says matches what it did.
    const forced = await bzman(["--config", config, "failback", `src1:${S}/www`, "--force", "--yes"]);
    if (forced.code === 0) {
      const aside = /kept as (\S+\.before-failback-\d{8}T\d{6}Z)/.exec(forced.stdout)?.[1];
      assert.ok(aside, forced.stdout);
      assert.equal(
        (await must(["zfs", "list", "-H", "-o", "name", aside])).trim(),
        aside,
        "the source's dataset is kept aside",
      );
      await runner.run(["zfs", "mount", aside]);
      assert.equal(
        readFileSync(join(await mountpointOf(aside), "late.txt"), "utf8"),
        "written on the source after its newest snapshot\n",
      );
      assert.equal(readFileSync(join(await mountpointOf(`${S}/www`), "order-4713.txt"), "utf8"), "third failover\n");
      assert.ok(
        JSON.parse((await bzman(["--config", config, "status", "--json"])).stdout).keptAside.some(
          (k: { dataset: string }) => k.dataset === `src1:${aside}`,
        ),
      );
    } else {
      assert.equal(forced.code, 1, forced.stderr + forced.stdout);
      assert.match(
        forced.stderr,
        /could not be renamed aside to .*www\.before-failback-\d{8}T\d{6}Z on the source, so nothing was sent and nothing changed there/,
      );
      assert.ok(forced.stderr.includes(`then drop the writes (on the source: ${rollback})`), forced.stderr);
      assert.equal(readFileSync(join(www, "late.txt"), "utf8"), "written on the source after its newest snapshot\n");
      assert.equal(await prop(liveName, "readonly"), "off");
      const journal = JSON.parse((await bzman(["--config", config, "status", "--json"])).stdout).datasets.find(
        (d: { dataset: string }) => d.dataset === `${S}/www`,
      );
      assert.equal(journal.promoted.live, liveName, "the promotion stays in force");
      // The operator takes the suggested way: the command printed works as printed.
      const [cmd, ...args] = rollback.split(" ");
      await must([cmd!, ...args]);
      const fb = await bzman(["--config", config, "failback", `src1:${S}/www`]);
      assert.equal(fb.code, 0, fb.stderr + fb.stdout);
      assert.equal(readFileSync(join(www, "order-4713.txt"), "utf8"), "third failover\n");
    }
    assert.equal((await bzman(["--config", config, "run"])).code, 0);
  });
});
