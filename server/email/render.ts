// Rendering mails: MJML → HTML (on the MJML thread, mjml-thread.ts: mjml is never loaded on the
// caller's thread), plus the plain-text part.

import type { AlertMail } from "../core/alerts.ts";
import type { Digest } from "../core/digest.ts";
import { digestMjml, digestSubject, digestText } from "./digest-templates.ts";
import type { ReportModel } from "../core/summary.ts";
import { reportTextTable } from "./report-text.ts";
import { alertMjml, alertSubject, alertText, reportMjml, reportSubject } from "./templates.ts";
import { mjmlToHtml } from "./mjml-thread.ts";

/** A rendered mail. */
export interface RenderedMail {
  subject: string;
  html: string;
  text: string;
}

const html = mjmlToHtml;

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
