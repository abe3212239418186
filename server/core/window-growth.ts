// When an SSH channel's receive window should grow: the rule, apart from ssh2. A stream starts with
// ssh2's 2 MiB window and grows it, up to the configured ceiling, only while the window is what
// holds it back. A wide window costs a fast close link throughput (both ends then buffer far more
// than the caches hold), so it is granted only where a long link needs it.

/**
 * A pause in arriving data of at least this long is idle time. Shorter ones are the flow's own (a
 * process scheduled out on a busy host); a window binds only a link whose round trip is longer.
 */
export const GAP_MS = 5;
/** The share of a round's time the link must be idle, the reader waiting, for the window to be the limit. */
export const IDLE_SHARE = 0.3;
/** Growth aims this much past what the busy time says would fill the link. */
const OVERSHOOT = 1.25;
/** Consecutive window-bound rounds that grow the window. */
export const BOUND_ROUNDS = 2;
/** The most one growth multiplies the window by, and the least. */
export const MAX_GROWTH = 8;
const MIN_GROWTH = 2;

/**
 * The idle time of one SSH connection: the pauses of {@link GAP_MS} or more between arrivals on any
 * of its channels, less the time this process was busy with other work meanwhile. Channels share
 * the one TCP stream, so a channel that waits while its siblings' data arrives is not waiting on a
 * window; and while the process is busy (another source's stream, a garbage collection, a status
 * page), data waits in the kernel unread: neither is the link idling.
 */
export class LinkIdle {
  private lastAt: number | undefined;
  private lastBusy = 0;
  private total = 0;

  /**
   * Takes an arrival on any channel at `nowMs`; `busyMs` is how long the process has been busy
   * (not waiting for events) in all, on the same clock (event-loop utilization's `active`).
   */
  arrived(nowMs: number, busyMs = 0): void {
    if (this.lastAt !== undefined) {
      const free = nowMs - this.lastAt - Math.max(0, busyMs - this.lastBusy);
      if (free >= GAP_MS) this.total += free;
    }
    this.lastAt = nowMs;
    this.lastBusy = busyMs;
  }

  /** The idle milliseconds so far. */
  get idleMs(): number {
    return this.total;
  }
}

/**
 * Decides a channel's receive window from the data as it arrives.
 *
 * A stream held back by its window moves one window per round trip: the peer sends what the window
 * allows, then waits for the grants of the first bytes to come back, so the link idles for the
 * rest of the round trip. Here a *round* is the arrivals from one window's worth of bytes, ended by
 * the channel's next pause of {@link GAP_MS} or more. When the connection idled (see
 * {@link LinkIdle}) for at least {@link IDLE_SHARE} of a round's time while the reader kept up
 * (under a sixteenth of the window unread before and after each of the channel's pauses), the
 * window was the limit; {@link BOUND_ROUNDS} such rounds in a row grow it.
 *
 * It grows to what the link's busy time says it could carry: a window that kept the link busy a
 * tenth of each round trip is a tenth of what fills it. So the window is multiplied by a quarter
 * more than 1 / (1 - idle share) of the less idle of the two rounds, at least 2 and at most
 * {@link MAX_GROWTH} times: 2 MiB reaches 32 MiB in two growths at 100 ms, and one growth
 * usually lands past what fills the link.
 *
 * Anything else says it is not, and resets the count:
 * - a stream that flows without pauses (a close link, where the CPU is the limit) has no idle time;
 * - a slow reader leaves bytes unread, and the peer then waits on the reader, not the window.
 * A slow sender's pauses look like a long link's and may grow the window; that costs nothing, as a
 * window is only a permit: bytes are buffered only when the reader falls behind.
 *
 * The window never shrinks: it lives as long as its channel, one stream.
 */
export class WindowGrowth {
  private bytes: number;
  private roundBytes = 0;
  private roundStart: number | undefined;
  private idleAtStart = 0;
  private readerHeld = false;
  private lastAt: number | undefined;
  private lastUnread = 0;
  private bound = 0;
  private busiest = 1;
  private grown = 0;

  /**
   * @param start the window a channel opens with (ssh2's 2 MiB)
   * @param ceiling the largest it may grow to (`ssh_window`)
   * @param link the idle time of the channel's connection, shared by its channels
   */
  constructor(
    start: number,
    private readonly ceiling: number,
    private readonly link: LinkIdle = new LinkIdle(),
  ) {
    this.bytes = Math.min(start, ceiling);
  }

  /** The window now. */
  get window(): number {
    return this.bytes;
  }

  /** How many times the window grew. */
  get growths(): number {
    return this.grown;
  }

  /**
   * Takes one arrival of `bytes` at `nowMs` (a monotonic clock), with `unread` bytes then waiting
   * for the reader and the process busy `busyMs` in all (see {@link LinkIdle.arrived}); returns
   * the window to grant from now on.
   */
  arrived(bytes: number, nowMs: number, unread: number, busyMs = 0): number {
    this.link.arrived(nowMs, busyMs);
    if (this.lastAt !== undefined && nowMs - this.lastAt >= GAP_MS) {
      const hungry = this.bytes / 16;
      if (this.lastUnread >= hungry || unread >= hungry) this.readerHeld = true;
      if (this.roundBytes >= this.bytes) this.roundEnded(nowMs);
    }
    if (this.roundStart === undefined) {
      this.roundStart = nowMs;
      this.idleAtStart = this.link.idleMs;
    }
    this.roundBytes += bytes;
    this.lastAt = nowMs;
    this.lastUnread = unread;
    return this.bytes;
  }

  private roundEnded(nowMs: number): void {
    const took = nowMs - (this.roundStart ?? nowMs);
    const share = took > 0 ? (this.link.idleMs - this.idleAtStart) / took : 0;
    const windowBound = !this.readerHeld && share >= IDLE_SHARE;
    this.bound = windowBound ? this.bound + 1 : 0;
    this.busiest = windowBound ? Math.min(this.busiest, share) : 1;
    this.roundBytes = 0;
    this.roundStart = undefined;
    this.readerHeld = false;
    if (this.bound >= BOUND_ROUNDS && this.bytes < this.ceiling) {
      const by = Math.min(MAX_GROWTH, Math.max(MIN_GROWTH, OVERSHOOT / (1 - this.busiest)));
      this.bytes = Math.min(this.ceiling, Math.ceil((this.bytes * by) / 65536) * 65536);
      this.bound = 0;
      this.busiest = 1;
      this.grown++;
    }
  }
}
