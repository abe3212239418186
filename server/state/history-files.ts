// Where the history lives on disk and what a file there is: the database's name derived from
// the config's `state:`, the previous version's JSON file beside it, moving an unreadable file
// aside. No SQL here.

import { closeSync, existsSync, openSync, readSync, renameSync } from "node:fs";
import { looksLikeJson } from "./legacy-json.ts";
import { SQLITE_MAGIC } from "./schema.ts";

/** The files of one history. */
export interface HistoryPaths {
  /** The SQLite database. */
  db: string;
  /** Where the previous version kept its JSON file (may equal `db`). */
  legacy: string;
  /** Where a migrated JSON file is kept. */
  backup: string;
}

/**
 * The files of the history configured as `state:`. A name ending in `.json` (the previous
 * default, /var/lib/bzman/state.json) keeps its JSON there and gets the database beside it with
 * `.sqlite` instead (state.sqlite); any other name is the database itself, and a JSON file found
 * under it is migrated in place. Either way the migrated JSON is kept as `<json>.migrated`.
 */
export function historyPaths(state: string): HistoryPaths {
  const db = state.endsWith(".json") ? `${state.slice(0, -".json".length)}.sqlite` : state;
  return { db, legacy: state, backup: `${state}.migrated` };
}

/** What a file holds, judged by its first bytes. */
export type FileKind = "missing" | "empty" | "sqlite" | "json" | "other";

/** The kind of the file at `path`. */
export function fileKind(path: string): FileKind {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw err;
  }
  try {
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n === 0) return "empty";
    if (n >= SQLITE_MAGIC.length && head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) return "sqlite";
    return looksLikeJson(head.subarray(0, n)) ? "json" : "other";
  } finally {
    closeSync(fd);
  }
}

/** A time stamp for file names: 20261126T120000123Z. */
function stamp(nowMs: number): string {
  return new Date(nowMs).toISOString().replace(/[-:.]/g, "");
}

/**
 * Renames an unreadable file (and a database's -wal and -shm beside it) to
 * `<file>.corrupt-<time>` and returns that name. Nothing is deleted.
 */
export function moveAside(path: string, nowMs: number): string {
  const aside = `${path}.corrupt-${stamp(nowMs)}`;
  renameSync(path, aside);
  for (const ext of ["-wal", "-shm", "-journal"]) {
    if (existsSync(path + ext)) renameSync(path + ext, aside + ext);
  }
  return aside;
}
