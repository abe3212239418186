// `bzman status [--json]`: what GET /status shows. It asks the running daemon (http.listen, with
// the token when one is configured); without a daemon it builds the same model from the history
// and the local pools. `bzman monitor`: pool health and capacity here and on every source.

import { readFile } from "node:fs/promises";
import type { Config } from "../config/schema.ts";
import { poolOf } from "../core/naming.ts";
import { buildStatus, type PoolStatus, type StatusModel } from "../core/status.ts";
import { checkPools } from "../engine/pools.ts";
import { toBackupError } from "../errors.ts";
import { parseListen } from "../http/status-app.ts";
import { statusText } from "../http/status-text.ts";
import { EXIT, openServices, type CliDeps } from "./run-command.ts";

async function fromDaemon(config: Config): Promise<StatusModel | null> {
  const at = config.http.listen ? parseListen(config.http.listen) : null;
  if (!at || typeof at === "string") return null;
  const token = config.http.tokenFile ? (await readFile(config.http.tokenFile, "utf8").catch(() => "")).trim() : "";
  const host = at.host.includes(":") ? `[${at.host}]` : at.host === "0.0.0.0" ? "127.0.0.1" : at.host;
  try {
    const res = await fetch(`http://${host}:${at.port}/status?format=json`, {
      headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(3000),
    });
    return res.ok ? ((await res.json()) as StatusModel) : null;
  } catch {
    return null;
  }
}

/** Prints the status; exit 0 when all is well, 1 when not. */
export async function statusCommand(config: Config, json: boolean, deps: CliDeps): Promise<number> {
  let model = await fromDaemon(config);
  if (!model) {
    const services = await openServices(config, "bzman status", (l) => deps.stderr.write(`bzman: warning: ${l}\n`), { readOnly: true });
    if (typeof services === "string") {
      deps.stderr.write(`bzman status: ${services}\n`);
      return EXIT.USAGE;
    }
    const pools = await checkPools(deps.local, "local", config.sources.map((s) => poolOf(s.target)), deps.now, deps.signal);
    model = buildStatus({ sources: config.sources, rows: services.store.statusRows(), promotions: [...services.journal.promotions().values()], operations: services.journal.operations(), pools, live: [], nextRuns: new Map(), now: deps.now().getTime() });
    services.store.close();
    if (!json) deps.stderr.write("(no daemon answered on http.listen; this is built from the history; next runs unknown)\n");
  }
  deps.stdout.write(json ? JSON.stringify(model, null, 2) + "\n" : statusText(model));
  return model.healthy ? EXIT.OK : EXIT.FAILED;
}

/** Checks the backup pools and every source's pools; exit 0 when all are ONLINE and below the limit. */
export async function monitorCommand(config: Config, json: boolean, deps: CliDeps): Promise<number> {
  const pools: PoolStatus[] = await checkPools(deps.local, "local", config.sources.map((s) => poolOf(s.target)), deps.now, deps.signal);
  const errors: string[] = [];
  for (const s of config.sources) {
    let open: { close(): Promise<void> } | undefined;
    try {
      const o = await deps.connect(s, deps.signal);
      open = o;
      pools.push(...(await checkPools(o.host, s.name, s.datasets.map((d) => poolOf(d.name)), deps.now, deps.signal)));
    } catch (err) {
      errors.push(`${s.name}: ${toBackupError(err).message}`);
    } finally {
      await open?.close();
    }
  }
  const model = buildStatus({ sources: [], rows: [], pools, live: [], nextRuns: new Map(), now: deps.now().getTime() });
  model.problems.push(...errors);
  model.healthy = model.problems.length === 0;
  deps.stdout.write(json ? JSON.stringify({ pools: model.pools, problems: model.problems }, null, 2) + "\n" : statusText(model));
  return model.healthy ? EXIT.OK : EXIT.FAILED;
}
