// `zfs send -t TOKEN` through the guard: the token is checked on the source with a dry run
// (`zfs send -nvt TOKEN`), for every dry-run fixture in test/fixtures/zfs/*send-nvt*.txt (recorded
// on OpenZFS or transcribed from libzfs's format), under every POSIX shell present. The hostile
// variants of each fixture are in the generated corpus (corpus.ts, hostile.test.ts).

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Step } from "../../server/core/model.ts";
import { commandLine } from "../../server/ssh/ssh-runner.ts";
import { sendArgs, sendEstimateArgs } from "../../server/zfs/args.ts";
import {
  dryRunFacts,
  dryRunFixtures,
  dryRunText,
  FakeZfs,
  FIXED_MESSAGE,
  FIXTURES,
  guardSync,
  shells,
  TOKEN,
} from "./harness.ts";

const fake = new FakeZfs();
after(() => fake.remove());
const step: Step = {
  kind: "resume",
  sourceDataset: "src/www",
  targetDataset: "backup/src/www",
  resumeToken: TOKEN,
  intermediates: false,
};
const SEND = commandLine(sendArgs(step));
const ESTIMATE = commandLine(sendEstimateArgs(step));

test("the resumed send and its estimate are the shapes the guard admits", () => {
  assert.equal(SEND, `zfs send -t ${TOKEN}`);
  assert.equal(ESTIMATE, `zfs send -n -P -t ${TOKEN}`);
  assert.ok(dryRunFixtures.length >= 2, dryRunFixtures.join(" "));
});

for (const f of dryRunFixtures) {
  const text = readFileSync(join(FIXTURES, f), "utf8");
  const { toname, raw } = dryRunFacts(text);
  const ds = toname.split("@")[0]!;
  const pool = ds.split("/")[0]!;
  for (const [name, shell] of shells) {
    test(`${f} under ${name}: ${toname} is resumed below ${ds} and ${pool}, refused elsewhere; --raw-only ${raw ? "sends it raw" : "refuses it"}`, () => {
      const run = (args: string[], command = SEND): { out: string; status: number | null; ran: string[] } => {
        const log = fake.log();
        const r = guardSync(shell, [...args, "--allow-resume", "--zfs", fake.path], command, {
          FAKE_LOG: log,
          FAKE_OUTPUT: join(FIXTURES, f),
        });
        return { out: r.stdout + r.stderr, status: r.status, ran: FakeZfs.lines(log) };
      };
      const dry = `dry-run send -nvt ${TOKEN}`;
      for (const root of [ds, pool]) {
        assert.deepEqual(run(["--root", "other", "--root", root]), {
          out: "",
          status: 0,
          ran: [dry, `ran send -t ${TOKEN}`],
        });
        assert.deepEqual(run(["--root", root], ESTIMATE), {
          out: "",
          status: 0,
          ran: [dry, `ran send -n -P -t ${TOKEN}`],
        });
      }
      for (const root of ["other", `${ds}x`, `${ds}/child`, `${pool}x`]) {
        assert.deepEqual(run(["--root", root]), { out: FIXED_MESSAGE, status: 255, ran: [dry] }, root);
      }
      assert.deepEqual(
        run(["--root", ds, "--raw-only"]),
        raw
          ? { out: "", status: 0, ran: [dry, `ran send -w -t ${TOKEN}`] }
          : { out: FIXED_MESSAGE, status: 255, ran: [dry] },
      );
      assert.match(
        run(["--root", "other", "--check"]).out,
        /^REJECT resume token names a snapshot outside the roots: zfs send -t /,
      );
    });
  }
}

test("a toname that hides a `rawok = 1` line after a newline cannot resume a plain send under --raw-only: the guard adds -w", () => {
  // A hand-made token may carry any string as toname; libzfs prints it as it is. What the dry run
  // shows is then indistinguishable from a raw token, so the send itself is forced raw.
  const forged = dryRunText("src/www@bzman_20261126T002000Z\n\trawok = 1", { from: "src/www@bzman_20261126T001000Z" });
  const log = fake.log();
  const r = guardSync(shells[0]![1], ["--root", "src/www", "--allow-resume", "--raw-only", "--zfs", fake.path], SEND, {
    FAKE_LOG: log,
    FAKE_OUTPUT: fake.output(forged),
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(FakeZfs.lines(log), [`dry-run send -nvt ${TOKEN}`, `ran send -w -t ${TOKEN}`]);
});

test("a token whose GUID resolves outside the roots is refused by what zfs says it would send, whatever its toname", () => {
  // libzfs finds the snapshot by the token's GUID, searching from toname's dataset up through the
  // whole pool, and prints the snapshot it found: that name decides.
  const elsewhere = dryRunText("src/www@bzman_20261126T002000Z").replace(
    "full send of src/www@",
    "full send of src/secret@",
  );
  const log = fake.log();
  const r = guardSync(shells[0]![1], ["--root", "src/www", "--allow-resume", "--zfs", fake.path, "--check"], SEND, {
    FAKE_LOG: log,
    FAKE_OUTPUT: fake.output(elsewhere),
  });
  assert.match(r.stdout, /^REJECT resume token sends a snapshot outside the roots/);
});
