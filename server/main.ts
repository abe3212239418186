#!/usr/bin/env node
// Composition root: parses the command line, reads the config, builds the concrete adapters
// (local zfs, SSH to sources, the logger) and hands them to the commands. The only place that
// exits. Commands are rows of one table; their help texts are cli/help.ts. Commands that need
// heavy modules (express, nodemailer, MJML) are imported when they run, so `bzman run` and the
// others start in a fraction of the time.

import { fstatSync } from "node:fs";
import { Command, Option } from "commander";
import { readConfig } from "./config/load.ts";
import type { Config, SourceConfig } from "./config/schema.ts";
import { buildInfo } from "./cli/build-info.ts";
import { EXIT, type CliDeps } from "./cli/deps.ts";
import { COMMAND_HELP, helpAfter, type CommandName } from "./cli/help.ts";
import { createLogger, isJournalStream, type Logger } from "./log.ts";
import { cronProblem } from "./schedule/cron.ts";
import { LoggerSyslog } from "./syslog.ts";
import { connectSource, connectionsFor, nativeCryptoAvailable, type SourceEndpoint } from "./ssh/connection.ts";
import { ThreadOffload } from "./offload/thread-offload.ts";
import { LocalRunner } from "./zfs/runner.ts";
import { ZfsHost } from "./zfs/zfs-host.ts";
import { BackupError } from "./errors.ts";

const DEFAULT_CONFIG = "/etc/bzman/bzman.yaml";

/**
 * smf_method(7)'s SMF_EXIT_ERR_CONFIG: svc.startd puts a service whose start method exits with
 * it into maintenance instead of starting it again (every second, for a "child" service).
 */
const SMF_EXIT_ERR_CONFIG = 96;

/** The exit code of `serve`: a config or state that cannot work is SMF_EXIT_ERR_CONFIG under SMF (svc.startd sets SMF_FMRI). */
function serveExit(code: number): number {
  return code === EXIT.USAGE && process.env.SMF_FMRI ? SMF_EXIT_ERR_CONFIG : code;
}

/** Real adapters for the commands. */
function buildDeps(signal: AbortSignal): CliDeps {
  return {
    local: new ZfsHost(new LocalRunner()),
    async connect(s: SourceConfig, sig?: AbortSignal, opts?: { restore?: boolean }) {
      if (opts?.restore && !s.restoreIdentity) {
        throw new BackupError(
          "SSH_IDENTITY",
          `${s.name}: no restore_identity in the config; bzman writes to a source only with a restore key (install it with source-hooks/install-source.sh --restore)`,
        );
      }
      const [user, identity] = opts?.restore ? [s.restoreUser, s.restoreIdentity!] : [s.user, s.identity];
      const endpoint: SourceEndpoint = {
        name: s.name,
        host: s.host,
        port: s.port,
        user,
        identity,
        ...(s.hostKey ? { hostKey: s.hostKey } : {}),
        ...(s.sshCipher ? { cipher: s.sshCipher } : {}),
        compress: s.sshCompression,
        windowBytes: s.sshWindowBytes,
        connections: connectionsFor(s.maxTransfersPerSource),
      };
      const conn = await connectSource(endpoint, sig, (err) =>
        process.stderr.write(
          `bzman: ${s.name}: cannot open another SSH connection (${(err as Error).message}); ` +
            `its commands wait for the channels of the open one, tried again in a minute\n`,
        ),
      );
      // Streams from a source may run on worker threads, each with a connection of its own;
      // a restore's streams go the other way and stay on the main thread.
      const offload = opts?.restore || s.dataPath === "main" ? undefined : new ThreadOffload(endpoint);
      // The stream threads kept for the pass's next large stream end with the connection.
      return {
        host: new ZfsHost(conn.runner, offload),
        close: async () => {
          await offload?.close();
          await conn.close();
        },
      };
    },
    now: () => new Date(),
    sshNative: nativeCryptoAvailable(),
    stdout: process.stdout,
    stderr: process.stderr,
    signal,
  };
}

/** Whether file descriptor `fd` is the journal's stream (systemd's JOURNAL_STREAM names it). */
function onJournal(fd: number): boolean {
  try {
    return isJournalStream(process.env.JOURNAL_STREAM, fstatSync(fd));
  } catch {
    return false;
  }
}

