// The config file's shape, as one zod schema (unknown keys are errors), and the normalized Config
// the rest of bzman uses, with every source's defaults filled in.

import { z } from "zod";
import { isValidInstance } from "../core/naming.ts";
import { parseRate, parseTimeOfDay, type BandwidthLimit } from "../core/bandwidth.ts";
import { DATA_PATHS, type DataPath } from "../core/data-path.ts";
import { DEFAULTS, MAX_TRANSFERS_PER_SOURCE } from "./defaults.ts";

/** Log levels, least severe first (pino's names). */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

/** The bounds of `ssh_window`: ssh2's own window, and server/ssh/window.ts's MAX_WINDOW. */
const SSH_WINDOW_MIN = 2 * 1024 ** 2;
const SSH_WINDOW_MAX = 256 * 1024 ** 2;
/** Bytes from a size: a number, or a string like "32M" (K, M, G: powers of 1024). */
function sizeBytes(x: string | number): number | null {
  if (typeof x === "number") return Number.isInteger(x) && x > 0 ? x : null;
  return parseRate(x);
}

const duration = z.string().regex(/^\d+(s|m|h|d|w)$/, 'expected a duration like "30m", "1h", "2d"');
const cron = z
  .string()
  .refine((s) => /^\S+(\s+\S+){4,5}$/.test(s.trim()), "expected a cron expression of 5 or 6 fields");
const count = z.number().int().min(0);
const httpUrl = z.string().refine((u) => {
  try {
    return ["http:", "https:"].includes(new URL(u).protocol);
  } catch {
    return false;
  }
}, "expected an http:// or https:// URL");
/** A time limit of an outgoing request: from 1s to 5m, so nothing waits on an endpoint for long. */
const requestTimeout = duration.refine((d) => {
  const s = durationSeconds(d);
  return s >= 1 && s <= 300;
}, "expected a timeout from 1s to 5m");
/** A bare URL is short for `{ url: URL }` (so mistakes are reported at `….url`). */
const urlOrObject = <T extends z.ZodType>(object: T) =>
  z.preprocess((v) => (typeof v === "string" ? { url: v } : v), object);

const keepSchema = z.strictObject({
  last: count.optional(),
  hourly: count.optional(),
  daily: count.optional(),
  weekly: count.optional(),
  monthly: count.optional(),
  yearly: count.optional(),
});

/** `zfs receive -x PROP`: a property name, native (`compression`) or user (`com.example:note`). */
const propertyName = z
  .string()
  .regex(
    /^([a-z][a-z0-9_]*|[a-z0-9_.:+-]*:[a-z0-9_.:+-]*)$/,
    'expected a zfs property name: lower-case letters, digits and _, or a user property with a colon ("com.example:note")',
  )
  .max(256);
/** `zfs receive -o PROP=VALUE`. */
const propertySetting = z.string().regex(
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what the class refuses
  /^([a-z][a-z0-9_]*|[a-z0-9_.:+-]*:[a-z0-9_.:+-]*)=[^\x00-\x1f\x7f]*$/,
  'expected "property=value" (e.g. "compression=zstd"), a zfs property name and a value without control characters',
);

