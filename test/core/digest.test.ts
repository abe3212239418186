import { test } from "node:test";
import assert from "node:assert/strict";
import type { Code } from "../../server/core/codes.ts";
import type { AlertRecord, Condition } from "../../server/core/alerts.ts";
import { planDigests, webhookPayload, type PendingAlerts } from "../../server/core/digest.ts";

const S = 1000;
const HOUR = 3600 * S;
const T0 = Date.parse("2026-11-26T12:00:00Z");
const cond = (key: string, code: Code, what = `x ${code}`): Condition => ({
  key,
  host: key.split(" ")[1]!.split(":")[0]!,
  what,
  where: key.split(" ")[1]!,
  code,
  message: `m ${key}`,
  advice: `do ${code}`,
});
const datasets = (n: number, code: Code, kind = "pass"): Condition[] =>
  Array.from({ length: n }, (_, i) => cond(`${kind} web${i % 4}:tank/ds${i}`, code));

/** A daemon's alert state between evaluations, as the Notifier keeps it (every digest delivered unless `fail`). */
class Rig {
  sent = new Map<string, AlertRecord>();
  pending: PendingAlerts = new Map();
  constructor(private readonly timing = { realertMs: 6 * HOUR, digestMs: 120 * S }) {}
  step(
    active: Condition[],
    now: number,
    fail = false,
  ): { out: string[]; nextDueMs: number | null; sinces: string[][] } {
    const plan = planDigests(active, this.sent, this.pending, now, this.timing);
    this.pending = plan.pending;
    for (const d of plan.digests) {
      if (fail) {
        for (const [pk, first] of d.took) this.pending.set(pk, first);
        continue;
      }
      for (const r of d.records) r.after ? this.sent.set(r.key, r.after) : this.sent.delete(r.key);
    }
    return {
      out: plan.digests.map((d) => `${d.kind} ${d.cause} ×${d.items.length}`),
      nextDueMs: plan.nextDueMs,
      sinces: plan.digests.map((d) => d.items.map((i) => i.since)),
    };
  }
}

test("a full pool under 200 datasets: one mail per cause after the window, one resolve mail per cause", () => {
  const rig = new Rig();
  const failing = datasets(200, "ZFS_NO_SPACE");
  const pool = [cond("pool-space local:backup", "POOL_SPACE")];
  // The failures arrive over a minute (passes end at different times), the pool check among them.
  let r = rig.step(failing.slice(0, 50), T0);
  assert.deepEqual(r.out, [], "the first waits for the window");
  assert.equal(r.nextDueMs, T0 + 120 * S);
  assert.deepEqual(rig.step([...failing.slice(0, 120), ...pool], T0 + 30 * S).out, []);
  assert.deepEqual(rig.step([...failing, ...pool], T0 + 60 * S).out, []);
  r = rig.step([...failing, ...pool], T0 + 120 * S);
  assert.deepEqual(
    r.out,
    ["alert ZFS_NO_SPACE ×200"],
    "all of one cause in one mail; the pool's own window is not over",
  );
  assert.equal(r.sinces[0]![0], "2026-11-26T12:00:00.000Z", "since: when the condition was first seen");
  assert.equal(r.sinces[0]![199], "2026-11-26T12:01:00.000Z");
  assert.equal(r.nextDueMs, T0 + 150 * S);
  assert.deepEqual(rig.step([...failing, ...pool], T0 + 150 * S).out, ["alert POOL_SPACE ×1"]);
  assert.deepEqual(rig.step([...failing, ...pool], T0 + HOUR).out, [], "no repeats within the re-alert interval");
  // Space is freed: the pool clears first, the datasets as their next passes succeed.
  const t1 = T0 + 2 * HOUR;
  assert.deepEqual(rig.step(failing, t1).out, []);
  assert.deepEqual(rig.step(failing.slice(100), t1 + 60 * S).out, []);
  assert.deepEqual(rig.step([], t1 + 120 * S).out, ["resolved POOL_SPACE ×1"]);
  assert.deepEqual(rig.step([], t1 + 180 * S).out, ["resolved ZFS_NO_SPACE ×200"]);
  assert.deepEqual(rig.step([], t1 + HOUR).out, []);
  assert.equal(rig.sent.size, 0);
  assert.equal(rig.pending.size, 0);
});

