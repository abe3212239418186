// A private OpenSSH sshd on a free loopback port, with its own host key and authorized_keys —
// the "source host" of sandboxes. Never touches the system sshd or /etc/ssh.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { startDaemon } from "./daemon.ts";
import { must } from "./zfs-pools.ts";
import { BackupError } from "../errors.ts";

/** A running private sshd. */
export interface Sshd {
  port: number;
  /** The host key as config's host_key wants it ("ssh-ed25519 AAAA…"). */
  hostKey: string;
  pid: number;
  logPath: string;
  stop(): Promise<void>;
  /** Leaves sshd running after this process exits. */
  release(): void;
}

/** Generates an ed25519 key pair at `path`; returns the public key line. */
export async function makeKey(path: string, comment = "bzman"): Promise<string> {
  await must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim();
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function listening(port: number): Promise<boolean> {
  const { connect } = await import("node:net");
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

/**
 * Starts sshd in `dir` reading keys from the file `authorizedKeys` (as install-source.sh wrote
 * it), or from these lines (each may carry options like restrict,command=…), written to `dir`.
 */
export async function startSshd(dir: string, authorizedKeys: string | string[]): Promise<Sshd> {
  mkdirSync(dir, { recursive: true });
  mkdirSync("/run/sshd", { recursive: true });
  const hostKeyPath = join(dir, "ssh_host_ed25519_key");
  const hostPub = await makeKey(hostKeyPath, "bzman-sandbox-host");
  const keysFile = typeof authorizedKeys === "string" ? authorizedKeys : join(dir, "authorized_keys");
  if (typeof authorizedKeys !== "string") writeFileSync(keysFile, `${authorizedKeys.join("\n")}\n`, { mode: 0o600 });
  const logPath = join(dir, "sshd.log");
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKeyPath}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${keysFile}`,
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "LogLevel VERBOSE",
        "MaxStartups 64",
        "MaxSessions 32",
        "Subsystem sftp internal-sftp",
        // Sessions run as root, whose login shell here is the machine's (bash). Debian's bash reads
        // ~/.bashrc for a command over SSH unless SHLVL says it is not the top-level shell; this
        // keeps the sandbox's source as light as the account install-source.sh creates (/bin/sh).
        "SetEnv SHLVL=1",
        "",
      ].join("\n"),
    );
    const d = startDaemon(["/usr/sbin/sshd", "-D", "-e", "-f", config], logPath);
    for (let i = 0; i < 50; i++) {
      if (await listening(port)) {
        const [type, key] = hostPub.split(" ");
        return {
          port,
          hostKey: `${type} ${key}`,
          pid: d.pid,
          logPath,
          stop: () => d.stop(),
          release: () => d.release(),
        };
      }
      if (await Promise.race([d.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]))
        break;
    }
    await d.stop();
  }
  throw new BackupError(
    "SANDBOX",
    `sshd did not start (log: ${logPath}): ${readFileSync(logPath, "utf8").slice(-500)}`,
  );
}
