// A bandwidth limit in the transfer pipe: a token bucket that lets at most the current rate
// through (a quarter second of burst). The rate is asked for per chunk, so a daily window
// starts and ends in the middle of a stream. Only in the pipe when a limit is configured.

import { Transform, type TransformCallback } from "node:stream";

/** The clock the throttle waits on (injected in tests). */
export interface ThrottleClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const REAL_CLOCK: ThrottleClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** Passes chunks through no faster than `rate()` bytes per second (null: unlimited). */
export class Throttle extends Transform {
  private allowance = 0;
  private last: number;

  constructor(
    private readonly rate: () => number | null,
    private readonly clock: ThrottleClock = REAL_CLOCK,
  ) {
    super();
    this.last = clock.now();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const rate = this.rate();
    const now = this.clock.now();
    if (!rate) {
      this.last = now;
      this.allowance = 0;
      cb(null, chunk);
      return;
    }
    this.allowance = Math.min(rate / 4, this.allowance + ((now - this.last) * rate) / 1000) - chunk.length;
    this.last = now;
    if (this.allowance >= 0) {
      cb(null, chunk);
      return;
    }
    // In debt: wait until the bucket has refilled what this chunk took beyond it.
    this.clock.sleep((-this.allowance / rate) * 1000).then(() => cb(null, chunk), cb);
  }
}
