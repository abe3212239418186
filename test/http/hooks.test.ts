// HookClient against a real local HTTP server: GET and POST (text, JSON, headers), a non-2xx
// answer, a refused connection and an endpoint that never answers are each reported once,
// never thrown, and a hanging request is cut at its timeout.

import { test } from "node:test";
import assert from "node:assert/strict";
import { HookClient } from "../../server/http/hooks.ts";
import { freePort } from "../../server/sandbox/sshd.ts";
import { startHookServer } from "../helpers/hook-server.ts";

test("HookClient: requests as asked; failures are warnings and false, never exceptions; timeouts bounded", async () => {
  const s = await startHookServer();
  const warnings: string[] = [];
  const c = new HookClient((l) => warnings.push(l));
  try {
    assert.equal(await c.send({ url: `${s.url}/a?k=secret`, method: "GET", timeoutMs: 2000, what: "ping" }), true);
    assert.equal(
      await c.send({ url: `${s.url}/b`, method: "POST", body: "hello", timeoutMs: 2000, what: "ping" }),
      true,
    );
    assert.equal(
      await c.send({
        url: `${s.url}/c`,
        method: "POST",
        body: { json: { kind: "alert", n: 2 } },
        headers: { authorization: "Bearer t" },
        timeoutMs: 2000,
        what: "webhook",
      }),
      true,
    );
    assert.deepEqual(
      s.hits.map((h) => [h.method, h.path, h.body]),
      [
        ["GET", "/a?k=secret", ""],
        ["POST", "/b", "hello"],
        ["POST", "/c", '{"kind":"alert","n":2}'],
      ],
    );
    assert.equal(s.hits[1]!.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(s.hits[2]!.headers["content-type"], "application/json");
    assert.equal(s.hits[2]!.headers.authorization, "Bearer t");
    assert.deepEqual(warnings, []);

    assert.equal(
      await c.send({ url: `${s.url}/status/500?k=secret`, method: "GET", timeoutMs: 2000, what: "ping of web1" }),
      false,
    );
    assert.match(
      warnings.at(-1)!,
      /^ping of web1: GET http:\/\/127\.0\.0\.1:\d+\/status\/500\?… answered 500 Internal Server Error$/,
      "the query (a key, often) is not logged",
    );
    const closed = await freePort();
    assert.equal(
      await c.send({ url: `http://127.0.0.1:${closed}/x`, method: "GET", timeoutMs: 2000, what: "webhook" }),
      false,
    );
    assert.match(warnings.at(-1)!, /^webhook: GET http:\/\/127\.0\.0\.1:\d+\/x failed: ECONNREFUSED$/);

    const t0 = Date.now();
    c.fire({ url: `${s.url}/hang/1`, method: "POST", body: "x", timeoutMs: 300, what: "ping" });
    assert.ok(Date.now() - t0 < 50, "fire returns at once");
    assert.equal(c.pending, 1);
    await c.drain(5000);
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 2000, `cut at its timeout (${took} ms)`);
    assert.equal(c.pending, 0);
    assert.match(warnings.at(-1)!, /^ping: POST http:\/\/127\.0\.0\.1:\d+\/hang\/1 failed: no answer within 300 ms$/);

    c.fire({ url: `${s.url}/hang/2`, method: "GET", timeoutMs: 10_000, what: "ping" });
    const t1 = Date.now();
    await c.drain(200);
    assert.ok(Date.now() - t1 < 1000, "drain is bounded");
  } finally {
    await s.close();
  }
});
