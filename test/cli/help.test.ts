// The command line tells the truth about itself: `bzman --version` names the package version
// and the Node in use, and every command's --help (run as the real CLI) shows examples and what
// each exit code means, from the one help table.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { COMMAND_HELP } from "../../server/cli/help.ts";
import { REPO, bzman } from "../helpers/sandbox.ts";

test("bzman --version: the package's version and the Node in use, exit 0", async () => {
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
  const r = await bzman(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `bzman ${pkg.version} (Node.js ${process.version})\n`);
});

test("bzman --help lists exactly the commands of the help table", async () => {
  const r = await bzman(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  const listed = [...r.stdout.split("Commands:")[1]!.matchAll(/^ {2}(\w+)/gm)]
    .map((m) => m[1])
    .filter((n) => n !== "help");
  assert.deepEqual(listed, Object.keys(COMMAND_HELP));
});

test("every command's --help shows its examples and its exit status", async () => {
  const names = Object.keys(COMMAND_HELP) as Array<keyof typeof COMMAND_HELP>;
  const results = await Promise.all(names.map(async (name) => ({ name, r: await bzman([name, "--help"]) })));
  for (const { name, r } of results) {
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    const h = COMMAND_HELP[name];
    assert.ok(h.examples.length > 0, name);
    assert.match(r.stdout, /\nExamples:\n {2}\S/, name);
    for (const e of h.examples) assert.ok(r.stdout.includes(`  ${e}`), `${name}: example ${e}`);
    assert.match(r.stdout, /\nExit status: [^\n]*\b0 /, name);
    // Every code a command's help names is explained: "0 …, 1 …" at least.
    assert.match(h.exit, /\b1\b/, `${name}: exit 1 explained`);
  }
});
