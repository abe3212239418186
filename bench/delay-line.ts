// The WAN benchmark's delay line in a process of its own (server/sandbox/delay-line.ts), so that
// forwarding does not share the measured process's event loop. It closes itself after its
// lifetime or when the process that started it goes away.
// Run as a child: `tsx bench/delay-line.ts TARGET_PORT DELAY_MS [LIFETIME_S]`; it prints its port.

import { startDelayLine } from "../server/sandbox/delay-line.ts";

const [targetPort, delayMs, lifetimeS] = process.argv.slice(2).map(Number);
if (!targetPort || delayMs === undefined || !Number.isFinite(delayMs)) {
  process.stderr.write("usage: delay-line.ts TARGET_PORT DELAY_MS [LIFETIME_S]\n");
  process.exit(2);
}
const line = await startDelayLine(targetPort, delayMs);
const stop = (): void => {
  line.close();
  setTimeout(() => process.exit(0), 100).unref();
};
process.stdout.write(`${line.port}\n`);
setTimeout(stop, (lifetimeS || 600) * 1000).unref();
// The parent holds our stdin open: when it ends (or dies), so does the line.
process.stdin.on("end", stop).on("close", stop).resume();
process.on("SIGTERM", stop);
