// Every statement the history runs reads through an index (SQLite's own EXPLAIN QUERY PLAN), so
// none of them grows with the history. The two that read whole tables do so on purpose.

import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { COMPACTION_SQL } from "../../server/state/compaction.ts";
import { CACHE_SQL } from "../../server/state/latest-cache.ts";
import { ROW_SQL } from "../../server/state/rows.ts";
import { createSchema } from "../../server/state/schema.ts";
import { STORE_SQL } from "../../server/state/store.ts";

/** Statements allowed to read a whole table: the alert records (a handful) and daily() (tools and tests only). */
const WHOLE_TABLE_OK = new Set(["STORE_SQL.alerts", "STORE_SQL.daily"]);

function plan(db: Database.Database, sql: string): string[] {
  const names = [...new Set([...sql.matchAll(/@(\w+)/g)].map((m) => m[1]!))];
  const st = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
  const rows = (
    names.length
      ? st.all(Object.fromEntries(names.map((n) => [n, 0])))
      : st.all(...new Array<number>((sql.match(/\?/g) ?? []).length).fill(0))
  ) as Array<{ detail: string }>;
  return rows.map((r) => r.detail);
}

test("every statement of appends, compaction, the status cache and the report uses an index", () => {
  const db = new Database(":memory:");
  createSchema(db);
  const scans: string[] = [];
  for (const [group, statements] of Object.entries({ ROW_SQL, COMPACTION_SQL, CACHE_SQL, STORE_SQL })) {
    for (const [name, sql] of Object.entries(statements)) {
      const steps = plan(db, sql);
      if (!WHOLE_TABLE_OK.has(`${group}.${name}`) && steps.some((s) => /^SCAN /.test(s)))
        scans.push(`${group}.${name}: ${steps.join(" | ")}`);
    }
  }
  assert.deepEqual(scans, []);
  assert.match(
    plan(db, COMPACTION_SQL.toFold).join(),
    /USING INDEX runs_to_fold/,
    "folding skips the rolled failures kept in detail",
  );
  assert.match(plan(db, STORE_SQL.reportHour).join(), /USING INDEX runs_by_time \(started_ms>\? AND started_ms<\?\)/);
  assert.match(plan(db, CACHE_SQL.changedSince).join(), /USING INDEX latest_by_seq/);
  db.close();
});
