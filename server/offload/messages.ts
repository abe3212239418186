// What the main thread and a stream's worker thread say to each other: the job the worker gets
// as its workerData, and the messages both ways. Plain data only (structured clone).

import type { DatasetType, Step } from "../core/model.ts";
import type { ConfiguredReceive } from "../core/receive-properties.ts";
import type { ErrorCode } from "../errors.ts";
import type { SourceEndpoint } from "../ssh/connection.ts";
import type { SendOptions } from "../zfs/args.ts";
import type { Capabilities } from "../zfs/capabilities.ts";

/** One step for a worker: where the source is, what to send, how to receive it here. */
export interface WorkerJob {
  endpoint: SourceEndpoint;
  step: Step;
  type: DatasetType;
  send: SendOptions;
  senderCaps: Capabilities;
  receiverCaps: Capabilities;
  receiveProps?: ConfiguredReceive;
  stallMs?: number;
  /** The bandwidth limit when the stream starts: a number, null for none now; absent: no limiter at all. */
  rate?: number | null;
}

/** From the main thread: stop the stream (abort), or the bandwidth limit changed. */
export type ToWorker = { kind: "abort" } | { kind: "rate"; rate: number | null };

/** A BackupError as plain data. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  detail?: string;
  transient: boolean;
}

/**
 * From the worker: `started` once its connection is open and the step begins; bytes so far; the
 * end (bytes moved, or the error); `unavailable` when its connection could not be opened and
 * nothing was started.
 */
export type FromWorker =
  | { kind: "started" }
  | { kind: "bytes"; bytes: number }
  | { kind: "done"; bytes: number }
  | { kind: "failed"; error: ErrorData }
  | { kind: "unavailable"; error: ErrorData };
