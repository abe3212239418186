// What the daemon keeps between status builds, so that a build after one pass redoes only the
// datasets that pass touched: each dataset's status apart from the clock (its "part"), reused
// while its inputs are the same objects, and that part's JSON in two pieces around the fields
// the clock moves (`lagSeconds`, `maxLagSeconds`, `fresh`). `statusJson` writes a model from
// those pieces, byte for byte what JSON.stringify writes. Pure: no I/O, no timers.

import type { Promotion } from "./model.ts";
import type { DatasetStatus, LiveTransfer, StatusModel, StatusRow, StatusSource } from "./status.ts";

/** What one dataset's part was built from; a part is reused only while every one is the same. */
export interface PartInputs {
  source: StatusSource;
  row: StatusRow | undefined;
  good: StatusRow | undefined;
  promo: Promotion | undefined;
  progress: LiveTransfer | null;
  nextRun: string | null;
}

/** One dataset's status apart from the clock. */
export interface DatasetPart {
  inputs: PartInputs;
  /** The dataset's status with `lagSeconds: null` and `fresh: false`; the clock's fields go in per build. */
  base: DatasetStatus;
  /** When the pass of the newest success started (ms), null: never backed up. */
  goodMs: number | null;
  /** Promoted or excluded: none of its state is a problem. */
  quiet: boolean;
  /** The last pass's failure or conflict as a problem line, if it had one. */
  failure: string | null;
  /** The JSON of `base` before `"lagSeconds"` (without its closing brace) and after `fresh` (from the comma), made at the first use. */
  json?: { head: string; tail: string };
}

const sameInputs = (a: PartInputs, b: PartInputs): boolean =>
  a.source === b.source &&
  a.row === b.row &&
  a.good === b.good &&
  a.promo === b.promo &&
  a.progress === b.progress &&
  a.nextRun === b.nextRun;

/** The parts each dataset of a memoized model came from, in its order (a model is never changed once built). */
const partsOf = new WeakMap<StatusModel, DatasetPart[]>();

/**
 * The parts of the last build, by dataset key. One per daemon; {@link buildStatus} with a memo
 * reuses a part whose inputs are the same objects and forgets the datasets a build did not show.
 */
export class StatusMemo {
  private parts = new Map<string, DatasetPart>();
  private next = new Map<string, DatasetPart>();
  /** Parts built anew by the current build (for tests and the benchmark). */
  built = 0;

  /** Starts a build. */
  begin(): void {
    this.next = new Map();
    this.built = 0;
  }

  /** The part of `key` for `inputs`: the kept one when its inputs are the same, else `make()`'s. */
  part(key: string, inputs: PartInputs, make: () => DatasetPart): DatasetPart {
    const kept = this.parts.get(key);
    const part = kept && sameInputs(kept.inputs, inputs) ? kept : make();
    if (part !== kept) this.built++;
    this.next.set(key, part);
    return part;
  }

  /** Ends a build: what it did not ask for is forgotten. */
  end(): void {
    this.parts = this.next;
    this.next = new Map();
  }
}

/** The dataset status of `part` at the clock's fields (the fields in `base`'s order). */
export function withClock(part: DatasetPart, lagSeconds: number | null, fresh: boolean): DatasetStatus {
  const b = part.base;
  return {
    source: b.source,
    dataset: b.dataset,
    target: b.target,
    newest: b.newest,
    lagSeconds,
    maxLagSeconds: b.maxLagSeconds,
    fresh,
    lastResult: b.lastResult,
    lastRunAt: b.lastRunAt,
    lastError: b.lastError,
    lastConflict: b.lastConflict,
    lastMessage: b.lastMessage,
    lastPhase: b.lastPhase,
    lastBytes: b.lastBytes,
    lastDurationMs: b.lastDurationMs,
    progress: b.progress,
    nextRun: b.nextRun,
    promoted: b.promoted,
    lastKeptAside: b.lastKeptAside,
    resumeToken: b.resumeToken,
    excluded: b.excluded,
  };
}

/** Remembers that the datasets of `m` came from `parts`, in order, for {@link statusJson}. */
export function rememberParts(m: StatusModel, parts: DatasetPart[]): void {
  partsOf.set(m, parts);
}

function pieces(part: DatasetPart): { head: string; tail: string } {
  if (part.json) return part.json;
  const { source, dataset, target, newest, lagSeconds: _l, maxLagSeconds: _m, fresh: _f, ...rest } = part.base;
  const head = JSON.stringify({ source, dataset, target, newest });
  const tail = JSON.stringify(rest);
  part.json = { head: head.slice(0, -1), tail: tail === "{}" ? "}" : `,${tail.slice(1)}` };
  return part.json;
}

/** A number as JSON writes it (a finite number as String writes it, anything else null). */
const num = (n: number | null): string => (n !== null && Number.isFinite(n) ? String(n) : "null");

function datasetJson(d: DatasetStatus, part: DatasetPart | undefined): string {
  if (!part || part.base.dataset !== d.dataset || part.base.source !== d.source) return JSON.stringify(d);
  const { head, tail } = pieces(part);
  return `${head},"lagSeconds":${num(d.lagSeconds)},"maxLagSeconds":${num(d.maxLagSeconds)},"fresh":${d.fresh}${tail}`;
}

/** What `JSON.stringify(m)` returns, from the datasets' kept pieces where a memoized build made them. */
export function statusJson(m: StatusModel): string {
  const parts = partsOf.get(m);
  const out: string[] = [];
  for (const [k, v] of Object.entries(m)) {
    if (k === "datasets") {
      let list = "";
      for (let i = 0; i < m.datasets.length; i++) {
        const d = datasetJson(m.datasets[i]!, parts?.[i]);
        list += i === 0 ? d : `,${d}`;
      }
      out.push(`"datasets":[${list}]`);
    } else if (v !== undefined) out.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  }
  return `{${out.join(",")}}`;
}
