import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Journal, foldJournal } from "../../server/state/journal.ts";
import type { OperationRecord } from "../../server/core/model.ts";

const op = (o: Partial<OperationRecord>): OperationRecord => ({
  id: "i",
  kind: "restore",
  subject: "s",
  startedAt: "t",
  finishedAt: "t",
  result: "ok",
  message: "m",
  ...o,
});
const promo = {
  source: "web1",
  dataset: "tank/www",
  target: "bak/web1/tank/www",
  live: "bak/bzman-live/web1/tank/www",
  snapshot: { name: "a", guid: "1" },
  at: "t",
};

test("foldJournal: a promotion is in force from its record until a failback ends it; torn lines are counted, not fatal", () => {
  const lines = [
    op({ kind: "promote", promotion: promo }),
    op({ kind: "failback", source: "web1", dataset: "tank/www", result: "failed" }),
  ].map((o) => JSON.stringify(o));
  const v = foldJournal(`${lines.join("\n")}\n{"kind":"drill","startedA`);
  assert.equal(v.operations.length, 2);
  assert.equal(v.unreadable, 1);
  assert.deepEqual([...v.promotions.keys()], ["web1:tank/www"]);
  const ended = foldJournal(
    [
      ...lines,
      JSON.stringify(op({ kind: "failback", source: "web1", dataset: "tank/www", promotionEnded: true })),
    ].join("\n"),
  );
  assert.equal(ended.promotions.size, 0);
});

test("Journal: two writers append to one file and both see each other's records", () => {
  const dir = mkdtempSync(join(tmpdir(), "bzman-journal-"));
  try {
    const a = Journal.besideState(join(dir, "state.json"));
    const b = new Journal(join(dir, "operations.jsonl"));
    assert.equal(a.operations().length, 0);
    a.append(op({ kind: "drill", result: "failed" }));
    b.append(op({ kind: "promote", promotion: promo }));
    assert.deepEqual(
      a.operations().map((o) => o.kind),
      ["drill", "promote"],
    );
    assert.equal(a.promotions().size, 1);
    assert.deepEqual(
      b.operations("drill").map((o) => o.result),
      ["failed"],
    );
    appendFileSync(join(dir, "operations.jsonl"), "garbage\n");
    assert.equal(a.view().unreadable, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
