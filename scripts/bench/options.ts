/** The bench's command-line options (see scripts/bench.ts) and the program it runs. */

import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");
/** The node program; BENCH_RAFTKV_MAIN runs another checkout's (to compare versions under one load generator). */
export const MAIN = process.env.BENCH_RAFTKV_MAIN ?? join(root, "node", "src", "main.ts");

const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(n);
const opt = (n: string) => {
  const i = argv.indexOf(n);
  return i >= 0 ? argv[i + 1] : undefined;
};
/** --quick: tiny windows, one repeat (CI proves the bench works). */
export const QUICK = flag("--quick");
/** --scale-only: only the scale measurements. */
export const SCALE_ONLY = flag("--scale-only");
/** --scale (or --scale-only): load a million keys, snapshot, catch up a new member. */
export const SCALE = flag("--scale") || SCALE_ONLY;
/** --no-etcd: raftkv alone. */
export const NO_ETCD = flag("--no-etcd");
/** --only NAME: only workloads whose name contains it. */
export const ONLY = opt("--only");
/** --clients 1,64: only those client counts. */
export const CLIENTS = opt("--clients");
/** Warm-up before each measured window (--warmup ms). */
export const WARMUP_MS = Number(opt("--warmup") ?? (QUICK ? 200 : 1000));
/** The measured window (--window ms). */
export const WINDOW_MS = Number(opt("--window") ?? (QUICK ? 500 : 3000));
/** Repeats of each cell; the median is reported (--repeats). */
export const REPEATS = Number(opt("--repeats") ?? (QUICK ? 1 : 3));
/** Fail-over repeats (--failover). */
export const FAILOVERS = Number(opt("--failover") ?? (QUICK ? 1 : 5));
/** Keys loaded by the scale measurement (--scale-keys). */
export const SCALE_KEYS = Number(opt("--scale-keys") ?? (QUICK ? 20_000 : 1_000_000));
