// When a coalesced job runs (the daemon's alert evaluation after passes): one run serves every
// request of a burst. It starts once requests pause for `quietMs`, at the latest `intervalMs`
// after the first request it serves, and never sooner than `intervalMs` after the previous run
// started. No request is dropped: one that comes while a run is under way gets a run after it. Pure.

/** Timing of a coalesced job. */
export interface CoalescePolicy {
  /** A run waits this long after the last request for more (trailing edge). */
  quietMs: number;
  /** At most one run starts per interval, and no request waits longer than this for its run to start (unless a run is under way). */
  intervalMs: number;
}

/** What a coalesced job knows (times in ms of one monotonic clock). */
export interface CoalesceState {
  /** The first request not yet served (null: none waits). */
  firstWaiting: number | null;
  /** The last request not yet served. */
  lastWaiting: number | null;
  /** When the last run started (null: never). */
  lastStart: number | null;
  /** A run is under way. */
  running: boolean;
}

/** The state before any request. */
export const COALESCE_IDLE: CoalesceState = { firstWaiting: null, lastWaiting: null, lastStart: null, running: false };

/** A request came at `nowMs`. */
export function coalesceRequest(s: CoalesceState, nowMs: number): CoalesceState {
  return { ...s, firstWaiting: s.firstWaiting ?? nowMs, lastWaiting: nowMs };
}

/** A run starts at `nowMs`: it serves every request waiting now. */
export function coalesceStart(_s: CoalesceState, nowMs: number): CoalesceState {
  return { firstWaiting: null, lastWaiting: null, lastStart: nowMs, running: true };
}

/** The run under way ended. */
export function coalesceFinish(s: CoalesceState): CoalesceState {
  return { ...s, running: false };
}

/**
 * When the next run is due (ms, may lie in the past: then at once), or null when no request
 * waits or a run is under way (ask again when it ends). A request at t is served by a run that
 * starts by t + intervalMs, or when the run under way at t ends, whichever is later.
 */
export function coalesceDueAt(s: CoalesceState, p: CoalescePolicy): number | null {
  if (s.running || s.firstWaiting === null || s.lastWaiting === null) return null;
  const settled = Math.min(s.lastWaiting + p.quietMs, s.firstWaiting + p.intervalMs);
  return s.lastStart === null ? settled : Math.max(settled, s.lastStart + p.intervalMs);
}