test("reminders of one cause due together go as one, without waiting", () => {
  const rig = new Rig();
  const failing = [...datasets(30, "SSH_CONNECT"), ...datasets(3, "STALE", "lag")];
  rig.step(failing, T0);
  assert.deepEqual(rig.step(failing, T0 + 120 * S).out, ["alert SSH_CONNECT ×30", "alert STALE ×3"]);
  assert.deepEqual(rig.step(failing, T0 + 120 * S + 6 * HOUR).out, ["reminder SSH_CONNECT ×30", "reminder STALE ×3"]);
});

test("a condition that clears within its window is never mailed; one that returns before its resolve is never resolved", () => {
  const rig = new Rig();
  const a = cond("pass web1:tank/a", "SSH_CONNECT");
  assert.deepEqual(rig.step([a], T0).out, []);
  assert.deepEqual(rig.step([], T0 + 60 * S).out, [], "cleared while waiting");
  assert.deepEqual(rig.step([], T0 + 300 * S).out, []);
  assert.equal(rig.pending.size, 0);
  rig.step([a], T0 + HOUR);
  assert.deepEqual(rig.step([a], T0 + HOUR + 120 * S).out, ["alert SSH_CONNECT ×1"]);
  assert.deepEqual(rig.step([], T0 + 2 * HOUR).out, [], "the resolve waits");
  assert.deepEqual(
    rig.step([a], T0 + 2 * HOUR + 60 * S).out,
    [],
    "back before the resolve went out: no resolve, no new alert",
  );
  assert.deepEqual(rig.step([a], T0 + 2 * HOUR + 300 * S).out, []);
  assert.ok(rig.sent.has(a.key));
});

test("digest 0: no waiting, but conditions planned together still share a mail", () => {
  const rig = new Rig({ realertMs: 6 * HOUR, digestMs: 0 });
  const r = rig.step([...datasets(5, "ZFS_NO_SPACE"), cond("pool-health local:backup", "POOL_HEALTH")], T0);
  assert.deepEqual(r.out, ["alert ZFS_NO_SPACE ×5", "alert POOL_HEALTH ×1"]);
  assert.equal(r.nextDueMs, null);
  assert.deepEqual(rig.step([], T0 + S).out, ["resolved ZFS_NO_SPACE ×5", "resolved POOL_HEALTH ×1"]);
});

test("a digest no channel took is retried at the next evaluation, keeping its first-seen time", () => {
  const rig = new Rig();
  const fail = datasets(3, "ZFS_NO_SPACE");
  rig.step(fail, T0);
  assert.deepEqual(rig.step(fail, T0 + 120 * S, true).out, ["alert ZFS_NO_SPACE ×3"]);
  assert.equal(rig.sent.size, 0);
  const r = rig.step(fail, T0 + 121 * S);
  assert.deepEqual(r.out, ["alert ZFS_NO_SPACE ×3"], "due at once, not after another window");
  assert.equal(r.sinces[0]![0], new Date(T0).toISOString());
});

test("webhookPayload: kind, cause, subject as text, every condition with its since", () => {
  const plan = planDigests(datasets(2, "ZFS_NO_SPACE"), new Map(), new Map(), T0, { realertMs: HOUR, digestMs: 0 });
  const p = webhookPayload(plan.digests[0]!, "[bzman] ALERT x", "backup1", T0);
  assert.deepEqual(Object.keys(p).sort(), ["at", "cause", "conditions", "instance", "kind", "subject", "text"]);
  assert.equal(p.kind, "alert");
  assert.equal(p.text, "[bzman] ALERT x");
  assert.deepEqual(
    p.conditions.map((c) => [c.where, c.code, c.since]),
    [
      ["web0:tank/ds0", "ZFS_NO_SPACE", "2026-11-26T12:00:00.000Z"],
      ["web1:tank/ds1", "ZFS_NO_SPACE", "2026-11-26T12:00:00.000Z"],
    ],
  );
});
