// source-hooks/install-source.sh in a --destdir throwaway root, with a fake `zfs` first in PATH
// (it prints a recorded usage text: OpenZFS 2.1 can resume a send, zfs-fuse cannot): the
// receiver's instance from the key's comment or --instance, bad names refused, --allow-resume
// exactly where zfs lists `send -t`, --no-resume, two receivers' lines side by side, and the
// installed guard honouring the line it was given. useradd --root needs root.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
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
import { fileURLToPath } from "node:url";
import { FIXTURES } from "./harness.ts";

const INSTALLER = fileURLToPath(new URL("../../source-hooks/install-source.sh", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "bzman-install-source-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const skip = process.getuid?.() === 0 ? false : "useradd --root needs root";
if (skip && process.env.CI) throw new Error("the installer tests need root in CI");
if (skip) process.stderr.write("*** SKIPPING the installer tests: not root ***\n");

const KEY1 =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOH0ztHHpOBRN9joJK9XeaLVI9bh0Xd+O0B7UuUp2giM bzman@Backup1.example.com";
const KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKwq3wJ3GqYl4Qm7d5n9v0bqk0Zc8x2yQ8mQ1pVb7R2s bzman@backup2";
const key = (comment: string): string =>
  `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFm3b8tT0cV9qkq2yX6dZ1oLr4sW7eP5aN8uJ3hG2fK1${comment ? ` ${comment}` : ""}`;
const GUARD = "/usr/local/libexec/bzman-guard";

let n = 0;
/** A throwaway root with this system's account files, and a bin dir whose `zfs` prints `usage`. */
function sandbox(usage: "openzfs-2.1-usage.txt" | "zfs-fuse-usage.txt" | null): {
  root: string;
  env: Record<string, string>;
  keys: string;
} {
  const root = join(tmp, `root${n++}`);
  mkdirSync(join(root, "etc"), { recursive: true });
  for (const f of ["passwd", "group", "shadow", "gshadow", "login.defs"])
    if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, join(root, "etc", f));
  const bin = join(root, "fakebin");
  mkdirSync(bin);
  const zfs = join(bin, "zfs");
  // `zfs` alone prints its usage on stderr and exits 2; a host without zfs answers 127.
  writeFileSync(
    zfs,
    usage
      ? `#!/bin/sh\ncat '${join(FIXTURES, usage)}' >&2\nexit 2\n`
      : "#!/bin/sh\necho 'zfs: not found' >&2\nexit 127\n",
  );
  chmodSync(zfs, 0o755);
  return {
    root,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } as Record<string, string>,
    keys: join(root, "home/bzman/.ssh/authorized_keys"),
  };
}
function install(
  box: { root: string; env: Record<string, string> },
  args: string[],
): { status: number | null; out: string } {
  const r = spawnSync("sh", [INSTALLER, "--root", "tank", "--destdir", box.root, ...args], {
    encoding: "utf8",
    env: box.env,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}
const lines = (file: string): string[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "");

test("the instance comes from the key's comment (after the last @, up to the first ., lower-cased); --allow-resume where zfs lists send -t", {
  skip,
}, () => {
  const box = sandbox("openzfs-2.1-usage.txt");
  const r = install(box, ["--key", KEY1]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /^= instance backup1 \(from the key comment bzman@Backup1\.example\.com\)$/m);
  assert.match(r.out, /^= resume: the guard admits zfs send -t TOKEN after a dry run of the token$/m);
  assert.match(r.out, /would run: zfs allow -u bzman send,snapshot,hold,release,destroy,mount,bookmark tank/);
  assert.deepEqual(lines(box.keys), [
    `restrict,command="${GUARD} --root tank --instance backup1 --allow-resume" ${KEY1}`,
  ]);
  for (const [comment, instance] of [
    ["root@web-backup_2.example.org", "web-backup_2"],
    ["a@b@Host+X.lan", "host-x"],
    ["bzman@r2d2", "r2d2"],
    ["nightly key bzman@BK.x", "bk"],
  ]) {
    const b = sandbox("zfs-fuse-usage.txt");
    const k = key(comment!);
    const s = install(b, ["--key", k]);
    assert.equal(s.status, 0, s.out);
    assert.deepEqual(lines(b.keys), [`restrict,command="${GUARD} --root tank --instance ${instance}" ${k}`], comment);
  }
});

test("--instance NAME overrides the comment; bad names and comments without one are refused with a hint", {
  skip,
}, () => {
  const box = sandbox("zfs-fuse-usage.txt");
  const r = install(box, ["--key", KEY1, "--instance", "offsite-3"]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /^= no resume: this zfs cannot send -t$/m);
  assert.deepEqual(lines(box.keys), [`restrict,command="${GUARD} --root tank --instance offsite-3" ${KEY1}`]);
  const before = readFileSync(box.keys, "utf8");
  for (const bad of ["Backup1", "-x", "_x", "a;b", "a b", "back.up", "x".repeat(64), "", "a/b"]) {
    const s = install(box, ["--key", KEY2, "--instance", bad]);
    assert.notEqual(s.status, 0, `--instance ${JSON.stringify(bad)}`);
    assert.match(s.out, /--instance/, s.out);
  }
  for (const comment of [
    "",
    "backup1",
    "bzman@",
    "bzman@-host",
    "bzman@.example.com",
    `bzman@${"h".repeat(64)}`,
    "bzman@_x",
  ]) {
    const s = install(box, ["--key", key(comment)]);
    assert.notEqual(s.status, 0, `comment ${JSON.stringify(comment)}: ${s.out}`);
    assert.match(
      s.out,
      /cannot tell this receiver's instance name from the key's comment .*give --instance NAME/,
      s.out,
    );
    assert.equal(s.out.split("\n").filter((l) => l.startsWith("+ ")).length, 0, "it stops before doing anything");
  }
  assert.equal(readFileSync(box.keys, "utf8"), before, "nothing changed");
  for (const badRoot of ["tank/..", "tank/./x", "/tank", "tank/.x", "tank/-x"]) {
    assert.notEqual(install(box, ["--key", KEY1, "--root", badRoot]).status, 0, badRoot);
  }
});

test("--allow-resume only where this zfs lists send -t <receive_resume_token>, and never with --no-resume", {
  skip,
}, () => {
  const cases: Array<[Parameters<typeof sandbox>[0], string[], boolean]> = [
    ["openzfs-2.1-usage.txt", [], true],
    ["openzfs-2.1-usage.txt", ["--no-resume"], false],
    ["zfs-fuse-usage.txt", [], false],
    [null, [], false],
  ];
  for (const [usage, extra, resume] of cases) {
    const box = sandbox(usage);
    const r = install(box, ["--key", KEY2, ...extra]);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(
      lines(box.keys),
      [`restrict,command="${GUARD} --root tank --instance backup2${resume ? " --allow-resume" : ""}" ${KEY2}`],
      `${usage} ${extra.join(" ")}`,
    );
  }
  // The restore key's line has neither: it holds nothing, sends nothing.
  const box = sandbox("openzfs-2.1-usage.txt");
  const r = install(box, ["--key", key("bzman-restore@backup1"), "--restore"]);
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(lines(box.keys), [
    `restrict,command="${GUARD} --root tank --restore" ${key("bzman-restore@backup1")}`,
  ]);
});

test("two receivers: a second key adds its own line and keeps the first; re-running one replaces only its own", {
  skip,
}, () => {
  const box = sandbox("openzfs-2.1-usage.txt");
  assert.equal(install(box, ["--key", KEY1]).status, 0);
  assert.equal(install(box, ["--key", KEY2, "--root", "data/vm"]).status, 0);
  const one = `restrict,command="${GUARD} --root tank --instance backup1 --allow-resume" ${KEY1}`;
  const two = `restrict,command="${GUARD} --root tank --root data/vm --instance backup2 --allow-resume" ${KEY2}`;
  assert.deepEqual(lines(box.keys), [one, two]);
  assert.equal(install(box, ["--key", KEY1, "--no-resume"]).status, 0);
  assert.deepEqual(lines(box.keys), [two, `restrict,command="${GUARD} --root tank --instance backup1" ${KEY1}`]);
  // Each line's guard is that receiver's: its own hold tag, the legacy tag only to release.
  const guardOf = (line: string): string[] => /command="([^"]*)"/.exec(line)![1]!.split(" ").slice(1);
  const check = (line: string, command: string): string => {
    const r = spawnSync("sh", [join(box.root, GUARD), ...guardOf(line), "--check"], {
      env: { SSH_ORIGINAL_COMMAND: command },
      encoding: "utf8",
    });
    return r.stdout.split(" ")[0]!;
  };
  const snap = "tank/www@bzman_20261126T000000Z";
  assert.equal(check(two, `zfs hold bzman.backup2 ${snap}`), "ACCEPT");
  assert.equal(check(two, `zfs hold bzman.backup1 ${snap}`), "REJECT");
  assert.equal(check(two, `zfs hold bzman-common ${snap}`), "REJECT");
  assert.equal(check(two, `zfs release bzman-common ${snap}`), "ACCEPT");
  assert.equal(check(two, `zfs bookmark ${snap} tank/www#bzman_20261126T000000Z.backup2`), "ACCEPT");
  assert.equal(check(two, "zfs destroy tank/www#bzman_20261126T000000Z.backup1"), "REJECT");
});
