// The metric names a PromQL expression reads (for checking shipped rules and dashboards against
// what bzman exports). A small tokenizer, not a parser: strings, label matchers, ranges and
// grouping label lists are removed; what remains of identifiers that are not functions,
// aggregations or keywords are metric names. Grafana's $variables are removed first.

const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "inf",
  "nan",
  "atan2",
]);

/** The metric names `expr` reads, in order of appearance, without repeats. */
export function metricsIn(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  s = s.replace(/\$\{[^}]*\}|\$\w+/g, " ");
  s = s.replace(/\{[^}]*\}/g, " ").replace(/\[[^\]]*\]/g, " ");
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const out: string[] = [];
  for (const m of s.matchAll(/\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*|[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?/g)) {
    const tok = m[0];
    if (/^\d/.test(tok) || m[1] !== undefined) continue;
    if (KEYWORDS.has(tok.toLowerCase()) || out.includes(tok)) continue;
    out.push(tok);
  }
  return out;
}
