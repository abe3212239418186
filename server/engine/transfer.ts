// One step on the wire: `zfs send` on one host → `zfs receive` on another, joined with
// stream.pipeline; bytes are counted by a listener on the sender's output (no extra stream hop). Replication sends from a source into the backup; a restore the other way.
// Either side failing tears down both; both exit statuses are always awaited.

import type { ConfiguredReceive } from "../core/receive-properties.ts";
import { pipeline } from "node:stream/promises";
import type { DatasetType, Step } from "../core/model.ts";
import { BackupError, type ErrorCode } from "../errors.ts";
import { tryClassifyStderr } from "../zfs/parse.ts";
import type { ExitStatus, RunningCommand } from "../zfs/runner.ts";
import type { SendOptions } from "../zfs/args.ts";
import { commandError, describeExit, type ZfsHost } from "../zfs/zfs-host.ts";
import { Throttle } from "./throttle.ts";

/** How long a receive whose stream was cut may take to fail by itself before it is killed. */
const RECEIVE_GRACE_MS = 30_000;

/** Progress of a running step. */
export interface TransferProgress {
  step: Step;
  bytes: number;
  /** The stream's estimated size, where the source could estimate it (`zfs send -nP`). */
  estimatedBytes?: number;
}

// Receive-side failures that are about the destination, not the stream: they are the cause even
// when the sender then fails with a broken pipe.
const DESTINATION_CODES: ErrorCode[] = [
  "ZFS_DEST_MODIFIED",
  "ZFS_SNAPSHOT_MISMATCH",
  "ZFS_DEST_EXISTS",
  "ZFS_NO_SPACE",
  "ZFS_DATASET_MISSING",
  "ZFS_PERMISSION",
  "ZFS_RECV_RESUMABLE",
  "ZFS_UNSUPPORTED",
  "ZFS_BUSY",
];

function failed(s: PromiseSettledResult<ExitStatus>): boolean {
  return s.status === "rejected" || s.value.code !== 0;
}

/**
 * Whether the pipe failed only because the receive ended first. Node destroys a child's stdin as
 * soon as the child exits, and a receive that has read the whole stream may exit before the
 * sender's end arrives over SSH: the pipe then reports a premature close although no byte was
 * lost. With both commands at exit 0 the step is complete: `zfs receive` checks every record of
 * the stream and its end record's checksum, and exits non-zero on a stream cut short. A premature
 * close of the sender's side (its output gone before its end) stays a broken stream.
 */
function receiveEndedFirst(p: PromiseSettledResult<void>, firstClosed: "send" | "recv" | undefined): boolean {
  return (
    firstClosed === "recv" &&
    p.status === "rejected" &&
    (p.reason as NodeJS.ErrnoException | undefined)?.code === "ERR_STREAM_PREMATURE_CLOSE"
  );
}

/**
 * The error of a failed transfer, choosing the root cause: a destination problem reported by
 * receive, else the sender's failure, else receive's, else the pipe's.
 */
function transferError(
  step: Step,
  hosts: Hosts,
  send: PromiseSettledResult<ExitStatus>,
  sendArgv: string[],
  recv: PromiseSettledResult<ExitStatus>,
  recvArgv: string[],
  pipe: PromiseSettledResult<void>,
  aborted: boolean,
): BackupError {
  const remote = hosts.sender;
  const where = hosts.receiver.where;
  const recvCode = recv.status === "fulfilled" ? tryClassifyStderr(recv.value.stderr) : null;
  if (recv.status === "fulfilled" && recv.value.code !== 0 && recvCode && DESTINATION_CODES.includes(recvCode)) {
    return commandError(where, recvArgv, recv.value);
  }
  if (aborted) return new BackupError("ABORTED", `transfer of ${step.targetDataset} aborted`);
  if (send.status === "rejected")
    return send.reason instanceof BackupError ? send.reason : new BackupError("SSH_CHANNEL", String(send.reason));
  if (send.value.code !== 0) {
    const s = send.value;
    const guard = tryClassifyStderr(s.stderr);
    if (
      guard === "GUARD_REJECTED" ||
      guard === "ZFS_DATASET_MISSING" ||
      guard === "ZFS_PERMISSION" ||
      guard === "ZFS_RESUME_STALE"
    )
      return commandError(remote.where, sendArgv, s);
    const code: ErrorCode = s.code === null && !s.signal ? "SSH_NO_EXIT_STATUS" : "ZFS_SEND_FAILED";
    const recvDetail =
      recv.status === "fulfilled" && recv.value.stderr.trim() ? `\nreceive: ${recv.value.stderr.trim()}` : "";
    return new BackupError(
      code,
      `${remote.where}: zfs send ended with ${describeExit(s)}${s.stderr.trim() ? `: ${s.stderr.trim().split("\n").pop()}` : ""}`,
      { detail: (s.stderr.trim() + recvDetail).trim() || undefined },
    );
  }
  if (recv.status === "rejected")
    return recv.reason instanceof BackupError ? recv.reason : new BackupError("SPAWN_FAILED", String(recv.reason));
  if (recv.value.code !== 0) return commandError(where, recvArgv, recv.value);
  const reason = pipe.status === "rejected" ? (pipe.reason as Error).message : "unknown";
  return new BackupError("SSH_CHANNEL", `stream of ${step.targetDataset} broke: ${reason}`);
}

