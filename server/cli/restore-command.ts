// `bzman restore`: a backed-up snapshot back onto a source (or another configured host) under a
// new name, a writable clone on the backup host (--local), and removing those clones (--cleanup).
// Every restore is recorded in the operations journal. Nothing is overwritten without --force
// and a confirmation, and even then the dataset in the way is renamed aside, not destroyed.

import type { Config, SourceConfig } from "../config/schema.ts";
import type { DatasetType, Snapshot } from "../core/model.ts";
import { RESTORE_CONTAINER, poolOf, snapshotPath, sourceFor, targetFor } from "../core/naming.ts";
import { backupNameProblem, clonePath, pickSnapshot, restoreDestination } from "../core/restore.ts";
import { RESTORE_PROPERTY, cloneSnapshot, destroyClone, listClones, restoreSnapshot } from "../engine/restore.ts";
import { recordedError, toBackupError } from "../errors.ts";
import { confirm, type InteractiveDeps } from "./confirm.ts";
import { parseSpec } from "./dataset-spec.ts";
import { EXIT, exitWith, openServices, type CliDeps, type Services, type OpenSource } from "./deps.ts";
import { bytes, ms, rate } from "./format.ts";
import { recordOperation } from "./operations.ts";
import { createProgress } from "./progress.ts";

/** Options of `bzman restore`. */
export interface RestoreOptions {
  to?: string;
  as?: string;
  dryRun?: boolean;
  force?: boolean;
  yes?: boolean;
  mount?: boolean;
  local?: boolean;
  mountpoint?: string;
  cleanup?: boolean;
}

/** What restore needs beyond the common dependencies. */
export type RestoreDeps = InteractiveDeps;

/** Runs `bzman restore`; resolves with the exit code. */
export async function restoreCommand(
  config: Config,
  spec: string | undefined,
  opts: RestoreOptions,
  deps: RestoreDeps,
): Promise<number> {
  const usage = (msg: string): number => exitWith(deps.stderr, `bzman restore: ${msg}\n`, EXIT.USAGE);
  if (opts.cleanup) {
    if (opts.local || opts.to || opts.as) return usage("--cleanup takes only an optional clone name");
  } else if (!spec) return usage("which backup? SOURCE:DATASET[@SNAPSHOT] (or --local, or --cleanup)");
  if (opts.local && !opts.as) return usage("--local needs --as NAME (the clone's name)");
  if (opts.local && opts.to) return usage("--local restores on this host; --to names another host");
  if (!opts.local && opts.mountpoint) return usage("--mountpoint is for --local clones");
  const services = await openServices(config, "bzman restore", (l) => deps.stderr.write(`bzman: warning: ${l}\n`));
  if (typeof services === "string") return usage(services);
  if (opts.cleanup) return cleanup(config, spec, opts, deps, services);
  if (opts.local) return cloneLocal(config, spec!, opts, deps, services);
  return restoreRemote(config, spec!, opts, deps, services);
}

/** The backup dataset and snapshot a spec names: "SOURCE:DATASET[@SNAP]" or a local "DATASET@SNAP". */
async function resolveBackup(
  config: Config,
  spec: string,
  deps: CliDeps,
): Promise<{ source: SourceConfig; dataset: string; backup: string; snapshot: Snapshot; type: DatasetType } | string> {
  let source: SourceConfig | undefined;
  let dataset: string;
  let snap: string | undefined;
  if (spec.includes(":")) {
    const p = parseSpec(config, spec);
    if (typeof p === "string") return p;
    ({ source, dataset } = p);
    snap = p.snapshot;
  } else {
    const [backupPath, s] = spec.split("@");
    source = config.sources.find((x) => sourceFor(x.target, backupPath!) !== null);
    if (!source)
      return `${backupPath} is not inside any source's target (${config.sources.map((x) => x.target).join(", ")})`;
    dataset = sourceFor(source.target, backupPath!)!;
    snap = s;
  }
  const backup = targetFor(source.target, dataset);
  const { listing } = await deps.local.list([backup], { signal: deps.signal });
  const ds = listing.get(backup);
  if (!ds) return `local:${backup} (the backup of ${source.name}:${dataset}) does not exist`;
  const snapshot = pickSnapshot(ds, snap);
  if (typeof snapshot === "string") return snapshot;
  return { source, dataset, backup, snapshot, type: ds.type };
}