/** Settings a source inherits from `defaults` and may override. */
const inheritable = {
  schedule: cron.optional(),
  snapshot_prefix: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/, "letters, digits and _ . : - only")
    .optional(),
  keep_source: keepSchema.optional(),
  keep_backup: keepSchema.optional(),
  max_lag: duration.optional(),
  first_send: z.enum(["oldest", "newest"]).optional(),
  include_prefixes: z.array(z.string().min(1)).optional(),
  /** The SSH cipher (default: AES-GCM, the fastest measured, then the others). */
  ssh_cipher: z
    .enum([
      "aes128-gcm@openssh.com",
      "aes256-gcm@openssh.com",
      "aes128-ctr",
      "aes192-ctr",
      "aes256-ctr",
      "chacha20-poly1305@openssh.com",
    ])
    .optional(),
  /** zlib compression of the SSH transport: for slow links only (it costs CPU on both ends). */
  ssh_compression: z.boolean().optional(),
  /**
   * The most an SSH channel's receive window grows to ("32M"): what one stream may have in flight,
   * so at most window / round trip per stream; also the most bzman may buffer of a stream whose
   * receive is slower. Each stream starts at 2 MiB and grows only while it waits on the window.
   */
  ssh_window: z
    .union([z.string(), z.number()])
    .refine((x) => {
      const n = sizeBytes(x);
      return n !== null && n >= SSH_WINDOW_MIN && n <= SSH_WINDOW_MAX;
    }, 'expected a size from "2M" (ssh2\'s own window) to "256M", like "32M"')
    .optional(),
  /** A transfer that moves no byte for this long is stalled: both ends are stopped. */
  stall_timeout: duration.optional(),
  /** A backup that conflicts with its source (diverged, nothing in common): report it and leave it
   * untouched (default), or keep it under `<dataset>.diverged-<UTC>` and re-seed it in full. */
  on_conflict: z.enum(["report", "rename"]).optional(),
  /** At most this many bytes per second per transfer ("20M"), always or between two local times. */
  bandwidth_limit: z
    .union([
      z.string().refine((x) => parseRate(x) !== null, 'expected a rate in bytes per second like "500K", "20M" or "1G"'),
      z.strictObject({
        rate: z
          .string()
          .refine((x) => parseRate(x) !== null, 'expected a rate in bytes per second like "500K", "20M" or "1G"'),
        from: z.string().refine((x) => parseTimeOfDay(x) !== null, 'expected a local time of day like "08:00"'),
        to: z.string().refine((x) => parseTimeOfDay(x) !== null, 'expected a local time of day like "18:00"'),
      }),
    ])
    .optional(),
  /** Raw sends (`zfs send -w`): encrypted datasets leave the source encrypted and stay so on the backup. */
  send_raw: z.boolean().optional(),
  /**
   * Keep a bookmark of the newest replicated snapshot on the source (where it has bookmarks), so
   * a pass continues incrementally after that snapshot is destroyed there. Costs one or two zfs
   * commands per changed dataset and pass.
   */
  bookmarks: z.boolean().optional(),
  /**
   * A configured dataset (with what lies below it) with nothing written since its newest
   * snapshot, which the backup already has, gets no new snapshot, send or pruning in a pass;
   * where the source's zfs has `snapshots_changed` (OpenZFS 2.2+) it is not even listed.
   */
  skip_unchanged: z.boolean().optional(),
  /**
   * Which thread carries a stream's bytes: `auto` (default) a worker thread with an SSH
   * connection of its own for a stream the source estimates at 64 MiB or more, the main thread
   * for smaller ones; `main` always the main thread; `worker` always a worker.
   */
  data_path: z.enum(DATA_PATHS as [DataPath, ...DataPath[]]).optional(),
  /** Retries within a pass of a step that failed for a transient reason (5 s, then 10 s, …). */
  retries: z.number().int().min(0).max(10).optional(),
  /**
   * Datasets of the source replicated at once, parents before children; each stream also takes
   * one of the `max_transfers` slots. At most 16 (MAX_TRANSFERS_PER_SOURCE): an SSH connection
   * opens at most 4 channels at once, so above 4 the source gets one more connection per 4.
   */
  max_transfers_per_source: z.number().int().min(1).max(MAX_TRANSFERS_PER_SOURCE).optional(),
  /** A scheduled restore drill: clone a random recent backup snapshot, check it, destroy the clone. */
  drill: z
    .strictObject({
      schedule: cron,
      /** The drill picks among this many newest backup snapshots of a random dataset. */
      recent: z.number().int().min(1).default(DEFAULTS.drill.recent),
    })
    .optional(),
  /**
   * A dead man's switch (healthchecks.io style): requested after every pass of the source, with
   * `/fail` appended when it failed, and `/start` at its start with `start: true`. `{source}` in
   * the URL is the source's name (one check per source from `defaults`).
   */
  ping_url: urlOrObject(
    z.strictObject({
      url: httpUrl,
      method: z.enum(["GET", "POST"]).default(DEFAULTS.ping_url.method),
      start: z.boolean().default(DEFAULTS.ping_url.start),
      timeout: requestTimeout.default(DEFAULTS.ping_url.timeout),
    }),
  ).optional(),
  /** Properties a received stream may not set (`zfs receive -x`), beside bzman's defaults. */
  receive_exclude: z.array(propertyName).optional(),
  /** Properties every received dataset gets (`zfs receive -o PROP=VALUE`). */
  receive_set: z.array(propertySetting).optional(),
};

