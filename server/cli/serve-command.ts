// `bzman serve`: the daemon. One scheduled job per source; each pass snapshots, pulls and prunes,
// under the per-dataset locks and the global transfer limit, and is recorded in the history.
// Stops cleanly when `deps.signal` aborts (SIGTERM/SIGINT): no new passes, running transfers
// aborted and awaited, records written.

import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { Config } from "../config/schema.ts";
import { poolOf, targetFor } from "../core/naming.ts";
import { buildStatus, type LiveTransfer, type PoolStatus, type StatusModel } from "../core/status.ts";
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
import { Notifier } from "./notify.ts";
import { PassHooks } from "./pass-hooks.ts";
import { drillOnce, scrubOnce } from "./verify-command.ts";
import { EXIT, newRunId, openServices, passOnce, type CliDeps } from "./run-command.ts";
import { BackupError } from "../errors.ts";

/** How long running passes get to end after a stop request. */
export const STOP_BOUND_MS = 30_000;

/** How often the backup pools are checked. */
const POOL_CHECK_MS = 60_000;

/** Starts the status HTTP server of the config (none when `http.listen` is empty). */
export async function listenStatus(config: Config, status: () => StatusModel, metrics?: MetricsExtras): Promise<Server | undefined> {
  if (!config.http.listen) return undefined;
  const at = parseListen(config.http.listen);
  if (typeof at === "string") throw new BackupError("CONFIG_INVALID", at);
  const token = config.http.tokenFile ? (await readFile(config.http.tokenFile, "utf8").catch((err: Error) => {
    throw new BackupError("CONFIG_UNREADABLE", `http.token_file ${config.http.tokenFile}: ${err.message}`, { cause: err });
  })).trim() : undefined;
  if (config.http.tokenFile && !token) throw new BackupError("CONFIG_INVALID", `http.token_file ${config.http.tokenFile} is empty`);
  const app = createStatusApp({ status, ...(token ? { token } : {}), ...(metrics ? { metrics } : {}) });
  return new Promise((resolve, reject) => {
    const server = app.listen(at.port, at.host);
    server.once("listening", () => resolve(server));
    server.once("error", (err: NodeJS.ErrnoException) => reject(new BackupError("HTTP_LISTEN", `cannot serve status on ${config.http.listen}: ${err.code ?? err.message}`)));
  });
}

