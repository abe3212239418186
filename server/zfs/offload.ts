// The contract of a stream that runs off the main thread: a sender that can carry one step's
// `zfs send` into this host's `zfs receive` on a thread of its own (server/offload implements it
// for SSH sources). Types only.

import type { DatasetType, Step } from "../core/model.ts";
import type { ConfiguredReceive } from "../core/receive-properties.ts";
import type { SendOptions } from "./args.ts";
import type { Capabilities } from "./capabilities.ts";
import type { BackupError } from "../errors.ts";

/** One step to stream elsewhere, with what the main thread's transfer would have been given. */
export interface OffloadRequest {
  type: DatasetType;
  send: SendOptions;
  /** The sender's and the receiver's capabilities, as probed already (nothing is probed again). */
  senderCaps: Capabilities;
  receiverCaps: Capabilities;
  receiveProps?: ConfiguredReceive;
  /** Stop both ends when no byte has moved for this long (absent: no watchdog). */
  stallMs?: number;
  /** The bandwidth limit in bytes per second now (null: none), asked again while the stream runs. */
  rate?: () => number | null;
  signal?: AbortSignal;
  /** Bytes moved so far, told a few times a second. */
  onBytes?: (bytes: number) => void;
}

/**
 * Thrown when the stream's thread or its own connection could not be had: nothing was started,
 * and the step may run on the main thread instead. `reason` says why.
 */
export class OffloadUnavailable extends Error {
  constructor(readonly reason: BackupError) {
    super(`no stream thread: ${reason.message}`);
    this.name = "OffloadUnavailable";
  }
}

/** Streams steps from a sender on a thread of their own. */
export interface StreamOffload {
  /**
   * Runs the step; resolves with the bytes moved, or rejects with the transfer's BackupError, or
   * with {@link OffloadUnavailable} when nothing was started.
   */
  transfer(step: Step, req: OffloadRequest): Promise<number>;
}
