// deploy/ and source-hooks/install-source.sh: install.sh into a throwaway root (bzman --help runs
// from there, the installed config is valid, a second run keeps config and key), the systemd unit
// passes systemd-analyze verify (the SMF manifest: smf.test.ts), every script passes
// shellcheck, install-source.sh works in a throwaway root and is idempotent, and every YAML
// block in the README parses with the real schema. In CI every tool used here must be present.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../server/config/load.ts";
import { stagedConfig } from "../helpers/staged-config.ts";
import { REPO } from "../helpers/sandbox.ts";
import { mainNodeOnly } from "../helpers/node-matrix.ts";

// install.sh copies this tree's node_modules when each native module loads in the node it runs
// (seconds, on every Node version); only a tree that does not fit makes it run `npm ci --omit=dev`,
// a native build of minutes, which test/node-versions.sh proves on each version itself: the
// matrix leaves that one to the main tier.
const fallbackSkip = mainNodeOnly(
  "install.sh's npm ci fallback",
  "is npm ci's native build, which test/node-versions.sh proves on each version",
);

const tmp = mkdtempSync(join(tmpdir(), "bzman-deploy-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function tool(name: string): boolean {
  if (spawnSync("sh", ["-c", `command -v ${name}`]).status === 0) return true;
  if (process.env.CI) throw new Error(`${name} is missing; CI must install it (.ci/run)`);
  process.stderr.write(`*** SKIPPING checks that need ${name}: not installed ***\n`);
  return false;
}
const sh = (args: string[], env: Record<string, string> = {}): { status: number | null; out: string } => {
  const r = spawnSync("sh", args, { cwd: REPO, encoding: "utf8", env: { ...process.env, ...env } });
  return { status: r.status, out: r.stdout + r.stderr };
};

test("every shell script passes shellcheck as POSIX sh", { skip: !tool("shellcheck") }, () => {
  for (const f of [
    "deploy/install.sh",
    "deploy/bzman.rc",
    "source-hooks/install-source.sh",
    "source-hooks/bzman-guard",
  ]) {
    const r = spawnSync("shellcheck", ["-s", "sh", join(REPO, f)], { encoding: "utf8" });
    assert.equal(r.status, 0, `${f}\n${r.stdout}`);
  }
});

test("install.sh into a throwaway root: bzman runs from the prefix; a second run keeps config and key", () => {
  const root = join(tmp, "root");
  const first = sh(["deploy/install.sh", "--root", root, "--service", "systemd"]);
  assert.equal(first.status, 0, first.out);
  // This tree's node_modules is npm ci's of its lockfile, built for this node: copied and pruned.
  assert.match(first.out, /^\+ cp -RP \S+\/node_modules /m, first.out);
  assert.doesNotMatch(first.out, /npm ci --omit=dev/);
  assert.ok(!existsSync(join(root, "opt/bzman/lib/bzman/node_modules/tsx")), "dev dependencies are pruned");
  const bin = join(root, "opt/bzman/bin/bzman");
  const help = spawnSync(bin, ["--help"], { encoding: "utf8" });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: bzman/);
  const conf = join(root, "etc/bzman/bzman.yaml");
  const check = spawnSync(bin, ["--config", stagedConfig(root, "etc/bzman"), "check", "--config-only"], {
    encoding: "utf8",
  });
  assert.equal(check.status, 0, check.stderr);
  assert.match(readFileSync(conf, "utf8"), /^state: \/var\/lib\/bzman\/state\.json/m);
  assert.ok(existsSync(join(root, "etc/bzman/id_ed25519.pub")));
  assert.ok(existsSync(join(root, "opt/bzman/lib/bzman/source-hooks/bzman-guard")));
  writeFileSync(conf, `${readFileSync(conf, "utf8")}# edited by the operator\n`);
  const keyBefore = readFileSync(join(root, "etc/bzman/id_ed25519"), "utf8");
  const confBefore = readFileSync(conf, "utf8");
  const second = sh(["deploy/install.sh", "--root", root, "--service", "systemd"]);
  assert.equal(second.status, 0, second.out);
  assert.match(second.out, /= keep .*bzman\.yaml/);
  assert.match(second.out, /= keep .*id_ed25519/);
  assert.equal(readFileSync(conf, "utf8"), confBefore, "the operator's config is never overwritten");
  assert.equal(readFileSync(join(root, "etc/bzman/id_ed25519"), "utf8"), keyBefore, "the key is kept");
  const unit = readFileSync(join(root, "etc/systemd/system/bzman.service"), "utf8");
  assert.match(unit, /^ExecStart=\/opt\/bzman\/bin\/bzman --config \/etc\/bzman\/bzman\.yaml serve$/m);
  assert.doesNotMatch(unit, /@[A-Z]+@/);
  const dry = sh(["deploy/install.sh", "--root", join(tmp, "dry"), "--dry-run", "--service", "rc"]);
  assert.equal(dry.status, 0, dry.out);
  assert.ok(!existsSync(join(tmp, "dry")), "a dry run changes nothing");
});

