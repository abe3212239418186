// A counting semaphore for transfers: at most `limit` streams at once across all sources.
// Waiting for a slot can be aborted; a slot is always given back.

import { BackupError } from "../errors.ts";

/** Gives a slot back. */
export type Release = () => void;

/** At most `limit` holders at a time, served in order of arrival. */
export class Slots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new BackupError("INTERNAL", `slot limit must be at least 1, got ${limit}`);
  }

  /** Slots in use now. */
  get inUse(): number {
    return this.used;
  }

  /** Resolves with a release function once a slot is free; rejects with ABORTED on `signal`. */
  acquire(signal?: AbortSignal): Promise<Release> {
    const grant = (): Release => {
      this.used++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.used--;
        this.waiting.shift()?.();
      };
    };
    if (this.used < this.limit) return Promise.resolve(grant());
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve(grant());
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(wake);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new BackupError("ABORTED", "stopped while waiting for a transfer slot"));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(wake);
    });
  }
}
