import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "./harness.ts";

const ids = ["s1", "s2", "s3", "s4", "s5"];

/**
 * Raft paper §5.4.2, Figure 8: "Raft never commits log entries from previous
 * terms by counting replicas." Replays the figure: s1 (term 4) replicates an
 * entry of term 2 to a majority, then dies before its own no-op spreads; s5,
 * holding a term-3 entry at the same index, wins term 5 and overwrites it.
 */
function figure8(commitPrevTermByCount: boolean) {
  const c = new Cluster(ids, {
    maxEntriesPerMsg: 1,
    preVote: false,
    checkQuorum: false,
    bugs: { commitPrevTermByCount },
  });
  c.elect("s1"); // term 2, no-op at index 2 everywhere
  c.isolate("s1");
  const a = c.core("s1").propose("A"); // index 3, term 2, only on s1
  assert.ok(a.ok);
  c.settle();
  c.crash("s1");
  c.heal();
  // s5 wins term 3 but its no-op (index 3, term 3) never leaves it.
  c.filter = (m) => !(m.from === "s5" && m.type === "app");
  c.elect("s5");
  assert.equal(c.core("s5").term, 3);
  c.crash("s5");
  c.start("s1");
  // s1 wins term 4; only its single-entry appends of index 3 reach s3 and s4.
  c.filter = (m) => {
    if (m.from !== "s1" || m.type !== "app") return true;
    if (m.to !== "s3" && m.to !== "s4") return false;
    // Probes the follower must reject get through; the no-op itself does not.
    const rejects = c.core(m.to).log.lastIndex() < (m.index ?? 0);
    return rejects || (m.entries ?? []).every((e) => e.index <= 3);
  };
  c.elect("s1");
  assert.equal(c.core("s1").term, 4);
  const s1Commit = c.core("s1").log.committed;
  assert.equal(c.core("s3").log.term(3), 2, "s3 holds the term-2 entry");
  c.crash("s1");
  c.filter = undefined;
  c.start("s5");
  c.elect("s5");
  return { s1Commit, s5: c.core("s5") };
}

test("§5.4.2 a leader does not commit a previous-term entry by counting replicas (Figure 8)", () => {
  const { s1Commit, s5 } = figure8(false);
  assert.equal(s1Commit, 2, "index 3 (term 2) must stay uncommitted while only counted");
  // s5 may overwrite index 3 because it was never committed.
  assert.equal(s5.log.term(3), 3);
});

test("planted bug: counting previous-term replicas commits an entry that is later overwritten", () => {
  const { s1Commit, s5 } = figure8(true);
  assert.equal(s1Commit, 3, "the bug commits index 3 of term 2");
  assert.notEqual(s5.log.term(3), 2, "and the next leader lacks the committed entry: leader completeness breaks");
});
