// Strict parsers for zfs output (`-H -p`, tab-separated) and the stderr classifier that turns
// zfs's messages into error codes. Anything unexpected is ZFS_PARSE, never guessed around.

import type { DatasetType, Listing, Snapshot } from "../core/model.ts";
import { BackupError, type ErrorCode } from "../errors.ts";
import { SELECT_PROPERTY } from "../core/naming.ts";
import type { Marks, TargetMarks } from "../core/unchanged.ts";

/** The columns asked of `zfs list -H -p -o …` (see args.ts), in order. */
export const LIST_COLUMNS = ["name", "type", "guid", "createtxg", "creation", "userrefs"] as const;

interface Row {
  name: string;
  type: string | undefined;
  guid: string | undefined;
  createtxg: string | undefined;
  creation: string | undefined;
  receive_resume_token: string | undefined;
  userrefs: string | undefined;
  select: string | undefined;
}

const DIGITS = /^\d+$/;

function fail(line: number, text: string, why: string): never {
  throw new BackupError("ZFS_PARSE", `zfs output line ${line}: ${why}`, { detail: text.slice(0, 300) });
}

const GET_PROPERTIES = new Set([
  "guid",
  "createtxg",
  "creation",
  "type",
  "receive_resume_token",
  "userrefs",
  SELECT_PROPERTY,
]);

function toListing(rows: Map<string, Row>): Listing {
  const listing: Listing = new Map();
  const snapshots: Array<[string, Snapshot]> = [];
  const bookmarks: Array<[string, Snapshot]> = [];
  for (const row of rows.values()) {
    const { guid, createtxg, creation } = row;
    if (!guid || !DIGITS.test(guid) || !createtxg || !DIGITS.test(createtxg) || !creation || !DIGITS.test(creation)) {
      throw new BackupError("ZFS_PARSE", `zfs output for ${row.name}: guid, createtxg and creation must be numbers`, {
        detail: JSON.stringify(row),
      });
    }
    const hash = row.name.indexOf("#");
    if (hash >= 0) {
      bookmarks.push([
        row.name.slice(0, hash),
        { name: row.name.slice(hash + 1), guid, createtxg: Number(createtxg), creation: Number(creation) },
      ]);
      continue;
    }
    const at = row.name.indexOf("@");
    if (at >= 0) {
      const snap: Snapshot = {
        name: row.name.slice(at + 1),
        guid,
        createtxg: Number(createtxg),
        creation: Number(creation),
      };
      if (row.userrefs !== undefined && DIGITS.test(row.userrefs)) snap.userrefs = Number(row.userrefs);
      snapshots.push([row.name.slice(0, at), snap]);
      continue;
    }
    if (row.type !== "filesystem" && row.type !== "volume") {
      throw new BackupError("ZFS_PARSE", `zfs output for ${row.name}: unexpected type "${row.type}"`);
    }
    const token = row.receive_resume_token;
    listing.set(row.name, {
      name: row.name,
      type: row.type as DatasetType,
      guid,
      snapshots: [],
      ...(token && token !== "-" ? { resumeToken: token } : {}),
      ...(row.select !== undefined && row.select !== "-" && row.select !== "" ? { select: row.select } : {}),
    });
  }
  for (const [dataset, snap] of snapshots) listing.get(dataset)?.snapshots.push(snap);
  for (const [dataset, mark] of bookmarks) {
    const d = listing.get(dataset);
    if (d?.bookmarks) d.bookmarks.push(mark);
    else if (d) d.bookmarks = [mark];
  }
  for (const d of listing.values()) {
    d.snapshots.sort((a, b) => a.createtxg - b.createtxg);
    d.bookmarks?.sort((a, b) => a.createtxg - b.createtxg);
  }
  return listing;
}