/** The logger a command writes its records with: level from log.level or --verbose, `<N>` prefixes on the journal. */
function loggerFor(
  config: Config,
  verbose: boolean,
  stream: NodeJS.WriteStream,
  extra: { syslog?: LoggerSyslog } = {},
): Logger {
  const priorityPrefix = config.priorityPrefix ?? onJournal(stream === process.stderr ? 2 : 1);
  return createLogger({ level: verbose ? "debug" : config.logLevel, stream, priorityPrefix, ...extra });
}

/** How a command wants its config: read as usual (a bad one exits 2), as a Nagios check (3), or not at all. */
type ConfigMode = "usual" | "nagios" | "none";

/** Reads the config; on problems prints them (one Nagios line for a check) and gives the exit code. */
async function loadConfig(path: string, mode: ConfigMode): Promise<Config | number> {
  const r = await readConfig(path, { cronProblem });
  if ("errors" in r) {
    if (mode === "nagios") {
      const { unknownVerdict } = await import("./core/check.ts");
      const v = unknownVerdict(`the configuration has ${r.errors.length} problem(s): ${r.errors[0]}`);
      process.stdout.write(`${v.line}\n`);
      return v.code;
    }
    process.stderr.write(
      `bzman: the configuration has ${r.errors.length} problem(s); nothing was run:\n${r.errors.map((e) => `  ${e}`).join("\n")}\n`,
    );
    return EXIT.USAGE;
  }
  if (mode !== "nagios") for (const w of r.warnings) process.stderr.write(`bzman: warning: ${w}\n`);
  return r.config;
}

/** What a command's action gets. */
interface CommandContext {
  /** The loaded config (a placeholder for commands with `config: "none"`). */
  config: Config;
  configPath: string;
  /** The positional arguments, in order. */
  args: Array<string | undefined>;
  opts: Record<string, unknown>;
  /** --verbose was given. */
  verbose: boolean;
  deps: () => CliDeps;
  stop: AbortSignal;
}

/** One command of the table. */
interface CommandSpec {
  name: CommandName;
  /** Positional arguments: `<required>` or `[optional]`, and their description. */
  args?: Array<[string, string]>;
  options?: Array<Option | [string, string]>;
  /** How the config is read (default "usual"); `nagios` when `nagiosWhen` says so for these options. */
  config?: ConfigMode;
  nagiosWhen?: (opts: Record<string, unknown>) => boolean;
  /** Maps every exit code of the command (serve under SMF). */
  exit?: (code: number) => number;
  run(ctx: CommandContext): Promise<number>;
}

