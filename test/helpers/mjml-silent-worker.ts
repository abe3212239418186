// A stand-in for the MJML thread's entry that takes every request and never answers: a render
// that hangs, for the render time limit of server/email/mjml-thread.ts.

import { parentPort } from "node:worker_threads";

parentPort!.on("message", () => {
  /* never answered */
});
