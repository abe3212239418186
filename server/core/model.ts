// The glossary of bzman, as types: source, target, dataset, snapshot, step, plan, run, record.
// Pure data; no behaviour and no I/O.

import type { ConflictCode, ErrorCode } from "./codes.ts";

/** A snapshot as ZFS reports it. Identity is the GUID; names can be reused, GUIDs cannot. */
export interface Snapshot {
  /** The part after `@`. */
  name: string;
  /** 64-bit GUID as a decimal string (too large for a JS number). */
  guid: string;
  /** Transaction group of creation: orders snapshots of one dataset exactly. */
  createtxg: number;
  /** Creation time, seconds since the epoch. */
  creation: number;
  /** Number of holds on the snapshot, where the listing reports it. */
  userrefs?: number;
}

/** What kind of dataset ZFS reports. */
export type DatasetType = "filesystem" | "volume";

/** One dataset of a listing with its snapshots, oldest first (by createtxg). */
export interface DatasetSnapshots {
  name: string;
  type: DatasetType;
  guid: string;
  snapshots: Snapshot[];
  /** Set when the target holds a partially received stream that can resume (`receive -s`). */
  resumeToken?: string;
  /**
   * Bookmarks (`dataset#name`, name without the `#`), oldest first, where the listing asked for
   * them: an incremental can start from one after its snapshot is gone.
   */
  bookmarks?: Snapshot[];
  /** The effective `bzman:backup` value (core/selection.ts), where the listing asked for it. */
  select?: string;
}

/** A listing of one host, one call per host per run: dataset name → dataset. */
export type Listing = Map<string, DatasetSnapshots>;

/** Transfer mode of a dataset as shown by `plan` and `run`. */
export type Mode = "full" | "incremental" | "resume" | "up-to-date" | "conflict" | "excluded" | "error";

/** What every kind of step has: which dataset streams into which. */
interface StepBase {
  sourceDataset: string;
  targetDataset: string;
  /** `-I` (true: every snapshot between from and to) or `-i` (false: just `to`); false but for `-I`. */
  intermediates: boolean;
}

/** A full stream of `to`. */
export interface FullStep extends StepBase {
  kind: "full";
  to: Snapshot;
}

/** An incremental stream from `from` (a snapshot, or a bookmark of the source) to `to`. */
export interface IncrementalStep extends StepBase {
  kind: "incremental";
  from: Snapshot;
  to: Snapshot;
  /** `from` is a bookmark of the source (`-i dataset#name`): its snapshot is gone there. */
  fromBookmark?: boolean;
}

/** `send -t`: finishes a partly received stream; `to` is known when a retry of a step resumes. */
export interface ResumeStep extends StepBase {
  kind: "resume";
  resumeToken: string;
  to?: Snapshot;
}

/** One `zfs send | zfs receive`. */
export type Step = FullStep | IncrementalStep | ResumeStep;

/** How to choose what to send; part of the per-source policy. */
export interface ReplicationPolicy {
  /** First replication starts from the oldest snapshot (keeps history) or the newest (smallest). */
  firstSend: "oldest" | "newest";
  /** Only snapshots whose names start with one of these are sent; empty means all. */
  includePrefixes: string[];
}

/** A reference to a snapshot in records and output. */
export interface SnapshotRef {
  name: string;
  guid: string;
}

/** An error as stored in records: never an Error object. */
export interface RecordedError {
  code: ErrorCode;
  message: string;
  at: string;
  detail?: string;
}

/** Result of one dataset in one pass. */
/** "excluded": left out by the config or the source's property (core/selection.ts); its backup is kept. */
export type DatasetResult = "ok" | "up-to-date" | "conflict" | "failed" | "skipped" | "excluded";

/** Elapsed milliseconds per phase of a pass. */
export interface Phases {
  connect?: number;
  snapshot?: number;
  list?: number;
  plan?: number;
  transfer?: number;
  prune?: number;
  total?: number;
}

/** The record of one dataset in one pass. */
export interface DatasetRecord {
  source: string;
  dataset: string;
  target: string;
  mode: Mode;
  result: DatasetResult;
  /** Base of the first incremental step (absent for a full send). */
  from?: SnapshotRef;
  /** The snapshot a full send started with, when the pass seeded the target. */
  seed?: SnapshotRef;
  /** The newest snapshot on the target after the pass (or planned to be). */
  to?: SnapshotRef;
  steps: number;
  bytes: number;
  /** Transfer time of this dataset in milliseconds. */
  transferMs: number;
  /** Human explanation of a conflict or error, and what to do. */
  message?: string;
  conflict?: ConflictCode;
  error?: RecordedError;
  /** Snapshots destroyed by retention in this pass, per side. */
  pruned?: { source: number; backup: number };
  /** Problems that do not make the backup wrong (a hold or a prune that failed). */
  warnings?: string[];
  /** Where a conflicting backup was kept before it was re-seeded (`on_conflict: rename`). */
  keptAside?: string;
  /**
   * A partially received stream's `receive_resume_token`: the token this pass resumed (mode
   * "resume"), or the one a failed transfer left behind for the next pass.
   */
  resumeToken?: string;
}

/** The record of one pass over one source. */
export interface RunRecord {
  runId: string;
  source: string;
  startedAt: string;
  finishedAt: string;
  phases: Phases;
  datasets: DatasetRecord[];
  /** Target datasets kept on the backup whose source dataset is gone. */
  goneOnSource: string[];
  /** A failure of the whole source (connect, list), also copied into each dataset's record. */
  error?: RecordedError;
}

/** A backup dataset turned into a live one on the backup host by `bzman promote`. */
export interface Promotion {
  source: string;
  /** The source dataset whose backup was promoted; its pulls are paused until failback. */
  dataset: string;
  /** Where the backup lived (and returns to at failback). */
  target: string;
  /** The live dataset it was renamed to. */
  live: string;
  /** The newest backup snapshot at promotion: what the source and the live copy share. */
  snapshot: SnapshotRef;
  at: string;
}

/** What kind of operation an {@link OperationRecord} is. */
export type OperationKind = "restore" | "clone" | "cleanup" | "promote" | "failback" | "drill" | "scrub";

/** One restore, clone, cleanup, promotion, failback, drill or scrub, as recorded in the state file. */
export interface OperationRecord {
  id: string;
  kind: OperationKind;
  /** What it was about: "web1:tank/www", "web1", or "pool backup". */
  subject: string;
  source?: string;
  dataset?: string;
  pool?: string;
  startedAt: string;
  finishedAt: string;
  result: "ok" | "failed";
  /** One line for people: what was done, or what went wrong and what to do. */
  message: string;
  bytes?: number;
  error?: RecordedError;
  /** Facts of the operation (snapshot, files counted, bytes read, scrub errors, …). */
  details?: Record<string, string | number | boolean>;
  /** A promotion this operation put in force (set as soon as the backup was renamed live). */
  promotion?: Promotion;
  /** Set by the failback that ended the promotion of `source`/`dataset`. */
  promotionEnded?: boolean;
}
