// ThreadOffload: the StreamOffload of an SSH source. Each step gets a worker thread
// (transfer-worker.ts) with a connection of its own, so the stream's decryption and copying run
// beside the main thread, not on it. The main thread relays abort and bandwidth changes to it
// and its byte counts to the caller, and waits for the thread to end before it settles.

import type { Worker } from "node:worker_threads";
import type { Step } from "../core/model.ts";
import { BackupError } from "../errors.ts";
import type { SourceEndpoint } from "../ssh/connection.ts";
import { startThread } from "../threads.ts";
import { type OffloadRequest, OffloadUnavailable, type StreamOffload } from "../zfs/offload.ts";
import type { ErrorData, FromWorker, ToWorker, WorkerJob } from "./messages.ts";

/** How long a thread may take to end after telling its result (it closes its connection first). */
const END_GRACE_MS = 5000;

/** How often the bandwidth limit is asked again (a daily window opens on a minute). */
const RATE_EVERY_MS = 1000;

const backupError = (e: ErrorData): BackupError =>
  new BackupError(e.code, e.message, {
    transient: e.transient,
    ...(e.detail !== undefined ? { detail: e.detail } : {}),
  });

/** Streams a source's steps on worker threads, each over a connection of its own to `endpoint`. */
export class ThreadOffload implements StreamOffload {
  constructor(private readonly endpoint: SourceEndpoint) {}

  transfer(step: Step, req: OffloadRequest): Promise<number> {
    if (req.signal?.aborted)
      return Promise.reject(new BackupError("ABORTED", `transfer of ${step.targetDataset} aborted`));
    const rate = req.rate?.();
    const job: WorkerJob = {
      endpoint: this.endpoint,
      step,
      type: req.type,
      send: req.send,
      senderCaps: req.senderCaps,
      receiverCaps: req.receiverCaps,
      ...(req.receiveProps ? { receiveProps: req.receiveProps } : {}),
      ...(req.stallMs !== undefined ? { stallMs: req.stallMs } : {}),
      ...(rate !== undefined ? { rate } : {}),
    };
    let worker: Worker;
    try {
      worker = startThread(import.meta.url, "transfer-worker", { workerData: job });
    } catch (err) {
      return Promise.reject(
        new OffloadUnavailable(new BackupError("INTERNAL", `cannot start a stream thread: ${(err as Error).message}`)),
      );
    }
    const say = (m: ToWorker): void => worker.postMessage(m);
    const onAbort = (): void => say({ kind: "abort" });
    req.signal?.addEventListener("abort", onAbort, { once: true });
    let lastRate = rate;
    const rateTimer = req.rate
      ? setInterval(() => {
          const now = req.rate!();
          if (now !== lastRate) say({ kind: "rate", rate: now });
          lastRate = now;
        }, RATE_EVERY_MS)
      : undefined;
    rateTimer?.unref();

    return new Promise<number>((resolve, reject) => {
      let end: FromWorker | undefined;
      let started = false;
      let crash: Error | undefined;
      let backstop: NodeJS.Timeout | undefined;
      worker.on("message", (m: FromWorker) => {
        if (m.kind === "bytes") req.onBytes?.(m.bytes);
        else if (m.kind === "started") started = true;
        else {
          end = m;
          // The thread ends itself after its result; one that does not is ended.
          backstop = setTimeout(() => void worker.terminate(), END_GRACE_MS);
          backstop.unref();
        }
      });
      worker.once("error", (err) => (crash = err));
      worker.once("exit", (code) => {
        clearTimeout(backstop);
        clearInterval(rateTimer);
        req.signal?.removeEventListener("abort", onAbort);
        if (end?.kind === "done") {
          req.onBytes?.(end.bytes);
          resolve(end.bytes);
        } else if (end?.kind === "failed") reject(backupError(end.error));
        else if (end?.kind === "unavailable") reject(new OffloadUnavailable(backupError(end.error)));
        else if (!started)
          // It ended before its step began (its code could not be loaded): nothing was started.
          reject(
            new OffloadUnavailable(
              new BackupError("INTERNAL", `the stream thread ended (exit ${code})${crash ? `: ${crash.message}` : ""}`),
            ),
          );
        else
          reject(
            new BackupError(
              "INTERNAL",
              `the stream thread of ${step.targetDataset} ended (exit ${code}) without a result${crash ? `: ${crash.message}` : ""}`,
            ),
          );
      });
    });
  }
}
