import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TargetLocks, processStart } from "../../server/state/locks.ts";

test("a second holder is told who has the lock; after unlock it can take it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bzman-locks-"));
  const a = new TargetLocks(dir, "bzman serve");
  const b = new TargetLocks(dir, "bzman run");
  const unlock = await a.acquire("backup/w/tank/a");
  assert.equal(typeof unlock, "function");
  const refused = await b.acquire("backup/w/tank/a");
  assert.match(
    refused as string,
    new RegExp(`backup/w/tank/a is being received by pid ${process.pid} \\(bzman serve\\) since `),
  );
  assert.equal(typeof (await b.acquire("backup/w/tank/b")), "function", "other datasets are independent");
  await (unlock as () => Promise<void>)();
  assert.equal(typeof (await b.acquire("backup/w/tank/a")), "function");
  rmSync(dir, { recursive: true });
});

test("a lock left by a killed process is recovered, with a log line", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bzman-locks-"));
  const holder = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "-e",
      `import { TargetLocks } from ${JSON.stringify(new URL("../../server/state/locks.ts", import.meta.url).pathname)};
     await new TargetLocks(${JSON.stringify(dir)}, "doomed").acquire("backup/w/x"); process.stdout.write("held\\n"); setInterval(() => {}, 1000);`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  // The holder runs until killed: a failed assertion must not leave it behind.
  t.after(() => {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill("SIGKILL");
  });
  await new Promise<void>((r) => holder.stdout.once("data", () => r()));
  const lines: string[] = [];
  const mine = new TargetLocks(dir, "bzman run", (l) => lines.push(l));
  assert.match(
    (await mine.acquire("backup/w/x")) as string,
    /being received by pid \d+ \(doomed\)/,
    "held while the process lives",
  );
  holder.kill("SIGKILL");
  await new Promise((r) => holder.once("close", r));
  assert.equal(typeof (await mine.acquire("backup/w/x")), "function");
  assert.match(lines[0]!, new RegExp(`recovered a stale lock on backup/w/x left by pid ${holder.pid} \\(doomed\\)`));
  rmSync(dir, { recursive: true });
});

test("a reused pid with another start time does not hold the lock", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bzman-locks-"));
  writeFileSync(
    join(dir, "backup%w%y.lock"),
    JSON.stringify({ pid: process.pid, start: "1", since: "then", what: "old" }),
  );
  writeFileSync(join(dir, "backup%w%z.lock"), "{torn");
  const locks = new TargetLocks(dir, "bzman run");
  assert.notEqual(processStart(process.pid), "1");
  assert.equal(typeof (await locks.acquire("backup/w/y")), "function");
  assert.equal(typeof (await locks.acquire("backup/w/z")), "function", "a torn lock file is stale");
  assert.equal(readdirSync(dir).length, 2);
  rmSync(dir, { recursive: true });
});
