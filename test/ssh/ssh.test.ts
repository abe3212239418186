import { test } from "node:test";
import assert from "node:assert/strict";
import { commandLine } from "../../server/ssh/ssh-runner.ts";
import { fingerprint, hostKeyAlgorithms, keyTypeOf, parsePinnedKey } from "../../server/ssh/host-key.ts";
import { BackupError } from "../../server/errors.ts";

// An ed25519 public key (ssh-keygen output) and its fingerprint as `ssh-keygen -l` prints it.
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIcAqT0/itbXiAbhGiD5nI+Lh+FgmeKhrQNQ/J3b5ChW";

test("parsePinnedKey: a known_hosts-style key; fingerprint like ssh-keygen", () => {
  const k = parsePinnedKey(KEY + " comment here");
  assert.ok(typeof k !== "string");
  assert.equal(k.type, "ssh-ed25519");
  assert.equal(keyTypeOf(k.blob), "ssh-ed25519");
  assert.match(fingerprint(k.blob), /^SHA256:[A-Za-z0-9+/]{43}$/);
});

test("parsePinnedKey: refuses malformed keys with a reason", () => {
  assert.match(parsePinnedKey("AAAA") as string, /expected/);
  assert.match(parsePinnedKey("ssh-dss AAAA") as string, /unsupported key type/);
  assert.match(parsePinnedKey("ssh-ed25519 !!!") as string, /not base64/);
  assert.match(parsePinnedKey("ssh-rsa " + KEY.split(" ")[1]) as string, /not a ssh-rsa key/);
});

test("hostKeyAlgorithms: the pinned type is what the host must present", () => {
  assert.deepEqual(hostKeyAlgorithms("ssh-ed25519"), ["ssh-ed25519"]);
  assert.deepEqual(hostKeyAlgorithms("ssh-rsa"), ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
});

test("commandLine: safe argv joined with spaces", () => {
  assert.equal(commandLine(["zfs", "send", "-I", "tank/a@s1", "tank/a@s3"]), "zfs send -I tank/a@s1 tank/a@s3");
  assert.equal(commandLine(["zfs", "get", "-H", "-p", "-o", "name,property,value", "guid,createtxg", "-r", "tank"]), "zfs get -H -p -o name,property,value guid,createtxg -r tank");
});

const hostile = ["tank/a;reboot", "tank/a b", "$(id)", "`id`", "a|b", "a&b", "a>b", "a<b", "a\nb", "*", "a?", "~root", "'x'", "\"x\"", "a\\b", "", "tank/ä"];
for (const arg of hostile) {
  test(`commandLine: refuses ${JSON.stringify(arg)}`, () => {
    assert.throws(() => commandLine(["zfs", "send", arg]), (e: unknown) => e instanceof BackupError && e.code === "UNSAFE_ARGUMENT");
  });
}

test("commandLine: refuses over-long command lines", () => {
  assert.throws(() => commandLine(["zfs", "a".repeat(9000)]), /too long/);
});
