// The OpenZFS guest of the OpenZFS test tier: boots test/openzfs/vm.sh's QEMU guest with sshd
// inside, reachable only on a forwarded 127.0.0.1 port. Two keys: bzman's, bound to the source
// guard as forced command (the guest is the source host), and an admin key for the test's own
// setup. `bin/zfs` and `bin/zpool` are wrappers that run those commands in the guest, so a bzman
// started with `bin` first in PATH has the guest's pools as its local backup pools: both ends of
// every transfer are real OpenZFS.

import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GUARD } from "../../server/sandbox/rig.ts";
import { freePort, makeKey } from "../../server/sandbox/sshd.ts";
import { REPO, sleep } from "../helpers/sandbox.ts";

/** Where the guest is built once and reused (outside the clone). */
export const VM_CACHE = process.env.BZMAN_VM_CACHE ?? "/var/cache/bzman-openzfs-vm";

/** A booted guest. */
export interface Guest {
  dir: string;
  port: number;
  /** bzman's key (forced command: the guard with `--root src --allow-resume`). */
  identity: string;
  /**
   * A second bzman key whose guard runs `zfs` through /mnt/share/zfs-cut: every `zfs send`
   * stream is cut after 2 MiB by `head -c` and the command still exits 0 (a fault on demand).
   */
  cutIdentity: string;
  /** The guest's host key as bzman's config wants it. */
  hostKey: string;
  /** A directory with `zfs` and `zpool` that run in the guest; put it first in PATH. */
  bin: string;
  /** Runs argv as root in the guest; rejects on a non-zero exit with its stderr. */
  admin(argv: string[], input?: Buffer): Promise<string>;
  /** Stops the guest: asks it to power off, kills QEMU after 10 s (its disk is a throwaway snapshot). */
  stop(): Promise<void>;
}

