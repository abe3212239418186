// The module boundaries of server/ (README "Architecture"), checked on the import lines:
// who may import whom inside server/, and which modules must stay pure.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SERVER = fileURLToPath(new URL("../server", import.meta.url));

/** module (first folder under server/, or the file) → modules it may import inside server/. */
const ALLOWED: Record<string, string[]> = {
  core: ["core"],
  config: ["config", "core", "errors.ts"],
  zfs: ["zfs", "core", "errors.ts"],
  ssh: ["ssh", "core", "zfs/runner.ts", "errors.ts"],
  engine: ["engine", "core", "zfs", "errors.ts"],
  offload: ["offload", "engine", "ssh", "zfs", "core", "errors.ts", "threads.ts"],
  state: ["state", "core", "errors.ts"],
  schedule: ["schedule", "core", "errors.ts"],
  http: ["http", "core"],
  email: ["email", "core", "errors.ts", "threads.ts"],
  cli: ["cli", "config", "core", "engine", "zfs", "state", "schedule", "http", "email", "errors.ts", "log.ts"],
  sandbox: ["sandbox", "config", "cli", "zfs", "core", "errors.ts"],
  "errors.ts": ["core/codes.ts", "core/model.ts"],
  "log.ts": [],
  "threads.ts": [],
  "syslog.ts": ["log.ts", "zfs/runner.ts"],
  "main.ts": ["*"],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) =>
    statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith(".ts") ? [join(dir, f)] : [],
  );
}

const moduleOf = (rel: string): string => (rel.includes("/") ? rel.split("/")[0]! : rel);

test("server/ modules import only what the architecture allows", () => {
  const violations: string[] = [];
  for (const file of files(SERVER)) {
    const from = relative(SERVER, file);
    const allowed = ALLOWED[moduleOf(from)];
    assert.ok(allowed, `${from}: not in the architecture table`);
    const src = readFileSync(file, "utf8");
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)) {
      const spec = m[1]!;
      if (moduleOf(from) === "core" && !spec.startsWith("."))
        violations.push(`${from}: core must be pure, imports ${spec}`);
      if (!spec.startsWith(".")) continue;
      const target = relative(SERVER, resolve(dirname(file), spec));
      if (
        allowed.includes("*") ||
        allowed.some((a) => target === a || target.startsWith(`${a}/`) || moduleOf(target) === a)
      )
        continue;
      violations.push(`${from} imports ${target}`);
    }
  }
  assert.deepEqual(violations, []);
});

test("core/ never reads the clock or the environment", () => {
  for (const file of files(join(SERVER, "core"))) {
    const src = readFileSync(file, "utf8");
    assert.doesNotMatch(src, /Date\.now\(|new Date\(\)|process\.|Math\.random/, relative(SERVER, file));
  }
});

test("no module but the runners starts processes, and nothing uses a shell", () => {
  for (const file of files(SERVER)) {
    const rel = relative(SERVER, file);
    const src = readFileSync(file, "utf8");
    if (/from "node:child_process"/.test(src))
      assert.ok(["zfs/runner.ts", "sandbox/daemon.ts"].includes(rel), `${rel} imports child_process`);
    assert.doesNotMatch(src, /shell:\s*true|\bexecSync\(|\bexec\(\s*["'`]/, rel);
  }
});

test("engine/ executes decisions made in core/: it does not make them again", () => {
  // Each pattern is a decision that core/ owns (core/README.md says which function makes it).
  const decisions: Array<[RegExp, string]> = [
    [/onConflict\s*[!=]==/, "what to do with a conflict under on_conflict: core/conflict-policy.ts onConflict"],
    [
      /code\s*[!=]==\s*"(ZFS_RESUME_STALE|GUARD_REJECTED)"/,
      "whether a failed resume is given up: core/continue.ts afterFailedResume",
    ],
    [/paused[^\n]*isWithin|isWithin[^\n]*paused/, "whether a dataset is paused: core/pause.ts pauseReason"],
    [
      /result\s*===\s*"ok"\s*\|\|\s*\w+\.result\s*===\s*"up-to-date"\)\s*\{\s*\/\/ Older snapshots/,
      "a pass snapshot's failure: core/conflict-policy.ts withSnapshotOutcome",
    ],
    [
      /RENAMEABLE|\.diverged-/,
      "which conflicts a rename resolves, and the aside name: core/conflict-policy.ts, core/naming.ts",
    ],
  ];
  const found: string[] = [];
  for (const file of files(join(SERVER, "engine"))) {
    const src = readFileSync(file, "utf8");
    for (const [re, what] of decisions) if (re.test(src)) found.push(`${relative(SERVER, file)}: ${what}`);
  }
  assert.deepEqual(found, []);
});
