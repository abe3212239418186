// Pinned SSH host keys: parsing the "type base64 [comment]" form the config holds, comparing it
// with what a host presents, and OpenSSH-style SHA256 fingerprints for messages.

import { createHash } from "node:crypto";

/** A host key as pinned in the config. */
export interface PinnedKey {
  type: string;
  blob: Buffer;
}

const KEY_TYPES = ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"];

/** Parses "ssh-ed25519 AAAA… [comment]"; returns an error message instead when it is not one. */
export function parsePinnedKey(text: string): PinnedKey | string {
  const [type, b64] = text.trim().split(/\s+/);
  if (!type || !b64) return `expected "<type> <base64 key>", like a known_hosts entry without the host name`;
  if (!KEY_TYPES.includes(type)) return `unsupported key type "${type}" (one of ${KEY_TYPES.join(", ")})`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return "the key is not base64";
  const blob = Buffer.from(b64, "base64");
  // The blob starts with its own type as an SSH string: a cheap check that type and key agree.
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len !== type.length || blob.subarray(4, 4 + len).toString() !== type) return `the key data is not a ${type} key`;
  return { type, blob };
}

/** "SHA256:…" as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The type name inside a raw key blob ("ssh-ed25519"), or "unknown". */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return "unknown";
  const len = blob.readUInt32BE(0);
  return len > 0 && len < 64 ? blob.subarray(4, 4 + len).toString() : "unknown";
}

/** The server host key algorithms to offer so the host presents the pinned key's type. */
export function hostKeyAlgorithms(type: string): string[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}
