// Checkpoints of the write-ahead log in a worker thread with its own connection, for the daemon:
// a checkpoint copies pages into the database and fsyncs it, which would otherwise block the
// event loop for milliseconds every few hundred appends. The worker is plain JavaScript (it
// must run the same under tsx and from dist/) and loads the driver by its resolved path.

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { PAGE_CACHE_KIB } from "./schema.ts";

const CODE = `
const { workerData, parentPort } = require("node:worker_threads");
const Database = require(workerData.driver);
const flag = new Int32Array(workerData.flag);
const db = new Database(workerData.path, { fileMustExist: true, timeout: 200 });
db.pragma("cache_size = -" + workerData.cacheKib);
const timer = setInterval(() => {
  try {
    // PASSIVE never waits for anyone. The log restarts from its beginning only when a write
    // begins after a checkpoint that caught up; under a steady stream of writes that moment may
    // not come, so past restartFrames RESTART briefly holds off writers (they wait on their busy
    // timeout while the few frames since the passive checkpoint are copied).
    const [r] = db.pragma("wal_checkpoint(PASSIVE)");
    if (r && r.log > workerData.restartFrames) db.pragma("wal_checkpoint(RESTART)");
  } catch { /* busy or closing: the next tick tries again */ }
}, workerData.everyMs);
parentPort.once("message", () => {
  clearInterval(timer);
  db.close();
  Atomics.store(flag, 0, 2);
  Atomics.notify(flag, 0);
  parentPort.close();
});`;

/** A running checkpoint thread. */
export class Checkpointer {
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private readonly worker: Worker;

  /** Starts checkpointing the database at `path` every `everyMs`. The thread never keeps the process alive. */
  constructor(path: string, everyMs = 200, restartFrames = 2048) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(CODE, {
      eval: true,
      workerData: { driver, path, everyMs, restartFrames, cacheKib: PAGE_CACHE_KIB, flag: this.flag.buffer },
    });
    // A thread that died leaves checkpoints to the writers' own (SQLite's automatic ones).
    const gone = (): void => void Atomics.store(this.flag, 0, 2);
    this.worker.on("error", gone).on("exit", gone);
    this.worker.unref();
  }

  /**
   * Stops the thread and waits (at most `waitMs`) until its connection is closed, so that the
   * caller's connection can be the last one. Synchronous: it also runs in an exit handler.
   */
  stop(waitMs = 2000): void {
    if (Atomics.load(this.flag, 0) !== 0) return;
    Atomics.store(this.flag, 0, 1);
    this.worker.postMessage("stop");
    Atomics.wait(this.flag, 0, 1, waitMs);
  }
}
