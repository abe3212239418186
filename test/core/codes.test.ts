// The one list of codes (server/core/codes.ts): every code server/ uses is in it, the conflict
// codes are the planner's conflict kinds, no plain Error is thrown, and README's table is the list.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CODES,
  CONDITION_CODES,
  CONFLICT_CODES,
  ERROR_CODES,
  isCode,
  type ConflictCode,
} from "../../server/core/codes.ts";
import type { Conflict } from "../../server/core/conflicts.ts";

const SERVER = fileURLToPath(new URL("../../server", import.meta.url));
const README = fileURLToPath(new URL("../../README.md", import.meta.url));

/**
 * Literals in a code's place that are not bzman's codes: errno names, driver codes, env names,
 * Node's stream errors.
 */
const NOT_CODES = new Set([
  "EPERM",
  "EACCES",
  "EEXIST",
  "ENOENT",
  "SQLITE_BUSY",
  "BZMAN_CONFIG",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) =>
    statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith(".ts") ? [join(dir, f)] : [],
  );
}

const sources = files(SERVER)
  .filter((f) => !f.endsWith("core/codes.ts"))
  .map((f) => ({ rel: relative(SERVER, f), src: readFileSync(f, "utf8") }));

test("every code server/ uses is in the list", () => {
  // A literal in a code's place (thrown, stored, compared, advised), or any UPPER_SNAKE literal.
  const inPlace =
    /(?:BackupError\(\s*|\bcode:\s*|\bcode\s*[!=]==\s*|\bcode\s*\?\?\s*|adviceFor\()"([A-Za-z][\w-]*)"(?=[,):;\s])/g;
  const snake = /"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g;
  const unknown: string[] = [];
  for (const { rel, src } of sources) {
    const found = [...src.matchAll(inPlace)]
      .map((m) => m[1]!)
      .filter((c) => /^[A-Z][A-Z_]+$/.test(c) || c.includes("-"));
    for (const code of [...found, ...[...src.matchAll(snake)].map((m) => m[1]!)]) {
      if (!isCode(code) && !NOT_CODES.has(code)) unknown.push(`${rel}: ${code}`);
    }
  }
  assert.deepEqual([...new Set(unknown)], []);
});

test("the list has no code twice, and each says what it means", () => {
  const keys = [ERROR_CODES, CONDITION_CODES, CONFLICT_CODES].flatMap((t) => Object.keys(t));
  assert.equal(new Set(keys).size, keys.length);
  for (const [code, info] of Object.entries(CODES)) assert.ok(info.text.length > 10, code);
  // Only connectivity and interrupted streams may help on a retry; conditions and conflicts never do.
  for (const info of [...Object.values(CONDITION_CODES), ...Object.values(CONFLICT_CODES)])
    assert.equal(info.transient, false);
});

test('the conflict codes are the planner\'s conflict kinds, and "conflict" for a record without one', () => {
  // A compile-time check: a conflict kind missing from the list fails the type check.
  const kinds: Record<Conflict["kind"], true> = {
    "no-common-snapshot": true,
    diverged: true,
    "target-exists": true,
    "no-source-snapshots": true,
    "source-missing": true,
    "unsafe-name": true,
  };
  const every: Conflict["kind"] extends ConflictCode ? true : never = true;
  assert.ok(every);
  assert.deepEqual(Object.keys(CONFLICT_CODES).sort(), [...Object.keys(kinds), "conflict"].sort());
});

test("server/ throws only BackupError", () => {
  const plain = sources.filter(({ src }) => /\bnew (?:Type|Range)?Error\(/.test(src)).map(({ rel }) => rel);
  assert.deepEqual(plain, []);
});

test("README's table of codes is the list", () => {
  const rows = readFileSync(README, "utf8")
    .split("\n")
    .flatMap((l) => {
      const m = /^\| `([^`]+)` \| (error|condition|conflict) \| (yes|no) \| (.+) \|$/.exec(l);
      return m ? [[m[1]!, m[2]!, m[3] === "yes", m[4]!] as const] : [];
    });
  const kind = (c: string): string => (c in ERROR_CODES ? "error" : c in CONDITION_CODES ? "condition" : "conflict");
  assert.deepEqual(
    rows,
    Object.entries(CODES).map(([c, i]) => [c, kind(c), i.transient, i.text]),
  );
});
