// `bzman serve`: the daemon. One scheduled job per source; each pass snapshots, pulls and prunes,
// under the per-dataset locks and the global transfer limit, and is recorded in the history.
// Stops cleanly when `deps.signal` aborts (SIGTERM/SIGINT): no new passes, running transfers
// aborted and awaited, records written.

import type { Config } from "../config/schema.ts";
import type { RunRecord } from "../core/model.ts";
import { Slots } from "../engine/slots.ts";
import { runSucceeded } from "../engine/run-source.ts";
import type { Logger } from "../log.ts";
import { Scheduler } from "../schedule/scheduler.ts";
import { datasetLine } from "./format.ts";
import { EXIT, openServices, passOnce, type CliDeps } from "./run-command.ts";

/** How long running passes get to end after a stop request. */
export const STOP_BOUND_MS = 30_000;

/** A record for a tick that found the previous pass still running. */
export function skippedRecord(source: Config["sources"][number], since: Date, now: Date, runId: string): RunRecord {
  const at = now.toISOString();
  const message = `the previous pass (running since ${since.toISOString()}) has not ended; this tick was skipped`;
  return {
    runId, source: source.name, startedAt: at, finishedAt: at, phases: {}, goneOnSource: [],
    datasets: source.datasets.map((d) => ({ source: source.name, dataset: d.name, target: `${source.target}/${d.name}`, mode: "error" as const, result: "skipped" as const, steps: 0, bytes: 0, transferMs: 0, message })),
  };
}

/** Runs the daemon until `deps.signal` aborts; resolves with the exit code. */
export async function serveCommand(config: Config, deps: CliDeps & { log: Logger }): Promise<number> {
  const { log } = deps;
  const services = await openServices(config, `bzman serve (pid ${process.pid})`, (l) => log.warn(l));
  if (typeof services === "string") {
    log.error(services);
    return EXIT.USAGE;
  }
  const slots = new Slots(config.maxTransfers);
  const byName = new Map(config.sources.map((s) => [s.name, s]));
  let ticks = 0;
  const scheduler = new Scheduler(config.sources.map((s) => ({ name: s.name, cron: s.schedule })), {
    pass: async (name, signal) => {
      const source = byName.get(name)!;
      const slog = log.child({ source: name });
      slog.info("pass starts");
      const record = await passOnce({ source }, deps, services, { snapshot: true, prune: true }, {
        signal,
        transferSlot: (sig) => slots.acquire(sig),
        onDataset: (d) => {
          const line = { dataset: d.dataset, result: d.result, mode: d.mode, bytes: d.bytes, ms: d.transferMs, ...(d.error ? { code: d.error.code } : {}), ...(d.warnings ? { warnings: d.warnings } : {}) };
          if (d.result === "ok" || d.result === "up-to-date") slog.info(line, datasetLine(d));
          else slog.error(line, datasetLine(d));
        },
      });
      slog[runSucceeded(record) ? "info" : "error"]({ runId: record.runId, phases: record.phases }, runSucceeded(record) ? "pass succeeded" : "pass FAILED");
    },
    skipped: (name, since) => {
      const rec = skippedRecord(byName.get(name)!, since, deps.now(), `skip-${deps.now().getTime()}-${++ticks}`);
      log.warn({ source: name }, rec.datasets[0]?.message ?? "tick skipped");
      void services.store.appendRun(rec);
    },
  });
  try {
    scheduler.start();
  } catch (err) {
    log.error((err as Error).message);
    return EXIT.USAGE;
  }
  const next = Object.fromEntries([...scheduler.nextRuns()].map(([n, d]) => [n, d?.toISOString() ?? null]));
  log.info({ sources: config.sources.length, maxTransfers: config.maxTransfers, next }, "serving");
  await new Promise<void>((resolve) => (deps.signal.aborted ? resolve() : deps.signal.addEventListener("abort", () => resolve(), { once: true })));
  log.info("stopping: no new passes; running transfers are aborted and awaited");
  const late = await scheduler.shutdown(STOP_BOUND_MS);
  await services.store.flush();
  if (late.length) log.error({ sources: late }, "passes still running at exit");
  else log.info("stopped cleanly");
  return late.length ? EXIT.FAILED : EXIT.OK;
}
