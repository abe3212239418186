// The files a config names that bzman must read (each source's identity and restore identity,
// http.token_file): whether each is readable by this process, with the key's path in the config.
// It opens nothing for writing and changes nothing.

import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import type { Config } from "../config/schema.ts";

/** Every file the config names for reading, with its key's path in the file. */
export function namedFiles(config: Config): Array<{ key: string; path: string }> {
  const out: Array<{ key: string; path: string }> = [];
  config.sources.forEach((s, i) => {
    out.push({ key: `sources[${i}].identity`, path: s.identity });
    if (s.restoreIdentity) out.push({ key: `sources[${i}].restore_identity`, path: s.restoreIdentity });
  });
  if (config.http.tokenFile) out.push({ key: "http.token_file", path: config.http.tokenFile });
  return out;
}

/** "KEY: FILE: why" for each named file that is missing, not a file, or not readable here. */
export async function unreadableFiles(config: Config): Promise<string[]> {
  const problems: string[] = [];
  for (const { key, path } of namedFiles(config)) {
    try {
      if (!(await stat(path)).isFile()) {
        problems.push(`${key}: ${path} is not a file`);
        continue;
      }
      await access(path, constants.R_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === "ENOENT"
          ? "does not exist"
          : code === "EACCES"
            ? "is not readable by this user"
            : `cannot be read (${code ?? (err as Error).message})`;
      problems.push(`${key}: ${path} ${why}`);
    }
  }
  return problems;
}
