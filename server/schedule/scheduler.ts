// The daemon's clock: one node-schedule job per source. A source's pass never overlaps itself
// (the tick is skipped and reported), passes of different sources run independently, and stop()
// cancels the jobs, aborts running passes and waits for them. Calls injected callbacks only.

import schedule from "node-schedule";
import { BackupError } from "../errors.ts";

/** One scheduled source. */
export interface ScheduleEntry {
  name: string;
  cron: string;
}

/** What the scheduler calls. */
export interface SchedulerCallbacks {
  /** Runs one pass of `name`; must honour `signal`. */
  pass(name: string, signal: AbortSignal): Promise<void>;
  /** A tick found the previous pass of `name` still running. */
  skipped(name: string, runningSince: Date): void;
}

function invalidSchedule(cron: string, name: string): BackupError {
  return new BackupError("CONFIG_INVALID", `schedule "${cron}" of ${name} is not a valid cron expression`);
}

/** Schedules passes; see the module header. */
export class Scheduler {
  private readonly jobs = new Map<string, schedule.Job>();
  private readonly active = new Map<string, { since: Date; done: Promise<void> }>();
  private readonly stop = new AbortController();

  constructor(
    private readonly entries: ScheduleEntry[],
    private readonly cb: SchedulerCallbacks,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Creates the jobs; throws when a cron expression is not understood. */
  start(): void {
    for (const e of this.entries) {
      const job = schedule.scheduleJob(e.cron, () => this.fire(e.name));
      if (!job) throw invalidSchedule(e.cron, e.name);
      this.jobs.set(e.name, job);
    }
  }

  /** Adds a job outside the per-source passes (the nightly report); cancelled by shutdown(). */
  addJob(name: string, cron: string, run: () => Promise<void>): void {
    const job = schedule.scheduleJob(cron, () => void run().catch(() => undefined));
    if (!job) throw invalidSchedule(cron, name);
    this.jobs.set(`job:${name}`, job);
  }

  /** Starts a pass of `name` now unless one is running (then the tick is skipped). */
  fire(name: string): void {
    if (this.stop.signal.aborted) return;
    const cur = this.active.get(name);
    if (cur) {
      this.cb.skipped(name, cur.since);
      return;
    }
    const done = this.cb
      .pass(name, this.stop.signal)
      .catch(() => undefined)
      .finally(() => this.active.delete(name));
    this.active.set(name, { since: this.now(), done });
  }

  /** Next scheduled time per source (null when none). */
  nextRuns(): Map<string, Date | null> {
    return new Map(
      [...this.jobs]
        .filter(([n]) => !n.startsWith("job:"))
        .map(([n, j]) => [n, j.nextInvocation() ? new Date(j.nextInvocation()!.getTime()) : null]),
    );
  }

  /** Names of sources with a pass running, and since when. */
  running(): Map<string, Date> {
    return new Map([...this.active].map(([n, a]) => [n, a.since]));
  }

  /**
   * Cancels every job, aborts running passes and waits for them for at most `boundMs`.
   * Resolves with the names of passes that had not ended in time.
   */
  async shutdown(boundMs: number): Promise<string[]> {
    for (const j of this.jobs.values()) j.cancel();
    this.jobs.clear();
    this.stop.abort();
    const pending = [...this.active];
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pending.map(([, a]) => a.done)),
      new Promise((r) => (timer = setTimeout(r, boundMs))),
    ]);
    clearTimeout(timer);
    return [...this.active.keys()];
  }
}
