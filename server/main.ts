#!/usr/bin/env node
// Composition root: parses the command line, reads the config, builds the concrete adapters
// (local zfs, SSH to sources) and hands them to the commands. The only place that exits.
// Commands that need heavy modules (express, nodemailer, MJML) are imported when they run, so
// `bzman run` and the others start in a fraction of the time.

import { Command, Option } from "commander";
import { readConfig } from "./config/load.ts";
import type { Config, SourceConfig } from "./config/schema.ts";
import { EXIT, type CliDeps } from "./cli/deps.ts";
import { planCommand, runCommand } from "./cli/run-command.ts";
import { checkCommand } from "./cli/check-command.ts";
import { createLogger } from "./log.ts";
import { LoggerSyslog } from "./syslog.ts";
import { connectSource, fetchHostKey, nativeCryptoAvailable } from "./ssh/connection.ts";
import { fingerprint, parsePinnedKey } from "./ssh/host-key.ts";
import { pinHostKey } from "./config/edit.ts";
import { trustCommand } from "./cli/trust-command.ts";
import { restoreCommand, type RestoreOptions } from "./cli/restore-command.ts";
import { failbackCommand, promoteCommand, type FailbackOptions, type PromoteOptions } from "./cli/failover-command.ts";
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
        throw new BackupError("SSH_IDENTITY", `${s.name}: no restore_identity in the config; bzman writes to a source only with a restore key (install it with source-hooks/install-source.sh --restore)`);
      }
      const [user, identity] = opts?.restore ? [s.restoreUser, s.restoreIdentity!] : [s.user, s.identity];
      const conn = await connectSource({ name: s.name, host: s.host, port: s.port, user, identity, ...(s.hostKey ? { hostKey: s.hostKey } : {}), ...(s.sshCipher ? { cipher: s.sshCipher } : {}), compress: s.sshCompression }, sig);
      return { host: new ZfsHost(conn.runner), close: () => conn.close() };
    },
    now: () => new Date(),
    sshNative: nativeCryptoAvailable(),
    stdout: process.stdout,
    stderr: process.stderr,
    signal,
  };
}

async function loadConfig(path: string): Promise<Config | number> {
  const r = await readConfig(path);
  if ("errors" in r) {
    process.stderr.write(`bzman: the configuration has ${r.errors.length} problem(s); nothing was run:\n${r.errors.map((e) => `  ${e}`).join("\n")}\n`);
    return EXIT.USAGE;
  }
  for (const w of r.warnings) process.stderr.write(`bzman: warning: ${w}\n`);
  return r.config;
}

/** loadConfig for a Nagios check: a bad config is UNKNOWN (3) with one line on stdout, not 2. */
async function loadConfigForCheck(path: string): Promise<Config | number> {
  const r = await readConfig(path);
  if ("errors" in r) {
    const { unknownVerdict } = await import("./core/check.ts");
    const v = unknownVerdict(`the configuration has ${r.errors.length} problem(s): ${r.errors[0]}`);
    process.stdout.write(v.line + "\n");
    return v.code;
  }
  return r.config;
}