async function restoreRemote(
  config: Config,
  spec: string,
  opts: RestoreOptions,
  deps: RestoreDeps,
  services: Services,
): Promise<number> {
  const startedAt = deps.now().toISOString();
  const r = await resolveBackup(config, spec, deps).catch((e: unknown) => toBackupError(e).message);
  if (typeof r === "string") return exitWith(deps.stderr, `bzman restore: ${r}\n`, EXIT.FAILED);
  let host = r.source;
  let destination: string;
  if (opts.to) {
    const [name, ds] = [
      opts.to.split(":")[0]!,
      opts.to.includes(":") ? opts.to.slice(opts.to.indexOf(":") + 1) : undefined,
    ];
    const h = config.sources.find((s) => s.name === name);
    if (!h)
      return exitWith(
        deps.stderr,
        `bzman restore: --to ${opts.to}: no source named "${name}" in the config\n`,
        EXIT.USAGE,
      );
    if (ds && opts.as)
      return exitWith(
        deps.stderr,
        "bzman restore: give the new name with --to HOST:DATASET or with --as, not both\n",
        EXIT.USAGE,
      );
    host = h;
    destination = ds ?? restoreDestination(r.dataset, opts.as, deps.now().getTime());
  } else destination = restoreDestination(r.dataset, opts.as, deps.now().getTime());
  const what = `local:${snapshotPath(r.backup, r.snapshot.name)} (GUID ${r.snapshot.guid})`;
  const subject = `${r.source.name}:${r.dataset}`;
  deps.stdout.write(
    `restore ${what}\n     to ${host.name}:${destination} (${host.restoreUser}@${host.host}, restore key)\n`,
  );

  let open: OpenSource;
  try {
    open = await deps.connect(host, deps.signal, { restore: true });
  } catch (err) {
    const e = toBackupError(err);
    deps.stderr.write(`bzman restore: ${e.message}\n`);
    if (!opts.dryRun)
      recordOperation(services, deps, {
        kind: "restore",
        subject,
        source: r.source.name,
        dataset: r.dataset,
        startedAt,
        result: "failed",
        message: e.message,
        error: recordedError(e, deps.now()),
      });
    return EXIT.FAILED;
  }
  const progress = createProgress(deps.stderr);
  let aside: string | undefined;
  try {
    const exists = (await open.host.list([destination], { signal: deps.signal })).listing.has(destination);
    if (opts.dryRun) {
      deps.stdout.write(
        exists
          ? opts.force
            ? `dry run: ${destination} exists; it would be renamed aside (kept) and the snapshot received in its place\n`
            : `dry run: ${destination} exists; the restore would be refused (--force renames it aside)\n`
          : `dry run: ${destination} does not exist; a full stream of ${r.snapshot.name} would be received there${opts.mount ? " and mounted" : " (unmounted)"}\n`,
      );
      return exists && !opts.force ? EXIT.FAILED : EXIT.OK;
    }
    if (
      exists &&
      opts.force &&
      !(await confirm(
        deps,
        `${host.name}:${destination} exists. It will be renamed aside (kept, not destroyed) and the backup received in its place.`,
        destination,
        opts.yes ?? false,
      ))
    ) {
      deps.stderr.write("bzman restore: not confirmed; nothing was changed\n");
      return EXIT.FAILED;
    }
    const t0 = deps.now().getTime();
    const res = await restoreSnapshot(
      {
        backupDataset: r.backup,
        snapshot: r.snapshot,
        type: r.type,
        destination,
        force: opts.force ?? false,
        mount: opts.mount ?? false,
        raw: r.source.sendRaw,
        nowMs: t0,
      },
      { from: deps.local, to: open.host },
      {
        signal: deps.signal,
        onProgress: (p) => progress.update("restore", `${subject} -> ${host.name}:${destination}`, p.bytes),
        onAside: (a) => (aside = `${host.name}:${a}`),
      },
    );
    progress.stop();
    const took = deps.now().getTime() - t0;
    const message = `restored ${snapshotPath(r.backup, r.snapshot.name)} to ${host.name}:${destination}: ${bytes(res.bytes)} in ${ms(took)} (${rate(res.bytes, took)})${res.aside ? `; the dataset that was there is kept as ${res.aside}` : ""}${res.asideStillMounted ? ` (still mounted where it was: the restore key may not unmount there; as root on ${host.name}, zfs unmount ${res.aside} and zfs mount ${res.aside})` : ""}`;
    deps.stdout.write(
      `OK ${message}\n${!opts.mount ? `It is not mounted: zfs mount ${destination} on ${host.name} when you want it.\n` : res.notMounted ? `It is not mounted (the restore key may not mount on ${host.name}): as root there, zfs mount ${destination}\n` : ""}`,
    );
    recordOperation(services, deps, {
      kind: "restore",
      subject,
      source: r.source.name,
      dataset: r.dataset,
      startedAt,
      result: "ok",
      message,
      bytes: res.bytes,
      details: {
        snapshot: r.snapshot.name,
        guid: r.snapshot.guid,
        to: `${host.name}:${destination}`,
        ms: took,
        ...(aside ? { aside } : {}),
      },
    });
    return EXIT.OK;
  } catch (err) {
    progress.stop();
    const e = toBackupError(err);
    const hint =
      e.code === "GUARD_REJECTED"
        ? `The restore key's guard on ${host.name} lets zfs receive through only below its --root options; pick a destination there with --as (or --to HOST:DATASET).\n`
        : "";
    deps.stderr.write(
      `bzman restore: FAILED [${e.code}] ${e.message}\n${
        e.detail
          ? e.detail
              .split("\n")
              .slice(-5)
              .map((l) => `  ${l}\n`)
              .join("")
          : ""
      }${hint}`,
    );
    recordOperation(services, deps, {
      kind: "restore",
      subject,
      source: r.source.name,
      dataset: r.dataset,
      startedAt,
      result: "failed",
      message: e.message,
      error: recordedError(e, deps.now()),
      details: { to: `${host.name}:${destination}`, ...(aside ? { aside } : {}) },
    });
    return EXIT.FAILED;
  } finally {
    await open.close();
  }
}

