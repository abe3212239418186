// Rendering mails: MJML → HTML (mjml 5 is async), plus the plain-text part. MJML (about 50 MB
// of a process's memory) is loaded at the first mail rendered, not by a daemon that never mails.

import type { AlertMail } from "../core/alerts.ts";
import type { Digest } from "../core/digest.ts";
import { digestMjml, digestSubject, digestText } from "./digest-templates.ts";
import type { ReportModel } from "../core/summary.ts";
import { reportTextTable } from "./report-text.ts";
import { alertMjml, alertSubject, alertText, reportMjml, reportSubject } from "./templates.ts";
import { BackupError } from "../errors.ts";

/** A rendered mail. */
export interface RenderedMail {
  subject: string;
  html: string;
  text: string;
}

async function html(mjml: string): Promise<string> {
  const { default: mjml2html } = await import("mjml");
  const r = await mjml2html(mjml, { validationLevel: "soft", fonts: {} });
  if (r.errors.length)
    throw new BackupError("INTERNAL", `mail template: ${r.errors.map((e) => e.formattedMessage).join("; ")}`);
  return r.html;
}

/** The alert (or reminder, or resolved) mail. */
export async function renderAlert(a: AlertMail): Promise<RenderedMail> {
  return { subject: alertSubject(a), html: await html(alertMjml(a)), text: alertText(a) };
}

/** The subject of a digest's mail (what the log and a webhook say without the mail). */
export function digestMailSubject(d: Digest): string {
  return d.items.length === 1 ? alertSubject(d.items[0]!) : digestSubject(d);
}

/** The mail of a digest: the ordinary alert mail for one condition, a list for several. */
export async function renderDigest(d: Digest): Promise<RenderedMail> {
  if (d.items.length === 1) return renderAlert(d.items[0]!);
  return { subject: digestSubject(d), html: await html(digestMjml(d)), text: digestText(d) };
}

/** The nightly report mail. */
export async function renderReport(r: ReportModel): Promise<RenderedMail> {
  return { subject: reportSubject(r), html: await html(reportMjml(r)), text: reportTextTable(r, 100) };
}
