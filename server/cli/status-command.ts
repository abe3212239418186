// `bzman status [--json | --check]`: what GET /status shows. It asks the running daemon
// (http.listen, with the token when one is configured); without a daemon it builds the same model
// from the history and the local pools. `--check` turns that model into a Nagios plugin's line
// and exit code (core/check.ts). `bzman monitor`: pool health and capacity here and on every source.

import { readFile } from "node:fs/promises";
import type { Config } from "../config/schema.ts";
import { poolOf } from "../core/naming.ts";
import { checkVerdict, unknownVerdict } from "../core/check.ts";
import { buildStatus, type PoolStatus, type StatusModel } from "../core/status.ts";
import { checkPools } from "../engine/pools.ts";
import { toBackupError } from "../errors.ts";
import { parseListen } from "../http/status-app.ts";
import { statusText } from "../http/status-text.ts";
import { EXIT, openServices, type CliDeps, type Services } from "./deps.ts";

async function fromDaemon(config: Config): Promise<StatusModel | null> {
  const at = config.http.listen ? parseListen(config.http.listen) : null;
  if (!at || typeof at === "string") return null;
  const token = config.http.tokenFile ? (await readFile(config.http.tokenFile, "utf8").catch(() => "")).trim() : "";
  const host = at.host.includes(":") ? `[${at.host}]` : at.host === "0.0.0.0" ? "127.0.0.1" : at.host;
  try {
    const res = await fetch(`http://${host}:${at.port}/status?format=json`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(3000),
    });
    return res.ok ? ((await res.json()) as StatusModel) : null;
  } catch {
    return null;
  }
}

/**
 * The status model built without a daemon: from the history and the journal in `services`, and the
 * local pools as they are now. Nothing runs and no next run is known.
 */
export async function statusFromHistory(config: Config, services: Services, deps: CliDeps): Promise<StatusModel> {
  const pools = await checkPools(
    deps.local,
    "local",
    config.sources.map((s) => poolOf(s.target)),
    deps.now,
    deps.signal,
  );
  return buildStatus({
    sources: config.sources,
    rows: services.store.statusRows(),
    promotions: [...services.journal.promotions().values()],
    operations: services.journal.operations(),
    pools,
    live: [],
    nextRuns: new Map(),
    now: deps.now().getTime(),
    capacityLimit: config.capacityLimit,
  });
}

/**
 * The status model: the running daemon's, or else built from the history and the local pools
 * (`fromHistory`). A string when the history cannot be used; `warn` gets what the store says.
 */
export async function statusModel(
  config: Config,
  deps: CliDeps,
  warn: (line: string) => void,
): Promise<{ model: StatusModel; fromHistory: boolean } | string> {
  const live = await fromDaemon(config);
  if (live) return { model: live, fromHistory: false };
  // Read-only: never migrates, writes, moves or creates the history.
  const services = await openServices(config, "bzman status", warn, { readOnly: true });
  if (typeof services === "string") return services;
  try {
    return { model: await statusFromHistory(config, services, deps), fromHistory: true };
  } finally {
    services.store.close();
  }
}

/** Prints the status; exit 0 when all is well, 1 when not. */
export async function statusCommand(config: Config, json: boolean, deps: CliDeps): Promise<number> {
  const r = await statusModel(config, deps, (l) => deps.stderr.write(`bzman: warning: ${l}\n`));
  if (typeof r === "string") {
    deps.stderr.write(`bzman status: ${r}\n`);
    return EXIT.USAGE;
  }
  if (r.fromHistory && !json)
    deps.stderr.write("(no daemon answered on http.listen; this is built from the history; next runs unknown)\n");
  deps.stdout.write(json ? `${JSON.stringify(r.model, null, 2)}\n` : statusText(r.model));
  return r.model.healthy ? EXIT.OK : EXIT.FAILED;
}

/**
 * `bzman status --check`: the Nagios/Icinga plugin. One line on stdout, `BZMAN <STATE> - … |
 * perfdata`, and the plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also when the
 * status cannot be built, or the state file was unreadable).
 */
export async function statusCheckCommand(config: Config, deps: CliDeps): Promise<number> {
  const trouble: string[] = [];
  const r = await statusModel(config, deps, (l) => trouble.push(l));
  const verdict =
    typeof r === "string"
      ? unknownVerdict(r)
      : trouble.length
        ? unknownVerdict(trouble.join("; "))
        : checkVerdict(r.model, { capacityLimit: config.capacityLimit });
  deps.stdout.write(`${verdict.line}\n`);
  return verdict.code;
}

/** Checks the backup pools and every source's pools; exit 0 when all are ONLINE and below the limit. */
export async function monitorCommand(config: Config, json: boolean, deps: CliDeps): Promise<number> {
  const pools: PoolStatus[] = await checkPools(
    deps.local,
    "local",
    config.sources.map((s) => poolOf(s.target)),
    deps.now,
    deps.signal,
  );
  const errors: string[] = [];
  for (const s of config.sources) {
    let open: { close(): Promise<void> } | undefined;
    try {
      const o = await deps.connect(s, deps.signal);
      open = o;
      pools.push(
        ...(await checkPools(
          o.host,
          s.name,
          s.datasets.map((d) => poolOf(d.name)),
          deps.now,
          deps.signal,
        )),
      );
    } catch (err) {
      errors.push(`${s.name}: ${toBackupError(err).message}`);
    } finally {
      await open?.close();
    }
  }
  const model = buildStatus({ sources: [], rows: [], pools, live: [], nextRuns: new Map(), now: deps.now().getTime() });
  model.problems.push(...errors);
  model.healthy = model.problems.length === 0;
  deps.stdout.write(
    json ? `${JSON.stringify({ pools: model.pools, problems: model.problems }, null, 2)}\n` : statusText(model),
  );
  return model.healthy ? EXIT.OK : EXIT.FAILED;
}
