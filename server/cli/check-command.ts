// `bzman check`: the config is valid (main.ts has loaded it), then every source is preflighted:
// reachable with the pinned host key, its zfs (or guard) answers, the datasets exist, the
// backup pool exists and is ONLINE, and there is room for the estimated increment.

import { receiveProperties } from "../core/receive-properties.ts";
import type { Config, SourceConfig } from "../config/schema.ts";
import { isConflict } from "../core/conflicts.ts";
import { poolOf } from "../core/naming.ts";
import { inspectSource } from "../engine/run-source.ts";
import { newSourceMemo, readMarks, unsupportedWarning } from "../engine/unchanged-pass.ts";
import { toBackupError } from "../errors.ts";
import type { Capabilities } from "../zfs/capabilities.ts";
import type { ZfsHost } from "../zfs/zfs-host.ts";
import { bytes } from "./format.ts";
import { EXIT, type CliDeps } from "./deps.ts";
import { jobFor } from "./job.ts";
import { selectSources } from "./select.ts";

function capsLine(c: Capabilities): string {
  const names = Object.entries(c)
    .filter(([, v]) => v === true)
    .map(([k]) => k);
  if (c.streamFlags.length > 0) names.push(`send ${c.streamFlags.join(" ")}`);
  return names.join(", ") || "none beyond the basics";
}

/** What `skip_unchanged` can do on this source: the cheap query asked once, as a pass asks it. */
async function skipLine(remote: ZfsHost, s: SourceConfig, signal?: AbortSignal): Promise<string> {
  const memo = newSourceMemo();
  const r = await readMarks(
    remote,
    s.datasets.map((d) => d.name),
    memo,
    signal,
  );
  if (!("marks" in r)) return `note    ${unsupportedWarning(s.name, r.unsupported)}`;
  return memo.columns === "changed"
    ? "ok      skip_unchanged: the source reports written and snapshots_changed (an idle pass reuses its listing)"
    : "note    skip_unchanged: the source reports written but not snapshots_changed (OpenZFS before 2.2): idle datasets get no new snapshot, but every pass lists them";
}

