// Reading the config: YAML → schema → normalize → cross-field rules. Returns every problem with
// its path in the file ("sources[1].datasets[0].name: …"); never a half-valid config.

import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { parseDocument } from "yaml";
import type { z } from "zod";
import {
  LIVE_CONTAINER,
  RESTORE_CONTAINER,
  datasetNameProblem,
  instanceFromHostname,
  isWithin,
  poolOf,
} from "../core/naming.ts";
import { configFileSchema, normalize, splitSetting, type Config, type ConfigFile } from "./schema.ts";
import { excludeProblem } from "./exclude.ts";
import { safetyPropertyProblem } from "../core/receive-properties.ts";

/** The outcome of reading a config. */
export type ConfigResult = { config: Config; warnings: string[] } | { errors: string[] };

/** Checks the caller brings (they need modules config/ must not import). */
export interface ConfigChecks {
  /** Why a cron expression cannot be scheduled, or null (schedule/cron.ts cronProblem). */
  cronProblem?: (expr: string) => string | null;
}

/** Every cron expression of the file, with its path. */
function cronKeys(file: ConfigFile): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const add = (path: string, v: string | undefined): void => void (v !== undefined && out.push([path, v]));
  add("defaults.schedule", file.defaults.schedule);
  add("defaults.drill.schedule", file.defaults.drill?.schedule);
  file.sources.forEach((s, i) => {
    add(`sources[${i}].schedule`, s.schedule);
    add(`sources[${i}].drill.schedule`, s.drill?.schedule);
  });
  add("mail.report", file.mail?.report);
  add("scrub.schedule", file.scrub?.schedule);
  return out;
}

