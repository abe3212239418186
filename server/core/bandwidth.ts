// Bandwidth limits, pure: a rate in bytes per second, always or within a daily window of local
// time ("08:00"-"18:00", or across midnight "22:00"-"06:00").

/** A configured limit: bytes per second, optionally only between two times of day. */
export interface BandwidthLimit {
  bytesPerSecond: number;
  /** Minutes after local midnight; absent: all day. */
  from?: number;
  to?: number;
}

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Bytes per second from "500K", "20M", "1.5G" or "1000000"; null when it is not a size. */
export function parseRate(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)$/.exec(text.trim());
  if (!m) return null;
  const n = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  return n > 0 ? n : null;
}

/** Minutes after midnight from "HH:MM"; null when it is not a time of day. */
export function parseTimeOfDay(text: string): number | null {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/** The limit in force at `minuteOfDay` (local time), or null for none. */
export function limitAt(limit: BandwidthLimit | undefined, minuteOfDay: number): number | null {
  if (!limit) return null;
  if (limit.from === undefined || limit.to === undefined) return limit.bytesPerSecond;
  const inside =
    limit.from <= limit.to
      ? minuteOfDay >= limit.from && minuteOfDay < limit.to
      : minuteOfDay >= limit.from || minuteOfDay < limit.to;
  return inside ? limit.bytesPerSecond : null;
}
