// More connections to one source (SshRunner with MoreConnections, connectSource's `connections`):
// an in-process ssh2 Server counts the connections and the commands running on each, and holds
// every `hold` command until the test lets it end.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { connectSource, type SourceConnection } from "../../server/ssh/connection.ts";
import { MAX_CHANNELS } from "../../server/ssh/ssh-runner.ts";
import { runToEnd } from "../../server/zfs/runner.ts";

/** What the server saw: connections by number, commands running on each, the most at once. */
const seen = {
  connections: 0,
  open: 0,
  running: new Map<number, number>(),
  most: new Map<number, number>(),
  held: [] as Array<() => void>,
  /** Connections after this many are refused at authentication. */
  allow: Number.POSITIVE_INFINITY,
  /** Connections after this many are answered at authentication only after this long (ms). */
  slowAfter: Number.POSITIVE_INFINITY,
  slowMs: 0,
  /** The server's side of each connection, by number. */
  clients: new Map<number, ssh2.Connection>(),
};

function reset(allow = Number.POSITIVE_INFINITY): void {
  seen.connections = 0;
  seen.running.clear();
  seen.most.clear();
  seen.held = [];
  seen.allow = allow;
  seen.slowAfter = Number.POSITIVE_INFINITY;
  seen.clients.clear();
}

