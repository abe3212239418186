// The guard against its generated corpus (corpus.ts), for real, under every POSIX shell present:
// every base bzman sends is accepted and runs exactly its argv; every hostile command gets the
// fixed message and exit 255 and runs nothing (the fake zfs records at most the token's dry run).

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { corpus, CANARY, type Job } from "./corpus.ts";
import { FakeZfs, FIXED_MESSAGE, RESUME_MESSAGE, guardMany, shells } from "./harness.ts";
import { mainNodeOnly } from "../helpers/node-matrix.ts";

const fake = new FakeZfs();
after(() => fake.remove());
const { accepted, hostile } = corpus(fake);

/** The token of a `zfs send … -t TOKEN` line, or null. */
const tokenOf = (command: string): string | null => /(?:^| )-t ([^ ]*)$/.exec(command)?.[1] ?? null;
const withLog = (jobs: Job[], extra: string[] = []): Array<Job & { log: string }> =>
  jobs.map((j) => {
    const log = fake.log();
    return { ...j, args: [...j.args, ...extra], env: { ...j.env, FAKE_LOG: log }, log };
  });

test(`the hostile corpus: ${hostile.length} commands per shell, every family present`, (t) => {
  const families = new Map<string, number>();
  for (const j of hostile) families.set(j.family, (families.get(j.family) ?? 0) + 1);
  t.diagnostic(`corpus: ${[...families].map(([f, n]) => `${f} ${n}`).join(", ")}; ${accepted.length} accepted bases`);
  for (const f of [
    "injection",
    "argv",
    "dataset",
    "name",
    "own",
    "bookmark",
    "tag",
    "legacy",
    "rename",
    "restore",
    "token",
    "dry-run",
  ]) {
    assert.ok((families.get(f) ?? 0) > 0, `family ${f}`);
  }
  assert.ok(hostile.length > 2000, String(hostile.length));
});

for (const [name, shell] of shells) {
  test(`under ${name}: every base is accepted (--check prints what runs) and runs exactly that`, async () => {
    for (const [job, r] of await guardMany(shell, withLog(accepted, ["--check"]))) {
      assert.equal(r.stdout, `ACCEPT ${job.runs ?? job.command}\n`, `${job.family}: ${job.command}\n${r.stderr}`);
      const token = tokenOf(job.command);
      assert.deepEqual(
        FakeZfs.lines(job.log),
        token ? [`dry-run send -nvt ${token}`] : [],
        "--check runs nothing but a token's dry run",
      );
    }
    for (const [job, r] of await guardMany(shell, withLog(accepted))) {
      assert.equal(r.status, 0, `${job.command}\n${r.stderr}`);
      const token = tokenOf(job.command);
      const argv = (job.runs ?? job.command).split(" ").slice(1).join(" ");
      assert.deepEqual(
        FakeZfs.lines(job.log),
        [...(token ? [`dry-run send -nvt ${token}`] : []), `ran ${argv}`],
        job.command,
      );
    }
  });

  test(`under ${name}: ${hostile.length} hostile commands get the fixed message, exit 255 and run nothing`, {
    skip: mainNodeOnly("the guard (POSIX sh) against the hostile corpus"),
  }, async () => {
    const failures: string[] = [];
    const runs = await guardMany(shell, withLog(hostile));
    for (const [job, r] of runs) {
      const ran = FakeZfs.lines(job.log);
      const token = tokenOf(job.command);
      const onlyDryRun = ran.every((l) => token !== null && l === `dry-run send -nvt ${token}`);
      // A dry-run mutation must have reached the dry run: the refusal comes from reading it.
      const inspected = job.family !== "dry-run" || ran.length === 1;
      if (
        r.status !== 255 ||
        (r.stderr !== FIXED_MESSAGE && r.stderr !== RESUME_MESSAGE) ||
        r.stdout !== "" ||
        !onlyDryRun ||
        !inspected
      ) {
        failures.push(
          `${job.family}${job.why ? ` (${job.why})` : ""}: ${JSON.stringify(job.command)} ${job.args.filter((a) => a.startsWith("--") && a !== "--root").join(" ")} -> ${r.status} ${JSON.stringify(r.stderr)} ran ${JSON.stringify(ran)}`,
        );
      }
    }
    assert.ok(!existsSync(CANARY), "no injected command ran");
    assert.deepEqual(
      failures.slice(0, 30),
      [],
      `${failures.length} of ${hostile.length} hostile commands were not refused`,
    );
  });
}

test("each hostile command is refused for a reason of its own (--check, dash): never a fall-through", async () => {
  const runs = await guardMany(shells[0]![1], withLog(hostile, ["--check"]));
  for (const [job, r] of runs) {
    assert.match(r.stdout, /^REJECT [^\n]+\n$/, `${job.family}: ${job.command}`);
    assert.doesNotMatch(r.stdout, /no shape matched|unknown tool/, job.command);
  }
});
