// The Notifier on real parts: a real history file, a real SMTP server in the process (smtp-server
// + mailparser) and a real local webhook server. A full pool under 200 datasets sends one mail
// and one webhook POST per cause, and one resolve of each; a webhook that never answers delays
// nothing beyond its timeout and the mail still goes out.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { parseConfig } from "../../server/config/load.ts";
import type { Config } from "../../server/config/schema.ts";
import { Notifier } from "../../server/cli/notify.ts";
import { buildStatus, type PoolStatus, type StatusModel, type StatusRow } from "../../server/core/status.ts";
import { setMjmlWorkerEntry, stopMjmlThread } from "../../server/email/mjml-thread.ts";
import { createLogger } from "../../server/log.ts";
import { HistoryStore } from "../../server/state/store.ts";
import { startHookServer } from "../helpers/hook-server.ts";
import { startSmtpSink } from "../helpers/smtp-sink.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-notify-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const N = 200;
const names = Array.from({ length: N }, (_, i) => `tank/vm${String(i).padStart(3, "0")}`);
function configFor(state: string, smtpPort: number, webhook: string): Config {
  const r = parseConfig(
    `state: ${state}
mail: { smtp: "smtp://127.0.0.1:${smtpPort}", from: bzman@backup.test, to: [ops@example.test] }
webhook: { url: "${webhook}", headers: { Authorization: "Bearer hook-token" } }
sources:
  - { name: web1, host: h, identity: /k, host_key: "ssh-ed25519 AAAA", target: backup/web1, datasets: [{ name: tank, recursive: true }] }
`,
    "c",
    "backup1",
  );
  assert.ok("config" in r, JSON.stringify(r));
  return {
    ...r.config,
    mail: { ...r.config.mail!, digestSeconds: 0.4 },
    webhook: { ...r.config.webhook!, timeoutMs: 500 },
  };
}
const row = (dataset: string, ok: boolean, at: string): StatusRow => ({
  source: "web1",
  dataset,
  target: `backup/web1/${dataset}`,
  mode: "incremental",
  result: ok ? "ok" : "failed",
  steps: 1,
  bytes: 0,
  transferMs: 0,
  startedAt: at,
  finishedAt: at,
  ...(ok
    ? { to: { name: "bzman_20261126T120000Z", guid: "1" } }
    : {
        error: {
          code: "ZFS_NO_SPACE",
          message: "cannot receive: out of space",
          at,
          detail: "cannot receive new filesystem stream: out of space",
        },
      }),
});
function statusOf(config: Config, failing: boolean): StatusModel {
  const now = Date.now();
  const at = new Date(now - 60_000).toISOString();
  const pool: PoolStatus = {
    host: "local",
    pool: "backup",
    health: "ONLINE",
    sizeBytes: 1e12,
    freeBytes: failing ? 1e9 : 5e11,
    capacity: failing ? 0.999 : 0.5,
    checkedAt: at,
  };
  return buildStatus({
    sources: config.sources,
    rows: names.map((d) => row(d, !failing, at)),
    pools: [pool],
    live: [],
    nextRuns: new Map(),
    now,
    capacityLimit: config.capacityLimit,
  });
}

test("a full pool under 200 datasets: one mail and one webhook per cause, then one resolve of each", {
  timeout: 60_000,
}, async () => {
  const sink = await startSmtpSink();
  const hooks = await startHookServer();
  const config = configFor(join(tmp, "a/state.json"), sink.port, `${hooks.url}/hook`);
  const { store } = await HistoryStore.open(config.state);
  let failing = true;
  const notifier = new Notifier(config, store, createLogger({ stream: new PassThrough() }), () => new Date(), {
    status: () => statusOf(config, failing),
  });
  try {
    await notifier.evaluate(statusOf(config, true));
    assert.equal(sink.mails.length, 0, "nothing before the digest window ends");
    await until("two alert mails and two webhook posts", () => sink.mails.length >= 2 && hooks.hits.length >= 2);
    await sleep(800);
    assert.equal(sink.mails.length, 2, sink.mails.map((m) => m.subject).join("\n"));
    const subjects = sink.mails.map((m) => m.subject!);
    assert.ok(
      subjects.includes(
        "[bzman] ALERT pass FAILED (ZFS_NO_SPACE) in 200 places — web1:tank/vm000, web1:tank/vm001, web1:tank/vm002 and 197 more",
      ),
      subjects.join("\n"),
    );
    assert.ok(
      subjects.includes("[bzman] ALERT local: pool low on space — local:backup"),
      "a cause with one condition gets the ordinary alert mail",
    );
    const digest = sink.mails.find((m) => m.subject!.includes("200 places"))!;
    for (const d of names) assert.ok(digest.text!.includes(`web1:${d} [transfer] since`), d);
    assert.match(digest.text!, /What to do: The backup pool is full/);
    assert.equal((digest.text!.match(/^What to do:/gm) ?? []).length, 1, "the advice once");
    assert.match(String(digest.html), /<td>web1:tank\/vm199<\/td>/);
    const posts = hooks.hits.map((h) => ({
      ...h,
      json: JSON.parse(h.body) as {
        kind: string;
        cause: string;
        subject: string;
        text: string;
        instance: string;
        conditions: Array<{ where: string }>;
      },
    }));
    assert.deepEqual(
      posts.map((p) => [p.method, p.path, p.headers["content-type"], p.headers.authorization]),
      [
        ["POST", "/hook", "application/json", "Bearer hook-token"],
        ["POST", "/hook", "application/json", "Bearer hook-token"],
      ],
    );
    const big = posts.find((p) => p.json.cause === "ZFS_NO_SPACE")!.json;
    assert.equal(big.kind, "alert");
    assert.equal(big.instance, "backup1");
    assert.equal(big.conditions.length, 200);
    assert.equal(big.text, big.subject);
    assert.equal(posts.find((p) => p.json.cause === "POOL_SPACE")!.json.conditions.length, 1);
    assert.equal(store.alerts().size, 201, "every condition recorded");

    await notifier.evaluate(statusOf(config, true));
    await sleep(600);
    assert.equal(sink.mails.length, 2, "no repeats");

    failing = false;
    await notifier.evaluate(statusOf(config, false));
    await until("two resolve mails and webhooks", () => sink.mails.length >= 4 && hooks.hits.length >= 4);
    await sleep(800);
    assert.equal(sink.mails.length, 4);
    const resolved = sink.mails.slice(2).map((m) => m.subject!);
    assert.ok(
      resolved.some((x) => x.startsWith("[bzman] RESOLVED pass FAILED (ZFS_NO_SPACE) in 200 places — ")),
      resolved.join("\n"),
    );
    assert.ok(resolved.some((x) => x.startsWith("[bzman] RESOLVED local: pool low on space")));
    assert.deepEqual(
      hooks.hits.slice(2).map((h) => (JSON.parse(h.body) as { kind: string }).kind),
      ["resolved", "resolved"],
    );
    assert.equal(store.alerts().size, 0);
  } finally {
    notifier.close();
    await store.flush();
    await sink.close();
    await hooks.close();
  }
});

