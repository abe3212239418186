// Status on real parts: a daemon serves GET /status (text and JSON), /metrics and /healthz on a
// free loopback port; /healthz flips to 503 when the backup pool degrades (a mirror side taken
// offline); `bzman status` reads the daemon, and the history when no daemon runs; `bzman
// monitor` checks pools here and on the source through its guard; beyond loopback a token is
// required.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { freePort } from "../../server/sandbox/sshd.ts";
import { destroyPool, must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, sandboxSkip, serveDaemon as serve, until } from "../helpers/sandbox.ts";

const skip = sandboxSkip();
describe("status, metrics, healthz, monitor", { skip }, () => {
  let rig: Rig;
  let mirror: string;
  let files: string[];

  before(async () => {
    rig = await startRig({ name: "sts" });
    await must(["zfs", "create", `${rig.sourcePool}/a`]);
    mirror = `${rig.backupPool}m`;
    files = [join(rig.dir, "m1.img"), join(rig.dir, "m2.img")];
    for (const f of files) await (await open(f, "w")).truncate(96 * 1024 * 1024).then(() => undefined);
    await must(["zpool", "create", "-m", join(rig.dir, "mnt", mirror), mirror, "mirror", ...files]);
  });
  after(async () => {
    if (mirror) await destroyPool(mirror).catch(() => {});
    if (rig) await rig.cleanup();
  });

  test("the daemon's HTTP status, metrics and healthz; healthz 503 when the pool degrades; bzman status and monitor", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const config = rig.writeConfig({
      schedule: "*/2 * * * * *",
      target: `${mirror}/src1`,
      datasets: [{ name: `${rig.sourcePool}/a` }],
      http: { listen: `127.0.0.1:${port}` },
    });
    const d = serve(config);
    try {
      await until("a fresh, healthy status", async () => (await fetch(`${url}/healthz`)).status === 200);
      const text = await (await fetch(`${url}/status`)).text();
      assert.match(text, new RegExp(`src1:${rig.sourcePool}/a +ok +@bzman_\\d{8}T\\d{6}Z`));
      assert.match(text, new RegExp(`${mirror} +local +ONLINE`));
      const json = await (await fetch(`${url}/status?format=json`)).json();
      assert.equal(json.healthy, true);
      assert.ok(json.datasets[0].nextRun, "next scheduled run is shown");
      assert.ok(
        json.pools.some((p: { host: string }) => p.host === "src1"),
        "the source's pool, checked through the guard",
      );
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(
        metrics,
        new RegExp(`^bzman_dataset_fresh\\{source="src1",dataset="${rig.sourcePool}/a"\\} 1$`, "m"),
      );
      assert.match(metrics, /^bzman_healthy 1$/m);

      const cli = await bzman(["--config", config, "status", "--json"]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(JSON.parse(cli.stdout).datasets[0].dataset, `${rig.sourcePool}/a`);

      await must(["zpool", "offline", mirror, files[1]!]);
      await until("healthz 503", async () => (await fetch(`${url}/healthz`)).status === 503);
      assert.match(await (await fetch(`${url}/healthz`)).text(), new RegExp(`pool ${mirror} on local is DEGRADED`));
      const mon = await bzman(["--config", config, "monitor"]);
      assert.equal(mon.code, 1, mon.stdout + mon.stderr);
      assert.match(mon.stdout, new RegExp(`pool ${mirror} on local is DEGRADED`));
      assert.match(mon.stdout, new RegExp(`${rig.sourcePool} +src1 +ONLINE`));
    } finally {
      d.child.kill("SIGTERM");
    }
    assert.equal(await d.exited, 0);
    await must(["zpool", "online", mirror, files[1]!]);
    const offline = await bzman(["--config", config, "status"]);
    assert.match(offline.stderr, /no daemon answered/);
    assert.match(offline.stdout, new RegExp(`src1:${rig.sourcePool}/a +ok`));
  });

  test("beyond loopback the daemon requires its bearer token; bzman status sends it", async () => {
    const port = await freePort();
    const tokenFile = join(rig.dir, "token");
    writeFileSync(tokenFile, "t0ken-for-tests\n", { mode: 0o600 });
    const open = rig.writeConfig(
      { schedule: "0 0 1 1 *", datasets: [{ name: `${rig.sourcePool}/a` }], http: { listen: `0.0.0.0:${port}` } },
      join(rig.dir, "open.yaml"),
    );
    const refused = await bzman(["--config", open, "status"]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /beyond loopback; set http.token_file/);
    const config = rig.writeConfig(
      {
        schedule: "0 0 1 1 *",
        datasets: [{ name: `${rig.sourcePool}/a` }],
        http: { listen: `0.0.0.0:${port}`, token_file: tokenFile },
      },
      join(rig.dir, "token.yaml"),
    );
    const d = serve(config);
    try {
      await until("the status port", async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 401);
      assert.equal(
        (await fetch(`http://127.0.0.1:${port}/status`, { headers: { authorization: "Bearer t0ken-for-tests" } }))
          .status,
        200,
      );
      const cli = await bzman(["--config", config, "status", "--json"]);
      assert.doesNotMatch(cli.stderr, /no daemon answered/, "bzman status asked the daemon with the token");
    } finally {
      d.child.kill("SIGTERM");
    }
    assert.equal(await d.exited, 0);
  });
});
