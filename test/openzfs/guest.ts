// The OpenZFS guest of the OpenZFS test tier: boots test/openzfs/vm.sh's QEMU guest (OpenZFS 2.1
// or 2.3) with sshd inside, reachable only on a forwarded 127.0.0.1 port. The guest is the source
// host: its pools are prepared by the test, then bzman's keys are installed by the shipped
// source-hooks/install-source.sh, run in the guest with the README's arguments (account, guard,
// `zfs allow` delegation, key line), see {@link Guest.installSource}. An admin key (root) is for
// the test's own setup. `bin/zfs` and `bin/zpool` are wrappers that run those commands in the
// guest as root, so a bzman started with `bin` first in PATH has the guest's pools as its local
// backup pools: both ends of every transfer are real OpenZFS.

import { spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { hostname } from "node:os";
import { join } from "node:path";
import { freePort, makeKey } from "../../server/sandbox/sshd.ts";
import { REPO, sleep } from "../helpers/sandbox.ts";

/** The OpenZFS series the tier runs on: `BZMAN_OPENZFS` (2.1 or 2.3; default 2.1). */
export const SERIES = process.env.BZMAN_OPENZFS ?? "2.1";

/**
 * Where the guest of `series` is built once and reused (outside the clone): `BZMAN_VM_CACHE`
 * (default /var/cache/bzman-openzfs-vm) for 2.1, with `-<series>` appended for the others.
 */
export function vmCache(series = SERIES): string {
  const base = process.env.BZMAN_VM_CACHE ?? "/var/cache/bzman-openzfs-vm";
  return series === "2.1" ? base : `${base}-${series}`;
}

/** The comment of bzman's keys, as deploy/install.sh writes it: `bzman@<host name>`. */
export const KEY_COMMENT = `bzman@${hostname()}`;

/** A booted guest. */
export interface Guest {
  dir: string;
  port: number;
  /** Which OpenZFS the guest runs (2.1 or 2.3). */
  series: string;
  /**
   * Makes a new key for bzman (comment `bzman@<host>`, as deploy/install.sh makes it), installs it
   * in the guest as the README says, `install-source.sh --key "<public key>" --root src`, plus
   * `extra` installer arguments (e.g. `--no-resume`, `--guard-option --raw-only`), and returns the
   * private key's path and what the installer printed. Call it once the pools exist (delegation).
   * `/mnt/share/zfs-cut` is a zfs wrapper for `--guard-option "--zfs /mnt/share/zfs-cut"`: it cuts
   * every `zfs send` stream after 2 MiB with `head -c` and still exits 0 (a fault on demand).
   * `/mnt/share/zfs-log` is zfs that first appends its arguments to `/tmp/bzman-zfs.log` (what
   * the guard let through, to count the commands of a pass). `/mnt/share/zfs-nochanged` is that,
   * but refusing `snapshots_changed` as OpenZFS before 2.2 does (bench/unchanged.ts compares).
   */
  installSource(name: string, extra?: string[]): Promise<{ identity: string; output: string }>;
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
    child.once("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${argv.slice(-1)[0]} exited ${code}: ${err.trim()}`)),
    );
    child.stdin.end(input);
  });
}

