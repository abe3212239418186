// One scheduled pass of the daemon, and the record of a tick skipped because the previous pass
// still runs: what `bzman serve`'s scheduler calls for a source. Live progress goes to the
// daemon's state, each dataset's line and the pass's result to the log, and the alerts are
// evaluated soon after.

import type { Config } from "../config/schema.ts";
import type { RunRecord } from "../core/model.ts";
import { poolOf, targetFor } from "../core/naming.ts";
import { checkPools } from "../engine/pools.ts";
import { runSucceeded } from "../engine/run-source.ts";
import type { Slots } from "../engine/slots.ts";
import { newSourceMemo, type SourceMemo } from "../engine/unchanged-pass.ts";
import type { Logger } from "../log.ts";
import type { DaemonState } from "./daemon-state.ts";
import { type CliDeps, newRunId, type Services } from "./deps.ts";
import { datasetLine } from "./format.ts";
import type { Notifier } from "./notify.ts";
import type { PassHooks } from "./pass-hooks.ts";
import { passOnce } from "./pass.ts";

/** What the daemon's passes share: its services, limits, hooks, live state and alerts. */
export interface DaemonPassContext {
  config: Config;
  deps: CliDeps & { log: Logger };
  services: Services;
  slots: Slots;
  hooks: PassHooks;
  state: DaemonState;
  notifier: Notifier;
  /** When the source's next pass is due (for the log). */
  nextRun: (source: string) => Date | null | undefined;
  /** What each source's passes remember for `skip_unchanged`, by source name (in memory). */
  memos: Map<string, SourceMemo>;
}

/** The source's memo, made at its first pass. */
function memoOf(memos: Map<string, SourceMemo>, source: string): SourceMemo {
  const m = memos.get(source) ?? newSourceMemo();
  memos.set(source, m);
  return m;
}

/** Runs one scheduled pass of `source` and records it; never throws for a failed pass. */
export async function daemonPass(
  ctx: DaemonPassContext,
  source: Config["sources"][number],
  signal: AbortSignal,
): Promise<void> {
  const { config, deps, services, state } = ctx;
  const name = source.name;
  const runId = newRunId(deps.now());
  const slog = deps.log.child({ source: name, runId });
  slog.info("pass starts");
  ctx.hooks.started(source);
  state.passStarts(name);
  const record = await passOnce(
    { source, instance: config.instance },
    deps,
    services,
    { snapshot: true, prune: true, runId },
    {
      signal,
      memo: memoOf(ctx.memos, name),
      transferSlot: (sig) => ctx.slots.acquire(sig),
      afterPass: async (remote) => {
        const pools = source.datasets.map((d) => poolOf(d.name));
        state.setPools(await checkPools(remote, name, pools, deps.now, signal));
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
  const ok = runSucceeded(record);
  slog[ok ? "info" : "error"]({ phases: record.phases }, ok ? "pass succeeded" : "pass FAILED");
  ctx.hooks.finished(source, record);
  slog.debug({ next: ctx.nextRun(name)?.toISOString() ?? null }, "next pass");
  ctx.notifier.evaluateSoon();
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