/** Parses `zfs get -H -p -o name,property,value guid,createtxg,creation,type,userrefs[,receive_resume_token][,bzman:backup] -r …`. */
export function parseGetListing(stdout: string): Listing {
  const rows = new Map<string, Row>();
  // One pass over the text, cutting fields by index: no array per line. zfs prints a dataset's
  // properties on consecutive lines, so the previous row is reused without a lookup.
  let prev: Row | undefined;
  let start = 0;
  let line = 0;
  while (start < stdout.length) {
    let end = stdout.indexOf("\n", start);
    if (end < 0) end = stdout.length;
    line++;
    if (end > start) {
      const t1 = stdout.indexOf("\t", start);
      const t2 = t1 >= 0 && t1 < end ? stdout.indexOf("\t", t1 + 1) : -1;
      const t3 = t2 >= 0 && t2 < end ? stdout.indexOf("\t", t2 + 1) : -1;
      if (t1 < 0 || t1 >= end || t2 < 0 || t2 >= end || (t3 >= 0 && t3 < end)) {
        const text = stdout.slice(start, end);
        fail(line, text, `expected 3 tab-separated fields, got ${text.split("\t").length}`);
      }
      const property = stdout.slice(t1 + 1, t2);
      if (!GET_PROPERTIES.has(property)) fail(line, stdout.slice(start, end), `unexpected property "${property}"`);
      let row =
        prev !== undefined && t1 - start === prev.name.length && stdout.startsWith(prev.name, start) ? prev : undefined;
      if (!row) {
        const name = stdout.slice(start, t1);
        row = rows.get(name);
        if (!row) {
          row = {
            name,
            type: undefined,
            guid: undefined,
            createtxg: undefined,
            creation: undefined,
            receive_resume_token: undefined,
            userrefs: undefined,
            select: undefined,
          };
          rows.set(name, row);
        }
      }
      prev = row;
      (row as unknown as Record<string, string>)[property === SELECT_PROPERTY ? "select" : property] = stdout.slice(
        t2 + 1,
        end,
      );
    }
    start = end + 1;
  }
  return toListing(rows);
}

/** Parses `zfs list -H -p -o name,type,guid,createtxg,creation,userrefs[,receive_resume_token][,bzman:backup] -t … -r …`. */
export function parseListListing(stdout: string, withResumeToken: boolean, withSelect = false): Listing {
  const columns = [
    ...LIST_COLUMNS,
    ...(withResumeToken ? ["receive_resume_token"] : []),
    ...(withSelect ? [SELECT_PROPERTY] : []),
  ];
  const selectAt = withResumeToken ? 7 : 6;
  const rows = new Map<string, Row>();
  stdout.split("\n").forEach((text, i) => {
    if (text === "") return;
    const fields = text.split("\t");
    if (fields.length !== columns.length)
      fail(i + 1, text, `expected ${columns.length} tab-separated fields, got ${fields.length}`);
    const row: Row = {
      name: fields[0]!,
      type: fields[1],
      guid: fields[2],
      createtxg: fields[3],
      creation: fields[4],
      userrefs: fields[5],
      receive_resume_token: withResumeToken ? fields[6] : undefined,
      select: withSelect ? fields[selectAt] : undefined,
    };
    rows.set(row.name, row);
  });
  return toListing(rows);
}

/**
 * Parses the cheap per-dataset query (zfs/args.ts marksArgs): one line per dataset, `name guid
 * written [snapshots_changed] bzman:backup`, tab-separated. A line of the wrong shape throws.
 */
export function parseMarks(stdout: string, withChanged: boolean): Marks {
  const marks: Marks = new Map();
  const width = withChanged ? 5 : 4;
  stdout.split("\n").forEach((text, i) => {
    if (text === "") return;
    const f = text.split("\t");
    if (f.length !== width || !/^\d+$/.test(f[1]!)) fail(i + 1, text, `expected ${width} tab-separated fields`);
    const changed = withChanged ? f[3]! : undefined;
    marks.set(f[0]!, {
      guid: f[1]!,
      written: /^\d+$/.test(f[2]!) ? Number(f[2]) : null,
      snapshotsChanged: changed === undefined ? undefined : changed === "-" || changed === "" ? null : changed,
      select: f[width - 1]!,
    });
  });
  return marks;
}

