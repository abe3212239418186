// A root's `exclude:` globs, compiled with minimatch into the RegExps core/selection.ts matches
// against dataset paths relative to the root. Only compiles; never decides what is excluded.

import { makeRe } from "minimatch";
import type { ExcludePattern } from "../core/selection.ts";

/**
 * The RegExp of one `exclude` glob (`*` and `?` within one path part, `**` across parts,
 * `[…]` and `{a,b}`), or null when it is not a usable pattern. No negation, no comments:
 * a leading `!` or `#` is a literal character.
 */
export function compileExclude(pattern: string): RegExp | null {
  const re = makeRe(pattern, { dot: true, nonegate: true, nocomment: true, platform: "linux" });
  return re === false ? null : re;
}

/** Every pattern of a root, compiled. Precondition: each passed config validation. */
export function excludePatterns(patterns: readonly string[]): ExcludePattern[] {
  return patterns.map((pattern) => ({ pattern, re: compileExclude(pattern)! }));
}

/** Why `pattern` cannot be an exclude pattern, or null when it can. */
export function excludeProblem(pattern: string): string | null {
  if (pattern.startsWith("/"))
    return `"${pattern}" starts with "/": patterns are paths below the root, like "scratch" or "*/tmp"`;
  if (pattern.split("/").some((p) => p === "." || p === ".."))
    return `"${pattern}" has a "." or ".." part: patterns are paths below the root`;
  return compileExclude(pattern) === null ? `"${pattern}" is not a glob pattern` : null;
}
