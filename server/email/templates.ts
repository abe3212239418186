// The MJML of bzman's mails: the instant alert and the nightly report (with an inline SVG chart
// of bytes per hour). Text parts are written out separately for plain-text readers.

import prettyBytes from "pretty-bytes";
import type { AlertMail } from "../core/alerts.ts";
import type { ReportModel } from "../core/summary.ts";

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const lag = (s: number | null): string =>
  s === null ? "never" : s < 3600 ? `${Math.round(s / 60)}m` : `${(s / 3600).toFixed(1)}h`;

/** Subject line of an alert mail. */
export function alertSubject(a: AlertMail): string {
  const c = a.condition;
  const tag = a.kind === "resolved" ? "RESOLVED" : a.kind === "reminder" ? "STILL" : "ALERT";
  return `[bzman] ${tag} ${c.host}: ${c.what} — ${c.where}`;
}

/** MJML of an alert mail. */
export function alertMjml(a: AlertMail): string {
  const c = a.condition;
  const color = a.kind === "resolved" ? "#1e7b34" : "#b42318";
  const head = a.kind === "resolved" ? `Resolved: ${c.what}` : c.what;
  return `<mjml><mj-head><mj-title>${esc(alertSubject(a))}</mj-title></mj-head><mj-body background-color="#f6f6f6"><mj-section background-color="#ffffff"><mj-column>
<mj-text font-size="20px" color="${color}" font-weight="bold">${esc(head)}</mj-text>
<mj-text><b>Where:</b> ${esc(c.where)} (host ${esc(c.host)})<br/>${c.phase ? `<b>Phase:</b> ${esc(c.phase)}<br/>` : ""}<b>Code:</b> ${esc(c.code)}<br/><b>Since:</b> ${esc(a.since)}</mj-text>
<mj-text><b>What happened:</b> ${esc(c.message)}</mj-text>
${c.detail && a.kind !== "resolved" ? `<mj-text font-family="monospace" font-size="12px" background-color="#f2f2f2"><pre style="white-space:pre-wrap">${esc(c.detail.slice(-2000))}</pre></mj-text>` : ""}
${a.kind !== "resolved" ? `<mj-text><b>What to do:</b> ${esc(c.advice)}</mj-text>` : `<mj-text>The condition cleared; no action needed.</mj-text>`}
</mj-column></mj-section></mj-body></mjml>`;
}

/** Text part of an alert mail. */
export function alertText(a: AlertMail): string {
  const c = a.condition;
  return `${[
    alertSubject(a),
    "",
    `Where: ${c.where} (host ${c.host})`,
    ...(c.phase ? [`Phase: ${c.phase}`] : []),
    `Code: ${c.code}`,
    `Since: ${a.since}`,
    "",
    c.message,
    ...(c.detail && a.kind !== "resolved" ? ["", "stderr:", c.detail.slice(-2000)] : []),
    "",
    a.kind === "resolved" ? "The condition cleared." : `What to do: ${c.advice}`,
  ].join("\n")}\n`;
}

/** An inline SVG bar chart of bytes per hour (no external image). */
export function bytesChart(perHour: number[]): string {
  const max = Math.max(1, ...perHour);
  const bars = perHour
    .map((b, i) => {
      const h = Math.round((b / max) * 80);
      return `<rect x="${i * 22 + 2}" y="${90 - h}" width="18" height="${h}" fill="#2f6feb"><title>${esc(prettyBytes(b))}</title></rect>`;
    })
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="530" height="110" role="img" aria-label="bytes per hour"><line x1="0" y1="90" x2="530" y2="90" stroke="#999"/>${bars}<text x="0" y="105" font-size="10" fill="#666">24 hours ago</text><text x="470" y="105" font-size="10" fill="#666">now</text><text x="0" y="10" font-size="10" fill="#666">${esc(prettyBytes(max))}/h</text></svg>`;
}

/** Subject line of the report. */
export function reportSubject(r: ReportModel): string {
  const failed = r.rows.filter((x) => x.state !== "ok" && x.state !== "excluded").length;
  return `[bzman] report ${r.to.slice(0, 10)}: ${failed === 0 ? "all datasets backed up" : `${failed} of ${r.rows.length} datasets need attention`}`;
}

/** MJML of the nightly report. */
export function reportMjml(r: ReportModel): string {
  const rows = r.rows
    .map(
      (x) =>
        `<tr class="${x.state}" style="background:${x.state === "ok" || x.state === "excluded" ? "#ffffff" : x.state === "stale" ? "#fff6d6" : "#fde2e1"}">` +
        `<td>${esc(`${x.source}:${x.dataset}`)}</td><td>${x.state.toUpperCase()}</td><td>${esc(x.newest ? `@${x.newest}` : "-")}</td><td>${lag(x.lagSeconds)}</td>` +
        `<td>${x.passes}</td><td>${x.failures}</td><td>${esc(prettyBytes(x.bytes))}</td><td>${(x.transferMs / 1000).toFixed(1)}s</td><td class="err">${esc(x.lastError ?? "")}</td></tr>`,
    )
    .join("\n");
  return `<mjml><mj-head><mj-title>${esc(reportSubject(r))}</mj-title><mj-style>td,th{padding:4px 6px;border-bottom:1px solid #ddd;text-align:left;font-size:12px;white-space:nowrap}td.err{white-space:normal;min-width:220px}</mj-style></mj-head>
<mj-body background-color="#f6f6f6" width="900px"><mj-section background-color="#ffffff"><mj-column>
<mj-text font-size="20px" font-weight="bold">bzman: the last 24 hours</mj-text>
<mj-text>${esc(r.from)} — ${esc(r.to)}<br/><b>${r.totals.passes}</b> passes, <b>${r.totals.failures}</b> failures, <b>${esc(prettyBytes(r.totals.bytes))}</b> moved, ${r.totals.datasets} datasets</mj-text>
${r.problems.length ? `<mj-text color="#b42318"><b>Problems now:</b><br/>${r.problems.map(esc).join("<br/>")}</mj-text>` : `<mj-text color="#1e7b34"><b>All datasets are backed up and fresh.</b></mj-text>`}
<mj-text><b>Bytes moved per hour</b><br/>${bytesChart(r.bytesPerHour)}</mj-text>
<mj-table><tr><th>Dataset</th><th>State</th><th>Newest</th><th>Lag</th><th>Passes</th><th>Failures</th><th>Bytes</th><th>Time</th><th>Last error</th></tr>
${rows}
</mj-table>
${r.checks.length ? `<mj-table><tr><th>Check</th><th>Of</th><th>When</th><th>Result</th></tr>${r.checks.map((c) => `<tr><td>${c.kind === "drill" ? "Restore drill" : "Scrub"}</td><td>${esc(c.subject)}</td><td>${esc(c.at.slice(0, 16).replace("T", " "))}</td><td style="color:${c.result === "ok" ? "#1e7b34" : "#b42318"}">${esc(c.result === "ok" ? "ok" : `FAILED: ${c.message}`)}</td></tr>`).join("")}</mj-table>` : ""}
${r.pools.length ? `<mj-table><tr><th>Pool</th><th>Host</th><th>Health</th><th>Used</th><th>Free</th></tr>${r.pools.map((p) => `<tr><td>${esc(p.pool)}</td><td>${esc(p.host)}</td><td>${esc(p.health)}</td><td>${Math.round(p.capacity * 100)}%</td><td>${esc(prettyBytes(p.freeBytes))}</td></tr>`).join("")}</mj-table>` : ""}
</mj-column></mj-section></mj-body></mjml>`;
}
