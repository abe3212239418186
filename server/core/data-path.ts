// Which thread carries a stream's bytes, pure: the main thread over the source's shared SSH
// connection, or a worker thread with a connection of its own that feeds `zfs receive` itself
// (the `data_path` setting; the numbers behind the threshold are in bench/transport.ts).

/** The configured data path: `auto` (the worker for large streams), `main` or `worker` (always). */
export type DataPath = "auto" | "main" | "worker";

/** The data paths the configuration accepts. */
export const DATA_PATHS: readonly DataPath[] = ["auto", "main", "worker"];

/**
 * The smallest estimated stream `auto` gives a worker. A worker costs a thread and one SSH login
 * (tens of milliseconds on a LAN); below this the stream is over before that pays off.
 */
export const WORKER_MIN_BYTES = 64 * 1024 * 1024;

/**
 * Whether a stream goes through a worker thread.
 * @param path the configured data path
 * @param workerAvailable whether the sender can stream through a worker at all (an SSH source)
 * @param estimatedBytes the source's estimate of the stream (`zfs send -nP`); absent when it has none
 */
export function streamInWorker(path: DataPath, workerAvailable: boolean, estimatedBytes?: number): boolean {
  if (!workerAvailable || path === "main") return false;
  if (path === "worker") return true;
  return estimatedBytes !== undefined && estimatedBytes >= WORKER_MIN_BYTES;
}
