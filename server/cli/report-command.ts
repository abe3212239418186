// `bzman report [--print | --send [ADDRESS]]`: the last 24 hours from the history, in the
// terminal (fitted to its width; exit 1 unless core's reportIsClean) or mailed now as the
// nightly report. Reads the history read-only; --send records only what was mailed.

import type { Config } from "../config/schema.ts";
import { buildReportFromTallies, reportIsClean } from "../core/summary.ts";
import { reportTextTable } from "../email/report-text.ts";
import type { Logger } from "../log.ts";
import { Notifier } from "./notify.ts";
import { EXIT, openServices, type CliDeps } from "./deps.ts";
import { statusFromHistory } from "./status-command.ts";

/** Prints or sends the report; resolves with the exit code. */
export async function reportCommand(
  config: Config,
  opts: { send?: string | boolean; width?: number },
  deps: CliDeps & { log: Logger },
): Promise<number> {
  const services = await openServices(config, "bzman report", (l) => deps.stderr.write(`bzman: warning: ${l}\n`), {
    readOnly: true,
  });
  if (typeof services === "string") {
    deps.stderr.write(`bzman report: ${services}\n`);
    return EXIT.USAGE;
  }
  const status = await statusFromHistory(config, services, deps);
  if (opts.send) {
    if (!config.mail) {
      deps.stderr.write("bzman report: the config has no mail: section\n");
      return EXIT.USAGE;
    }
    const notifier = new Notifier(config, services.store, deps.log, deps.now);
    try {
      const subject = await notifier.sendReport(status, typeof opts.send === "string" ? [opts.send] : undefined);
      deps.stdout.write(`sent: ${subject}\n`);
      return EXIT.OK;
    } catch (err) {
      deps.stderr.write(`bzman report: cannot send: ${(err as Error).message}\n`);
      return EXIT.FAILED;
    } finally {
      notifier.close();
    }
  }
  const width = opts.width ?? deps.stdout.columns ?? (Number(process.env.COLUMNS) || 100);
  const nowMs = deps.now().getTime();
  const report = buildReportFromTallies(status, await services.store.reportTallies(nowMs), nowMs);
  deps.stdout.write(reportTextTable(report, width));
  return reportIsClean(report) ? EXIT.OK : EXIT.FAILED;
}
