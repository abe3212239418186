// Telling people: turns the status into alert mails (through the pure planner in core/alerts),
// remembers what was sent in the history database, and sends the nightly report. Without `mail:`
// alerts go to the log only. A mail that fails is logged and retried at the next evaluation;
// nothing here ever blocks or fails a pass.

import type { Config } from "../config/schema.ts";
import { conditionsOf, planAlerts } from "../core/alerts.ts";
import type { StatusModel } from "../core/status.ts";
import { buildReportFromTallies } from "../core/summary.ts";
import { Mailer } from "../email/mailer.ts";
import { renderAlert, renderReport } from "../email/render.ts";
import type { Logger } from "../log.ts";
import type { HistoryStore } from "../state/store.ts";

/** Alerts and reports for one daemon (or one command). */
export class Notifier {
  private readonly mailer: Mailer | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly config: Config, private readonly store: HistoryStore, private readonly log: Logger, private readonly now: () => Date) {
    this.mailer = config.mail ? new Mailer(config.mail) : undefined;
  }

  /** Mails what the status calls for; one evaluation at a time. */
  evaluate(status: StatusModel): Promise<void> {
    this.queue = this.queue.then(() => this.evaluateNow(status)).catch((err: Error) => this.log.error(`alerts: ${err.message}`));
    return this.queue;
  }

  private async evaluateNow(status: StatusModel): Promise<void> {
    const details = new Map<string, string>();
    for (const r of this.store.latest()) if (r.error?.detail) details.set(`${r.source}:${r.dataset}`, r.error.detail);
    const realertMs = (this.config.mail?.realertSeconds ?? 6 * 3600) * 1000;
    const plan = planAlerts(conditionsOf(status, details, this.config.capacityLimit), this.store.alerts(), this.now().getTime(), realertMs);
    for (const { mail, after } of plan) {
      const rendered = await renderAlert(mail);
      if (this.mailer) {
        try {
          await this.mailer.send(rendered);
          this.log.info({ alert: mail.condition.key, kind: mail.kind }, `mailed: ${rendered.subject}`);
        } catch (err) {
          this.log.error({ alert: mail.condition.key }, `cannot send mail (retried at the next check): ${(err as Error).message}`);
          continue;
        }
      } else {
        this.log[mail.kind === "resolved" ? "info" : "error"]({ alert: mail.condition.key, kind: mail.kind }, rendered.subject);
      }
      await this.store.recordAlert(mail.condition.key, after);
    }
  }

  /** Sends the report of the last 24 hours now (to `to`, default the configured recipients). */
  async sendReport(status: StatusModel, to?: string[]): Promise<string> {
    if (!this.mailer) throw new Error("no mail: section in the config; cannot send the report");
    const nowMs = this.now().getTime();
    const model = buildReportFromTallies(status, await this.store.reportTallies(nowMs), nowMs);
    const rendered = await renderReport(model);
    await this.mailer.send(rendered, to);
    return rendered.subject;
  }

  /** Closes the mail transport. */
  close(): void {
    this.mailer?.close();
  }
}