const COMMANDS: CommandSpec[] = [
  {
    name: "run",
    args: [["[selector]", "SOURCE or SOURCE:DATASET (default: every source)"]],
    options: [
      ["--json", "print the run records as JSON on stdout (the lines go to stderr)"],
      ["--no-snapshot", "do not snapshot the sources first; replicate the snapshots they have"],
      ["--no-prune", "do not apply retention (nor move holds) after replicating"],
    ],
    async run({ config, args, opts, deps }) {
      const { runCommand } = await import("./cli/run-command.ts");
      return runCommand(config, args[0], deps(), opts as { json?: boolean; snapshot: boolean; prune: boolean });
    },
  },
  {
    name: "plan",
    args: [["[selector]", "SOURCE or SOURCE:DATASET (default: every source)"]],
    options: [["--json", "machine-readable output"]],
    async run({ config, args, opts, deps }) {
      const { planCommand } = await import("./cli/run-command.ts");
      return planCommand(config, args[0], opts.json === true, deps());
    },
  },
  {
    name: "serve",
    exit: serveExit,
    async run({ config, verbose, deps, stop }) {
      // syslog through logger(1), one process per severity (syslog.ts); its own trouble goes to stderr.
      const syslog = config.syslog
        ? new LoggerSyslog({
            runner: new LocalRunner(),
            tag: config.syslog.tag,
            ...(config.syslog.socket ? { extraArgs: ["-u", config.syslog.socket] } : {}),
            report: (line) => process.stderr.write(`bzman: ${line}\n`),
            stopping: stop,
          })
        : undefined;
      const { serveCommand } = await import("./cli/serve-command.ts");
      try {
        return await serveCommand(config, {
          ...deps(),
          log: loggerFor(config, verbose, process.stdout, syslog ? { syslog } : {}),
        });
      } finally {
        await syslog?.close();
      }
    },
  },
  {
    name: "check",
    args: [["[selector]", "SOURCE (default: every source)"]],
    options: [["--config-only", "only validate the config file and the files it names; connect to nothing"]],
    async run({ config, configPath, args, opts, deps }) {
      const { unreadableFiles } = await import("./cli/config-files.ts");
      const files = await unreadableFiles(config);
      if (files.length > 0) {
        process.stderr.write(
          `bzman: the configuration has ${files.length} problem(s); nothing was checked further:\n${files.map((e) => `  ${configPath}: ${e}`).join("\n")}\n`,
        );
        return EXIT.USAGE;
      }
      if (opts.configOnly) {
        process.stdout.write(
          `${configPath}: valid, ${config.sources.length} source(s): ${config.sources.map((s) => s.name).join(", ")}\n`,
        );
        return EXIT.OK;
      }
      const { checkCommand } = await import("./cli/check-command.ts");
      return checkCommand(config, args[0], deps());
    },
  },
  {
    name: "status",
    options: [
      ["--json", "the JSON of GET /status?format=json"],
      ["--check", "a Nagios/Icinga plugin: one line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"],
    ],
    nagiosWhen: (opts) => opts.check === true,
    async run({ config, opts, deps }) {
      const { statusCommand, statusCheckCommand } = await import("./cli/status-command.ts");
      return opts.check ? statusCheckCommand(config, deps()) : statusCommand(config, opts.json === true, deps());
    },
  },
  {
    name: "report",
    options: [
      ["--print", "show the report in the terminal, fitted to its width (the default)"],
      ["--send [address]", "mail the report now (to ADDRESS, or to mail.to)"],
      new Option("--width <columns>", "width for --print (default: the terminal's)").argParser((v) => Number(v)),
    ],
    async run({ config, opts, verbose, deps }) {
      const { reportCommand } = await import("./cli/report-command.ts");
      return reportCommand(config, opts as { send?: string | boolean; width?: number }, {
        ...deps(),
        log: loggerFor(config, verbose, process.stderr),
      });
    },
  },
  {
    name: "monitor",
    options: [["--json", "machine-readable output"]],
    async run({ config, opts, deps }) {
      const { monitorCommand } = await import("./cli/status-command.ts");
      return monitorCommand(config, opts.json === true, deps());
    },
  },
  {
    name: "trust",
    args: [["<source>", "the source whose host key to pin"]],
    options: [["-y, --yes", "pin without asking (after checking the fingerprint another way)"]],
    async run({ config, configPath, args, opts }) {
      const [{ trustCommand }, { fetchHostKey }, { fingerprint, parsePinnedKey }, { pinHostKey }] = await Promise.all([
        import("./cli/trust-command.ts"),
        import("./ssh/connection.ts"),
        import("./ssh/host-key.ts"),
        import("./config/edit.ts"),
      ]);
      return trustCommand(config, args[0]!, opts.yes === true, {
        fetchHostKey,
        fingerprintOf: (key) => {
          const k = parsePinnedKey(key);
          return typeof k === "string" ? null : fingerprint(k.blob);
        },
        pin: (source, key) => pinHostKey(configPath, source, key),
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
      });
    },
  },
  {
    name: "restore",
    args: [
      [
        "[backup]",
        "SOURCE:DATASET[@SNAPSHOT] (default: the newest snapshot); with --local also BACKUP_DATASET@SNAPSHOT; with --cleanup a clone's name",
      ],
    ],
    options: [
      ["--to <host[:dataset]>", "restore onto this configured source (and dataset) instead of the original source"],
      ["--as <name>", "the new dataset's name: a sibling of the original, or a full path with /"],
      ["--mount", "mount the restored dataset on the source (default: received unmounted)"],
      ["--force", "a dataset already at the destination is renamed aside (kept) and the backup received in its place"],
      ["-y, --yes", "do not ask for confirmation (with --force)"],
      ["--dry-run", "say what would happen; change nothing"],
      ["--local", "a writable clone on this host instead (quick file-level recovery); needs --as"],
      ["--mountpoint <path>", "where to mount a --local clone"],
      ["--cleanup", "remove the clones made by --local (all, or the one named)"],
    ],
    async run({ config, args, opts, deps }) {
      const { restoreCommand } = await import("./cli/restore-command.ts");
      return restoreCommand(config, args[0], opts, { ...deps(), stdin: process.stdin });
    },
  },
  {
    name: "promote",
    args: [["<dataset>", "SOURCE:DATASET whose backup goes live on this host"]],
    options: [
      ["--as <name>", "the live dataset (default: <pool>/bzman-live/<source>/<dataset>)"],
      ["--mountpoint <path>", "where to mount it"],
      ["--dry-run", "say what would happen; change nothing"],
    ],
    async run({ config, args, opts, deps }) {
      const { promoteCommand } = await import("./cli/failover-command.ts");
      return promoteCommand(config, args[0]!, opts, { ...deps(), stdin: process.stdin });
    },
  },
  {
    name: "failback",
    args: [["<dataset>", "SOURCE:DATASET promoted earlier"]],
    options: [
      ["--force", "a source dataset with snapshots the live copy lacks is renamed aside (kept) and re-seeded"],
      ["-y, --yes", "do not ask for confirmation (with --force)"],
      ["--dry-run", "say what would be sent; change nothing"],
    ],
    async run({ config, args, opts, deps }) {
      const { failbackCommand } = await import("./cli/failover-command.ts");
      return failbackCommand(config, args[0]!, opts, { ...deps(), stdin: process.stdin });
    },
  },
  {
    name: "drill",
    args: [["[source]", "the source to drill (default: each)"]],
    async run({ config, args, deps }) {
      const { drillCommand } = await import("./cli/verify-command.ts");
      return drillCommand(config, args[0], deps());
    },
  },
  {
    name: "scrub",
    async run({ config, deps }) {
      const { scrubCommand } = await import("./cli/verify-command.ts");
      return scrubCommand(config, deps(), { pollMs: 2000 });
    },
  },
  {
    name: "demo",
    config: "none",
    options: [["--keep", "leave the sandbox running afterwards and print how to look at it and remove it"]],
    async run({ opts, deps, stop }) {
      const { runDemo } = await import("./sandbox/demo.ts");
      return runDemo({ keep: opts.keep === true, signal: stop, deps: deps() });
    },
  },
];

