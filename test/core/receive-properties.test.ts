// Receive properties (core/receive-properties.ts) as a table: bzman's safe properties always,
// the inert defaults where the receiver has them, the operator's on top, never both -o and -x.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  receiveProperties,
  safetyPropertyProblem,
  type ReceiveAbilities,
} from "../../server/core/receive-properties.ts";

const openzfs: ReceiveAbilities = { set: true, exclude: true, volmode: true };
const illumos: ReceiveAbilities = { set: true, exclude: true, volmode: false };
const old: ReceiveAbilities = { set: false, exclude: false, volmode: false };
const SAFE_FS = [
  ["readonly", "on"],
  ["canmount", "noauto"],
  ["setuid", "off"],
  ["exec", "off"],
  ["devices", "off"],
];
const none = { exclude: [], set: [] };

test("receiveProperties: what each receiver gets", () => {
  const cases: Array<[string, Parameters<typeof receiveProperties>, ReturnType<typeof receiveProperties>]> = [
    [
      "filesystem on OpenZFS: safe -o, mountpoint and shares not taken",
      ["filesystem", none, openzfs],
      { set: SAFE_FS as Array<[string, string]>, exclude: ["mountpoint", "sharenfs", "sharesmb"] },
    ],
    [
      "volume on OpenZFS: volmode=none",
      ["volume", none, openzfs],
      {
        set: [
          ["readonly", "on"],
          ["volmode", "none"],
        ],
        exclude: [],
      },
    ],
    ["volume without volmode (illumos)", ["volume", none, illumos], { set: [["readonly", "on"]], exclude: [] }],
    [
      "no -o/-x (zfs-fuse): nothing here, safe properties are set after the receive",
      ["filesystem", none, old],
      { set: [], exclude: [] },
    ],
    [
      "the operator's on top",
      ["filesystem", { exclude: ["atime"], set: [["compression", "zstd"]] }, openzfs],
      {
        set: [...SAFE_FS, ["compression", "zstd"]] as Array<[string, string]>,
        exclude: ["mountpoint", "sharenfs", "sharesmb", "atime"],
      },
    ],
    [
      "a property set is not also excluded (zfs refuses both)",
      ["filesystem", { exclude: ["mountpoint"], set: [["mountpoint", "/srv/b"]] }, openzfs],
      { set: [...SAFE_FS, ["mountpoint", "/srv/b"]] as Array<[string, string]>, exclude: ["sharenfs", "sharesmb"] },
    ],
    [
      "the operator may choose a volmode",
      ["volume", { exclude: [], set: [["volmode", "dev"]] }, openzfs],
      {
        set: [
          ["readonly", "on"],
          ["volmode", "dev"],
        ],
        exclude: [],
      },
    ],
    [
      "a safety property slipped past config is never passed",
      ["filesystem", { exclude: ["readonly"], set: [["exec", "on"]] }, openzfs],
      { set: SAFE_FS as Array<[string, string]>, exclude: ["mountpoint", "sharenfs", "sharesmb"] },
    ],
    [
      "receive_exclude without -x",
      ["filesystem", { exclude: ["atime"], set: [] }, old],
      { unsupported: "receive_exclude (atime) needs zfs receive -x, which the backup host's zfs does not have" },
    ],
    [
      "receive_set without -o",
      ["volume", { exclude: [], set: [["compression", "on"]] }, old],
      { unsupported: "receive_set (compression) needs zfs receive -o, which the backup host's zfs does not have" },
    ],
  ];
  for (const [label, args, want] of cases) assert.deepEqual(receiveProperties(...args), want, label);
});

test("safetyPropertyProblem: only bzman's safety properties are off limits", () => {
  for (const p of ["readonly", "canmount", "setuid", "exec", "devices"])
    assert.match(safetyPropertyProblem(p) ?? "", /safety properties/, p);
  for (const p of ["mountpoint", "compression", "volmode", "com.example:x"])
    assert.equal(safetyPropertyProblem(p), null, p);
});
