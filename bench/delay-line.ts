// A TCP delay line on 127.0.0.1 for the WAN benchmark: every chunk is forwarded D ms after it
// arrived, both ways, with no rate cap, so a loopback connection behaves like a long fat link of
// RTT 2·D. Bounded: at most MAX_QUEUED bytes wait per direction (the sender is paused beyond it),
// and the line closes itself after its lifetime or when the process that started it goes away.
// Run as a child: `tsx bench/delay-line.ts TARGET_PORT DELAY_MS [LIFETIME_S]`; it prints its port.

import { createServer, connect, type Socket } from "node:net";

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

const [targetPort, delayMs, lifetimeS] = process.argv.slice(2).map(Number);
if (!targetPort || delayMs === undefined || !Number.isFinite(delayMs)) {
  process.stderr.write("usage: delay-line.ts TARGET_PORT DELAY_MS [LIFETIME_S]\n");
  process.exit(2);
}
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
const stop = (): void => {
  server.close();
  for (const s of sockets) s.destroy();
  setTimeout(() => process.exit(0), 100).unref();
};
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
setTimeout(stop, (lifetimeS || 600) * 1000).unref();
// The parent holds our stdin open: when it ends (or dies), so does the line.
process.stdin.on("end", stop).on("close", stop).resume();
process.on("SIGTERM", stop);
