// Every default of the config file, in one table: what a setting is when the file leaves it out.
// schema.ts applies them (the section defaults through zod, the inherited ones in normalize);
// nothing else in config/ writes a default value.

import { DEFAULT_SNAPSHOT_PREFIX } from "../core/naming.ts";
import { DEFAULT_CAPACITY_LIMIT } from "../core/status.ts";
import type { DataPath } from "../core/data-path.ts";
import type { KeepPolicy } from "./schema.ts";

/** What a source inherits when neither it nor `defaults:` sets it. */
export interface InheritedDefaults {
  schedule: string;
  snapshot_prefix: string;
  keep_source: KeepPolicy;
  keep_backup: KeepPolicy;
  max_lag: string;
  first_send: "oldest" | "newest";
  include_prefixes: string[];
  stall_timeout: string;
  retries: number;
  max_transfers_per_source: number;
  on_conflict: "report" | "rename";
  ssh_compression: boolean;
  ssh_window: string;
  send_raw: boolean;
  bookmarks: boolean;
  skip_unchanged: boolean;
  data_path: DataPath;
}

/**
 * The highest `max_transfers_per_source`. A source's SSH connection opens at most 4 channels at
 * once (ssh/ssh-runner.ts MAX_CHANNELS; a stock sshd allows 10 sessions per connection), so more
 * streams open more connections, one per 4 (ssh/connection.ts connectionsFor).
 */
export const MAX_TRANSFERS_PER_SOURCE = 16;

/**
 * The built-in defaults, by the file's own key names. Two more follow other settings:
 * `instance` defaults to the host name, `restore_user` to the source's `user`.
 */
export const DEFAULTS = {
  state: "/var/lib/bzman/state.json",
  http: { listen: "127.0.0.1:9720" },
  mail: { realert: "6h", digest: "30s" },
  webhook: { timeout: "10s" },
  log: { syslog: false as const, syslogTag: "bzman", level: "info" as const },
  capacity_limit: DEFAULT_CAPACITY_LIMIT,
  max_transfers: 2,
  history: { days: 90, detail_hours: 48 },
  source: { port: 22, user: "bzman", pre_snapshot: [] as string[][], post_snapshot: [] as string[][] },
  dataset: { recursive: false, exclude: [] as string[] },
  drill: { recent: 10 },
  ping_url: { method: "GET" as const, start: false, timeout: "10s" },
  /** Under `defaults:`, and so for every source. */
  inherited: {
    schedule: "*/10 * * * *",
    snapshot_prefix: DEFAULT_SNAPSHOT_PREFIX,
    keep_source: { last: 24 },
    keep_backup: { hourly: 48, daily: 30, weekly: 12, monthly: 12 },
    max_lag: "1h",
    first_send: "oldest",
    include_prefixes: [],
    stall_timeout: "10m",
    retries: 2,
    /** Two streams per source: as many as the default `max_transfers`, half the SSH channels. */
    max_transfers_per_source: 2,
    on_conflict: "report",
    ssh_compression: false,
    ssh_window: "32M",
    send_raw: false,
    bookmarks: false,
    skip_unchanged: false,
    data_path: "auto",
  } satisfies InheritedDefaults as InheritedDefaults,
};