test("install.sh from a tree whose node_modules does not fit: never copied; a dry run says why; npm ci installs", {
  skip: fallbackSkip,
}, () => {
  // A tree as a release tarball has it (dist/ built, no server/), with a node_modules that is
  // not npm ci's of the lockfile, or whose native module does not load in this node.
  const stage = join(tmp, "stage");
  mkdirSync(stage, { recursive: true });
  for (const f of ["source-hooks", "deploy", "package.json", "package-lock.json", "README.md"])
    spawnSync("cp", ["-R", join(REPO, f), stage]);
  const tsc = spawnSync(
    join(REPO, "node_modules/.bin/tsc"),
    ["-p", join(REPO, "tsconfig.build.json"), "--outDir", join(stage, "dist")],
    { encoding: "utf8" },
  );
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")).packages as Record<string, object>;
  const record = (packages: Record<string, object>): void =>
    writeFileSync(join(stage, "node_modules/.package-lock.json"), JSON.stringify({ packages }));
  const sqlite = join(stage, "node_modules/better-sqlite3");
  mkdirSync(join(sqlite, "build/Release"), { recursive: true });
  copyFileSync(join(REPO, "node_modules/better-sqlite3/binding.gyp"), join(sqlite, "binding.gyp"));
  const { "": _root, ...installed } = lock;
  const dry = (name: string): string => {
    const r = spawnSync("sh", [join(stage, "deploy/install.sh"), "--root", join(tmp, name), "--dry-run"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(!existsSync(join(tmp, name)), "a dry run changes nothing");
    return r.stdout;
  };

  record({ ...installed, "node_modules/yaml": { ...installed["node_modules/yaml"], version: "0.0.1" } });
  let out = dry("dry-lock");
  assert.match(out, /^= not reusing \S+: node_modules\/yaml is not the lockfile's$/m);
  assert.match(out, /npm ci --omit=dev/);
  assert.doesNotMatch(out, /cp -RP/);

  record(installed);
  writeFileSync(join(sqlite, "build/Release/better_sqlite3.node"), "not an addon");
  out = dry("dry-addon");
  assert.match(out, /^= not reusing \S+: \S+better_sqlite3\.node does not load in /m);
  assert.doesNotMatch(out, /cp -RP/);

  rmSync(join(sqlite, "build"), { recursive: true });
  out = dry("dry-unbuilt");
  assert.match(out, /^= not reusing \S+: \S+better-sqlite3 has no built native module$/m);

  rmSync(join(stage, "node_modules/.package-lock.json"));
  out = dry("dry-unrecorded");
  assert.match(out, /^= not reusing \S+: no node_modules\/\.package-lock\.json \(not installed by npm ci\)$/m);
  assert.match(out, /npm ci --omit=dev/);

  // The real install from that tree builds the production dependencies itself.
  const root = join(tmp, "fallback");
  const r = spawnSync("sh", [join(stage, "deploy/install.sh"), "--root", root, "--service", "none"], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /npm ci --omit=dev/);
  const lib = join(root, "opt/bzman/lib/bzman");
  const load = spawnSync(process.execPath, ["-e", "require('better-sqlite3')(':memory:').close()"], {
    cwd: lib,
    encoding: "utf8",
  });
  assert.equal(load.status, 0, load.stderr);
  assert.equal(spawnSync(join(root, "opt/bzman/bin/bzman"), ["--help"]).status, 0);
});

test("the systemd unit passes systemd-analyze verify", { skip: !tool("systemd-analyze") }, () => {
  const root = join(tmp, "root");
  if (!existsSync(join(root, "etc/systemd/system/bzman.service")))
    assert.equal(sh(["deploy/install.sh", "--root", root, "--service", "systemd"]).status, 0);
  // Verify a copy whose ExecStart names the installed binary (the unit's own path is below the root).
  mkdirSync(join(tmp, "verify"), { recursive: true });
  const unit = readFileSync(join(root, "etc/systemd/system/bzman.service"), "utf8").replaceAll(
    "/opt/bzman/bin/bzman",
    join(root, "opt/bzman/bin/bzman"),
  );
  writeFileSync(join(tmp, "verify/bzman.service"), unit);
  const r = spawnSync("systemd-analyze", ["verify", join(tmp, "verify/bzman.service")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(unit, /^ProtectSystem=strict$/m);
  assert.match(unit, /^NoNewPrivileges=true$/m);
  assert.match(unit, /^PrivateTmp=true$/m);
});

test("install-source.sh in a throwaway root: account, guard, key line; idempotent; refuses bad input", () => {
  const d = join(tmp, "source");
  mkdirSync(join(d, "etc"), { recursive: true });
  // The zfs it probes is zfs-fuse's usage text (no bookmarks, no resume), never this host's zfs.
  mkdirSync(join(d, "fakebin"));
  writeFileSync(
    join(d, "fakebin/zfs"),
    `#!/bin/sh\ncat '${join(REPO, "test/fixtures/zfs/zfs-fuse-usage.txt")}' >&2\nexit 2\n`,
    { mode: 0o755 },
  );
  const run = (args: string[]): { status: number | null; out: string } =>
    sh(args, { PATH: `${join(d, "fakebin")}:${process.env.PATH}` });
  for (const f of ["passwd", "group", "shadow", "gshadow", "login.defs"])
    if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, join(d, "etc", f));
  const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOH0ztHHpOBRN9joJK9XeaLVI9bh0Xd+O0B7UuUp2giM bzman@backup";
  const args = [
    "source-hooks/install-source.sh",
    "--key",
    key,
    "--root",
    "tank",
    "--root",
    "data/vm",
    "--from",
    "10.0.0.5",
    "--destdir",
    d,
  ];
  const dry = run([...args, "--dry-run"]);
  assert.equal(dry.status, 0, dry.out);
  assert.ok(!existsSync(join(d, "usr")), "a dry run changes nothing");
  const first = run(args);
  assert.equal(first.status, 0, first.out);
  assert.match(readFileSync(join(d, "etc/passwd"), "utf8"), /^bzman:x:\d+:\d+::\/home\/bzman:\/bin\/sh$/m);
  // No password can work, but the account is not locked ("!"): sshd without PAM refuses locked accounts even for keys.
  assert.match(readFileSync(join(d, "etc/shadow"), "utf8"), /^bzman:\*:/m);
  assert.match(first.out, /would run: zfs allow -u bzman send,snapshot,hold,release,destroy,mount tank/);
  const keys = join(d, "home/bzman/.ssh/authorized_keys");
  const line = `restrict,from="10.0.0.5",command="/usr/local/libexec/bzman-guard --root tank --root data/vm --instance backup" ${key}\n`;
  assert.equal(readFileSync(keys, "utf8"), line);
  const second = run(args);
  assert.equal(second.status, 0, second.out);
  assert.match(second.out, /= account bzman exists/);
  assert.equal(readFileSync(keys, "utf8"), line, "one line, unchanged");
  const guard = spawnSync("sh", [join(d, "usr/local/libexec/bzman-guard"), "--root", "tank", "--check"], {
    env: { SSH_ORIGINAL_COMMAND: "zfs destroy -r tank" },
    encoding: "utf8",
  });
  assert.match(guard.stdout, /^REJECT/, "the installed guard works");
  // The restore key: a second line, bound to --restore, with the rights a restore needs.
  const restoreKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKwq3wJ3GqYl4Qm7d5n9v0bqk0Zc8x2yQ8mQ1pVb7R2s bzman-restore@backup";
  const rs = run([
    "source-hooks/install-source.sh",
    "--key",
    restoreKey,
    "--root",
    "tank",
    "--restore",
    "--destdir",
    d,
  ]);
  assert.equal(rs.status, 0, rs.out);
  assert.match(rs.out, /would run: zfs allow -u bzman receive,create,mount,rename tank/);
  assert.equal(
    readFileSync(keys, "utf8"),
    `${line}restrict,command="/usr/local/libexec/bzman-guard --root tank --restore" ${restoreKey}\n`,
    "both keys, each with its own guard mode",
  );
  // An existing account with a heavy login shell is pointed out (it slows every command).
  appendFileSync(join(d, "etc/passwd"), "shelly:x:4321:4321::/home/shelly:/bin/bash\n");
  const shelly = run([
    "source-hooks/install-source.sh",
    "--key",
    key,
    "--root",
    "tank",
    "--user",
    "shelly",
    "--destdir",
    d,
    "--dry-run",
  ]);
  assert.equal(shelly.status, 0, shelly.out);
  assert.match(
    shelly.out,
    /warning: the login shell of shelly is \/bin\/bash; a light one saves ~250 ms per command: usermod -s \/bin\/sh shelly/,
  );
  assert.doesNotMatch(first.out, /warning: the login shell/, "the account the installer creates has /bin/sh");
  for (const bad of [
    ["--root", "tank;id"],
    ["--root", "-R"],
    ["--key", "not a key"],
  ]) {
    const r = run(["source-hooks/install-source.sh", "--key", key, "--root", "tank", ...bad, "--destdir", d]);
    assert.notEqual(r.status, 0, bad.join(" "));
  }
});

test("every YAML block in the README parses with the real schema", () => {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 1);
  for (const b of blocks) {
    const r = parseConfig(b);
    assert.ok("config" in r, `${JSON.stringify(r)}\n${b}`);
  }
});