/** "sources[1].datasets[0].name" from a zod path. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return (
    path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("") ||
    "(top level)"
  );
}

/** The value at `path` in the parsed document (undefined when absent). */
function valueAt(data: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v: unknown = data;
  for (const p of path) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

function zodMessages(issues: z.core.$ZodIssue[], data: unknown): string[] {
  return issues.map((i) => {
    if (i.code === "unrecognized_keys")
      return `${formatPath(i.path)}: unknown key${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}`;
    if (i.code === "invalid_type" && valueAt(data, i.path) === undefined)
      return `${formatPath(i.path)}: missing (required)`;
    return `${formatPath(i.path)}: ${i.message}`;
  });
}

/**
 * `receive_exclude` and `receive_set` of `defaults` or a source (`at`): bzman's safety properties
 * are not the config's to change, and one property cannot be both set and excluded.
 */
function receiveErrors(
  at: string,
  o: { receive_exclude?: string[] | undefined; receive_set?: string[] | undefined },
): string[] {
  const errors: string[] = [];
  const set = (o.receive_set ?? []).map(splitSetting);
  (o.receive_exclude ?? []).forEach((p, k) => {
    const problem = safetyPropertyProblem(p);
    if (problem) errors.push(`${at}.receive_exclude[${k}]: ${problem}`);
    else if (set.some(([name]) => name === p))
      errors.push(`${at}.receive_exclude[${k}]: "${p}" is also in receive_set; a property is either set or excluded`);
  });
  set.forEach(([name], k) => {
    const problem = safetyPropertyProblem(name);
    if (problem) errors.push(`${at}.receive_set[${k}]: ${problem}`);
    else if (set.findIndex(([n]) => n === name) < k) errors.push(`${at}.receive_set[${k}]: "${name}" is set twice`);
  });
  return errors;
}

/** Cross-field rules the schema cannot express. */
function ruleErrors(file: ConfigFile): string[] {
  const errors: string[] = [];
  errors.push(...receiveErrors("defaults", file.defaults));
  const listen = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(file.http.listen);
  if (file.http.listen !== "" && !listen)
    errors.push(`http.listen: "${file.http.listen}" is not host:port (or "" for no HTTP)`);
  const host = listen?.[1] ?? listen?.[2];
  if (host && !/^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(host) && !file.http.token_file) {
    errors.push(
      `http.listen: "${file.http.listen}" is beyond loopback; set http.token_file so that requests need a bearer token`,
    );
  }
  const seen = new Map<string, number>();
  file.sources.forEach((s, i) => {
    const at = `sources[${i}]`;
    const prev = seen.get(s.name);
    if (prev !== undefined) errors.push(`${at}.name: "${s.name}" is also the name of sources[${prev}]`);
    else seen.set(s.name, i);
    const tp = datasetNameProblem(s.target);
    if (tp) errors.push(`${at}.target: ${tp}`);
    if (!s.target.includes("/"))
      errors.push(`${at}.target: must be a dataset below the backup pool's root, like "${s.target}/${s.name}"`);
    for (const reserved of [RESTORE_CONTAINER, LIVE_CONTAINER]) {
      const c = `${poolOf(s.target)}/${reserved}`;
      if (isWithin(s.target, c))
        errors.push(
          `${at}.target: "${s.target}" lies in ${c}, which bzman keeps for its restores and promoted datasets`,
        );
    }
    if (s.restore_identity !== undefined && s.restore_identity === s.identity) {
      errors.push(
        `${at}.restore_identity: is the replication key (identity); the restore key must be a second key, installed with the guard's --restore mode`,
      );
    }
    errors.push(...receiveErrors(at, s));
    s.datasets.forEach((d, j) => {
      const p = datasetNameProblem(d.name);
      if (p) errors.push(`${at}.datasets[${j}].name: ${p}`);
      if (d.exclude.length > 0 && !d.recursive) {
        errors.push(
          `${at}.datasets[${j}].exclude: "${d.name}" is not recursive, so nothing below it is backed up to exclude; set recursive: true or remove exclude`,
        );
      }
      d.exclude.forEach((pattern, k) => {
        const problem = excludeProblem(pattern);
        if (problem) errors.push(`${at}.datasets[${j}].exclude[${k}]: ${problem}`);
      });
      s.datasets.forEach((o, k) => {
        if (k === j) return;
        if (o.name === d.name && k < j)
          errors.push(`${at}.datasets[${j}].name: "${d.name}" is listed twice (also datasets[${k}])`);
        else if (o.recursive && o.name !== d.name && isWithin(d.name, o.name)) {
          errors.push(
            `${at}.datasets[${j}].name: "${d.name}" is already covered by the recursive datasets[${k}] "${o.name}"`,
          );
        }
      });
    });
    file.sources.forEach((o, k) => {
      if (k >= i) return;
      if (isWithin(s.target, o.target) || isWithin(o.target, s.target)) {
        errors.push(
          `${at}.target: "${s.target}" overlaps the target "${o.target}" of sources[${k}] (${o.name}); each source needs its own target root`,
        );
      }
    });
  });
  return errors;
}

/** Sources whose passes would ping one check: one source's success would hide another's failure. */
function sharedPingWarnings(file: ConfigFile, config: Config): string[] {
  const first = new Map<string, number>();
  const out: string[] = [];
  for (const [i, s] of config.sources.entries()) {
    if (!s.ping) continue;
    const j = first.get(s.ping.url);
    if (j === undefined) {
      first.set(s.ping.url, i);
      continue;
    }
    const at = file.sources[i]!.ping_url ? `sources[${i}].ping_url` : "defaults.ping_url";
    out.push(
      `${at}: ${s.name} pings the same URL as ${config.sources[j]!.name}, so a success of one hides a failure of the other; give each source its own check (e.g. {source} in the URL)`,
    );
  }
  return out;
}

/**
 * The document without its top-level `x-…` keys: a place for anchors that merge keys refer to
 * (`x-web: &web {…}`, then `<<: *web` in a source), as in Compose files. Nothing reads them.
 */
function withoutExtensions(data: unknown): unknown {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return data;
  return Object.fromEntries(Object.entries(data).filter(([k]) => !k.startsWith("x-")));
}

/**
 * Validates config text. `origin` names the file in YAML syntax errors; `host` is the host name
 * the default `instance` comes from (this machine's by default); `checks` adds the caller's.
 */
export function parseConfig(
  text: string,
  origin = "config",
  host = hostname(),
  checks: ConfigChecks = {},
): ConfigResult {
  // `merge`: YAML merge keys (`<<: *web`) fill a mapping from an anchored one.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, merge: true });
  if (doc.errors.length > 0) return { errors: doc.errors.map((e) => `${origin}: ${e.message.split("\n")[0]}`) };
  const data = withoutExtensions(doc.toJS() ?? {});
  const parsed = configFileSchema.safeParse(data);
  if (!parsed.success) return { errors: zodMessages(parsed.error.issues, data) };
  const errors = ruleErrors(parsed.data);
  if (checks.cronProblem) {
    for (const [path, expr] of cronKeys(parsed.data)) {
      const p = checks.cronProblem(expr);
      if (p) errors.push(`${path}: "${expr}" is ${p}`);
    }
  }
  const instance = parsed.data.instance ?? instanceFromHostname(host);
  if (instance === null)
    errors.push(
      `instance: not set, and the host name "${host}" gives no valid instance name; set instance: (lower-case letters, digits, _ and -)`,
    );
  if (errors.length > 0 || instance === null) return { errors };
  const warnings = parsed.data.sources.flatMap((s, i) =>
    s.host_key
      ? []
      : [`sources[${i}].host_key: not set; bzman will refuse to connect to ${s.name} until its host key is pinned`],
  );
  const config = normalize(parsed.data, instance);
  warnings.push(...sharedPingWarnings(parsed.data, config));
  return { config, warnings };
}

/** Reads and validates a config file (see {@link parseConfig} for `checks`). */
export async function readConfig(path: string, checks: ConfigChecks = {}): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    return { errors: [`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`] };
  }
  const r = parseConfig(text, path, hostname(), checks);
  return "errors" in r ? { errors: r.errors.map((e) => (e.startsWith(path) ? e : `${path}: ${e}`)) } : r;
}
