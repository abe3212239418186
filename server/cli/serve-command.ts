// `bzman serve`: the daemon. One scheduled job per source; each pass snapshots, pulls and prunes,
// under the per-dataset locks and the global transfer limit, and is recorded in the history.
// Stops cleanly when `deps.signal` aborts (SIGTERM/SIGINT): no new passes, running transfers
// aborted and awaited, records written. What it knows while running is cli/daemon-state.ts.

import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { Config } from "../config/schema.ts";
import { poolOf, targetFor } from "../core/naming.ts";
import type { StatusModel } from "../core/status.ts";
import { checkPools } from "../engine/pools.ts";
import { createStatusApp, parseListen } from "../http/status-app.ts";
import type { MetricsExtras } from "../http/metrics.ts";
import type { RunRecord } from "../core/model.ts";
import { Slots } from "../engine/slots.ts";
import { runSucceeded } from "../engine/run-source.ts";
import type { Logger } from "../log.ts";
import { Scheduler } from "../schedule/scheduler.ts";
import { datasetLine } from "./format.ts";
import { buildInfo } from "./build-info.ts";
import { DaemonState } from "./daemon-state.ts";
import { Notifier } from "./notify.ts";
import { PassHooks } from "./pass-hooks.ts";
import { drillOnce, scrubOnce } from "./verify-command.ts";
import { BackupError } from "../errors.ts";
import { EXIT, newRunId, openServices, type CliDeps } from "./deps.ts";
import { passOnce } from "./pass.ts";

/** How long running passes get to end after a stop request. */
export const STOP_BOUND_MS = 30_000;

/** How often the backup pools are checked. */
const POOL_CHECK_MS = 60_000;

/** Starts the status HTTP server of the config (none when `http.listen` is empty). */
export async function listenStatus(
  config: Config,
  status: () => StatusModel,
  metrics?: MetricsExtras,
): Promise<Server | undefined> {
  if (!config.http.listen) return undefined;
  const at = parseListen(config.http.listen);
  if (typeof at === "string") throw new BackupError("CONFIG_INVALID", at);
  const token = config.http.tokenFile
    ? (
        await readFile(config.http.tokenFile, "utf8").catch((err: Error) => {
          throw new BackupError("CONFIG_UNREADABLE", `http.token_file ${config.http.tokenFile}: ${err.message}`, {
            cause: err,
          });
        })
      ).trim()
    : undefined;
  if (config.http.tokenFile && !token)
    throw new BackupError("CONFIG_INVALID", `http.token_file ${config.http.tokenFile} is empty`);
  const app = createStatusApp({ status, ...(token ? { token } : {}), ...(metrics ? { metrics } : {}) });
  return new Promise((resolve, reject) => {
    const server = app.listen(at.port, at.host);
    server.once("listening", () => resolve(server));
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new BackupError("HTTP_LISTEN", `cannot serve status on ${config.http.listen}: ${err.code ?? err.message}`),
      ),
    );
  });
}

/** A record for a tick that found the previous pass still running. */
export function skippedRecord(source: Config["sources"][number], since: Date, now: Date, runId: string): RunRecord {
  const at = now.toISOString();
  const message = `the previous pass (running since ${since.toISOString()}) has not ended; this tick was skipped`;
  return {
    runId,
    source: source.name,
    startedAt: at,
    finishedAt: at,
    phases: {},
    goneOnSource: [],
    datasets: source.datasets.map((d) => ({
      source: source.name,
      dataset: d.name,
      target: targetFor(source.target, d.name),
      mode: "error" as const,
      result: "skipped" as const,
      steps: 0,
      bytes: 0,
      transferMs: 0,
      message,
    })),
  };
}

