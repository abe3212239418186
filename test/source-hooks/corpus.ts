// The guard's hostile-command corpus, generated: every command shape bzman sends (built by
// server/zfs/args.ts) is an accepted base, and every mutation family is applied to every base it
// fits, so each hostile command is one step away from an accepted one. The families:
//   injection   shell metacharacters, newlines, quotes, globs, stray spaces, look-alike letters
//   argv        an option inserted after the verb or appended, the tool renamed
//   dataset     `.`/`..`/empty components, leading or trailing /, bad characters, outside the roots
//   name        bad snapshot/bookmark names after @ or #
//   own         bzman's own snapshots: anything but exactly <prefix>_<STAMP>
//   bookmark    bookmark names that are not this receiver's (<prefix>_<STAMP>.<instance>)
//   tag         hold/release tags that are not this receiver's; `hold bzman-common`
//   legacy      a guard without --instance refuses the instance shapes
//   rename      restore renames to anything but <old>.before-restore-<STAMP> / .before-failback-
//   restore     the replication shapes under --restore, the restore shapes without it
//   token       resume tokens of the wrong charset, shape or length; flags around -t; injection
//   dry-run     a token whose dry run fails, names something outside the roots, or was not raw
//               (under --raw-only), for every dry-run fixture

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { commandLine } from "../../server/ssh/ssh-runner.ts";
import { asideName } from "../../server/core/naming.ts";
import type { Step } from "../../server/core/model.ts";
import {
  bookmarkArgs,
  destroyBookmarkArgs,
  destroySnapshotArgs,
  destroySnapshotsArgs,
  DRILL_PROPERTIES,
  getArgs,
  holdArgs,
  holdBatchArgs,
  listArgs,
  marksArgs,
  poolStatusArgs,
  probeArgs,
  releaseArgs,
  renameArgs,
  restoreReceiveArgs,
  sendArgs,
  sendEstimateArgs,
  snapshotArgs,
} from "../../server/zfs/args.ts";
import { MINIMAL_CAPABILITIES, type Capabilities } from "../../server/zfs/capabilities.ts";
import { snaps } from "../helpers/snapshots.ts";
import { dryRunFacts, dryRunFixtures, dryRunText, FIXTURES, TOKEN, type FakeZfs } from "./harness.ts";

export interface Job {
  family: string;
  args: string[];
  command: string;
  /** For the fake zfs: FAKE_OUTPUT / FAKE_STATUS of the token's dry run. */
  env?: Record<string, string>;
  /** What an accepted job must run, when that is not the command itself. */
  runs?: string;
  /** What is wrong with it, where the command alone does not say (a dry-run mutation). */
  why?: string;
}

export const INSTANCE = "backup1";
/** This receiver's own names, as the destroy builders want them. */
const OWN = { prefix: "bzman", instance: INSTANCE };
export const TAG = `bzman.${INSTANCE}`;
export const CANARY = `/tmp/bzman-guard-canary-${process.pid}`;
const A = "bzman_20261126T000000Z";
const C = "bzman_20261126T001000Z";
const STAMP = "20261201T073000Z";
const ASIDE_AT = Date.UTC(2026, 11, 1, 7, 30, 0);

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
const [a, c] = snaps(A, C) as [ReturnType<typeof snaps>[number], ReturnType<typeof snaps>[number]];
const step = { sourceDataset: "tank/www", targetDataset: "backup/w/tank/www" };
const resume: Step = { ...step, kind: "resume", resumeToken: TOKEN, intermediates: false };