/** Preflights the selected sources; exit 0 iff every check passed. */
export async function checkCommand(config: Config, selector: string | undefined, deps: CliDeps): Promise<number> {
  const selected = selectSources(config, selector);
  if (typeof selected === "string") {
    deps.stderr.write(`bzman check: ${selected}\n`);
    return EXIT.USAGE;
  }
  const out = (s: string): void => void deps.stdout.write(`${s}\n`);
  let problems = 0;
  const problem = (s: string): void => {
    problems++;
    out(`  PROBLEM ${s}`);
  };
  out(`config: valid, ${config.sources.length} source(s)`);
  if (deps.sshNative === false)
    out(
      "note    ssh2's native crypto binding is not built: transfers run 2-5x slower (npm rebuild ssh2, with a C++ compiler)",
    );
  else if (deps.sshNative) out("ok      ssh2's native crypto binding is built (AES-GCM at full speed)");
  for (const sel of selected) {
    const s = sel.source;
    out(`${s.name} (${s.user}@${s.host}:${s.port} -> ${s.target})`);
    const pool = poolOf(s.target);
    try {
      const health = await deps.local.poolHealth(pool, deps.signal);
      if (health === null) problem(`backup pool "${pool}" does not exist`);
      else if (health !== "ONLINE") problem(`backup pool "${pool}" is ${health}`);
      else out(`  ok      backup pool ${pool} is ONLINE`);
    } catch (err) {
      problem(`backup pool "${pool}": ${toBackupError(err).message}`);
    }
    if (s.receive.exclude.length > 0 || s.receive.set.length > 0) {
      try {
        const caps = await deps.local.capabilities(deps.signal);
        const plan = receiveProperties("filesystem", s.receive, {
          set: caps.receiveProperties,
          exclude: caps.receiveExclude,
          volmode: caps.volmode,
        });
        if ("unsupported" in plan)
          problem(
            `${plan.unsupported}: every receive of ${s.name} would fail; remove it from the config for this backup host`,
          );
        else out(`  ok      the backup host's zfs applies receive_exclude and receive_set`);
      } catch (err) {
        problem(`the backup host's zfs: ${toBackupError(err).message}`);
      }
    }
    let open: { close(): Promise<void> } | undefined;
    try {
      const inspection = await inspectSource(jobFor(sel, deps.now), {
        connect: async () => {
          const o = await deps.connect(s, deps.signal);
          open = o;
          return o.host;
        },
        local: deps.local,
        now: deps.now,
        signal: deps.signal,
      });
      out(`  ok      reachable, host key matches, zfs answers (${capsLine(inspection.remoteCaps)})`);
      if (inspection.remoteCaps.resume && (await deps.local.capabilities(deps.signal)).resume) {
        if (await inspection.remote.resumeAllowed(deps.signal))
          out("  ok      interrupted transfers resume (the guard admits zfs send -t)");
        else
          out(
            `  note    the guard on ${s.name} refuses zfs send -t: an interrupted transfer is sent again from its start (install-source.sh enables resume unless --no-resume)`,
          );
      }
      let estimate: number | null = 0;
      for (const dp of inspection.plan.datasets) {
        const d = dp.decision;
        if (d.kind === "source-missing") problem(`dataset ${dp.sourceDataset} does not exist on ${s.name}`);
        else if (isConflict(d)) problem(`dataset ${dp.sourceDataset}: ${d.kind}`);
        if (d.kind !== "transfer" || estimate === null) continue;
        for (const step of d.steps) {
          const e = await inspection.remote.estimateSend(step, deps.signal);
          estimate = e === null || estimate === null ? null : estimate + e;
        }
      }
      const found = inspection.plan.datasets.filter((d) => d.decision.kind !== "source-missing").length;
      out(`  ok      ${found} dataset(s) found`);
      for (const x of inspection.plan.excluded)
        out(`  note    ${x.sourceDataset} is excluded: ${x.reason}${x.hasBackup ? " (its backup is kept)" : ""}`);
      if (inspection.selectUnavailable) out(`  note    ${inspection.selectUnavailable}`);
      if (s.skipUnchanged) out(`  ${await skipLine(inspection.remote, s, deps.signal)}`);
      if (estimate === null)
        out(`  note    ${s.name} cannot estimate stream sizes (no zfs send -nP); free space not compared`);
      else {
        const avail = await deps.local.available(pool, deps.signal);
        if (estimate > avail)
          problem(`the next pass needs about ${bytes(estimate)} but ${pool} has ${bytes(avail)} available`);
        else out(`  ok      next pass about ${bytes(estimate)}, ${bytes(avail)} available in ${pool}`);
      }
    } catch (err) {
      const e = toBackupError(err);
      problem(`[${e.code}] ${e.message}`);
    } finally {
      await open?.close();
    }
    if (!s.restoreIdentity)
      out(`  note    no restore key (restore_identity): bzman restore and failback cannot write to ${s.name}`);
    else {
      // The restore key must log in and list, and must not be the everyday key's guard mode.
      let r: { host: ZfsHost; close(): Promise<void> } | undefined;
      try {
        r = await deps.connect(s, deps.signal, { restore: true });
        await r.host.capabilities(deps.signal);
        if (!(await r.host.refusesSend(s.datasets[0]!.name, deps.signal)))
          problem(
            `the restore key of ${s.name} may run zfs send: its authorized_keys line lacks the guard's --restore mode`,
          );
        else out(`  ok      restore key logs in (${s.restoreUser}), its guard is in --restore mode`);
      } catch (err) {
        const e = toBackupError(err);
        problem(`restore key: [${e.code}] ${e.message}`);
      } finally {
        await r?.close();
      }
    }
  }
  out(problems === 0 ? "all checks passed" : `${problems} problem(s)`);
  return problems === 0 ? EXIT.OK : EXIT.FAILED;
}
