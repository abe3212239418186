// MJML → HTML on a thread of its own. mjml holds about 55 MB of a process's memory once loaded,
// for good; on a worker thread (mjml-worker.ts), started at the first mail and ended once no mail
// has been rendered for IDLE_MS, a daemon that mails once a night holds it for seconds (17 MB
// stay after the thread ends). The worker keeps the process alive only while a mail is being
// rendered. A mail not rendered within RENDER_TIMEOUT_MS ends the thread: a hung render fails
// its mails with a clear error instead of holding every later alert behind it.

import type { Worker } from "node:worker_threads";
import { BackupError } from "../errors.ts";
import { startThread } from "../threads.ts";

/** How long the thread is kept after its last mail (the mails of one digest or report come together). */
export const IDLE_MS = 10_000;

/** How long one mail may take to render (loading mjml included) before its thread is ended. */
export const RENDER_TIMEOUT_MS = 60_000;

/** A request to the thread. */
export interface MjmlRequest {
  id: number;
  mjml: string;
}

/** Its answer: the HTML and MJML's validation errors, or why rendering failed. */
export interface MjmlReply {
  id: number;
  html: string;
  errors: string[];
  failure?: string;
}

interface Pending {
  resolve(html: string): void;
  reject(e: BackupError): void;
  /** Ends the thread when this mail is not answered in time. */
  timer: NodeJS.Timeout;
}

/** The running thread and the mails it has yet to answer. */
interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  /** The timer that ends it once idle. */
  idle?: NodeJS.Timeout;
  /** Why bzman ended it before its time, for the mails still waiting on it. */
  stopped?: string;
}

let current: Thread | undefined;
let idleMs = IDLE_MS;
let renderTimeoutMs = RENDER_TIMEOUT_MS;
let entry = "mjml-worker";
let nextId = 0;

function thread(): Thread {
  if (current) return current;
  const t: Thread = { worker: startThread(import.meta.url, entry), pending: new Map() };
  let crash: Error | undefined;
  t.worker.on("message", (r: MjmlReply) => {
    const p = t.pending.get(r.id);
    if (!p) return;
    t.pending.delete(r.id);
    clearTimeout(p.timer);
    if (r.failure !== undefined) p.reject(new BackupError("INTERNAL", `mail template: ${r.failure}`));
    else if (r.errors.length) p.reject(new BackupError("INTERNAL", `mail template: ${r.errors.join("; ")}`));
    else p.resolve(r.html);
    if (t.pending.size === 0) whenIdle(t);
  });
  t.worker.once("error", (e) => (crash = e));
  t.worker.once("exit", (code) => {
    clearTimeout(t.idle);
    if (current === t) current = undefined;
    const why = t.stopped
      ? `the MJML thread was ended: ${t.stopped}`
      : `the MJML thread ended (exit ${code})${crash ? `: ${crash.message}` : ""}`;
    for (const p of t.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new BackupError("INTERNAL", `mail template: ${why}`));
    }
    t.pending.clear();
  });
  current = t;
  return t;
}

/** With nothing left to render, the thread no longer holds the process, and ends after IDLE_MS. */
function whenIdle(t: Thread): void {
  t.worker.unref();
  // A thread already let go (its last answers came after stopMjmlThread) is ending anyway.
  if (current !== t) return;
  clearTimeout(t.idle);
  t.idle = setTimeout(() => {
    if (current !== t || t.pending.size > 0) return;
    current = undefined; // a mail asked for from now on starts a new thread
    void t.worker.terminate();
  }, idleMs);
  t.idle.unref();
}

/** The HTML of an MJML document, rendered on the MJML thread; a template MJML finds invalid is an INTERNAL error. */
export function mjmlToHtml(mjml: string): Promise<string> {
  const t = thread();
  clearTimeout(t.idle);
  t.worker.ref();
  const id = nextId++;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A thread already let go (stopMjmlThread, its idle end) is ending for its own reason.
      if (!t.pending.has(id) || current !== t) return;
      t.stopped = `a mail was not rendered within ${renderTimeoutMs / 1000} s of being asked for`;
      current = undefined; // the next mail starts a new thread
      void t.worker.terminate();
    }, renderTimeoutMs);
    // The thread holds the process while it renders; the timer alone need not.
    timer.unref();
    t.pending.set(id, { resolve, reject, timer });
    t.worker.postMessage({ id, mjml } satisfies MjmlRequest);
  });
}

/** Ends the MJML thread now (tests). Mails it had yet to answer fail. */
export async function stopMjmlThread(): Promise<void> {
  const t = current;
  clearTimeout(t?.idle);
  current = undefined;
  await t?.worker.terminate();
}

/** How long an idle thread is kept (tests shorten it). */
export function setMjmlIdleMs(ms: number): void {
  idleMs = ms;
}

/** How long a mail may take to render before its thread is ended (tests shorten it). */
export function setMjmlRenderTimeoutMs(ms: number): void {
  renderTimeoutMs = ms;
}

/**
 * The module the next thread runs, relative to this one (tests give one that does not exist, a
 * thread that fails, or one that never answers).
 */
export function setMjmlWorkerEntry(name: string): void {
  entry = name;
}

/** Whether the MJML thread is running (tests). */
export function mjmlThreadRunning(): boolean {
  return current !== undefined;
}
