// The Node versions bzman claims are the ones it is tested on: package.json's engines is one
// caret range per tested line (the Node 20 of the main run, and exactly the versions
// test/node-versions.sh installs), this Node satisfies it, and `npm ci` of the lock file on this
// Node prints no EBADENGINE warning (the nopt override keeps mjml's js-beautify on Node 20).

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "../helpers/sandbox.ts";

const tmp = mkdtempSync(join(tmpdir(), "bzman-engines-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Version = [number, number, number];
const parse = (v: string): Version => {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(v);
  assert.ok(m, `not a version: ${v}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
};
const atLeast = (a: Version, b: Version): boolean =>
  a[0] !== b[0] ? a[0] > b[0] : a[1] !== b[1] ? a[1] > b[1] : a[2] >= b[2];

const engines = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { engines: { node: string } }).engines
  .node;
const floors = engines.split(" || ").map((r) => {
  assert.match(r, /^\^\d+\.\d+\.\d+$/, `engines.node is caret ranges joined by ||, got ${engines}`);
  return parse(r.slice(1));
});
const pinned =
  /^VERSIONS="([^"]*)"$/m
    .exec(readFileSync(join(REPO, "test/node-versions.sh"), "utf8"))?.[1]
    ?.split(/\s+/)
    .filter(Boolean) ?? [];

test("engines names Node 20 and exactly the versions test/node-versions.sh tests, and this Node is one of them", () => {
  assert.ok(pinned.length >= 1, "test/node-versions.sh pins its versions");
  assert.deepEqual(
    floors.map((f) => f[0]),
    [20, ...pinned.map((v) => parse(v)[0])],
    "one range per tested line, in order",
  );
  for (const v of pinned)
    assert.deepEqual(
      floors.find((f) => f[0] === parse(v)[0]),
      parse(v),
      `the ${parse(v)[0]} range starts at the tested ${v}`,
    );
  const here = parse(process.version);
  const floor = floors.find((f) => f[0] === here[0]);
  assert.ok(floor && atLeast(here, floor), `Node ${process.version} is not in engines (${engines})`);
  if (here[0] !== 20)
    assert.ok(
      pinned.includes(process.versions.node),
      `Node ${process.version} is tested only as one of ${pinned.join(", ")}`,
    );
});

test("npm ci of the lock file on this Node warns no EBADENGINE", () => {
  copyFileSync(join(REPO, "package.json"), join(tmp, "package.json"));
  copyFileSync(join(REPO, "package-lock.json"), join(tmp, "package-lock.json"));
  const r = spawnSync("npm", ["ci", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"], {
    cwd: tmp,
    encoding: "utf8",
  });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  assert.doesNotMatch(out, /EBADENGINE/, out);
  const lock = JSON.parse(readFileSync(join(tmp, "package-lock.json"), "utf8")) as {
    packages: Record<string, { engines?: { node?: string } }>;
  };
  const nopts = Object.entries(lock.packages).filter(([path]) => path.endsWith("node_modules/nopt"));
  assert.ok(nopts.length >= 1, "mjml still brings nopt (else drop the override)");
  for (const [path, p] of nopts) assert.match(p.engines?.node ?? "", /\^20\./, `${path} supports Node 20`);
});
