// The report as text: the mail's plain part and `bzman report --print`, fitted to a width.

import textTable from "text-table";
import prettyBytes from "pretty-bytes";
import type { ReportModel } from "../core/summary.ts";

const lag = (s: number | null): string =>
  s === null ? "never" : s < 3600 ? `${Math.round(s / 60)}m` : `${(s / 3600).toFixed(1)}h`;

/** The report as an aligned table no wider than `width` (dataset names are shortened to fit). */
export function reportTextTable(r: ReportModel, width: number): string {
  const cut = (s: string, n: number): string => (s.length <= n ? s : `…${s.slice(s.length - n + 1)}`);
  const render = (nameWidth: number, newestWidth: number): string => {
    // text-table: columns two spaces apart, linear in the rows (this renders again while it narrows).
    const t: string[][] = [["DATASET", "STATE", "NEWEST", "LAG", "PASSES", "FAILURES", "BYTES", "TIME"]];
    for (const x of r.rows)
      t.push([
        cut(`${x.source}:${x.dataset}`, nameWidth),
        x.state.toUpperCase(),
        cut(x.newest ? `@${x.newest}` : "-", newestWidth),
        lag(x.lagSeconds),
        String(x.passes),
        String(x.failures),
        prettyBytes(x.bytes),
        `${(x.transferMs / 1000).toFixed(1)}s`,
      ]);
    return textTable(t).replace(/[ \t]+$/gm, "");
  };
  // Shorten the dataset names first, then the snapshot names, until the table fits.
  let nameWidth = 50;
  let newestWidth = 24;
  let table = render(nameWidth, newestWidth);
  for (let i = 0; i < 100; i++) {
    const over = Math.max(...table.split("\n").map((l) => l.length)) - width;
    if (over <= 0) break;
    if (nameWidth > 12) nameWidth = Math.max(12, nameWidth - over);
    else if (newestWidth > 10) newestWidth = Math.max(10, newestWidth - over);
    else break;
    table = render(nameWidth, newestWidth);
  }
  const lines = [
    cut(`bzman report ${r.from} — ${r.to}`, width),
    cut(
      `${r.totals.passes} passes, ${r.totals.failures} failures, ${prettyBytes(r.totals.bytes)} moved, ${r.totals.datasets} datasets`,
      width,
    ),
    "",
    table,
  ];
  for (const c of r.checks)
    lines.push(
      cut(
        `${c.kind === "drill" ? "restore drill" : "scrub"} of ${c.subject} at ${c.at.slice(0, 16).replace("T", " ")}: ${c.result === "ok" ? "ok" : `FAILED: ${c.message}`}`,
        width,
      ),
    );
  if (r.problems.length) lines.push("", "PROBLEMS:", ...r.problems.map((p) => `  - ${cut(p, width - 4)}`));
  return `${lines.join("\n")}\n`;
}
