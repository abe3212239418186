// Helpers for the integration tier: whether this machine can run it (in CI a missing part fails
// the run; elsewhere the tests skip loudly), the bzman CLI as a real subprocess, real adapters
// for in-process passes, and a fingerprint of a pool to prove nothing changed.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { holdTagFor, instanceFromHostname } from "../../server/core/naming.ts";
import { missingPackages } from "../../server/sandbox/host-parts.ts";
import type { Rig } from "../../server/sandbox/rig.ts";
import { must } from "../../server/sandbox/zfs-pools.ts";
import { connectSource, type SourceEndpoint } from "../../server/ssh/connection.ts";
import { ThreadOffload } from "../../server/offload/thread-offload.ts";
import { LocalRunner } from "../../server/zfs/runner.ts";
import { ZfsHost } from "../../server/zfs/zfs-host.ts";
import type { PassDeps } from "../../server/engine/run-source.ts";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** The hold tag of a receiver on this machine with the default instance (from the host name). */
export const HOLD_TAG = holdTagFor(instanceFromHostname(hostname()) ?? "unnamed");

/** False when the integration tier can run here; a reason to skip when not (outside CI only). */
export function sandboxSkip(): string | false {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("root");
  if (!existsSync("/dev/fuse")) missing.push("/dev/fuse");
  missing.push(...missingPackages());
  if (missing.length === 0) return false;
  const why = `the integration tests need ${missing.join(", ")}`;
  if (process.env.CI) throw new Error(`${why}; CI must provide them (.ci/run installs the packages)`);
  process.stderr.write(`\n*** SKIPPING: ${why} (install them or run as root; in CI this fails) ***\n\n`);
  return why;
}

/** Runs the bzman CLI (server/main.ts through tsx) and collects its output. */
export function bzman(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", ...args], {
      cwd: REPO,
      env: { ...process.env, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Real adapters for an in-process pass against the rig's source. */
export function realPassDeps(
  rig: Rig,
  overrides: Partial<PassDeps> & {
    hostKey?: string;
    port?: number;
    windowBytes?: number;
    /** Streams through worker threads (server/offload), as `bzman` does; `port` points them elsewhere. */
    offload?: { port?: number };
  } = {},
): PassDeps & { close(): Promise<void> } {
  const conns: Array<{ close(): Promise<void> }> = [];
  const endpoint = (port: number): SourceEndpoint => ({
    name: rig.sourceName,
    host: "127.0.0.1",
    port,
    user: "root",
    identity: rig.identity,
    hostKey: overrides.hostKey ?? rig.sshd.hostKey,
    ...(overrides.windowBytes ? { windowBytes: overrides.windowBytes } : {}),
  });
  return {
    connect: async () => {
      const c = await connectSource(endpoint(overrides.port ?? rig.sshd.port));
      const offload = overrides.offload
        ? new ThreadOffload(endpoint(overrides.offload.port ?? overrides.port ?? rig.sshd.port))
        : undefined;
      conns.push({
        close: async () => {
          await offload?.close();
          await c.close();
        },
      });
      return new ZfsHost(c.runner, offload);
    },
    local: new ZfsHost(new LocalRunner()),
    now: () => new Date(),
    ...overrides,
    close: async () => void (await Promise.all(conns.map((c) => c.close()))),
  };
}

/** name, guid and referenced bytes of everything in a pool: equal fingerprints mean nothing changed. */
export async function poolFingerprint(pool: string): Promise<string> {
  const out = await must(["zfs", "get", "-H", "-p", "-o", "name,property,value", "guid,referenced", "-r", pool]);
  return out.split("\n").filter(Boolean).sort().join("\n");
}

/** Snapshot name relative to `dataset` ("@s1", "/child@s1") → guid, for everything below it. */
export async function snapshotGuids(dataset: string): Promise<Map<string, string>> {
  const out = await must(["zfs", "get", "-H", "-p", "-o", "name,property,value", "guid", "-r", dataset]);
  const m = new Map<string, string>();
  for (const line of out.split("\n").filter(Boolean)) {
    const [name, , guid] = line.split("\t");
    if (name!.includes("@")) m.set(name!.slice(dataset.length), guid!);
  }
  return m;
}

/** A property of a dataset (`zfs get -H -o value`). */
export async function prop(dataset: string, property: string): Promise<string> {
  return (await must(["zfs", "get", "-H", "-o", "value", property, dataset])).trim();
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it is true (a throwing `f` counts as false); throws after `ms`. */
export async function until(what: string, f: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (
    !(await Promise.resolve()
      .then(f)
      .catch(() => false))
  ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** A `bzman serve` started for a test: its stdout lines (JSON parsed where possible) and its exit. */
export interface ServeProcess {
  child: import("node:child_process").ChildProcess;
  /** Log records seen so far ({msg} for lines that are not JSON). */
  lines: Array<Record<string, unknown>>;
  /** All stdout so far. */
  out(): string;
  exited: Promise<number | null>;
}

/** Starts `bzman --config CONFIG serve` (stderr passed through). */
export function serveDaemon(config: string): ServeProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "--config", config, "serve"], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Array<Record<string, unknown>> = [];
  let all = "";
  let buf = "";
  child.stdout!.on("data", (c) => {
    all += c;
    buf += c;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ msg: line });
      }
    }
  });
  return { child, lines, out: () => all, exited: new Promise((r) => child.once("close", (code) => r(code))) };
}

/**
 * After test `t`, stops `child` if it still runs: SIGTERM (bzman stops its zfs commands on it), then
 * SIGKILL after `graceMs`. A failed assertion then leaves no process behind for the next test.
 */
export function stopAfter(t: { after(fn: () => Promise<void>): void }, child: ChildProcess, graceMs = 40_000): void {
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await gone;
    clearTimeout(kill);
  });
}
