// A real HTTP server on 127.0.0.1 and a free port that records every request (method, path,
// body) for the ping and webhook tests. Paths below /hang are accepted and never answered; paths
// below /status/NNN answer NNN.

import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

/** A request the server received (a hanging one is recorded when its headers arrive). */
export interface HookHit {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  at: number;
}

/** A running hook server. */
export interface HookServer {
  url: string;
  hits: HookHit[];
  /** Requests held open now (below /hang, or below `prefix`). */
  hanging(prefix?: string): number;
  close(): Promise<void>;
}

/** Starts the server. */
export async function startHookServer(): Promise<HookServer> {
  const hits: HookHit[] = [];
  const open = new Map<object, string>();
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    if (path.startsWith("/hang")) {
      hits.push({ method: req.method ?? "", path, headers: req.headers, body: "", at: Date.now() });
      open.set(req, path);
      req.resume();
      req.socket.once("close", () => open.delete(req));
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      hits.push({
        method: req.method ?? "",
        path,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
      });
      const status = /^\/status\/(\d{3})/.exec(path);
      res.writeHead(status ? Number(status[1]) : 200, { "content-type": "text/plain" }).end("OK");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    hanging: (prefix = "/hang") => [...open.values()].filter((p) => p.startsWith(prefix)).length,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
