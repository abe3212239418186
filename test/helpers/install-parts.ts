// Installs the Debian packages the tests need (zfs-fuse, openssh-server, and the test tools) when they
// are missing; run by test/run.sh as root (with `vm`: QEMU and debootstrap for test/openzfs/run.sh).
// Exits non-zero when they cannot be installed.

import { SANDBOX_PACKAGES, TEST_PACKAGES, VM_PACKAGES, ensurePackages } from "../../server/sandbox/host-parts.ts";

ensurePackages(
  (line) => process.stderr.write(`${line}\n`),
  process.argv[2] === "vm" ? VM_PACKAGES : { ...SANDBOX_PACKAGES, ...TEST_PACKAGES },
).then(
  (installed) => installed.length && process.stderr.write(`installed ${installed.join(", ")}\n`),
  (err: Error) => {
    process.stderr.write(`cannot install the test parts: ${err.message}\n`);
    process.exit(1);
  },
);
