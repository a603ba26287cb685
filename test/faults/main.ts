/**
 * Fault-injection runner: a real raftkv cluster (one process per node, each
 * in its own network namespace when possible), concurrent clients, faults,
 * then convergence, lost-write and linearizability checks.
 *
 *   npm run faults -- --nodes 3 --ops 1000 --faults kill,pause,partition-split --seed 7
 *
 * Options (defaults in runner.ts):
 *   --nodes N            cluster size (3 or 5 are the usual ones)
 *   --ops N              client operations in total
 *   --faults LIST        comma-separated fault types, `all` (the default), or `none`:
 *                        kill, kill-leader, pause, partition-leader, partition-split, partition-bridge,
 *                        restart-all, wipe, membership, transfer, slow-disk, disk-full
 *   --seed S             seeds every random choice (timing still varies)
 *   --rounds R           repeat the fault list R times, shuffled each time (default: one round
 *                        per 3000 ops, so `--ops 100000` injects 33 rounds of every fault)
 *   --clients C          concurrent clients (default 12, at least 10 recommended)
 *   --keys K             keys the clients use (default 6)
 *   --timeout-ms MS      client timeout per operation (default 5000)
 *   --rate R             target ops per second (default: spread over the faults)
 *   --hold-ms A-B        how long each fault lasts (default 1500-3000)
 *   --net MODE           auto | netns | loopback (default auto: netns when root and `ip` exist)
 *   --bug NAME           plant a bug in every node (RAFTKV_TEST_BUG): staleFollowerReads, ackBeforeFsync
 *   --max-seconds S      hard limit of the run (default: 600, more for long runs; see args.ts)
 *   --keep               keep the run directory (node logs, history.jsonl) even when it passes
 *   --discard            delete it even when the run fails (for runs expected to fail)
 *   --sweep              only remove resources left by killed runs, then exit
 *
 * The last line is always `faults: N ops, F faults, V violations, L lost`.
 * Exit codes: 0 pass; 1 violations or lost writes; 2 bad usage or the run
 * could not be carried out; 3 the checker ran out of budget.
 */

import { parseArgs } from "./args.ts";
import { sweepStale } from "./resources.ts";
import { runFaults } from "./runner.ts";
import { Cleanup } from "./sys.ts";

async function main(): Promise<number> {
  let o: ReturnType<typeof parseArgs>;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(
      `faults: ${(e as Error).message}\nusage: npm run faults -- --nodes 3|5 --ops N --faults LIST --seed S`,
    );
    return 2;
  }
  if (o.sweep) {
    const n = await sweepStale((m) => console.log(m));
    console.log(`swept ${n} dead run(s)`);
    return 0;
  }
  const cleanup = new Cleanup();
  cleanup.installHandlers();
  let code: number;
  try {
    const s = await runFaults(o, cleanup);
    cleanup.runAll();
    console.log(`faults: ${s.ops} ops, ${s.faults} faults, ${s.violations} violations, ${s.lost} lost`);
    code = s.exitCode;
  } catch (e) {
    console.error(`faults: the run failed: ${(e as Error).stack ?? String(e)}`);
    cleanup.runAll();
    console.log("faults: 0 ops, 0 faults, 1 violations, 0 lost");
    code = 2;
  }
  return code;
}

// A bare `node --test` treats every file under test/ as a test: don't run a cluster there.
if (import.meta.main && !(process.argv.length <= 2 && process.env.NODE_TEST_CONTEXT)) {
  process.exit(await main());
}
