// What the main thread and a stream's worker thread say to each other: the source the worker
// connects to (its workerData), the steps it is given one at a time, and the messages both ways.
// Plain data only (structured clone).

import type { DatasetType, Step } from "../core/model.ts";
import type { ConfiguredReceive } from "../core/receive-properties.ts";
import type { ErrorCode } from "../errors.ts";
import type { SourceEndpoint } from "../ssh/connection.ts";
import type { SendOptions } from "../zfs/args.ts";
import type { Capabilities } from "../zfs/capabilities.ts";

/** A worker's workerData: the source it opens its own connection to. */
export interface WorkerStart {
  endpoint: SourceEndpoint;
}

/** One step for a worker: what to send, how to receive it here. */
export interface StepJob {
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

/**
 * From the main thread: run a step (only while the worker is idle), stop the running step
 * (abort), the bandwidth limit changed, or end (close the connection and the thread).
 */
export type ToWorker =
  | { kind: "step"; job: StepJob }
  | { kind: "abort" }
  | { kind: "rate"; rate: number | null }
  | { kind: "close" };

/** A BackupError as plain data. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  detail?: string;
  transient: boolean;
}

/**
 * From the worker: `ready` once its connection is open (it waits for a step then), and
 * `unavailable` when it could not be opened or was lost while idle (the thread ends, nothing was
 * started); for a step, `started` as it begins, bytes so far, and its end: `done` (the worker
 * is idle again, its connection kept) or `failed` (the thread ends).
 */
export type FromWorker =
  | { kind: "ready" }
  | { kind: "started" }
  | { kind: "bytes"; bytes: number }
  | { kind: "done"; bytes: number }
  | { kind: "failed"; error: ErrorData }
  | { kind: "unavailable"; error: ErrorData };
