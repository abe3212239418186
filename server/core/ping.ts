// The dead man's switch, decided: which URL a pass reports to (healthchecks.io style: the URL
// for a success, `<url>/fail` for a failure, `<url>/start` at the start) and what a POST says.
// A pass stopped on purpose or skipped reports nothing. Pure.

import { passResult } from "./counters.ts";
import type { RunRecord } from "./model.ts";

/** What a ping reports. */
export type PingKind = "start" | "success" | "fail";

/** The ping a finished pass sends: success, fail, or none (aborted or skipped passes). */
export function pingKindOf(record: RunRecord): "success" | "fail" | null {
  const r = passResult(record);
  return r === "ok" ? "success" : r === "failed" || r === "conflict" ? "fail" : null;
}

/** The URL for `kind`: `/fail` or `/start` appended to the path of `url`, its query kept. */
export function pingTarget(url: string, kind: PingKind): string {
  if (kind === "success") return url;
  const u = new URL(url);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/${kind}`;
  return u.toString();
}

/** At most this many characters of pass summary in a POST (healthchecks.io keeps 100 kB). */
export const PING_BODY_LIMIT = 10_000;

/** The text a POST ping carries: the pass and one line per dataset, bounded. */
export function pingBody(record: RunRecord): string {
  const lines = [
    `bzman pass of ${record.source} (${record.runId}): ${passResult(record)}, ${record.startedAt} .. ${record.finishedAt}`,
  ];
  if (record.error) lines.push(`error ${record.error.code}: ${record.error.message}`);
  for (const d of record.datasets) {
    const why = d.error
      ? ` ${d.error.code}: ${d.error.message}`
      : d.conflict
        ? ` ${d.conflict}: ${d.message ?? ""}`
        : "";
    lines.push(`${d.result} ${d.source}:${d.dataset} ${d.mode} ${d.bytes} bytes${why}`);
  }
  const text = `${lines.join("\n")}\n`;
  return text.length <= PING_BODY_LIMIT ? text : `${text.slice(0, PING_BODY_LIMIT - 20)}\n… (cut)\n`;
}
