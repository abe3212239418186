// Log levels and journald priorities: log.level and --verbose choose what is written, and on the
// journal's stream (JOURNAL_STREAM names stdout's device and inode, as systemd sets it) every
// line carries its syslog priority as sd-daemon(3)'s `<N>` prefix, so `journalctl -p err` works.
// Tests then run the real `bzman serve` with stdout on a file that JOURNAL_STREAM names. A terminal
// gets pino-pretty's lines, and a process that logs to a pipe never loads pino-pretty.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { createLogger, isJournalStream, priorityPrefixStream } from "../server/log.ts";
import { REPO } from "./helpers/sandbox.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-log-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function collect(): { out: PassThrough; text: () => string } {
  const out = new PassThrough();
  let text = "";
  out.on("data", (c: Buffer) => (text += c.toString()));
  return { out, text: () => text };
}

test("each JSON line behind its syslog priority: debug 7, info 6, warn 4, error 3, fatal 2", async () => {
  const { out, text } = collect();
  const log = createLogger({ level: "trace", stream: out, priorityPrefix: true });
  log.trace("t");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  log.fatal("f");
  await new Promise((r) => setImmediate(r));
  const lines = text().trimEnd().split("\n");
  assert.deepEqual(
    lines.map((l) => l.slice(0, 3)),
    ["<7>", "<7>", "<6>", "<4>", "<3>", "<2>"],
  );
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l.slice(3)) as { msg: string }).msg),
    ["t", "d", "i", "w", "e", "f"],
  );
});

test("lines split across writes are prefixed once each; without the option the lines stay bare JSON", () => {
  const { out, text } = collect();
  const s = priorityPrefixStream(out);
  s.write('{"level":50,"msg":"a"}\n{"level":30,');
  s.write('"msg":"b"}\n');
  assert.equal(text(), '<3>{"level":50,"msg":"a"}\n<6>{"level":30,"msg":"b"}\n');
  const bare = collect();
  createLogger({ stream: bare.out }).error("x");
  assert.match(bare.text(), /^\{"level":50,/);
});

test("the level: info by default, debug written only when asked", () => {
  const quiet = collect();
  createLogger({ stream: quiet.out }).debug("hidden");
  assert.equal(quiet.text(), "");
  const loud = collect();
  createLogger({ level: "debug", stream: loud.out }).debug("shown");
  assert.match(loud.text(), /"msg":"shown"/);
  const errorsOnly = collect();
  const log = createLogger({ level: "error", stream: errorsOnly.out });
  log.warn("no");
  log.error("yes");
  assert.doesNotMatch(errorsOnly.text(), /"no"/);
});

test("JOURNAL_STREAM is the journal only when it names this stream's device and inode", () => {
  assert.equal(isJournalStream("8:1234", { dev: 8, ino: 1234 }), true);
  assert.equal(isJournalStream("8:1234", { dev: 8n, ino: 1234n }), true);
  assert.equal(isJournalStream("8:1234", { dev: 8, ino: 99 }), false, "stdout redirected elsewhere");
  assert.equal(isJournalStream(undefined, { dev: 8, ino: 1234 }), false, "not under systemd");
  assert.equal(isJournalStream("garbage", { dev: 8, ino: 1234 }), false);
  assert.equal(isJournalStream("8:1234", undefined), false);
});

// The real serve: stdout on a file, JOURNAL_STREAM set to that file's device and inode.
const bin = join(tmp, "bin");
mkdirSync(bin);
writeFileSync(join(bin, "zpool"), "#!/bin/sh\nprintf 'backup\\tONLINE\\t1000000\\t400000\\t600000\\t40%%\\n'\n");
chmodSync(join(bin, "zpool"), 0o755);
writeFileSync(join(tmp, "id"), "key\n");

function config(name: string, state: string, log = ""): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    `state: ${state}
instance: backup1
http: { listen: "" }
${log}sources:
  - { name: web1, host: 127.0.0.1, port: 1, identity: ${join(tmp, "id")}, host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFjFJIdHBGpBFr3kHuBnXIoBe0wbk6ekM5tL9bYPFHF4", target: backup/web1, schedule: "0 0 1 1 *", datasets: [{ name: tank/a }] }
`,
  );
  return file;
}

