import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { parseConfig, readConfig } from "../../server/config/load.ts";
import { cronProblem } from "../../server/schedule/cron.ts";

const dir = (d: string): URL => new URL(`../fixtures/config/${d}/`, import.meta.url);

for (const file of readdirSync(dir("valid"))) {
  test(`valid config parses: ${file}`, () => {
    const r = parseConfig(readFileSync(new URL(file, dir("valid")), "utf8"));
    assert.ok("config" in r, JSON.stringify(r));
  });
}

for (const file of readdirSync(dir("invalid"))) {
  test(`invalid config is refused with its path: ${file}`, () => {
    const text = readFileSync(new URL(file, dir("invalid")), "utf8");
    const expect = /^# expect: (.*)$/m.exec(text)?.[1];
    assert.ok(expect, "fixture must declare '# expect: …'");
    const r = parseConfig(text);
    assert.ok("errors" in r, "must fail");
    assert.ok(
      r.errors.some((e) => e.includes(expect)),
      `wanted "${expect}" in:\n${r.errors.join("\n")}`,
    );
  });
}

test("deploy/bzman.example.yaml parses with the real schema and fills defaults", async () => {
  const r = await readConfig(new URL("../../deploy/bzman.example.yaml", import.meta.url).pathname);
  assert.ok("config" in r, JSON.stringify(r));
  const [web1, db1] = r.config.sources;
  assert.equal(web1!.maxLagSeconds, 3600);
  assert.equal(db1!.maxLagSeconds, 1800);
  assert.equal(db1!.user, "bzman");
  assert.equal(db1!.port, 22);
  assert.deepEqual(web1!.datasets, [{ name: "tank", recursive: true, exclude: ["scratch", "*/tmp"] }]);
  assert.deepEqual(r.warnings, []);
});

test("ssh_window: a size with a unit or a number of bytes, from defaults or the source; 32M when unset", () => {
  const r = parseConfig(`defaults: { ssh_window: 64M }
sources:
  - { name: a, host: h, identity: /k, target: backup/a, datasets: [tank/a] }
  - { name: b, host: h, identity: /k, target: backup/b, datasets: [tank/b], ssh_window: 16777216 }
`);
  assert.ok("config" in r, JSON.stringify(r));
  assert.deepEqual(
    r.config.sources.map((s) => s.sshWindowBytes),
    [64 * 1024 ** 2, 16 * 1024 ** 2],
  );
  const plain = parseConfig("sources: [{ name: a, host: h, identity: /k, target: backup/a, datasets: [tank/a] }]\n");
  assert.ok("config" in plain, JSON.stringify(plain));
  assert.equal(plain.config.sources[0]!.sshWindowBytes, 32 * 1024 ** 2);
  for (const bad of ["1M", "300M", "0", "big", "1.5"]) {
    const e = parseConfig(`defaults: { ssh_window: "${bad}" }\nsources: []\n`);
    assert.ok(
      "errors" in e && e.errors.some((x) => x.startsWith("defaults.ssh_window:")),
      `${bad}: ${JSON.stringify(e)}`,
    );
  }
});

test("plain dataset names, merge keys, per-dataset overrides and receive properties normalize", () => {
  const r = parseConfig(readFileSync(new URL("selection.yaml", dir("valid")), "utf8"));
  assert.ok("config" in r, JSON.stringify(r));
  const [s1, s2] = r.config.sources;
  assert.equal(s1!.host, "10.0.0.5", "from the merged anchor");
  assert.equal(s2!.host, "10.0.0.6", "a key beside the merge wins");
  assert.deepEqual(s1!.datasets, [
    { name: "data/pg", recursive: false, exclude: [] },
    {
      name: "tank",
      recursive: true,
      exclude: ["scratch", "*/tmp", "vm/*-old"],
      keepBackup: { daily: 7 },
      maxLagSeconds: 21600,
      onConflict: "rename",
    },
  ]);
  assert.equal(s1!.maxLagSeconds, 3600, "the source's own goal is unchanged");
  assert.deepEqual(s1!.receive, { exclude: ["atime"], set: [["compression", "zstd"]] });
  assert.deepEqual(
    s2!.receive,
    { exclude: [], set: [["compression", "zstd"]] },
    "a source's list replaces the inherited one",
  );
});

