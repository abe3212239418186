// The daemon's monitoring hooks through the real `bzman serve` (scheduler, history file, HTTP
// status), with scripted zfs on both ends (no ZFS here): each pass pings its source's dead man's
// switch (start, success, /fail) on a real local HTTP server, the counters on /metrics follow the
// passes, and ping and webhook endpoints that never answer hold up nothing: passes go on every
// second, the alert mail still goes out, each request is cut at its timeout and logged, and the
// daemon stops within its bound for pings in flight.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { parseConfig } from "../../server/config/load.ts";
import type { Config } from "../../server/config/schema.ts";
import type { CliDeps } from "../../server/cli/deps.ts";
import { serveCommand } from "../../server/cli/serve-command.ts";
import { BackupError } from "../../server/errors.ts";
import { createLogger } from "../../server/log.ts";
import { freePort } from "../../server/sandbox/sshd.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import { FakeRunner, starts, type Script } from "../helpers/fake-runner.ts";
import { startHookServer } from "../helpers/hook-server.ts";
import { startSmtpSink } from "../helpers/smtp-sink.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-serve-hooks-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const usage = readFileSync(new URL("../fixtures/zfs/zfs-fuse-usage.txt", import.meta.url), "utf8");
const probe: Script = { match: (a) => a.length === 1 && a[0] === "zfs", stderr: usage, code: 2 };
const pool = (name: string): Script => ({
  match: (a) => starts("zpool", "list")(a) && a.at(-1) === name,
  stdout: `${name}\tONLINE\t1000000\t100000\t900000\t10%\n`,
});
const listing = `${[
  "tank guid 1",
  "tank createtxg 1",
  "tank creation 1",
  "tank type filesystem",
  "tank@a guid 11",
  "tank@a createtxg 10",
  "tank@a creation 1",
  "tank@a type snapshot",
]
  .map((l) => l.split(" ").join("\t"))
  .join("\n")}\n`;
const ok: Script = { match: () => true, code: 0 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function deps(signal: AbortSignal, out: PassThrough): CliDeps & { log: ReturnType<typeof createLogger> } {
  const local = new ZfsHost(
    new FakeRunner("local", [
      probe,
      pool("backup"),
      { match: starts("zfs", "get"), stderr: "cannot open 'backup/web1': dataset does not exist\n", code: 1 },
      { match: starts("zfs", "receive"), readsStdin: true },
      ok,
    ]),
  );
  return {
    local,
    now: () => new Date(),
    stdout: out as unknown as NodeJS.WriteStream,
    stderr: out as unknown as NodeJS.WriteStream,
    signal,
    connect: async (s) => {
      if (s.name !== "web1") throw new BackupError("SSH_CONNECT", `${s.name}: cannot connect: ECONNREFUSED`);
      const remote = new FakeRunner("web1", [
        probe,
        pool("tank"),
        { match: starts("zfs", "get"), stdout: listing },
        { match: starts("zfs", "send"), stdout: "data" },
        ok,
      ]);
      return { host: new ZfsHost(remote), close: async () => {} };
    },
    log: createLogger({ stream: out }),
  };
}

test("serve: pings per pass (start, success, /fail) and alerts beside hanging endpoints that delay nothing; counters on /metrics", {
  timeout: 60_000,
}, async (t) => {
  const hooks = await startHookServer();
  t.after(() => hooks.close());
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const port = await freePort();
  const text = `
state: ${join(tmp, "state.json")}
http: { listen: "127.0.0.1:${port}" }
mail: { smtp: "smtp://127.0.0.1:${sink.port}", from: bzman@backup.test, to: [ops@example.test] }
webhook: { url: "${hooks.url}/hang/webhook", timeout: 1s }
defaults: { schedule: "* * * * * *", ping_url: { url: "${hooks.url}/ping/{source}", start: true, method: POST } }
sources:
  - { name: web1, host: h, identity: /k, host_key: "ssh-ed25519 AAAA", target: backup/web1, datasets: [{ name: tank }] }
  - { name: web2, host: h, identity: /k, host_key: "ssh-ed25519 AAAA", target: backup/web2, datasets: [{ name: tank }], ping_url: { url: "${hooks.url}/hang/web2", timeout: 3s } }
`;
  const r = parseConfig(text, "c", "backup1");
  assert.ok("config" in r, JSON.stringify(r));
  const config: Config = { ...r.config, mail: { ...r.config.mail!, digestSeconds: 0 } };
  const stop = new AbortController();
  const out = new PassThrough();
  let log = "";
  out.on("data", (c: Buffer) => (log += c.toString()));
  const served = serveCommand(config, deps(stop.signal, out));
  try {
    const web1 = (): string[] => hooks.hits.filter((h) => h.path.startsWith("/ping/web1")).map((h) => h.path);
    await until(
      "a start and a success ping of web1",
      () => web1().includes("/ping/web1/start") && web1().includes("/ping/web1"),
    );
    assert.equal(web1()[0], "/ping/web1/start", "the start comes first");
    const success = hooks.hits.find((h) => h.path === "/ping/web1")!;
    assert.equal(success.method, "POST");
    assert.match(success.body, /^bzman pass of web1 \(.*\): ok/);
    assert.match(success.body, /^ok web1:tank full 4 bytes$/m);

    // web2 fails every second; its ping endpoint holds each request for its 3 s timeout. Three
    // held at once means three passes ended without waiting for their pings.
    await until("three /fail pings of web2 held open at once", () => hooks.hanging("/hang/web2/") >= 3);
    assert.ok((log.match(/"source":"web2"[^\n]*"msg":"pass FAILED"/g) ?? []).length >= 3);
    await until(
      "the timeout warning",
      () =>
        /ping \(fail\) of web2: GET http:\/\/127\.0\.0\.1:\d+\/hang\/web2\/fail failed: no answer within 3000 ms/.test(
          log,
        ),
      5000,
    );

    // The alert about web2 went out by mail while its webhook hung.
    await until("the alert mail about web2", () =>
      sink.mails.some((m) => m.subject === "[bzman] ALERT web2: pass FAILED (SSH_CONNECT) — web2:tank"),
    );
    await until("the webhook post", () => hooks.hits.some((h) => h.path === "/hang/webhook"));
    await until(
      "the webhook's timeout warning",
      () =>
        /webhook \(alert, pass web2:tank\): POST http:\/\/127\.0\.0\.1:\d+\/hang\/webhook failed: no answer within 1000 ms/.test(
          log,
        ),
      5000,
    );

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (re: RegExp): number => Number(re.exec(metrics)?.[1] ?? NaN);
    assert.ok(value(/^bzman_passes_total\{source="web2",result="failed"\} (\d+)$/m) >= 3, metrics);
    assert.ok(value(/^bzman_passes_total\{source="web1",result="ok"\} (\d+)$/m) >= 1);
    assert.ok(value(/^bzman_failures_total\{source="web2",code="SSH_CONNECT"\} (\d+)$/m) >= 3);
    assert.ok(value(/^bzman_transferred_bytes_total\{source="web1"\} (\d+)$/m) >= 4);
    assert.match(metrics, /^bzman_build_info\{version="[^"]+",node="v\d+[^"]*"\} 1$/m);
  } finally {
    const t0 = Date.now();
    stop.abort();
    const code = await served;
    const stopMs = Date.now() - t0;
    assert.equal(code, 0, log.split("\n").slice(-15).join("\n"));
    assert.ok(stopMs < 5500, `stopped in ${stopMs} ms: pings in flight get at most 5 s`);
  }
});
