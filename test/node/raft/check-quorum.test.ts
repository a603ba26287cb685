/**
 * Check-quorum (thesis §6.2) and the lease check on votes (thesis §4.2.3).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster, msg, sentWhere } from "./harness.ts";

const three = ["s1", "s2", "s3"];

test("§6.2 'a leader steps down if an election timeout elapses without a successful round of heartbeats to a majority of its cluster'", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.tickAll(3); // heartbeats acknowledged up to now
  const s1 = c.core("s1");
  c.isolate("s1");
  c.tick("s1", 9);
  assert.equal(s1.state, "leader", "still within the election timeout of the last acknowledged heartbeat");
  c.tick("s1");
  assert.equal(s1.state, "follower", "exactly electionTicks after the last acknowledgement");
  assert.equal(s1.lead, "");
  assert.equal(s1.term, 2, "stepping down does not change the term");
  assert.throws(() => {
    const r = s1.propose("x");
    if (!r.ok) throw new Error(r.code);
  }, /NO_LEADER/);
});

test("§6.2 a leader that still hears from a majority keeps leading, however many followers are silent", () => {
  const ids = ["s1", "s2", "s3", "s4", "s5"];
  const c = new Cluster(ids);
  c.elect("s1");
  c.isolate("s4");
  c.isolate("s5");
  c.tick("s1", 100);
  assert.equal(c.core("s1").state, "leader");
  c.isolate("s3");
  c.tick("s1", 10);
  assert.equal(c.core("s1").state, "follower", "two of five is not a quorum");
});

test("§6.2 (contrast) without check-quorum an isolated leader never notices", () => {
  const c = new Cluster(three, { checkQuorum: false, preVote: false });
  c.elect("s1");
  c.isolate("s1");
  c.tick("s1", 200);
  assert.equal(c.core("s1").state, "leader");
});

test("§4.2.3 'if a server receives a RequestVote request within the minimum election timeout of hearing from a current leader, it does not update its term or grant its vote'", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.tickAll(2);
  const before = c.sent.length;
  for (const to of ["s2", "s1"]) {
    for (const type of ["vote", "preVote"] as const) {
      c.deliver(msg({ type, from: "s3", to, term: 9, index: 99, logTerm: 9 }));
    }
  }
  c.settle();
  for (const id of three) assert.equal(c.core(id).term, 2, `${id} kept its term`);
  assert.equal(c.core("s2").vote, "s1", "its vote of term 2 stands");
  assert.equal(c.core("s1").state, "leader");
  const answers = c.sent.slice(before).filter((m) => m.type === "voteResp" || m.type === "preVoteResp");
  assert.deepEqual(answers, [], "the request is ignored, not even refused");
});

test("§4.2.3 once an election timeout passes without the leader, the same request is honoured", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.cutLink("s1", "s2");
  c.tick("s2", 10); // at least electionTicks without hearing from s1
  c.deliver(msg({ type: "vote", from: "s3", to: "s2", term: 9, index: 99, logTerm: 9 }));
  assert.equal(c.core("s2").term, 9);
  assert.equal(c.core("s2").vote, "s3");
});

test("§4.2.3 a leadership transfer's RequestVote carries a flag that bypasses the lease check", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.tickAll(2);
  c.deliver(msg({ type: "vote", from: "s3", to: "s2", term: 9, index: 99, logTerm: 9, force: true }));
  assert.equal(c.core("s2").term, 9);
  assert.equal(c.core("s2").vote, "s3");
  c.deliver(msg({ type: "vote", from: "s3", to: "s1", term: 9, index: 99, logTerm: 9, force: true }));
  assert.equal(c.core("s1").state, "follower", "even the leader yields to a forced vote");
  assert.equal(c.core("s1").term, 9);
  c.settle();
  const grants = sentWhere(c, (m) => m.type === "voteResp" && m.to === "s3" && m.term === 9 && !m.reject);
  assert.deepEqual(grants.map((m) => m.from).sort(), ["s1", "s2"]);
});
