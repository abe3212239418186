// Which bzman is running: the version of the package.json above this module (server/ in a
// checkout, dist/server/ when built and installed) and the Node.js in use. Read once.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BuildInfo } from "../http/metrics.ts";

let cached: BuildInfo | undefined;

/** bzman's version ("unknown" when no bzman package.json is found) and `process.version`. */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  let version = "unknown";
  for (let dir = dirname(fileURLToPath(import.meta.url)), i = 0; i < 4; dir = dirname(dir), i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "bzman" && pkg.version) {
        version = pkg.version;
        break;
      }
    } catch {
      // not here; look one folder up
    }
  }
  cached = { version, node: process.version };
  return cached;
}
