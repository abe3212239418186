// SourceConnection: the ssh2 Clients of a source — pinned host key, key auth, keepalive, ready
// timeout — and the SshRunner that runs commands over them: one connection, and more (up to
// `connections`) while every channel of the open ones is taken. Refuses unknown or changed host
// keys before any command is sent.

import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import ssh2 from "ssh2";
import { BackupError } from "../errors.ts";
import { fingerprint, hostKeyAlgorithms, keyTypeOf, parsePinnedKey } from "./host-key.ts";
import { MAX_CHANNELS, SshRunner } from "./ssh-runner.ts";

/** Where and how to reach a source. */
export interface SourceEndpoint {
  name: string;
  host: string;
  port: number;
  user: string;
  /** Path of the private key file. */
  identity: string;
  /** Pinned host key, "ssh-ed25519 AAAA…"; without it the connection is refused. */
  hostKey?: string;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  /** The SSH cipher to use (default: {@link CIPHERS}, fastest first). */
  cipher?: string;
  /** zlib compression of the SSH transport (for slow links; it costs CPU on both ends). */
  compress?: boolean;
  /**
   * The receive window of each channel in bytes (default {@link DEFAULT_WINDOW}): what one stream
   * may have in flight, and at most what Node buffers of it when the consumer is slower.
   */
  windowBytes?: number;
  /**
   * The most connections to open to the source at once (default 1): a connection carries at most
   * {@link MAX_CHANNELS} commands, so more streams at once need more of them.
   */
  connections?: number;
}

/** The default receive window: one stream moves at most a window per round trip, 320 MiB/s at 100 ms. */
export const DEFAULT_WINDOW = 32 * 1024 * 1024;

/**
 * Ciphers in order of preference: AES-GCM first (the fastest measured on x86 with AES-NI and
 * ssh2's native binding), CTR and ChaCha20 after it for hosts that lack it.
 */
export const CIPHERS = [
  "aes128-gcm@openssh.com",
  "aes256-gcm@openssh.com",
  "aes128-ctr",
  "aes256-ctr",
  "chacha20-poly1305@openssh.com",
];

/**
 * Whether ssh2's optional native crypto binding is built. Without it ssh2 falls back to slower
 * JavaScript paths for AES-GCM and ChaCha20 (transfers 2-5x slower).
 */
export function nativeCryptoAvailable(): boolean {
  try {
    const crypto = createRequire(import.meta.url)("ssh2/lib/protocol/crypto.js") as { bindingAvailable?: boolean };
    return crypto.bindingAvailable === true;
  } catch {
    return false;
  }
}

/** How many connections `streams` commands at once need: one per {@link MAX_CHANNELS}. */
export function connectionsFor(streams: number): number {
  return Math.max(1, Math.ceil(streams / MAX_CHANNELS));
}

/** An open connection to a source, and the further ones its runner opened. */
export class SourceConnection {
  readonly runner: SshRunner;
  private closed = false;
  private readonly extra = new Set<ssh2.Client>();
  /** Set by close(): connections still being opened are ended as they arrive, and not told as failed. */
  private readonly closing = new AbortController();

  /**
   * @param more opens one more connection to the same source (absent: this one only)
   */
  constructor(
    private readonly client: ssh2.Client,
    readonly name: string,
    windowBytes = DEFAULT_WINDOW,
    more?: { max: number; open: (signal: AbortSignal) => Promise<ssh2.Client>; failed?: (err: unknown) => void },
  ) {
    this.runner = new SshRunner(
      client,
      name,
      windowBytes,
      more && more.max > 1
        ? {
            max: more.max,
            open: async () => {
              const c = await more.open(this.closing.signal);
              if (this.closing.signal.aborted) {
                c.end();
                throw new BackupError("ABORTED", `${name}: the connection was closed`);
              }
              this.extra.add(c);
              c.once("close", () => this.extra.delete(c));
              return c;
            },
            failed: (err) => {
              if (!this.closing.signal.aborted) more.failed?.(err);
            },
          }
        : undefined,
    );
    client.on("close", () => (this.closed = true));
  }

  /** True once the connection is gone. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Calls `f` once the first connection is gone (at once if it is already). */
  onClose(f: () => void): void {
    if (this.closed) f();
    else this.client.once("close", f);
  }

  /** Closes the connections; running commands end. */
  async close(): Promise<void> {
    this.closing.abort();
    const open = [...this.extra, ...(this.closed ? [] : [this.client])];
    await Promise.all(
      open.map(
        (c) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 2000).unref();
            c.once("close", () => {
              clearTimeout(t);
              resolve();
            });
            c.end();
          }),
      ),
    );
  }
}

function connectError(ep: SourceEndpoint, err: Error & { level?: string; code?: string }): BackupError {
  const where = `${ep.name} (${ep.user}@${ep.host}:${ep.port})`;
  if (err.level === "client-authentication") {
    return new BackupError(
      "SSH_AUTH",
      `${where}: the host refused the key ${ep.identity} (is it in authorized_keys?)`,
      { cause: err },
    );
  }
  const reason = err.code ? `${err.code} ${err.message}` : err.message;
  return new BackupError("SSH_CONNECT", `${where}: cannot connect: ${reason}`, { cause: err });
}

/**
 * Connects to a source, verifying its host key against the pinned one. Further connections, when
 * `ep.connections` allows them, are opened the same way as the runner needs them; one that fails
 * is logged by `onExtraFailed` and the commands wait for the channels already open.
 */
