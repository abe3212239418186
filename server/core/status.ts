// The status model behind `bzman status`, GET /status, /metrics and /healthz: per dataset the
// newest backed-up snapshot, its lag against the freshness goal, the last pass, live progress and
// the next run; per pool health and capacity; and whether all is well, with the reasons. Pure.

import type { ConflictCode, ErrorCode } from "./codes.ts";
import type { DatasetRecord, OperationRecord, Promotion, SnapshotRef } from "./model.ts";
import { coveringRoot, isWithin, targetFor } from "./naming.ts";
import { type DatasetPart, type PartInputs, rememberParts, type StatusMemo, withClock } from "./status-memo.ts";

/** A pass row as the status needs it (a history row). */
export type StatusRow = DatasetRecord & { startedAt: string; finishedAt: string };

/** A configured source as the status needs it. */
export interface StatusSource {
  name: string;
  target: string;
  /** The configured roots; a root's own `maxLagSeconds` (its `max_lag`) covers what lies below it. */
  datasets: Array<{ name: string; recursive: boolean; maxLagSeconds?: number }>;
  maxLagSeconds: number;
}

/** Health and capacity of one pool, where it was checked. */
export interface PoolStatus {
  /** "local" for the backup host, else the source name. */
  host: string;
  pool: string;
  health: string;
  sizeBytes: number;
  freeBytes: number;
  /** Used share of the pool, 0..1. */
  capacity: number;
  checkedAt: string;
}

/** A transfer running now. */
export interface LiveTransfer {
  source: string;
  dataset: string;
  bytes: number;
  since: string;
  bytesPerSecond: number;
  /** Estimated total bytes, when the source could estimate. */
  estimatedBytes?: number;
}

/** One dataset's line of the status. */
export interface DatasetStatus {
  source: string;
  dataset: string;
  target: string;
  /** The newest snapshot known to be on the backup, and when the pass that put it there started. */
  newest: (SnapshotRef & { at: string }) | null;
  /** Seconds since `newest.at` (null: never backed up). */
  lagSeconds: number | null;
  maxLagSeconds: number;
  fresh: boolean;
  lastResult: string | null;
  lastRunAt: string | null;
  lastError: { code: ErrorCode; message: string } | null;
  /** The conflict kind of the last pass, if it hit one. */
  lastConflict: ConflictCode | null;
  /** The last pass's explanation (conflicts, skips, errors). */
  lastMessage: string | null;
  /** Where the last pass stopped: "connect/list", "plan" or "transfer" (null: never ran). */
  lastPhase: string | null;
  lastBytes: number;
  lastDurationMs: number;
  progress: LiveTransfer | null;
  nextRun: string | null;
  /** Set while the backup is promoted to a live dataset (pulls paused until failback). */
  promoted: { live: string; at: string } | null;
  /** Where the last pass kept a conflicting backup before re-seeding it (`on_conflict: rename`). */
  lastKeptAside: string | null;
  /** The resume token the last pass left (failed) or resumed (ok); null when none. */
  resumeToken: string | null;
  /**
   * Why the last pass left the dataset out (`exclude`, `bzman:backup=off`); null when it did not.
   * An excluded dataset is no problem however old its backup, which is kept as it is.
   */
  excluded: string | null;
}

/** The last restore drill of a source, or the last scrub of a backup pool. */
export interface CheckStatus {
  /** The source name (drills) or the pool (scrubs). */
  subject: string;
  at: string;
  result: "ok" | "failed";
  message: string;
}

/** The whole status. */
export interface StatusModel {
  generatedAt: string;
  healthy: boolean;
  /** Why it is not healthy (empty when healthy). */
  problems: string[];
  datasets: DatasetStatus[];
  pools: PoolStatus[];
  /** The newest restore drill per source that has had one. */
  drills: CheckStatus[];
  /** The newest scrub per backup pool that has had one. */
  scrubs: CheckStatus[];
  /** Datasets bzman renamed aside (kept, never destroyed), newest first. */
  keptAside: KeptAside[];
}

/** A dataset bzman renamed aside instead of overwriting it: by a pass (a conflict), a restore or a failback. */
export interface KeptAside {
  /** The kept dataset, HOST:NAME (`local:` on the backup host). */
  dataset: string;
  /** What it was in the way of: SOURCE:DATASET. */
  subject: string;
  by: "pass" | "restore" | "failback";
  at: string;
  /** How the pass or operation that moved it ended: an aside is kept also when that failed. */
  result: string;
}

/** At most this many kept-aside datasets are listed. */
export const KEPT_ASIDE_LIMIT = 100;

/**
 * The datasets kept aside, newest first: from the operations' records (`details.aside`, HOST:NAME;
 * older restore records name the dataset alone, on the host of `details.to`) and the passes'.
 */
