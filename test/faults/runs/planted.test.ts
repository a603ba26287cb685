/**
 * The runner must catch bugs: each planted bug (RAFTKV_TEST_BUG, test-only
 * switches in the node) must make a run fail with a violation or a lost
 * write, under the faults that expose it.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { runFaults, tail } from "./spawn-run.ts";

const common = ["--nodes", "3", "--ops", "500", "--rate", "40", "--discard"];

test("planted staleFollowerReads: followers answer linearizable reads locally -> a violation", async (t) => {
  const faults = ["--faults", "pause,partition-leader,partition-split", "--rounds", "2"];
  const r = await runFaults(t, [...common, ...faults, "--seed", "17", "--bug", "staleFollowerReads"], 300_000);
  t.diagnostic(
    `${r.ops} ops, ${r.faults} faults, ${r.violations} violations, ${r.lost} lost in ${r.seconds.toFixed(0)} s`,
  );
  assert.equal(r.code, 1, `expected exit 1 (violation):\n${tail(r.output)}`);
  assert.ok(r.violations > 0, tail(r.output));
  assert.match(r.output, /is not linearizable/, "the checker's witness is printed");
});

test("planted ackBeforeFsync: acknowledged before durable, then every node killed -> violation or loss", async (t) => {
  const faults = ["--faults", "restart-all", "--rounds", "3"];
  const r = await runFaults(t, [...common, ...faults, "--seed", "23", "--bug", "ackBeforeFsync"], 300_000);
  t.diagnostic(
    `${r.ops} ops, ${r.faults} faults, ${r.violations} violations, ${r.lost} lost in ${r.seconds.toFixed(0)} s`,
  );
  assert.equal(r.code, 1, `expected exit 1:\n${tail(r.output)}`);
  assert.ok(r.violations + r.lost > 0, tail(r.output));
});
