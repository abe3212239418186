// Benchmarks, each printed as a ratio against a baseline measured in the same run (machines here
// are shared and noisy; absolute times are printed for context only).
//   1. Parsing a large `zfs get -H -p` listing vs the irreducible cost of splitting its lines.
//   2. Planning a large source (200 datasets x 1000 snapshots) vs parsing its listings.
//   3. The transfer's byte counting (a listener beside the pipe) vs the same pipeline uncounted.

import { PassThrough, Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { planSource } from "../server/core/plan.ts";
import { parseGetListing } from "../server/zfs/parse.ts";

const DATASETS = 200;
const SNAPSHOTS = 1000;

function listingText(pool: string, snapsPer: number, offset = 0): string {
  const out: string[] = [];
  for (let d = 0; d < DATASETS; d++) {
    const ds = `${pool}/ds${d}`;
    out.push(
      `${ds}\tguid\t${1e15 + d}`,
      `${ds}\tcreatetxg\t1`,
      `${ds}\tcreation\t1700000000`,
      `${ds}\ttype\tfilesystem`,
    );
    for (let s = offset; s < snapsPer + offset; s++) {
      const n = `${ds}@bzman_${s}`;
      out.push(
        `${n}\tguid\t${(BigInt(d) << 32n) + BigInt(s)}`,
        `${n}\tcreatetxg\t${10 + s}`,
        `${n}\tcreation\t${1700000000 + s * 600}`,
        `${n}\ttype\tsnapshot`,
      );
    }
  }
  return `${out.join("\n")}\n`;
}

function best(f: () => void, runs = 5): number {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    f();
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return min;
}

async function bestAsync(f: () => Promise<void>, runs = 5): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return min;
}

const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

async function main(): Promise<void> {
  const src = listingText("tank", SNAPSHOTS);
  const dst = listingText("backup/w/tank", SNAPSHOTS - 10);
  const lines = src.split("\n").length;
  process.stdout.write(
    `listing: ${DATASETS} datasets x ${SNAPSHOTS} snapshots = ${lines} lines, ${(src.length / 1e6).toFixed(1)} MB\n`,
  );

  const split = best(() => void src.split("\n").map((l) => l.split("\t")));
  const parse = best(() => void parseGetListing(src));
  process.stdout.write(
    `1. parse listing: ${fmt(parse)} vs split lines+fields ${fmt(split)}  ratio ${(parse / split).toFixed(2)}x\n`,
  );

  const s = parseGetListing(src);
  // Target: same GUIDs for the first SNAPSHOTS-10 snapshots of each dataset (an incremental of 10).
  const t = parseGetListing(dst);
  for (const [name, d] of t) {
    const srcName = name.replace("backup/w/", "");
    const sd = s.get(srcName);
    if (sd) d.snapshots = sd.snapshots.slice(0, SNAPSHOTS - 10).map((x) => ({ ...x }));
  }
  const bothParse = best(() => {
    parseGetListing(src);
    parseGetListing(dst);
  });
  const plan = best(() => void planSource([{ name: "tank", recursive: true }], s, t, "backup/w"));
  const check = planSource([{ name: "tank", recursive: true }], s, t, "backup/w");
  const incr = check.datasets.filter((d) => d.decision.kind === "transfer").length;
  process.stdout.write(
    `2. plan source: ${fmt(plan)} vs parsing both listings ${fmt(bothParse)}  ratio ${(plan / bothParse).toFixed(3)}x  (${incr} incremental plans)\n`,
  );

  const CHUNK = Buffer.alloc(64 * 1024, 1);
  const TOTAL = 512 * 1024 * 1024;
  const source = (): Readable =>
    Readable.from(
      (function* () {
        for (let n = 0; n < TOTAL; n += CHUNK.length) yield CHUNK;
      })(),
      { objectMode: false },
    );
  const sink = (): Writable =>
    new Writable({
      write(_c, _e, cb) {
        cb();
      },
    });
  const plain = await bestAsync(() => pipeline(source(), new PassThrough(), sink()), 3);
  const counted = await bestAsync(async () => {
    let bytes = 0;
    const from = source();
    from.on("data", (c: Buffer) => {
      bytes += c.length;
    });
    await pipeline(from, new PassThrough(), sink());
    if (bytes !== TOTAL) throw new Error("byte count wrong");
  }, 3);
  process.stdout.write(
    `3. 512 MiB counted by a listener beside the pipe: ${fmt(counted)} vs uncounted ${fmt(plain)}  ratio ${(counted / plain).toFixed(2)}x  (${(TOTAL / 1e6 / (counted / 1000)).toFixed(0)} MB/s)\n`,
  );
}

main();
