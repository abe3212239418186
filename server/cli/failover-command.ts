// `bzman promote SOURCE:DATASET` and `bzman failback SOURCE:DATASET`: failover to the backup host
// and back. Both hold the backup dataset's lock (no pass receives into it meanwhile), and both
// are recorded in the operations journal, which is also what pauses and resumes the pulls.

import type { Config } from "../config/schema.ts";
import { LIVE_CONTAINER, asideName, poolOf, targetFor } from "../core/naming.ts";
import {
  backupNameProblem,
  defaultLiveName,
  failbackRefusalAdvice,
  planFailback,
  type FailbackPlan,
} from "../core/restore.ts";
import { checkPromote, failback, promote } from "../engine/promote.ts";
import { recordedError, toBackupError } from "../errors.ts";
import { promotionKey } from "../state/journal.ts";
import { bytes, ms } from "./format.ts";
import { createProgress } from "./progress.ts";
import { confirm, type InteractiveDeps } from "./confirm.ts";
import { parseSpec } from "./dataset-spec.ts";
import { EXIT, exitWith, openServices, type Services, type OpenSource } from "./deps.ts";
import { recordOperation } from "./operations.ts";

/** Options of `bzman promote`. */
export interface PromoteOptions {
  as?: string;
  mountpoint?: string;
  dryRun?: boolean;
}

/** Options of `bzman failback`. */
export interface FailbackOptions {
  force?: boolean;
  yes?: boolean;
  dryRun?: boolean;
}

async function locked<T>(
  services: Services,
  target: string,
  deps: InteractiveDeps,
  f: () => Promise<T>,
): Promise<T | number> {
  const got = await services.locks.acquire(target);
  if (typeof got === "string") return exitWith(deps.stderr, `${got}; try again when it has finished\n`, EXIT.FAILED);
  try {
    return await f();
  } finally {
    await got();
  }
}

/** The dataset a promote or failback names, and the services; an exit code after a usage error. */
async function prelude(
  config: Config,
  spec: string,
  verb: "promote" | "failback",
  deps: InteractiveDeps,
): Promise<{ p: Exclude<ReturnType<typeof parseSpec>, string>; services: Services; subject: string } | number> {
  const p = parseSpec(config, spec);
  if (typeof p === "string" || p.snapshot)
    return exitWith(
      deps.stderr,
      `bzman ${verb}: ${typeof p === "string" ? p : `${verb} takes SOURCE:DATASET (no @SNAPSHOT: the newest backup snapshot is the one that counts)`}\n`,
      EXIT.USAGE,
    );
  const services = await openServices(config, `bzman ${verb}`, (l) => deps.stderr.write(`bzman: warning: ${l}\n`));
  if (typeof services === "string") return exitWith(deps.stderr, `bzman ${verb}: ${services}\n`, EXIT.USAGE);
  return { p, services, subject: `${p.source.name}:${p.dataset}` };
}

