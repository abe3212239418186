// `bzman serve`: the daemon. One scheduled job per source; each pass snapshots, pulls and prunes,
// under the per-dataset locks and the global transfer limit, and is recorded in the history.
// Stops cleanly when `deps.signal` aborts (SIGTERM/SIGINT): no new passes, running transfers
// aborted and awaited, records written. What it knows while running is cli/daemon-state.ts; a
// pass is cli/daemon-pass.ts, the report, drills and scrubs cli/daemon-jobs.ts.

import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { Config } from "../config/schema.ts";
import { poolOf } from "../core/naming.ts";
import type { StatusModel } from "../core/status.ts";
import { checkPools } from "../engine/pools.ts";
import { createStatusApp, parseListen } from "../http/status-app.ts";
import type { MetricsExtras } from "../http/metrics.ts";
import { Slots } from "../engine/slots.ts";
import type { Logger } from "../log.ts";
import { Scheduler } from "../schedule/scheduler.ts";
import { buildInfo } from "./build-info.ts";
import { DaemonState } from "./daemon-state.ts";
import { Notifier } from "./notify.ts";
import { PassHooks } from "./pass-hooks.ts";
import { addDaemonJobs } from "./daemon-jobs.ts";
import { type DaemonPassContext, daemonPass, skippedRecord } from "./daemon-pass.ts";
import { BackupError } from "../errors.ts";
import { EXIT, openServices, type CliDeps } from "./deps.ts";

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
  // The scheduler's handlers reach the daemon's state through `ctx`, made right after it.
  let ctx: DaemonPassContext | undefined;
  const scheduler = new Scheduler(
    config.sources.map((s) => ({ name: s.name, cron: s.schedule })),
    {
      pass: (name, signal) => daemonPass(ctx!, byName.get(name)!, signal),
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
  ctx = {
    config,
    deps,
    services,
    slots,
    hooks,
    state,
    notifier,
    nextRun: (n) => scheduler.nextRuns().get(n),
    memos: new Map(),
  };
  let server: Server | undefined;
  try {
    scheduler.start();
    addDaemonJobs(scheduler, { config, deps, services, notifier, status });
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