/** A record for a tick that found the previous pass still running. */
export function skippedRecord(source: Config["sources"][number], since: Date, now: Date, runId: string): RunRecord {
  const at = now.toISOString();
  const message = `the previous pass (running since ${since.toISOString()}) has not ended; this tick was skipped`;
  return {
    runId, source: source.name, startedAt: at, finishedAt: at, phases: {}, goneOnSource: [],
    datasets: source.datasets.map((d) => ({ source: source.name, dataset: d.name, target: targetFor(source.target, d.name), mode: "error" as const, result: "skipped" as const, steps: 0, bytes: 0, transferMs: 0, message })),
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
  const live = new Map<string, LiveTransfer>();
  const pools = new Map<string, PoolStatus>();
  const setPools = (list: PoolStatus[]): void => list.forEach((p) => pools.set(`${p.host}\u0000${p.pool}`, p));
  const localPools = config.sources.map((s) => poolOf(s.target));
  const refreshLocal = async (): Promise<void> => setPools(await checkPools(deps.local, "local", localPools, deps.now));
  const scheduler = new Scheduler(config.sources.map((s) => ({ name: s.name, cron: s.schedule })), {
    pass: async (name, signal) => {
      const source = byName.get(name)!;
      const runId = newRunId(deps.now());
      const slog = log.child({ source: name, runId });
      slog.info("pass starts");
      hooks.started(source);
      const started = new Map<string, number>();
      const record = await passOnce({ source, instance: config.instance }, deps, services, { snapshot: true, prune: true, runId }, {
        signal,
        transferSlot: (sig) => slots.acquire(sig),
        afterPass: async (remote) => {
          setPools(await checkPools(remote, name, source.datasets.map((d) => poolOf(d.name)), deps.now, signal));
          setPools(await checkPools(deps.local, "local", [poolOf(source.target)], deps.now, signal));
        },
        onProgress: (p) => {
          const k = `${name}\u0000${p.step.sourceDataset}`;
          const t0 = started.get(k) ?? (started.set(k, deps.now().getTime()), deps.now().getTime());
          const ms = Math.max(1, deps.now().getTime() - t0);
          live.set(k, { source: name, dataset: p.step.sourceDataset, bytes: p.bytes, since: new Date(t0).toISOString(), bytesPerSecond: Math.round((p.bytes * 1000) / ms), ...(p.estimatedBytes !== undefined ? { estimatedBytes: p.estimatedBytes } : {}) });
        },
        onDataset: (d) => {
          live.delete(`${name}\u0000${d.dataset}`);
          const line = { dataset: d.dataset, result: d.result, mode: d.mode, bytes: d.bytes, ms: d.transferMs, ...(d.error ? { code: d.error.code } : {}), ...(d.warnings ? { warnings: d.warnings } : {}) };
          if (d.result === "ok" || d.result === "up-to-date") slog.info(line, datasetLine(d));
          else slog.error(line, datasetLine(d));
        },
      });
      slog[runSucceeded(record) ? "info" : "error"]({ phases: record.phases }, runSucceeded(record) ? "pass succeeded" : "pass FAILED");
      hooks.finished(source, record);
      void notifier.evaluate(status());
    },
    skipped: (name, since) => {
      const rec = skippedRecord(byName.get(name)!, since, deps.now(), `skip-${deps.now().getTime()}-${++ticks}`);
      log.warn({ source: name }, rec.datasets[0]?.message ?? "tick skipped");
      hooks.finished(byName.get(name)!, rec);
      services.store.appendRun(rec).catch((err: Error) => log.error({ source: name }, `cannot record the skipped tick: ${err.message}`));
    },
  }, deps.now);
  const status = (): StatusModel => buildStatus({
    sources: config.sources, rows: services.store.statusRows(), promotions: [...services.journal.promotions().values()], operations: services.journal.operations(), pools: [...pools.values()], live: [...live.values()],
    nextRuns: new Map([...scheduler.nextRuns()].map(([n, d]) => [n, d?.toISOString() ?? null])), now: deps.now().getTime(), capacityLimit: config.capacityLimit,
  });
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
          void notifier.evaluate(status());
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
          for (const op of await scrubOnce(config, deps, services, { onStart: (pool) => log.info({ pool }, "scrub starts") })) {
            log[op.result === "ok" ? "info" : "error"]({ pool: op.pool, scrub: op.details ?? {} }, op.message);
          }
          void notifier.evaluate(status());
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
  void notifier.evaluate(status());
  const poolTimer = setInterval(() => void refreshLocal().then(() => notifier.evaluate(status())).catch(() => undefined), POOL_CHECK_MS);
  poolTimer.unref();
  const next = Object.fromEntries([...scheduler.nextRuns()].map(([n, d]) => [n, d?.toISOString() ?? null]));
  log.info({ sources: config.sources.length, maxTransfers: config.maxTransfers, next }, "serving");
  await new Promise<void>((resolve) => (deps.signal.aborted ? resolve() : deps.signal.addEventListener("abort", () => resolve(), { once: true })));
  log.info("stopping: no new passes; running transfers are aborted and awaited");
  clearInterval(poolTimer);
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  const late = await scheduler.shutdown(STOP_BOUND_MS);
  await hooks.drain(5_000);
  notifier.close();
  await services.store.flush();
  services.store.close();
  if (late.length) log.error({ sources: late }, "passes still running at exit");
  else log.info("stopped cleanly");
  return late.length ? EXIT.FAILED : EXIT.OK;
}
