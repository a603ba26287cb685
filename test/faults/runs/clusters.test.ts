/**
 * Fault-injection runs on real clusters (the "faults" tier of `npm test`):
 * 3 and 5 nodes, 3000 operations each, every fault type this machine can do
 * (all of them as root with iproute2 and iptables). Each must end with no
 * linearizability violation, no divergence and no lost write.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { runFaults, tail } from "./spawn-run.ts";

/** Distinct fault types the run injected (from its `fault k/K type: ...` lines). */
function injectedTypes(output: string): Set<string> {
  return new Set([...output.matchAll(/fault \d+\/\d+ ([a-z-]+): (?!could not)/g)].map((m) => m[1] as string));
}

const ALL = [
  "kill",
  "kill-leader",
  "pause",
  "partition-leader",
  "partition-split",
  "partition-bridge",
  "restart-all",
  "wipe",
  "membership",
  "transfer",
  "slow-disk",
  "disk-full",
].join(",");

for (const { nodes, seed } of [
  { nodes: 3, seed: 301 },
  { nodes: 5, seed: 502 },
]) {
  test(`${nodes} nodes, 3000 ops under every fault type: linearizable, converged, nothing lost`, async (t) => {
    const r = await runFaults(
      t,
      ["--nodes", String(nodes), "--ops", "3000", "--faults", ALL, "--seed", String(seed)],
      400_000,
    );
    const types = injectedTypes(r.output);
    t.diagnostic(`${r.ops} ops, ${r.faults} faults (${[...types].join(", ")}) in ${r.seconds.toFixed(0)} s`);
    assert.equal(r.code, 0, `the run failed (exit ${r.code}):\n${tail(r.output)}`);
    assert.equal(r.violations, 0, tail(r.output));
    assert.equal(r.lost, 0, tail(r.output));
    assert.ok(r.ops >= 3000, `only ${r.ops} ops`);
    assert.ok(types.size >= 6, `only ${types.size} fault types ran: ${[...types].join(", ")}\n${tail(r.output)}`);
  });
}
