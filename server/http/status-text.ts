// The status as an aligned plain-text table for curl (at most 100 columns) and as a small,
// self-contained HTML page (no external assets, no scripts).

import table from "text-table";
import prettyBytes from "pretty-bytes";
import type { DatasetStatus, StatusModel } from "../core/status.ts";

/** Rows as columns two spaces apart (text-table: linear in the rows, unlike a boxed-table library). */
const aligned = (rows: string[][]): string => table(rows).replace(/[ \t]+$/gm, "");

/** "3m", "2h5m", "4d2h"; "-" for null. */
export function age(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d${Math.floor((seconds % 86400) / 3600)}h`;
}

function cut(s: string, n: number): string {
  return s.length <= n ? s : `…${s.slice(s.length - n + 1)}`;
}

/** Time left of a running transfer, when its size was estimated and it is moving. */
export function eta(p: NonNullable<DatasetStatus["progress"]>): string | null {
  if (!p.estimatedBytes || p.bytesPerSecond <= 0) return null;
  return age(Math.max(0, Math.round((p.estimatedBytes - p.bytes) / p.bytesPerSecond)));
}

function state(d: DatasetStatus): string {
  if (d.promoted) return "PROMOTED";
  if (d.excluded !== null) return "excluded";
  if (d.progress) return `running ${prettyBytes(d.progress.bytes)}${eta(d.progress) ? ` ETA ${eta(d.progress)}` : ""}`;
  if (d.lastResult === "failed" || d.lastResult === "conflict") return d.lastResult.toUpperCase();
  if (!d.newest) return "NEVER";
  return d.fresh ? "ok" : "STALE";
}

/** The last error, or the conflict, of a dataset, for one cell. */
function problemOf(d: DatasetStatus): string {
  if (d.excluded !== null) return d.excluded;
  if (d.lastError) return `${d.lastError.code}: ${d.lastError.message}`;
  if (d.lastResult === "conflict") return `${d.lastConflict ?? "conflict"}: ${d.lastMessage ?? ""}`;
  return "";
}

/** The status as text for a terminal: one row per dataset, then pools, then problems. */
export function statusText(m: StatusModel): string {
  const t: string[][] = [["DATASET", "STATE", "NEWEST", "LAG", "GOAL", "BYTES", "TIME", "NEXT"]];
  for (const d of m.datasets) {
    t.push([
      cut(`${d.source}:${d.dataset}`, 30),
      state(d),
      cut(d.newest ? `@${d.newest.name}` : "-", 24),
      age(d.lagSeconds),
      age(d.maxLagSeconds),
      d.lastBytes ? prettyBytes(d.lastBytes) : "-",
      d.lastDurationMs ? `${(d.lastDurationMs / 1000).toFixed(1)}s` : "-",
      d.nextRun ? d.nextRun.slice(11, 19) : "-",
    ]);
  }
  const lines = [
    `bzman status at ${m.generatedAt}: ${m.healthy ? "all well" : `${m.problems.length} problem(s)`}`,
    "",
    aligned(t),
  ];
  if (m.pools.length) {
    const p: string[][] = [["POOL", "HOST", "HEALTH", "USED", "FREE"]];
    for (const x of m.pools)
      p.push([x.pool, x.host, x.health, `${Math.round(x.capacity * 100)}%`, prettyBytes(x.freeBytes)]);
    lines.push("", aligned(p));
  }
  const promoted = m.datasets.filter((d) => d.promoted);
  if (promoted.length)
    lines.push(
      "",
      ...promoted.map(
        (d) =>
          `PROMOTED ${d.source}:${d.dataset} is live as local:${d.promoted!.live} since ${d.promoted!.at}; pulls paused until bzman failback`,
      ),
    );
  const checks = [...m.drills.map((d) => ["drill", d] as const), ...m.scrubs.map((c) => ["scrub", c] as const)];
  if (checks.length) {
    const c: string[][] = [["CHECK", "OF", "WHEN", "RESULT"]];
    for (const [kind, x] of checks)
      c.push([kind, cut(x.subject, 24), x.at.slice(0, 16).replace("T", " "), x.result === "ok" ? "ok" : "FAILED"]);
    lines.push("", aligned(c));
  }
  if (m.keptAside.length) {
    const k: string[][] = [["KEPT ASIDE", "OF", "BY", "WHEN"]];
    for (const x of m.keptAside)
      k.push([
        x.dataset,
        x.subject,
        x.result === "failed" ? `${x.by} (failed)` : x.by,
        x.at.slice(0, 16).replace("T", " "),
      ]);
    lines.push("", aligned(k));
  }
  if (m.problems.length) lines.push("", "PROBLEMS:", ...m.problems.map((x) => `  - ${x}`));
  return `${lines.map((l) => l.replace(/\s+$/gm, "")).join("\n")}\n`;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The status as one small HTML page; failures and stale datasets are highlighted. */
export function statusPage(m: StatusModel): string {
  const rows = m.datasets
    .map((d) => {
      const st = state(d);
      const cls = st === "ok" ? "ok" : st.startsWith("running") ? "run" : "bad";
      return (
        `<tr class="${cls}" data-dataset="${esc(`${d.source}:${d.dataset}`)}"><td>${esc(`${d.source}:${d.dataset}`)}</td><td>${esc(st)}</td>` +
        `<td>${esc(d.newest ? `@${d.newest.name}` : "-")}</td><td>${esc(age(d.lagSeconds))}</td><td>${esc(age(d.maxLagSeconds))}</td>` +
        `<td>${esc(d.lastBytes ? prettyBytes(d.lastBytes) : "-")}</td><td>${esc(problemOf(d))}</td></tr>`
      );
    })
    .join("\n");
  const pools = m.pools
    .map(
      (p) =>
        `<tr class="${p.health === "ONLINE" ? "ok" : "bad"}"><td>${esc(p.pool)}</td><td>${esc(p.host)}</td><td>${esc(p.health)}</td><td>${Math.round(p.capacity * 100)}%</td><td>${esc(prettyBytes(p.freeBytes))}</td></tr>`,
    )
    .join("\n");
  const problems = m.problems.map((p) => `<li>${esc(p)}</li>`).join("");
  const checks = [...m.drills.map((d) => ["Restore drill", d] as const), ...m.scrubs.map((c) => ["Scrub", c] as const)]
    .map(
      ([kind, x]) =>
        `<tr class="${x.result === "ok" ? "ok" : "bad"}"><td>${kind}</td><td>${esc(x.subject)}</td><td>${esc(x.at)}</td><td>${esc(x.message)}</td></tr>`,
    )
    .join("\n");
  const aside = m.keptAside
    .map(
      (k) =>
        `<tr><td>${esc(k.dataset)}</td><td>${esc(k.subject)}</td><td>${esc(k.result === "failed" ? `${k.by} (failed)` : k.by)}</td><td>${esc(k.at)}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bzman status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.3rem}.verdict{padding:.4rem .7rem;border-radius:4px;display:inline-block}
