import { test } from "node:test";
import assert from "node:assert/strict";
import { commandLine } from "../../server/ssh/ssh-runner.ts";
import { fingerprint, hostKeyAlgorithms, keyTypeOf, parsePinnedKey } from "../../server/ssh/host-key.ts";
import { BackupError } from "../../server/errors.ts";

// An ed25519 public key (ssh-keygen output) and its fingerprint as `ssh-keygen -l` prints it.
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIcAqT0/itbXiAbhGiD5nI+Lh+FgmeKhrQNQ/J3b5ChW";

test("parsePinnedKey: a known_hosts-style key; fingerprint like ssh-keygen", () => {
  const k = parsePinnedKey(`${KEY} comment here`);
  assert.ok(typeof k !== "string");
  assert.equal(k.type, "ssh-ed25519");
  assert.equal(keyTypeOf(k.blob), "ssh-ed25519");
  assert.match(fingerprint(k.blob), /^SHA256:[A-Za-z0-9+/]{43}$/);
});

test("parsePinnedKey: refuses malformed keys with a reason", () => {
  assert.match(parsePinnedKey("AAAA") as string, /expected/);
  assert.match(parsePinnedKey("ssh-dss AAAA") as string, /unsupported key type/);
  assert.match(parsePinnedKey("ssh-ed25519 !!!") as string, /not base64/);
  assert.match(parsePinnedKey(`ssh-rsa ${KEY.split(" ")[1]}`) as string, /not a ssh-rsa key/);
});

test("hostKeyAlgorithms: the pinned type is what the host must present", () => {
  assert.deepEqual(hostKeyAlgorithms("ssh-ed25519"), ["ssh-ed25519"]);
  assert.deepEqual(hostKeyAlgorithms("ssh-rsa"), ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
});

test("commandLine: safe argv joined with spaces", () => {
  assert.equal(commandLine(["zfs", "send", "-I", "tank/a@s1", "tank/a@s3"]), "zfs send -I tank/a@s1 tank/a@s3");
  assert.equal(commandLine(["zfs", "send", "-i", "tank/a#s1", "tank/a@s3"]), "zfs send -i tank/a#s1 tank/a@s3");
  assert.equal(
    commandLine(["zfs", "get", "-H", "-p", "-o", "name,property,value", "guid,createtxg", "-r", "tank"]),
    "zfs get -H -p -o name,property,value guid,createtxg -r tank",
  );
});

const hostile = [
  "#comment",
  "tank/a;reboot",
  "tank/a b",
  "$(id)",
  "`id`",
  "a|b",
  "a&b",
  "a>b",
  "a<b",
  "a\nb",
  "*",
  "a?",
  "~root",
  "'x'",
  '"x"',
  "a\\b",
  "",
  "tank/ä",
];
for (const arg of hostile) {
  test(`commandLine: refuses ${JSON.stringify(arg)}`, () => {
    assert.throws(
      () => commandLine(["zfs", "send", arg]),
      (e: unknown) => e instanceof BackupError && e.code === "UNSAFE_ARGUMENT",
    );
  });
}

test("commandLine: refuses over-long command lines", () => {
  assert.throws(() => commandLine(["zfs", "a".repeat(9000)]), /too long/);
});

test("SshRunner: at most MAX_CHANNELS channels at once per connection; a refused channel open is retried", async () => {
  const { EventEmitter } = await import("node:events");
  const { Duplex, PassThrough } = await import("node:stream");
  const { SshRunner, MAX_CHANNELS } = await import("../../server/ssh/ssh-runner.ts");
  class FakeChannel extends Duplex {
    stderr = new PassThrough();
    override _read(): void {}
    override _write(_c: unknown, _e: string, cb: () => void): void {
      cb();
    }
    signal(): void {}
    close(): void {
      this.finish();
    }
    finish(): void {
      this.push("out");
      this.push(null);
      this.emit("exit", 0);
      this.once("end", () => setImmediate(() => this.emit("close")));
      this.resume();
    }
  }
  let open = 0;
  let peak = 0;
  let refusals = 1;
  const channels: FakeChannel[] = [];
  const client = Object.assign(new EventEmitter(), {
    exec(_cmd: string, cb: (err: Error | undefined, ch?: FakeChannel) => void): void {
      if (refusals-- > 0) return void setImmediate(() => cb(new Error("(SSH) Channel open failure: open failed")));
      const ch = new FakeChannel();
      open++;
      peak = Math.max(peak, open);
      ch.once("close", () => open--);
      channels.push(ch);
      setImmediate(() => cb(undefined, ch));
    },
  });
  const runner = new SshRunner(client as never, "web1");
  const runs = Array.from({ length: 7 }, (_, i) => runner.run(["zfs", "get", `x${i}`]));
  for (let i = 0; i < 40 && channels.length < MAX_CHANNELS; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(channels.length, MAX_CHANNELS, "the first channels opened (one after a refusal)");
  while (channels.length < 7) {
    const ch = channels.find((c) => !c.readableEnded);
    ch?.finish();
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const c of channels) if (!c.readableEnded) c.finish();
  const results = await Promise.all(runs);
  assert.ok(results.every((r) => r.code === 0 && r.stdout === "out"));
  assert.equal(peak, MAX_CHANNELS);
});
