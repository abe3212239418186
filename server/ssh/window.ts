// The receive window of an ssh2 exec channel, grown past ssh2's fixed 2 MiB while one stream waits
// on it, so it can fill a long fat link. ssh2 has no option for it, so this module owns the one
// place that reaches into ssh2's channel internals; it counts the channel's data, never changes it.

import { performance } from "node:perf_hooks";
import type ssh2 from "ssh2";
import { LinkIdle, WindowGrowth } from "../core/window-growth.ts";

/** ssh2's own receive window (`MAX_WINDOW` in ssh2/lib/Channel.js): what a channel gets without this module. */
export const SSH2_WINDOW = 2 * 1024 * 1024;
/** The largest window bzman grants (dropbear up to 2025.88 stalled on windows of 500 MB or more). */
export const MAX_WINDOW = 256 * 1024 * 1024;

/** The parts of an ssh2 channel this module relies on (ssh2 1.x: lib/Channel.js, lib/client.js). */
interface ChannelInternals {
  /** Our side: `window` is how many more bytes the peer may send; ssh2 lowers it per data packet. */
  incoming: { window: number; state: string };
  /** The peer's side: `id` is the peer's channel number that a WINDOW_ADJUST names. */
  outgoing: { id: number; state: string };
  _client: { _protocol: { channelWindowAdjust(id: number, amount: number): void } };
}

/** The idle time of each connection, shared by its channels (keyed by ssh2's client object). */
const links = new WeakMap<object, LinkIdle>();

function internals(ch: ssh2.ClientChannel): ChannelInternals | null {
  const c = ch as unknown as Partial<ChannelInternals>;
  const ok =
    typeof c.incoming?.window === "number" &&
    typeof c.outgoing?.id === "number" &&
    typeof c._client?._protocol?.channelWindowAdjust === "function";
  return ok ? (c as ChannelInternals) : null;
}

/** A channel's window as {@link widenWindow} manages it. */
export interface ChannelWindow {
  /** The window granted now, in bytes. */
  readonly bytes: number;
  /** How many times it grew since the channel opened. */
  readonly growths: number;
}

/**
 * Manages the receive window of `ch`: it starts at ssh2's 2 MiB and grows, up to `ceiling`, while
 * the stream waits on it (core/window-growth.ts says when); it is kept full as the data is read.
 *
 * ssh2 grants a peer 2 MiB and tops it up only once half of it is used, so a stream moves at most
 * about 1-2 MiB per round trip (10 MiB/s at 100 ms). This sends SSH_MSG_CHANNEL_WINDOW_ADJUST
 * itself and raises ssh2's count of the window with it, so ssh2's own top-up (which fires only
 * below 1 MiB) stays out of the way. A grant only replaces what the reader took out of the channel:
 * window left plus bytes buffered in the channel never exceed the window, so a slow reader holds
 * the peer back (and Node buffers at most `ceiling` per channel) instead of filling memory. A
 * close link where the CPU is the limit keeps 2 MiB, which moves it fastest.
 *
 * Call it once, right after the channel opens and after its readable side is piped or read.
 * Returns null, changing nothing, when this ssh2 lacks the internals it relies on (the channel
 * then keeps ssh2's own window) or when `ceiling` is not above ssh2's window.
 */
export function widenWindow(ch: ssh2.ClientChannel, ceiling: number): ChannelWindow | null {
  const c = internals(ch);
  const max = Math.min(Math.floor(ceiling), MAX_WINDOW);
  if (!c || max <= SSH2_WINDOW) return null;
  const link = links.get(c._client) ?? new LinkIdle();
  links.set(c._client, link);
  const growth = new WindowGrowth(SSH2_WINDOW, max, link);
  const topUp = (target: number, min: number): void => {
    // Nothing more comes after the peer's EOF; nothing may be sent once we closed (our EOF is fine).
    if (c.incoming.state !== "open" || (c.outgoing.state !== "open" && c.outgoing.state !== "eof")) return;
    const room = target - c.incoming.window - ch.readableLength;
    if (room < min) return;
    c.incoming.window += room;
    c._client._protocol.channelWindowAdjust(c.outgoing.id, room);
  };
  topUp(growth.window, 1);
  ch.on("data", (chunk: Buffer) => {
    const target = growth.arrived(
      chunk.length,
      performance.now(),
      ch.readableLength,
      performance.eventLoopUtilization().active,
    );
    // Grant in steps of at least 1/16 of the window: one small packet per step, not one per chunk.
    topUp(target, Math.max(64 * 1024, Math.floor(target / 16)));
  });
  return {
    get bytes() {
      return growth.window;
    },
    get growths() {
      return growth.growths;
    },
  };
}