test("every problem is listed, not just the first", () => {
  const r = parseConfig(
    `sources:\n  - { name: a, host: h, identity: /k, target: "b/x y", bogus: 1, datasets: [{ name: "t;x" }] }\n`,
  );
  assert.ok("errors" in r);
  assert.ok(
    r.errors.some((e) => e.includes('sources[0]: unknown key "bogus"')),
    r.errors.join("\n"),
  );
  const r2 = parseConfig(
    `sources:\n  - { name: a, host: h, identity: /k, target: "b/x y", datasets: [{ name: "t;x" }, { name: "u v" }] }\n`,
  );
  assert.ok("errors" in r2);
  assert.equal(r2.errors.length, 3, r2.errors.join("\n"));
});

test("a missing host_key is a warning, not an error", () => {
  const r = parseConfig(readFileSync(new URL("minimal.yaml", dir("valid")), "utf8"));
  assert.ok("config" in r);
  assert.match(r.warnings[0]!, /sources\[0\]\.host_key: not set/);
});

test("a warning names the source it is about: the second source's missing host_key is sources[1]", () => {
  const r = parseConfig(
    `sources:
  - { name: a, host: h, identity: /k, host_key: "ssh-ed25519 AAAA", target: backup/a, datasets: [{ name: tank/a }] }
  - { name: b, host: h, identity: /k, target: backup/b, datasets: [{ name: tank/b }] }
  - { name: c, host: h, identity: /k, target: backup/c, datasets: [{ name: tank/c }] }
`,
    "c",
    "backup1",
  );
  assert.ok("config" in r, JSON.stringify(r));
  assert.deepEqual(
    r.warnings.map((w) => w.split(":")[0]),
    ["sources[1].host_key", "sources[2].host_key"],
  );
  assert.match(r.warnings[0]!, /refuse to connect to b /);
});

test("an unreadable file is an error naming it", async () => {
  const r = await readConfig("/nonexistent/bzman.yaml");
  assert.ok("errors" in r);
  assert.match(r.errors[0]!, /\/nonexistent\/bzman.yaml: cannot read: ENOENT/);
});

test("a config that leaves every optional setting out takes the defaults of config/defaults.ts", () => {
  const source = `sources:\n  - { name: a, host: h, identity: /k, target: backup/a, datasets: [{ name: tank }], ping_url: "http://x/{source}", drill: { schedule: "0 3 * * *" } }\n`;
  const r = parseConfig(
    `mail: { smtp: "smtp://h:25", from: "a@b", to: ["c@d"] }\nwebhook: "http://w/"\nlog: { syslog: true }\n${source}`,
  );
  assert.ok("config" in r, JSON.stringify(r));
  const {
    sources: [s],
    ...top
  } = r.config;
  assert.deepEqual(
    { ...top, instance: "-" },
    {
      state: "/var/lib/bzman/state.json",
      instance: "-",
      maxTransfers: 2,
      history: { days: 90, detailHours: 48 },
      http: { listen: "127.0.0.1:9720" },
      mail: { smtp: "smtp://h:25", from: "a@b", to: ["c@d"], realertSeconds: 21600, digestSeconds: 30 },
      webhook: { url: "http://w/", timeoutMs: 10000, headers: {} },
      capacityLimit: 0.75,
      syslog: { tag: "bzman" },
      logLevel: "info",
    },
  );
  assert.deepEqual(s, {
    name: "a",
    host: "h",
    port: 22,
    user: "bzman",
    identity: "/k",
    restoreUser: "bzman",
    target: "backup/a",
    datasets: [{ name: "tank", recursive: false, exclude: [] }],
    schedule: "*/10 * * * *",
    snapshotPrefix: "bzman",
    keepSource: { last: 24 },
    keepBackup: { hourly: 48, daily: 30, weekly: 12, monthly: 12 },
    maxLagSeconds: 3600,
    firstSend: "oldest",
    includePrefixes: [],
    preSnapshot: [],
    postSnapshot: [],
    drill: { schedule: "0 3 * * *", recent: 10 },
    stallTimeoutSeconds: 600,
    sshCompression: false,
    sshWindowBytes: 32 * 1024 * 1024,
    retries: 2,
    maxTransfersPerSource: 2,
    onConflict: "report",
    sendRaw: false,
    bookmarks: false,
    skipUnchanged: false,
    dataPath: "auto",
    receive: { exclude: [], set: [] },
    ping: { url: "http://x/a", method: "GET", start: false, timeoutMs: 10000 },
  });
});

