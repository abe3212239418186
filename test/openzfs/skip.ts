// Whether the OpenZFS tier can run here: root, QEMU and a built guest of the series under test (test/openzfs/run.sh builds
// it). In CI a missing part fails the run; elsewhere the tier skips and says why.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { SERIES, vmCache } from "./guest.ts";

/** False when the guest can boot here; a reason to skip when not (outside CI only). */
export function vmSkip(): string | false {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("root");
  if (!existsSync("/usr/bin/qemu-system-x86_64")) missing.push("qemu-system-x86");
  const cache = vmCache();
  if (!existsSync(join(cache, "BUILT")))
    missing.push(`a built OpenZFS ${SERIES} guest in ${cache} (bash test/openzfs/vm.sh build ${cache} ${SERIES})`);
  if (missing.length === 0) return false;
  const why = `the OpenZFS tier needs ${missing.join(", ")}`;
  if (process.env.CI) throw new Error(`${why}; CI must provide them (.ci/run and test/openzfs/run.sh do)`);
  process.stderr.write(`\n*** SKIPPING: ${why} (in CI this fails) ***\n\n`);
  return why;
}
