// The logger: pino, JSON lines on stdout (pretty on a terminal, through a main-thread stream:
// pino's worker transports cannot load TypeScript under tsx). Child loggers carry source/dataset.
// Optionally every record also goes to a syslog sink as one line at its severity; how the sink
// reaches syslog is not this module's business (see syslog.ts). Under systemd each line can carry
// its syslog priority as a `<N>` prefix (sd-daemon(3)), so `journalctl -p err` filters it.

import { createRequire } from "node:module";
import { Writable } from "node:stream";
import pino from "pino";
import type { PrettyOptions } from "pino-pretty";

/** bzman's logger type. */
export type Logger = pino.Logger;

/** Receives one syslog record: `severity` 0 (emerg) … 7 (debug), `line` without a newline. Must not throw. */
export interface SyslogSink {
  write(severity: number, line: string): void;
}

/** syslog severity of each pino level: trace and debug → debug, info, warn → warning, error → err, fatal → crit. */
const SEVERITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

/** The fields of a record that its syslog line carries after the message. */
const FIELDS = ["source", "dataset", "runId", "result", "code"];

/**
 * One pino JSON line as a syslog record: its severity and "msg key=value…" with the source,
 * dataset, run id, result and code of the record. A line that is not JSON is passed on at info.
 */
export function syslogRecord(json: string): { severity: number; line: string } {
  try {
    const r = JSON.parse(json) as Record<string, unknown>;
    const fields = FIELDS.filter((k) => r[k] !== undefined).map((k) => `${k}=${String(r[k])}`);
    const line = `${String(r.msg ?? "")}${fields.length ? ` ${fields.join(" ")}` : ""}`.replace(/[\r\n]+/g, " ").trim();
    return { severity: SEVERITY[Number(r.level)] ?? 6, line };
  } catch {
    return { severity: 6, line: json.replace(/[\r\n]+/g, " ").trim() };
  }
}

/** A stream that cuts pino's output into lines and hands each record to `sink`. */
export function syslogStream(sink: SyslogSink): Writable {
  let rest = "";
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      const lines = (rest + chunk.toString()).split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) {
        if (!l) continue;
        const { severity, line } = syslogRecord(l);
        if (line) sink.write(severity, line);
      }
      cb();
    },
  });
}

/**
 * Whether a stream is the journal's: systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stdout
 * and stderr it connects to journald; `stat` is that stream's fstat (sd-daemon(3) asks for the
 * comparison, so that a redirected stream is not taken for the journal).
 */
export function isJournalStream(
  journalStream: string | undefined,
  stat: { dev: number | bigint; ino: number | bigint } | undefined,
): boolean {
  if (!journalStream || !stat) return false;
  const [dev, ino] = journalStream.split(":");
  return dev !== undefined && ino !== undefined && String(stat.dev) === dev && String(stat.ino) === ino;
}

/** A stream that writes each line of pino's output to `dest` behind its syslog priority: `<3>{"level":50,…}`. */
export function priorityPrefixStream(dest: NodeJS.WritableStream): Writable {
  let rest = "";
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      const lines = (rest + chunk.toString()).split("\n");
      rest = lines.pop() ?? "";
      const out = lines
        .filter((l) => l)
        .map((l) => `<${syslogRecord(l).severity}>${l}\n`)
        .join("");
      if (out) dest.write(out);
      cb();
    },
  });
}

/**
 * pino-pretty, loaded only for a terminal: a daemon, a cron job or a pipe never pays its 30-odd
 * modules at start.
 */
function prettyStream(options: PrettyOptions): NodeJS.WritableStream {
  const pretty = createRequire(import.meta.url)("pino-pretty") as (o: PrettyOptions) => NodeJS.WritableStream;
  return pretty(options);
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** The least severe level written (pino's names); default info. */
  level?: string;
  /** Where the lines go: stdout by default; pretty when it is a terminal. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Each JSON line behind its `<N>` syslog priority (never on a terminal). */
  priorityPrefix?: boolean;
  syslog?: SyslogSink;
}

/** A logger writing to `stream` (stdout by default; pretty when it is a terminal) and, when given, to syslog. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stdout;
  const dest = stream.isTTY
    ? prettyStream({ destination: stream as NodeJS.WritableStream, colorize: true, sync: true })
    : opts.priorityPrefix
      ? priorityPrefixStream(stream)
      : (stream as NodeJS.WritableStream);
  const options = { level: opts.level ?? "info", base: { app: "bzman" }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!opts.syslog) return pino(options, dest as pino.DestinationStream);
  return pino(
    options,
    pino.multistream([
      { stream: dest as pino.DestinationStream, level: "trace" },
      { stream: syslogStream(opts.syslog), level: "trace" },
    ]),
  );
}
