import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { type RunResult, runSeed } from "./run.ts";

/** Names of the planted bugs the simulator must catch. */
export const BUGS = [
  "voteWithoutLogCheck",
  "commitPrevTermByCount",
  "noCheckQuorumStepDown",
  "ignoreIncarnation",
  "replyBeforePersist",
];

/** Which seeds to run. */
export interface SeedRange {
  start: number;
  count: number;
  nodes?: number | undefined;
  bug?: string | undefined;
  workers?: number | undefined;
  profile?: "default" | "figure8" | undefined;
}

/** Failures and summed statistics of a range of seeds. */
export interface Summary {
  failures: { seed: number; nodes: number; violation: string }[];
  totals: Record<string, number>;
  firstFailure?: number;
}

/** Runs seeds [start, start+count) in this thread. */
export function runRange(r: SeedRange): Summary {
  const out: Summary = { failures: [], totals: {} };
  for (let seed = r.start; seed < r.start + r.count; seed++) {
    const res: RunResult = runSeed({
      seed,
      nodes: r.nodes ?? (seed % 2 === 1 ? 3 : 5),
      bugs: r.bug ? { [r.bug]: true } : {},
      profile: r.profile ?? "default",
    });
    for (const [k, v] of Object.entries(res.stats)) out.totals[k] = (out.totals[k] ?? 0) + v;
    if (res.violation) {
      out.failures.push({ seed, nodes: res.nodes, violation: res.violation });
      if (out.firstFailure === undefined) out.firstFailure = seed;
    }
  }
  return out;
}

/** Runs a range split across worker threads (one per core by default). */
export async function runSeeds(r: SeedRange): Promise<Summary> {
  const n = Math.max(1, Math.min(r.workers ?? availableParallelism(), r.count));
  if (n === 1 || r.count < 50) return runRange(r);
  const per = Math.ceil(r.count / n);
  const parts: Promise<Summary>[] = [];
  for (let k = 0; k < n; k++) {
    const start = r.start + k * per;
    const count = Math.min(per, r.start + r.count - start);
    if (count <= 0) break;
    const range: SeedRange = { ...r, start, count, workers: 1 };
    parts.push(
      new Promise((resolve, reject) => {
        const w = new Worker(new URL("./seeds-worker.ts", import.meta.url), { workerData: range });
        w.once("message", resolve);
        w.once("error", reject);
      }),
    );
  }
  const all = await Promise.all(parts);
  const out: Summary = { failures: [], totals: {} };
  for (const s of all) {
    out.failures.push(...s.failures);
    for (const [k, v] of Object.entries(s.totals)) out.totals[k] = (out.totals[k] ?? 0) + v;
  }
  out.failures.sort((a, b) => a.seed - b.seed);
  if (out.failures[0]) out.firstFailure = out.failures[0].seed;
  return out;
}
