// ThreadOffload: the StreamOffload of an SSH source. A step runs on a worker thread
// (transfer-worker.ts) with a connection of its own, so the stream's decryption and copying run
// beside the main thread, not on it. The main thread relays abort and bandwidth changes to it
// and its byte counts to the caller. A worker whose step completed is kept, with its connection,
// for the pass's next large stream (a login over a far link costs several round trips), until
// close() or IDLE_MS without a step; a worker whose step failed ends, and the step settles once
// it has.

import type { Worker } from "node:worker_threads";
import type { Step } from "../core/model.ts";
import { BackupError } from "../errors.ts";
import type { SourceEndpoint } from "../ssh/connection.ts";
import { startThread } from "../threads.ts";
import { type OffloadRequest, OffloadUnavailable, type StreamOffload } from "../zfs/offload.ts";
import type { ErrorData, FromWorker, StepJob, ToWorker, WorkerStart } from "./messages.ts";

/** How long a thread may take to end after a failure or a close (it closes its connection first). */
const END_GRACE_MS = 5000;

/** How often the bandwidth limit is asked again (a daily window opens on a minute). */
const RATE_EVERY_MS = 1000;

/** How long an idle worker keeps its connection for another step. */
export const IDLE_MS = 10_000;

const backupError = (e: ErrorData): BackupError =>
  new BackupError(e.code, e.message, {
    transient: e.transient,
    ...(e.detail !== undefined ? { detail: e.detail } : {}),
  });

const aborted = (step: Step): BackupError => new BackupError("ABORTED", `transfer of ${step.targetDataset} aborted`);

/** A worker waiting for a step, and what ends its wait. */
interface Idle {
  worker: Worker;
  timer: NodeJS.Timeout;
  onExit: () => void;
}

/** Asks `worker` to end; ends it after END_GRACE_MS if it has not. Resolves once it has exited. */
function endWorker(worker: Worker): Promise<void> {
  // Held while it ends: a kept worker no longer holds the process, but close() is awaited.
  worker.ref();
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => void worker.terminate(), END_GRACE_MS);
    t.unref();
    worker.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    worker.postMessage({ kind: "close" } satisfies ToWorker);
  });
}

/** Streams a source's steps on worker threads, each over a connection of its own to `endpoint`. */
export class ThreadOffload implements StreamOffload {
  private readonly idle: Idle[] = [];
  private closed = false;
  /** What each worker threw, if it did: an `error` event without a listener would throw here. */
  private readonly crashes = new WeakMap<Worker, Error>();

  constructor(private readonly endpoint: SourceEndpoint) {}

  /** Workers waiting for a step now (each with its open connection). */
  get idleWorkers(): number {
    return this.idle.length;
  }

  async transfer(step: Step, req: OffloadRequest): Promise<number> {
    if (req.signal?.aborted) throw aborted(step);
    const kept = this.idle.pop();
    if (kept) {
      clearTimeout(kept.timer);
      kept.worker.off("exit", kept.onExit);
      try {
        return await this.run(kept.worker, step, req);
      } catch (err) {
        // Its connection was lost while it waited: nothing was started; a new worker takes the step.
        if (!(err instanceof OffloadUnavailable) || req.signal?.aborted) throw err;
      }
    }
    return this.run(await this.start(step, req.signal), step, req);
  }

  /** Ends the workers waiting for a step; later steps start no worker. Resolves once they have ended. */
  async close(): Promise<void> {
    this.closed = true;
    const idle = this.idle.splice(0);
    for (const i of idle) clearTimeout(i.timer);
    await Promise.all(idle.map((i) => endWorker(i.worker)));
  }

