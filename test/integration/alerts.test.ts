// Mail on real parts: a daemon alerts at once about a conflict (to a real SMTP server), does not
// repeat it within the re-alert interval, and mails "resolved" once it clears; `bzman report
// --send` mails the report with HTML (table, chart) and text parts; with the SMTP server down,
// replication carries on and the failure is logged.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { freePort } from "../../server/sandbox/sshd.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { bzman, sandboxSkip, serveDaemon as serve, until } from "../helpers/sandbox.ts";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.ts";

const skip = sandboxSkip();
describe("alerts and reports by mail", { skip }, () => {
  let rig: Rig;
  let sink: SmtpSink;

  before(async () => {
    rig = await startRig({ name: "mal" });
    await must(["zfs", "create", `${rig.sourcePool}/a`]);
    sink = await startSmtpSink();
  });
  after(async () => {
    await sink?.close();
    if (rig) await rig.cleanup();
  });

  test("alert at once, no repeat within the interval, resolved after recovery", async () => {
    const S = rig.sourcePool;
    const mail = {
      smtp: `smtp://127.0.0.1:${sink.port}`,
      from: "bzman@backup.test",
      to: ["ops@example.test"],
      realert: "1h",
      digest: "2s",
    };
    const config = rig.writeConfig({
      schedule: "*/2 * * * * *",
      datasets: [{ name: `${S}/a` }, { name: `${S}/later` }],
    });
    const { writeFileSync, readFileSync } = await import("node:fs");
    const { stringify, parse } = await import("yaml");
    const doc = parse(readFileSync(config, "utf8"));
    doc.mail = mail;
    writeFileSync(config, stringify(doc));
    const d = serve(config);
    const about = (s: string): number => sink.mails.filter((m) => m.subject?.includes(s)).length;
    try {
      await until("the alert mail", () => about(`CONFLICT — src1:${S}/later`) >= 1);
      const alert = sink.mails.find((m) => m.subject?.includes(`src1:${S}/later`))!;
      assert.match(alert.subject!, /^\[bzman\] ALERT src1: CONFLICT — src1:/);
      assert.deepEqual(
        (alert.to as { value: Array<{ address: string }> }).value.map((v) => v.address),
        ["ops@example.test"],
      );
      assert.match(alert.text!, /does not exist on the source host/);
      assert.match(alert.text!, /^Phase: plan$/m);
      assert.match(alert.text!, /What to do: The dataset no longer exists on the source/);
      assert.match(String(alert.html), /What to do:/);
      const passes = (): number => d.out().split("pass FAILED").length;
      const before = passes();
      await until("two more passes", () => passes() >= before + 2);
      assert.equal(about(`src1:${S}/later`), 1, "not mailed again within the re-alert interval");
      await must(["zfs", "create", `${S}/later`]);
      await until("the resolved mail", () =>
        sink.mails.some((m) => m.subject?.startsWith(`[bzman] RESOLVED src1: CONFLICT — src1:${S}/later`)),
      );
    } finally {
      d.child.kill("SIGTERM");
    }
    assert.equal(await d.exited, 0);

    const r = await bzman(["--config", config, "report", "--send", "boss@example.test"]);
    assert.equal(r.code, 0, r.stderr);
    await until("the report mail", () => sink.mails.some((m) => m.subject?.startsWith("[bzman] report ")));
    const report = sink.mails.find((m) => m.subject?.startsWith("[bzman] report "))!;
    assert.deepEqual(
      (report.to as { value: Array<{ address: string }> }).value.map((v) => v.address),
      ["boss@example.test"],
    );
    assert.match(String(report.html), /<svg[^>]*aria-label="bytes per hour"/);
    assert.match(String(report.html), new RegExp(`src1:${S}/a`));
    assert.match(report.text!, /passes, \d+ failures, .* moved, 2 datasets/);

    const printed = await bzman(["--config", config, "report", "--width", "72"]);
    assert.equal(printed.code, 0, printed.stderr);
    for (const line of printed.stdout.split("\n")) assert.ok(line.length <= 72, `too wide: ${line}`);
    assert.match(printed.stdout, /DATASET +STATE +NEWEST +LAG +PASSES +FAILURES +BYTES +TIME/);
  });

  test("with the SMTP server down, replication carries on and the failure is logged", async () => {
    const closed = await freePort();
    const config = rig.writeConfig({
      schedule: "*/2 * * * * *",
      datasets: [{ name: `${rig.sourcePool}/a` }, { name: `${rig.sourcePool}/nope` }],
    });
    const { writeFileSync, readFileSync } = await import("node:fs");
    const { stringify, parse } = await import("yaml");
    const doc = parse(readFileSync(config, "utf8"));
    doc.mail = { smtp: `smtp://127.0.0.1:${closed}`, from: "bzman@backup.test", to: ["ops@example.test"] };
    writeFileSync(config, stringify(doc));
    const d = serve(config);
    try {
      await until(
        "a failed mail and two passes",
        () =>
          /cannot send mail \(retried at the next check\)/.test(d.out()) && d.out().split("pass FAILED").length >= 3,
      );
      assert.match(
        d.out(),
        new RegExp(`"dataset":"${rig.sourcePool}/a","result":"(ok|up-to-date)"`),
        "the good dataset is still replicated",
      );
    } finally {
      d.child.kill("SIGTERM");
    }
    assert.equal(await d.exited, 0);
  });
});