/** Settings of one configured dataset (and, for a recursive root, everything below it) that override the source's. */
const datasetOverrides = {
  keep_source: keepSchema.optional(),
  keep_backup: keepSchema.optional(),
  max_lag: duration.optional(),
  on_conflict: z.enum(["report", "rename"]).optional(),
};

/** A dataset entry: `{ name, recursive, exclude, … }`, or just its name for a root with the defaults. */
const datasetSchema = z.preprocess(
  (v) => (typeof v === "string" ? { name: v } : v),
  z.strictObject({
    name: z.string(),
    recursive: z.boolean().default(DEFAULTS.dataset.recursive),
    /** Glob patterns on the paths of datasets below a recursive root (relative to it): left out with what lies below them. */
    exclude: z.array(z.string().min(1)).default(DEFAULTS.dataset.exclude),
    ...datasetOverrides,
  }),
);

const sourceSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "letters, digits and _ . - only, starting with a letter or digit"),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(DEFAULTS.source.port),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_.-]*$/i, "not a user name")
    .default(DEFAULTS.source.user),
  identity: z.string().min(1),
  /** A second key, installed on the source with the guard's --restore mode: the only one that may write there. */
  restore_identity: z.string().min(1).optional(),
  /** The account of the restore key (default: user). */
  restore_user: z
    .string()
    .regex(/^[a-z_][a-z0-9_.-]*$/i, "not a user name")
    .optional(),
  host_key: z
    .string()
    .regex(
      /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}( .*)?$/,
      'expected "<type> <base64 key>" as in known_hosts, e.g. "ssh-ed25519 AAAAC3…"',
    )
    .optional(),
  target: z.string(),
  datasets: z.array(datasetSchema).min(1, "at least one dataset"),
  /** Commands run on the source (through its guard) before / after the pass's snapshots. */
  pre_snapshot: z.array(z.array(z.string().min(1)).min(1)).optional(),
  post_snapshot: z.array(z.array(z.string().min(1)).min(1)).optional(),
  ...inheritable,
});

