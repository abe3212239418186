// deploy/bzman.smf.xml read the way illumos reads it (no illumos runs here): valid against the
// service_bundle DTD (xmllint, the DTD vendored in test/fixtures/smf); a "child" service whose
// start method, run as svc.startd runs it (`/sbin/sh -c "exec START"` with only the method
// environment), is bzman serve itself in the foreground — the process svc.startd waits for —
// and finds node by full path with pkgsrc on PATH; stop is SIGTERM, which ends it cleanly; a
// configuration that cannot work exits 96 under SMF (maintenance, not a restart loop).

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, sleep, until } from "../helpers/sandbox.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-smf-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const MANIFEST = join(REPO, "deploy/bzman.smf.xml");
const DTD = join(REPO, "test/fixtures/smf/service_bundle.dtd.1");

function xmllint(): boolean {
  if (spawnSync("sh", ["-c", "command -v xmllint"]).status === 0) return true;
  if (process.env.CI) throw new Error("xmllint is missing; CI must install libxml2-utils (.ci/run)");
  process.stderr.write("*** SKIPPING the SMF manifest checks: xmllint not installed (Debian libxml2-utils) ***\n");
  return false;
}
const skip = !xmllint();

/** The string value of an XPath expression over `file`. */
function xpath(file: string, expr: string): string {
  const r = spawnSync("xmllint", ["--nonet", "--xpath", `string(${expr})`, file], { encoding: "utf8" });
  assert.equal(r.status, 0, `${expr}: ${r.stderr}`);
  return r.stdout.replace(/\n$/, "");
}

/** The manifest with its placeholders filled in, as install.sh does. */
function filled(values: Record<string, string>): string {
  let xml = readFileSync(MANIFEST, "utf8");
  for (const [k, v] of Object.entries(values)) xml = xml.replaceAll(`@${k}@`, v);
  assert.doesNotMatch(xml, /@[A-Z]+@/, "every placeholder is known");
  const file = join(tmp, `bzman-${Object.keys(values).length}-${Math.random().toString(36).slice(2)}.xml`);
  writeFileSync(file, xml);
  return file;
}