/** The replication key's shapes (with --instance), each as bzman builds it. */
function replicationBases(hook: string): string[][] {
  return [
    probeArgs(),
    listArgs(["tank"], MINIMAL_CAPABILITIES, false),
    listArgs(["tank", "data/vm/disk0"], MINIMAL_CAPABILITIES, true),
    listArgs(["tank/www"], full, false),
    listArgs(["tank", "data/vm"], full, true, true),
    listArgs(["tank", "data/vm"], full, false, true, true),
    listArgs(["tank"], MINIMAL_CAPABILITIES, false, true, true),
    marksArgs(["tank", "data/vm"], "changed"),
    marksArgs(["tank/www"], "written"),
    sendArgs({ ...step, kind: "full", to: a, intermediates: false }),
    sendArgs({ ...step, kind: "full", to: a, intermediates: false }, { raw: true, flags: ["-L", "-e", "-c"] }),
    sendArgs({ ...step, kind: "incremental", from: a, to: c, intermediates: true }, { flags: ["-L", "-e", "-c"] }),
    sendArgs({ ...step, kind: "incremental", from: a, to: c, intermediates: false }, { flags: ["-c"] }),
    sendArgs({ ...step, kind: "incremental", from: a, fromBookmark: true, to: c, intermediates: false }, { raw: true }),
    sendEstimateArgs({ ...step, kind: "incremental", from: a, to: c, intermediates: true }, { flags: ["-L", "-c"] }),
    sendArgs({
      ...step,
      sourceDataset: "data/vm/disk0",
      kind: "full",
      to: { ...a, name: "manual-2024" },
      intermediates: false,
    }),
    snapshotArgs("tank", A, true),
    snapshotArgs("data/vm/disk0", A, false),
    destroySnapshotArgs("tank/www", A, "bzman"),
    destroySnapshotsArgs("tank/www", [A, C], "bzman"),
    bookmarkArgs("tank/www", A, `${A}.${INSTANCE}`),
    destroyBookmarkArgs("data/vm/disk0", `${A}.${INSTANCE}`, OWN),
    destroyBookmarkArgs("tank/www", A, OWN),
    holdArgs(TAG, "tank/www", A),
    releaseArgs(TAG, "data/vm", "manual"),
    releaseArgs("bzman-common", "tank/www", A),
    ...holdBatchArgs("hold", TAG, [
      ["tank/www", A],
      ["data/vm/disk0", A],
      ["tank", "manual"],
    ]),
    poolStatusArgs("tank", true),
    poolStatusArgs("data", false),
    ["zpool", "status", "-x", "data"],
    getArgs(DRILL_PROPERTIES, [`tank/www@${A}`]),
    hook.split(" "),
  ];
}

/** The restore key's shapes. */
function restoreBases(): string[][] {
  return [
    restoreReceiveArgs("tank/www-restored-20261127T010203Z", false),
    restoreReceiveArgs("data/vm/disk0", true),
    renameArgs("tank/www", asideName("tank/www", "restore", ASIDE_AT)),
    renameArgs("data/vm", asideName("data/vm", "failback", ASIDE_AT)),
  ];
}

const INJECTIONS = [
  `; touch ${CANARY}`,
  `;touch ${CANARY}`,
  ` && touch ${CANARY}`,
  ` | touch ${CANARY}`,
  ` $(touch ${CANARY})`,
  ` \`touch ${CANARY}\``,
  `\ntouch ${CANARY}`,
  `\rtouch ${CANARY}`,
  ` > ${CANARY}`,
  ` < /etc/shadow`,
  " &",
  " 'x'",
  ' "x"',
  "\\",
  " *",
  "?",
  "\t-r",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion the guard must refuse
  " ${HOME}",
  " #x",
];
const INSERTED_OPTIONS = ["-F", "-R", "-d", "-f", "-v", "-D", "-p", "--", "-o readonly=off"];

/** Variants of dataset `d` (below root `r`) that are not safe names below the roots. */
function datasetVariants(d: string, r: string): string[] {
  return [
    `${d}/.`,
    `${d}/..`,
    `${d}/../x`,
    `${d}/./x`,
    `${d}/../../etc`,
    `${d}//x`,
    `${d}/`,
    `/${d}`,
    `${d}/.x`,
    `${d}/-x`,
    `${d}/:x`,
    `${d}/x,y`,
    `${d}/x%y`,
    `${d}/x+y`,
    `${d}/x=y`,
    `-${d}`,
    `${r}x${d.slice(r.length)}`,
    `other${d.slice(d.indexOf("/") < 0 ? d.length : d.indexOf("/"))}`,
    `${d}/${"a".repeat(256)}`,
  ];
}
const NAME_VARIANTS = [".", "..", "", "-x", ".x", ":x", "x,y", "x%y", "x/y", "x@y", "x#y", "a".repeat(256)];
const OWN_VARIANTS = [
  "bzman_1",
  "bzman_",
  "bzman_20261126T000000",
  "bzman_20261126T000000Zx",
  "bzman_20261126t000000z",
  "bzman_2026112T000000Z",
  "bzman_20261126T0000000Z",
  "bzman_20261126-000000Z",
  "bzmanx_20261126T000000Z",
  "xbzman_20261126T000000Z",
  "bzman-20261126T000000Z",
  "bzman_manual",
  "manual",
  "bzman__20261126T000000Z",
  "BZMAN_20261126T000000Z",
  "bzman_2026-11-26T000000Z",
  "bzman_20261126T000000Z.x",
];
const ROOTS = ["tank", "data/vm"];