export async function connectSource(
  ep: SourceEndpoint,
  signal?: AbortSignal,
  onExtraFailed?: (err: unknown) => void,
): Promise<SourceConnection> {
  const client = await openClient(ep, signal);
  return new SourceConnection(client, ep.name, ep.windowBytes, {
    max: ep.connections ?? 1,
    open: (closing) => openClient(ep, closing),
    ...(onExtraFailed ? { failed: onExtraFailed } : {}),
  });
}

/** Opens one authenticated ssh2 connection to a source, its host key checked. */
async function openClient(ep: SourceEndpoint, signal?: AbortSignal): Promise<ssh2.Client> {
  let privateKey: Buffer;
  try {
    privateKey = await readFile(ep.identity);
  } catch (err) {
    throw new BackupError(
      "SSH_IDENTITY",
      `${ep.name}: cannot read identity ${ep.identity}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const pinned = ep.hostKey ? parsePinnedKey(ep.hostKey) : undefined;
  if (typeof pinned === "string") throw new BackupError("SSH_HOSTKEY", `${ep.name}: host_key is invalid: ${pinned}`);

  const client = new ssh2.Client();
  let presented: Buffer | undefined;
  return new Promise<ssh2.Client>((resolve, reject) => {
    let settled = false;
    const finish = (err: BackupError | null): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      if (err) {
        client.end();
        reject(err);
      } else resolve(client);
    };
    const onAbort = (): void => finish(new BackupError("ABORTED", `${ep.name}: connect aborted`));
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) return onAbort();

    client.on("ready", () => {
      // ssh2 leaves Nagle on: every short command would wait ~40 ms for a delayed ACK.
      client.setNoDelay(true);
      finish(null);
    });
    client.on("error", (err: Error & { level?: string }) => {
      if (presented && (!pinned || !presented.equals(pinned.blob))) {
        const got = `${keyTypeOf(presented)} ${fingerprint(presented)}`;
        finish(
          pinned
            ? new BackupError(
                "SSH_HOSTKEY",
                `${ep.name}: host key changed or wrong! pinned ${pinned.type} ${fingerprint(pinned.blob)}, ` +
                  `the host presented ${got}. Nothing was sent. If the host was reinstalled, verify and update host_key.`,
              )
            : new BackupError(
                "SSH_HOSTKEY_UNKNOWN",
                `${ep.name}: no host_key is pinned; the host presented ${got}. ` +
                  `Verify it and set host_key, e.g. with: ssh-keyscan -p ${ep.port} ${ep.host}`,
              ),
        );
        return;
      }
      finish(connectError(ep, err));
    });
    // After "ready", a dropped connection ends running channels; errors must not crash the process.
    client.on("close", () => finish(new BackupError("SSH_CONNECT", `${ep.name}: connection closed during handshake`)));
    try {
      client.connect({
        host: ep.host,
        port: ep.port,
        username: ep.user,
        privateKey,
        readyTimeout: ep.readyTimeoutMs ?? 20_000,
        keepaliveInterval: ep.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 4,
        algorithms: {
          cipher: (ep.cipher ? [ep.cipher] : CIPHERS) as ssh2.CipherAlgorithm[],
          compress: (ep.compress ? ["zlib@openssh.com", "zlib", "none"] : ["none"]) as ssh2.CompressionAlgorithm[],
          ...(pinned ? { serverHostKey: hostKeyAlgorithms(pinned.type) as ssh2.ServerHostKeyAlgorithm[] } : {}),
        },
        hostVerifier: (key: Buffer) => {
          presented = Buffer.from(key);
          return pinned !== undefined && presented.equals(pinned.blob);
        },
      });
    } catch (err) {
      finish(
        new BackupError("SSH_IDENTITY", `${ep.name}: cannot use identity ${ep.identity}: ${(err as Error).message}`, {
          cause: err,
        }),
      );
    }
  });
}

/** The host key a server presents, fetched without authenticating ("ssh-ed25519 AAAA…" and its fingerprint). */
export async function fetchHostKey(
  host: string,
  port: number,
  timeoutMs = 15_000,
): Promise<{ key: string; fingerprint: string }> {
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    let got: Buffer | undefined;
    const done = (err: BackupError | null): void => {
      client.end();
      if (got) resolve({ key: `${keyTypeOf(got)} ${got.toString("base64")}`, fingerprint: fingerprint(got) });
      else reject(err ?? new BackupError("SSH_CONNECT", `${host}:${port}: no host key received`));
    };
    client.on("error", (err: Error & { code?: string }) =>
      done(
        new BackupError(
          "SSH_CONNECT",
          `${host}:${port}: cannot connect: ${err.code ? `${err.code} ` : ""}${err.message}`,
          { cause: err },
        ),
      ),
    );
    client.on("close", () => done(null));
    client.connect({
      host,
      port,
      username: "bzman-trust",
      readyTimeout: timeoutMs,
      algorithms: {
        serverHostKey: [
          "ssh-ed25519",
          "ecdsa-sha2-nistp256",
          "ecdsa-sha2-nistp384",
          "ecdsa-sha2-nistp521",
          "rsa-sha2-512",
          "rsa-sha2-256",
        ],
      },
      // Capture the key and refuse it: nothing is authenticated, nothing is run.
      hostVerifier: (key: Buffer) => {
        got = Buffer.from(key);
        return false;
      },
    });
  });
}
