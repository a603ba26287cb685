/**
 * Runs `test/faults/main.ts` as a child process for the heavy fault tests:
 * bounded in time, killed (SIGTERM, then SIGKILL) in the test's after hook
 * even when the test fails, followed by a sweep of whatever a killed runner
 * left behind (namespaces, mounts, node processes).
 */

import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import type { TestContext } from "node:test";

const MAIN = join(import.meta.dirname, "..", "main.ts");

/** The numbers of the final line `faults: N ops, F faults, V violations, L lost`. */
export interface RunResult {
  code: number | null;
  ops: number;
  faults: number;
  violations: number;
  lost: number;
  output: string;
  seconds: number;
}

/** Parses the final line; undefined when the output has none. */
export function parseFinalLine(output: string): Omit<RunResult, "code" | "output" | "seconds"> | undefined {
  const m = /^faults: (\d+) ops, (\d+) faults, (\d+) violations, (\d+) lost$/m.exec(
    output.trimEnd().split("\n").at(-1) ?? "",
  );
  if (!m) return undefined;
  return { ops: Number(m[1]), faults: Number(m[2]), violations: Number(m[3]), lost: Number(m[4]) };
}

/** Spawns one run with `args`; resolves when it exits or after `limitMs` (then it is killed). */
export function runFaults(t: TestContext, args: string[], limitMs: number): Promise<RunResult> {
  const start = performance.now();
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (b: Buffer) => {
    output += b.toString("utf8");
  });
  child.stderr.on("data", (b: Buffer) => {
    output += b.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM"); // the runner cleans up on SIGTERM
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    }
    // Whatever a killed runner could not remove (its record names every resource).
    spawnSync(process.execPath, [MAIN, "--sweep"], { stdio: "ignore", timeout: 60_000 });
  });
  const limit = setTimeout(() => {
    output += `\n(test: the run exceeded ${limitMs} ms and was stopped)\n`;
    child.kill("SIGTERM");
  }, limitMs);
  return exited.then((code) => {
    clearTimeout(limit);
    const final = parseFinalLine(output) ?? { ops: 0, faults: 0, violations: -1, lost: -1 };
    return { code, ...final, output, seconds: (performance.now() - start) / 1000 };
  });
}

/** The last `n` lines of a run's output, for assertion messages. */
export function tail(output: string, n = 80): string {
  return output.trimEnd().split("\n").slice(-n).join("\n");
}
