// The monitoring keys of the config: ping_url (per source or from defaults, {source} filled in,
// a bare URL or an object), webhook, mail.digest; their defaults; and the warning when two
// sources would ping one check.

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../server/config/load.ts";

const src = (name: string, extra = ""): string =>
  `  - { name: ${name}, host: h, identity: /k, host_key: "ssh-ed25519 AAAA", target: backup/${name}, datasets: [{ name: tank }]${extra} }\n`;

test("ping_url: defaults with {source}, a source's own URL wins, bare URL = GET without start, 10s", () => {
  const r = parseConfig(
    `defaults: { ping_url: { url: "https://hc-ping.com/k/bzman-{source}?create=1", method: POST, start: true, timeout: 3s } }\nsources:\n${src("web1")}${src("web2", ', ping_url: "https://hc-ping.com/uuid2"')}${src("web3")}`,
    "c",
    "backup1",
  );
  assert.ok("config" in r, JSON.stringify(r));
  assert.deepEqual(
    r.config.sources.map((s) => s.ping),
    [
      { url: "https://hc-ping.com/k/bzman-web1?create=1", method: "POST", start: true, timeoutMs: 3000 },
      { url: "https://hc-ping.com/uuid2", method: "GET", start: false, timeoutMs: 10_000 },
      { url: "https://hc-ping.com/k/bzman-web3?create=1", method: "POST", start: true, timeoutMs: 3000 },
    ],
  );
  assert.deepEqual(r.warnings, []);
});

test("no ping_url, no webhook: none; mail without digest: 30s", () => {
  const r = parseConfig(
    `mail: { smtp: "smtp://127.0.0.1:25", from: bzman@b, to: [root@b] }\nsources:\n${src("web1")}`,
    "c",
    "backup1",
  );
  assert.ok("config" in r, JSON.stringify(r));
  assert.equal(r.config.sources[0]!.ping, undefined);
  assert.equal(r.config.webhook, undefined);
  assert.equal(r.config.mail!.digestSeconds, 30);
});

test("webhook: a bare URL or an object with timeout and headers; mail.digest", () => {
  const a = parseConfig(`webhook: "https://hooks.example/x"\nsources:\n${src("web1")}`, "c", "backup1");
  assert.ok("config" in a);
  assert.deepEqual(a.config.webhook, { url: "https://hooks.example/x", timeoutMs: 10_000, headers: {} });
  const b = parseConfig(
    `mail: { smtp: "smtp://127.0.0.1:25", from: bzman@b, to: [root@b], digest: 2m }\nwebhook: { url: "http://127.0.0.1:9/h", timeout: 2s, headers: { Authorization: "Bearer t" } }\nsources:\n${src("web1")}`,
    "c",
    "backup1",
  );
  assert.ok("config" in b, JSON.stringify(b));
  assert.deepEqual(b.config.webhook, {
    url: "http://127.0.0.1:9/h",
    timeoutMs: 2000,
    headers: { Authorization: "Bearer t" },
  });
  assert.equal(b.config.mail!.digestSeconds, 120);
});

test("two sources pinging one URL are warned about, at the key that set it", () => {
  const fromDefaults = parseConfig(
    `defaults: { ping_url: "https://hc-ping.com/one" }\nsources:\n${src("web1")}${src("web2")}`,
    "c",
    "backup1",
  );
  assert.ok("config" in fromDefaults);
  assert.deepEqual(fromDefaults.warnings, [
    "defaults.ping_url: web2 pings the same URL as web1, so a success of one hides a failure of the other; give each source its own check (e.g. {source} in the URL)",
  ]);
  const own = parseConfig(
    `sources:\n${src("web1", ', ping_url: "https://hc-ping.com/one"')}${src("web2", ', ping_url: "https://hc-ping.com/one"')}`,
    "c",
    "backup1",
  );
  assert.ok("config" in own);
  assert.match(own.warnings[0]!, /^sources\[1\]\.ping_url: web2 pings the same URL as web1/);
});

test("deploy/bzman.example.yaml: the monitoring keys it shows commented out parse once uncommented", async () => {
  const { readFileSync } = await import("node:fs");
  const text = readFileSync(new URL("../../deploy/bzman.example.yaml", import.meta.url), "utf8");
  const on = text.replace(/^(\s*)# (webhook|ping_url):/gm, "$1$2:");
  assert.notEqual(on, text);
  const r = parseConfig(on, "example", "backup1");
  assert.ok("config" in r, JSON.stringify(r));
  assert.equal(r.config.webhook?.url, "https://chat.example/hooks/bzman");
  assert.equal(r.config.mail?.digestSeconds, 30);
  assert.deepEqual(
    r.config.sources.map((s) => s.ping?.url),
    ["https://hc-ping.com/PING-KEY/bzman-web1?create=1", "https://hc-ping.com/PING-KEY/bzman-db1?create=1"],
  );
  assert.deepEqual(r.warnings, []);
});
