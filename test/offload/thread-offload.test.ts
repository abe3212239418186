// ThreadOffload (server/offload): a step on a worker thread with its own SSH connection, against
// an in-process ssh2 server that plays the source's `zfs send` and a stand-in `zfs receive` first
// in PATH that writes what it read to a file. The bytes arrive and are told, a bandwidth limit
// and its change reach the thread, an abort ends the remote command, a failed send is the same
// BackupError as on the main thread, an unreachable source is OffloadUnavailable; a worker whose
// step completed takes the next one on the same login, ends on close(), and is replaced when its
// connection was lost while it waited or its step failed. Runs on every
// Node version: the worker loads its entry through tsx's hooks here, as compiled JS when deployed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import type { Snapshot, Step } from "../../server/core/model.ts";
import { BackupError } from "../../server/errors.ts";
import { ThreadOffload } from "../../server/offload/thread-offload.ts";
import { freePort } from "../../server/sandbox/sshd.ts";
import { MINIMAL_CAPABILITIES } from "../../server/zfs/capabilities.ts";
import { OffloadUnavailable, type OffloadRequest } from "../../server/zfs/offload.ts";
import { LocalRunner } from "../../server/zfs/runner.ts";

const MIB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "bzman-offload-"));
const bin = join(dir, "bin");
mkdirSync(bin);
// The stand-in receive: `zfs receive -u … TARGET` writes the stream's length to dir/TARGET's last part.
writeFileSync(join(bin, "zfs"), `#!/bin/sh\nfor a; do t="$a"; done\nwc -c > "${dir}/$(basename "$t")"\n`);
chmodSync(join(bin, "zfs"), 0o755);
process.env.PATH = `${bin}:${process.env.PATH}`;

const host = ssh2.utils.generateKeyPairSync("ed25519");
const user = ssh2.utils.generateKeyPairSync("ed25519");
const identity = join(dir, "id_ed25519");
writeFileSync(identity, user.private, { mode: 0o600 });
/** Commands the server was asked to run, and whether each one's channel closed. */
const seen: Array<{ command: string; closed: boolean }> = [];
/** The server's side of each login, and whether it has ended. */
const logins: Array<{ client: ssh2.Connection; ended: boolean }> = [];

/** `zfs send … DS@b<N>`: N bytes in 64 KiB writes; a dataset named `slow` waits 20 ms between them. */
function send(stream: ssh2.ServerChannel, command: string): void {
  const entry = { command, closed: false };
  seen.push(entry);
  stream.on("close", () => (entry.closed = true));
  stream.resume();
  if (command.includes("missing/ds")) {
    stream.stderr.write("cannot open 'missing/ds': dataset does not exist\n");
    stream.exit(1);
    return void stream.end();
  }
  const total = Number(/@b(\d+)$/.exec(command)?.[1] ?? 0);
  const slow = command.includes("slow/ds");
  const chunk = Buffer.alloc(64 * 1024, 3);
  let sent = 0;
  const more = (): void => {
    if (entry.closed) return;
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      const ok = stream.write(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (slow) return void setTimeout(more, 20);
      if (!ok) return void stream.once("drain", more);
    }
    stream.exit(0);
    stream.end();
  };
  more();
}

