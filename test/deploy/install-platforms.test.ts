// install.sh on the platforms it cannot run on here, told apart by uname (and zonename) as on the
// real systems: a stand-in uname first on PATH answers install.sh as SmartOS, OmniOS or FreeBSD
// would (and every other caller, such as node-gyp building native modules meanwhile, as this
// machine does). Into a staged root: the SmartOS global zone gets everything under /opt (config,
// key, history, the manifest in /opt/custom/smf) and is told why; other illumos, a SmartOS
// zone, the usual paths and a site manifest; FreeBSD the rc.d layout. The services name the
// node that ran install.sh by its full path, and the installed bzman runs.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stagedConfig } from "../helpers/staged-config.ts";
import { REPO } from "../helpers/sandbox.ts";
import { mainNodeOnly } from "../helpers/node-matrix.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-platforms-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const realUname = spawnSync("sh", ["-c", "command -v uname"], { encoding: "utf8" }).stdout.trim();
const node = spawnSync("sh", ["-c", "command -v node"], { encoding: "utf8" }).stdout.trim();
const xmllint = ((): boolean => {
  if (spawnSync("sh", ["-c", "command -v xmllint"]).status === 0) return true;
  if (process.env.CI)
    throw new Error("xmllint is missing; CI must install it (apt-get install libxml2-utils, see .ci/run)");
  process.stderr.write(
    "*** SKIPPING the SMF manifest checks: xmllint is not installed (apt-get install libxml2-utils) ***\n",
  );
  return false;
})();
if (!xmllint && process.env.CI) throw new Error("xmllint is missing; CI must install libxml2-utils (.ci/run)");

/** A directory with a uname (and zonename) that answer install.sh like `system`. */
function fakeBin(name: string, system: { s: string; v: string; zonename?: string }): string {
  const dir = join(tmp, `bin-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "uname"),
    [
      "#!/bin/sh",
      "# Only install.sh is told the other system; node-gyp and the compilers see this machine.",
      `case "$(tr '\\0' ' ' < /proc/$PPID/cmdline 2> /dev/null)" in`,
      "*install.sh*) ;;",
      `*) exec ${realUname} "$@" ;;`,
      "esac",
      `case "\${1:--s}" in -s) echo '${system.s}' ;; -v) echo '${system.v}' ;; *) exec ${realUname} "$@" ;; esac`,
      "",
    ].join("\n"),
  );
  chmodSync(join(dir, "uname"), 0o755);
  if (system.zonename) {
    writeFileSync(join(dir, "zonename"), `#!/bin/sh\necho ${system.zonename}\n`);
    chmodSync(join(dir, "zonename"), 0o755);
  }
  return dir;
}

