/** Runs `ctr` against the e2e cluster's own containerd (never Docker's): its socket is always passed. */

import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Runs `ctr --address <sock> ...args` (60 s limit); resolves with its stdout, rejects with its stderr. */
export async function ctr(sock: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run("ctr", ["--address", sock, ...args], { timeout: 60_000, maxBuffer: 16 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ctr ${args.join(" ")}: ${err.stderr?.trim() || err.message}`);
  }
}
