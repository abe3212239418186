// Sending mail: a nodemailer SMTP transport from the config, with bounded timeouts so an
// unreachable server fails fast; the caller logs the failure and retries later, never blocking
// replication.

import nodemailer, { type Transporter } from "nodemailer";
import type { RenderedMail } from "./render.ts";

/** Mail settings (config `mail:`). */
export interface MailSettings {
  smtp: string;
  from: string;
  to: string[];
}

/** Sends rendered mails. */
export class Mailer {
  private readonly transport: Transporter;

  constructor(private readonly settings: MailSettings) {
    const url = new URL(settings.smtp);
    this.transport = nodemailer.createTransport({
      host: url.hostname,
      port: Number(url.port || (url.protocol === "smtps:" ? 465 : 25)),
      secure: url.protocol === "smtps:",
      ...(url.username
        ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }
        : {}),
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
  }

  /** Sends `mail` to `to` (default: the configured recipients); rejects when the server does not take it. */
  async send(mail: RenderedMail, to: string[] = this.settings.to): Promise<void> {
    await this.transport.sendMail({
      from: this.settings.from,
      to,
      subject: mail.subject,
      html: mail.html,
      text: mail.text,
    });
  }

  /** Closes pooled connections. */
  close(): void {
    this.transport.close();
  }
}
