// Whether a cron expression is one the scheduler can run: asked of node-schedule itself (the
// parser `bzman serve` uses), so a config that passes `check` never fails at serve's start.

import schedule from "node-schedule";

/**
 * Null when node-schedule accepts `expr` and it fires at least once; otherwise why not. The
 * trial job is cancelled at once: nothing stays scheduled.
 */
export function cronProblem(expr: string): string | null {
  // new Job + schedule() is what scheduleJob does; unlike scheduleJob, the trial job is also
  // taken out of node-schedule's registry when the expression is refused.
  const job = new schedule.Job(() => undefined);
  let ok: boolean;
  try {
    ok = job.schedule(expr);
  } catch (err) {
    return `not a schedule node-schedule accepts (${(err as Error).message})`;
  } finally {
    job.cancel();
    delete schedule.scheduledJobs[job.name];
  }
  if (ok) return null;
  return 'not a cron expression that ever fires: [second] minute (0-59) hour (0-23) day of month (1-31) month (1-12) day of week (0-7), e.g. "*/10 * * * *"';
}
