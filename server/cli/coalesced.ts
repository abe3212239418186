// Runs a job coalesced on a timer, as core/coalesce.ts decides: requests in a burst share one
// run, a run is never started while one is under way, and a request is never dropped. It owns
// only the timer; the job (the alert evaluation) is the caller's, and its errors are its own.

import {
  COALESCE_IDLE,
  coalesceDueAt,
  coalesceFinish,
  coalesceRequest,
  coalesceStart,
  type CoalescePolicy,
  type CoalesceState,
} from "../core/coalesce.ts";

/** The clock and timer of a {@link Coalesced} (injected by tests). */
export interface CoalesceClock {
  /** Milliseconds of a monotonic clock. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: CoalesceClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** A job run coalesced. `run` reports its own errors: a rejection is ignored here. */
export class Coalesced {
  private state: CoalesceState = COALESCE_IDLE;
  private timer: unknown;
  private current: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly policy: CoalescePolicy,
    private readonly clock: CoalesceClock = realClock,
  ) {}

  /** Asks for a run: it starts within `policy.intervalMs` (or when the run under way ends). Returns at once. */
  request(): void {
    if (this.closed) return;
    this.state = coalesceRequest(this.state, this.clock.now());
    this.arm();
  }

  /** Runs at once what waits (if anything), and resolves when no run is under way or waiting. */
  async flush(): Promise<void> {
    for (;;) {
      await this.current;
      if (this.state.firstWaiting === null) return;
      this.start();
    }
  }

  /** No more runs (a request after this is ignored); a run under way ends on its own. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const due = coalesceDueAt(this.state, this.policy);
    if (due === null || this.closed) return;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.start();
      },
      Math.max(0, due - this.clock.now()),
    );
  }

  private start(): void {
    if (this.state.running) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.state = coalesceStart(this.state, this.clock.now());
    this.current = this.run()
      .catch(() => undefined)
      .finally(() => {
        this.state = coalesceFinish(this.state);
        this.arm();
      });
  }
}
