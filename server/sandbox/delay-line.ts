// A TCP delay line on 127.0.0.1: every chunk is forwarded D ms after it arrived, both ways, with no
// rate cap, so a loopback connection behaves like a long fat link of RTT 2·D. For the window tests
// and the WAN benchmark (which runs it in a process of its own: bench/delay-line.ts). Bounded: at
// most MAX_QUEUED bytes wait per direction; the sender is paused beyond it.

import { connect, createServer, type Socket } from "node:net";

/** Bytes that may wait in one direction before its sender is paused. */
const MAX_QUEUED = 256 * 1024 * 1024;

/**
 * Forwards `from` to `to`, each chunk `delayMs` later, in order. Chunks that arrive within the
 * same millisecond travel as one batch (one timer, one writev), so the line itself costs little CPU.
 */
function delayed(from: Socket, to: Socket, delayMs: number): void {
  let queued = 0;
  let batch: Buffer[] | null = null;
  const send = (chunks: Buffer[], bytes: number): void => {
    if (to.destroyed) return;
    to.cork();
    for (let i = 0; i < chunks.length - 1; i++) to.write(chunks[i]!);
    to.write(chunks[chunks.length - 1]!, () => {
      queued -= bytes;
      if (queued <= MAX_QUEUED / 2 && from.isPaused()) from.resume();
    });
    to.uncork();
  };
  from.on("data", (chunk: Buffer) => {
    queued += chunk.length;
    if (queued > MAX_QUEUED) from.pause();
    if (batch) return void batch.push(chunk);
    const chunks = [chunk];
    batch = chunks;
    setImmediate(() => {
      batch = null;
      const bytes = chunks.reduce((n, c) => n + c.length, 0);
      // Timers of one duration fire in the order they were set: the byte order is kept.
      if (delayMs > 0) setTimeout(() => send(chunks, bytes), delayMs);
      else send(chunks, bytes);
    });
  });
  // The end travels as the last batch does (an immediate, then the delay): after every byte.
  from.on("end", () => setImmediate(() => setTimeout(() => to.end(), delayMs)));
  from.on("error", () => to.destroy());
}

/** A running delay line. */
export interface DelayLine {
  /** The port to connect to instead of the target's. */
  port: number;
  /** Stops listening and cuts every connection through the line. */
  close(): void;
}

/** Starts a delay line of `delayMs` each way in front of 127.0.0.1:`targetPort`. */
export function startDelayLine(targetPort: number, delayMs: number): Promise<DelayLine> {
  const sockets = new Set<Socket>();
  // Half-open: an end in one direction must not cut what is still delayed in the other.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ port: targetPort, host: "127.0.0.1", allowHalfOpen: true });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    }
    delayed(client, upstream, delayMs);
    delayed(upstream, client, delayMs);
  });
  const close = (): void => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as { port: number }).port, close }));
  });
}
