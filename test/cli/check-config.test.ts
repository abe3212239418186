// `bzman check --config-only` through the real CLI: it refuses a schedule the scheduler cannot
// run and files the config names that cannot be read, each with its key's path, and exits 2.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bzman } from "../helpers/sandbox.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-check-config-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
writeFileSync(join(tmp, "id"), "key\n");
writeFileSync(join(tmp, "token"), "secret\n");
mkdirSync(join(tmp, "a-folder"));

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFjFJIdHBGpBFr3kHuBnXIoBe0wbk6ekM5tL9bYPFHF4";
function config(
  name: string,
  extra: { schedule?: string; identity2?: string; restore?: string; token?: string } = {},
): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    `state: ${join(tmp, name, "state.json")}
instance: backup1
http: { listen: "127.0.0.1:0"${extra.token ? `, token_file: ${extra.token}` : ""} }
sources:
  - { name: web1, host: h1, identity: ${join(tmp, "id")}, host_key: "${KEY}", target: backup/web1, datasets: [{ name: tank/a }] }
  - { name: web2, host: h2, identity: ${extra.identity2 ?? join(tmp, "id")},${extra.restore ? ` restore_identity: ${extra.restore},` : ""}${extra.schedule ? ` schedule: "${extra.schedule}",` : ""} host_key: "${KEY}", target: backup/web2, datasets: [{ name: tank/b }] }
`,
  );
  return file;
}

test("a good config with readable files: valid, exit 0", async () => {
  const r = await bzman([
    "--config",
    config("good", { token: join(tmp, "token"), restore: join(tmp, "token") }),
    "check",
    "--config-only",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /valid, 2 source\(s\): web1, web2/);
});

test("schedule \"61 25 * * *\" is refused by the scheduler's parser, with the key's path; exit 2", async () => {
  const r = await bzman(["--config", config("cron", { schedule: "61 25 * * *" }), "check", "--config-only"]);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /sources\[1\]\.schedule: "61 25 \* \* \*" is not a cron expression that ever fires/);
  assert.equal(r.stdout, "");
});

test("a missing identity, a missing token_file and a folder as restore key: each named with its key; exit 2", async () => {
  const file = config("files", {
    identity2: join(tmp, "nope"),
    restore: join(tmp, "a-folder"),
    token: join(tmp, "no-token"),
  });
  for (const args of [["check", "--config-only"], ["check"]]) {
    const r = await bzman(["--config", file, ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}`);
    assert.match(r.stderr, /the configuration has 3 problem\(s\)/);
    assert.ok(r.stderr.includes(`sources[1].identity: ${join(tmp, "nope")} does not exist`), r.stderr);
    assert.ok(r.stderr.includes(`sources[1].restore_identity: ${join(tmp, "a-folder")} is not a file`), r.stderr);
    assert.ok(r.stderr.includes(`http.token_file: ${join(tmp, "no-token")} does not exist`), r.stderr);
  }
});
