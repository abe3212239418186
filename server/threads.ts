// Starting a worker thread on one of bzman's own modules, compiled (.js) or, under tsx, as source
// (.ts): a worker does not inherit tsx's module hooks, so there it registers them itself first.

import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * A worker running `entry` (a file name without extension, beside the module whose
 * `import.meta.url` is `beside`), with `options` (workerData and the like).
 */
export function startThread(beside: string, entry: string, options: WorkerOptions = {}): Worker {
  if (beside.endsWith(".js")) return new Worker(new URL(`./${entry}.js`, beside), options);
  const source = JSON.stringify(new URL(`./${entry}.ts`, beside).href);
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  return new Worker(`import(${tsx}).then((t) => { t.register(); return import(${source}); });`, {
    ...options,
    eval: true,
  });
}
