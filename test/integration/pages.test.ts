// The status page and the report in a real browser (Debian chromium via playwright-core): DOM
// assertions on rows and failure highlighting, and screenshots saved by the test (the README's
// copies in test/screenshots/ are refreshed with BZMAN_UPDATE_SCREENSHOTS=1).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { parse, stringify } from "yaml";
import { startRig, type Rig } from "../../server/sandbox/rig.ts";
import { freePort } from "../../server/sandbox/sshd.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { REPO, bzman, sandboxSkip, serveDaemon, until } from "../helpers/sandbox.ts";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip =
  sandboxSkip() ||
  (existsSync(CHROMIUM)
    ? false
    : process.env.CI
      ? (() => {
          throw new Error("chromium is missing; CI must install it");
        })()
      : "chromium not installed");
// Screenshots go to a temp folder; BZMAN_UPDATE_SCREENSHOTS=1 refreshes the README's copies.
const SHOTS = process.env.BZMAN_UPDATE_SCREENSHOTS
  ? join(REPO, "test", "screenshots")
  : mkdtempSync(join(tmpdir(), "bzman-screenshots-"));

describe("status page and report in Chromium", { skip }, () => {
  let rig: Rig;
  let sink: SmtpSink;
  let browser: Browser;

  before(async () => {
    rig = await startRig({ name: "pag" });
    for (const d of ["www", "db", "home"]) await must(["zfs", "create", `${rig.sourcePool}/${d}`]);
    sink = await startSmtpSink();
    // Playwright starts each launch with a fresh, empty profile of its own.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await sink?.close();
    if (rig) await rig.cleanup();
  });

  test("the status page of a running daemon: rows, failure highlighted, screenshot", async () => {
    const port = await freePort();
    const S = rig.sourcePool;
    const config = rig.writeConfig({
      schedule: "*/2 * * * * *",
      datasets: ["www", "db", "home", "gone"].map((n) => ({ name: `${S}/${n}` })),
      http: { listen: `127.0.0.1:${port}` },
    });
    const doc = parse(readFileSync(config, "utf8"));
    doc.mail = {
      smtp: `smtp://127.0.0.1:${sink.port}`,
      from: "bzman@backup.test",
      to: ["ops@example.test"],
      digest: "0s",
    };
    writeFileSync(config, stringify(doc));
    const d = serveDaemon(config);
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 520 } });
      await until("three datasets backed up", async () => {
        const res = await fetch(`http://127.0.0.1:${port}/status?format=json`);
        return (
          res.ok && (await res.json()).datasets.filter((x: { lastResult: string }) => x.lastResult === "ok").length >= 3
        );
      });
      await page.goto(`http://127.0.0.1:${port}/`);
      const rows = page.locator("#datasets tbody tr");
      assert.equal(await rows.count(), 4);
      const bad = page.locator(`#datasets tr[data-dataset="src1:${S}/gone"]`);
      assert.equal(await bad.getAttribute("class"), "bad");
      assert.equal(
        await bad
          .locator("td")
          .first()
          .evaluate((el) => getComputedStyle(el).backgroundColor),
        "rgb(253, 226, 225)",
      );
      assert.equal(await page.locator(`#datasets tr[data-dataset="src1:${S}/www"]`).getAttribute("class"), "ok");
      assert.match((await page.locator("#verdict").textContent()) ?? "", /problem/);
      await page.screenshot({ path: join(SHOTS, "status-page.png"), fullPage: true });
      assert.ok(existsSync(join(SHOTS, "status-page.png")));
      process.stderr.write(`screenshot: ${join(SHOTS, "status-page.png")}\n`);
    } finally {
      d.child.kill("SIGTERM");
    }
    await d.exited;
  });

  test("the report mail: failures first, chart drawn, screenshot", async () => {
    const config = join(rig.dir, "bzman.yaml");
    const r = await bzman(["--config", config, "report", "--send"]);
    assert.equal(r.code, 0, r.stderr);
    await until("the report mail", () => sink.mails.some((m) => m.subject?.startsWith("[bzman] report")));
    const mail = sink.mails.find((m) => m.subject?.startsWith("[bzman] report"))!;
    const page = await browser.newPage({ viewport: { width: 960, height: 700 } });
    await page.setContent(String(mail.html));
    const rows = page.locator("tr.failed, tr.stale, tr.ok");
    assert.equal(await rows.count(), 4);
    assert.equal(await rows.first().getAttribute("class"), "failed", "failures first");
    assert.match((await rows.first().textContent()) ?? "", /src1:\S+\/gone/);
    assert.ok((await page.locator("svg rect").count()) === 24, "24 hourly bars");
    await page.screenshot({ path: join(SHOTS, "report.png"), fullPage: true });
    assert.ok(existsSync(join(SHOTS, "report.png")));
    process.stderr.write(`screenshot: ${join(SHOTS, "report.png")}\n`);
  });
});