/** The two ends of a step: replication sends on the source and receives locally; a restore the reverse. */
export interface Hosts {
  sender: ZfsHost;
  receiver: ZfsHost;
}

/**
 * Runs one step: streams the sender's `zfs send` into the receiver's `zfs receive`. Resolves with the bytes moved when
 * both commands exit 0; otherwise throws the root-cause BackupError after both have ended.
 * Precondition for a full step: the target does not exist and its parent does.
 */
export async function transferStep(
  step: Step,
  hosts: Hosts,
  opts: {
    type: DatasetType;
    signal?: AbortSignal;
    onProgress?: (p: TransferProgress) => void;
    estimatedBytes?: number;
    /** A restore: receive without bzman's safe properties, mounted or not. */
    restore?: { mount: boolean };
    /** Stop both ends when no byte has moved for this long (absent: no watchdog). */
    stallMs?: number;
    /** How the sender sends: raw and stream flags (absent: a plain stream). */
    send?: SendOptions;
    /** The bandwidth limit in bytes per second now (null: none); absent: nothing in the pipe. */
    rate?: () => number | null;
    /** The operator's receive properties (`receive_exclude`, `receive_set`) for a full receive. */
    receiveProps?: ConfiguredReceive;
  },
): Promise<number> {
  if (opts.signal?.aborted) throw new BackupError("ABORTED", `transfer of ${step.targetDataset} aborted`);
  const stop = new AbortController();
  const onOuterAbort = (): void => stop.abort();
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let recvKillTimer: NodeJS.Timeout | undefined;
  let stallTimer: NodeJS.Timeout | undefined;
  try {
    // The receive gets no abort signal: it is stopped by closing its stdin, so it sees a cut
    // stream and cleans up after itself (a killed client may leave zfs-fuse's daemon mid-way).
    const recv = opts.restore
      ? await hosts.receiver.receiveRestore(step.targetDataset, opts.restore.mount)
      : await hosts.receiver.receive(step.targetDataset, {
          full: step.kind === "full",
          type: opts.type,
          ...(opts.receiveProps ? { configured: opts.receiveProps } : {}),
        });
    const stopRecv = (): void => {
      recv.stdin.destroy();
      recvKillTimer ??= setTimeout(() => recv.kill(), RECEIVE_GRACE_MS).unref();
    };
    let send: RunningCommand;
    try {
      send = await hosts.sender.send(step, stop.signal, opts.send ?? {});
    } catch (err) {
      stopRecv();
      await recv.done.catch(() => undefined);
      throw err;
    }
    const est = opts.estimatedBytes !== undefined ? { estimatedBytes: opts.estimatedBytes } : {};
    // The stall watchdog: re-armed by every chunk; when it fires, both ends are stopped.
    let stalled = false;
    const onStall = (): void => {
      stalled = true;
      send.stdout.destroy(new BackupError("STALLED", `transfer of ${step.targetDataset} stalled`));
      send.kill();
      stopRecv();
    };
    const arm = (): void => {
      if (opts.stallMs === undefined) return;
      clearTimeout(stallTimer);
      stallTimer = setTimeout(onStall, opts.stallMs);
      stallTimer.unref();
    };
    arm();
    // Counting by listening to the data beside the pipe costs no stream hop (bench/transport.ts).
    const counter = { bytes: 0 };
    send.stdout.on("data", (chunk: Buffer) => {
      counter.bytes += chunk.length;
      arm();
      opts.onProgress?.({ step, bytes: counter.bytes, ...est });
    });
    const onAbort = (): void => {
      send.stdout.destroy(new BackupError("ABORTED", `transfer of ${step.targetDataset} aborted`));
      stopRecv();
    };
    stop.signal.addEventListener("abort", onAbort, { once: true });
    // Which end of the pipe closed first (see receiveEndedFirst).
    let firstClosed: "send" | "recv" | undefined;
    send.stdout.once("close", () => (firstClosed ??= "send"));
    recv.stdin.once("close", () => (firstClosed ??= "recv"));
    // A pipe failure (either side gone) stops both commands, so neither is left waiting.
    const pipe = (
      opts.rate ? pipeline(send.stdout, new Throttle(opts.rate), recv.stdin) : pipeline(send.stdout, recv.stdin)
    ).catch((err: unknown) => {
      send.kill();
      stopRecv();
      throw err;
    });
    const recvDone = recv.done.then((s) => {
      if (s.code !== 0) send.kill();
      return s;
    });
    const [p, sd, rd] = await Promise.allSettled([pipe, send.done, recvDone]);
    clearTimeout(stallTimer);
    if ((p.status === "fulfilled" || receiveEndedFirst(p, firstClosed)) && !failed(sd) && !failed(rd))
      return counter.bytes;
    if (stalled) {
      throw new BackupError(
        "STALLED",
        `transfer of ${step.targetDataset} moved no byte for ${Math.round(opts.stallMs! / 1000)}s after ${counter.bytes} bytes; both ends were stopped`,
      );
    }
    throw transferError(step, hosts, sd, send.argv, rd, recv.argv, p, opts.signal?.aborted ?? false);
  } finally {
    clearTimeout(stallTimer);
    clearTimeout(recvKillTimer);
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
}
