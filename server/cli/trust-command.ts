// `bzman trust SOURCE`: fetches the host key a source presents (without logging in), shows its
// fingerprint beside the pinned one, and after confirmation pins it in the config file.

import { createInterface } from "node:readline/promises";
import type { Config } from "../config/schema.ts";
import { EXIT } from "./deps.ts";

/** What trust needs from outside. */
export interface TrustDeps {
  fetchHostKey(host: string, port: number): Promise<{ key: string; fingerprint: string }>;
  fingerprintOf(key: string): string | null;
  pin(source: string, key: string): Promise<void>;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** Shows and (on confirmation or `yes`) pins a source's host key; resolves with the exit code. */
export async function trustCommand(config: Config, name: string, yes: boolean, deps: TrustDeps): Promise<number> {
  const source = config.sources.find((s) => s.name === name);
  if (!source) {
    deps.stderr.write(
      `bzman trust: no source named "${name}" (sources: ${config.sources.map((s) => s.name).join(", ")})\n`,
    );
    return EXIT.USAGE;
  }
  let presented: { key: string; fingerprint: string };
  try {
    presented = await deps.fetchHostKey(source.host, source.port);
  } catch (err) {
    deps.stderr.write(`bzman trust: ${(err as Error).message}\n`);
    return EXIT.FAILED;
  }
  const pinned = source.hostKey ? deps.fingerprintOf(source.hostKey) : null;
  deps.stdout.write(
    `${name} (${source.host}:${source.port}) presents ${presented.key.split(" ")[0]} ${presented.fingerprint}\n`,
  );
  if (pinned === presented.fingerprint) {
    deps.stdout.write("this key is already pinned; nothing to do\n");
    return EXIT.OK;
  }
  deps.stdout.write(
    pinned
      ? `the config pins a DIFFERENT key: ${pinned}\nOnly accept if you know why the host key changed (reinstall, new host).\n`
      : "no key is pinned yet\n",
  );
  deps.stdout.write(
    "Compare the fingerprint with the one on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\n",
  );
  if (!yes) {
    if (!deps.stdin.isTTY) {
      deps.stderr.write("bzman trust: not confirmed (no terminal); pass --yes to pin without asking\n");
      return EXIT.FAILED;
    }
    const rl = createInterface({ input: deps.stdin, output: deps.stdout });
    const answer = (await rl.question(`Pin this key for ${name}? [y/N] `)).trim().toLowerCase();
    rl.close();
    if (answer !== "y" && answer !== "yes") {
      deps.stdout.write("not pinned\n");
      return EXIT.FAILED;
    }
  }
  await deps.pin(name, presented.key);
  deps.stdout.write(`pinned ${presented.fingerprint} for ${name}\n`);
  return EXIT.OK;
}
