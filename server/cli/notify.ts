// Telling people: turns the status into alert mails and webhook posts (through the pure
// planners in core/alerts and core/digest: one message per cause for conditions that open or
// clear within the digest window), remembers what was sent in the history database, and sends
// the nightly report. Without `mail:` and `webhook:` alerts go to the log only. A message no
// channel took is logged and retried at the next evaluation; nothing here ever blocks or fails a pass.

import type { Config } from "../config/schema.ts";
import { conditionsOf } from "../core/alerts.ts";
import type { CoalescePolicy } from "../core/coalesce.ts";
import { planDigests, webhookPayload, type Digest, type PendingAlerts } from "../core/digest.ts";
import type { StatusModel, StatusRow } from "../core/status.ts";
import { buildReportFromTallies } from "../core/summary.ts";
import { Mailer } from "../email/mailer.ts";
import { digestMailSubject, renderDigest, renderReport } from "../email/render.ts";
import { HookClient } from "../http/hooks.ts";
import type { Logger } from "../log.ts";
import type { HistoryStore } from "../state/store.ts";
import { BackupError } from "../errors.ts";
import { Coalesced, type CoalesceClock } from "./coalesced.ts";

/** Default digest window without `mail:` (see `mail.digest`). */
const DEFAULT_DIGEST_SECONDS = 30;

/**
 * How the daemon's evaluations after passes are coalesced: a burst of passes is evaluated once,
 * 200 ms after its last pass, at most once a second, and never later than a second after a pass
 * (or after the evaluation under way then). Far inside the digest window, so alerts keep their timing.
 */
export const EVALUATION_COALESCE: CoalescePolicy = { quietMs: 200, intervalMs: 1000 };

/** Options of a {@link Notifier}. */
export interface NotifierOptions {
  /** Builds the status of this moment: for {@link Notifier.evaluateSoon} and the digest timer. */
  status?: () => StatusModel;
  /** How {@link Notifier.evaluateSoon} coalesces (default {@link EVALUATION_COALESCE}). */
  coalesce?: CoalescePolicy;
  /** The coalescing's clock and timer (tests). */
  clock?: CoalesceClock;
}

/** What a {@link Notifier} reads and writes of the history (a `HistoryStore` is one). */
export interface NotifierStore {
  latest(): StatusRow[];
  alerts: HistoryStore["alerts"];
  recordAlert: HistoryStore["recordAlert"];
  reportTallies: HistoryStore["reportTallies"];
}

/** Alerts and reports for one daemon (or one command). */
export class Notifier {
  private readonly mailer: Mailer | undefined;
  private readonly hooks: HookClient;
  private queue: Promise<void> = Promise.resolve();
  /** Alerts and resolves waiting for their digest window (process-local). */
  private pending: PendingAlerts = new Map();
  private timer: NodeJS.Timeout | undefined;
  private readonly soon: Coalesced;

  /**
   * `opts.status`, when given, is asked for a fresh status when a digest window ends, so waiting
   * alerts go out on time even if nothing else calls {@link evaluate}, and by {@link evaluateSoon}.
   */
  constructor(
    private readonly config: Config,
    private readonly store: NotifierStore,
    private readonly log: Logger,
    private readonly now: () => Date,
    private readonly opts: NotifierOptions = {},
  ) {
    this.mailer = config.mail ? new Mailer(config.mail) : undefined;
    this.hooks = new HookClient((line) => this.log.error(line));
    this.soon = new Coalesced(
      async () => {
        const status = this.opts.status;
        if (status) await this.evaluate(status());
      },
      opts.coalesce ?? EVALUATION_COALESCE,
      ...(opts.clock ? [opts.clock] : []),
    );
  }

  /**
   * Evaluates the status of a moment soon (coalesced, see {@link EVALUATION_COALESCE}): what the
   * daemon calls after each pass. The status is built when the evaluation starts, so it sees
   * every pass before it. Needs `opts.status`. Returns at once.
   */
  evaluateSoon(): void {
    this.soon.request();
  }

  /**
   * Runs the evaluation that waits, if any, and resolves once none is under way (before
   * {@link close}), or after `boundMs` (a mail server that does not answer).
   */
  settle(boundMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((r) => {
      timer = setTimeout(r, boundMs);
      timer.unref();
    });
    return Promise.race([this.soon.flush().then(() => this.queue), bound]).finally(() => clearTimeout(timer));
  }