export function keptAsideOf(ops: readonly OperationRecord[], rows: readonly StatusRow[]): KeptAside[] {
  const out = new Map<string, KeptAside>();
  for (const r of rows) {
    if (r.keptAside)
      out.set(`local:${r.keptAside}`, {
        dataset: `local:${r.keptAside}`,
        subject: `${r.source}:${r.dataset}`,
        by: "pass",
        at: r.startedAt,
        result: r.result,
      });
  }
  for (const o of ops) {
    const aside = o.details?.aside;
    if ((o.kind !== "restore" && o.kind !== "failback") || typeof aside !== "string") continue;
    const host = String(o.details?.to ?? o.source ?? "").split(":")[0]!;
    const dataset = aside.startsWith(`${host}:`) ? aside : `${host}:${aside}`;
    out.set(dataset, { dataset, subject: o.subject, by: o.kind, at: o.finishedAt, result: o.result });
  }
  return [...out.values()].sort((a, b) => b.at.localeCompare(a.at)).slice(0, KEPT_ASIDE_LIMIT);
}

/** Inputs of {@link buildStatus}. */
export interface StatusInputs {
  sources: StatusSource[];
  /** History rows, oldest first. */
  rows: StatusRow[];
  pools: PoolStatus[];
  live: LiveTransfer[];
  nextRuns: Map<string, string | null>;
  /** Milliseconds since the epoch. */
  now: number;
  /** A pool used beyond this share is a problem (default 0.75: less than 25% free). */
  capacityLimit?: number;
  /** Promotions in force. */
  promotions?: Promotion[];
  /** Recorded operations, oldest first (drills and scrubs are read from them). */
  operations?: OperationRecord[];
}

/** The newest operation of `kind` per subject key. */
function newestBy(
  ops: OperationRecord[],
  kind: "drill" | "scrub",
  keyOf: (o: OperationRecord) => string | undefined,
): CheckStatus[] {
  const m = new Map<string, CheckStatus>();
  for (const o of ops) {
    const k = o.kind === kind ? keyOf(o) : undefined;
    if (k !== undefined) m.set(k, { subject: k, at: o.finishedAt, result: o.result, message: o.message });
  }
  return [...m.values()].sort((a, b) => a.subject.localeCompare(b.subject));
}

const key = (source: string, dataset: string): string => `${source}\u0000${dataset}`;

/** How full a pool may be before it is a problem, when the caller does not say (config: `capacity_limit`). */
export const DEFAULT_CAPACITY_LIMIT = 0.75;

/** One dataset's status apart from the clock, from what {@link buildStatus} found for it. */
function datasetPart(name: string, inp: PartInputs): DatasetPart {
  const { source: s, row, good, promo, progress, nextRun } = inp;
  const excluded = row?.result === "excluded" ? (row.message ?? "excluded") : null;
  const base: DatasetStatus = {
    source: s.name,
    dataset: name,
    target: row?.target || targetFor(s.target, name),
    newest: good?.to ? { ...good.to, at: good.startedAt } : null,
    lagSeconds: null,
    maxLagSeconds: coveringRoot(s.datasets, name)?.maxLagSeconds ?? s.maxLagSeconds,
    fresh: false,
    lastResult: row?.result ?? null,
    lastRunAt: row?.startedAt ?? null,
    lastError: row?.error ? { code: row.error.code, message: row.error.message } : null,
    lastConflict: row?.conflict ?? null,
    lastMessage: row?.message ?? null,
    lastPhase: row
      ? row.mode === "error"
        ? "connect/list"
        : row.mode === "conflict" || row.mode === "up-to-date"
          ? "plan"
          : "transfer"
      : null,
    lastBytes: row?.bytes ?? 0,
    lastDurationMs: row?.transferMs ?? 0,
    progress,
    nextRun,
    promoted: promo ? { live: promo.live, at: promo.at } : null,
    lastKeptAside: row?.keptAside ?? null,
    resumeToken: row?.resumeToken ?? null,
    excluded,
  };
  const failure =
    row && (row.result === "failed" || row.result === "conflict")
      ? `${s.name}:${name} last pass ${row.result}: ${row.error?.code ?? row.conflict ?? ""} ${row.message ?? row.error?.message ?? ""}`.trim()
      : null;
  return {
    inputs: inp,
    base,
    goodMs: good ? Date.parse(good.startedAt) : null,
    quiet: promo !== undefined || excluded !== null,
    failure,
  };
}

/**
 * Builds the status from the history, the pools and what runs now. With a `memo` (the
 * daemon's, one per process), each dataset whose inputs are the objects of the last build
 * keeps its part (core/status-memo.ts); the model is the same either way.
 */
