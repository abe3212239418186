// The logger: pino, JSON lines on stdout (pretty on a terminal, through a main-thread stream:
// pino's worker transports cannot load TypeScript under tsx). Child loggers carry source/dataset.

import { Transform, type TransformCallback, type Writable } from "node:stream";
import pino from "pino";
import pretty from "pino-pretty";

/** bzman's logger type. */
export type Logger = pino.Logger;

/** syslog severity of each pino level (facility daemon = 3). */
const SEVERITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

/**
 * Turns pino's JSON lines into lines for `logger --prio-prefix`: "<priority>msg key=value…",
 * with the source, dataset and run id of each record.
 */
export function syslogLines(): Transform {
  let rest = "";
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      const text = rest + chunk.toString("utf8");
      const lines = text.split("\n");
      rest = lines.pop() ?? "";
      const out = lines.filter(Boolean).map((line) => {
        try {
          const r = JSON.parse(line) as Record<string, unknown>;
          const prio = 3 * 8 + (SEVERITY[Number(r.level)] ?? 6);
          const fields = ["source", "dataset", "runId", "result", "code"].filter((k) => r[k] !== undefined).map((k) => `${k}=${String(r[k])}`);
          return `<${prio}>${String(r.msg ?? "").replace(/[\r\n]+/g, " ")}${fields.length ? " " + fields.join(" ") : ""}\n`;
        } catch {
          return `<30>${line}\n`;
        }
      });
      cb(null, out.join(""));
    },
  });
}

/** A logger writing to `stream` (stdout by default; pretty when it is a terminal) and, when given, to syslog. */
export function createLogger(opts: { level?: string; stream?: NodeJS.WritableStream & { isTTY?: boolean }; syslog?: Writable } = {}): Logger {
  const stream = opts.stream ?? process.stdout;
  const dest = stream.isTTY ? pretty({ destination: stream as NodeJS.WritableStream, colorize: true, sync: true }) : (stream as NodeJS.WritableStream);
  const options = { level: opts.level ?? "info", base: { app: "bzman" }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!opts.syslog) return pino(options, dest as pino.DestinationStream);
  const toSyslog = syslogLines();
  toSyslog.pipe(opts.syslog);
  return pino(options, pino.multistream([{ stream: dest as pino.DestinationStream, level: "trace" }, { stream: toSyslog, level: "trace" }]));
}