/** Runs `bzman promote`; resolves with the exit code. */
export async function promoteCommand(
  config: Config,
  spec: string,
  opts: PromoteOptions,
  deps: InteractiveDeps,
): Promise<number> {
  const pre = await prelude(config, spec, "promote", deps);
  if (typeof pre === "number") return pre;
  const { p, services, subject } = pre;
  const already = services.journal.promotions().get(promotionKey(p.source.name, p.dataset));
  if (already)
    return exitWith(
      deps.stderr,
      `bzman promote: ${subject} is already promoted (local:${already.live}, since ${already.at})\n`,
      EXIT.FAILED,
    );
  const target = targetFor(p.source.target, p.dataset);
  const pool = poolOf(target);
  const live = opts.as
    ? opts.as.includes("/")
      ? opts.as
      : `${pool}/${LIVE_CONTAINER}/${opts.as}`
    : defaultLiveName(target, p.source.name, p.dataset);
  const problem = backupNameProblem(
    live,
    pool,
    config.sources.map((s) => s.target),
  );
  if (problem) return exitWith(deps.stderr, `bzman promote: --as: ${problem}\n`, EXIT.USAGE);
  deps.stdout.write(`promote local:${target} (the backup of ${subject}) to the live dataset local:${live}\n`);
  if (opts.dryRun) {
    // The same checks as the real run: what it would refuse, the dry run refuses.
    try {
      await checkPromote(
        deps.local,
        { source: p.source.name, dataset: p.dataset, target, live, nowMs: deps.now().getTime() },
        deps.signal,
      );
    } catch (err) {
      const e = toBackupError(err);
      return exitWith(deps.stderr, `bzman promote: dry run: refused [${e.code}] ${e.message}\n`, EXIT.FAILED);
    }
    return exitWith(
      deps.stdout,
      `dry run: it would be renamed, made writable and mounted${opts.mountpoint ? ` at ${opts.mountpoint}` : ""}; pulls of ${subject} would pause until failback\n`,
      EXIT.OK,
    );
  }
  const startedAt = deps.now().toISOString();
  const base = { kind: "promote" as const, subject, source: p.source.name, dataset: p.dataset, startedAt };
  const out = await locked(services, target, deps, async () => {
    try {
      const promotion = await promote(
        deps.local,
        {
          source: p.source.name,
          dataset: p.dataset,
          target,
          live,
          ...(opts.mountpoint ? { mountpoint: opts.mountpoint } : {}),
          nowMs: deps.now().getTime(),
        },
        (pr) =>
          recordOperation(services, deps, {
            ...base,
            result: "ok",
            message: `renamed local:${target} to local:${live}; pulls of ${subject} paused`,
            promotion: pr,
            details: { snapshot: pr.snapshot.name, live },
          }),
        deps.signal,
      );
      const mp = (await deps.local.properties("mountpoint", [live], deps.signal)).get(live)?.mountpoint ?? "-";
      deps.stdout.write(
        `PROMOTED ${subject}: local:${live} is live and writable (mounted at ${mp}), from @${promotion.snapshot.name}\n` +
          `Pulls of ${subject} are paused. When the source is back: bzman failback ${subject}\n`,
      );
      return EXIT.OK;
    } catch (err) {
      const e = toBackupError(err);
      const renamed = services.journal.promotions().has(promotionKey(p.source.name, p.dataset));
      deps.stderr.write(
        `bzman promote: FAILED [${e.code}] ${e.message}${renamed ? `\nThe backup was already renamed to local:${live} (pulls are paused); finish by hand: zfs set readonly=off ${live}; zfs mount ${live}` : ""}\n`,
      );
      recordOperation(services, deps, {
        ...base,
        result: "failed",
        message: e.message,
        error: recordedError(e, deps.now()),
      });
      return EXIT.FAILED;
    }
  });
  return out;
}

/** What a failback dry run says it would do: the plan, in the words of the real run. */
function failbackDryRun(plan: FailbackPlan, subject: string, dataset: string, aside: string, force: boolean): string {
  switch (plan.kind) {
    case "incremental":
      return (
        `an incremental from @${plan.from.name} to a new snapshot of the live copy` +
        (plan.unchecked
          ? `; this source's zfs cannot tell whether ${dataset} was written after @${plan.from.name}: if it was, the failback ${force ? `renames it aside as ${aside} (kept) and sends a full stream instead` : "refuses (--force keeps it aside and sends in full)"}`
          : "")
      );
    case "full":
      return "a full stream of a new snapshot of the live copy (the source dataset does not exist)";
    case "full-aside":
      return `${dataset} on the source would be renamed aside as ${aside} (kept, not destroyed), then a full stream received in its place: ${plan.reason}`;
    case "refuse":
      return `refused: ${plan.reason}. ${failbackRefusalAdvice(subject, dataset, aside, plan.rollback)}`;
  }
}

