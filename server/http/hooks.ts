// Outgoing HTTP: the dead man's switch pings and the alert webhooks. Every request has a time
// limit covering connect, headers and body; failures are reported to the injected `warn` and
// never thrown, so no caller (a pass, an alert) can be held up or failed by a slow endpoint.

/** One request to make. */
export interface HookRequest {
  url: string;
  method: "GET" | "POST";
  /** Text or JSON body (POST); JSON sets the content type. */
  body?: string | { json: unknown };
  headers?: Record<string, string>;
  timeoutMs: number;
  /** What this is, for the warning ("ping of web1", "webhook"). */
  what: string;
}

/** Makes hook requests; keeps track of the ones in flight so a shutdown can wait for them. */
export class HookClient {
  private readonly inflight = new Set<Promise<boolean>>();

  constructor(private readonly warn: (line: string) => void) {}

  /** Makes the request; resolves true on a 2xx answer, false (after warning) otherwise. Never rejects. */
  send(req: HookRequest): Promise<boolean> {
    const p = this.attempt(req).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return p;
  }

  /** Makes the request without waiting for it. */
  fire(req: HookRequest): void {
    void this.send(req);
  }

  /** Requests not yet answered or timed out. */
  get pending(): number {
    return this.inflight.size;
  }

  /** Waits until the requests in flight end, or `ms` passes. */
  async drain(ms: number): Promise<void> {
    if (this.inflight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  private async attempt(req: HookRequest): Promise<boolean> {
    const json = typeof req.body === "object";
    const headers: Record<string, string> = {
      "user-agent": "bzman",
      ...(req.body !== undefined ? { "content-type": json ? "application/json" : "text/plain; charset=utf-8" } : {}),
      ...req.headers,
    };
    const body =
      req.body === undefined ? undefined : typeof req.body === "string" ? req.body : JSON.stringify(req.body.json);
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(req.timeoutMs),
        redirect: "follow",
      });
      await res.arrayBuffer();
      if (res.ok) return true;
      this.warn(`${req.what}: ${req.method} ${redact(req.url)} answered ${res.status} ${res.statusText}`);
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why =
        e.name === "TimeoutError"
          ? `no answer within ${req.timeoutMs} ms`
          : (e.cause?.code ?? e.cause?.message ?? e.message);
      this.warn(`${req.what}: ${req.method} ${redact(req.url)} failed: ${why}`);
    }
    return false;
  }
}

/** The URL without user info and query (ping keys and tokens often live there). */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? "?…" : ""}`;
  } catch {
    return "(a bad URL)";
  }
}
