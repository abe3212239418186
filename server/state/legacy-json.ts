// The JSON state file of the previous version (schemaVersion 1, written through lowdb): its
// shape and a strict reader. Used only to migrate such a file into the history database, or to
// read it in place for a read-only command. Never writes.

import { readFileSync } from "node:fs";
import { z } from "zod";
import type { AlertRecord } from "../core/alerts.ts";
import type { DatasetRecord, RunRecord } from "../core/model.ts";
import { BackupError } from "../errors.ts";

/** One dataset of one pass, as stored. */
export type HistoryRow = DatasetRecord & {
  runId: string;
  startedAt: string;
  finishedAt: string;
  phases: RunRecord["phases"];
  /** Transfer rate of this dataset in the pass (bytes / transfer time). */
  bytesPerSecond: number;
  /** Set once a failure kept in detail has been counted in its day's rollup. */
  rolled?: boolean;
};

/** One dataset's passes of one UTC day, once their details have aged out. */
export interface DailyRollup {
  day: string;
  source: string;
  dataset: string;
  passes: number;
  failures: number;
  bytes: number;
  transferMs: number;
  lastResult: string;
  lastTo?: { name: string; guid: string };
  /** Start of the day's last successful pass, and the snapshot it left on the backup. */
  lastSuccessAt?: string;
  lastSuccessTo?: { name: string; guid: string };
}

/** The JSON state file's contents (the previous version's format). */
export interface StateData {
  schemaVersion: 1;
  history: HistoryRow[];
  daily: DailyRollup[];
  /** What was mailed about conditions still open (so a restart does not mail them again). */
  alerts?: AlertRecord[];
}

const refSchema = z.object({ name: z.string(), guid: z.string() });
const rowSchema = z.looseObject({
  runId: z.string(),
  source: z.string(),
  dataset: z.string(),
  target: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  mode: z.string(),
  result: z.string(),
  bytes: z.number(),
  transferMs: z.number(),
  steps: z.number(),
  to: refSchema.optional(),
  from: refSchema.optional(),
});
const rollupSchema = z.object({
  day: z.string(),
  source: z.string(),
  dataset: z.string(),
  passes: z.number(),
  failures: z.number(),
  bytes: z.number(),
  transferMs: z.number(),
  lastResult: z.string(),
  lastTo: refSchema.optional(),
  lastSuccessAt: z.string().optional(),
  lastSuccessTo: refSchema.optional(),
});
const alertSchema = z.looseObject({ key: z.string(), since: z.string(), lastSent: z.string() });
const fileSchema = z.object({
  schemaVersion: z.literal(1),
  history: z.array(rowSchema),
  daily: z.array(rollupSchema),
  alerts: z.array(alertSchema).optional(),
});

/** True iff `head` (the first bytes of a file) looks like the start of a JSON document. */
export function looksLikeJson(head: Buffer): boolean {
  return /^\s*\{/.test(head.toString("latin1"));
}

/**
 * Reads and validates a JSON state file. Throws an Error saying what is wrong when the file is
 * not JSON or not of this shape (the caller decides whether to move it aside).
 */
export function readLegacyFile(path: string): StateData {
  const raw: unknown = JSON.parse(readFileSync(path, "utf8"));
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success)
    throw new BackupError(
      "STATE_UNREADABLE",
      `not a bzman state file: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
    );
  return raw as StateData;
}
