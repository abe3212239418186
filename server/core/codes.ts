// THE list of codes bzman reports: in a record's error, as an alert's condition, as the `code`
// label of bzman_failures_total. Pure data: each code's meaning to an operator and whether a
// retry may help. errors.ts builds BackupError on it; alerts.ts words the advice per code.

/** What a code means, and whether retrying may help (the engine retries transient errors). */
export interface CodeInfo {
  transient: boolean;
  text: string;
}

/**
 * Errors: what a BackupError carries and a record stores (`RecordedError.code`). Connectivity
 * codes are transient; everything else is permanent.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { transient: false, text: "the configuration is invalid, or lacks what a command needs" },
  CONFIG_UNREADABLE: { transient: false, text: "the configuration file (or a file it names) cannot be read" },
  SSH_CONNECT: { transient: true, text: "cannot connect to the source host over SSH" },
  SSH_AUTH: { transient: false, text: "the source host refused bzman's key" },
  SSH_HOSTKEY: { transient: false, text: "the source host's key is not the pinned one" },
  SSH_HOSTKEY_UNKNOWN: { transient: false, text: "no host key is pinned for this source" },
  SSH_IDENTITY: { transient: false, text: "the SSH identity file cannot be read" },
  SSH_CHANNEL: { transient: true, text: "the SSH connection failed while running a command" },
  SSH_NO_EXIT_STATUS: { transient: true, text: "a remote command ended without an exit status" },
  GUARD_REJECTED: { transient: false, text: "the source's guard refused a command" },
  UNSAFE_ARGUMENT: { transient: false, text: "an argument bzman never sends, or a name it never destroys" },
  SPAWN_FAILED: { transient: false, text: "a local command could not be started" },
  ZFS_DATASET_MISSING: { transient: false, text: "a dataset does not exist" },
  ZFS_POOL_MISSING: { transient: false, text: "the backup pool does not exist" },
  ZFS_DEST_MODIFIED: { transient: false, text: "the backup was modified since its newest snapshot" },
  ZFS_DEST_EXISTS: { transient: false, text: "the target exists and bzman will not overwrite it" },
  ZFS_SNAPSHOT_MISMATCH: { transient: false, text: "the backup's newest snapshot is not the stream's base" },
  ZFS_INVALID_STREAM: { transient: true, text: "the replication stream was cut or corrupt" },
  ZFS_RECV_RESUMABLE: { transient: true, text: "the receive was interrupted and can resume" },
  ZFS_RESUME_STALE: { transient: false, text: "a partial receive cannot resume: its snapshot is gone on the source" },
  ZFS_BUSY: { transient: true, text: "the dataset is busy" },
  ZFS_NO_SPACE: { transient: false, text: "the pool is out of space" },
  ZFS_PERMISSION: { transient: false, text: "permission denied by ZFS" },
  ZFS_UNSUPPORTED: { transient: false, text: "this ZFS does not support the requested operation" },
  ZFS_SEND_FAILED: { transient: true, text: "zfs send on the source failed" },
  ZFS_PARSE: { transient: false, text: "zfs output could not be parsed" },
  ZFS_FAILED: { transient: false, text: "a zfs command failed" },
  STALLED: { transient: true, text: "a transfer moved no byte for the stall timeout and was stopped" },
  ABORTED: { transient: true, text: "the operation was aborted" },
  STATE_UNREADABLE: { transient: false, text: "the history file cannot be opened or read" },
  STATE_NEWER: { transient: false, text: "the history file was written by a newer bzman" },
  STATE_BUSY: { transient: true, text: "another process kept the history file locked too long" },
  STATE_WRITE: { transient: false, text: "the history file cannot be written" },
  HTTP_LISTEN: { transient: false, text: "the status server cannot listen on http.listen" },
  SANDBOX: { transient: false, text: "the demo's sandbox (zfs-fuse, file pools, sshd) could not be set up or removed" },
  DRILL_FAILED: { transient: false, text: "a restore drill found a backup snapshot that is not intact" },
  SCRUB_ERRORS: { transient: false, text: "a scrub of a backup pool found damaged data" },
  INTERNAL: { transient: false, text: "an unexpected internal error (a bug)" },
} as const satisfies Record<string, CodeInfo>;

/** Conditions that are no failed operation: alerts, and problems in the status. */
export const CONDITION_CODES = {
  KEPT_ASIDE: { transient: false, text: "a conflicting backup was kept aside and re-seeded (on_conflict: rename)" },
  STALE: { transient: false, text: "a dataset has had no successful pass within its freshness goal (max_lag)" },
  POOL_HEALTH: { transient: false, text: "a pool is not ONLINE" },
  POOL_SPACE: { transient: false, text: "a pool is used beyond capacity_limit" },
} as const satisfies Record<string, CodeInfo>;

/**
 * Conflicts: a record's `conflict` (core/conflicts.ts, the kinds of `Conflict`), and as such an
 * alert's code and a failure label. `conflict` stands for a record that names no kind.
 */
export const CONFLICT_CODES = {
  "no-common-snapshot": { transient: false, text: "the backup shares no snapshot with the source" },
  diverged: { transient: false, text: "the backup has snapshots newer than the common one that the source lacks" },
  "target-exists": { transient: false, text: "the target exists without a snapshot; a full stream would overwrite it" },
  "no-source-snapshots": { transient: false, text: "the source dataset has no snapshot that may be sent" },
  "source-missing": { transient: false, text: "the configured dataset does not exist on the source" },
  "unsafe-name": { transient: false, text: "a dataset name holds characters bzman never puts in a command" },
  conflict: { transient: false, text: "a conflict whose kind the record does not name" },
} as const satisfies Record<string, CodeInfo>;

/** Every code, with its meaning: errors, conditions and conflicts. */
export const CODES: Readonly<Record<Code, CodeInfo>> = { ...ERROR_CODES, ...CONDITION_CODES, ...CONFLICT_CODES };

/** A code of an error (a {@link ERROR_CODES} key). */
export type ErrorCode = keyof typeof ERROR_CODES;

/** A code of a condition that is no failed operation (a {@link CONDITION_CODES} key). */
export type ConditionCode = keyof typeof CONDITION_CODES;

/** A conflict's code (a {@link CONFLICT_CODES} key). */
export type ConflictCode = keyof typeof CONFLICT_CODES;

/** Any code a record, an alert or a metric can carry. */
export type Code = ErrorCode | ConditionCode | ConflictCode;

/** True iff `s` is one of {@link CODES} (for values read back from a file). */
export function isCode(s: string): s is Code {
  return Object.hasOwn(CODES, s);
}
