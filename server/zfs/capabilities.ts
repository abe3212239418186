// What a host's zfs can do, read from its own usage text (`zfs` without arguments prints it on
// every implementation), so one cheap call tells OpenZFS 2.x, illumos and old ZFS apart.

/** Features bzman uses when present and works without when absent. */
export interface Capabilities {
  /** `zfs list -p` (parsable numbers): one row per dataset instead of one per property. */
  listParsable: boolean;
  /** `zfs hold` / `zfs release`. */
  holds: boolean;
  /** `zfs bookmark`. */
  bookmarks: boolean;
  /** `receive -s`, `receive_resume_token`, `send -t`. */
  resume: boolean;
  /** `send -w` (raw, for encrypted datasets). */
  rawSend: boolean;
  /** `receive -o property=value`. */
  receiveProperties: boolean;
  /** `receive -x property` (keep a property of the stream off the received dataset). */
  receiveExclude: boolean;
  /**
   * The `volmode` property of volumes. Not in any usage line: OpenZFS (Linux, FreeBSD) has it
   * and prints `zfs version`; illumos, zfs-fuse and OpenZFS before 0.8 print no such line, and
   * are treated as without it (a backed-up volume then keeps the default volmode).
   */
  volmode: boolean;
  /** `send -n -v -P` size estimates. */
  sendEstimate: boolean;
  /** Volumes (`create -V`). */
  zvols: boolean;
  /**
   * `zfs list -j` (JSON, OpenZFS 2.3+). Not used for listings (bzman's `-H -p` parser is strict
   * and tested on every platform), reported by `bzman check`. OpenZFS 2.2+ also has the
   * `snapshots_changed` property, which no usage line shows: it must be asked of a dataset.
   */
  listJson: boolean;
  /** `zfs destroy DS@a,b,c`: several snapshots of one dataset in one command (not zfs-fuse). */
  destroyMany: boolean;
  /** Stream flags `zfs send` takes that keep blocks as stored: `-L` (large blocks), `-e` (embedded), `-c` (compressed). */
  streamFlags: string[];
}

/** The stream flags bzman uses where both ends have them, in the order the guard allows. */
export const STREAM_FLAGS = ["-L", "-e", "-c"];

/**
 * The stream flags for a transfer: those both the sender and the receiver list for `zfs send`
 * (a zfs that can send a compressed stream can receive one; an older receiver gets a plain one).
 */
export function commonStreamFlags(sender: Capabilities, receiver: Capabilities): string[] {
  return STREAM_FLAGS.filter((f) => sender.streamFlags.includes(f) && receiver.streamFlags.includes(f));
}

/** What bzman assumes of a host it could not probe: the oldest ZFS it supports. */
export const MINIMAL_CAPABILITIES: Capabilities = {
  listParsable: false,
  holds: false,
  bookmarks: false,
  resume: false,
  rawSend: false,
  receiveProperties: false,
  receiveExclude: false,
  volmode: false,
  sendEstimate: false,
  zvols: false,
  listJson: false,
  destroyMany: false,
  streamFlags: [],
};

function usageLine(usage: string, command: string): string[] {
  return usage
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${command} `));
}

function flagsOf(line: string): string {
  return [...line.matchAll(/\[-([A-Za-z]+)\]/g)].map((m) => m[1]).join("");
}

/** Reads capabilities from the text `zfs` prints when run without arguments. */
export function parseCapabilities(usage: string): Capabilities {
  const list = usageLine(usage, "list");
  const send = usageLine(usage, "send");
  const receive = usageLine(usage, "receive");
  const sendFlags = send.map(flagsOf).join("");
  return {
    listParsable: list.some((l) => flagsOf(l).includes("p")),
    holds: usageLine(usage, "hold").length > 0 && usageLine(usage, "release").length > 0,
    bookmarks: usageLine(usage, "bookmark").length > 0,
    resume: send.some((l) => /-t\s+<receive_resume_token>/.test(l)) && receive.some((l) => flagsOf(l).includes("s")),
    rawSend: sendFlags.includes("w"),
    receiveProperties: receive.some((l) => /-o\s+<?property/.test(l)),
    receiveExclude: receive.some((l) => /-x\s+<?property/.test(l)),
    volmode:
      usage.split("\n").some((l) => /^version(\s|$)/.test(l.trim())) &&
      usageLine(usage, "create").some((l) => l.includes("-V")),
    sendEstimate: sendFlags.includes("n") && sendFlags.includes("P"),
    zvols: usageLine(usage, "create").some((l) => l.includes("-V")),
    listJson: list.some((l) => /\[-j\b/.test(l)),
    destroyMany: usageLine(usage, "destroy").some((l) => l.includes("@") && l.includes("[,...]")),
    streamFlags: STREAM_FLAGS.filter((f) => sendFlags.includes(f.slice(1))),
  };
}
