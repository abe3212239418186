// One recorded pass over one source, as `bzman run` and the daemon make it: the connection
// opened (and every reconnect closed), the promoted datasets left alone, the record appended to
// the history. What a pass does is engine/run-source.ts; how it is shown is the caller's.

import type { RunRecord } from "../core/model.ts";
import { runSource, type PassDeps } from "../engine/run-source.ts";
import type { Journal } from "../state/journal.ts";
import { newRunId, type CliDeps, type OpenSource, type Services } from "./deps.ts";
import { jobFor } from "./job.ts";
import type { Selection } from "./select.ts";

/** Runs `fn` with a pass's dependencies for one source, closing the connection afterwards. */
export async function withSource<T>(
  sel: Selection,
  deps: CliDeps,
  extra: Partial<PassDeps>,
  fn: (p: PassDeps) => Promise<T>,
): Promise<T> {
  // A retry within the pass may connect again: every connection opened is closed at the end.
  const opened: OpenSource[] = [];
  const signal = extra.signal ?? deps.signal;
  const pass: PassDeps = {
    connect: async () => {
      const o = await deps.connect(sel.source, signal);
      opened.push(o);
      return o.host;
    },
    local: deps.local,
    now: deps.now,
    signal,
    ...extra,
  };
  try {
    return await fn(pass);
  } finally {
    await Promise.all(opened.map((o) => o.close()));
  }
}

/** The source datasets of `source` whose pulls are paused (promoted), with the reason. */
export function pausedDatasets(journal: Journal, source: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of journal.promotions().values()) {
    if (p.source === source)
      out.set(
        p.dataset,
        `promoted to local:${p.live} at ${p.at}; pulls resume after bzman failback ${source}:${p.dataset}`,
      );
  }
  return out;
}

/** One whole pass over one source (snapshot, pull, prune as `opts` say), recorded in the history. */
export async function passOnce(
  sel: Selection,
  deps: CliDeps,
  services: Services,
  opts: { snapshot: boolean; prune: boolean; runId?: string },
  extra: Partial<PassDeps> = {},
): Promise<RunRecord> {
  const job = { ...jobFor(sel, deps.now, opts), paused: pausedDatasets(services.journal, sel.source.name) };
  const record = await withSource(
    sel,
    deps,
    {
      lock: (t) => services.locks.acquire(t),
      pausedNow: () => pausedDatasets(services.journal, sel.source.name),
      ...extra,
    },
    (pass) => runSource(job, pass, opts.runId ?? newRunId(deps.now())),
  );
  await services.store.appendRun(record);
  return record;
}