test("a webhook that never answers: the evaluation ends at its timeout, the mail goes out, the failure is logged", {
  timeout: 60_000,
}, async () => {
  const sink = await startSmtpSink();
  const hooks = await startHookServer();
  const config = { ...configFor(join(tmp, "b/state.json"), sink.port, `${hooks.url}/hang`), mail: undefined } as Config;
  const withMail = configFor(join(tmp, "b/state.json"), sink.port, `${hooks.url}/hang`);
  const { store } = await HistoryStore.open(config.state);
  const out = new PassThrough();
  let log = "";
  out.on("data", (c: Buffer) => (log += c.toString()));
  const notifier = new Notifier(
    { ...withMail, mail: { ...withMail.mail!, digestSeconds: 0 } },
    store,
    createLogger({ stream: out }),
    () => new Date(),
  );
  try {
    const t0 = Date.now();
    await notifier.evaluate(statusOf(withMail, true));
    const took = Date.now() - t0;
    assert.ok(took < 4000, `two digests, each bounded by the 500 ms webhook timeout: ${took} ms`);
    assert.equal(hooks.hits.length, 2, "both were posted");
    assert.equal(sink.mails.length, 2, "the mails went out anyway");
    assert.match(
      log,
      /webhook \(alert, 200 × ZFS_NO_SPACE\): POST http:\/\/127\.0\.0\.1:\d+\/hang failed: no answer within 500 ms/,
    );
    assert.equal(store.alerts().size, 201, "delivered by mail, so recorded");

    // Without mail (so with the default 30 s window), a webhook that fails is retried at the next
    // evaluation: nothing was recorded. The clock is moved instead of waited for.
    const { store: store2 } = await HistoryStore.open(join(tmp, "c/state.json"));
    let skew = 0;
    const hookOnly = new Notifier(
      { ...config, mail: undefined, state: join(tmp, "c/state.json") },
      store2,
      createLogger({ stream: out }),
      () => new Date(Date.now() + skew),
    );
    const before = hooks.hits.length;
    await hookOnly.evaluate(statusOf(withMail, true));
    assert.equal(hooks.hits.length, before, "waiting for the window");
    skew = 31_000;
    await hookOnly.evaluate(statusOf(withMail, true));
    assert.equal(hooks.hits.length, before + 2, "posted when the window ended");
    assert.equal(store2.alerts().size, 0, "no channel took them");
    await hookOnly.evaluate(statusOf(withMail, true));
    assert.equal(hooks.hits.length, before + 4, "posted again at once");
    hookOnly.close();
    await store2.flush();
  } finally {
    notifier.close();
    await store.flush();
    await sink.close();
    await hooks.close();
  }
});

test("a mail that cannot be rendered (its thread fails): logged, not sent, and the webhook still goes", {
  timeout: 60_000,
}, async () => {
  const sink = await startSmtpSink();
  const hooks = await startHookServer();
  const config = configFor(join(tmp, "d/state.json"), sink.port, `${hooks.url}/hook`);
  const { store } = await HistoryStore.open(config.state);
  const out = new PassThrough();
  let log = "";
  out.on("data", (c: Buffer) => (log += c.toString()));
  const notifier = new Notifier(
    { ...config, mail: { ...config.mail!, digestSeconds: 0 } },
    store,
    createLogger({ stream: out }),
    () => new Date(),
  );
  await stopMjmlThread();
  setMjmlWorkerEntry("no-such-worker");
  try {
    await notifier.evaluate(statusOf(config, true));
    assert.equal(sink.mails.length, 0, "no mail could be rendered");
    assert.equal(hooks.hits.length, 2, "both digests were posted to the webhook");
    assert.match(
      log,
      /cannot render the mail \(the webhook took the alert; this mail is not sent again\): mail template: the MJML thread ended/,
    );
    assert.doesNotMatch(log, /retried at the next check/, "nothing is retried: the webhook took both digests");
    assert.equal(store.alerts().size, 201, "the webhook took them, so they are recorded");
  } finally {
    setMjmlWorkerEntry("mjml-worker");
    await stopMjmlThread();
    notifier.close();
    await store.flush();
    await sink.close();
    await hooks.close();
  }
});
