// Editing the config file in place for `bzman trust`: sets one source's host_key, keeping every
// comment and the rest of the file as written; the write is atomic (temp file + rename).

import { readFile, rename, writeFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { BackupError } from "../errors.ts";

/** Sets `sources[i].host_key` of the source named `source`; throws when it is not in the file. */
export async function pinHostKey(path: string, source: string, key: string): Promise<void> {
  const text = await readFile(path, "utf8").catch((err: Error) => {
    throw new BackupError("CONFIG_UNREADABLE", `${path}: ${err.message}`, { cause: err });
  });
  const doc = parseDocument(text);
  const sources = doc.toJS()?.sources as Array<{ name?: string }> | undefined;
  const i = sources?.findIndex((s) => s.name === source) ?? -1;
  if (i < 0) throw new BackupError("CONFIG_INVALID", `${path}: no source named "${source}"`);
  doc.setIn(["sources", i, "host_key"], key);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, doc.toString(), { mode: 0o640 });
  await rename(tmp, path);
}
