// Synthetic `zfs get -H -p -o name,property,value` listings (zfs-fuse's form: five lines per
// dataset or snapshot) for the scale and memory benchmarks.

/**
 * `datasets` filesystems below `pool`, each with `snaps` snapshots `bzman_00000…`; the
 * second-newest snapshot carries a hold. GUIDs from `guidOf(dataset, snapshot)`.
 */
export function listingText(
  pool: string,
  datasets: number,
  snaps: number,
  guidOf = (d: number, s: number): string => String((BigInt(d) << 32n) + BigInt(s)),
): string {
  const out: string[] = [];
  for (let d = 0; d < datasets; d++) {
    const ds = `${pool}/ds${d}`;
    out.push(
      `${ds}\tguid\t${1e15 + d}`,
      `${ds}\tcreatetxg\t1`,
      `${ds}\tcreation\t1700000000`,
      `${ds}\ttype\tfilesystem`,
      `${ds}\tuserrefs\t-`,
    );
    for (let s = 0; s < snaps; s++) {
      const n = `${ds}@bzman_${String(s).padStart(5, "0")}`;
      out.push(
        `${n}\tguid\t${guidOf(d, s)}`,
        `${n}\tcreatetxg\t${10 + s}`,
        `${n}\tcreation\t${1700000000 + s * 600}`,
        `${n}\ttype\tsnapshot`,
        `${n}\tuserrefs\t${s === snaps - 2 ? 1 : 0}`,
      );
    }
  }
  return `${out.join("\n")}\n`;
}