async function cloneLocal(
  config: Config,
  spec: string,
  opts: RestoreOptions,
  deps: RestoreDeps,
  services: Services,
): Promise<number> {
  const startedAt = deps.now().toISOString();
  const r = await resolveBackup(config, spec, deps).catch((e: unknown) => toBackupError(e).message);
  if (typeof r === "string") return exitWith(deps.stderr, `bzman restore: ${r}\n`, EXIT.FAILED);
  const pool = poolOf(r.backup);
  const clone = clonePath(pool, opts.as!);
  const problem = backupNameProblem(
    clone,
    pool,
    config.sources.map((s) => s.target),
  );
  if (problem) return exitWith(deps.stderr, `bzman restore: --as: ${problem}\n`, EXIT.USAGE);
  const subject = `${r.source.name}:${r.dataset}`;
  deps.stdout.write(
    `clone local:${snapshotPath(r.backup, r.snapshot.name)} as ${clone}${opts.mountpoint ? ` at ${opts.mountpoint}` : ""} (writable, nothing executable)\n`,
  );
  if (opts.dryRun) return exitWith(deps.stdout, "dry run: nothing was changed\n", EXIT.OK);
  try {
    await cloneSnapshot(
      deps.local,
      {
        dataset: r.backup,
        snapshot: r.snapshot.name,
        clone,
        ...(opts.mountpoint ? { mountpoint: opts.mountpoint } : {}),
      },
      deps.signal,
    );
    const mp = (await deps.local.properties("mountpoint", [clone], deps.signal)).get(clone)?.mountpoint ?? "?";
    const message = `cloned ${snapshotPath(r.backup, r.snapshot.name)} as ${clone}, mounted at ${mp}`;
    deps.stdout.write(`OK ${message}\nCopy what you need, then: bzman restore --cleanup ${clone}\n`);
    recordOperation(services, deps, {
      kind: "clone",
      subject,
      source: r.source.name,
      dataset: r.dataset,
      startedAt,
      result: "ok",
      message,
      details: { snapshot: r.snapshot.name, clone, mountpoint: mp },
    });
    return EXIT.OK;
  } catch (err) {
    const e = toBackupError(err);
    deps.stderr.write(`bzman restore: FAILED [${e.code}] ${e.message}\n`);
    recordOperation(services, deps, {
      kind: "clone",
      subject,
      source: r.source.name,
      dataset: r.dataset,
      startedAt,
      result: "failed",
      message: e.message,
      error: recordedError(e, deps.now()),
    });
    return EXIT.FAILED;
  }
}

async function cleanup(
  config: Config,
  name: string | undefined,
  opts: RestoreOptions,
  deps: RestoreDeps,
  services: Services,
): Promise<number> {
  const startedAt = deps.now().toISOString();
  const pools = config.sources.map((s) => poolOf(s.target));
  let clones: Map<string, string>;
  try {
    clones = await listClones(deps.local, pools, deps.signal);
  } catch (err) {
    return exitWith(deps.stderr, `bzman restore --cleanup: ${toBackupError(err).message}\n`, EXIT.FAILED);
  }
  const chosen = name ? [name] : [...clones.keys()];
  if (chosen.length === 0) return exitWith(deps.stdout, "no clones to remove\n", EXIT.OK);
  let failed = 0;
  for (const c of chosen) {
    if (opts.dryRun && !clones.has(c)) {
      // The dry run refuses what the real run refuses.
      failed++;
      deps.stderr.write(
        `bzman restore --cleanup: ${c} is not a clone bzman made (below <pool>/${RESTORE_CONTAINER}, with ${RESTORE_PROPERTY} set on it); it would be left alone\n`,
      );
      continue;
    }
    if (opts.dryRun) {
      deps.stdout.write(`dry run: would destroy ${c} (a clone of ${clones.get(c) ?? "?"})\n`);
      continue;
    }
    try {
      await destroyClone(deps.local, c, deps.signal);
      deps.stdout.write(`removed ${c} (a clone of ${clones.get(c) ?? "a backup snapshot"})\n`);
      recordOperation(services, deps, {
        kind: "cleanup",
        subject: c,
        startedAt,
        result: "ok",
        message: `removed the clone ${c}`,
      });
    } catch (err) {
      failed++;
      const e = toBackupError(err);
      deps.stderr.write(`bzman restore --cleanup: ${c}: ${e.message}\n`);
      recordOperation(services, deps, {
        kind: "cleanup",
        subject: c,
        startedAt,
        result: "failed",
        message: e.message,
        error: recordedError(e, deps.now()),
      });
    }
  }
  return failed ? EXIT.FAILED : EXIT.OK;
}
