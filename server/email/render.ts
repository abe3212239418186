// Rendering mails: MJML → HTML (mjml 5 is async), plus the plain-text part.

import mjml2html from "mjml";
import type { AlertMail } from "../core/alerts.ts";
import type { ReportModel } from "../core/summary.ts";
import { reportTextTable } from "./report-text.ts";
import { alertMjml, alertSubject, alertText, reportMjml, reportSubject } from "./templates.ts";

/** A rendered mail. */
export interface RenderedMail {
  subject: string;
  html: string;
  text: string;
}

async function html(mjml: string): Promise<string> {
  const r = await mjml2html(mjml, { validationLevel: "soft", fonts: {} });
  if (r.errors.length) throw new Error(`mail template: ${r.errors.map((e) => e.formattedMessage).join("; ")}`);
  return r.html;
}

/** The alert (or reminder, or resolved) mail. */
export async function renderAlert(a: AlertMail): Promise<RenderedMail> {
  return { subject: alertSubject(a), html: await html(alertMjml(a)), text: alertText(a) };
}

/** The nightly report mail. */
export async function renderReport(r: ReportModel): Promise<RenderedMail> {
  return { subject: reportSubject(r), html: await html(reportMjml(r)), text: reportTextTable(r, 100) };
}