/** The config file as written. */
export const configFileSchema = z.strictObject({
  state: z.string().default(DEFAULTS.state),
  /** This receiver's identity in hold tags and bookmark names; default: from the host name. */
  instance: z
    .string()
    .refine(isValidInstance, "lower-case letters, digits, _ and - only, starting with a letter or digit, at most 63")
    .optional(),
  http: z
    .strictObject({ listen: z.string().default(DEFAULTS.http.listen), token_file: z.string().optional() })
    .default(DEFAULTS.http),
  mail: z
    .strictObject({
      smtp: z.string().regex(/^smtps?:\/\/[^/\s]+$/, 'expected "smtp://host:port" or "smtps://user:password@host:465"'),
      from: z.string().min(3),
      to: z.array(z.string().min(3)).min(1),
      report: cron.optional(),
      /** A condition still wrong is mailed again after this long. */
      realert: duration.default(DEFAULTS.mail.realert),
      /** Conditions of one cause that start (or clear) within this window go out as one mail. */
      digest: duration.default(DEFAULTS.mail.digest),
    })
    .optional(),
  /** A JSON POST per alert, reminder and resolve (one per digest, like the mails). */
  webhook: urlOrObject(
    z.strictObject({
      url: httpUrl,
      timeout: requestTimeout.default(DEFAULTS.webhook.timeout),
      /** Extra request headers, e.g. Authorization. */
      headers: z.record(z.string(), z.string()).default({}),
    }),
  ).optional(),
  log: z
    .strictObject({
      /** Also log to syslog (daemon facility, tag bzman) through logger(1); `socket` is passed as `-u` (util-linux logger only). */
      syslog: z
        .union([
          z.boolean(),
          z.strictObject({
            socket: z.string().min(1).optional(),
            tag: z
              .string()
              .regex(/^[A-Za-z0-9_.-]+$/)
              .optional(),
          }),
        ])
        .default(DEFAULTS.log.syslog),
      /** The least severe records written (`--verbose` makes it debug). */
      level: z.enum(LOG_LEVELS).default(DEFAULTS.log.level),
      /** A `<N>` syslog priority before each line on stdout (sd-daemon(3)); default: when stdout is the journal's stream. */
      priority_prefix: z.boolean().optional(),
    })
    .default({ syslog: DEFAULTS.log.syslog, level: DEFAULTS.log.level }),
  /** A pool used beyond this share is a problem (0.75: less than 25% free). */
  capacity_limit: z.number().gt(0).lte(1).default(DEFAULTS.capacity_limit),
  /** A scheduled `zpool scrub` of every backup pool, with its result in the status and the report. */
  scrub: z.strictObject({ schedule: cron }).optional(),
  /** Transfers running at once, over all sources. */
  max_transfers: z.number().int().min(1).max(64).default(DEFAULTS.max_transfers),
  history: z
    .strictObject({
      days: z.number().int().min(1).default(DEFAULTS.history.days),
      detail_hours: z.number().int().min(1).default(DEFAULTS.history.detail_hours),
    })
    .default(DEFAULTS.history),
  defaults: z.strictObject(inheritable).default({}),
  sources: z.array(sourceSchema).min(1, "at least one source"),
});

/** The config file as written (after zod defaults). */
export type ConfigFile = z.infer<typeof configFileSchema>;

/** A retention policy (count-based and/or grandfather-father-son buckets). */
export type KeepPolicy = z.infer<typeof keepSchema>;

/** One source, with every inherited setting resolved. */
export interface SourceConfig {
  name: string;
  host: string;
  port: number;
  user: string;
  identity: string;
  /** The restore key and its account, where one is configured. */
  restoreIdentity?: string;
  restoreUser: string;
  hostKey?: string;
  target: string;
  datasets: DatasetConfig[];
  schedule: string;
  snapshotPrefix: string;
  keepSource: KeepPolicy;
  keepBackup: KeepPolicy;
  /** Freshness goal in seconds. */
  maxLagSeconds: number;
  firstSend: "oldest" | "newest";
  includePrefixes: string[];
  preSnapshot: string[][];
  postSnapshot: string[][];
  /** The restore drill, where one is scheduled. */
  drill?: { schedule: string; recent: number };
  /** The SSH cipher, where one is chosen. */
  sshCipher?: string;
  /** zlib compression of the SSH transport. */
  sshCompression: boolean;
  /** The SSH channel receive window in bytes. */
  sshWindowBytes: number;
  /** Seconds without a byte after which a transfer is stopped as stalled. */
  stallTimeoutSeconds: number;
  /** Retries of a transiently failed step within a pass. */
  retries: number;
  /** Datasets replicated at once, parents before children (`max_transfers_per_source`). */
  maxTransfersPerSource: number;
  /** What to do with a conflicting backup. */
  onConflict: "report" | "rename";
  /** The bandwidth limit per transfer, where one is set. */
  bandwidthLimit?: BandwidthLimit;
  /** Raw sends (`zfs send -w`), for encrypted datasets. */
  sendRaw: boolean;
  /** Keep a bookmark of the newest replicated snapshot on the source. */
  bookmarks: boolean;
  /** Leave alone what has not changed since the backup got it (`skip_unchanged`, core/unchanged.ts). */
  skipUnchanged: boolean;
  /** Which thread carries the streams (`data_path`, core/data-path.ts). */
  dataPath: DataPath;
  /** The dead man's switch of the source (`ping_url`, `{source}` filled in), where one is set. */
  ping?: PingSettings;
  /** `zfs receive -x` and `-o` for every full receive, beside bzman's own (see core/receive-properties.ts). */
  receive: ReceiveSettings;
}

