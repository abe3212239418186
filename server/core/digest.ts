// Alert digests, pure: on top of the alert planner (core/alerts.ts), conditions of one cause (the
// same code) that open within the digest window go out as one message listing them all, and so do
// those that clear. A new condition waits until the window since the first of its cause has
// passed; a condition that clears while it waits is never announced, and one that comes back
// while its "resolved" waits is never resolved. Reminders of one cause due together go as one.

import { planAlerts, type AlertMail, type AlertRecord, type Condition } from "./alerts.ts";

/** Alerts and resolves waiting for their window: `<kind>\u0000<key>` → first seen (ms since the epoch). */
export type PendingAlerts = Map<string, number>;

/** One message about conditions of one cause. */
export interface Digest {
  kind: AlertMail["kind"];
  /** The code the conditions share. */
  cause: string;
  /** One per condition, in the order they were planned. */
  items: AlertMail[];
  /** What to record per condition once the digest is delivered (null: the condition is closed). */
  records: Array<{ key: string; after: AlertRecord | null }>;
  /** The waiting entries this digest took: put them back when it could not be delivered. */
  took: Array<[string, number]>;
}

/** What {@link planDigests} decided. */
export interface DigestPlan {
  digests: Digest[];
  /** What waits now (the input is not changed). */
  pending: PendingAlerts;
  /** When the next waiting group is due (null: nothing waits). */
  nextDueMs: number | null;
}

/** Timing of alerts: the re-alert interval and the digest window. */
export interface DigestTiming {
  realertMs: number;
  /** 0: no waiting (conditions planned at the same evaluation still share a message). */
  digestMs: number;
}

interface Entry {
  kind: AlertMail["kind"];
  condition: Condition;
  since: string;
  after: AlertRecord | null;
  first: number;
  pk: string;
}

/**
 * What to send now, given the active conditions, what was sent (by key), what waits, and the
 * time. Precondition: `pending` is the `pending` of the previous plan (with undelivered digests'
 * `took` put back).
 */
export function planDigests(
  active: Condition[],
  sent: ReadonlyMap<string, AlertRecord>,
  pending: ReadonlyMap<string, number>,
  nowMs: number,
  timing: DigestTiming,
): DigestPlan {
  const now = new Date(nowMs).toISOString();
  const next: PendingAlerts = new Map();
  const waiting: Entry[] = [];
  const reminders: Entry[] = [];
  for (const { mail, after } of planAlerts(active, sent, nowMs, timing.realertMs)) {
    const pk = `${mail.kind}\u0000${mail.condition.key}`;
    if (mail.kind === "reminder") {
      reminders.push({ kind: mail.kind, condition: mail.condition, since: mail.since, after, first: nowMs, pk });
      continue;
    }
    const first = pending.get(pk) ?? nowMs;
    next.set(pk, first);
    // An alert's "since" is when the condition was first seen, not when the digest went out.
    const since = mail.kind === "alert" ? new Date(first).toISOString() : mail.since;
    waiting.push({
      kind: mail.kind,
      condition: mail.condition,
      since,
      after: after && mail.kind === "alert" ? { ...after, since, lastSent: now } : after,
      first,
      pk,
    });
  }
  const digests: Digest[] = [];
  let nextDueMs: number | null = null;
  for (const group of groupByCause(waiting)) {
    const due = Math.min(...group.map((e) => e.first)) + timing.digestMs;
    if (due > nowMs) {
      nextDueMs = nextDueMs === null ? due : Math.min(nextDueMs, due);
      continue;
    }
    for (const e of group) next.delete(e.pk);
    digests.push(toDigest(group));
  }
  for (const group of groupByCause(reminders)) digests.push(toDigest(group));
  return { digests, pending: next, nextDueMs };
}

function groupByCause(entries: Entry[]): Entry[][] {
  const groups = new Map<string, Entry[]>();
  for (const e of entries) {
    const g = `${e.kind}\u0000${e.condition.code}`;
    groups.set(g, [...(groups.get(g) ?? []), e]);
  }
  return [...groups.values()];
}

function toDigest(group: Entry[]): Digest {
  return {
    kind: group[0]!.kind,
    cause: group[0]!.condition.code,
    items: group.map((e) => ({ kind: e.kind, condition: e.condition, since: e.since })),
    records: group.map((e) => ({ key: e.condition.key, after: e.after })),
    took: group.filter((e) => e.kind !== "reminder").map((e) => [e.pk, e.first]),
  };
}

/** The JSON a webhook receives for a digest (`text` is the subject, for chat-style webhooks). */
export interface WebhookPayload {
  kind: Digest["kind"];
  cause: string;
  subject: string;
  text: string;
  instance: string;
  at: string;
  conditions: Array<Omit<Condition, "key"> & { key: string; since: string }>;
}

/** The webhook body for `d`. */
export function webhookPayload(d: Digest, subject: string, instance: string, nowMs: number): WebhookPayload {
  return {
    kind: d.kind,
    cause: d.cause,
    subject,
    text: subject,
    instance,
    at: new Date(nowMs).toISOString(),
    conditions: d.items.map((i) => ({ ...i.condition, since: i.since })),
  };
}