/** Quotes one argument for the guest's POSIX shell. */
export const shq = (a: string): string => (/^[\w@%+=:,./#-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

function run(argv: string[], input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.slice(-1)[0]} exited ${code}: ${err.trim()}`))));
    child.stdin.end(input);
  });
}

/** Boots the guest (built in {@link VM_CACHE}) and resolves once root can log in over SSH. */
export async function startGuest(): Promise<Guest> {
  const dir = mkdtempSync(join(tmpdir(), "bzman-openzfs-"));
  const share = join(dir, "share");
  const bin = join(dir, "bin");
  mkdirSync(share);
  mkdirSync(bin);
  const identity = join(dir, "id_bzman");
  const adminKey = join(dir, "id_admin");
  const bzmanPub = await makeKey(identity, "bzman");
  const cutIdentity = join(dir, "id_cut");
  const cutPub = await makeKey(cutIdentity, "bzman-cut");
  const adminPub = await makeKey(adminKey, "bzman-test-admin");
  const hostPub = await makeKey(join(share, "host_key"), "openzfs-vm");
  copyFileSync(GUARD, join(share, "bzman-guard"));
  writeFileSync(join(share, "authorized_keys"), [
    `restrict,command="/bin/sh /mnt/share/bzman-guard --root src --allow-resume" ${bzmanPub}`,
    `restrict,command="/bin/sh /mnt/share/bzman-guard --root src --allow-resume --zfs /mnt/share/zfs-cut" ${cutPub}`,
    adminPub, "",
  ].join("\n"));
  writeFileSync(join(share, "zfs-cut"), [
    "#!/bin/sh",
    "# zfs, but a stream of `zfs send` ends after 2 MiB, and the command still exits 0.",
    'if [ "$1" = send ] && [ "$2" != -n ]; then zfs "$@" | head -c 2097152; exit 0; fi',
    'exec zfs "$@"', "",
  ].join("\n"), { mode: 0o755 });
  writeFileSync(join(share, "sshd_config"), [
    "Port 22", "HostKey /etc/ssh/bzman_host_key", "AuthorizedKeysFile /etc/ssh/bzman_authorized_keys",
    "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
    "UsePAM no", "StrictModes no", "MaxSessions 32", "MaxStartups 64", "UseDNS no", "",
  ].join("\n"));
  writeFileSync(join(share, "guest.sh"), [
    "#!/bin/sh",
    "# Runs in the guest: sshd with the test's keys until the host asks it to stop.",
    "set -e",
    "install -m 0600 /mnt/share/host_key /etc/ssh/bzman_host_key",
    "install -m 0600 /mnt/share/authorized_keys /etc/ssh/bzman_authorized_keys",
    "mkdir -p /run/sshd",
    "/usr/sbin/sshd -f /mnt/share/sshd_config -E /mnt/share/sshd.log",
    "touch /mnt/share/ready",
    "while [ ! -e /mnt/share/stop ]; do sleep 1; done",
    "zpool export -a || true",
    "",
  ].join("\n"), { mode: 0o755 });

  const port = await freePort();
  const [type, key] = hostPub.split(" ");
  const known = join(dir, "known_hosts");
  writeFileSync(known, `[127.0.0.1]:${port} ${type} ${key}\n`);
  const sshConfig = join(dir, "ssh_config");
  writeFileSync(sshConfig, [
    "Host guest", "  HostName 127.0.0.1", `  Port ${port}`, "  User root", `  IdentityFile ${adminKey}`, "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${known}`, "  StrictHostKeyChecking yes", "  BatchMode yes", "  LogLevel ERROR",
    "  Ciphers aes128-gcm@openssh.com", "  ControlMaster auto", `  ControlPath ${join(dir, "cm-%C")}`, "  ControlPersist 120", "",
  ].join("\n"));
  for (const tool of ["zfs", "zpool"]) {
    writeFileSync(join(bin, tool), [
      "#!/bin/bash",
      `# ${tool} in the OpenZFS test guest, argv quoted for its shell; stdin and stdout pass through.`,
      `exec ssh -F ${sshConfig} guest -- "$(printf '%q ' ${tool} "$@")"`, "",
    ].join("\n"), { mode: 0o755 });
  }

  const console = join(dir, "console.log");
  const qemu: ChildProcess = spawn("bash", [join(REPO, "test/openzfs/vm.sh"), "boot", VM_CACHE, share, String(port)], {
    detached: true, stdio: ["ignore", "pipe", "pipe"],
  });
  qemu.stdout!.on("data", (c) => writeFileSync(console, c, { flag: "a" }));
  qemu.stderr!.on("data", (c) => writeFileSync(console, c, { flag: "a" }));
  let exited = false;
  const gone = new Promise<void>((r) => qemu.once("close", () => ((exited = true), r())));
  const kill = (): void => {
    if (!exited && qemu.pid) try { process.kill(-qemu.pid, "SIGKILL"); } catch { /* already gone */ }
  };
  // QEMU runs in its own process group (so one kill stops vm.sh, timeout and QEMU): take it
  // along when this process exits or is told to stop.
  const onSignal = (signal: NodeJS.Signals): void => {
    kill();
    process.kill(process.pid, signal);
  };
  process.once("exit", kill);
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);

  const admin = (argv: string[], input?: Buffer): Promise<string> =>
    run(["ssh", "-F", sshConfig, "guest", "--", argv.map(shq).join(" ")], input);
  const stop = async (): Promise<void> => {
    writeFileSync(join(share, "stop"), "");
    await run(["ssh", "-F", sshConfig, "-O", "exit", "guest"]).catch(() => undefined);
    await Promise.race([gone, sleep(10_000)]);
    kill();
    await gone;
    process.removeListener("exit", kill);
    process.removeListener("SIGTERM", onSignal);
    process.removeListener("SIGINT", onSignal);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 300_000;
  while (!existsSync(join(share, "ready"))) {
    if (exited || Date.now() > deadline) {
      const tail = existsSync(console) ? readFileSync(console, "utf8").slice(-2000) : "";
      kill();
      throw new Error(`the OpenZFS guest did not start sshd${exited ? " (QEMU exited)" : " within 300 s"}:\n${tail}`);
    }
    await sleep(500);
  }
  for (let i = 0; ; i++) {
    try {
      await admin(["true"]);
      break;
    } catch (err) {
      if (i === 20) throw err;
      await sleep(1000);
    }
  }
  chmodSync(dir, 0o700);
  return { dir, port, identity, cutIdentity, hostKey: `${type} ${key}`, bin, admin, stop };
}