test("the manifest is valid against illumos's service_bundle DTD", { skip }, () => {
  const values = { NODE: "/opt/local/bin/node", PREFIX: "/opt/bzman", ETC: "/opt/bzman/etc", STATE: "/opt/bzman/var" };
  for (const file of [MANIFEST, filled(values)]) {
    const r = spawnSync("xmllint", ["--noout", "--nonet", "--dtdvalid", DTD, file], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  }
  assert.match(
    readFileSync(MANIFEST, "utf8"),
    /<!DOCTYPE service_bundle SYSTEM "\/usr\/share\/lib\/xml\/dtd\/service_bundle\.dtd\.1">/,
  );
  // A manifest that breaks the DTD is caught (the check is not vacuous).
  const bad = join(tmp, "bad.xml");
  writeFileSync(bad, readFileSync(MANIFEST, "utf8").replace('timeout_seconds="45"', ""));
  assert.notEqual(spawnSync("xmllint", ["--noout", "--nonet", "--dtdvalid", DTD, bad]).status, 0);
});

test("a child service: start is one foreground command naming node by path; PATH has pkgsrc; stop is SIGTERM", {
  skip,
}, () => {
  const svc = "/service_bundle/service[@name='application/bzman']";
  assert.equal(xpath(MANIFEST, `${svc}/property_group[@name='startd']/propval[@name='duration']/@value`), "child");
  const start = xpath(MANIFEST, `${svc}/exec_method[@name='start']/@exec`);
  assert.equal(start, "@NODE@ @PREFIX@/bin/bzman --config @ETC@/bzman.yaml serve");
  assert.doesNotMatch(start, /[&;|<>`$()]/, "no shell operators: svc.startd prefixes exec, and & would background it");
  assert.equal(xpath(MANIFEST, `${svc}/exec_method[@name='stop']/@exec`), ":kill -TERM");
  const path = xpath(MANIFEST, `${svc}/method_context/method_environment/envvar[@name='PATH']/@value`).split(":");
  for (const dir of ["/usr/sbin", "/usr/bin", "/opt/local/bin", "/opt/tools/bin"])
    assert.ok(path.includes(dir), `PATH has ${dir}: ${path.join(":")}`);
  assert.equal(xpath(MANIFEST, `${svc}/method_context/@working_directory`), "@STATE@");
  assert.equal(xpath(MANIFEST, `count(${svc}/single_instance)`), "0", "single_instance is obsolete (svc.startd(8))");
});

test("run as svc.startd runs it, the start method is the daemon itself, stays in the foreground, and SIGTERM ends it", {
  skip,
}, async (t) => {
  // A stand-in for node at a pkgsrc-like path: records its pid, argv and PATH, runs until SIGTERM.
  const bin = join(tmp, "opt/local/bin");
  mkdirSync(bin, { recursive: true });
  const node = join(bin, "node");
  writeFileSync(
    node,
    [
      "#!/bin/sh",
      `echo "$$" > ${tmp}/pid`,
      `printf '%s\\n' "$*" > ${tmp}/argv`,
      // Written aside and renamed: the test waits for this file and must never read it half-written.
      `printf '%s\\n' "$PATH" > ${tmp}/path.part && mv ${tmp}/path.part ${tmp}/path`,
      `trap 'echo stopped > ${tmp}/stopped; exit 0' TERM`,
      "while :; do sleep 1; done",
      "",
    ].join("\n"),
  );
  chmodSync(node, 0o755);
  const file = filled({ NODE: node, PREFIX: "/opt/bzman", ETC: "/opt/bzman/etc", STATE: tmp });
  const svc = "/service_bundle/service[@name='application/bzman']";
  const start = xpath(file, `${svc}/exec_method[@name='start']/@exec`);
  const env = xpath(file, `${svc}/method_context/method_environment/envvar[@name='PATH']/@value`);
  // svc.startd: execle("/sbin/sh", "-c", "exec " + method, env of the method context).
  const method = spawn("/bin/sh", ["-c", `exec ${start}`], {
    env: { PATH: env, SMF_FMRI: "svc:/application/bzman:default", SMF_METHOD: "start" },
    stdio: "ignore",
  });
  // A failed assertion must not leave the stand-in running: it would keep this file's process alive.
  t.after(() => {
    if (method.exitCode === null && method.signalCode === null) method.kill("SIGKILL");
  });
  const exited = new Promise<number | null>((r) => method.once("exit", (code) => r(code)));
  await until("the stand-in to start", () => existsSync(join(tmp, "path")), 10_000);
  assert.equal(
    Number(readFileSync(join(tmp, "pid"), "utf8")),
    method.pid,
    "the method process is the daemon (exec, no fork, no &)",
  );
  assert.equal(
    readFileSync(join(tmp, "argv"), "utf8").trim(),
    "/opt/bzman/bin/bzman --config /opt/bzman/etc/bzman.yaml serve",
  );
  assert.equal(readFileSync(join(tmp, "path"), "utf8").trim(), env);
  await sleep(1500);
  assert.equal(method.exitCode, null, "still running: under duration=child an exit is a restart");
  method.kill("SIGTERM"); // :kill -TERM
  assert.equal(await exited, 0);
  assert.ok(existsSync(join(tmp, "stopped")), "the daemon handled SIGTERM");
});

test("bzman serve with a configuration that cannot work exits 96 under SMF (maintenance), 2 elsewhere", () => {
  const { SMF_FMRI: _outside, ...env } = process.env;
  const serve = (extra: Record<string, string>): number | null =>
    spawnSync(process.execPath, ["--import", "tsx", "server/main.ts", "--config", join(tmp, "missing.yaml"), "serve"], {
      cwd: REPO,
      env: { ...env, ...extra },
      encoding: "utf8",
    }).status;
  assert.equal(serve({}), 2);
  assert.equal(serve({ SMF_FMRI: "svc:/application/bzman:default" }), 96);
});
