// The entry of the MJML thread (mjml-thread.ts): loads mjml once and answers each request with
// the HTML and MJML's validation errors, or the error that stopped the rendering.

import { parentPort } from "node:worker_threads";
import mjml2html from "mjml";
import type { MjmlReply, MjmlRequest } from "./mjml-thread.ts";

const port = parentPort!;
port.on("message", (m: MjmlRequest) => {
  const reply = (r: MjmlReply): void => port.postMessage(r);
  mjml2html(m.mjml, { validationLevel: "soft", fonts: {} }).then(
    (r) => reply({ id: m.id, html: r.html, errors: r.errors.map((e) => e.formattedMessage) }),
    (e: unknown) => reply({ id: m.id, html: "", errors: [], failure: e instanceof Error ? e.message : String(e) }),
  );
});