test("every schedule is checked with the caller's cron parser, each refusal with its path", () => {
  const r = parseConfig(
    `mail: { smtp: "smtp://127.0.0.1:25", from: "b@x", to: ["r@x"], report: "0 6 * * *" }
scrub: { schedule: "0 2 * * 9" }
defaults: { schedule: "61 25 * * *", drill: { schedule: "30 4 * * *" } }
sources:
  - { name: a, host: h, identity: /k, host_key: "ssh-ed25519 AAAA", target: backup/a, datasets: [{ name: tank/a }] }
  - { name: b, host: h, identity: /k, host_key: "ssh-ed25519 AAAA", target: backup/b, schedule: "*/5 * * * *", drill: { schedule: "0 0 31 2 *" }, datasets: [{ name: tank/b }] }
`,
    "c",
    "backup1",
    { cronProblem },
  );
  assert.ok("errors" in r);
  assert.deepEqual(
    r.errors.map((e) => e.split(":")[0]),
    ["defaults.schedule", "sources[1].drill.schedule", "scrub.schedule"],
  );
  assert.match(r.errors[0]!, /^defaults\.schedule: "61 25 \* \* \*" is not a cron expression that ever fires/);
});

test("the valid fixtures and deploy/bzman.example.yaml pass the scheduler's cron parser too", async () => {
  for (const file of readdirSync(dir("valid"))) {
    const r = parseConfig(readFileSync(new URL(file, dir("valid")), "utf8"), file, "backup1", { cronProblem });
    assert.ok("config" in r, `${file}: ${JSON.stringify(r)}`);
  }
  const r = await readConfig(new URL("../../deploy/bzman.example.yaml", import.meta.url).pathname, { cronProblem });
  assert.ok("config" in r, JSON.stringify(r));
});

test("max_transfers_per_source: default 2, from defaults: or the source, at most 16; a connection per 4 streams", async () => {
  const { MAX_CHANNELS } = await import("../../server/ssh/ssh-runner.ts");
  const { connectionsFor } = await import("../../server/ssh/connection.ts");
  const { MAX_TRANSFERS_PER_SOURCE } = await import("../../server/config/defaults.ts");
  assert.equal(MAX_TRANSFERS_PER_SOURCE, 16);
  assert.deepEqual([1, 2, 4, 5, 8, 9, 16].map(connectionsFor), [1, 1, 1, 2, 2, 3, 4]);
  assert.ok(
    connectionsFor(MAX_TRANSFERS_PER_SOURCE) * MAX_CHANNELS >= MAX_TRANSFERS_PER_SOURCE,
    "every stream of a source gets a channel of one of its connections",
  );
  const parse = (defaults: string, own: string) =>
    parseConfig(
      `defaults: { ${defaults} }
sources:
  - { name: a, host: h, identity: /k, target: backup/a, datasets: [tank/a] ${own} }
  - { name: b, host: h, identity: /k, target: backup/b, datasets: [tank/b] }
`,
      "c",
      "backup1",
    );
  const per = (r: ReturnType<typeof parse>): number[] =>
    "config" in r ? r.config.sources.map((s) => s.maxTransfersPerSource) : assert.fail(r.errors.join("\n"));
  assert.deepEqual(per(parse("", "")), [2, 2]);
  assert.deepEqual(per(parse("max_transfers_per_source: 1", "")), [1, 1]);
  assert.deepEqual(per(parse("max_transfers_per_source: 1", ", max_transfers_per_source: 4")), [4, 1]);
  assert.deepEqual(per(parse("max_transfers_per_source: 16", "")), [16, 16]);
  const high = parse("", `, max_transfers_per_source: ${MAX_TRANSFERS_PER_SOURCE + 1}`);
  assert.ok("errors" in high);
  assert.match(high.errors.join("\n"), /^sources\[0\]\.max_transfers_per_source: /m);
  assert.ok("errors" in parse("max_transfers_per_source: 0", ""));
});