/** The dataset part of a name argument (tank…, data…), or null for any other argument. */
function datasetOf(arg: string): string | null {
  return /^(tank|data)([/@#]|$)/.test(arg) ? arg.split(/[@#]/)[0]! : null;
}
function rootOf(d: string): string {
  return ROOTS.find((r) => d === r || d.startsWith(`${r}/`)) ?? d.split("/")[0]!;
}

/** Hostile jobs derived from one accepted base. */
function mutations(
  base: string[],
  args: string[],
  env: Record<string, string> | undefined,
  kinds: { names: boolean },
): Job[] {
  const out: Job[] = [];
  const line = commandLine(base);
  const job = (family: string, command: string): void =>
    void out.push({ family, args, command, ...(env ? { env } : {}) });
  for (const s of INJECTIONS) job("injection", line + s);
  job("injection", ` ${line}`);
  job("injection", `${line} `);
  job("injection", line.replace(" ", "  "));
  job("injection", line.replace(" ", "\t"));
  job("injection", line.replace("s", "\u0455")); // Cyrillic dze
  job("injection", `${line}\u00a0`);
  job("argv", `ZFS${line.slice(3)}`);
  job("argv", `/usr/sbin/${line}`);
  job("argv", `sudo ${line}`);
  job("argv", `${line} -F`);
  if (base.length >= 2) {
    for (const o of INSERTED_OPTIONS) job("argv", commandLine([base[0]!, base[1]!, ...o.split(" "), ...base.slice(2)]));
    job("argv", commandLine([base[0]!, base[1]!.toUpperCase(), ...base.slice(2)]));
  }
  if (!kinds.names) return out;
  // Every dataset in turn, replaced wherever it appears (both ends of an incremental alike).
  const datasets = [...new Set(base.map(datasetOf).filter((d): d is string => d !== null))];
  for (const d of datasets.slice(0, 2)) {
    for (const v of datasetVariants(d, rootOf(d))) {
      job("dataset", commandLine(base.map((x) => (datasetOf(x) === d ? v + x.slice(d.length) : x))));
    }
  }
  // Every snapshot or bookmark name in turn.
  base.forEach((x, i) => {
    const m = /^([^@#]+)([@#])(.*)$/.exec(x);
    if (!m || datasetOf(x) === null) return;
    for (const n of NAME_VARIANTS) job("name", commandLine(base.map((y, j) => (j === i ? `${m[1]}${m[2]}${n}` : y))));
  });
  return out;
}

/** Every fixture's dry run, mutated so that the guard must refuse the token. */
export function dryRunMutations(text: string): Array<[string, string, number]> {
  const { toname } = dryRunFacts(text);
  const [ds, snap] = toname.split("@") as [string, string];
  const lines = text.split("\n");
  const sendLine = lines.findIndex((l) => l.startsWith("full send of ") || l.startsWith("send from "));
  const tonameLine = lines.findIndex((l) => l.startsWith("\ttoname = "));
  const headLine = lines.indexOf("resume token contents:");
  const setLine = (i: number, l: string | null): string =>
    lines.flatMap((x, j) => (j !== i ? [x] : l === null ? [] : [l])).join("\n");
  const dupLine = (i: number): string => lines.flatMap((x, j) => (j === i ? [x, x] : [x])).join("\n");
  const out: Array<[string, string, number]> = [];
  const withToname = (why: string, t: string): void =>
    void out.push([`toname ${why}`, setLine(tonameLine, `\ttoname = ${t}`), 0]);
  withToname("outside the roots", `other/x@${snap}`);
  withToname("with ..", `${ds}/../../etc@${snap}`);
  withToname("with .", `${ds}/./x@${snap}`);
  withToname("with //", `${ds}//x@${snap}`);
  withToname("prefix", `${ds}x@${snap}`);
  withToname("snapshot ..", `${ds}@..`);
  withToname("snapshot -x", `${ds}@-x`);
  withToname("empty snapshot", `${ds}@`);
  withToname("a dataset", ds);
  withToname("a bookmark", `${ds}#${snap}`);
  withToname("with a space", `${toname} extra`);
  withToname("two @", `${toname}@x`);
  out.push(["toname missing", setLine(tonameLine, null), 0]);
  out.push(["toname twice", dupLine(tonameLine), 0]);
  out.push(["toname nested", setLine(tonameLine, `\t${lines[tonameLine]!}`), 0]);
  out.push(["toname unindented", setLine(tonameLine, lines[tonameLine]!.slice(1)), 0]);
  const send = lines[sendLine]!;
  const to = send.startsWith("full send of ") ? send.slice(13).split(" ")[0]! : send.split(" ")[4]!;
  out.push(["sends outside the roots", setLine(sendLine, send.replace(to, `other/x@${snap}`)), 0]);
  out.push(["sends ..", setLine(sendLine, send.replace(to, `${ds}/../../etc@${snap}`)), 0]);
  out.push(["sends a prefix", setLine(sendLine, send.replace(to, `${ds}x@${snap}`)), 0]);
  out.push(["sends from outside", setLine(sendLine, `send from other/x@a to ${to} estimated size is 3.05M`), 0]);
  out.push(["sends from ..", setLine(sendLine, `send from ${ds}/..#a to ${to} estimated size is 3.05M`), 0]);
  out.push(["send line without to", setLine(sendLine, `send from ${ds}@a ${to}`), 0]);
  out.push(["send line empty", setLine(sendLine, "full send of "), 0]);
  out.push(["send line missing", setLine(sendLine, null), 0]);
  out.push(["send line twice", dupLine(sendLine), 0]);
  out.push(["header missing", setLine(headLine, null), 0]);
  out.push(["header twice", dupLine(headLine), 0]);
  out.push(["exit 1", text, 1]);
  out.push(["exit 255", text, 255]);
  out.push(["no output", "", 0]);
  out.push(["corrupt", "cannot resume send: resume token is corrupt (invalid format)\n", 255]);
  out.push(["no -t here", "invalid option 't'\nusage:\n\tsend [-RDp] [-[iI] snapshot] <snapshot>\n", 2]);
  out.push(["too much output", text + "\tx = 1\n".repeat(12000), 0]);
  return out;
}

const TOKEN_VARIANTS = [
  TOKEN.toUpperCase(),
  `${TOKEN}g`,
  TOKEN.replace(/-/g, ""),
  "1-abc-def",
  `${TOKEN}-ab`,
  TOKEN.replace("1-", "1--"),
  `${TOKEN}-`,
  `-${TOKEN}`,
  `2${TOKEN.slice(1)}`,
  `0${TOKEN.slice(1)}`,
  `11${TOKEN.slice(1)}`,
  `1-f4-d8-${"a".repeat(3000)}`,
  "1-f4-d8-",
  `${TOKEN};id`,
  `${TOKEN}$(id)`,
  `${TOKEN}\`id\``,
  `${TOKEN}\nid`,
  `${TOKEN}|id`,
  `${TOKEN}&`,
  `${TOKEN}\\`,
  `${TOKEN}/`,
  `${TOKEN}.`,
  `${TOKEN}_`,
  TOKEN.replace("c", "C"),
  `tank/www@${A}`,
  "-t",
  `${TOKEN},${TOKEN}`,
];
const TOKEN_SHAPES = [
  `zfs send -t`,
  `zfs send -L -t ${TOKEN}`,
  `zfs send -w -t ${TOKEN}`,
  `zfs send -c -t ${TOKEN}`,
  `zfs send -e -t ${TOKEN}`,
  `zfs send -n -t ${TOKEN}`,
  `zfs send -P -t ${TOKEN}`,
  `zfs send -nvt ${TOKEN}`,
  `zfs send -v -t ${TOKEN}`,
  `zfs send -n -P -v -t ${TOKEN}`,
  `zfs send -t ${TOKEN} -n`,
  `zfs send -t ${TOKEN} ${TOKEN}`,
  `zfs send -i tank/www@${A} -t ${TOKEN}`,
  `zfs send -t ${TOKEN} tank/www@${A}`,
  `zfs send -P -n -t ${TOKEN}`,
  `zfs send -nP -t ${TOKEN}`,
  `zfs send -n -P -w -t ${TOKEN}`,
  `zfs send -t -t ${TOKEN}`,
  `zfs send -T ${TOKEN}`,
  `zfs send --saved -t ${TOKEN}`,
];

/** The accepted bases and the hostile corpus, for a fake zfs. */
export function corpus(fake: FakeZfs): { accepted: Job[]; hostile: Job[] } {
  const hook = `${fake.path} set bzman:flushed=yes data/vm`;
  const tools = ["--zfs", fake.path, "--zpool", fake.path];
  const common = ["--root", "tank", "--root", "data/vm", "--hook", hook, ...tools];
  const repl = [...common, "--instance", INSTANCE, "--allow-resume"];
  const legacy = [...common, "--allow-resume"];
  const raw = [...repl, "--raw-only"];
  const restore = ["--root", "tank", "--root", "data/vm", "--restore", ...tools];
  const tokenOk = { FAKE_OUTPUT: fake.output(dryRunText(`tank/www@${C}`, { from: `tank/www@${A}` })) };
  const rawTokenOk = { FAKE_OUTPUT: fake.output(dryRunText(`tank/www@${C}`, { raw: true })) };

  const accepted: Job[] = [];
  const hostile: Job[] = [];
  const ok = (family: string, args: string[], argv: string[], env?: Record<string, string>, runs?: string): void =>
    void accepted.push({
      family,
      args,
      command: commandLine(argv),
      ...(env ? { env } : {}),
      ...(runs ? { runs } : {}),
    });

  for (const b of replicationBases(hook)) {
    ok("replication", repl, b);
    hostile.push(...mutations(b, repl, undefined, { names: b.length > 1 }));
  }
  for (const b of [sendArgs(resume), sendEstimateArgs(resume)]) {
    ok("resume", repl, b, tokenOk);
    ok("resume", raw, b, rawTokenOk, commandLine(b).replace(" -t ", " -w -t "));
    hostile.push(...mutations(b, repl, tokenOk, { names: false }));
    // Resume is off without --allow-resume; under --raw-only a token must come from a raw send.
    hostile.push({
      family: "token",
      args: repl.filter((x) => x !== "--allow-resume"),
      command: commandLine(b),
      env: tokenOk,
    });
    hostile.push({ family: "dry-run", args: raw, command: commandLine(b), env: tokenOk });
    for (const t of TOKEN_VARIANTS)
      hostile.push({ family: "token", args: repl, command: commandLine(b).replace(TOKEN, t), env: tokenOk });
  }
  for (const s of TOKEN_SHAPES) hostile.push({ family: "token", args: repl, command: s, env: tokenOk });

  // Own snapshots and bookmarks: exactly <prefix>_<STAMP>, bookmarks with this instance's suffix.
  const ownBases = [
    snapshotArgs("tank", A, true),
    snapshotArgs("data/vm/disk0", A, false),
    destroySnapshotArgs("tank/www", A, "bzman"),
    destroySnapshotsArgs("tank/www", [C, A], "bzman"),
    bookmarkArgs("tank/www", A, `${A}.${INSTANCE}`),
    ["zfs", "destroy", `data/vm/disk0#${A}.${INSTANCE}`],
    ["zfs", "destroy", `tank/www#${A}`],
  ];
  for (const b of ownBases)
    for (const v of OWN_VARIANTS) hostile.push({ family: "own", args: repl, command: commandLine(b).replaceAll(A, v) });
  for (const v of [
    `tank/www#${A}`,
    `tank/www#${A}.backup2`,
    `tank/www#${A}.`,
    `tank/www#${A}.backup1x`,
    `tank/www#${A}.${INSTANCE}.${INSTANCE}`,
    `tank/www#${A}-${INSTANCE}`,
    `tank/www#${A}${INSTANCE}`,
    `tank/www#${A}.BACKUP1`,
    `tank/www#${INSTANCE}`,
    `tank/www#${C}.${INSTANCE}`,
    `tank/www/x#${A}.${INSTANCE}`,
    `tank#${A}.${INSTANCE}`,
    `other/www#${A}.${INSTANCE}`,
  ]) {
    hostile.push({ family: "bookmark", args: repl, command: `zfs bookmark tank/www@${A} ${v}` });
  }
  for (const v of [
    `${A}.backup2`,
    `${A}.`,
    `${A}.backup1x`,
    `${A}.${INSTANCE}.${INSTANCE}`,
    `${A}..${INSTANCE}`,
    `${A}-${INSTANCE}`,
    `${A}${INSTANCE}`,
    `manual.${INSTANCE}`,
    `bzman_1.${INSTANCE}`,
    `${A}.BACKUP1`,
    INSTANCE,
    `.${INSTANCE}`,
  ]) {
    hostile.push({ family: "bookmark", args: repl, command: `zfs destroy tank/www#${v}` });
  }
  // Hold tags: this instance's, and the legacy tag only to release.
  const holdBases = [
    holdArgs(TAG, "tank/www", A),
    releaseArgs(TAG, "data/vm", "manual"),
    ...holdBatchArgs("hold", TAG, [
      ["tank/www", A],
      ["tank", "manual"],
    ]),
    ...holdBatchArgs("release", TAG, [
      ["tank/www", A],
      ["tank", "manual"],
    ]),
  ];
  for (const b of holdBases) {
    for (const t of [
      "bzman.backup2",
      "bzman.",
      "bzman.backup1x",
      "bzman.backup",
      "bzman",
      "bzman-common2",
      "bzman_common",
      "BZMAN.backup1",
      "bzman.BACKUP1",
      "other",
      "-r",
      "-d",
      `${TAG},x`,
      ".",
      "..",
      `${TAG}.`,
    ]) {
      hostile.push({ family: "tag", args: repl, command: commandLine(b.map((x) => (x === TAG ? t : x))) });
    }
  }
  for (const b of [
    holdArgs("bzman-common", "tank/www", A),
    ...holdBatchArgs("hold", "bzman-common", [
      ["tank/www", A],
      ["data/vm", "manual"],
    ]),
  ]) {
    hostile.push({ family: "tag", args: repl, command: commandLine(b) });
  }
  // Without --instance (an old key line): today's shapes only.
  ok("legacy", legacy, holdArgs("bzman-common", "tank/www", A));
  ok("legacy", legacy, releaseArgs("bzman-common", "tank/www", A));
  ok("legacy", legacy, bookmarkArgs("tank/www", A, A));
  ok("legacy", legacy, destroyBookmarkArgs("tank/www", A, OWN));
  for (const cmd of [
    holdArgs(TAG, "tank/www", A),
    releaseArgs(TAG, "tank/www", A),
    bookmarkArgs("tank/www", A, `${A}.${INSTANCE}`),
    ["zfs", "destroy", `tank/www#${A}.${INSTANCE}`],
  ]) {
    hostile.push({ family: "legacy", args: legacy, command: commandLine(cmd) });
  }

  // The restore key.
  for (const b of [
    probeArgs(),
    listArgs(["tank"], MINIMAL_CAPABILITIES, false),
    listArgs(["data/vm/x"], full, true, true),
    ...restoreBases(),
  ]) {
    ok("restore", restore, b);
    if (b.length > 1) hostile.push(...mutations(b, restore, undefined, { names: true }));
  }
  for (const [old, why] of [
    ["tank/www", "restore"],
    ["data/vm", "failback"],
  ] as const) {
    const good = asideName(old, why, ASIDE_AT);
    const stamp = good.slice(-STAMP.length);
    const parent = old.includes("/") ? old.slice(0, old.lastIndexOf("/")) : old;
    for (const to of [
      `${why}-${stamp}`,
      `before-${why}-${stamp}`,
      `.before-${why}-${stamp}`,
      `${old}.before-${why}-now`,
      `${good}x`,
      `${old}.before-${why}-${stamp.slice(1)}`,
      `${old}.before-${why}-${stamp.slice(0, -1)}`,
      `${old}.before-${why}-${stamp.toLowerCase()}`,
      `${old}.before-${why}-${stamp.replace("T", "-")}`,
      `${old}.before-other-${stamp}`,
      `${old}.before-${stamp}`,
      `${old}.before-${why}${stamp}`,
      `${old}x.before-${why}-${stamp}`,
      `${good}.before-${why}-${stamp}`,
      `${good}/x`,
      `${old}/x.before-${why}-${stamp}`,
      `other/www.before-${why}-${stamp}`,
      `${parent}/y.before-${why}-${stamp}`,
      `${good}@x`,
      `${old}.before-${why}-`,
      old,
      `${old}/../${old.split("/").at(-1)!}.before-${why}-${stamp}`,
      `${old}.BEFORE-${why}-${stamp}`,
      `${old}.before-restore-failback-${stamp}`,
    ]) {
      hostile.push({ family: "rename", args: restore, command: `zfs rename ${old} ${to}` });
    }
  }
  for (const r of [
    "zfs receive -F tank/www",
    "zfs receive -u -F tank/www",
    "zfs receive -d tank",
    "zfs receive -e tank",
    "zfs receive -s tank/x",
    "zfs receive -A tank/x",
    "zfs receive -u -o readonly=off tank/x",
    "zfs recv tank/x",
    "zfs receive tank/x tank/y",
    "zfs receive -u -u tank/x",
    `zfs receive -u tank/www.before-restore-${STAMP}`,
    "zfs receive",
    `zfs rename -r tank/a tank/a.before-restore-${STAMP}`,
    "zfs rename tank/a@x tank/a@y",
  ]) {
    hostile.push({ family: "restore", args: restore, command: r });
  }
  for (const b of replicationBases(hook)) {
    if (b.length === 1 || b[1] === "list" || (b[1] === "get" && b.includes("-r"))) continue;
    hostile.push({ family: "restore", args: restore, command: commandLine(b) });
  }
  for (const b of restoreBases()) hostile.push({ family: "restore", args: repl, command: commandLine(b) });

  // Dry runs that must refuse the token, for every fixture (recorded or transcribed).
  for (const f of dryRunFixtures) {
    const text = readFileSync(join(FIXTURES, f), "utf8");
    const { toname, raw: isRaw } = dryRunFacts(text);
    const ds = toname.split("@")[0]!;
    const args = ["--root", ds, "--allow-resume", ...tools];
    for (const b of [sendArgs(resume), sendEstimateArgs(resume)]) {
      ok("resume", args, b, { FAKE_OUTPUT: fake.output(text) });
      for (const [why, out, status] of dryRunMutations(text)) {
        hostile.push({
          family: "dry-run",
          args,
          command: commandLine(b),
          env: { FAKE_OUTPUT: fake.output(out), FAKE_STATUS: String(status) },
          why: `${f}: ${why}`,
        });
      }
      hostile.push({
        family: "dry-run",
        args: ["--root", `${ds}x`, "--allow-resume", ...tools],
        command: commandLine(b),
        env: { FAKE_OUTPUT: fake.output(text) },
      });
      if (isRaw) {
        ok(
          "resume",
          [...args, "--raw-only"],
          b,
          { FAKE_OUTPUT: fake.output(text) },
          commandLine(b).replace(" -t ", " -w -t "),
        );
        hostile.push({
          family: "dry-run",
          args: [...args, "--raw-only"],
          command: commandLine(b),
          env: { FAKE_OUTPUT: fake.output(text.replace("\trawok = 1\n", "")) },
        });
        hostile.push({
          family: "dry-run",
          args: [...args, "--raw-only"],
          command: commandLine(b),
          env: { FAKE_OUTPUT: fake.output(text.replace("\trawok = 1\n", "\trawok = 1\n\trawok = 1\n")) },
        });
      } else {
        hostile.push({
          family: "dry-run",
          args: [...args, "--raw-only"],
          command: commandLine(b),
          env: { FAKE_OUTPUT: fake.output(text) },
        });
      }
    }
  }

  // One copy of each (command, options, dry run); never one that is an accepted base.
  const key = (j: Job): string => JSON.stringify([j.args, j.command, j.env ?? {}]);
  const acceptedKeys = new Set(accepted.map(key));
  const seen = new Set<string>();
  const unique = hostile.filter((j) => {
    const k = key(j);
    if (seen.has(k) || acceptedKeys.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { accepted, hostile: unique };
}
