// The daemon's jobs beside the passes: the nightly report, restore drills per source and scrubs
// of the backup pools. A drill or scrub that is still running when its next time comes is not
// started again.

import type { Config } from "../config/schema.ts";
import type { StatusModel } from "../core/status.ts";
import type { Logger } from "../log.ts";
import type { Scheduler } from "../schedule/scheduler.ts";
import type { CliDeps, Services } from "./deps.ts";
import type { Notifier } from "./notify.ts";
import { drillOnce, scrubOnce } from "./verify-command.ts";

/** What the jobs need of the daemon. */
export interface DaemonJobsContext {
  config: Config;
  deps: CliDeps & { log: Logger };
  services: Services;
  notifier: Notifier;
  status: () => StatusModel;
}

/** `job` run on `cron`, never twice at once and not once the daemon stops. */
function exclusiveJob(scheduler: Scheduler, name: string, cron: string, signal: AbortSignal, job: () => Promise<void>) {
  let running = false;
  scheduler.addJob(name, cron, async () => {
    if (running || signal.aborted) return;
    running = true;
    try {
      await job();
    } finally {
      running = false;
    }
  });
}

/** Adds the report, drill and scrub jobs the config asks for to `scheduler`. */
export function addDaemonJobs(scheduler: Scheduler, ctx: DaemonJobsContext): void {
  const { config, deps, services, notifier } = ctx;
  const { log } = deps;
  if (config.mail?.report) {
    scheduler.addJob("report", config.mail.report, async () => {
      try {
        log.info(`report mailed: ${await notifier.sendReport(ctx.status())}`);
      } catch (err) {
        log.error(`cannot send the report: ${(err as Error).message}`);
      }
    });
  }
  for (const source of config.sources) {
    if (!source.drill) continue;
    exclusiveJob(scheduler, `drill ${source.name}`, source.drill.schedule, deps.signal, async () => {
      const op = await drillOnce(source, deps, services);
      log[op.result === "ok" ? "info" : "error"]({ source: source.name, drill: op.details ?? {} }, op.message);
      notifier.evaluateSoon();
    });
  }
  if (config.scrub) {
    exclusiveJob(scheduler, "scrub", config.scrub.schedule, deps.signal, async () => {
      const ops = await scrubOnce(config, deps, services, { onStart: (pool) => log.info({ pool }, "scrub starts") });
      for (const op of ops)
        log[op.result === "ok" ? "info" : "error"]({ pool: op.pool, scrub: op.details ?? {} }, op.message);
      notifier.evaluateSoon();
    });
  }
}