.verdict.ok{background:#e3f5e1}.verdict.bad{background:#fde2e1}
table{border-collapse:collapse;margin:1rem 0;width:100%}th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #ddd;font-variant-numeric:tabular-nums}
tr.bad td{background:#fde2e1}tr.run td{background:#fff6d6}code{font-size:.9em}
</style></head><body>
<h1>bzman status</h1>
<p class="verdict ${m.healthy ? "ok" : "bad"}" id="verdict">${m.healthy ? "All datasets are backed up and fresh." : `${m.problems.length} problem(s)`}</p>
${problems ? `<ul id="problems">${problems}</ul>` : ""}
<table id="datasets"><thead><tr><th>Dataset</th><th>State</th><th>Newest backup</th><th>Lag</th><th>Goal</th><th>Last bytes</th><th>Last error</th></tr></thead>
<tbody>
${rows}
</tbody></table>
${checks ? `<table id="checks"><thead><tr><th>Check</th><th>Of</th><th>When</th><th>Result</th></tr></thead><tbody>\n${checks}\n</tbody></table>` : ""}
${aside ? `<table id="kept-aside"><thead><tr><th>Kept aside</th><th>Of</th><th>By</th><th>When</th></tr></thead><tbody>\n${aside}\n</tbody></table>` : ""}
${pools ? `<table id="pools"><thead><tr><th>Pool</th><th>Host</th><th>Health</th><th>Used</th><th>Free</th></tr></thead><tbody>\n${pools}\n</tbody></table>` : ""}
<p><small>Generated ${esc(m.generatedAt)} · <a href="/status">text</a> · <a href="/status?format=json">JSON</a> · <a href="/metrics">metrics</a></small></p>
</body></html>
`;
}
