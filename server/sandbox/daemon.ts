// Long-running helper processes of the sandbox (zfs-fuse, sshd): started from argv, output to a
// log file, stopped by their own pid only — never by name.

import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { BackupError } from "../errors.ts";

/** A started background process. */
export interface Daemon {
  pid: number;
  /** Resolves when the process has ended. */
  exited: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** Lets the process outlive this one (it is no longer killed on exit). */
  release(): void;
}

/** Starts `argv` in the background with stdout and stderr appended to `logPath`. */
export function startDaemon(argv: string[], logPath: string): Daemon {
  const log = openSync(logPath, "a");
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", log, log] });
  closeSync(log);
  if (child.pid === undefined) throw new BackupError("SPAWN_FAILED", `cannot start ${argv[0]}`);
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    const end = (): void => {
      gone = true;
      resolve();
    };
    child.once("exit", end);
    child.once("error", end);
  });
  // Never leave a daemon behind when the process that started it exits.
  const onExit = (): void => void (gone || child.kill("SIGKILL"));
  process.once("exit", onExit);
  return {
    pid: child.pid,
    exited,
    release() {
      process.removeListener("exit", onExit);
      child.unref();
    },
    async stop(graceMs = 5000) {
      process.removeListener("exit", onExit);
      if (gone) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}
