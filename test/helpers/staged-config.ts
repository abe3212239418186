// An installed config as the operator would have it on the machine: install.sh staged below a
// test root names its files at their real places (/etc/bzman/id_ed25519); this copy names them
// below the root instead, and a restore key for the one the example names (the operator makes
// it for install-source.sh --restore), so check --config-only can read every file it names.
// Both are written beside the root, never in it, so the staged tree stays as install.sh left it.

import { writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Writes `<root>.staged.yaml` from the installed config in `etc`; returns its path. */
export function stagedConfig(root: string, etc: string): string {
  const dir = `/${etc.replace(/^\/+|\/+$/g, "")}`;
  const restoreKey = `${root}.id_restore`;
  writeFileSync(restoreKey, "a restore key\n", { mode: 0o600 });
  const text = readFileSync(join(root, dir, "bzman.yaml"), "utf8")
    .replaceAll(`${dir}/`, `${join(root, dir)}/`)
    .replace(/^(\s*restore_identity:\s*)\S+/gm, `$1${restoreKey}`);
  const staged = `${root}.staged.yaml`;
  writeFileSync(staged, text);
  return staged;
}