/** Runs the CLI and resolves with the exit code. */
async function main(argv: string[]): Promise<number> {
  const stop = new AbortController();
  let interrupted = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++interrupted > 1) process.exit(130);
    process.stderr.write(`\nbzman: ${sig}: stopping; running transfers are ended and awaited (again to quit at once)\n`);
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let code: number = EXIT.OK;
  const program = new Command("bzman")
    .description("Pull-based ZFS backup receiver: replicates ZFS datasets from source hosts over SSH into a local pool.")
    .addOption(new Option("-c, --config <file>", "config file").env("BZMAN_CONFIG").default(DEFAULT_CONFIG))
    .exitOverride()
    .showHelpAfterError();

  const configPath = (): string => program.opts<{ config: string }>().config;

  program.command("run")
    .argument("[selector]", "SOURCE or SOURCE:DATASET (default: every source)")
    .option("--json", "print the run records as JSON on stdout (the lines go to stderr)")
    .option("--no-snapshot", "do not snapshot the sources first; replicate the snapshots they have")
    .option("--no-prune", "do not apply retention (nor move holds) after replicating")
    .description("one pass now, in the foreground: snapshot the sources, pull what is missing, prune; print per dataset what happened")
    .addHelpText("after", "\nExamples:\n  bzman run                  # every source\n  bzman run web1             # one source\n  bzman run web1:tank/vm     # one dataset (and what lies below it)\n  bzman run --no-snapshot    # replicate what the sources have, take no snapshot\n\nExit status: 0 if every dataset was replicated or already up to date, 1 otherwise, 2 for a bad config or usage.")
    .action(async (selector: string | undefined, opts: { json?: boolean; snapshot: boolean; prune: boolean }) => {
      const config = await loadConfig(configPath());
      code = typeof config === "number" ? config : await runCommand(config, selector, buildDeps(stop.signal), opts);
    });

  program.command("plan")
    .argument("[selector]", "SOURCE or SOURCE:DATASET (default: every source)")
    .option("--json", "machine-readable output")
    .description("what a run would do, changing nothing: per dataset the mode, from/to snapshots, estimated bytes")
    .addHelpText("after", "\nExamples:\n  bzman plan\n  bzman plan web1 --json | jq '.sources[].datasets[] | {dataset, mode}'\n\nExit status: 0 if every dataset would be replicated or is up to date, 1 otherwise, 2 for a bad config or usage.")
    .action(async (selector: string | undefined, opts: { json?: boolean }) => {
      const config = await loadConfig(configPath());
      code = typeof config === "number" ? config : await planCommand(config, selector, opts.json ?? false, buildDeps(stop.signal));
    });

  program.command("serve")
    .description("the daemon: a pass per source on its schedule (snapshot, pull, prune), recorded in the history")
    .addHelpText("after", "\nStops cleanly on SIGTERM or SIGINT: no new passes, running transfers aborted and awaited, records written.\n\nExamples:\n  bzman serve\n  bzman --config /etc/bzman/bzman.yaml serve\n\nExit status: 0 after a clean stop, 2 for a bad config or an unusable state file (96, SMF_EXIT_ERR_CONFIG, when svc.startd runs it).")
    .action(async () => {
      const config = await loadConfig(configPath());
      if (typeof config === "number") {
        code = serveExit(config);
        return;
      }
      // syslog through logger(1), one process per severity (syslog.ts); its own trouble goes to stderr.
      const syslog = config.syslog
        ? new LoggerSyslog({
          runner: new LocalRunner(), tag: config.syslog.tag, ...(config.syslog.socket ? { extraArgs: ["-u", config.syslog.socket] } : {}),
          report: (line) => process.stderr.write(`bzman: ${line}\n`), stopping: stop.signal,
        })
        : undefined;
      const { serveCommand } = await import("./cli/serve-command.ts");
      try {
        code = serveExit(await serveCommand(config, { ...buildDeps(stop.signal), log: createLogger(syslog ? { syslog } : {}) }));
      } finally {
        await syslog?.close();
      }
    });

  program.command("check")
    .argument("[selector]", "SOURCE (default: every source)")
    .option("--config-only", "only validate the config file; connect to nothing")
    .description("validate the config (every problem with its path), then preflight each source: reachable, host key, zfs answers, datasets exist, backup pool ONLINE, room for the next pass")
    .addHelpText("after", "\nExamples:\n  bzman check\n  bzman check web1\n  bzman --config ./bzman.yaml check --config-only\n\nExit status: 0 if every check passed, 1 if a check failed, 2 for a bad config or usage.")
    .action(async (selector: string | undefined, opts: { configOnly?: boolean }) => {
      const config = await loadConfig(configPath());
      if (typeof config === "number") code = config;
      else if (opts.configOnly) process.stdout.write(`${configPath()}: valid, ${config.sources.length} source(s): ${config.sources.map((s) => s.name).join(", ")}\n`);
      else code = await checkCommand(config, selector, buildDeps(stop.signal));
    });

  program.command("status")
    .option("--json", "the JSON of GET /status?format=json")
    .option("--check", "a Nagios/Icinga plugin: one line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    .description("what GET /status shows: per dataset the newest backup, its lag against max_lag, the last pass, progress, next run; pools; problems")
    .addHelpText("after", "\nAsks the running daemon on http.listen; without one, builds the same from the history.\n\nExamples:\n  bzman status\n  bzman status --json | jq '.problems'\n  bzman status --check        # for NRPE / Icinga: BZMAN OK - 12 datasets fresh, 1 pool ONLINE | datasets=12;;;0 …\n\nExit status: 0 when every dataset is fresh and every pool healthy, 1 otherwise, 2 for a bad config.\nWith --check: 0 OK, 1 WARNING (behind max_lag, a failed pass, a pool beyond capacity_limit), 2 CRITICAL\n(a conflict, twice max_lag behind, never backed up, a pool not ONLINE or 95% full, scrub errors),\n3 UNKNOWN (a bad config, an unusable state file, no pass recorded yet, a pool that could not be checked).")
    .action(async (opts: { json?: boolean; check?: boolean }) => {
      const config = opts.check ? await loadConfigForCheck(configPath()) : await loadConfig(configPath());
      const { statusCommand, statusCheckCommand } = await import("./cli/status-command.ts");
      if (typeof config === "number") code = config;
      else code = opts.check ? await statusCheckCommand(config, buildDeps(stop.signal)) : await statusCommand(config, opts.json ?? false, buildDeps(stop.signal));
    });

  program.command("report")
    .option("--print", "show the report in the terminal, fitted to its width (the default)")
    .option("--send [address]", "mail the report now (to ADDRESS, or to mail.to)")
    .option("--width <columns>", "width for --print (default: the terminal's)", (v) => Number(v))
    .description("the last 24 hours: totals, and per dataset the newest backup, lag, passes, failures, bytes (failures first)")
    .addHelpText("after", "\nExamples:\n  bzman report\n  bzman report --send\n  bzman report --send ops@example.com")
    .action(async (opts: { send?: string | boolean; width?: number }) => {
      const config = await loadConfig(configPath());
      const { reportCommand } = await import("./cli/report-command.ts");
      code = typeof config === "number" ? config : await reportCommand(config, opts, { ...buildDeps(stop.signal), log: createLogger({ stream: process.stderr }) });
    });

  program.command("monitor")
    .option("--json", "machine-readable output")
    .description("pool health and capacity on the backup host and on every source (less than 25% free is a problem)")
    .addHelpText("after", "\nExamples:\n  bzman monitor\n  bzman monitor --json\n\nExit status: 0 when every pool is ONLINE with room, 1 otherwise, 2 for a bad config.")
    .action(async (opts: { json?: boolean }) => {
      const config = await loadConfig(configPath());
      const { monitorCommand } = await import("./cli/status-command.ts");
      code = typeof config === "number" ? config : await monitorCommand(config, opts.json ?? false, buildDeps(stop.signal));
    });

  program.command("trust")
    .argument("<source>", "the source whose host key to pin")
    .option("-y, --yes", "pin without asking (after checking the fingerprint another way)")
    .description("fetch a source's SSH host key (without logging in), show its fingerprint, and pin it in the config after confirmation")
    .addHelpText("after", "\nExamples:\n  bzman trust web1\n  bzman --config ./bzman.yaml trust web1 --yes")
    .action(async (name: string, opts: { yes?: boolean }) => {
      const config = await loadConfig(configPath());
      code = typeof config === "number" ? config : await trustCommand(config, name, opts.yes ?? false, {
        fetchHostKey,
        fingerprintOf: (key) => {
          const k = parsePinnedKey(key);
          return typeof k === "string" ? null : fingerprint(k.blob);
        },
        pin: (source, key) => pinHostKey(configPath(), source, key),
        stdin: process.stdin, stdout: process.stdout, stderr: process.stderr,
      });
    });

  program.command("restore")
    .argument("[backup]", "SOURCE:DATASET[@SNAPSHOT] (default: the newest snapshot); with --local also BACKUP_DATASET@SNAPSHOT; with --cleanup a clone's name")
    .option("--to <host[:dataset]>", "restore onto this configured source (and dataset) instead of the original source")
    .option("--as <name>", "the new dataset's name: a sibling of the original, or a full path with /")
    .option("--mount", "mount the restored dataset on the source (default: received unmounted)")
    .option("--force", "a dataset already at the destination is renamed aside (kept) and the backup received in its place")
    .option("-y, --yes", "do not ask for confirmation (with --force)")
    .option("--dry-run", "say what would happen; change nothing")
    .option("--local", "a writable clone on this host instead (quick file-level recovery); needs --as")
    .option("--mountpoint <path>", "where to mount a --local clone")
    .option("--cleanup", "remove the clones made by --local (all, or the one named)")
    .description("get data back: send a backup snapshot to a source under a new name (never over a live dataset), or clone it here")
    .addHelpText("after", "\nThe source must have a restore key (restore_identity in the config, installed with\nsource-hooks/install-source.sh --restore): the everyday replication key can never write there.\n\nExamples:\n  bzman restore web1:tank/www                      # newest backup, to tank/www-restored-<UTC> on web1\n  bzman restore web1:tank/www@bzman_20261126T230000Z --as www-yesterday\n  bzman restore web1:tank/www --to web2:tank/www-from-web1\n  bzman restore --local web1:tank/www --as www-files --mountpoint /mnt/www\n  bzman restore --cleanup\n\nExit status: 0 when done, 1 when it failed or was refused, 2 for a bad config or usage.")
    .action(async (spec: string | undefined, opts: RestoreOptions) => {
      const config = await loadConfig(configPath());
      code = typeof config === "number" ? config : await restoreCommand(config, spec, opts, { ...buildDeps(stop.signal), stdin: process.stdin });
    });

  program.command("promote")
    .argument("<dataset>", "SOURCE:DATASET whose backup goes live on this host")
    .option("--as <name>", "the live dataset (default: <pool>/bzman-live/<source>/<dataset>)")
    .option("--mountpoint <path>", "where to mount it")
    .option("--dry-run", "say what would happen; change nothing")
    .description("failover: the newest backup of a dataset becomes a live, writable dataset on this host; its pulls pause")
    .addHelpText("after", "\nExamples:\n  bzman promote web1:tank/www --mountpoint /srv/www\n\nThen, when the source is back: bzman failback web1:tank/www")
    .action(async (spec: string, opts: PromoteOptions) => {
      const config = await loadConfig(configPath());
      code = typeof config === "number" ? config : await promoteCommand(config, spec, opts, { ...buildDeps(stop.signal), stdin: process.stdin });
    });

  program.command("failback")
    .argument("<dataset>", "SOURCE:DATASET promoted earlier")
    .option("--force", "a source dataset with snapshots the live copy lacks is renamed aside (kept) and re-seeded")
    .option("-y, --yes", "do not ask for confirmation (with --force)")
    .option("--dry-run", "say what would be sent; change nothing")
    .description("after a promote: send the live copy back to the source (restore key), make it the backup again, resume pulls")
    .addHelpText("after", "\nThe live copy is made read-only and snapshotted first, so nothing written to it is lost.\n\nExamples:\n  bzman failback web1:tank/www --dry-run\n  bzman failback web1:tank/www")
    .action(async (spec: string, opts: FailbackOptions) => {
      const config = await loadConfig(configPath());
      code = typeof config === "number" ? config : await failbackCommand(config, spec, opts, { ...buildDeps(stop.signal), stdin: process.stdin });
    });

  program.command("drill")
    .argument("[source]", "the source to drill (default: each)")
    .description("a restore drill now: clone a random recent backup snapshot, check it mounts, read every file, compare with the source, destroy the clone")
    .addHelpText("after", "\nScheduled per source with drill: { schedule: \"0 4 * * *\" } in the config.\n\nExit status: 0 when every drill passed, 1 otherwise, 2 for a bad config.")
    .action(async (name: string | undefined) => {
      const config = await loadConfig(configPath());
      const { drillCommand } = await import("./cli/verify-command.ts");
      code = typeof config === "number" ? config : await drillCommand(config, name, buildDeps(stop.signal));
    });

  program.command("scrub")
    .description("scrub every backup pool now and wait for the result (errors found are a problem in the status)")
    .addHelpText("after", "\nScheduled with scrub: { schedule: \"0 2 * * 0\" } in the config.\n\nExit status: 0 when every pool scrubbed clean, 1 otherwise, 2 for a bad config.")
    .action(async () => {
      const config = await loadConfig(configPath());
      const { scrubCommand } = await import("./cli/verify-command.ts");
      code = typeof config === "number" ? config : await scrubCommand(config, buildDeps(stop.signal), { pollMs: 2000 });
    });

  program.command("demo")
    .description("a sandbox on this machine: real ZFS pools on files, a real SSH source on loopback, replicated end to end")
    .option("--keep", "leave the sandbox running afterwards and print how to look at it and remove it")
    .addHelpText("after", "\nNeeds root on Debian: installs zfs-fuse and openssh-server when missing.\n\nExamples:\n  sudo npm run demo\n  sudo bzman demo --keep")
    .action(async (opts: { keep?: boolean }) => {
      const { runDemo } = await import("./sandbox/demo.ts");
      code = await runDemo({ keep: opts.keep ?? false, signal: stop.signal, deps: buildDeps(stop.signal) });
    });

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
    process.stderr.write(`bzman: internal error (a bug, please report it): ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(70);
  },
);
