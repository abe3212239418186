// Per-target-dataset receive locks as files: {pid, start time}. Two bzman processes (the daemon
// and a manual run) never receive into one dataset at once. A lock whose process is gone, or
// whose pid now belongs to another process (start time differs), is stale and is taken over.

import { mkdirSync, readFileSync } from "node:fs";
import { open, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";

/** What a lock file holds. */
interface LockInfo {
  pid: number;
  /** Process start time as the OS reports it (Linux: /proc/<pid>/stat field 22). */
  start: string;
  since: string;
  what: string;
}

/** The start time of a process, or null when it is not running. */
export function processStart(pid: number): string | null {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return null;
  }
  try {
    // Field 22 (starttime) counts from the field after the parenthesized command name.
    return (
      readFileSync(`/proc/${pid}/stat`, "utf8")
        .replace(/^.*\) /, "")
        .split(" ")[19] ?? "unknown"
    );
  } catch {
    return "unknown"; // no /proc (illumos, FreeBSD): a live pid is taken as the holder
  }
}

/** Locks for target datasets, kept as files in one directory. */
export class TargetLocks {
  /** The directory is made on the first acquire, so a read-only command creates nothing. */
  constructor(
    private readonly dir: string,
    private readonly what: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  private file(target: string): string {
    return join(this.dir, `${target.replaceAll("/", "%")}.lock`);
  }

  /** Takes the lock of `target`: the unlock function, or who holds it. */
  async acquire(target: string): Promise<(() => Promise<void>) | string> {
    mkdirSync(this.dir, { recursive: true });
    const path = this.file(target);
    const me: LockInfo = {
      pid: process.pid,
      start: processStart(process.pid) ?? "unknown",
      since: new Date().toISOString(),
      what: this.what,
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(path, "wx");
        await fh.writeFile(JSON.stringify(me));
        await fh.close();
        return async () => {
          const cur = await readFile(path, "utf8").catch(() => "");
          if (cur.includes(`"pid":${me.pid},`)) await unlink(path).catch(() => {});
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      let holder: LockInfo | undefined;
      try {
        holder = JSON.parse(await readFile(path, "utf8")) as LockInfo;
      } catch {
        holder = undefined; // torn or unreadable: the writer died while creating it
      }
      const alive = holder ? processStart(holder.pid) : null;
      if (holder && alive !== null && (alive === holder.start || alive === "unknown" || holder.start === "unknown")) {
        return `${target} is being received by pid ${holder.pid} (${holder.what}) since ${holder.since}`;
      }
      this.log(
        `recovered a stale lock on ${target}${holder ? ` left by pid ${holder.pid} (${holder.what}) since ${holder.since}` : " (unreadable lock file)"}`,
      );
      await unlink(path).catch(() => {});
    }
    return `${target}: could not take its lock`;
  }
}
