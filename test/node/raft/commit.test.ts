/**
 * Commitment (Raft paper §5.3, §5.4.2, Figure 2): what a leader may commit,
 * that the commit index only moves forward, and that committed entries reach
 * the application exactly once, in order.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Entry, Message } from "../../../node/src/raft/types.ts";
import { Cluster, churn } from "./harness.ts";

const three = ["s1", "s2", "s3"];
const five = ["s1", "s2", "s3", "s4", "s5"];

test("§5.3 'A log entry is committed once the leader that created the entry has replicated it on a majority of the servers'", () => {
  const c = new Cluster(five);
  c.elect("s1");
  const reach = new Set(["s2"]);
  c.filter = (m) => !(m.type === "app" && !reach.has(m.to));
  assert.ok(c.core("s1").propose("x").ok);
  c.settle();
  assert.equal(c.core("s1").log.committed, 2, "two of five hold it");
  assert.deepEqual(c.appliedData("s1"), []);
  reach.add("s3");
  c.tick("s1");
  assert.equal(c.core("s1").log.committed, 3, "three of five hold it");
  assert.deepEqual(c.appliedData("s1"), ["x"]);
});

test("§5.4.2 'Only log entries from the leader's current term are committed by counting replicas': a new leader waits for its own no-op", () => {
  const c = new Cluster(three, { maxEntriesPerMsg: 1, preVote: false, checkQuorum: false });
  c.elect("s1"); // term 2, no-op at 2
  // "x" (index 3, term 2) reaches s2, but s1 never learns it did.
  c.filter = (m) => !(m.type === "app" && m.to === "s3") && !(m.type === "appResp" && m.from === "s2");
  assert.ok(c.core("s1").propose("x").ok);
  c.settle();
  assert.equal(c.core("s2").log.term(3), 2);
  assert.equal(c.core("s1").log.committed, 2);
  c.crash("s1");
  // s2 wins term 3; its appends to s3 carry index 3 but never its no-op (index 4).
  c.filter = (m) => {
    if (m.from !== "s2" || m.type !== "app") return true;
    const probeThatFails = c.core(m.to).log.lastIndex() < (m.index ?? 0);
    return probeThatFails || (m.entries ?? []).every((e) => e.index <= 3);
  };
  c.elect("s2");
  const s2 = c.core("s2");
  assert.equal(s2.term, 3);
  assert.equal(c.core("s3").log.term(3), 2, "x of term 2 is now on a majority (s2, s3)");
  assert.equal(s2.status().progress.s3?.match, 3);
  assert.equal(s2.log.committed, 2, "but s2 does not commit it by counting");
  assert.deepEqual(c.appliedData("s2"), []);
  // Once the no-op of term 3 reaches s3, both entries commit together.
  c.filter = undefined;
  c.tick("s2");
  assert.equal(s2.log.committed, 4);
  assert.deepEqual(
    (c.applied.get("s2") ?? []).slice(-2).map((e) => [e.index, e.term, e.type]),
    [
      [3, 2, "normal"],
      [4, 3, "noop"],
    ],
  );
});

test("Figure 2 'commitIndex: index of highest log entry known to be committed (initialized to 0, increases monotonically)'", () => {
  for (const seed of [1, 2, 3]) {
    const c = new Cluster(five);
    const high = new Map<string, number>();
    let checked = 0;
    c.onReady = (id, rd, disk) => {
      const prev = high.get(id) ?? 0;
      const now = c.cores.get(id)?.log.committed ?? 0;
      assert.ok(now >= prev, `seed ${seed}: ${id} commit went back from ${prev} to ${now}`);
      if (rd.hardState) assert.ok(rd.hardState.commit >= prev, `seed ${seed}: ${id} persisted a lower commit`);
      assert.ok(disk.state.hardState.commit >= prev);
      high.set(id, Math.max(prev, now));
      checked++;
    };
    c.elect("s1");
    churn(c, seed, 300);
    assert.ok(checked > 100);
    assert.ok((high.get("s1") ?? 0) > 10, "the run committed something");
  }
});

test("§5.3 'Once a follower learns that a log entry is committed, it applies the entry to its local state machine (in log order)', exactly once", () => {
  for (const seed of [5, 6, 7]) {
    const c = new Cluster(five);
    // A restart replays from the start of the log, so track deliveries per life of a core.
    const lives = new Map<string, Entry[]>();
    c.onReady = (id, rd) => {
      assert.equal(rd.snapshotRestore, false, "no snapshots in this run");
      const got = lives.get(id) ?? [];
      for (const e of rd.committed) {
        const expected = (got[got.length - 1]?.index ?? 0) + 1;
        assert.equal(e.index, expected, `seed ${seed}: ${id} applied ${e.index} after ${expected - 1}`);
        got.push(e);
      }
      lives.set(id, got);
    };
    const origStart = c.start.bind(c);
    c.start = (id) => {
      lives.set(id, []);
      return origStart(id);
    };
    c.elect("s1");
    const proposed = churn(c, seed, 300);
    assert.ok((c.leader()?.term ?? 0) > 3, "the run changed leaders");
    // Everyone converged on the same sequence of entries.
    const ref = lives.get("s1") ?? [];
    for (const id of five) {
      const got = lives.get(id) ?? [];
      const n = Math.min(got.length, ref.length);
      assert.deepEqual(got.slice(0, n), ref.slice(0, n), `seed ${seed}: ${id} agrees with s1`);
    }
    // Every applied application entry was proposed, and none twice.
    const data = ref.filter((e) => e.type === "normal").map((e) => e.data);
    assert.equal(new Set(data).size, data.length, "no entry applied twice");
    assert.ok(data.every((d) => proposed.includes(d)));
    assert.ok(data.length > 10);
  }
});

test("§5.4.2 committed entries survive any later leader (Leader Completeness across churn)", () => {
  const c = new Cluster(five);
  const committed = new Map<number, Entry>();
  const check = (id: string, e: Entry) => {
    const prev = committed.get(e.index);
    if (prev) assert.deepEqual(e, prev, `${id} applied a different entry at ${e.index}`);
    else committed.set(e.index, e);
  };
  c.onReady = (id, rd) => {
    for (const e of rd.committed) check(id, e);
  };
  const leaderLogs = (m: Message) => {
    if (m.type !== "app") return;
    for (const e of m.entries ?? []) {
      const prev = committed.get(e.index);
      if (prev) assert.deepEqual(e, prev, `leader ${m.from} sent a different entry at committed index ${e.index}`);
    }
  };
  const deliver = c.deliver.bind(c);
  c.deliver = (m) => {
    leaderLogs(m);
    deliver(m);
  };
  c.elect("s1");
  churn(c, 11, 400);
  assert.ok(committed.size > 10);
});
