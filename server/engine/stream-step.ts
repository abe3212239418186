// One step of a replication, on the thread core/data-path.ts chooses: the main thread
// (transfer.ts over the source's shared connection) or the source's StreamOffload (a worker
// thread with a connection of its own). A worker that cannot be had is told as a warning and
// the step runs on the main thread, so a refused extra login never costs a backup.

import { type DataPath, streamInWorker } from "../core/data-path.ts";
import type { DatasetRecord, DatasetType, Step } from "../core/model.ts";
import type { ConfiguredReceive } from "../core/receive-properties.ts";
import type { SendOptions } from "../zfs/args.ts";
import { BackupError } from "../errors.ts";
import { OffloadUnavailable } from "../zfs/offload.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { type TransferProgress, transferStep } from "./transfer.ts";
import { addWarning } from "./warnings.ts";

/** What a replication step is sent with. */
export interface StreamStepOptions {
  type: DatasetType;
  send: SendOptions;
  dataPath: DataPath;
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
  estimatedBytes?: number;
  stallMs?: number;
  rate?: () => number | null;
  receiveProps?: ConfiguredReceive;
}

/**
 * Streams `step` from `remote` into `local`; resolves with the bytes moved, throws the transfer's
 * BackupError. `rec` gets a warning when a worker was chosen but could not be had.
 */
export async function streamStep(
  step: Step,
  remote: ZfsHost,
  local: ZfsHost,
  rec: DatasetRecord,
  o: StreamStepOptions,
): Promise<number> {
  const common = {
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.stallMs !== undefined ? { stallMs: o.stallMs } : {}),
    ...(o.rate ? { rate: o.rate } : {}),
    ...(o.receiveProps ? { receiveProps: o.receiveProps } : {}),
  };
  if (remote.offload && streamInWorker(o.dataPath, true, o.estimatedBytes)) {
    const est = o.estimatedBytes !== undefined ? { estimatedBytes: o.estimatedBytes } : {};
    try {
      return await remote.offload.transfer(step, {
        type: o.type,
        send: o.send,
        senderCaps: await remote.capabilities(o.signal),
        receiverCaps: await local.capabilities(o.signal),
        ...common,
        ...(o.onProgress ? { onBytes: (bytes: number) => o.onProgress!({ step, bytes, ...est }) } : {}),
      });
    } catch (err) {
      if (!(err instanceof OffloadUnavailable)) throw err;
      if (o.signal?.aborted) throw new BackupError("ABORTED", `transfer of ${step.targetDataset} aborted`);
      addWarning(rec, `${err.message}; the stream went through the main thread`);
    }
  }
  return transferStep(
    step,
    { sender: remote, receiver: local },
    {
      type: o.type,
      send: o.send,
      ...common,
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.estimatedBytes !== undefined ? { estimatedBytes: o.estimatedBytes } : {}),
    },
  );
}
