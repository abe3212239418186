// The MJML and text of a digest mail: conditions of one cause that opened (or cleared, or are
// still open) together, listed in one mail with the advice once. A digest of one condition is
// the ordinary alert mail (templates.ts), so its subject and body do not change.

import type { Digest } from "../core/digest.ts";

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const TAG: Record<Digest["kind"], string> = { alert: "ALERT", reminder: "STILL", resolved: "RESOLVED" };

/** How many conditions the subject names before "and N more". */
const SUBJECT_NAMES = 3;
/** How many stderr tails a digest shows (each cut to DETAIL_CHARS). */
const DETAILS = 5;
const DETAIL_CHARS = 800;

/** What the conditions are, in a few words: their shared "what", or the cause. */
function whatOf(d: Digest): string {
  const whats = new Set(d.items.map((i) => i.condition.what));
  return whats.size === 1 ? [...whats][0]! : d.cause;
}

/** Subject of a digest of several conditions. */
export function digestSubject(d: Digest): string {
  const wheres = d.items.map((i) => i.condition.where);
  const named = wheres.slice(0, SUBJECT_NAMES).join(", ");
  const more = wheres.length > SUBJECT_NAMES ? ` and ${wheres.length - SUBJECT_NAMES} more` : "";
  return `[bzman] ${TAG[d.kind]} ${whatOf(d)} in ${d.items.length} places — ${named}${more}`;
}

function earliest(d: Digest): string {
  return d.items.map((i) => i.since).sort()[0] ?? "";
}

/** MJML of a digest mail. */
export function digestMjml(d: Digest): string {
  const resolved = d.kind === "resolved";
  const color = resolved ? "#1e7b34" : "#b42318";
  const head = `${resolved ? "Resolved: " : ""}${whatOf(d)} — ${d.items.length} places`;
  const rows = d.items
    .map(
      (i) =>
        `<tr><td>${esc(i.condition.where)}</td><td>${esc(i.condition.host)}</td><td>${esc(i.condition.phase ?? "")}</td><td>${esc(i.since)}</td><td class="msg">${esc(i.condition.message)}</td></tr>`,
    )
    .join("\n");
  const details = resolved ? [] : d.items.filter((i) => i.condition.detail).slice(0, DETAILS);
  return `<mjml><mj-head><mj-title>${esc(digestSubject(d))}</mj-title><mj-style>td,th{padding:3px 6px;border-bottom:1px solid #ddd;text-align:left;font-size:12px;white-space:nowrap}td.msg{white-space:normal;min-width:240px}</mj-style></mj-head>
<mj-body background-color="#f6f6f6" width="900px"><mj-section background-color="#ffffff"><mj-column>
<mj-text font-size="20px" color="${color}" font-weight="bold">${esc(head)}</mj-text>
<mj-text><b>Code:</b> ${esc(d.cause)}<br/><b>Since:</b> ${esc(earliest(d))}</mj-text>
<mj-table><tr><th>Where</th><th>Host</th><th>Phase</th><th>Since</th><th>What happened</th></tr>
${rows}
</mj-table>
${details.map((i) => `<mj-text font-family="monospace" font-size="12px" background-color="#f2f2f2"><b>${esc(i.condition.where)}</b><pre style="white-space:pre-wrap">${esc(i.condition.detail!.slice(-DETAIL_CHARS))}</pre></mj-text>`).join("\n")}
${resolved ? `<mj-text>These conditions cleared; no action needed.</mj-text>` : `<mj-text><b>What to do:</b> ${esc(d.items[0]!.condition.advice)}</mj-text>`}
</mj-column></mj-section></mj-body></mjml>`;
}

/** Text part of a digest mail. */
export function digestText(d: Digest): string {
  const resolved = d.kind === "resolved";
  const lines = [digestSubject(d), "", `Code: ${d.cause}`, `Since: ${earliest(d)}`, "", `${d.items.length} places:`];
  for (const i of d.items)
    lines.push(
      `  ${i.condition.where}${i.condition.phase ? ` [${i.condition.phase}]` : ""} since ${i.since}: ${i.condition.message}`,
    );
  if (!resolved) {
    for (const i of d.items.filter((x) => x.condition.detail).slice(0, DETAILS))
      lines.push("", `stderr of ${i.condition.where}:`, i.condition.detail!.slice(-DETAIL_CHARS));
  }
  lines.push("", resolved ? "These conditions cleared." : `What to do: ${d.items[0]!.condition.advice}`);
  return `${lines.join("\n")}\n`;
}
