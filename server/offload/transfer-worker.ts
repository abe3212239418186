// The entry of a stream's worker thread: opens its own SSH connection to the source, runs the
// step with engine/transfer.ts (the same pipe, stall watchdog, bandwidth limit and error choice
// as on the main thread) into this host's `zfs receive`, tells the main thread the bytes a few
// times a second and the end, then closes the connection and ends the thread. Started by thread-offload.ts.

import { parentPort, workerData } from "node:worker_threads";
import { transferStep } from "../engine/transfer.ts";
import { type BackupError, toBackupError } from "../errors.ts";
import { connectSource, type SourceConnection } from "../ssh/connection.ts";
import { LocalRunner } from "../zfs/runner.ts";
import { ZfsHost } from "../zfs/zfs-host.ts";
import type { ErrorData, FromWorker, ToWorker, WorkerJob } from "./messages.ts";

/** How often the bytes so far are told. */
const TELL_EVERY_MS = 200;

const port = parentPort!;
const job = workerData as WorkerJob;
const stop = new AbortController();
let rate = job.rate ?? null;

port.on("message", (m: ToWorker) => {
  if (m.kind === "abort") stop.abort();
  else rate = m.rate;
});

const tell = (m: FromWorker): void => port.postMessage(m);
const data = (e: BackupError): ErrorData => ({
  code: e.code,
  message: e.message,
  transient: e.transient,
  ...(e.detail !== undefined ? { detail: e.detail } : {}),
});

const aborted = (): void =>
  tell({
    kind: "failed",
    error: { code: "ABORTED", message: `transfer of ${job.step.targetDataset} aborted`, transient: false },
  });

async function main(): Promise<void> {
  // An abort may have arrived while this thread was loading: nothing is started then.
  if (stop.signal.aborted) return aborted();
  let conn: SourceConnection;
  try {
    conn = await connectSource({ ...job.endpoint, connections: 1 }, stop.signal);
  } catch (err) {
    tell({ kind: stop.signal.aborted ? "failed" : "unavailable", error: data(toBackupError(err)) });
    return;
  }
  try {
    if (stop.signal.aborted) return aborted();
    // From here on the step runs: a thread that ends without a result is a failed step, not
    // one that may run on the main thread instead.
    tell({ kind: "started" });
    const sender = new ZfsHost(conn.runner);
    sender.assumeCapabilities(job.senderCaps);
    const receiver = new ZfsHost(new LocalRunner());
    receiver.assumeCapabilities(job.receiverCaps);
    let told = 0;
    const bytes = await transferStep(
      job.step,
      { sender, receiver },
      {
        type: job.type,
        send: job.send,
        signal: stop.signal,
        onProgress: ({ bytes }) => {
          const now = performance.now();
          if (now - told < TELL_EVERY_MS) return;
          told = now;
          tell({ kind: "bytes", bytes });
        },
        ...(job.stallMs !== undefined ? { stallMs: job.stallMs } : {}),
        ...(job.rate !== undefined ? { rate: () => rate } : {}),
        ...(job.receiveProps ? { receiveProps: job.receiveProps } : {}),
      },
    );
    tell({ kind: "done", bytes });
  } catch (err) {
    tell({ kind: "failed", error: data(toBackupError(err)) });
  } finally {
    await conn.close();
  }
}

await main();
port.close();
// A peer that stopped answering can keep the connection's socket (and with it this thread)
// alive after close() gave up on it: the thread ends here, its handles with it.
process.exit(0);
