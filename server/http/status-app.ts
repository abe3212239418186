// The read-only HTTP app: GET /status (text, or JSON with ?format=json / Accept:
// application/json), /metrics (Prometheus), /healthz (200 or 503 with the reasons) and / (HTML).
// It never runs zfs: it only reads the status it is given. main/serve calls listen(). A model
// given again (the daemon reuses it while nothing changed) is served from its serialized form.

import { timingSafeEqual } from "node:crypto";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type { StatusModel } from "../core/status.ts";
import { statusJson } from "../core/status-memo.ts";
import { metricsText, type MetricsExtras } from "./metrics.ts";
import { statusPage, statusText } from "./status-text.ts";

/** What the app needs. */
export interface StatusAppOptions {
  status: () => StatusModel | Promise<StatusModel>;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** The daemon's counters and build info for /metrics (read at each scrape). */
  metrics?: MetricsExtras;
}

function tokenOk(header: string | undefined, token: string): boolean {
  const want = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header ?? "");
  return got.length === want.length && timingSafeEqual(got, want);
}

/** True iff a listen address is on the loopback interface. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Splits "host:port" ("[::1]:9720" for IPv6). */
export function parseListen(listen: string): { host: string; port: number } | string {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) return `http.listen "${listen}" is not host:port`;
  const port = Number(m[3]);
  if (port < 0 || port > 65535) return `http.listen "${listen}": bad port`;
  return { host: m[1] ?? m[2]!, port };
}

/** Serializes a model once per model object (models are never changed once built). */
function memoized(render: (m: StatusModel) => string): (m: StatusModel) => string {
  const done = new WeakMap<StatusModel, string>();
  return (m) => {
    const known = done.get(m);
    if (known !== undefined) return known;
    const out = render(m);
    done.set(m, out);
    return out;
  };
}

/** Builds the express app (not listening). */
export function createStatusApp(opts: StatusAppOptions): Express {
  const app = express();
  const json = memoized(statusJson);
  const text = memoized(statusText);
  app.disable("x-powered-by");
  // No ETag: express would hash every body (half a megabyte of JSON for a thousand datasets) for
  // a tag that the clock's fields change every second anyway.
  app.set("etag", false);
  if (opts.token) {
    const token = opts.token;
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (tokenOk(req.get("authorization"), token)) return next();
      res.status(401).set("WWW-Authenticate", "Bearer").type("text/plain").send("bzman: a bearer token is required\n");
    });
  }
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.status(405).set("Allow", "GET, HEAD").type("text/plain").send("bzman: read-only\n");
      return;
    }
    next();
  });
  const wantsJson = (req: Request): boolean =>
    req.query.format === "json" ||
    (req.accepts(["text/plain", "application/json"]) === "application/json" && !req.accepts("text/html"));
  app.get("/status", async (req, res) => {
    const m = await opts.status();
    // What res.json(m) sends, serialized once per model.
    if (wantsJson(req)) res.type("application/json").send(json(m));
    else res.type("text/plain").send(text(m));
  });
  app.get("/healthz", async (_req, res) => {
    const m = await opts.status();
    res
      .status(m.healthy ? 200 : 503)
      .type("text/plain")
      .send(m.healthy ? "ok\n" : m.problems.map((p) => `${p}\n`).join(""));
  });
  app.get("/metrics", async (_req, res) => {
    const { body, contentType } = await metricsText(await opts.status(), opts.metrics);
    res.type(contentType).send(body);
  });
  app.get("/", async (_req, res) => {
    res.type("text/html").send(statusPage(await opts.status()));
  });
  app.use(
    (_req, res) => void res.status(404).type("text/plain").send("bzman: not found (try /status, /metrics, /healthz)\n"),
  );
  return app;
}
