// End to end on real ZFS (zfs-fuse) and a real sshd through the installed guard: a recursive root
// with one child left out by the config's `exclude:` and one switched off on the source with
// `zfs set bzman:backup=off`. Neither is sent, both are reported as excluded (plan, run, status),
// and their old backups stay exactly as they were. A child whose name bzman refuses (a space)
// is silenced by a pattern instead of being a conflict forever.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, sandboxSkip, snapshotGuids } from "../helpers/sandbox.ts";

const skip = sandboxSkip();

interface Record {
  dataset: string;
  result: string;
  message?: string;
  mode: string;
}

describe("selection end to end: exclude and bzman:backup=off", { skip }, () => {
  let rig: Rig;
  let S: string; // source pool
  let T: string; // its backup
  let config: string;
  const before1 = new Map<string, Map<string, string>>();

  before(async () => {
    rig = await startRig({ name: "sel" });
    S = rig.sourcePool;
    T = `${rig.backupPool}/${rig.sourceName}/${S}`;
    for (const d of ["app", "scratch", "scratch/sub", "cache"]) await must(["zfs", "create", `${S}/${d}`]);
    writeFileSync(join(rig.sourceMount, "app", "a.txt"), "v1\n");
    writeFileSync(join(rig.sourceMount, "scratch", "big.bin"), "scratch v1\n");
    writeFileSync(join(rig.sourceMount, "cache", "c.bin"), "cache v1\n");
    await must(["zfs", "snapshot", "-r", `${S}@s1`]);
    // First everything is backed up, so the datasets left out later have old backups to keep.
    const first = await bzman(["--config", rig.writeConfig(), "run", "--no-snapshot", "--no-prune"]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    for (const d of ["scratch", "cache"]) before1.set(d, await snapshotGuids(`${T}/${d}`));
    assert.ok(before1.get("scratch")!.has("/sub@s1"));

    // Then one child is excluded in the config, one is switched off on the source, and a child
    // with a space in its name appears (matched by a pattern, so it is no conflict).
    config = rig.writeConfig({ datasets: [{ name: S, recursive: true, exclude: ["scratch", "my data"] }] });
    await must(["zfs", "set", "bzman:backup=off", `${S}/cache`]);
    await must(["zfs", "create", `${S}/my data`]);
    writeFileSync(join(rig.sourceMount, "app", "a.txt"), "v2\n");
    writeFileSync(join(rig.sourceMount, "scratch", "big.bin"), "scratch v2\n");
    writeFileSync(join(rig.sourceMount, "cache", "c.bin"), "cache v2\n");
    await must(["zfs", "snapshot", "-r", `${S}@s2`]);
  });
  after(async () => rig && (await rig.cleanup()));

  test("plan lists the excluded datasets apart, with why and that the backup is kept; none is a conflict", async () => {
    const r = await bzman(["--config", config, "plan", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const src = JSON.parse(r.stdout).sources[0] as {
      datasets: Array<{ dataset: string; mode: string; conflict: string | null }>;
      excluded: Array<{ dataset: string; by: string; reason: string; backupKept: boolean }>;
    };
    assert.deepEqual(
      src.excluded.map((x) => [x.dataset.slice(S.length), x.by, x.backupKept]),
      [
        ["/cache", "property", true],
        ["/my data", "exclude", false],
        ["/scratch", "exclude", true],
        ["/scratch/sub", "exclude", true],
      ],
    );
    assert.match(src.excluded[0]!.reason, /bzman:backup=off on the source/);
    assert.match(src.excluded[2]!.reason, /exclude "scratch"/);
    assert.deepEqual(
      src.datasets.map((d) => `${d.dataset.slice(S.length) || "/"}:${d.mode}`),
      ["/:incremental", "/app:incremental"],
    );
    assert.ok(src.datasets.every((d) => d.conflict === null));
    const text = await bzman(["--config", config, "plan"]);
    assert.match(text.stdout, /\/scratch -> \S+: excluded, left out by exclude "scratch" of \S+; its backup is kept/);
  });

  test("a pass sends neither, records both as excluded, keeps their backups as they were, and exits 0", async () => {
    const r = await bzman(["--config", config, "run", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const records = (JSON.parse(r.stdout) as { records: Array<{ datasets: Record[] }> }).records[0]!.datasets;
    const by = new Map(records.map((d) => [d.dataset.slice(S.length) || "/", d]));
    for (const d of ["/scratch", "/scratch/sub", "/cache", "/my data"]) assert.equal(by.get(d)?.result, "excluded", d);
    for (const d of ["/", "/app"]) assert.equal(by.get(d)?.result, "ok", d);
    assert.ok(
      records.every((d) => d.result !== "conflict" && d.result !== "failed"),
      JSON.stringify(records, null, 1),
    );
    assert.match(by.get("/cache")!.message!, /bzman:backup=off on the source; its backup \S+ is kept as it is/);
    // Not sent: the backups of the excluded datasets are exactly what the first pass left.
    for (const d of ["scratch", "cache"]) assert.deepEqual(await snapshotGuids(`${T}/${d}`), before1.get(d), d);
    await assert.rejects(must(["zfs", "list", `${T}/my data`]), /does not exist/);
    // Sent: the rest has s2 and the pass's own snapshot.
    const app = await snapshotGuids(`${T}/app`);
    assert.ok(app.has("@s2") && [...app.keys()].some((k) => k.startsWith("@bzman_")), [...app.keys()].join(" "));
    // The pass's snapshot was taken with -r and removed again from the excluded datasets.
    const onSource = [...(await snapshotGuids(`${S}/scratch`)).keys(), ...(await snapshotGuids(`${S}/cache`)).keys()];
    assert.ok(!onSource.some((k) => k.includes("@bzman_")), onSource.join(" "));
  });

  test("status shows them as excluded with their old backup, and no problem about them", async () => {
    const r = await bzman(["--config", config, "status", "--json"]);
    const st = JSON.parse(r.stdout) as {
      problems: string[];
      datasets: Array<{
        dataset: string;
        excluded: string | null;
        lastResult: string;
        newest: { name: string } | null;
      }>;
    };
    const scratch = st.datasets.find((d) => d.dataset === `${S}/scratch`)!;
    const cache = st.datasets.find((d) => d.dataset === `${S}/cache`)!;
    for (const d of [scratch, cache]) {
      assert.equal(d.lastResult, "excluded");
      assert.ok(d.excluded);
      assert.equal(d.newest?.name, "s1", "the old backup is still its newest");
    }
    assert.ok(!st.problems.some((p) => /scratch|cache|my data/.test(p)), st.problems.join("\n"));
    const text = await bzman(["--config", config, "status"]);
    assert.match(text.stdout, /scratch\s+excluded/);
  });

  test("bzman:backup=on below a switched-off dataset takes a child back in; zfs inherits the off to the rest", async () => {
    await must(["zfs", "create", `${S}/cache/wanted`]);
    await must(["zfs", "create", `${S}/cache/junk`]);
    await must(["zfs", "set", "bzman:backup=on", `${S}/cache/wanted`]);
    await must(["zfs", "snapshot", "-r", `${S}@s3`]);
    const r = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const records = (JSON.parse(r.stdout) as { records: Array<{ datasets: Record[] }> }).records[0]!.datasets;
    const result = (d: string): string | undefined => records.find((x) => x.dataset === `${S}/${d}`)?.result;
    assert.deepEqual([result("cache"), result("cache/junk"), result("cache/wanted")], ["excluded", "excluded", "ok"]);
    assert.ok((await snapshotGuids(`${T}/cache/wanted`)).has("@s3"));
    assert.deepEqual(
      await snapshotGuids(`${T}/cache`).then((m) => new Map([...m].filter(([k]) => !k.startsWith("/wanted")))),
      before1.get("cache"),
      "the switched-off parent's backup is unchanged",
    );
  });
});