/** Boots the guest of `series` (built in {@link vmCache}) and resolves once root can log in over SSH. */
export async function startGuest(series = SERIES): Promise<Guest> {
  const dir = mkdtempSync(join(tmpdir(), "bzman-openzfs-"));
  const share = join(dir, "share");
  const bin = join(dir, "bin");
  mkdirSync(share);
  mkdirSync(bin);
  const adminKey = join(dir, "id_admin");
  const adminPub = await makeKey(adminKey, "bzman-test-admin");
  const hostPub = await makeKey(join(share, "host_key"), "openzfs-vm");
  // The shipped source hooks, as an operator copies them onto a source.
  mkdirSync(join(share, "source-hooks"));
  for (const f of ["install-source.sh", "bzman-guard"])
    copyFileSync(join(REPO, "source-hooks", f), join(share, "source-hooks", f));
  // Only the admin key is written by hand: it is the test's root shell, not one of bzman's keys.
  writeFileSync(join(share, "authorized_keys"), `${adminPub}\n`);
  writeFileSync(
    join(share, "zfs-cut"),
    [
      "#!/bin/sh",
      "# zfs, but a stream of `zfs send` ends after 2 MiB, and the command still exits 0.",
      "# Dry runs (-n, -nvt: the guard's token check) pass untouched.",
      'case "$1 $2" in "send -n"*) exec zfs "$@" ;; esac',
      'if [ "$1" = send ]; then zfs "$@" | head -c 2097152; exit 0; fi',
      'exec zfs "$@"',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  writeFileSync(
    join(share, "zfs-log"),
    [
      "#!/bin/sh",
      "# zfs, each command's arguments logged first.",
      "printf '%s\\n' \"$*\" >> /tmp/bzman-zfs.log",
      'exec zfs "$@"',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  writeFileSync(
    join(share, "zfs-nochanged"),
    [
      "#!/bin/sh",
      "# zfs-log, but without the snapshots_changed property (as OpenZFS before 2.2).",
      'case "$*" in *snapshots_changed*) echo "bad property list: invalid property \'snapshots_changed\'" >&2; exit 2 ;; esac',
      'exec /mnt/share/zfs-log "$@"',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  writeFileSync(
    join(share, "sshd_config"),
    [
      "Port 22",
      "HostKey /etc/ssh/bzman_host_key",
      "AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/bzman_authorized_keys",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "MaxSessions 32",
      "MaxStartups 64",
      "UseDNS no",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(share, "guest.sh"),
    [
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
    ].join("\n"),
    { mode: 0o755 },
  );

  const port = await freePort();
  const [type, key] = hostPub.split(" ");
  const known = join(dir, "known_hosts");
  writeFileSync(known, `[127.0.0.1]:${port} ${type} ${key}\n`);
  const sshConfig = join(dir, "ssh_config");
  writeFileSync(
    sshConfig,
    [
      "Host guest",
      "  HostName 127.0.0.1",
      `  Port ${port}`,
      "  User root",
      `  IdentityFile ${adminKey}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${known}`,
      "  StrictHostKeyChecking yes",
      "  BatchMode yes",
      "  LogLevel ERROR",
      "  Ciphers aes128-gcm@openssh.com",
      "  ControlMaster auto",
      `  ControlPath ${join(dir, "cm-%C")}`,
      "  ControlPersist 120",
      "",
    ].join("\n"),
  );
  for (const tool of ["zfs", "zpool"]) {
    writeFileSync(
      join(bin, tool),
      [
        "#!/bin/bash",
        `# ${tool} in the OpenZFS test guest, argv quoted for its shell; stdin and stdout pass through.`,
        `exec ssh -F ${sshConfig} guest -- "$(printf '%q ' ${tool} "$@")"`,
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
  }

  const console = join(dir, "console.log");
  const qemu: ChildProcess = spawn(
    "bash",
    [join(REPO, "test/openzfs/vm.sh"), "boot", vmCache(series), share, String(port)],
    {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  qemu.stdout!.on("data", (c) => writeFileSync(console, c, { flag: "a" }));
  qemu.stderr!.on("data", (c) => writeFileSync(console, c, { flag: "a" }));
  let exited = false;
  const gone = new Promise<void>((r) =>
    qemu.once("close", () => {
      exited = true;
      r();
    }),
  );
  const kill = (): void => {
    if (!exited && qemu.pid)
      try {
        process.kill(-qemu.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
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
      if (i === 20) {
        kill(); // no guest returned, so no stop() will end it
        throw err;
      }
      await sleep(1000);
    }
  }
  chmodSync(dir, 0o700);
  const installSource = async (name: string, extra: string[] = []): Promise<{ identity: string; output: string }> => {
    const identity = join(dir, `id_${name}`);
    const pub = await makeKey(identity, KEY_COMMENT);
    const output = await admin([
      "sh",
      "/mnt/share/source-hooks/install-source.sh",
      "--key",
      pub,
      "--root",
      "src",
      ...extra,
    ]);
    return { identity, output };
  };
  return { dir, port, series, hostKey: `${type} ${key}`, bin, admin, installSource, stop };
}
