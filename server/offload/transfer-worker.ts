// The entry of a stream worker thread: opens its own SSH connection to the source, then runs the
// steps it is given, one at a time, with engine/transfer.ts (the same pipe, stall watchdog,
// bandwidth limit and error choice as on the main thread) into this host's `zfs receive`,
// telling the main thread the bytes a few times a second and each step's end. After a step that
// completed it keeps its connection for the next one; after a failed step, when told to close,
// or when its connection is lost, it closes the connection and ends the thread. A step on a kept
// connection that the source closed before any byte arrived is told as `unavailable`, so that a
// new worker runs it.
// Started by thread-offload.ts.

import { parentPort, workerData } from "node:worker_threads";
import { transferStep } from "../engine/transfer.ts";
import { BackupError, toBackupError } from "../errors.ts";
import { connectSource, type SourceConnection } from "../ssh/connection.ts";
import { LocalRunner } from "../zfs/runner.ts";
import { ZfsHost } from "../zfs/zfs-host.ts";
import type { ErrorData, FromWorker, StepJob, ToWorker, WorkerStart } from "./messages.ts";

/** How often the bytes so far are told. */
const TELL_EVERY_MS = 200;

const port = parentPort!;
const { endpoint } = workerData as WorkerStart;
/** Ends the connection attempt when the main thread says close before it is open. */
const opening = new AbortController();
/** The running step's abort, and its bandwidth limit now. */
let running: { stop: AbortController; rate: number | null } | undefined;
let conn: SourceConnection | undefined;
let ending = false;
/** Steps this thread completed: a later one runs on a connection kept from them. */
let completed = 0;

const tell = (m: FromWorker): void => port.postMessage(m);
const data = (e: BackupError): ErrorData => ({
  code: e.code,
  message: e.message,
  transient: e.transient,
  ...(e.detail !== undefined ? { detail: e.detail } : {}),
});

/** Closes the connection and ends the thread (once). */
async function end(): Promise<void> {
  if (ending) return;
  ending = true;
  opening.abort();
  await conn?.close();
  port.close();
  // A peer that stopped answering can keep the connection's socket (and with it this thread)
  // alive after close() gave up on it: the thread ends here, its handles with it.
  process.exit(0);
}

async function runStep(job: StepJob): Promise<void> {
  if (!conn || conn.isClosed) {
    // Lost while idle: nothing is started; the main thread takes another way.
    tell({
      kind: "unavailable",
      error: data(new BackupError("SSH_CONNECT", `${endpoint.name}: the stream thread's connection was lost`)),
    });
    return end();
  }
  const stop = new AbortController();
  running = { stop, rate: job.rate ?? null };
  const current = running;
  // From here on the step runs: a thread that ends without a result is a failed step, not one
  // that may run on the main thread instead.
  tell({ kind: "started" });
  let moved = 0;
  try {
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
          moved = bytes;
          const now = performance.now();
          if (now - told < TELL_EVERY_MS) return;
          told = now;
          tell({ kind: "bytes", bytes });
        },
        ...(job.stallMs !== undefined ? { stallMs: job.stallMs } : {}),
        ...(job.rate !== undefined ? { rate: () => current.rate } : {}),
        ...(job.receiveProps ? { receiveProps: job.receiveProps } : {}),
      },
    );
    running = undefined;
    completed++;
    tell({ kind: "done", bytes });
    // Lost during a step that still completed: not kept for another.
    if (conn.isClosed) await end();
  } catch (err) {
    running = undefined;
    const e = toBackupError(err);
    // A kept connection that the source closed as this step began (the close crossed the step on
    // the wire): nothing reached the receive, so the step may run again on a new connection.
    const lost = completed > 0 && moved === 0 && !stop.signal.aborted && e.code.startsWith("SSH_") && e.transient;
    if (lost)
      tell({
        kind: "unavailable",
        error: data(new BackupError(e.code, `${e.message} (on the stream thread's kept connection, before any byte)`)),
      });
    // The failure may have been the connection's: it is not used again.
    else tell({ kind: "failed", error: data(e) });
    await end();
  }
}

port.on("message", (m: ToWorker) => {
  if (m.kind === "step") void runStep(m.job);
  else if (m.kind === "abort") running?.stop.abort();
  else if (m.kind === "rate") {
    if (running) running.rate = m.rate;
  } else void end();
});

try {
  conn = await connectSource({ ...endpoint, connections: 1 }, opening.signal);
} catch (err) {
  if (!ending) tell({ kind: "unavailable", error: data(toBackupError(err)) });
  await end();
}
if (!ending) {
  // A connection lost while no step runs ends the thread; the main thread drops it from its idle ones.
  conn!.onClose(() => {
    if (!running) void end();
  });
  if (!ending) tell({ kind: "ready" });
}
