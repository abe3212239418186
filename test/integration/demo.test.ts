// The README's first command: `bzman demo` builds its sandbox, replicates end to end, verifies
// the data, and removes everything it made.

import { test } from "node:test";
import assert from "node:assert/strict";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, sandboxSkip } from "../helpers/sandbox.ts";

const skip = sandboxSkip();

test("bzman demo replicates end to end and cleans up after itself", { skip }, async () => {
  const r = await bzman(["demo"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Demo finished: replicated end to end/);
  assert.match(r.stdout, /identical on source and backup/);
  assert.match(r.stdout, /6 replicated, 0 up to date, 0 conflict\(s\), 0 failed/);
  assert.match(r.stdout, /bzman status at .*: all well/, "the status is shown");
  assert.match(r.stdout, /src1:demosrc\S+\/home\/alice +ok +@bzman_/);
  const pools = /source pool: (\S+)/.exec(r.stdout)?.[1];
  assert.ok(pools, "the demo names its pools");
  const left = await must(["zpool", "list", "-H", "-o", "name"]).catch(() => "");
  assert.ok(!left.includes(pools), "the demo's pools are gone");
});
