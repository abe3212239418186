// The logger: pino, JSON lines on stdout (pretty on a terminal, through a main-thread stream:
// pino's worker transports cannot load TypeScript under tsx). Child loggers carry source/dataset.

import pino from "pino";
import pretty from "pino-pretty";

/** bzman's logger type. */
export type Logger = pino.Logger;

/** A logger writing to `stream` (stdout by default); pretty when it is a terminal. */
export function createLogger(opts: { level?: string; stream?: NodeJS.WritableStream & { isTTY?: boolean } } = {}): Logger {
  const stream = opts.stream ?? process.stdout;
  const dest = stream.isTTY ? pretty({ destination: stream as NodeJS.WritableStream, colorize: true, sync: true }) : (stream as NodeJS.WritableStream);
  return pino({ level: opts.level ?? "info", base: { app: "bzman" }, timestamp: pino.stdTimeFunctions.isoTime }, dest as pino.DestinationStream);
}
