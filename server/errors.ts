// The one list of error codes bzman reports, and the typed error adapters throw.
// Adapters throw only BackupError; conflicts are never errors (see core/conflicts.ts).

/** Every code bzman can report, with what it means to an operator. */
export const ErrorCodes = {
  CONFIG_INVALID: { transient: false, text: "the configuration file is invalid" },
  CONFIG_UNREADABLE: { transient: false, text: "the configuration file cannot be read" },
  SSH_CONNECT: { transient: true, text: "cannot connect to the source host over SSH" },
  SSH_AUTH: { transient: false, text: "the source host refused bzman's key" },
  SSH_HOSTKEY: { transient: false, text: "the source host's key is not the pinned one" },
  SSH_HOSTKEY_UNKNOWN: { transient: false, text: "no host key is pinned for this source" },
  SSH_IDENTITY: { transient: false, text: "the SSH identity file cannot be read" },
  SSH_CHANNEL: { transient: true, text: "the SSH connection failed while running a command" },
  SSH_NO_EXIT_STATUS: { transient: true, text: "a remote command ended without an exit status" },
  GUARD_REJECTED: { transient: false, text: "the source's guard refused a command" },
  UNSAFE_ARGUMENT: { transient: false, text: "a command argument holds characters bzman never sends" },
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
  INTERNAL: { transient: false, text: "an unexpected internal error (a bug)" },
} as const;

/** A code from {@link ErrorCodes}. */
export type ErrorCode = keyof typeof ErrorCodes;

/** The error every adapter throws: a code, whether retrying may help, and the stderr tail. */
export class BackupError extends Error {
  readonly code: ErrorCode;
  readonly transient: boolean;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { detail?: string; cause?: unknown; transient?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "BackupError";
    this.code = code;
    this.transient = opts.transient ?? ErrorCodes[code].transient;
    this.detail = opts.detail;
  }
}

/** Wraps anything thrown into a BackupError; code-less errors are reported as INTERNAL (a bug). */
export function toBackupError(err: unknown): BackupError {
  if (err instanceof BackupError) return err;
  if (err instanceof Error && err.name === "AbortError") return new BackupError("ABORTED", "aborted", { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new BackupError("INTERNAL", message, { cause: err });
}
