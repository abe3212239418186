// Live transfer progress: a cli-progress bar per running transfer on a terminal, a plain line
// every few seconds otherwise. Lines printed meanwhile go through `log` so bars stay intact.

import cliProgress from "cli-progress";
import { bytes, rate } from "./format.ts";

/** Where progress and result lines go while transfers run. */
export interface ProgressDisplay {
  update(key: string, label: string, bytesSoFar: number): void;
  finish(key: string): void;
  log(line: string): void;
  stop(): void;
}

const PLAIN_INTERVAL_MS = 5000;

/** A progress display for `stream`: bars when it is a terminal, plain lines when not. */
export function createProgress(stream: NodeJS.WriteStream, now: () => number = Date.now): ProgressDisplay {
  const started = new Map<string, number>();
  if (!stream.isTTY) {
    const lastLine = new Map<string, number>();
    return {
      update(key, label, n) {
        const t = now();
        if (!started.has(key)) started.set(key, t);
        if (t - (lastLine.get(key) ?? started.get(key)!) < PLAIN_INTERVAL_MS) return;
        lastLine.set(key, t);
        stream.write(`          ${label}: ${bytes(n)} (${rate(n, t - started.get(key)!)})\n`);
      },
      finish(key) {
        started.delete(key);
        lastLine.delete(key);
      },
      log(line) {
        stream.write(`${line}\n`);
      },
      stop() {},
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: true,
      hideCursor: true,
      format: " {label} | {done} | {speed}",
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    update(key, label, n) {
      const t = now();
      if (!started.has(key)) started.set(key, t);
      const payload = { label, done: bytes(n), speed: rate(n, t - started.get(key)!) };
      const bar = bars.get(key);
      if (bar) bar.update(n, payload);
      else bars.set(key, multi.create(0, n, payload));
    },
    finish(key) {
      const bar = bars.get(key);
      if (bar) multi.remove(bar);
      bars.delete(key);
      started.delete(key);
    },
    log(line) {
      multi.log(`${line}\n`);
    },
    stop() {
      multi.stop();
    },
  };
}
