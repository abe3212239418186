// Which properties a receive sets (`zfs receive -o`) and keeps out of the stream (`-x`): bzman's
// safe properties, which config can never change, the defaults that keep a backup inert, and the
// operator's `receive_set` / `receive_exclude`. Pure: the receiving host's abilities are inputs.

import type { DatasetType } from "./model.ts";

/** The properties that make a received dataset safe on the backup host; config may not touch them. */
export const SAFE_PROPERTY_NAMES = ["readonly", "canmount", "setuid", "exec", "devices"] as const;

/** Properties every received dataset gets: read-only, never mounted on its own, nothing executable. */
export function safeProperties(type: DatasetType): Array<[string, string]> {
  const common: Array<[string, string]> = [["readonly", "on"]];
  if (type === "volume") return common;
  return [...common, ["canmount", "noauto"], ["setuid", "off"], ["exec", "off"], ["devices", "off"]];
}

/** Properties a received filesystem never takes from a stream by default: where it mounts and what it shares. */
export const INERT_EXCLUDES: readonly string[] = ["mountpoint", "sharenfs", "sharesmb"];

/** What a received volume gets by default: no device node on the backup host (`volmode=none`). */
export const INERT_VOLUME_SETTINGS: ReadonlyArray<[string, string]> = [["volmode", "none"]];

/** The operator's receive properties (`receive_exclude`, `receive_set`). */
export interface ConfiguredReceive {
  exclude: string[];
  set: Array<[string, string]>;
}

/** What the receiving zfs can do. */
export interface ReceiveAbilities {
  /** `zfs receive -o property=value`. */
  set: boolean;
  /** `zfs receive -x property`. */
  exclude: boolean;
  /** The `volmode` property (OpenZFS on Linux and FreeBSD; not illumos). */
  volmode: boolean;
}

/** The `-o` and `-x` of one receive, or why the receiving zfs cannot do what the config asks. */
export type ReceivePropertyPlan = { set: Array<[string, string]>; exclude: string[] } | { unsupported: string };

/**
 * The properties of a full receive of a dataset of `type`. bzman's safe properties come first
 * and are never overridden (config validation refuses them, see {@link safetyPropertyProblem});
 * the inert defaults apply where the receiver has them, unless the operator sets that property;
 * a property the operator sets is not also excluded (zfs refuses both at once). Without `-o`
 * the safe properties are set right after the receive instead (not part of this plan).
 */
export function receiveProperties(
  type: DatasetType,
  configured: ConfiguredReceive,
  can: ReceiveAbilities,
): ReceivePropertyPlan {
  if (configured.exclude.length > 0 && !can.exclude) {
    return {
      unsupported: `receive_exclude (${configured.exclude.join(", ")}) needs zfs receive -x, which the backup host's zfs does not have`,
    };
  }
  if (configured.set.length > 0 && !can.set) {
    return {
      unsupported: `receive_set (${configured.set.map(([k]) => k).join(", ")}) needs zfs receive -o, which the backup host's zfs does not have`,
    };
  }
  const chosen = new Set(configured.set.map(([k]) => k));
  const set: Array<[string, string]> = [];
  if (can.set) {
    set.push(...safeProperties(type));
    if (type === "volume" && can.volmode) set.push(...INERT_VOLUME_SETTINGS.filter(([k]) => !chosen.has(k)));
    set.push(...configured.set.filter(([k]) => !isSafetyProperty(k)));
  }
  const exclude: string[] = [];
  if (can.exclude) {
    const wanted = [...(type === "filesystem" ? INERT_EXCLUDES : []), ...configured.exclude];
    for (const p of wanted) if (!chosen.has(p) && !isSafetyProperty(p) && !exclude.includes(p)) exclude.push(p);
  }
  return { set, exclude };
}

function isSafetyProperty(name: string): boolean {
  return (SAFE_PROPERTY_NAMES as readonly string[]).includes(name);
}

/** Why config may not name `property` in receive_set / receive_exclude, or null when it may. */
export function safetyPropertyProblem(property: string): string | null {
  return isSafetyProperty(property)
    ? `"${property}" is one of bzman's safety properties (${SAFE_PROPERTY_NAMES.join(", ")}), which every backup gets and config cannot change`
    : null;
}
