/**
 * CLI: check a recorded history for linearizability.
 *
 *   npx node test/faults/check-history.ts history.jsonl [--timeout-ms N] [--max-steps N]
 *
 * One Operation (see history.ts) per line. Exit 0 if linearizable, 1 if not
 * or if the budget ran out (the output says which), 2 on bad usage or input.
 */
import { readFileSync } from "node:fs";
import { parseHistoryJsonl } from "./history.ts";
import type { CheckOptions } from "./linearizability.ts";
import { checkHistory, formatResult } from "./linearizability.ts";

const usage = "usage: check-history.ts <history.jsonl> [--timeout-ms N] [--max-steps N]";

/** Parses argv, runs the check, and returns the exit code. */
function main(argv: string[]): number {
  const options: CheckOptions = {};
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--timeout-ms" || arg === "--max-steps") {
      const n = Number(argv[++i]);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${arg} needs a positive number`);
      if (arg === "--timeout-ms") options.timeoutMs = n;
      else options.maxSteps = n;
    } else if (file === undefined && arg !== undefined && !arg.startsWith("--")) file = arg;
    else throw new Error(`unexpected argument ${arg}`);
  }
  if (file === undefined) throw new Error("missing history file");
  const history = parseHistoryJsonl(readFileSync(file, "utf8"));
  const start = performance.now();
  const result = checkHistory(history, options);
  const ms = (performance.now() - start).toFixed(0);
  const keys = new Set(history.map((op) => op.key)).size;
  console.log(`${history.length} operations on ${keys} key(s), checked in ${ms} ms`);
  console.log(formatResult(result));
  return result.ok === true ? 0 : 1;
}

// A bare `node --test` treats every file under test/ as a test: don't fail there.
if (process.argv.length <= 2 && process.env.NODE_TEST_CONTEXT) process.exit(0);
try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exitCode = 2;
}