const server = new ssh2.Server({ hostKeys: [host.private] }, (client) => {
  const login = { client, ended: false };
  client.on("close", () => (login.ended = true));
  client.on("authentication", (ctx) => {
    if (ctx.method !== "publickey") return ctx.reject(["publickey"]);
    if (ctx.signature) logins.push(login);
    ctx.accept();
  });
  client.on("error", () => {});
  client.on("session", (accept) =>
    accept().on("exec", (acceptExec, _reject, info) => send(acceptExec(), info.command)),
  );
});
const port = await new Promise<number>((resolve) =>
  server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
);
/** Every offload the tests made: their kept workers are ended before the server closes. */
const made: ThreadOffload[] = [];
test.after(async () => {
  await Promise.all(made.map((o) => o.close()));
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const offload = (via = port): ThreadOffload => {
  const o = new ThreadOffload({
    name: "w",
    host: "127.0.0.1",
    port: via,
    user: "bzman",
    identity,
    hostKey: host.public.split(" ").slice(0, 2).join(" "),
  });
  made.push(o);
  return o;
};

const step = (source: string, target: string, bytes: number): Step => ({
  kind: "full",
  sourceDataset: source,
  targetDataset: `bak/${target}`,
  intermediates: false,
  to: { name: `b${bytes}`, guid: "1", createtxg: 1, creation: 0 } as Snapshot,
});

const request = (more: Partial<OffloadRequest> = {}): OffloadRequest => ({
  type: "filesystem",
  send: {},
  senderCaps: MINIMAL_CAPABILITIES,
  receiverCaps: MINIMAL_CAPABILITIES,
  ...more,
});

/** What the stand-in receive read for `target`. */
const received = (target: string): number => Number(readFileSync(join(dir, target), "utf8").trim());

test("a step's bytes go through the worker into the receive, and are told on the way", async () => {
  const told: number[] = [];
  const bytes = await offload().transfer(
    step("pool/ds", "one", 24 * MIB),
    request({ onBytes: (b) => told.push(b), rate: () => 16 * MIB }),
  );
  assert.equal(bytes, 24 * MIB);
  assert.equal(received("one"), 24 * MIB);
  assert.ok(told.length >= 3, `told a few times on the way (${told.join(", ")})`);
  assert.deepEqual(
    [...told].sort((a, b) => a - b),
    told,
    "counts only grow",
  );
  assert.equal(told.at(-1), 24 * MIB, "the last count is the whole stream");
  assert.match(seen.at(-1)!.command, /^zfs send pool\/ds@b\d+$/);
});

test("the bandwidth limit holds in the worker, and a change of it reaches the worker", async () => {
  const t0 = Date.now();
  await offload().transfer(step("pool/ds", "limited", 6 * MIB), request({ rate: () => 4 * MIB }));
  // A quarter second of burst (1 MiB), then 4 MiB/s: at least 1.25 s.
  assert.ok(Date.now() - t0 >= 1200, `6 MiB at 4 MiB/s took ${Date.now() - t0} ms`);

  // 512 KiB/s for a second, then none: 16 MiB in far less than the 32 s the first rate needs.
  const t1 = Date.now();
  await offload().transfer(
    step("pool/ds", "lifted", 16 * MIB),
    request({ rate: () => (Date.now() - t1 < 1000 ? 512 * 1024 : null) }),
  );
  assert.equal(received("lifted"), 16 * MIB);
  assert.ok(Date.now() - t1 < 15_000, `the lifted limit reached the worker (${Date.now() - t1} ms)`);
});

test("an abort ends the worker's stream: ABORTED, the remote command's channel closed", async () => {
  const stop = new AbortController();
  const err = await offload()
    .transfer(
      step("slow/ds", "aborted", 64 * MIB),
      request({ signal: stop.signal, onBytes: (b) => b > 256 * 1024 && stop.abort() }),
    )
    .catch((e: unknown) => e);
  assert.ok(err instanceof BackupError, String(err));
  assert.equal(err.code, "ABORTED");
  const entry = seen.find((s) => s.command.includes("slow/ds"))!;
  for (let i = 0; i < 50 && !entry.closed; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(entry.closed, "the remote command's channel was closed");
});

test("an abort while the worker is still starting: ABORTED, nothing run on the source", async () => {
  const before = seen.length;
  const stop = new AbortController();
  const running = offload().transfer(step("pool/ds", "early", 8 * MIB), request({ signal: stop.signal }));
  stop.abort();
  const err = await running.catch((e: unknown) => e);
  assert.ok(err instanceof BackupError, String(err));
  assert.equal(err.code, "ABORTED");
  assert.equal(seen.length, before, "no command reached the source");
});

test("a failed send is the transfer's own BackupError; an unreachable source is OffloadUnavailable", async () => {
  const failed = await offload()
    .transfer(step("missing/ds", "missing", MIB), request())
    .catch((e: unknown) => e);
  assert.ok(failed instanceof BackupError, String(failed));
  assert.equal(failed.code, "ZFS_DATASET_MISSING", failed.message);
  assert.match(failed.message, /dataset does not exist/);

  const unreachable = await offload(await freePort())
    .transfer(step("pool/ds", "never", MIB), request())
    .catch((e: unknown) => e);
  assert.ok(unreachable instanceof OffloadUnavailable, String(unreachable));
  assert.equal(unreachable.reason.code, "SSH_CONNECT");
  assert.match(unreachable.message, /^no stream thread: w \(bzman@127\.0\.0\.1:\d+\): cannot connect/);
});

/** Waits up to 5 s for `f` to hold. */
async function eventually(f: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 50 && !f(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(f(), what);
}

test("a worker whose step completed takes the next step on the same login; close() ends it and its connection", async () => {
  const o = offload();
  const before = logins.length;
  assert.equal(await o.transfer(step("pool/ds", "first", 2 * MIB), request()), 2 * MIB);
  assert.equal(o.idleWorkers, 1, "the worker is kept");
  assert.equal(await o.transfer(step("pool/ds", "second", 3 * MIB), request()), 3 * MIB);
  assert.equal(received("second"), 3 * MIB);
  assert.equal(logins.length - before, 1, "one login for both steps");
  const login = logins.at(-1)!;
  assert.equal(login.ended, false, "the kept worker's connection stays open");
  await o.close();
  assert.equal(o.idleWorkers, 0);
  await eventually(() => login.ended, "close() ended the kept worker's connection");
  const after = await o.transfer(step("pool/ds", "closed", MIB), request()).catch((e: unknown) => e);
  assert.ok(after instanceof OffloadUnavailable, `no worker after close() (${String(after)})`);
});

test("a kept worker whose connection was lost while it waited: the next step runs on a new login", async () => {
  const o = offload();
  const before = logins.length;
  await o.transfer(step("pool/ds", "before-loss", MIB), request());
  logins.at(-1)!.client.end();
  await eventually(() => o.idleWorkers === 0, "the worker ended with its connection");
  assert.equal(await o.transfer(step("pool/ds", "after-loss", 2 * MIB), request()), 2 * MIB);
  assert.equal(received("after-loss"), 2 * MIB);
  assert.equal(logins.length - before, 2, "a new login for the next step");
  await o.close();
});

test("a worker whose step failed is not kept: the next step logs in again", async () => {
  const o = offload();
  const before = logins.length;
  const t0 = Date.now();
  const failed = await o.transfer(step("missing/ds", "failed-first", MIB), request()).catch((e: unknown) => e);
  assert.ok(failed instanceof BackupError && failed.code === "ZFS_DATASET_MISSING", String(failed));
  // The thread ends itself after telling the failure; the main thread's 5 s backstop is not needed.
  assert.ok(Date.now() - t0 < 3000, `the failed worker ended by itself (${Date.now() - t0} ms)`);
  assert.equal(o.idleWorkers, 0, "the failed worker is gone");
  await eventually(() => logins.at(-1)!.ended, "its connection was closed");
  assert.equal(await o.transfer(step("pool/ds", "after-failure", MIB), request()), MIB);
  assert.equal(logins.length - before, 2);
  await o.close();
});

test("a kept connection the source closes just as the next step is handed to it: the step runs on a new login", async () => {
  const o = offload();
  const before = logins.length;
  await o.transfer(step("pool/ds", "before-race", MIB), request());
  // No wait: the close crosses the step on the wire, so the kept worker finds its connection
  // open and then gone before any byte arrived.
  logins.at(-1)!.client.end();
  assert.equal(await o.transfer(step("pool/ds", "after-race", 2 * MIB), request()), 2 * MIB);
  assert.equal(received("after-race"), 2 * MIB);
  assert.equal(logins.length - before, 2, "a new login for the step");
  await o.close();
});

test("close() holds the process until the kept worker has ended (a process with nothing else to do)", async () => {
  // Another process, where nothing but close() keeps the event loop alive once the step is done.
  const script = join(dir, "close-then-exit.mts");
  const offloadModule = new URL("../../server/offload/thread-offload.ts", import.meta.url).href;
  writeFileSync(
    script,
    [
      `import { ThreadOffload } from ${JSON.stringify(offloadModule)};`,
      `const o = new ThreadOffload(${JSON.stringify({ name: "w", host: "127.0.0.1", port, user: "bzman", identity, hostKey: host.public.split(" ").slice(0, 2).join(" ") })});`,
      `const caps = ${JSON.stringify(MINIMAL_CAPABILITIES)};`,
      `const step = ${JSON.stringify(step("pool/ds", "closing", MIB))};`,
      `const n = await o.transfer(step, { type: "filesystem", send: {}, senderCaps: caps, receiverCaps: caps });`,
      "await o.close();",
      "console.log('closed after', n);",
      "",
    ].join("\n"),
  );
  const r = await new LocalRunner().run([process.execPath, "--import", "tsx", script]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `closed after ${MIB}`, "the process went on after close()");
});