/** Runs `bzman ARGS` with stdout on a file JOURNAL_STREAM names; SIGTERM once "serving" is logged. */
async function serveOnJournal(
  name: string,
  args: string[],
  journal = true,
): Promise<{ code: number | null; lines: string[] }> {
  const path = join(tmp, `${name}.out`);
  const fd = openSync(path, "w");
  const st = fstatSync(fd);
  const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", ...args], {
    cwd: REPO,
    stdio: ["ignore", fd, "pipe"],
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      ...(journal ? { JOURNAL_STREAM: `${st.dev}:${st.ino}` } : {}),
    },
  });
  closeSync(fd);
  const timer = setInterval(() => {
    if (readFileSync(path, "utf8").includes('"msg":"serving"')) child.kill("SIGTERM");
  }, 100);
  const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const code = await new Promise<number | null>((r) => child.once("close", r));
  clearInterval(timer);
  clearTimeout(guard);
  return { code, lines: readFileSync(path, "utf8").trimEnd().split("\n") };
}

test("bzman --verbose serve on the journal: every line has its priority, debug lines at <7>", async () => {
  const file = config("verbose", join(tmp, "v", "state.json"));
  const r = await serveOnJournal("verbose", ["--config", file, "--verbose", "serve"]);
  assert.equal(r.code, 0, r.lines.join("\n"));
  for (const l of r.lines) assert.match(l, /^<[0-7]>\{/, l);
  assert.ok(
    r.lines.some((l) => l.startsWith("<7>") && l.includes("backup pools checked")),
    r.lines.join("\n"),
  );
  assert.ok(r.lines.some((l) => l.startsWith("<6>") && l.includes('"msg":"serving"')));
});

test("log.level: warn in the config leaves info out; an unusable state file is logged at <3>; off the journal, no prefix", async () => {
  const bad = config("bad", join(tmp, "id", "state.json"), "log: { level: warn }\n");
  const r = await serveOnJournal("bad", ["--config", bad, "serve"]);
  assert.equal(r.code, 2);
  assert.equal(r.lines.length, 1, r.lines.join("\n"));
  assert.match(r.lines[0]!, /^<3>\{"level":50,.*cannot use the state file/);
  const plain = await serveOnJournal(
    "plain",
    ["--config", config("plain", join(tmp, "id", "state.json")), "serve"],
    false,
  );
  assert.match(plain.lines[0]!, /^\{"level":50,/);
  const forced = await serveOnJournal(
    "forced",
    ["--config", config("forced", join(tmp, "id", "state.json"), "log: { priority_prefix: true }\n"), "serve"],
    false,
  );
  assert.match(forced.lines[0]!, /^<3>\{/);
});

test("a terminal gets pino-pretty's lines; a pipe gets JSON, and a process logging to one never loads pino-pretty", async () => {
  const tty = collect();
  const onTty = Object.assign(tty.out, { isTTY: true });
  createLogger({ stream: onTty }).info({ source: "web1" }, "pass succeeded");
  await new Promise((r) => setImmediate(r));
  assert.match(tty.text(), /INFO.*pass succeeded/);
  assert.doesNotMatch(tty.text(), /^\{/, "not JSON on a terminal");
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "-e",
      `import("./server/log.ts").then((m) => { m.createLogger().info("hello"); const loaded = Object.keys(require("node:module").createRequire(process.cwd() + "/").cache).some((f) => f.includes("pino-pretty")); process.stderr.write("PRETTY_LOADED=" + loaded); });`,
    ],
    { cwd: REPO, encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\{.*"msg":"hello"/);
  assert.match(r.stderr, /PRETTY_LOADED=false/, "pino-pretty is not loaded for a pipe");
});
