// The channel receive window (server/ssh/window.ts) as the peer sees it: an in-process ssh2 Server
// counts what it could send (a write's callback fires only once the client's window let it out),
// and the test process reads the same stream through SshRunner, straight or through a delay line
// (server/sandbox/delay-line.ts) that makes loopback a long link. These fail when an ssh2 upgrade
// moves the internals widenWindow relies on: the window then falls back to ssh2's 2 MiB.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import ssh2 from "ssh2";
import { startDelayLine } from "../../server/sandbox/delay-line.ts";
import { connectSource, type SourceConnection } from "../../server/ssh/connection.ts";
import { SSH2_WINDOW, widenWindow } from "../../server/ssh/window.ts";

const MIB = 1024 * 1024;
const CHUNK = 32 * 1024;

/** What the server has sent of the current flood, and what the test's reader has taken. */
const meter = { sent: 0, consumed: 0, maxUnread: 0, closed: false };

/** `flood N`: N bytes in 32 KiB writes, then exit status 0. */
function flood(stream: ssh2.ServerChannel, total: number): void {
  meter.sent = 0;
  meter.maxUnread = 0;
  meter.closed = false;
  stream.on("close", () => (meter.closed = true));
  stream.resume(); // ssh2 emits "close" only after the readable side (our stdin) has ended
  const chunk = Buffer.alloc(CHUNK, 7);
  let queued = 0;
  const more = (): void => {
    while (queued < total) {
      const n = Math.min(CHUNK, total - queued);
      queued += n;
      const ok = stream.write(n === CHUNK ? chunk : chunk.subarray(0, n), () => {
        meter.sent += n;
        meter.maxUnread = Math.max(meter.maxUnread, meter.sent - meter.consumed);
        if (meter.sent === total) {
          stream.exit(0);
          stream.end();
        }
      });
      if (!ok) return void stream.once("drain", more);
    }
  };
  more();
}

const dir = mkdtempSync(join(tmpdir(), "bzman-window-"));
const host = ssh2.utils.generateKeyPairSync("ed25519");
const user = ssh2.utils.generateKeyPairSync("ed25519");
const identity = join(dir, "id_ed25519");
writeFileSync(identity, user.private, { mode: 0o600 });
const server = new ssh2.Server({ hostKeys: [host.private] }, (client) => {
  client.on("authentication", (ctx) => (ctx.method === "publickey" ? ctx.accept() : ctx.reject(["publickey"])));
  client.on("error", () => {});
  client.on("session", (accept) =>
    accept().on("exec", (acceptExec, _reject, info) => {
      const [cmd, n] = info.command.split(" ");
      const stream = acceptExec();
      if (cmd === "flood") flood(stream, Number(n));
      else {
        stream.exit(127);
        stream.end();
      }
    }),
  );
});
const port = await new Promise<number>((resolve) =>
  server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
);
test.after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function connect(windowBytes?: number, via = port): Promise<SourceConnection> {
  const hostKey = host.public.split(" ").slice(0, 2).join(" ");
  return connectSource({
    name: "w",
    host: "127.0.0.1",
    port: via,
    user: "bzman",
    identity,
    hostKey,
    ...(windowBytes ? { windowBytes } : {}),
  });
}

