// core/data-path.ts: which thread carries a stream.

import { test } from "node:test";
import assert from "node:assert/strict";
import { streamInWorker, WORKER_MIN_BYTES } from "../../server/core/data-path.ts";

test("auto: a worker for streams estimated at WORKER_MIN_BYTES or more, the main thread otherwise", () => {
  assert.equal(streamInWorker("auto", true, WORKER_MIN_BYTES), true);
  assert.equal(streamInWorker("auto", true, WORKER_MIN_BYTES - 1), false);
  assert.equal(streamInWorker("auto", true, undefined), false, "no estimate: the main thread");
});

test("main never, worker always; neither where the sender has no worker", () => {
  assert.equal(streamInWorker("main", true, 10 * WORKER_MIN_BYTES), false);
  assert.equal(streamInWorker("worker", true, undefined), true);
  assert.equal(streamInWorker("worker", true, 1), true);
  for (const path of ["auto", "main", "worker"] as const)
    assert.equal(streamInWorker(path, false, 10 * WORKER_MIN_BYTES), false, path);
});