/** One configured dataset (a root): what it covers, what is left out, and what it overrides. */
export interface DatasetConfig {
  name: string;
  recursive: boolean;
  /** Glob patterns (relative to `name`) of datasets left out, with what lies below them. */
  exclude: string[];
  keepSource?: KeepPolicy;
  keepBackup?: KeepPolicy;
  maxLagSeconds?: number;
  onConflict?: "report" | "rename";
}

/** The properties configured for receives: `receive_exclude` and `receive_set` (as `[name, value]`). */
export interface ReceiveSettings {
  exclude: string[];
  set: Array<[string, string]>;
}

/** Where and how a source's passes are reported to a dead man's switch. */
export interface PingSettings {
  url: string;
  method: "GET" | "POST";
  /** Also request `<url>/start` when a pass starts. */
  start: boolean;
  timeoutMs: number;
}

/** The normalized configuration. */
export interface Config {
  state: string;
  /** This receiver's identity: its hold tag is `bzman.<instance>`, its bookmarks `<snapshot>.<instance>`. */
  instance: string;
  maxTransfers: number;
  history: { days: number; detailHours: number };
  http: { listen: string; tokenFile?: string };
  mail?: { smtp: string; from: string; to: string[]; report?: string; realertSeconds: number; digestSeconds: number };
  /** The alert webhook, where one is set. */
  webhook?: { url: string; timeoutMs: number; headers: Record<string, string> };
  capacityLimit: number;
  syslog?: { socket?: string; tag: string };
  /** `log.level`: the least severe records written. */
  logLevel: (typeof LOG_LEVELS)[number];
  /** `log.priority_prefix`, where set (otherwise it follows JOURNAL_STREAM). */
  priorityPrefix?: boolean;
  /** The scrub schedule of the backup pools, where one is set. */
  scrub?: { schedule: string };
  sources: SourceConfig[];
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Seconds in a duration like "90m" (already validated by the schema). */
export function durationSeconds(d: string): number {
  return Number(d.slice(0, -1)) * UNIT_SECONDS[d.slice(-1)]!;
}

/**
 * Fills every source's settings from the source, then `defaults:`, then the built-in defaults
 * (`DEFAULTS`, defaults.ts).
 * `instance` is the default instance (from the host name), used when the file names none.
 */
export function normalize(file: ConfigFile, instance: string): Config {
  const d = { ...DEFAULTS.inherited, ...stripUndefined(file.defaults) };
  return {
    state: file.state,
    instance: file.instance ?? instance,
    maxTransfers: file.max_transfers,
    history: { days: file.history.days, detailHours: file.history.detail_hours },
    http: { listen: file.http.listen, ...(file.http.token_file ? { tokenFile: file.http.token_file } : {}) },
    ...(file.mail
      ? {
          mail: {
            smtp: file.mail.smtp,
            from: file.mail.from,
            to: file.mail.to,
            ...(file.mail.report ? { report: file.mail.report } : {}),
            realertSeconds: durationSeconds(file.mail.realert),
            digestSeconds: durationSeconds(file.mail.digest),
          },
        }
      : {}),
    ...(file.webhook
      ? {
          webhook: {
            url: file.webhook.url,
            timeoutMs: durationSeconds(file.webhook.timeout) * 1000,
            headers: file.webhook.headers,
          },
        }
      : {}),
    capacityLimit: file.capacity_limit,
    ...(file.scrub ? { scrub: { schedule: file.scrub.schedule } } : {}),
    ...(file.log.syslog
      ? {
          syslog: {
            ...(typeof file.log.syslog === "object" && file.log.syslog.socket
              ? { socket: file.log.syslog.socket }
              : {}),
            tag: (typeof file.log.syslog === "object" && file.log.syslog.tag) || DEFAULTS.log.syslogTag,
          },
        }
      : {}),
    logLevel: file.log.level,
    ...(file.log.priority_prefix !== undefined ? { priorityPrefix: file.log.priority_prefix } : {}),
    sources: file.sources.map((s) => {
      const o = { ...d, ...stripUndefined(s) };
      return {
        name: s.name,
        host: s.host,
        port: s.port,
        user: s.user,
        identity: s.identity,
        ...(s.restore_identity ? { restoreIdentity: s.restore_identity } : {}),
        restoreUser: s.restore_user ?? s.user,
        ...(s.host_key ? { hostKey: s.host_key } : {}),
        target: s.target,
        datasets: s.datasets.map(
          (x): DatasetConfig => ({
            name: x.name,
            recursive: x.recursive,
            exclude: x.exclude,
            ...(x.keep_source ? { keepSource: x.keep_source } : {}),
            ...(x.keep_backup ? { keepBackup: x.keep_backup } : {}),
            ...(x.max_lag ? { maxLagSeconds: durationSeconds(x.max_lag) } : {}),
            ...(x.on_conflict ? { onConflict: x.on_conflict } : {}),
          }),
        ),
        schedule: o.schedule,
        snapshotPrefix: o.snapshot_prefix,
        keepSource: o.keep_source,
        keepBackup: o.keep_backup,
        maxLagSeconds: durationSeconds(o.max_lag),
        firstSend: o.first_send,
        includePrefixes: o.include_prefixes,
        preSnapshot: s.pre_snapshot ?? DEFAULTS.source.pre_snapshot,
        postSnapshot: s.post_snapshot ?? DEFAULTS.source.post_snapshot,
        ...(o.drill ? { drill: { schedule: o.drill.schedule, recent: o.drill.recent } } : {}),
        ...(o.ssh_cipher ? { sshCipher: o.ssh_cipher } : {}),
        stallTimeoutSeconds: durationSeconds(o.stall_timeout),
        sshCompression: o.ssh_compression,
        sshWindowBytes: sizeBytes(o.ssh_window)!,
        retries: o.retries,
        maxTransfersPerSource: o.max_transfers_per_source,
        onConflict: o.on_conflict,
        sendRaw: o.send_raw,
        bookmarks: o.bookmarks,
        skipUnchanged: o.skip_unchanged,
        dataPath: o.data_path,
        ...(o.bandwidth_limit ? { bandwidthLimit: bandwidthOf(o.bandwidth_limit) } : {}),
        receive: { exclude: o.receive_exclude ?? [], set: (o.receive_set ?? []).map(splitSetting) },
        ...(o.ping_url
          ? {
              ping: {
                url: o.ping_url.url.replaceAll("{source}", s.name),
                method: o.ping_url.method,
                start: o.ping_url.start,
                timeoutMs: durationSeconds(o.ping_url.timeout) * 1000,
              },
            }
          : {}),
      };
    }),
  };
}

/** "compression=zstd" → ["compression", "zstd"] (already validated by the schema). */
export function splitSetting(s: string): [string, string] {
  const i = s.indexOf("=");
  return [s.slice(0, i), s.slice(i + 1)];
}

function bandwidthOf(b: string | { rate: string; from: string; to: string }): BandwidthLimit {
  if (typeof b === "string") return { bytesPerSecond: parseRate(b)! };
  return { bytesPerSecond: parseRate(b.rate)!, from: parseTimeOfDay(b.from)!, to: parseTimeOfDay(b.to)! };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