  /** Mails what the status calls for; one evaluation at a time. */
  evaluate(status: StatusModel): Promise<void> {
    this.queue = this.queue
      .then(() => this.evaluateNow(status))
      .catch((err: Error) => this.log.error(`alerts: ${err.message}`));
    return this.queue;
  }

  private async evaluateNow(status: StatusModel): Promise<void> {
    const details = new Map<string, string>();
    for (const r of this.store.latest()) if (r.error?.detail) details.set(`${r.source}:${r.dataset}`, r.error.detail);
    const realertMs = (this.config.mail?.realertSeconds ?? 6 * 3600) * 1000;
    const digestMs = (this.config.mail?.digestSeconds ?? DEFAULT_DIGEST_SECONDS) * 1000;
    const nowMs = this.now().getTime();
    const plan = planDigests(
      conditionsOf(status, details, this.config.capacityLimit),
      this.store.alerts(),
      this.pending,
      nowMs,
      { realertMs, digestMs },
    );
    this.pending = plan.pending;
    for (const d of plan.digests) {
      if (!(await this.deliver(d, nowMs))) {
        for (const [pk, first] of d.took) this.pending.set(pk, first);
        continue;
      }
      for (const r of d.records) await this.store.recordAlert(r.key, r.after);
    }
    this.wakeAt(plan.nextDueMs, nowMs);
  }

  /** Sends a digest on every channel; true when one took it (or there is none: then it is logged). */
  private async deliver(d: Digest, nowMs: number): Promise<boolean> {
    const about = {
      alert: d.items.length === 1 ? d.items[0]!.condition.key : `${d.items.length} × ${d.cause}`,
      kind: d.kind,
    };
    // The log and a webhook need the subject only: the mail's HTML is rendered for a mailer. A
    // mail that cannot be rendered (its thread failed) is not sent, and the webhook still is.
    let mail: Awaited<ReturnType<typeof renderDigest>> | undefined;
    // A mail that failed is logged once the webhook's answer is known: the digest is retried at
    // the next check only when no channel took it.
    let mailFailed: { what: string; why: string } | undefined;
    if (this.mailer) {
      try {
        mail = await renderDigest(d);
      } catch (err) {
        mailFailed = { what: "cannot render the mail", why: (err as Error).message };
      }
    }
    const rendered = { subject: mail?.subject ?? digestMailSubject(d) };
    if (!this.mailer && !this.config.webhook) {
      this.log[d.kind === "resolved" ? "info" : "error"](about, rendered.subject);
      return true;
    }
    let delivered = false;
    if (this.mailer && mail) {
      try {
        await this.mailer.send(mail);
        this.log.info(about, `mailed: ${rendered.subject}`);
        delivered = true;
      } catch (err) {
        mailFailed = { what: "cannot send mail", why: (err as Error).message };
      }
    }
    const w = this.config.webhook;
    if (w) {
      const ok = await this.hooks.send({
        url: w.url,
        method: "POST",
        body: { json: webhookPayload(d, rendered.subject, this.config.instance, nowMs) },
        headers: w.headers,
        timeoutMs: w.timeoutMs,
        what: `webhook (${d.kind}, ${about.alert})`,
      });
      if (ok) this.log.info(about, `webhook: ${rendered.subject}`);
      delivered ||= ok;
    }
    if (mailFailed) {
      const next = delivered ? "the webhook took the alert; this mail is not sent again" : "retried at the next check";
      this.log.error(about, `${mailFailed.what} (${next}): ${mailFailed.why}`);
    }
    return delivered;
  }

  /** Evaluates again when the next digest window ends (with `opts.status`). */
  private wakeAt(dueMs: number | null, nowMs: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const status = this.opts.status;
    if (dueMs === null || !status) return;
    this.timer = setTimeout(() => void this.evaluate(status()), Math.max(0, dueMs - nowMs) + 10);
    this.timer.unref();
  }

  /** Sends the report of the last 24 hours now (to `to`, default the configured recipients). */
  async sendReport(status: StatusModel, to?: string[]): Promise<string> {
    if (!this.mailer) throw new BackupError("CONFIG_INVALID", "no mail: section in the config; cannot send the report");
    const nowMs = this.now().getTime();
    const model = buildReportFromTallies(status, await this.store.reportTallies(nowMs), nowMs);
    const rendered = await renderReport(model);
    await this.mailer.send(rendered, to);
    return rendered.subject;
  }

  /** Stops the digest timer and the coalescing and closes the mail transport. */
  close(): void {
    this.soon.close();
    clearTimeout(this.timer);
    this.mailer?.close();
  }
}