/** Parses the backup's marks (zfs/args.ts targetMarksArgs): `name guid snapshots_changed token` per line. */
export function parseTargetMarks(stdout: string): TargetMarks {
  const marks: TargetMarks = new Map();
  stdout.split("\n").forEach((text, i) => {
    if (text === "") return;
    const f = text.split("\t");
    if (f.length !== 4 || !/^\d+$/.test(f[1]!)) fail(i + 1, text, "expected 4 tab-separated fields");
    marks.set(f[0]!, {
      guid: f[1]!,
      snapshotsChanged: f[2] === "-" || f[2] === "" ? null : f[2]!,
      partial: f[3] !== "-" && f[3] !== "",
    });
  });
  return marks;
}

/** Datasets that `zfs get/list` reported as missing ("cannot open 'x': dataset does not exist"). */
export function missingDatasets(stderr: string): string[] {
  return [...stderr.matchAll(/cannot open '([^']+)': dataset does not exist/g)].map((m) => m[1]!);
}

/** True iff every non-empty stderr line is a "dataset does not exist" report. */
export function onlyMissingDatasets(stderr: string): boolean {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "");
  return lines.length > 0 && lines.every((l) => /cannot open '[^']+': dataset does not exist/.test(l));
}

type Matcher = [ErrorCode, RegExp];

// Order matters: the first match wins. zfs wraps long messages over lines, so text is
// matched with whitespace collapsed.
const MATCHERS: Matcher[] = [
  ["GUARD_REJECTED", /bzman-guard: rejected/],
  ["ZFS_RESUME_STALE", /used in the initial send no longer exists|resume token is corrupt|cannot resume send/i],
  ["ZFS_RECV_RESUMABLE", /partially-complete state|saved partially received state|resume token/i],
  ["ZFS_DEST_MODIFIED", /destination .* has been modified since most recent snapshot/],
  ["ZFS_SNAPSHOT_MISMATCH", /most recent snapshot of .* does not match incremental source/],
  ["ZFS_DEST_EXISTS", /destination '[^']*' exists|must specify -F to overwrite|destination already exists/],
  [
    "ZFS_INVALID_STREAM",
    /invalid backup stream|failed to read from stream|checksum mismatch|incomplete stream|stream ends early|unexpected end of/i,
  ],
  ["ZFS_POOL_MISSING", /no such pool/],
  ["ZFS_DATASET_MISSING", /dataset does not exist|could not find any snapshots|no such dataset/],
  ["ZFS_BUSY", /dataset is busy|pool or dataset is busy/],
  ["ZFS_NO_SPACE", /out of space|no space left/i],
  ["ZFS_PERMISSION", /permission denied|insufficient privileges/i],
  ["ZFS_UNSUPPORTED", /invalid option|unrecognized command|operation not supported|unsupported version/i],
];

/** The error code for zfs's stderr, or null when nothing known matches. */
export function tryClassifyStderr(stderr: string): ErrorCode | null {
  const text = stderr.replace(/\s+/g, " ");
  for (const [code, re] of MATCHERS) if (re.test(text)) return code;
  return null;
}

/** The most telling line of stderr for a one-line message: the first "cannot …" line (re-joined
 * where zfs wrapped it), else the last line. */
export function stderrHeadline(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const i = lines.findIndex((l) => /^(cannot |bzman-guard|error|internal error)/i.test(l));
  if (i < 0) return lines[lines.length - 1] ?? "";
  let headline = lines[i]!;
  for (const next of lines.slice(i + 1)) {
    if (!/^[a-z]/.test(next) || next.includes(":") || /^(must|warning|usage|cannot)\b/.test(next)) break;
    headline += ` ${next}`;
  }
  return headline;
}

/** The byte count from `zfs send -n -P` output ("size\t12345"), or null when absent. */
export function parseSendEstimate(stdout: string): number | null {
  const m = /^size\s+(\d+)\s*$/m.exec(stdout);
  return m ? Number(m[1]) : null;
}

const UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  P: 2 ** 50,
  E: 2 ** 60,
};

/** Bytes from "12345" (-p) or "1.5G" (human). Throws ZFS_PARSE on anything else. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([BKMGTPE]?)$/.exec(text.trim());
  if (!m) throw new BackupError("ZFS_PARSE", `not a size: "${text}"`);
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}

/** A pool's line of `zpool list -H [-p] -o name,health,size,allocated,free,capacity`. */
export function parsePoolStatus(stdout: string): {
  pool: string;
  health: string;
  sizeBytes: number;
  allocatedBytes: number;
  freeBytes: number;
  capacity: number;
} {
  const fields = stdout.trim().split("\t");
  if (fields.length !== 6)
    throw new BackupError("ZFS_PARSE", `zpool list: expected 6 fields, got ${fields.length}`, {
      detail: stdout.slice(0, 300),
    });
  const [pool, health, size, alloc, free, cap] = fields as [string, string, string, string, string, string];
  const sizeBytes = parseSize(size);
  const capNum = /^(\d+)%?$/.exec(cap);
  if (!capNum) throw new BackupError("ZFS_PARSE", `zpool list: capacity "${cap}"`);
  return {
    pool,
    health,
    sizeBytes,
    allocatedBytes: parseSize(alloc),
    freeBytes: parseSize(free),
    capacity: Number(capNum[1]) / 100,
  };
}

/** The scrub state of a pool, from `zpool status` (zfs-fuse's "scrub:" line or OpenZFS's "scan:"). */
export interface ScrubState {
  state: "none" | "running" | "finished" | "canceled";
  /** Errors the last finished scrub found (null while none finished). */
  errors: number | null;
  /** Percent done of a running scrub, where reported. */
  percent?: number;
  /** "N data errors" of the pool's errors: line (0 for "No known data errors"). */
  dataErrors: number;
  /** The checksum error count of the pool's own row. */
  checksumErrors: number;
}

/** Parses `zpool status POOL`. Throws ZFS_PARSE when the text has no state line. */
export function parseScrubStatus(text: string, pool: string): ScrubState {
  if (!/^\s*state:/m.test(text))
    throw new BackupError("ZFS_PARSE", `zpool status ${pool}: no state line`, { detail: text.slice(0, 300) });
  const scan = /^\s*(?:scrub|scan):\s*(.*)$/m.exec(text)?.[1] ?? "";
  // A progress figure may be on the scan line (zfs-fuse) or on the lines after it (OpenZFS).
  const after = text.slice(text.indexOf(scan) + scan.length).split(/\n\s*config:/)[0] ?? "";
  const percent = /([\d.]+)% done/.exec(scan + after)?.[1];
  let state: ScrubState["state"] = "none";
  let errors: number | null = null;
  if (/scrub in progress/.test(scan)) state = "running";
  else if (/scrub (?:canceled|stopped)/.test(scan)) state = "canceled";
  else if (/scrub (?:completed|repaired)/.test(scan)) {
    state = "finished";
    errors = Number(/with (\d+) errors/.exec(scan)?.[1] ?? NaN);
    if (Number.isNaN(errors)) throw new BackupError("ZFS_PARSE", `zpool status ${pool}: scrub line "${scan}"`);
  }
  const errLine = /^\s*errors:\s*(.*)$/m.exec(text)?.[1] ?? "";
  const dataErrors = /no known data errors/i.test(errLine) ? 0 : Number(/(\d+) data errors?/.exec(errLine)?.[1] ?? 0);
  const row = new RegExp(
    `^\\s+${pool.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s+\\S+\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)`,
    "m",
  ).exec(text);
  return {
    state,
    errors,
    ...(percent !== undefined ? { percent: Number(percent) } : {}),
    dataErrors,
    checksumErrors: row ? Number(row[3]) : 0,
  };
}