/** Waits until the server's count has not moved for `quietMs` (the window is used up). */
async function settled(quietMs = 400, limitMs = 15_000): Promise<number> {
  let last = -1;
  let since = Date.now();
  for (const start = Date.now(); Date.now() - start < limitMs; ) {
    await new Promise((r) => setTimeout(r, 50));
    if (meter.sent !== last) {
      last = meter.sent;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return last;
  }
  throw new Error("the sender never stopped");
}

/** A reader of `stdout` that counts into the meter, optionally pausing `pauseMs` per MiB. */
function reader(pauseMs = 0): Writable {
  let sinceRest = 0;
  return new Writable({
    write(c: Buffer, _e, cb) {
      meter.consumed += c.length;
      sinceRest += c.length;
      if (pauseMs && sinceRest >= MIB) {
        sinceRest = 0;
        setTimeout(cb, pauseMs);
      } else cb();
    },
  });
}

test("a stalled reader: the window starts at ssh2's 2 MiB, so the peer sends no more than that and ssh2's own top-up; then everything arrives", async () => {
  const conn = await connect(8 * MIB);
  try {
    meter.consumed = 0;
    const cmd = conn.runner.spawn(["flood", String(24 * MIB)]);
    const sent = await settled();
    assert.ok(
      // ssh2's own top-up still adds up to one window while its buffer is below 2 MiB.
      sent >= SSH2_WINDOW - 2 * CHUNK && sent <= 2 * SSH2_WINDOW,
      `the server sent ${sent} bytes before the reader read any (start window ${SSH2_WINDOW})`,
    );
    assert.equal(cmd.window?.(), SSH2_WINDOW);
    await pipeline(cmd.stdout, reader());
    const st = await cmd.done;
    assert.equal(st.code, 0);
    assert.equal(meter.consumed, 24 * MIB);
  } finally {
    await conn.close();
  }
});

// The round trip is long enough that the ceiling binds on any CPU: 8 MiB per 200 ms is 40 MiB/s,
// well below what this one process encrypts and decrypts. At 50 ms (160 MiB/s) a fast machine's
// window rightly stops growing where the CPU, not the window, becomes the limit.
test("a long link (RTT 200 ms): the window grows to the ceiling while the reader keeps up; a stalled reader then lets the peer send the ceiling and no more", async () => {
  const W = 8 * MIB;
  const line = await startDelayLine(port, 100);
  const conn = await connect(W, line.port);
  try {
    meter.consumed = 0;
    const total = 96 * MIB;
    const stallAt = 64 * MIB;
    let release: (() => void) | undefined;
    const cmd = conn.runner.spawn(["flood", String(total)]);
    const stalled = new Promise<void>((resolve) => {
      const sink = new Writable({
        write(c: Buffer, _e, cb) {
          meter.consumed += c.length;
          if (meter.consumed >= stallAt && !release) {
            release = cb;
            resolve();
          } else cb();
        },
      });
      void pipeline(cmd.stdout, sink);
    });
    await stalled;
    assert.equal(cmd.window?.(), W, `the window after ${stallAt} bytes`);
    const sent = await settled();
    assert.ok(
      sent - meter.consumed <= W + 4 * CHUNK,
      `${sent - meter.consumed} bytes were sent and not read (ceiling ${W})`,
    );
    assert.ok(sent - meter.consumed > 2 * SSH2_WINDOW, `only ${sent - meter.consumed} bytes went past the reader`);
    release?.();
    const st = await cmd.done;
    assert.equal(st.code, 0);
    for (let i = 0; i < 100 && meter.consumed < total; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(meter.consumed, total);
  } finally {
    await conn.close();
    line.close();
  }
});

test("without ssh_window (ssh2's own 2 MiB) a stalled reader lets the peer send far less", async () => {
  const conn = await connect(SSH2_WINDOW);
  try {
    meter.consumed = 0;
    const cmd = conn.runner.spawn(["flood", String(16 * MIB)]);
    const sent = await settled();
    assert.ok(sent <= 2 * SSH2_WINDOW, `ssh2's own window let ${sent} bytes out`);
    await pipeline(cmd.stdout, reader());
    assert.equal((await cmd.done).code, 0);
  } finally {
    await conn.close();
  }
});

test("a slow reader: the window does not grow, unread bytes stay within it, every byte arrives", async () => {
  const conn = await connect(8 * MIB);
  try {
    meter.consumed = 0;
    const total = 48 * MIB;
    const cmd = conn.runner.spawn(["flood", String(total)]);
    await pipeline(cmd.stdout, reader(5));
    const st = await cmd.done;
    assert.equal(st.code, 0);
    assert.equal(meter.consumed, total);
    assert.equal(cmd.window?.(), SSH2_WINDOW, "the peer waited on the reader, not on the window");
    // Bytes in flight and buffered in this process: at most the window and ssh2's own top-up, plus
    // the few chunks between the channel and the reader (the runner's PassThrough and the pipe).
    assert.ok(
      meter.maxUnread <= 2 * SSH2_WINDOW + 4 * CHUNK,
      `${meter.maxUnread} bytes were unread at once (window ${SSH2_WINDOW})`,
    );
  } finally {
    await conn.close();
  }
});

test("kill during a wide-window flood: the channel closes and done settles", async () => {
  const conn = await connect(32 * MIB);
  try {
    meter.consumed = 0;
    const cmd = conn.runner.spawn(["flood", String(256 * MIB)]);
    const got = new Promise<void>((resolve) =>
      cmd.stdout.on("data", (c: Buffer) => {
        meter.consumed += c.length;
        if (meter.consumed >= 4 * MIB) resolve();
      }),
    );
    await got;
    cmd.kill();
    const st = await cmd.done;
    assert.notEqual(st.code, 0);
    for (let i = 0; i < 40 && !meter.closed; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(meter.closed, "the server saw the channel close");
    assert.ok(meter.sent < 256 * MIB);
  } finally {
    await conn.close();
  }
});

test("a consumer that gives up (stdout destroyed, as the stall watchdog does): the channel closes, done settles", async () => {
  const conn = await connect(32 * MIB);
  try {
    meter.consumed = 0;
    const cmd = conn.runner.spawn(["flood", String(256 * MIB)]);
    await new Promise<void>((resolve) =>
      cmd.stdout.on("data", (c: Buffer) => {
        meter.consumed += c.length;
        if (meter.consumed >= 4 * MIB) resolve();
      }),
    );
    cmd.stdout.destroy(new Error("stalled"));
    const st = await cmd.done;
    assert.notEqual(st.code, 0);
    for (let i = 0; i < 40 && !meter.closed; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(meter.closed, "the server saw the channel close");
    assert.ok(meter.sent < 256 * MIB);
  } finally {
    await conn.close();
  }
});

test("widenWindow: the ssh2 internals it relies on are there; anything else is left alone", async () => {
  assert.equal(widenWindow({} as ssh2.ClientChannel, 8 * MIB), null);
  const conn = await connect();
  try {
    const client = (conn as unknown as { client: ssh2.Client }).client;
    const ch = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
      client.exec("flood 1", (err, c) => (err ? reject(err) : resolve(c))),
    );
    assert.equal(widenWindow(ch, 8 * MIB)?.bytes, SSH2_WINDOW, "it starts at ssh2's window");
    assert.equal(widenWindow(ch, SSH2_WINDOW), null, "not above ssh2's own window: nothing to do");
    ch.resume();
    await new Promise((r) => ch.once("close", r));
  } finally {
    await conn.close();
  }
});
