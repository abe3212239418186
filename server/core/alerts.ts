// Alerts, pure: which conditions are wrong now (from the status), and what to mail given what
// was mailed before: a new condition at once, a reminder only after the re-alert interval, and a
// "resolved" mail when it clears. Mail that could not be sent is not recorded, so it is retried.

import type { Code } from "./codes.ts";
import type { StatusModel } from "./status.ts";

/** Something wrong, with what an operator needs to act on it. */
export interface Condition {
  /** Stable identity: the same problem keeps its key from pass to pass. */
  key: string;
  /** Host (source name or "local") and what/where, for the subject. */
  host: string;
  what: string;
  where: string;
  code: Code;
  /** The phase of the pass that went wrong, when it is about a pass. */
  phase?: string;
  message: string;
  detail?: string;
  advice: string;
}

/** What was mailed about a condition. */
export interface AlertRecord {
  key: string;
  condition: Condition;
  since: string;
  lastSent: string;
}

/** One mail to send. */
export interface AlertMail {
  kind: "alert" | "reminder" | "resolved";
  condition: Condition;
  since: string;
}

const ADVICE: Partial<Record<Code, string>> = {
  ZFS_DEST_MODIFIED:
    "The backup dataset was changed after its newest snapshot (was it mounted writable?). bzman will not roll it back. Inspect it; if the change is not needed, roll it back yourself to that snapshot (zfs rollback DATASET@SNAPSHOT, with the backup dataset and its newest snapshot as bzman status shows them) and the next pass continues.",
  ZFS_SNAPSHOT_MISMATCH:
    "The backup's newest snapshot is not the stream's base. Run bzman plan for this source to see both sides.",
  ZFS_NO_SPACE: "The backup pool is full. Free space or tighten keep_backup.",
  ZFS_POOL_MISSING: "The backup pool is not imported. Import it (zpool import) or fix the target in the config.",
  SSH_CONNECT: "The source is unreachable. Check that it is up and that sshd answers on the configured port.",
  SSH_AUTH: "The source refused bzman's key. Check authorized_keys on the source (source-hooks/install-source.sh).",
  SSH_HOSTKEY:
    "The source presented a different host key. If the host was reinstalled, verify the fingerprint, then run bzman trust SOURCE; otherwise treat this as an attack.",
  SSH_HOSTKEY_UNKNOWN: "No host key is pinned. Verify the fingerprint, then run bzman trust SOURCE.",
  GUARD_REJECTED:
    "The source's guard refused a command. Check its --root options and hooks against this source's datasets.",
  ZFS_SEND_FAILED: "The stream from the source broke. The next pass retries from the last common snapshot.",
  SSH_NO_EXIT_STATUS: "The connection dropped during the transfer. The next pass retries.",
  ZFS_INVALID_STREAM: "The stream was cut or corrupt. The next pass retries.",
  STALLED:
    "The stream stopped moving (a hung source, a dead link, a full pipe). Both ends were stopped; the next pass retries. If it keeps happening, check the link and the source's load, or raise stall_timeout.",
  "no-common-snapshot":
    "The backup shares no snapshot with the source. bzman left it untouched; rename it aside to re-seed.",
  diverged: "The backup has snapshots the source lacks. bzman left it untouched; decide which side is right.",
  "source-missing": "The dataset no longer exists on the source. Remove it from the config or restore it.",
  KEPT_ASIDE:
    "Compare the kept copy with the new one and find out why they diverged (a rollback or a reinstall on the source?). When it is not needed any more, destroy it with zfs destroy -r.",
  STALE: "No successful pass within the freshness goal. See the last error of this dataset.",
  POOL_HEALTH: "A pool is not ONLINE. Run zpool status -x on that host and replace the failed device.",
  POOL_SPACE: "A pool is filling up. Free space, add capacity, or tighten retention.",
  DRILL_FAILED:
    "A backup snapshot could not be restored intact. Run zpool status -v on the backup pool and bzman drill SOURCE again; until it passes, treat that backup as unproven.",
  SCRUB_ERRORS:
    "The scrub found damaged data on the backup pool. zpool status -v lists the files; replace failing disks, and re-seed the affected datasets if errors persist.",
};

/** How long after a restore or failback its kept-aside dataset is an active condition: one alert, then resolved. */
export const ASIDE_NOTICE_MS = 24 * 3600_000;

/** What to do about an error code or condition kind. */
export function adviceFor(code: Code): string {
  return ADVICE[code] ?? "See the message and stderr above; bzman run SOURCE repeats the pass in the foreground.";
}

