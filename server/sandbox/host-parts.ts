// The Debian parts a sandbox needs (zfs-fuse, OpenSSH's sshd), found or installed with apt-get.

import { existsSync } from "node:fs";
import { LocalRunner } from "../zfs/runner.ts";
import { BackupError } from "../errors.ts";

/** Debian package → a file it installs. */
export const SANDBOX_PACKAGES: Record<string, string> = {
  "zfs-fuse": "/usr/sbin/zfs-fuse",
  "openssh-server": "/usr/sbin/sshd",
  "openssh-client": "/usr/bin/ssh-keygen",
};

/** What the test suite needs beyond the sandbox: linters, shells, a browser, syslog, systemd tools, promtool. */
export const TEST_PACKAGES: Record<string, string> = {
  shellcheck: "/usr/bin/shellcheck",
  busybox: "/usr/bin/busybox",
  "libxml2-utils": "/usr/bin/xmllint",
  systemd: "/usr/bin/systemd-analyze",
  chromium: "/usr/bin/chromium",
  rsyslog: "/usr/sbin/rsyslogd",
  prometheus: "/usr/bin/promtool",
};

/** What the OpenZFS tier needs to build and boot its QEMU guest (test/openzfs/vm.sh). */
export const VM_PACKAGES: Record<string, string> = {
  "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
  "qemu-utils": "/usr/bin/qemu-img",
  debootstrap: "/usr/sbin/debootstrap",
  cpio: "/usr/bin/cpio",
};

/** The packages of `set` (default: the sandbox's) that are not installed. */
export function missingPackages(set: Record<string, string> = SANDBOX_PACKAGES): string[] {
  return Object.entries(set)
    .filter(([, file]) => !existsSync(file))
    .map(([pkg]) => pkg);
}

/** Installs the missing packages of `set` with apt-get (root only); resolves with what was installed. */
export async function ensurePackages(
  log: (line: string) => void,
  set: Record<string, string> = SANDBOX_PACKAGES,
): Promise<string[]> {
  const missing = missingPackages(set);
  if (missing.length === 0) return [];
  if (process.getuid?.() !== 0)
    throw new BackupError(
      "SANDBOX",
      `missing ${missing.join(", ")}: run as root to install them, or: apt-get install -y ${missing.join(" ")}`,
    );
  const runner = new LocalRunner();
  log(`installing ${missing.join(", ")} with apt-get…`);
  process.env.DEBIAN_FRONTEND = "noninteractive"; // inherited by apt-get
  for (const argv of [
    ["apt-get", "update", "-qq"],
    ["apt-get", "install", "-y", "-qq", ...missing],
  ]) {
    const r = await runner.run(argv);
    if (r.code !== 0)
      throw new BackupError(
        "SANDBOX",
        `${argv.join(" ")} failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`,
      );
  }
  return missing;
}