const dir = mkdtempSync(join(tmpdir(), "bzman-conns-"));
const host = ssh2.utils.generateKeyPairSync("ed25519");
const user = ssh2.utils.generateKeyPairSync("ed25519");
const identity = join(dir, "id_ed25519");
writeFileSync(identity, user.private, { mode: 0o600 });
const server = new ssh2.Server({ hostKeys: [host.private] }, (client) => {
  const id = ++seen.connections;
  seen.open++;
  seen.clients.set(id, client);
  client.on("close", () => seen.open--);
  client.on("authentication", (ctx) => {
    const answer = (): void =>
      ctx.method === "publickey" && id <= seen.allow ? ctx.accept() : ctx.reject(["publickey"]);
    if (id > seen.slowAfter) setTimeout(answer, seen.slowMs);
    else answer();
  });
  client.on("error", () => {});
  client.on("session", (accept) =>
    accept().on("exec", (acceptExec, _reject, info) => {
      const stream = acceptExec();
      stream.resume();
      const now = (seen.running.get(id) ?? 0) + 1;
      seen.running.set(id, now);
      seen.most.set(id, Math.max(seen.most.get(id) ?? 0, now));
      const end = (): void => {
        seen.running.set(id, (seen.running.get(id) ?? 1) - 1);
        stream.write(`${info.command} on ${id}\n`);
        stream.exit(0);
        stream.end();
      };
      if (info.command === "hold") seen.held.push(end);
      else end();
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

function connect(connections?: number, failed?: (err: unknown) => void): Promise<SourceConnection> {
  return connectSource(
    {
      name: "c",
      host: "127.0.0.1",
      port,
      user: "bzman",
      identity,
      hostKey: host.public.split(" ").slice(0, 2).join(" "),
      ...(connections ? { connections } : {}),
    },
    undefined,
    failed,
  );
}

/** Waits until `cond` holds (at most 5 s). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cond(), what);
}

const held = (): number => seen.held.length;
/** Starts `n` `hold` commands on `conn`, each run to its end. */
const holds = (conn: SourceConnection, n: number) =>
  Array.from({ length: n }, () => runToEnd(conn.runner.spawn(["hold"])));
const releaseAll = (): void => {
  for (const end of seen.held.splice(0)) end();
};

test("ten commands with three connections allowed: a second and a third open, ten run at once, at most 4 on each", {
  timeout: 20_000,
}, async () => {
  reset();
  const conn = await connect(3);
  try {
    const cmds = holds(conn, 10);
    await until(() => held() === 10, `all ten running at once (${held()} were)`);
    assert.equal(seen.connections, 3);
    assert.equal(conn.runner.connections, 3);
    for (const [id, most] of seen.most) assert.ok(most <= MAX_CHANNELS, `connection ${id} ran ${most} at once`);
    releaseAll();
    const done = await Promise.all(cmds);
    assert.deepEqual(
      done.map((d) => d.code),
      Array(10).fill(0),
    );
    const on = new Set(done.map((d) => d.stdout.trim().split(" on ")[1]));
    assert.deepEqual([...on].sort(), ["1", "2", "3"], "the commands ran on all three connections");
  } finally {
    await conn.close();
  }
  await until(() => seen.open === 0, "close() closed every connection");
});

test("one connection (the default): four run at once, the others wait for a channel, every one ends", {
  timeout: 20_000,
}, async () => {
  reset();
  const conn = await connect();
  try {
    const cmds = holds(conn, 10);
    await until(() => held() === MAX_CHANNELS, "four running");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(held(), MAX_CHANNELS, "no more than four at once");
    assert.equal(seen.connections, 1);
    const pump = setInterval(releaseAll, 20);
    try {
      const done = await Promise.all(cmds);
      assert.deepEqual(
        done.map((d) => d.code),
        Array(10).fill(0),
      );
    } finally {
      clearInterval(pump);
    }
    assert.equal(seen.connections, 1);
  } finally {
    await conn.close();
  }
});

test("another connection that cannot be opened: said once, and every command runs on the open one", {
  timeout: 20_000,
}, async () => {
  reset(1);
  const failures: string[] = [];
  const conn = await connect(3, (err) => failures.push((err as Error).message));
  try {
    const cmds = holds(conn, 8);
    await until(() => held() === MAX_CHANNELS && failures.length > 0, "four running, the second connection refused");
    const pump = setInterval(releaseAll, 20);
    try {
      const done = await Promise.all(cmds);
      assert.deepEqual(
        done.map((d) => d.code),
        Array(8).fill(0),
      );
      assert.ok(done.every((d) => d.stdout.endsWith("on 1\n")));
    } finally {
      clearInterval(pump);
    }
    assert.equal(failures.length, 1, `one failure told: ${failures.join("; ")}`);
    assert.match(failures[0]!, /refused the key|authentication/i);
    assert.equal(conn.runner.connections, 1);
  } finally {
    await conn.close();
  }
});

test("close() while another connection is still being opened: it is ended as it arrives, nothing is told, nothing stays open", {
  timeout: 20_000,
}, async (t) => {
  reset();
  seen.slowAfter = 1;
  seen.slowMs = 500;
  const failures: unknown[] = [];
  const conn = await connect(3, (err) => failures.push(err));
  t.after(() => conn.close()); // when an assertion fails before the test's own close()
  const cmds = holds(conn, 5);
  await until(() => held() === MAX_CHANNELS && seen.connections === 2, "four running, a second connection on its way");
  await conn.close();
  const done = await Promise.all(cmds);
  assert.deepEqual(
    done.map((d) => d.code),
    [null, null, null, null, null],
    "the four running ended with their connection; the fifth, waiting, never started",
  );
  await until(() => seen.open === 0, `every connection closed (${seen.open} open)`);
  assert.deepEqual(failures, []);
});

test("the first connection drops while others carry commands: every command ends, the others are closed too", {
  timeout: 20_000,
}, async () => {
  reset();
  const conn = await connect(2);
  try {
    const cmds = holds(conn, 8);
    await until(() => held() === 8, "eight running on two connections");
    seen.clients.get(1)!.end();
    const done = await Promise.all(cmds);
    assert.ok(
      done.every((d) => d.code === null),
      `every command ended as a lost connection's: ${done.map((d) => d.code)}`,
    );
    await until(() => seen.open === 0, `the second connection was closed too (${seen.open} open)`);
    assert.equal(conn.runner.connections, 0);
    // A command after that ends at once, as on a closed connection.
    const late = await runToEnd(conn.runner.spawn(["hold"]));
    assert.equal(late.code, null);
  } finally {
    await conn.close();
  }
});
