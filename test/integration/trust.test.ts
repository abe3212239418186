// Host keys on real sshds: an unpinned source is refused until `bzman trust` pins its key (the
// config's comments survive); a changed key (the host was "reinstalled") is refused between two
// runs until trust pins the new one, and trust never pins without confirmation.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { startSshd, type Sshd } from "../../server/sandbox/sshd.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, sandboxSkip } from "../helpers/sandbox.ts";

const skip = sandboxSkip();
const pinned = (file: string): string | undefined => parse(readFileSync(file, "utf8")).sources[0].host_key;

describe("bzman trust", { skip }, () => {
  let rig: Rig;
  let second: Sshd | undefined;
  let config: string;

  before(async () => {
    rig = await startRig({ name: "tru" });
    await must(["zfs", "create", `${rig.sourcePool}/a`]);
    await must(["zfs", "snapshot", `${rig.sourcePool}/a@s1`]);
    config = rig.writeConfig({ host_key: undefined, datasets: [{ name: `${rig.sourcePool}/a` }] });
    writeFileSync(config, `# operator's comment: keep me\n${readFileSync(config, "utf8")}`);
  });
  after(async () => {
    await second?.stop();
    if (rig) await rig.cleanup();
  });

  test("an unpinned source is refused; trust --yes pins its key, keeping the file's comments", async () => {
    const refused = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(refused.code, 1);
    assert.equal(JSON.parse(refused.stdout).records[0].datasets[0].error.code, "SSH_HOSTKEY_UNKNOWN");
    const t = await bzman(["--config", config, "trust", "src1", "--yes"]);
    assert.equal(t.code, 0, t.stdout + t.stderr);
    assert.match(t.stdout, /presents ssh-ed25519 SHA256:\S+\nno key is pinned yet/);
    const text = readFileSync(config, "utf8");
    assert.match(text, /^# operator's comment: keep me/);
    assert.equal(pinned(config), rig.sshd.hostKey, "the presented key is now pinned");
    const ok = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const again = await bzman(["--config", config, "trust", "src1", "--yes"]);
    assert.match(again.stdout, /already pinned; nothing to do/);
  });

  test("a changed host key is refused between two runs; trust asks, and pins only when confirmed", async () => {
    second = await startSshd(join(rig.dir, "sshd2"), rig.authorizedKeys);
    // The "same host" now answers with another key: point the source at the reinstalled sshd.
    writeFileSync(config, readFileSync(config, "utf8").replace(`port: ${rig.sshd.port}`, `port: ${second.port}`));
    const refused = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune", "--json"]);
    assert.equal(refused.code, 1);
    const d = JSON.parse(refused.stdout).records[0].datasets[0];
    assert.equal(d.error.code, "SSH_HOSTKEY");
    assert.match(d.message, /host key changed or wrong!/);

    const unconfirmed = await bzman(["--config", config, "trust", "src1"]);
    assert.equal(unconfirmed.code, 1);
    assert.match(unconfirmed.stdout, /the config pins a DIFFERENT key: SHA256:/);
    assert.match(unconfirmed.stderr, /not confirmed \(no terminal\)/);
    assert.equal(pinned(config), rig.sshd.hostKey, "nothing pinned without confirmation");

    const t = await bzman(["--config", config, "trust", "src1", "--yes"]);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(pinned(config), second.hostKey);
    const ok = await bzman(["--config", config, "run", "--no-snapshot", "--no-prune"]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });

  test("trust of an unknown source or an unreachable host fails clearly", async () => {
    const r = await bzman(["--config", config, "trust", "nope"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no source named "nope"/);
  });
});
