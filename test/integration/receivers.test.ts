// Several receivers of one source (3-2-1), on real zfs-fuse: three backup hosts' configs, each
// with its own instance, key (installed by install-source.sh, instance from the key's comment),
// backup pool and history, pull the same source pool over the same sshd. Two share the prefix
// `bzman`, one uses `bzman_dr`; retention is as tight as it goes (keep_source last 1). Each must
// stay incremental in interleaved passes and when one runs several times in a row; none may
// destroy another's base or release another's hold; hand-made snapshots that merely start with a
// prefix survive; a hold of the legacy tag (bzman-common, before instances) is taken over.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { createFilePool, destroyPool, must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, prop, sandboxSkip, sleep } from "../helpers/sandbox.ts";

const skip = sandboxSkip();

interface Receiver {
  instance: string;
  prefix: string;
  pool: string;
  config: string;
}

describe("three receivers of one source, each with its own instance", { skip }, () => {
  let rig: Rig;
  let S: string;
  const receivers: Receiver[] = [];
  const pools: string[] = [];

  before(async () => {
    rig = await startRig({ name: "rcv" });
    S = rig.sourcePool;
    await must(["zfs", "create", `${S}/a`]);
    writeFileSync(join(rig.sourceMount, "a", "f"), "x\n");
    // An operator's own snapshots whose names start with both prefixes.
    await must(["zfs", "snapshot", "-r", `${S}@bzman_before_upgrade`]);
    await must(["zfs", "snapshot", "-r", `${S}@bzman_dr_mine`]);
    for (const [instance, prefix] of [
      ["alpha", "bzman"],
      ["bravo", "bzman"],
      ["charlie", "bzman_dr"],
    ] as const) {
      const pool = instance === "alpha" ? rig.backupPool : `${rig.backupPool}${instance[0]}`;
      if (pool !== rig.backupPool) {
        await createFilePool(pool, rig.dir, 128);
        pools.push(pool);
      }
      const identity = await rig.installKey(
        instance,
        prefix === "bzman" ? [] : ["--guard-option", `--prefix ${prefix}`],
      );
      const config = join(rig.dir, `${instance}.yaml`);
      writeFileSync(
        config,
        stringify({
          state: join(rig.dir, `${instance}-state.json`),
          instance,
          http: { listen: "" },
          sources: [
            {
              name: rig.sourceName,
              host: "127.0.0.1",
              port: rig.sshd.port,
              user: "root",
              identity,
              host_key: rig.sshd.hostKey,
              target: `${pool}/${rig.sourceName}`,
              datasets: [{ name: S, recursive: true }],
              snapshot_prefix: prefix,
              keep_source: { last: 1 },
              keep_backup: { last: 2 },
            },
          ],
        }),
      );
      receivers.push({ instance, prefix, pool, config });
    }
  });
  after(async () => {
    for (const p of pools) await destroyPool(p).catch(() => undefined);
    if (rig) await rig.cleanup();
  });

  /** One `bzman run` of a receiver; asserts every dataset replicated in `mode`. */
  const pass = async (r: Receiver, mode: string | string[], label: string): Promise<void> => {
    writeFileSync(join(rig.sourceMount, "a", "f"), `${label}\n`);
    const out = await bzman(["--config", r.config, "run", "--json"]);
    assert.equal(out.code, 0, `${label}: ${out.stdout}\n${out.stderr}`);
    for (const d of JSON.parse(out.stdout).records[0].datasets as Array<Record<string, unknown>>) {
      assert.ok(
        (Array.isArray(mode) ? mode : [mode]).includes(d.mode as string),
        `${label}: ${d.dataset} was ${d.mode} (${d.message ?? ""})`,
      );
      assert.equal(d.result, "ok", `${label}: ${JSON.stringify(d)}`);
      assert.equal(d.warnings, undefined, `${label}: ${d.dataset} has warnings ${JSON.stringify(d.warnings)}`);
    }
  };
  /** Total holds (userrefs) on the snapshots of a source dataset: one per receiver when all is right. */
  const holdsOn = async (dataset: string): Promise<number> => {
    const names = (await must(["zfs", "list", "-H", "-o", "name", "-t", "snapshot", "-r", dataset]))
      .split("\n")
      .filter((n) => n.startsWith(`${dataset}@`));
    let n = 0;
    for (const s of names) n += Number(await prop(s, "userrefs"));
    return n;
  };

  test("first passes are full; the legacy hold is taken over; 5 interleaved rounds and 3 in a row stay incremental", async () => {
    for (const r of receivers) {
      await pass(r, "full", `${r.instance} first pass`);
      await sleep(1100); // snapshot names have one-second resolution
    }
    // alpha was a receiver before instances: its hold is the legacy tag.
    const [alpha] = receivers;
    const alphaCommon = (
      await must([
        "zfs",
        "list",
        "-H",
        "-o",
        "name",
        "-t",
        "snapshot",
        "-s",
        "createtxg",
        "-r",
        `${alpha!.pool}/${rig.sourceName}/${S}/a`,
      ])
    )
      .trim()
      .split("\n")
      .at(-1)!
      .split("@")[1]!;
    await must(["zfs", "release", "bzman.alpha", `${S}/a@${alphaCommon}`]);
    await must(["zfs", "hold", "bzman-common", `${S}/a@${alphaCommon}`]);

    for (let round = 1; round <= 5; round++) {
      for (const r of receivers) {
        await pass(r, "incremental", `round ${round}, ${r.instance}`);
        await sleep(1100);
      }
      assert.equal(await holdsOn(`${S}/a`), 3, `round ${round}: one hold per receiver, none released by another`);
    }
    for (let i = 1; i <= 3; i++) {
      await pass(alpha!, "incremental", `alpha alone, pass ${i}`);
      await sleep(1100);
    }
    for (const r of receivers.slice(1)) await pass(r, "incremental", `${r.instance} after alpha ran alone`);
    assert.equal(
      await holdsOn(`${S}/a`),
      3,
      "one hold per receiver: the legacy hold was released by its owner, nothing leaked",
    );
    assert.equal(await holdsOn(S), 3);
    // The operator's snapshots survive every receiver's retention, on the source and on each backup.
    for (const snap of [
      `${S}@bzman_before_upgrade`,
      `${S}/a@bzman_before_upgrade`,
      `${S}@bzman_dr_mine`,
      `${S}/a@bzman_dr_mine`,
    ]) {
      assert.equal(await prop(snap, "type"), "snapshot", `${snap} survives`);
    }
    for (const r of receivers) {
      const backup = (
        await must(["zfs", "list", "-H", "-o", "name", "-t", "snapshot", "-r", `${r.pool}/${rig.sourceName}`])
      ).split("\n");
      assert.ok(
        backup.some((n) => n.endsWith("@bzman_before_upgrade")),
        `${r.instance}'s backup keeps the hand-made snapshot`,
      );
    }
  });
});