/** The conditions wrong in a status (detail: the last error's stderr tail, per source:dataset). */
export function conditionsOf(
  m: StatusModel,
  detail: ReadonlyMap<string, string> = new Map(),
  capacityLimit = 0.75,
): Condition[] {
  const out: Condition[] = [];
  for (const d of m.datasets) {
    const where = `${d.source}:${d.dataset}`;
    // A pass stopped on purpose (SIGTERM, Ctrl-C) is not an incident; the next pass follows.
    if ((d.lastResult === "failed" && d.lastError?.code !== "ABORTED") || d.lastResult === "conflict") {
      const code = d.lastError?.code ?? d.lastConflict ?? "conflict";
      out.push({
        key: `pass ${where}`,
        host: d.source,
        what: d.lastResult === "failed" ? `pass FAILED (${code})` : "CONFLICT",
        where,
        code,
        ...(d.lastPhase ? { phase: d.lastPhase } : {}),
        message: d.lastError?.message ?? d.lastMessage ?? "the last pass did not replicate this dataset",
        ...(detail.get(where) ? { detail: detail.get(where) } : {}),
        advice: adviceFor(code),
      });
    }
    if (d.lastKeptAside) {
      out.push({
        key: `aside ${where}`,
        host: d.source,
        what: "backup conflicted: kept aside and re-seeded",
        where,
        code: "KEPT_ASIDE",
        message: `the backup of ${where} conflicted with the source; it is kept as ${d.lastKeptAside} and a full copy was received in its place`,
        advice: adviceFor("KEPT_ASIDE"),
      });
    }
    if (!d.fresh && d.lagSeconds !== null && d.excluded === null) {
      out.push({
        key: `lag ${where}`,
        host: d.source,
        what: "behind its freshness goal",
        where,
        code: "STALE",
        message: `${where} is ${d.lagSeconds}s behind; the goal is ${d.maxLagSeconds}s`,
        advice: adviceFor("STALE"),
      });
    }
  }
  // A restore or failback that renamed a dataset aside says so once, also when it then failed.
  const now = Date.parse(m.generatedAt);
  for (const k of m.keptAside) {
    if (k.by === "pass" || !(now - Date.parse(k.at) < ASIDE_NOTICE_MS)) continue;
    const failed = k.result === "failed";
    out.push({
      key: `aside ${k.dataset}`,
      host: k.dataset.split(":")[0]!,
      what: `${k.by} ${failed ? "FAILED after it kept" : "kept"} a dataset aside`,
      where: k.subject,
      code: "KEPT_ASIDE",
      message: `the ${k.by} of ${k.subject} renamed what was in its way aside: it is kept as ${k.dataset}${failed ? `; the ${k.by} then failed (see bzman status and the journal)` : ""}`,
      advice: adviceFor("KEPT_ASIDE"),
    });
  }
  for (const d of m.drills) {
    if (d.result === "failed")
      out.push({
        key: `drill ${d.subject}`,
        host: d.subject,
        what: "restore drill FAILED",
        where: d.subject,
        code: "DRILL_FAILED",
        message: d.message,
        advice: adviceFor("DRILL_FAILED"),
      });
  }
  for (const c of m.scrubs) {
    if (c.result === "failed")
      out.push({
        key: `scrub ${c.subject}`,
        host: "local",
        what: "scrub found errors",
        where: `local:${c.subject}`,
        code: "SCRUB_ERRORS",
        message: c.message,
        advice: adviceFor("SCRUB_ERRORS"),
      });
  }
  for (const p of m.pools) {
    const where = `${p.host}:${p.pool}`;
    if (p.health !== "ONLINE")
      out.push({
        key: `pool-health ${where}`,
        host: p.host,
        what: `pool ${p.health}`,
        where,
        code: "POOL_HEALTH",
        message: `pool ${p.pool} on ${p.host} is ${p.health}`,
        advice: adviceFor("POOL_HEALTH"),
      });
    if (p.capacity > capacityLimit)
      out.push({
        key: `pool-space ${where}`,
        host: p.host,
        what: "pool low on space",
        where,
        code: "POOL_SPACE",
        message: `pool ${p.pool} on ${p.host} is ${Math.round(p.capacity * 100)}% full`,
        advice: adviceFor("POOL_SPACE"),
      });
  }
  return out;
}

/**
 * What to mail now. `sent` is what was mailed before (by key). Returns the mails and, for each,
 * the record to keep once it is sent; conditions that cleared are dropped once "resolved" is sent.
 */
export function planAlerts(
  active: Condition[],
  sent: ReadonlyMap<string, AlertRecord>,
  nowMs: number,
  realertMs: number,
): Array<{ mail: AlertMail; after: AlertRecord | null }> {
  const now = new Date(nowMs).toISOString();
  const out: Array<{ mail: AlertMail; after: AlertRecord | null }> = [];
  const activeKeys = new Set(active.map((c) => c.key));
  for (const c of active) {
    const prev = sent.get(c.key);
    if (!prev)
      out.push({
        mail: { kind: "alert", condition: c, since: now },
        after: { key: c.key, condition: c, since: now, lastSent: now },
      });
    else if (nowMs - Date.parse(prev.lastSent) >= realertMs) {
      out.push({
        mail: { kind: "reminder", condition: c, since: prev.since },
        after: { ...prev, condition: c, lastSent: now },
      });
    }
  }
  for (const prev of sent.values()) {
    if (!activeKeys.has(prev.key))
      out.push({ mail: { kind: "resolved", condition: prev.condition, since: prev.since }, after: null });
  }
  return out;
}
