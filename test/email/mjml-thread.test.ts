// The MJML thread (server/email/mjml-thread.ts): mails render there and mjml is never loaded on
// the caller's thread; an invalid template is a clear error and the next mail still renders; the
// thread ends once idle and starts again for the next mail; mails it had yet to answer when it
// ended fail, saying so; a mail not rendered in time ends the thread, fails with every mail
// waiting on it, and the next mail renders on a new thread; a process that rendered a mail exits on its own.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { setTimeout as sleep } from "node:timers/promises";
import {
  mjmlThreadRunning,
  mjmlToHtml,
  setMjmlIdleMs,
  setMjmlRenderTimeoutMs,
  setMjmlWorkerEntry,
  stopMjmlThread,
} from "../../server/email/mjml-thread.ts";
import { renderAlert } from "../../server/email/render.ts";
import { POOL_FULL_ALERT } from "../helpers/alert-mail.ts";
import { REPO } from "../helpers/sandbox.ts";

after(() => stopMjmlThread());

const doc = (text: string): string =>
  `<mjml><mj-body><mj-section><mj-column><mj-text>${text}</mj-text></mj-column></mj-section></mj-body></mjml>`;
const loadedHere = (): string[] =>
  Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules\/mjml/.test(f));

test("mails render on the MJML thread (render.ts too); mjml is never loaded on this thread", async () => {
  const html = await mjmlToHtml(doc("pool backup is DEGRADED"));
  assert.match(html, /<!doctype html>/i);
  assert.match(html, /pool backup is DEGRADED/);
  assert.ok(mjmlThreadRunning());
  const mail = await renderAlert(POOL_FULL_ALERT);
  assert.match(mail.html, /pool backup has no space left/);
  assert.deepEqual(loadedHere(), [], "mjml is loaded on the MJML thread only");
});

test("an invalid template is an INTERNAL error naming what MJML found; the next mail renders", async () => {
  await assert.rejects(mjmlToHtml("<mjml><mj-body><mj-bogus/></mj-body></mjml>"), (e: Error & { code?: string }) => {
    assert.equal(e.code, "INTERNAL");
    assert.match(e.message, /^mail template: .*mj-bogus/);
    return true;
  });
  assert.match(await mjmlToHtml(doc("after the error")), /after the error/);
});

test("the thread ends once idle, and the next mail starts it again", async () => {
  setMjmlIdleMs(200);
  try {
    await mjmlToHtml(doc("one"));
    assert.ok(mjmlThreadRunning());
    for (let i = 0; i < 50 && mjmlThreadRunning(); i++) await sleep(100);
    assert.ok(!mjmlThreadRunning(), "an idle thread ends");
    assert.match(await mjmlToHtml(doc("two")), /two/);
  } finally {
    setMjmlIdleMs(10_000);
  }
});

test("mails the thread had yet to answer when it ended fail, saying so", async () => {
  const pending = mjmlToHtml(doc("never"));
  await stopMjmlThread();
  await assert.rejects(pending, /^BackupError: mail template: the MJML thread ended \(exit 1\)/);
  assert.match(await mjmlToHtml(doc("again")), /again/);
});

test("a render that never answers ends the thread at the time limit: its mails fail saying so, the next mail renders on a new thread", {
  timeout: 20_000,
}, async () => {
  await stopMjmlThread();
  setMjmlWorkerEntry("../../test/helpers/mjml-silent-worker");
  setMjmlRenderTimeoutMs(1500);
  try {
    const started = Date.now();
    const hung = [mjmlToHtml(doc("hung 1")), mjmlToHtml(doc("hung 2"))];
    for (const p of hung)
      await assert.rejects(
        p,
        /^BackupError: mail template: the MJML thread was ended: a mail was not rendered within 1.5 s of being asked for/,
      );
    assert.ok(Date.now() - started >= 1400, "not before the time limit");
    assert.ok(!mjmlThreadRunning(), "the hung thread was let go");
  } finally {
    setMjmlWorkerEntry("mjml-worker");
    setMjmlRenderTimeoutMs(60_000);
  }
  assert.match(await mjmlToHtml(doc("after the hang")), /after the hang/);
});

test("a thread started while the previous one is ending still ends once idle", async () => {
  setMjmlIdleMs(200);
  try {
    // Mails on the first thread, let go while they render: their answers may still come.
    const first = Array.from({ length: 5 }, (_, i) => mjmlToHtml(doc(`first ${i}`)).catch(() => ""));
    await sleep(20);
    const stopping = stopMjmlThread();
    assert.match(await mjmlToHtml(doc("second")), /second/);
    await Promise.all([stopping, ...first]);
    for (let i = 0; i < 50 && mjmlThreadRunning(); i++) await sleep(100);
    assert.ok(!mjmlThreadRunning(), "the second thread ended once idle");
  } finally {
    setMjmlIdleMs(10_000);
  }
});

test("a process that rendered a mail exits on its own (the idle thread does not hold it)", () => {
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "-e",
      `import("./server/email/mjml-thread.ts").then(async (m) => { process.stdout.write(String((await m.mjmlToHtml(${JSON.stringify(doc("bye"))})).includes("bye"))); });`,
    ],
    { cwd: REPO, encoding: "utf8", timeout: 8000 },
  );
  assert.equal(r.signal, null, "it exited on its own, well before the thread's idle time was up");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "true");
});
