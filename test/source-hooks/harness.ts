// What the guard's tests share: the shells to run it under (dash, bash --posix, busybox ash; in
// CI each must be present), a fake `zfs` that prints a dry-run fixture for `send -nvt` and records
// every other argv, and a runner that spawns many guards at once.

import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const GUARD = fileURLToPath(new URL("../../source-hooks/bzman-guard", import.meta.url));
export const FIXTURES = fileURLToPath(new URL("../fixtures/zfs/", import.meta.url));
export const FIXED_MESSAGE = "bzman-guard: rejected: this key may only run bzman's zfs commands\n";

/** The other fixed message: a resumed send (`zfs send -t`) on a key whose guard lacks --allow-resume. */
export const RESUME_MESSAGE =
  "bzman-guard: rejected: this key may not resume sends (zfs send -t); its guard lacks --allow-resume\n";

const SHELLS: Array<[string, string[]]> = [
  ["dash", ["/usr/bin/dash"]],
  ["bash --posix", ["/usr/bin/bash", "--posix"]],
  ["busybox ash", ["/usr/bin/busybox", "ash"]],
];
/** The POSIX shells present here, as [name, argv before the script]. */
export const shells = SHELLS.filter(([name, argv]) => {
  if (existsSync(argv[0]!)) return true;
  if (process.env.CI) throw new Error(`${name} is missing; CI must install it (.ci/run)`);
  process.stderr.write(`*** SKIPPING the guard under ${name}: not installed ***\n`);
  return false;
});

/** Every recorded or transcribed `zfs send -nvt TOKEN` output (test/fixtures/zfs/*send-nvt*.txt). */
export const dryRunFixtures = readdirSync(FIXTURES)
  .filter((f) => /send-nvt.*\.txt$/.test(f))
  .sort();

/** A token of the shape zfs prints (`1-<checksum>-<length>-<payload>`); the fake zfs ignores its content. */
export const TOKEN =
  "1-f4a8c2e91-d8-789c636064000310a500c4ec50360710e72765a5269730304430b0ce7c20f4b940d8d4b4bc12c54805e0b40";

/** What a dry run of a token tells about it, read the way the guard must read it. */
export function dryRunFacts(text: string): { toname: string; raw: boolean } {
  const toname = /^\ttoname = (\S+)$/m.exec(text)?.[1];
  if (!toname) throw new Error("fixture without a toname line");
  return { toname, raw: /^\trawok = 1$/m.test(text) };
}

/** The dry-run output of a token for `toname`, in libzfs's format (see the transcribed fixtures). */
export function dryRunText(toname: string, opts: { from?: string; raw?: boolean } = {}): string {
  return [
    "resume token contents:",
    "nvlist version: 0",
    ...(opts.from ? ["\tfromguid = 0x2f1e8d4c6b0a9871"] : []),
    "\tobject = 0x83",
    "\toffset = 0x120000",
    "\tbytes = 0x1a3c10",
    "\ttoguid = 0x5a4b3c2d1e0f9988",
    `\ttoname = ${toname}`,
    "\tcompressok = 1",
    ...(opts.raw ? ["\trawok = 1"] : []),
    opts.from
      ? `send from ${opts.from} to ${toname} estimated size is 3.05M`
      : `full send of ${toname} estimated size is 3.05M`,
    "total estimated size is 3.05M",
    "",
  ].join("\n");
}

/** A scratch directory with a fake `zfs` (also usable as `zpool`). */
export class FakeZfs {
  readonly dir = mkdtempSync(join(tmpdir(), "bzman-guard-"));
  readonly path = join(this.dir, "zfs");
  private n = 0;

  constructor() {
    // `send -nvt`: the dry run, logged as "dry-run ARGV", then the output and status the test
    // chose. Anything else is logged as "ran ARGV".
    writeFileSync(
      this.path,
      [
        "#!/bin/sh",
        'if [ "$1" = send ] && [ "$2" = -nvt ]; then',
        '  printf "dry-run %s\\n" "$*" >> "$FAKE_LOG"',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion in the fake zfs
        '  [ -z "${FAKE_OUTPUT-}" ] || cat "$FAKE_OUTPUT"',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion in the fake zfs
        '  exit "${FAKE_STATUS:-0}"',
        "fi",
        'printf "ran %s\\n" "$*" >> "$FAKE_LOG"',
        "",
      ].join("\n"),
    );
    chmodSync(this.path, 0o755);
  }

  /** A fresh log file name. */
  log(): string {
    return join(this.dir, `log-${this.n++}`);
  }

  /** Writes `text` as a dry-run output and returns its path. */
  output(text: string): string {
    const p = join(this.dir, `out-${this.n++}`);
    writeFileSync(p, text);
    return p;
  }

  /** The lines a run logged ("dry-run …" / "ran …"). */
  static lines(log: string): string[] {
    return existsSync(log)
      ? readFileSync(log, "utf8")
          .split("\n")
          .filter((l) => l !== "")
      : [];
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface GuardRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** One guard, synchronously: SSH_ORIGINAL_COMMAND is `command`, nothing else in the environment but `env`. */
export function guardSync(
  shell: string[],
  args: string[],
  command: string,
  env: Record<string, string> = {},
): GuardRun {
  const r = spawnSync(shell[0]!, [...shell.slice(1), GUARD, ...args], {
    env: { SSH_ORIGINAL_COMMAND: command, ...env },
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function guardAsync(shell: string[], args: string[], command: string, env: Record<string, string>): Promise<GuardRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(shell[0]!, [...shell.slice(1), GUARD, ...args], {
      env: { SSH_ORIGINAL_COMMAND: command, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs `jobs` through the guard, `parallel` at a time; results in the order of `jobs`. */
export async function guardMany<J extends { args: string[]; command: string; env?: Record<string, string> }>(
  shell: string[],
  jobs: J[],
  parallel = 6,
): Promise<Array<[J, GuardRun]>> {
  const out: Array<[J, GuardRun]> = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i]!;
      out[i] = [job, await guardAsync(shell, job.args, job.command, job.env ?? {})];
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}