/** Runs the daemon until `deps.signal` aborts; resolves with the exit code. */
export async function serveCommand(config: Config, deps: CliDeps & { log: Logger }): Promise<number> {
  const { log } = deps;
  const services = await openServices(config, `bzman serve (pid ${process.pid})`, (l) => log.warn(l), { daemon: true });
  if (typeof services === "string") {
    log.error(services);
    return EXIT.USAGE;
  }
  const slots = new Slots(config.maxTransfers);
  const hooks = new PassHooks(config, log);
  const byName = new Map(config.sources.map((s) => [s.name, s]));
  let ticks = 0;
  const localPools = config.sources.map((s) => poolOf(s.target));
  const refreshLocal = async (): Promise<void> => {
    const checked = await checkPools(deps.local, "local", localPools, deps.now);
    state.setPools(checked);
    log.debug(
      { pools: checked.map((p) => `${p.pool} ${p.health} ${Math.round(p.capacity * 100)}%`) },
      "backup pools checked",
    );
  };
  const scheduler = new Scheduler(
    config.sources.map((s) => ({ name: s.name, cron: s.schedule })),
    {
      pass: async (name, signal) => {
        const source = byName.get(name)!;
        const runId = newRunId(deps.now());
        const slog = log.child({ source: name, runId });
        slog.info("pass starts");
        hooks.started(source);
        state.passStarts(name);
        const record = await passOnce(
          { source, instance: config.instance },
          deps,
          services,
          { snapshot: true, prune: true, runId },
          {
            signal,
            transferSlot: (sig) => slots.acquire(sig),
            afterPass: async (remote) => {
              state.setPools(
                await checkPools(
                  remote,
                  name,
                  source.datasets.map((d) => poolOf(d.name)),
                  deps.now,
                  signal,
                ),
              );
              state.setPools(await checkPools(deps.local, "local", [poolOf(source.target)], deps.now, signal));
            },
            onProgress: (p) =>
              state.progress(name, {
                sourceDataset: p.step.sourceDataset,
                bytes: p.bytes,
                ...(p.estimatedBytes !== undefined ? { estimatedBytes: p.estimatedBytes } : {}),
              }),
            onTransferEnd: (dataset) => state.datasetDone(name, dataset),
            onDataset: (d) => {
              state.datasetDone(name, d.dataset);
              const line = {
                dataset: d.dataset,
                result: d.result,
                mode: d.mode,
                bytes: d.bytes,
                ms: d.transferMs,
                ...(d.error ? { code: d.error.code } : {}),
                ...(d.warnings ? { warnings: d.warnings } : {}),
              };
              if (d.result === "ok" || d.result === "up-to-date") slog.info(line, datasetLine(d));
              else slog.error(line, datasetLine(d));
            },
          },
        );
        slog[runSucceeded(record) ? "info" : "error"](
          { phases: record.phases },
          runSucceeded(record) ? "pass succeeded" : "pass FAILED",
        );
        hooks.finished(source, record);
        slog.debug({ next: scheduler.nextRuns().get(name)?.toISOString() ?? null }, "next pass");
        notifier.evaluateSoon();
      },
      skipped: (name, since) => {
        const rec = skippedRecord(byName.get(name)!, since, deps.now(), `skip-${deps.now().getTime()}-${++ticks}`);
        log.warn({ source: name }, rec.datasets[0]?.message ?? "tick skipped");
        hooks.finished(byName.get(name)!, rec);
        services.store
          .appendRun(rec)
          .catch((err: Error) => log.error({ source: name }, `cannot record the skipped tick: ${err.message}`));
      },
    },
    deps.now,
  );
  const state = new DaemonState(config, services, deps.now, () => scheduler.nextRuns());
  const status = (): StatusModel => state.status();
  const notifier = new Notifier(config, services.store, log, deps.now, { status: () => status() });
  let server: Server | undefined;
  try {
    scheduler.start();
    if (config.mail?.report) {
      scheduler.addJob("report", config.mail.report, async () => {
        try {
          log.info(`report mailed: ${await notifier.sendReport(status())}`);
        } catch (err) {
          log.error(`cannot send the report: ${(err as Error).message}`);
        }
      });
    }
    // Proving the backups: restore drills per source and scrubs of the backup pools, one at a time each.
    for (const source of config.sources) {
      if (!source.drill) continue;
      let running = false;
      scheduler.addJob(`drill ${source.name}`, source.drill.schedule, async () => {
        if (running || deps.signal.aborted) return;
        running = true;
        try {
          const op = await drillOnce(source, deps, services);
          log[op.result === "ok" ? "info" : "error"]({ source: source.name, drill: op.details ?? {} }, op.message);
          notifier.evaluateSoon();
        } finally {
          running = false;
        }
      });
    }
    if (config.scrub) {
      let running = false;
      scheduler.addJob("scrub", config.scrub.schedule, async () => {
        if (running || deps.signal.aborted) return;
        running = true;
        try {
          for (const op of await scrubOnce(config, deps, services, {
            onStart: (pool) => log.info({ pool }, "scrub starts"),
          })) {
            log[op.result === "ok" ? "info" : "error"]({ pool: op.pool, scrub: op.details ?? {} }, op.message);
          }
          notifier.evaluateSoon();
        } finally {
          running = false;
        }
      });
    }
    server = await listenStatus(config, status, { counters: hooks.counters, build: buildInfo() });
    if (server) log.info({ listen: config.http.listen }, "status on http");
  } catch (err) {
    log.error((err as Error).message);
    await scheduler.shutdown(0);
    return EXIT.USAGE;
  }
  await refreshLocal().catch((err: Error) => log.warn(`pool check: ${err.message}`));
  notifier.evaluateSoon();
  const poolTimer = setInterval(
    () =>
      void refreshLocal()
        .then(() => notifier.evaluateSoon())
        .catch(() => undefined),
    POOL_CHECK_MS,
  );
  poolTimer.unref();
  const next = Object.fromEntries([...scheduler.nextRuns()].map(([n, d]) => [n, d?.toISOString() ?? null]));
  log.info({ sources: config.sources.length, maxTransfers: config.maxTransfers, next }, "serving");
  await new Promise<void>((resolve) =>
    deps.signal.aborted ? resolve() : deps.signal.addEventListener("abort", () => resolve(), { once: true }),
  );
  log.info("stopping: no new passes; running transfers are aborted and awaited");
  clearInterval(poolTimer);
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  const late = await scheduler.shutdown(STOP_BOUND_MS);
  await hooks.drain(5_000);
  // The last passes' evaluation, if it still waits, runs now: no pass goes unevaluated.
  await notifier.settle(10_000);
  notifier.close();
  await services.store.flush();
  services.store.close();
  if (late.length) log.error({ sources: late }, "passes still running at exit");
  else log.info("stopped cleanly");
  return late.length ? EXIT.FAILED : EXIT.OK;
}