export function buildStatus(inp: StatusInputs, memo?: StatusMemo): StatusModel {
  const limit = inp.capacityLimit ?? DEFAULT_CAPACITY_LIMIT;
  const last = new Map<string, StatusRow>();
  const lastGood = new Map<string, StatusRow>();
  for (const r of inp.rows) {
    // A skipped tick, or a pass stopped on purpose (SIGTERM), says nothing about the dataset:
    // the result before it stands. Both stay in the history.
    if (r.result === "skipped" || r.error?.code === "ABORTED") continue;
    last.set(key(r.source, r.dataset), r);
    if ((r.result === "ok" || r.result === "up-to-date") && r.to) lastGood.set(key(r.source, r.dataset), r);
  }
  const datasets: DatasetStatus[] = [];
  const problems: string[] = [];
  const seen = new Map<string, string[]>();
  for (const r of last.values()) {
    const list = seen.get(r.source);
    if (list) list.push(r.dataset);
    else seen.set(r.source, [r.dataset]);
  }
  const promotions = inp.promotions ?? [];
  const parts: DatasetPart[] = [];
  memo?.begin();
  for (const s of inp.sources) {
    const names = new Set(s.datasets.map((d) => d.name));
    for (const name of seen.get(s.name) ?? []) if (coveringRoot(s.datasets, name)) names.add(name);
    const nextRun = inp.nextRuns.get(s.name) ?? null;
    for (const name of [...names].sort()) {
      const k = key(s.name, name);
      const inputs: PartInputs = {
        source: s,
        row: last.get(k),
        good: lastGood.get(k),
        promo: promotions.find((p) => p.source === s.name && isWithin(name, p.dataset)),
        progress: inp.live.find((l) => l.source === s.name && l.dataset === name) ?? null,
        nextRun,
      };
      const part = memo ? memo.part(k, inputs, () => datasetPart(name, inputs)) : datasetPart(name, inputs);
      const lagSeconds = part.goodMs === null ? null : Math.max(0, Math.round((inp.now - part.goodMs) / 1000));
      const maxLagSeconds = part.base.maxLagSeconds;
      const fresh = lagSeconds !== null && lagSeconds <= maxLagSeconds;
      datasets.push(withClock(part, lagSeconds, fresh));
      parts.push(part);
      // A promoted dataset is served from the backup host on purpose; its pulls are paused.
      // An excluded one is left out on purpose; its backup, however old, is kept.
      if (part.quiet) continue;
      if (lagSeconds === null) problems.push(`${s.name}:${name} has never been backed up`);
      else if (!fresh) problems.push(`${s.name}:${name} is ${lagSeconds}s behind (goal ${maxLagSeconds}s)`);
      if (part.failure) problems.push(part.failure);
    }
  }
  memo?.end();
  for (const p of inp.pools) {
    if (p.health !== "ONLINE") problems.push(`pool ${p.pool} on ${p.host} is ${p.health}`);
    if (p.capacity > limit)
      problems.push(
        `pool ${p.pool} on ${p.host} is ${Math.round(p.capacity * 100)}% full (limit ${Math.round(limit * 100)}%)`,
      );
  }
  const drills = newestBy(inp.operations ?? [], "drill", (o) => o.source);
  const scrubs = newestBy(inp.operations ?? [], "scrub", (o) => o.pool);
  for (const d of drills)
    if (d.result === "failed") problems.push(`restore drill of ${d.subject} failed: ${d.message}`);
  for (const c of scrubs) if (c.result === "failed") problems.push(`scrub of pool ${c.subject}: ${c.message}`);
  const keptAside = keptAsideOf(inp.operations ?? [], inp.rows);
  const model: StatusModel = {
    generatedAt: new Date(inp.now).toISOString(),
    healthy: problems.length === 0,
    problems,
    datasets,
    pools: inp.pools,
    drills,
    scrubs,
    keptAside,
  };
  rememberParts(model, parts);
  return model;
}

/**
 * A model's time-dependent fields (`lagSeconds`, `fresh`, the lag problems, `generatedAt`) are
 * taken as they were at the first request of a bucket this long: a reused model is at most this
 * much behind the clock.
 */
export const STATUS_TIME_BUCKET_MS = 1000;

/**
 * What a status model depends on besides the configuration, each as a token that changes
 * whenever it does: the history's generation, the journal's view, the daemon's own counter
 * (pools, live transfers), the scheduler's next runs, and the time bucket. Equal keys: the
 * model built for one serves the other.
 */
export interface StatusKey {
  history: number;
  journal: unknown;
  daemon: number;
  nextRuns: string;
  bucket: number;
}

/** The key of the status at `nowMs` from its inputs' tokens (see {@link StatusKey}). */
export function statusKeyOf(tokens: Omit<StatusKey, "bucket">, nowMs: number): StatusKey {
  return { ...tokens, bucket: Math.floor(nowMs / STATUS_TIME_BUCKET_MS) };
}

/** True iff a model built for key `a` is the model of key `b`. */
export function sameStatusKey(a: StatusKey | undefined, b: StatusKey): boolean {
  return (
    a !== undefined &&
    a.history === b.history &&
    a.journal === b.journal &&
    a.daemon === b.daemon &&
    a.nextRuns === b.nextRuns &&
    a.bucket === b.bucket
  );
}
