// The typed error adapters throw, on THE list of codes (core/codes.ts), and how a record keeps one.
// Adapters throw only BackupError; conflicts are never errors (see core/conflicts.ts).

import { ERROR_CODES, type ErrorCode } from "./core/codes.ts";
import type { RecordedError } from "./core/model.ts";

export type { ErrorCode } from "./core/codes.ts";

/** The error every adapter throws: a code, whether retrying may help, and the stderr tail. */
export class BackupError extends Error {
  readonly code: ErrorCode;
  readonly transient: boolean;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { detail?: string; cause?: unknown; transient?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "BackupError";
    this.code = code;
    this.transient = opts.transient ?? ERROR_CODES[code].transient;
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

/** How much of a command's stderr a record keeps: its tail. */
const RECORDED_DETAIL_CHARS = 4000;

/** An error as records keep it (`{code, message, at}`, the stderr tail), never the Error object. */
export function recordedError(err: BackupError, at: Date): RecordedError {
  const detail = err.detail ? { detail: err.detail.slice(-RECORDED_DETAIL_CHARS) } : {};
  return { code: err.code, message: err.message, at: at.toISOString(), ...detail };
}
