// The operations journal: one JSON line per restore, clone, cleanup, promotion, failback, drill
// and scrub, appended (O_APPEND) by whichever bzman process did it, so the daemon and a command
// run by hand share it without overwriting each other. The promotions in force, which pause
// pulls, are folded from it. Lines that cannot be read (a torn write) are skipped and counted.

import { appendFileSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { OperationKind, OperationRecord, Promotion } from "../core/model.ts";

/** What the journal holds, folded. */
export interface JournalView {
  operations: OperationRecord[];
  /** Promotions in force, keyed "source:dataset". */
  promotions: Map<string, Promotion>;
  /** Lines that were not a record. */
  unreadable: number;
}

/** The key of a promotion: "source:dataset". */
export function promotionKey(source: string, dataset: string): string {
  return `${source}:${dataset}`;
}

/** Folds journal lines into records and the promotions in force. Pure. */
export function foldJournal(text: string): JournalView {
  const operations: OperationRecord[] = [];
  const promotions = new Map<string, Promotion>();
  let unreadable = 0;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const op = tryParseOperation(line);
    if (!op) {
      unreadable++;
      continue;
    }
    operations.push(op);
    if (op.promotion) promotions.set(promotionKey(op.promotion.source, op.promotion.dataset), op.promotion);
    if (op.promotionEnded && op.source && op.dataset) promotions.delete(promotionKey(op.source, op.dataset));
  }
  return { operations, promotions, unreadable };
}

/** The journal file next to the state file. */
export class Journal {
  private cache: { key: string; view: JournalView } | undefined;

  constructor(readonly path: string) {}

  /** The journal of the state file at `statePath` (operations.jsonl in the same directory). */
  static besideState(statePath: string): Journal {
    return new Journal(join(dirname(statePath), "operations.jsonl"));
  }

  /** Appends one record as one line (a single write with O_APPEND: never interleaved). */
  append(op: OperationRecord): void {
    mkdirSync(dirname(this.path), { recursive: true });
    appendFileSync(this.path, `${JSON.stringify(op)}\n`, { mode: 0o640 });
  }

  /** The journal as it is on disk now (re-read only when the file changed: the same object until then). */
  view(): JournalView {
    let key: string;
    try {
      const st = statSync(this.path);
      key = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      // No journal yet: the same empty view each time, so a caller can tell nothing changed.
      if (this.cache?.key !== "")
        this.cache = { key: "", view: { operations: [], promotions: new Map(), unreadable: 0 } };
      return this.cache.view;
    }
    if (this.cache?.key !== key) this.cache = { key, view: foldJournal(readFileSync(this.path, "utf8")) };
    return this.cache.view;
  }

  /** Recorded operations, oldest first (of one kind, when given). */
  operations(kind?: OperationKind): OperationRecord[] {
    const all = this.view().operations;
    return kind ? all.filter((o) => o.kind === kind) : all;
  }

  /** The promotions in force. */
  promotions(): Map<string, Promotion> {
    return this.view().promotions;
  }
}

/** The operation on one journal line, or null when the line is not JSON or not a record. */
function tryParseOperation(line: string): OperationRecord | null {
  let op: OperationRecord | null;
  try {
    op = JSON.parse(line) as OperationRecord | null;
  } catch {
    return null;
  }
  if (typeof op !== "object" || op === null) return null;
  return typeof op.kind === "string" && typeof op.startedAt === "string" ? op : null;
}
