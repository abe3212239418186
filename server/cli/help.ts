// What `bzman COMMAND --help` says beyond the options: what the command does, notes, examples
// and its exit status. One entry per command, so no command ships without examples or exit
// codes (a test reads this table and every command's --help). Text only; no behaviour here.

/** The help of one command. */
export interface CommandHelp {
  /** One line: what the command does. */
  summary: string;
  /** Paragraphs shown before the examples. */
  notes?: string;
  /** Command lines, each with an optional `# comment`. */
  examples: string[];
  /** What each exit code means, lowest first. */
  exit: string;
}

/** The exit status shared by commands that change or check something. */
const CONFIG_EXIT = "2 for a bad config or usage";

/** The help of every command, by name (the order `bzman --help` lists them in). */
export const COMMAND_HELP = {
  run: {
    summary:
      "one pass now, in the foreground: snapshot the sources, pull what is missing, prune; print per dataset what happened",
    examples: [
      "bzman run                  # every source",
      "bzman run web1             # one source",
      "bzman run web1:tank/vm     # one dataset (and what lies below it)",
      "bzman run --no-snapshot    # replicate what the sources have, take no snapshot",
    ],
    exit: `0 if every dataset was replicated or already up to date, 1 otherwise, ${CONFIG_EXIT}.`,
  },
  plan: {
    summary: "what a run would do, changing nothing: per dataset the mode, from/to snapshots, estimated bytes",
    examples: ["bzman plan", "bzman plan web1 --json | jq '.sources[].datasets[] | {dataset, mode}'"],
    exit: `0 if every dataset would be replicated or is up to date, 1 otherwise, ${CONFIG_EXIT}.`,
  },
  serve: {
    summary: "the daemon: a pass per source on its schedule (snapshot, pull, prune), recorded in the history",
    notes:
      "Stops cleanly on SIGTERM or SIGINT: no new passes, running transfers aborted and awaited, records written.\nUnder systemd each log line carries its syslog priority (<3> for errors), so journalctl -p err shows the errors.",
    examples: [
      "bzman serve",
      "bzman --config /etc/bzman/bzman.yaml serve",
      "bzman --verbose serve     # also the debug lines",
    ],
    exit: "0 after a clean stop, 1 when passes were still running at the end of the stop, 2 for a bad config or an unusable state file (96, SMF_EXIT_ERR_CONFIG, when svc.startd runs it).",
  },
  check: {
    summary:
      "validate the config (every problem with its path), then preflight each source: reachable, host key, zfs answers, datasets exist, backup pool ONLINE, room for the next pass",
    notes:
      "Both forms also check every schedule with the scheduler's own parser and that the files the config names\n(identity, restore_identity, http.token_file) are readable. --config-only connects to nothing and writes nothing.",
    examples: ["bzman check", "bzman check web1", "bzman --config ./bzman.yaml check --config-only"],
    exit: `0 if every check passed, 1 if a check failed, 2 for a bad config (a file it names unreadable included) or usage.`,
  },
  status: {
    summary:
      "what GET /status shows: per dataset the newest backup, its lag against max_lag, the last pass, progress, next run; pools; problems",
    notes:
      "Asks the running daemon on http.listen; without one, builds the same from the history (read only: it writes,\nmoves and creates no file).",
    examples: [
      "bzman status",
      "bzman status --json | jq '.problems'",
      "bzman status --check        # for NRPE / Icinga: BZMAN OK - 12 datasets fresh, 1 pool ONLINE | datasets=12;;;0 …",
    ],
    exit: "0 when every dataset is fresh and every pool healthy, 1 otherwise, 2 for a bad config or an unusable state file.\nWith --check: 0 OK, 1 WARNING (behind max_lag, a failed pass, a pool beyond capacity_limit), 2 CRITICAL\n(a conflict, twice max_lag behind, never backed up, a pool not ONLINE or 95% full, scrub errors),\n3 UNKNOWN (a bad config, an unusable state file, no pass recorded yet, a pool that could not be checked).",
  },
  report: {
    summary:
      "the last 24 hours: totals, and per dataset the newest backup, lag, passes, failures, bytes (failures first)",
    notes: "--print reads the history only: it writes, moves and creates no file.",
    examples: [
      "bzman report",
      "bzman report --print --width 120",
      "bzman report --send",
      "bzman report --send ops@example.com",
    ],
    exit: "--print: 0 when no dataset failed or is behind its goal and there is no problem, 1 otherwise.\n--send: 0 when the mail was sent, 1 when it could not be.\n2 for a bad config, an unusable state file, or --send without a mail: section.",
  },
  monitor: {
    summary: "pool health and capacity on the backup host and on every source (beyond capacity_limit is a problem)",
    examples: ["bzman monitor", "bzman monitor --json"],
    exit: `0 when every pool is ONLINE with room, 1 otherwise, ${CONFIG_EXIT}.`,
  },
  trust: {
    summary:
      "fetch a source's SSH host key (without logging in), show its fingerprint, and pin it in the config after confirmation",
    examples: ["bzman trust web1", "bzman --config ./bzman.yaml trust web1 --yes"],
    exit: `0 when the key was pinned or already was, 1 when it could not be fetched or was not confirmed, ${CONFIG_EXIT}.`,
  },
  restore: {
    summary:
      "get data back: send a backup snapshot to a source under a new name (never over a live dataset), or clone it here",
    notes:
      "The source must have a restore key (restore_identity in the config, installed with\nsource-hooks/install-source.sh --restore): the everyday replication key can never write there.",
    examples: [
      "bzman restore web1:tank/www                      # newest backup, to tank/www-restored-<UTC> on web1",
      "bzman restore web1:tank/www@bzman_20261126T230000Z --as www-yesterday",
      "bzman restore web1:tank/www --to web2:tank/www-from-web1",
      "bzman restore --local web1:tank/www --as www-files --mountpoint /mnt/www",
      "bzman restore --cleanup",
    ],
    exit: `0 when done, 1 when it failed or was refused, ${CONFIG_EXIT}.`,
  },
  promote: {
    summary: "failover: the newest backup of a dataset becomes a live, writable dataset on this host; its pulls pause",
    notes: "Then, when the source is back: bzman failback SOURCE:DATASET",
    examples: ["bzman promote web1:tank/www --mountpoint /srv/www", "bzman promote web1:tank/www --dry-run"],
    exit: `0 when done, 1 when it failed or was refused, ${CONFIG_EXIT}.`,
  },
  failback: {
    summary:
      "after a promote: send the live copy back to the source (restore key), make it the backup again, resume pulls",
    notes: "The live copy is made read-only and snapshotted first, so nothing written to it is lost.",
    examples: ["bzman failback web1:tank/www --dry-run", "bzman failback web1:tank/www"],
    exit: `0 when done, 1 when it failed or was refused, ${CONFIG_EXIT}.`,
  },
  drill: {
    summary:
      "a restore drill now: clone a random recent backup snapshot, check it mounts, read every file, compare with the source, destroy the clone",
    notes: 'Scheduled per source with drill: { schedule: "0 4 * * *" } in the config (or in defaults:).',
    examples: ["bzman drill                # every source", "bzman drill web1"],
    exit: `0 when every drill passed, 1 otherwise, ${CONFIG_EXIT}.`,
  },
  scrub: {
    summary: "scrub every backup pool now and wait for the result (errors found are a problem in the status)",
    notes: 'Scheduled with scrub: { schedule: "0 2 * * 0" } in the config.',
    examples: ["bzman scrub", "bzman --config ./bzman.yaml scrub"],
    exit: `0 when every pool scrubbed clean, 1 otherwise, ${CONFIG_EXIT}.`,
  },
  demo: {
    summary: "a sandbox on this machine: real ZFS pools on files, a real SSH source on loopback, replicated end to end",
    notes: "Needs root on Debian: installs zfs-fuse and openssh-server when missing.",
    examples: ["sudo npm run demo", "sudo bzman demo --keep"],
    exit: "0 when the demo replicated and verified everything, 1 otherwise, 2 when not run as root.",
  },
} satisfies Record<string, CommandHelp>;

/** A command's name. */
export type CommandName = keyof typeof COMMAND_HELP;

/** The text after the options in `--help`: notes, examples, exit status. */
export function helpAfter(h: CommandHelp): string {
  return `${h.notes ? `\n${h.notes}\n` : ""}\nExamples:\n${h.examples.map((e) => `  ${e}`).join("\n")}\n\nExit status: ${h.exit}`;
}
