// deploy/bzman.rc read the way FreeBSD's rc.subr and daemon(8) use it (no FreeBSD runs here):
// the script runs under a stand-in rc.subr that prints what rc.subr would act on; its
// command_args are parsed with daemon(8)'s options; the process the pidfile then names must be
// one rc.subr's check_pidfile accepts for procname (so `service bzman status` and `stop` find
// it), a supervisor that restarts (-r) must be the one stop signals, node is named by full
// path with /usr/local on PATH, the log is where -o says and newsyslog rotates that file
// through the same pidfile, and a config that does not parse stops `start` early.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { REPO } from "../helpers/sandbox.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-rc-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const NODE = "/usr/local/bin/node";
const PREFIX = "/usr/local";
const ETC = "/usr/local/etc/bzman";

/** A stand-in for /etc/rc.subr: load_rc_config does nothing; run_rc_command prints rc.subr's inputs, or runs start_precmd. */
const STUB = `
load_rc_config() { :; }
run_rc_command() {
	if [ "$1" = precmd ]; then "$start_precmd"; echo "precmd=$?"; return; fi
	for v in name rcvar pidfile procname command command_args required_files start_precmd sig_stop bzman_logfile bzman_config PATH; do
		eval "printf '%s=%s\\\\n' $v \\"\\\${$v}\\""
	done
}
`;

/** The rc script as install.sh writes it, with `. /etc/rc.subr` pointing at the stand-in. */
function script(node = NODE): string {
  writeFileSync(join(tmp, "rc.subr"), STUB);
  const text = readFileSync(join(REPO, "deploy/bzman.rc"), "utf8")
    .replaceAll("@NODE@", node)
    .replaceAll("@PREFIX@", PREFIX)
    .replaceAll("@ETC@", ETC)
    .replace(". /etc/rc.subr", `. ${join(tmp, "rc.subr")}`);
  assert.doesNotMatch(text, /@[A-Z]+@/);
  const file = join(tmp, "bzman");
  writeFileSync(file, text);
  return file;
}

/** What rc.subr sees: the variables the script sets, as service(8) runs it (PATH of rc). */
function rcVars(): Record<string, string> {
  const r = spawnSync("/bin/sh", [script(), "status"], {
    env: { PATH: "/sbin:/bin:/usr/sbin:/usr/bin" },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

/** daemon(8)'s command line: its options (up to the first operand) and the command it runs. */
function parseDaemon(args: string): { flags: Set<string>; opts: Map<string, string>; command: string[] } {
  const words = args.split(/\s+/).filter(Boolean);
  const flags = new Set<string>();
  const opts = new Map<string, string>();
  const withValue = new Set(["-p", "-P", "-t", "-u", "-m", "-o", "-s", "-T", "-l", "-R", "-C"]);
  let i = 0;
  for (; i < words.length && words[i]!.startsWith("-"); i++) {
    const w = words[i]!;
    if (withValue.has(w)) opts.set(w, words[++i]!);
    else if (["-c", "-f", "-H", "-r", "-S"].includes(w)) flags.add(w);
    else assert.fail(`daemon(8) has no option ${w}`);
  }
  return { flags, opts, command: words.slice(i) };
}

/**
 * rc.subr's check_pidfile: the first word of the command of the process in the pidfile must be
 * procname, its basename, the basename followed by ":" (a title set with setproctitle(3)), or
 * the basename in () or [].
 */
function procnameMatches(procname: string, arg0: string): boolean {
  const bn = basename(procname);
  return [procname, bn, `${bn}:`, `(${bn})`, `[${bn}]`].includes(arg0);
}

/** The process daemon(8) leaves in `pidfile`, as ps shows its first word; null when daemon writes none there. */
function processInPidfile(d: ReturnType<typeof parseDaemon>, pidfile: string): string | null {
  if (d.opts.get("-P") === pidfile) return "daemon:"; // the supervisor, titled "daemon: TITLE[pid] (daemon)"
  if (d.opts.get("-p") === pidfile) return d.command[0]!; // the child: the command as exec'd
  return null;
}

test("status and stop find the daemon: the pidfile daemon(8) writes names a process that matches procname", () => {
  const v = rcVars();
  assert.equal(v.name, "bzman");
  assert.equal(v.rcvar, "bzman_enable");
  assert.equal(v.command, "/usr/sbin/daemon");
  const d = parseDaemon(v.command_args!);
  const arg0 = processInPidfile(d, v.pidfile!);
  assert.ok(arg0, `daemon(8) writes no pid to ${v.pidfile} (-p ${d.opts.get("-p")}, -P ${d.opts.get("-P")})`);
  assert.ok(
    procnameMatches(v.procname || v.command!, arg0),
    `procname ${v.procname} does not match ${arg0}, the process in ${v.pidfile}`,
  );
  if (d.flags.has("-r"))
    assert.equal(
      d.opts.get("-P"),
      v.pidfile,
      "with -r, stop must signal the supervisor (-P); signalled, the child (-p) is started again",
    );
  assert.equal(v.sig_stop, "TERM", "SIGTERM: daemon(8) passes it on, and bzman stops cleanly on it");
  // The script as it was: -P (the supervisor) with procname node: status never found it.
  const old = parseDaemon(
    `-f -P ${v.pidfile} -o /var/log/bzman.log ${PREFIX}/bin/bzman --config ${ETC}/bzman.yaml serve`,
  );
  assert.equal(procnameMatches("/usr/local/bin/node", processInPidfile(old, v.pidfile!)!), false);
});

test("node by its full path, /usr/local on PATH, the log where -o says, newsyslog on the same file and pidfile", () => {
  const v = rcVars();
  const d = parseDaemon(v.command_args!);
  assert.deepEqual(d.command, [NODE, `${PREFIX}/bin/bzman`, "--config", `${ETC}/bzman.yaml`, "serve"]);
  assert.ok(v.PATH!.split(":").includes("/usr/local/bin"), v.PATH);
  assert.ok(d.flags.has("-f"), "stdin, stdout and stderr leave the terminal (then -o takes stdout and stderr)");
  assert.equal(d.opts.get("-o"), v.bzman_logfile);
  assert.equal(v.bzman_logfile, "/var/log/bzman.log");
  assert.ok(d.flags.has("-H"), "the log is reopened on SIGHUP");
  assert.equal(v.required_files, `${ETC}/bzman.yaml`);
  const entry = readFileSync(join(REPO, "deploy/bzman.newsyslog.conf"), "utf8")
    .split("\n")
    .find((l) => l.startsWith("/"))!
    .split(/\s+/);
  assert.equal(entry[0], v.bzman_logfile, "newsyslog rotates the file daemon(8) writes");
  assert.equal(entry.at(-1), v.pidfile, "and signals the supervisor, which reopens it");
});

test("start runs a config check first: a config that does not parse stops it", () => {
  const fake = join(tmp, "node");
  writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$*" > ${tmp}/checked\nexit 2\n`);
  chmodSync(fake, 0o755);
  const r = spawnSync("/bin/sh", [script(fake), "precmd"], {
    env: { PATH: "/sbin:/bin:/usr/sbin:/usr/bin" },
    encoding: "utf8",
  });
  assert.match(r.stdout, /^precmd=2$/m);
  assert.equal(
    readFileSync(join(tmp, "checked"), "utf8").trim(),
    `${PREFIX}/bin/bzman --config ${ETC}/bzman.yaml check --config-only`,
  );
});