function install(bin: string, root: string, extra: string[] = []): string {
  const r = spawnSync("sh", ["deploy/install.sh", "--root", root, ...extra], {
    cwd: REPO,
    encoding: "utf8",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r.stdout + r.stderr;
}

/** Every path below `root`, relative, directories with a trailing /. */
function tree(root: string, under = ""): string[] {
  return readdirSync(join(root, under)).flatMap((f) => {
    const rel = under ? `${under}/${f}` : f;
    return statSync(join(root, rel)).isDirectory()
      ? [`${rel}/`, ...(rel.endsWith("node_modules") || rel.endsWith("/dist") ? [] : tree(root, rel))]
      : [rel];
  });
}

function xpath(file: string, expr: string): string {
  return spawnSync("xmllint", ["--nonet", "--xpath", `string(${expr})`, file], { encoding: "utf8" }).stdout.replace(
    /\n$/,
    "",
  );
}

/** The installed bzman runs and reads the installed config. */
function runs(root: string, prefix: string, etc: string): void {
  const bin = join(root, prefix, "bin/bzman");
  const check = spawnSync(bin, ["--config", stagedConfig(root, etc), "check", "--config-only"], { encoding: "utf8" });
  assert.equal(check.status, 0, check.stdout + check.stderr);
}

test("SmartOS global zone: config, key, history and manifest under /opt; nothing in /etc; it says why", {
  skip: !xmllint || mainNodeOnly("install.sh's SunOS layout (shell)"),
}, () => {
  const root = join(tmp, "smartos");
  const out = install(fakeBin("smartos", { s: "SunOS", v: "joyent_20250612T000000Z", zonename: "global" }), root);
  assert.deepEqual(readdirSync(root), ["opt"], "everything that must survive a reboot is under /opt");
  const files = tree(root);
  for (const f of [
    "opt/bzman/etc/bzman.yaml",
    "opt/bzman/etc/id_ed25519",
    "opt/bzman/etc/id_ed25519.pub",
    "opt/bzman/var/",
    "opt/custom/smf/bzman.xml",
    "opt/bzman/bin/bzman",
  ])
    assert.ok(files.includes(f), `${f} in ${files.join(" ")}`);
  const conf = readFileSync(join(root, "opt/bzman/etc/bzman.yaml"), "utf8");
  assert.match(conf, /^state: \/opt\/bzman\/var\/state\.json /m);
  assert.match(conf, /^ {4}identity: \/opt\/bzman\/etc\/id_ed25519 /m);
  assert.doesNotMatch(conf, /\/etc\/bzman\/|\/var\/lib\//, "every path of the example points under /opt");
  const manifest = join(root, "opt/custom/smf/bzman.xml");
  assert.equal(
    spawnSync("xmllint", [
      "--noout",
      "--nonet",
      "--dtdvalid",
      join(REPO, "test/fixtures/smf/service_bundle.dtd.1"),
      manifest,
    ]).status,
    0,
  );
  const svc = "/service_bundle/service[@name='application/bzman']";
  assert.equal(
    xpath(manifest, `${svc}/exec_method[@name='start']/@exec`),
    `${node} /opt/bzman/bin/bzman --config /opt/bzman/etc/bzman.yaml serve`,
  );
  assert.equal(xpath(manifest, `${svc}/method_context/@working_directory`), "/opt/bzman/var");
  assert.match(out, /global zone of SmartOS: \/etc and manifests imported by hand are gone after a\nreboot/);
  assert.match(out, /manifest is \/opt\/custom\/smf\/bzman\.xml, which SmartOS imports at every boot/);
  assert.match(out, /export BZMAN_CONFIG=\/opt\/bzman\/etc\/bzman\.yaml/);
  assert.match(out, /Start: svcadm enable bzman/);
  runs(root, "/opt/bzman", "/opt/bzman/etc");
});

test("other illumos (OmniOS), and a SmartOS zone: /etc/bzman, /var/lib/bzman, a site manifest", {
  skip: !xmllint || mainNodeOnly("install.sh's SunOS layout (shell)"),
}, () => {
  const root = join(tmp, "omnios");
  const out = install(fakeBin("omnios", { s: "SunOS", v: "omnios-r151054-2fe5b4e0f0", zonename: "global" }), root);
  assert.deepEqual(readdirSync(root).sort(), ["etc", "opt", "var"]);
  const files = tree(root);
  for (const f of [
    "etc/bzman/bzman.yaml",
    "etc/bzman/id_ed25519",
    "var/lib/bzman/",
    "var/svc/manifest/site/bzman.xml",
    "opt/bzman/bin/bzman",
  ])
    assert.ok(files.includes(f), `${f} in ${files.join(" ")}`);
  assert.ok(!files.includes("opt/custom/"), "no SmartOS layout");
  assert.doesNotMatch(out, /SmartOS/);
  const manifest = join(root, "var/svc/manifest/site/bzman.xml");
  assert.equal(
    xpath(manifest, "/service_bundle/service/exec_method[@name='start']/@exec"),
    `${node} /opt/bzman/bin/bzman --config /etc/bzman/bzman.yaml serve`,
  );
  assert.equal(xpath(manifest, "/service_bundle/service/method_context/@working_directory"), "/var/lib/bzman");
  runs(root, "/opt/bzman", "/etc/bzman");
  // A zone on SmartOS keeps its /etc: the usual paths (a dry run says where everything would go).
  const zone = install(
    fakeBin("smartos-zone", { s: "SunOS", v: "joyent_20250612T000000Z", zonename: "4e2a9b3c-zone" }),
    join(tmp, "zone"),
    ["--dry-run"],
  );
  assert.match(zone, /^\+ write .*\/zone\/etc\/bzman\/bzman\.yaml$/m);
  assert.match(zone, /^\+ write .*\/zone\/var\/svc\/manifest\/site\/bzman\.xml$/m);
  assert.doesNotMatch(zone, /opt\/custom/);
});

test("FreeBSD: the rc.d layout (/usr/local, /usr/local/etc/bzman, /var/db/bzman), rc script and newsyslog entry", () => {
  const root = join(tmp, "freebsd");
  const out = install(
    fakeBin("freebsd", { s: "FreeBSD", v: "FreeBSD 14.3-RELEASE releng/14.3-n271432-8c9ce319fef7 GENERIC" }),
    root,
  );
  assert.deepEqual(readdirSync(root).sort(), ["usr", "var"]);
  const files = tree(root);
  for (const f of [
    "usr/local/etc/bzman/bzman.yaml",
    "usr/local/etc/bzman/id_ed25519",
    "var/db/bzman/",
    "usr/local/etc/rc.d/bzman",
    "usr/local/etc/newsyslog.conf.d/bzman.conf",
    "usr/local/bin/bzman",
    "usr/local/lib/bzman/",
  ])
    assert.ok(files.includes(f), `${f} in ${files.join(" ")}`);
  const conf = readFileSync(join(root, "usr/local/etc/bzman/bzman.yaml"), "utf8");
  assert.match(conf, /^state: \/var\/db\/bzman\/state\.json /m);
  assert.match(conf, /^ {4}restore_identity: \/usr\/local\/etc\/bzman\/id_restore /m);
  const rc = readFileSync(join(root, "usr/local/etc/rc.d/bzman"), "utf8");
  assert.equal(statSync(join(root, "usr/local/etc/rc.d/bzman")).mode & 0o777, 0o555);
  assert.doesNotMatch(rc, /@[A-Z]+@/);
  assert.match(
    rc,
    new RegExp(`^command_args=".* ${node} /usr/local/bin/bzman --config \\$\\{bzman_config\\} serve"$`, "m"),
  );
  assert.match(rc, /^: "\$\{bzman_config:=\/usr\/local\/etc\/bzman\/bzman\.yaml\}"$/m);
  assert.match(out, /Start: sysrc bzman_enable=YES && service bzman start/);
  assert.ok(!existsSync(join(root, "etc")), "nothing in /etc");
  runs(root, "/usr/local", "/usr/local/etc/bzman");
});