  /** A new worker with its connection open; OffloadUnavailable when it cannot be had, ABORTED on abort. */
  private start(step: Step, signal?: AbortSignal): Promise<Worker> {
    if (this.closed)
      return Promise.reject(
        new OffloadUnavailable(new BackupError("INTERNAL", "the source's connection is closed already")),
      );
    let worker: Worker;
    try {
      worker = startThread(import.meta.url, "transfer-worker", {
        workerData: { endpoint: this.endpoint } satisfies WorkerStart,
      });
    } catch (err) {
      return Promise.reject(
        new OffloadUnavailable(new BackupError("INTERNAL", `cannot start a stream thread: ${(err as Error).message}`)),
      );
    }
    // For the thread's whole life, idle or not; its exit follows and says the rest.
    worker.on("error", (err) => this.crashes.set(worker, err));
    return new Promise<Worker>((resolve, reject) => {
      let unavailable: ErrorData | undefined;
      // An abort while it connects ends the thread: nothing has run on the source yet.
      const onAbort = (): void => void worker.terminate();
      const onMessage = (m: FromWorker): void => {
        if (m.kind === "ready" && !signal?.aborted) {
          settle();
          resolve(worker);
        } else if (m.kind === "unavailable") unavailable = m.error; // it ends itself
      };
      const onExit = (code: number): void => {
        settle();
        const crash = this.crashes.get(worker);
        if (signal?.aborted) reject(aborted(step));
        else if (unavailable) reject(new OffloadUnavailable(backupError(unavailable)));
        // It ended before its connection was open (its code could not be loaded): nothing was started.
        else
          reject(
            new OffloadUnavailable(
              new BackupError("INTERNAL", `the stream thread ended (exit ${code})${crash ? `: ${crash.message}` : ""}`),
            ),
          );
      };
      const settle = (): void => {
        signal?.removeEventListener("abort", onAbort);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      worker.on("message", onMessage);
      worker.on("exit", onExit);
    });
  }

  /** Runs `step` on `worker` (open and idle); settles with its bytes, or once a failed worker has ended. */
  private run(worker: Worker, step: Step, req: OffloadRequest): Promise<number> {
    if (req.signal?.aborted) {
      this.park(worker);
      return Promise.reject(aborted(step));
    }
    worker.ref();
    const rate = req.rate?.();
    const job: StepJob = {
      step,
      type: req.type,
      send: req.send,
      senderCaps: req.senderCaps,
      receiverCaps: req.receiverCaps,
      ...(req.receiveProps ? { receiveProps: req.receiveProps } : {}),
      ...(req.stallMs !== undefined ? { stallMs: req.stallMs } : {}),
      ...(rate !== undefined ? { rate } : {}),
    };
    const say = (m: ToWorker): void => worker.postMessage(m);
    return new Promise<number>((resolve, reject) => {
      let end: FromWorker | undefined;
      let started = false;
      let backstop: NodeJS.Timeout | undefined;
      let lastRate = rate;
      const rateTimer = req.rate
        ? setInterval(() => {
            const now = req.rate!();
            if (now !== lastRate) say({ kind: "rate", rate: now });
            lastRate = now;
          }, RATE_EVERY_MS)
        : undefined;
      rateTimer?.unref();
      const onAbort = (): void => say({ kind: "abort" });
      const settle = (): void => {
        clearTimeout(backstop);
        clearInterval(rateTimer);
        req.signal?.removeEventListener("abort", onAbort);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
      };
      const onMessage = (m: FromWorker): void => {
        if (m.kind === "bytes") req.onBytes?.(m.bytes);
        else if (m.kind === "started") started = true;
        else if (m.kind === "done") {
          settle();
          req.onBytes?.(m.bytes);
          this.park(worker);
          resolve(m.bytes);
        } else if (m.kind !== "ready") {
          end = m;
          // The thread ends itself after a failure; one that does not is ended.
          backstop = setTimeout(() => void worker.terminate(), END_GRACE_MS);
          backstop.unref();
        }
      };
      const onExit = (code: number): void => {
        settle();
        const crash = this.crashes.get(worker);
        if (end?.kind === "failed") reject(backupError(end.error));
        else if (end?.kind === "unavailable") reject(new OffloadUnavailable(backupError(end.error)));
        else if (!started)
          reject(
            new OffloadUnavailable(
              new BackupError(
                "INTERNAL",
                `the stream thread ended (exit ${code}) before its step began${crash ? `: ${crash.message}` : ""}`,
              ),
            ),
          );
        else
          reject(
            new BackupError(
              "INTERNAL",
              `the stream thread of ${step.targetDataset} ended (exit ${code}) without a result${crash ? `: ${crash.message}` : ""}`,
            ),
          );
      };
      req.signal?.addEventListener("abort", onAbort, { once: true });
      worker.on("message", onMessage);
      worker.on("exit", onExit);
      say({ kind: "step", job });
    });
  }

  /** Keeps an idle worker for the next step: it holds the process no longer, and ends after IDLE_MS. */
  private park(worker: Worker): void {
    if (this.closed) return void endWorker(worker);
    worker.unref();
    const entry: Idle = {
      worker,
      timer: setTimeout(() => {
        this.drop(entry);
        void endWorker(worker);
      }, IDLE_MS),
      onExit: () => {
        clearTimeout(entry.timer);
        this.drop(entry);
      },
    };
    entry.timer.unref();
    worker.once("exit", entry.onExit);
    this.idle.push(entry);
  }

  private drop(entry: Idle): void {
    const i = this.idle.indexOf(entry);
    if (i >= 0) this.idle.splice(i, 1);
  }
}
