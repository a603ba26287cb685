/**
 * Linearizable reads without log writes: the ReadIndex protocol of thesis
 * §6.4 (leader side, learners excluded, follower forwarding).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Message } from "../../../node/src/raft/types.ts";
import { Cluster, sentWhere } from "./harness.ts";

const three = ["s1", "s2", "s3"];

function readsOf(c: Cluster, id: string): string[] {
  return (c.reads.get(id) ?? []).map((r) => `${r.context}@${r.index}`);
}

test("§6.4 'If the leader has not yet marked an entry from its current term committed, it waits until it has done so'", () => {
  const c = new Cluster(three);
  c.filter = (m) => m.type !== "appResp"; // the no-op of term 2 cannot commit
  c.elect("s1");
  const s1 = c.core("s1");
  assert.equal(s1.log.committed, 1);
  const r = s1.readIndex("early");
  assert.equal(r.ok, false);
  assert.equal(r.ok ? "" : r.code, "NOT_READY");
  // A follower's forwarded read is not answered either.
  assert.ok(c.core("s2").readIndex("early-f").ok);
  c.settle();
  assert.deepEqual(
    sentWhere(c, (m) => m.type === "readIndexResp"),
    [],
  );
  assert.deepEqual(readsOf(c, "s2"), []);
  // Once the no-op commits, reads are served.
  c.filter = undefined;
  c.tick("s1");
  assert.equal(s1.log.committed, 2);
  const ok = s1.readIndex("later");
  assert.deepEqual(ok, { ok: true, index: 2, term: 2 });
  c.settle();
  assert.deepEqual(readsOf(c, "s1"), ["later@2"]);
});

test("§6.4 'The leader saves its current commit index ... issues a new round of heartbeats and waits for their acknowledgments from a majority'", () => {
  const five = ["s1", "s2", "s3", "s4", "s5"];
  const c = new Cluster(five);
  c.elect("s1");
  c.tickAll(2);
  const s1 = c.core("s1");
  assert.deepEqual(s1.readIndex("r1"), { ok: true, index: 2, term: 2 });
  const hbs = c.drain("s1");
  assert.deepEqual(
    hbs.map((m) => [m.type, m.to, m.context]),
    ["s2", "s3", "s4", "s5"].map((to) => ["heartbeat", to, "r1"]),
  );
  assert.deepEqual(readsOf(c, "s1"), [], "nothing released before the round");
  const ackFrom = (id: string) => {
    const hb = hbs.find((m) => m.to === id) as Message;
    c.deliver(hb);
    for (const m of c.drain(id)) c.deliver(m);
    c.drain("s1");
  };
  // Meanwhile a write commits: the read still answers with the index saved when it arrived.
  assert.ok(s1.propose("w").ok);
  ackFrom("s2");
  assert.deepEqual(readsOf(c, "s1"), [], "the leader and s2 are two of five");
  ackFrom("s3");
  assert.deepEqual(readsOf(c, "s1"), ["r1@2"], "three of five: released at the saved index");
  ackFrom("s4");
  assert.deepEqual(readsOf(c, "s1"), ["r1@2"], "released once");
});

test("§6.4 learners do not count toward the heartbeat quorum that confirms a read", () => {
  const c = new Cluster(three);
  c.elect("s1");
  for (const id of ["s4", "s5"]) {
    c.addBlank(id);
    assert.ok(c.core("s1").proposeConfChange({ op: "addLearner", id, incarnation: `${id}.0` }).ok);
    c.settle();
    c.tick("s1", 2);
  }
  const s1 = c.core("s1");
  assert.deepEqual(Object.keys(s1.config.learners), ["s4", "s5"]);
  c.cutLink("s1", "s2");
  c.cutLink("s1", "s3");
  const before = c.sent.length;
  assert.ok(s1.readIndex("r").ok);
  c.settle();
  c.tick("s1", 3);
  const acks = c.sent.slice(before).filter((m) => m.type === "heartbeatResp" && m.context === "r");
  assert.deepEqual([...new Set(acks.map((m) => m.from))].sort(), ["s4", "s5"], "both learners confirmed");
  assert.deepEqual(readsOf(c, "s1"), [], "two learners and the leader are not a majority of three voters");
  c.heal();
  c.tick("s1");
  assert.deepEqual(readsOf(c, "s1"), [`r@${s1.log.committed}`]);
});

test("§6.4 'the leader needs to make sure it hasn't been superseded by a newer leader': a partitioned leader never releases a read", () => {
  for (const checkQuorum of [true, false]) {
    const c = new Cluster(three, { checkQuorum, preVote: checkQuorum });
    c.elect("s1");
    c.tickAll(2);
    c.isolate("s1");
    const newer = () => ["s2", "s3"].map((id) => c.core(id)).find((n) => n.state === "leader");
    for (let k = 0; k < 60 && !newer(); k++) {
      c.tick("s2");
      c.tick("s3");
    }
    const l2 = newer();
    assert.ok(l2);
    assert.ok(l2.propose("newer").ok);
    c.settle();
    assert.equal(l2.log.committed, 4);
    const s1 = c.core("s1");
    assert.equal(s1.state, "leader", "s1 has not noticed yet");
    assert.ok(s1.readIndex("stale").ok, "the read is accepted...");
    c.tick("s1", 50);
    assert.deepEqual(readsOf(c, "s1"), [], `checkQuorum=${checkQuorum}`);
    c.heal();
    c.tickAll(5);
    assert.equal(s1.state, "follower");
    assert.deepEqual(readsOf(c, "s1"), [], `checkQuorum=${checkQuorum}: not even after healing`);
  }
});

test("§6.4 followers serve reads by asking the leader for the current readIndex (readIndex / readIndexResp)", () => {
  const c = new Cluster(three);
  assert.equal(c.core("s2").readIndex("none").ok, false, "no leader known yet");
  const r0 = c.core("s2").readIndex("none");
  assert.equal(r0.ok ? "" : r0.code, "NO_LEADER");
  c.elect("s1");
  assert.ok(c.core("s1").propose("x").ok);
  c.settle();
  const before = c.sent.length;
  assert.ok(c.core("s2").readIndex("f1").ok);
  c.settle();
  const flow = c.sent
    .slice(before)
    .filter((m) => m.context === "f1")
    .map((m) => `${m.type} ${m.from}>${m.to}`);
  assert.equal(flow[0], "readIndex s2>s1", "forwarded to the leader");
  assert.ok(flow.includes("heartbeat s1>s3"), "the leader confirms its leadership with a round");
  assert.equal(flow[flow.length - 1], "readIndexResp s1>s2", "and answers the follower");
  assert.deepEqual(readsOf(c, "s2"), ["f1@3"]);
  assert.deepEqual(readsOf(c, "s1"), [], "the leader does not serve it itself");
});