/** Runs the CLI and resolves with the exit code. */
async function main(argv: string[]): Promise<number> {
  const stop = new AbortController();
  let interrupted = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++interrupted > 1) process.exit(130);
    process.stderr.write(
      `\nbzman: ${sig}: stopping; running transfers are ended and awaited (again to quit at once)\n`,
    );
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const info = buildInfo();
  let code: number = EXIT.OK;
  const program = new Command("bzman")
    .description(
      "Pull-based ZFS backup receiver: replicates ZFS datasets from source hosts over SSH into a local pool.",
    )
    .version(
      `bzman ${info.version} (Node.js ${info.node})`,
      "-V, --version",
      "print bzman's version and the Node.js in use",
    )
    .addOption(new Option("-c, --config <file>", "config file").env("BZMAN_CONFIG").default(DEFAULT_CONFIG))
    .option("-v, --verbose", "log debug records too (overrides log.level)")
    .addHelpText(
      "after",
      "\nExit status: 0 success, 1 a failure, conflict or refusal, 2 a bad config or usage (each command's --help says more).",
    )
    .exitOverride()
    .showHelpAfterError();

  for (const spec of COMMANDS) {
    const help = COMMAND_HELP[spec.name];
    const cmd = program.command(spec.name).description(help.summary).addHelpText("after", helpAfter(help));
    for (const [name, description] of spec.args ?? []) cmd.argument(name, description);
    for (const o of spec.options ?? []) {
      if (o instanceof Option) cmd.addOption(o);
      else cmd.option(o[0], o[1]);
    }
    cmd.action(async (...received: unknown[]) => {
      const self = received.at(-1) as Command;
      const opts = self.opts<Record<string, unknown>>();
      const global = program.opts<{ config: string; verbose?: boolean }>();
      const mode: ConfigMode = spec.config ?? (spec.nagiosWhen?.(opts) ? "nagios" : "usual");
      const config = mode === "none" ? ({} as Config) : await loadConfig(global.config, mode);
      const exit = spec.exit ?? ((c: number) => c);
      if (typeof config === "number") {
        code = exit(config);
        return;
      }
      code = exit(
        await spec.run({
          config,
          configPath: global.config,
          args: self.processedArgs as Array<string | undefined>,
          opts,
          verbose: global.verbose === true,
          deps: () => buildDeps(stop.signal),
          stop: stop.signal,
        }),
      );
    });
  }

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return EXIT.OK;
    if (e.code?.startsWith("commander.")) return EXIT.USAGE;
    throw err;
  }
  return code;
}

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bzman: internal error (a bug, please report it): ${err instanceof Error ? err.stack : String(err)}\n`,
    );
    process.exit(70);
  },
);