/** Runs `bzman failback`; resolves with the exit code. */
export async function failbackCommand(
  config: Config,
  spec: string,
  opts: FailbackOptions,
  deps: InteractiveDeps,
): Promise<number> {
  const pre = await prelude(config, spec, "failback", deps);
  if (typeof pre === "number") return pre;
  const { p, services, subject } = pre;
  const promotion = services.journal.promotions().get(promotionKey(p.source.name, p.dataset));
  if (!promotion)
    return exitWith(deps.stderr, `bzman failback: ${subject} is not promoted; nothing to fail back\n`, EXIT.FAILED);
  deps.stdout.write(
    `fail back local:${promotion.live} to ${subject} (${p.source.restoreUser}@${p.source.host}, restore key), then return it to local:${promotion.target}\n`,
  );
  const startedAt = deps.now().toISOString();
  const base = { kind: "failback" as const, subject, source: p.source.name, dataset: p.dataset, startedAt };
  let open: OpenSource;
  try {
    open = await deps.connect(p.source, deps.signal, { restore: true });
  } catch (err) {
    const e = toBackupError(err);
    deps.stderr.write(`bzman failback: ${e.message}\n`);
    if (!opts.dryRun)
      recordOperation(services, deps, {
        ...base,
        result: "failed",
        message: e.message,
        error: recordedError(e, deps.now()),
      });
    return EXIT.FAILED;
  }
  const progress = createProgress(deps.stderr);
  let aside: string | undefined;
  try {
    if (opts.dryRun) {
      const [live, src] = await Promise.all([
        deps.local.list([promotion.live], { signal: deps.signal }),
        open.host.list([p.dataset], { signal: deps.signal }),
      ]);
      const l = live.listing.get(promotion.live);
      if (!l) return exitWith(deps.stderr, `bzman failback: local:${promotion.live} does not exist\n`, EXIT.FAILED);
      const s = src.listing.get(p.dataset);
      const written = s ? await open.host.writtenSinceSnapshot(p.dataset, deps.signal) : null;
      const plan = planFailback(l, s, opts.force ?? false, written);
      deps.stdout.write(
        `dry run: ${failbackDryRun(plan, subject, p.dataset, asideName(p.dataset, "failback", deps.now().getTime()), opts.force ?? false)}\n`,
      );
      return plan.kind === "refuse" ? EXIT.FAILED : EXIT.OK;
    }
    if (
      opts.force &&
      !(await confirm(
        deps,
        `With --force, ${subject} on the source is renamed aside (kept, not destroyed) if it has snapshots or writes the live copy lacks, and re-seeded from the live copy.`,
        p.dataset,
        opts.yes ?? false,
      ))
    ) {
      deps.stderr.write("bzman failback: not confirmed; nothing was changed\n");
      return EXIT.FAILED;
    }
    const t0 = deps.now().getTime();
    const out = await locked(services, promotion.target, deps, () =>
      failback(
        deps.local,
        open.host,
        { promotion, force: opts.force ?? false, snapshotPrefix: p.source.snapshotPrefix, nowMs: t0 },
        {
          signal: deps.signal,
          onProgress: (pr) => progress.update("failback", `${subject} <- local:${promotion.live}`, pr.bytes),
          onAside: (a) => (aside = a),
        },
      ),
    );
    progress.stop();
    if (typeof out === "number") return out;
    const took = deps.now().getTime() - t0;
    const message = `sent ${out.mode === "incremental" ? "an incremental" : "a full stream"} to @${out.snapshot.name} (${bytes(out.bytes)} in ${ms(took)}) to ${subject}; local:${promotion.target} is the backup again and pulls resume${out.aside ? `; the source dataset that was in the way is kept as ${out.aside}` : ""}${out.leftLive ? `; local:${out.leftLive} could not be renamed back and was copied, so it is now redundant (every snapshot is in the backup): zfs destroy -r ${out.leftLive} when you are sure` : ""}${out.notes.map((n) => `; ${n}`).join("")}`;
    deps.stdout.write(`FAILED BACK ${subject}: ${message}\n`);
    recordOperation(services, deps, {
      ...base,
      result: "ok",
      message,
      bytes: out.bytes,
      promotionEnded: true,
      details: {
        snapshot: out.snapshot.name,
        guid: out.snapshot.guid,
        mode: out.mode,
        ...(out.aside ? { aside: `${p.source.name}:${out.aside}` } : {}),
        ...(out.leftLive ? { leftLive: out.leftLive } : {}),
      },
    });
    return EXIT.OK;
  } catch (err) {
    progress.stop();
    const e = toBackupError(err);
    deps.stderr.write(
      `bzman failback: FAILED [${e.code}] ${e.message}\nThe promotion stays in force (pulls of ${subject} stay paused); run bzman failback again once the cause is fixed.\n`,
    );
    if (!opts.dryRun)
      recordOperation(services, deps, {
        ...base,
        result: "failed",
        message: e.message,
        error: recordedError(e, deps.now()),
        ...(aside ? { details: { aside: `${p.source.name}:${aside}` } } : {}),
      });
    return EXIT.FAILED;
  } finally {
    await open.close();
  }
}
