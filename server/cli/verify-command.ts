// Proving the backups: `bzman drill [SOURCE]` (a restore drill per source, see engine/drill.ts)
// and `bzman scrub` (a scrub of every backup pool). The daemon runs both on their schedules.
// Each result is an operation in the journal, which the status and the alerts read.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config, SourceConfig } from "../config/schema.ts";
import type { OperationRecord } from "../core/model.ts";
import { poolOf } from "../core/naming.ts";
import { runDrill } from "../engine/drill.ts";
import { scrubPool, scrubProblems } from "../engine/scrub.ts";
import { BackupError, recordedError, toBackupError } from "../errors.ts";
import { EXIT, exitWith, newRunId, openServices, type CliDeps, type Services, type OpenSource } from "./deps.ts";
import { recordOperation } from "./operations.ts";

/** One restore drill for `source`, recorded. Never throws. */
export async function drillOnce(
  source: SourceConfig,
  deps: CliDeps,
  services: Services,
  opts: { random?: number } = {},
): Promise<OperationRecord> {
  const startedAt = deps.now().toISOString();
  const base = { kind: "drill" as const, subject: source.name, source: source.name, startedAt };
  const mountpoint = mkdtempSync(join(tmpdir(), "bzman-drill-"));
  let open: OpenSource | undefined;
  try {
    open = await deps.connect(source, deps.signal);
    const previous = (guid: string): { files: number; bytes: number } | undefined => {
      const earlier = services.journal
        .operations("drill")
        .filter((o) => o.result === "ok" && o.details?.guid === guid)
        .at(-1);
      return earlier ? { files: Number(earlier.details!.files), bytes: Number(earlier.details!.bytes) } : undefined;
    };
    const out = await runDrill(
      deps.local,
      open.host,
      {
        source: source.name,
        targetRoot: source.target,
        roots: source.datasets.map((d) => d.name),
        recent: source.drill?.recent ?? 10,
        random: opts.random ?? Math.random(),
        nowMs: deps.now().getTime(),
        mountpoint,
        previous,
      },
      deps.signal,
    );
    const at = `${out.checked.target}@${out.checked.snapshot.name}`;
    const details = {
      dataset: out.checked.dataset,
      snapshot: out.checked.snapshot.name,
      guid: out.checked.snapshot.guid,
      files: out.measure.files,
      bytes: out.measure.bytes,
      sourceReferenced: out.measure.sourceReferenced,
      backupReferenced: out.measure.backupReferenced,
      unreadable: out.measure.unreadable.length,
    };
    const ok = out.problems.length === 0;
    const message = ok
      ? `restored ${at} as a clone: it mounted, ${out.measure.files} files (${out.measure.bytes} bytes) read back, referenced matches the source`
      : `the drill of ${at} FAILED: ${out.problems.join("; ")}`;
    return recordOperation(services, deps, {
      ...base,
      dataset: out.checked.dataset,
      result: ok ? "ok" : "failed",
      message,
      details,
      ...(ok ? {} : { error: recordedError(new BackupError("DRILL_FAILED", message), deps.now()) }),
    });
  } catch (err) {
    const e = toBackupError(err);
    const op = {
      ...base,
      result: "failed" as const,
      message: `the drill could not run: ${e.message}`,
      error: recordedError(e, deps.now()),
    };
    // A drill stopped on purpose (the daemon shutting down) is not an incident: not recorded, so
    // the status keeps showing the last drill that ran.
    if (deps.signal?.aborted)
      return {
        ...op,
        id: newRunId(deps.now()),
        finishedAt: deps.now().toISOString(),
        message: `the drill was stopped (${e.message})`,
      };
    return recordOperation(services, deps, op);
  } finally {
    await open?.close();
    rmSync(mountpoint, { recursive: true, force: true });
  }
}

/** Scrubs every backup pool of the config, one after another, recorded. Never throws. */
export async function scrubOnce(
  config: Config,
  deps: CliDeps,
  services: Services,
  opts: { pollMs?: number; onStart?: (pool: string) => void } = {},
): Promise<OperationRecord[]> {
  const out: OperationRecord[] = [];
  for (const pool of [...new Set(config.sources.map((s) => poolOf(s.target)))]) {
    const startedAt = deps.now().toISOString();
    const base = { kind: "scrub" as const, subject: `pool ${pool}`, pool, startedAt };
    opts.onStart?.(pool);
    try {
      const s = await scrubPool(deps.local, pool, { pollMs: opts.pollMs ?? 30_000, signal: deps.signal });
      const problems = scrubProblems(pool, s);
      const details = {
        state: s.state,
        errors: s.errors ?? -1,
        dataErrors: s.dataErrors,
        checksumErrors: s.checksumErrors,
      };
      out.push(
        recordOperation(
          services,
          deps,
          problems.length
            ? {
                ...base,
                result: "failed",
                message: problems.join("; "),
                details,
                error: recordedError(new BackupError("SCRUB_ERRORS", problems.join("; ")), deps.now()),
              }
            : { ...base, result: "ok", message: `the scrub of ${pool} finished with 0 errors`, details },
        ),
      );
    } catch (err) {
      const e = toBackupError(err);
      const op = {
        ...base,
        result: "failed" as const,
        message: `the scrub of ${pool} could not run: ${e.message}`,
        error: recordedError(e, deps.now()),
      };
      // Stopped on purpose: not an incident, not recorded (as for a drill).
      out.push(
        deps.signal?.aborted
          ? {
              ...op,
              id: newRunId(deps.now()),
              finishedAt: deps.now().toISOString(),
              message: `the scrub of ${pool} was stopped (${e.message})`,
            }
          : recordOperation(services, deps, op),
      );
    }
  }
  return out;
}

async function withServices(
  config: Config,
  what: string,
  deps: CliDeps,
  f: (s: Services) => Promise<OperationRecord[]>,
): Promise<number> {
  const services = await openServices(config, what, (l) => deps.stderr.write(`bzman: warning: ${l}\n`));
  if (typeof services === "string") return exitWith(deps.stderr, `${what}: ${services}\n`, EXIT.USAGE);
  const ops = await f(services);
  for (const o of ops) deps.stdout.write(`${o.result === "ok" ? "OK    " : "FAILED"} ${o.subject}: ${o.message}\n`);
  return ops.every((o) => o.result === "ok") ? EXIT.OK : EXIT.FAILED;
}

/** `bzman drill [SOURCE]`: a restore drill now, for one source or each. */
export async function drillCommand(config: Config, name: string | undefined, deps: CliDeps): Promise<number> {
  const sources = name ? config.sources.filter((s) => s.name === name) : config.sources;
  if (sources.length === 0)
    return exitWith(deps.stderr, `bzman drill: no source named "${name}" in the config\n`, EXIT.USAGE);
  return withServices(config, "bzman drill", deps, async (services) => {
    const out: OperationRecord[] = [];
    for (const s of sources) out.push(await drillOnce(s, deps, services));
    return out;
  });
}

/** `bzman scrub`: scrubs the backup pools now and waits for the result. */
export async function scrubCommand(config: Config, deps: CliDeps, opts: { pollMs?: number } = {}): Promise<number> {
  return withServices(config, "bzman scrub", deps, (services) =>
    scrubOnce(config, deps, services, { ...opts, onStart: (p) => deps.stderr.write(`scrubbing ${p} …\n`) }),
  );
}
