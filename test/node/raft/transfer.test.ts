/**
 * Leadership transfer (thesis §3.10).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster, sentWhere } from "./harness.ts";

const three = ["s1", "s2", "s3"];

function code(r: { ok: true } | { ok: false; code: string }): string {
  return r.ok ? "ok" : r.code;
}

test("§3.10 'the prior leader sends a TimeoutNow request to the target server', which starts an election at once", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.tickAll(2);
  const s1 = c.core("s1");
  assert.deepEqual(s1.transferLeader("s2"), { ok: true, index: 2, term: 2 });
  const out = c.drain("s1");
  assert.deepEqual(
    out.map((m) => [m.type, m.to]),
    [["timeoutNow", "s2"]],
    "s2 is caught up: TimeoutNow goes out in the next Ready",
  );
  for (const m of out) c.deliver(m);
  c.settle();
  assert.equal(c.core("s2").state, "leader");
  assert.equal(c.core("s2").term, 3, "one new term, no pre-vote round");
  assert.equal(s1.state, "follower");
  assert.equal(s1.lead, "s2");
  const votes = sentWhere(c, (m) => m.type === "vote" && m.from === "s2");
  assert.ok(votes.length === 2 && votes.every((m) => m.force === true), "its vote requests bypass the lease");
});

test("§3.10 the prior leader first brings the target's log up to date, and only then sends TimeoutNow", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const s1 = c.core("s1");
  c.filter = (m) => !(m.type === "app" && m.to === "s3");
  for (const v of ["a", "b", "c"]) assert.ok(s1.propose(v).ok);
  c.settle();
  assert.equal(c.core("s3").log.lastIndex(), 2);
  const before = c.sent.length;
  assert.ok(s1.transferLeader("s3").ok);
  c.settle();
  c.tick("s1", 3);
  assert.deepEqual(
    c.sent.slice(before).filter((m) => m.type === "timeoutNow"),
    [],
    "not while s3 lags",
  );
  assert.equal(s1.state, "leader");
  c.filter = undefined;
  c.tick("s1");
  const sent = c.sent.slice(before);
  const tn = sent.findIndex((m) => m.type === "timeoutNow" && m.to === "s3");
  const caughtUp = sent.findIndex((m) => m.type === "appResp" && m.from === "s3" && m.index === 5);
  assert.ok(caughtUp >= 0 && tn > caughtUp, "TimeoutNow follows s3's acknowledgement of the last entry");
  assert.equal(c.core("s3").state, "leader");
  assert.deepEqual(c.appliedData("s3"), ["a", "b", "c"]);
});

test("§3.10 'the prior leader stops accepting new client requests' while the transfer is under way", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const s1 = c.core("s1");
  c.crash("s3");
  assert.ok(s1.transferLeader("s3").ok);
  assert.equal(code(s1.propose("x")), "TRANSFERRING");
  assert.equal(code(s1.proposeConfChange({ op: "remove", id: "s2" })), "TRANSFERRING");
  assert.equal(s1.log.lastIndex(), 2, "nothing was appended");
});

test("§3.10 'If the transfer does not complete within about an election timeout, the prior leader aborts the transfer and resumes accepting client requests'", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.tickAll(2);
  const s1 = c.core("s1");
  c.crash("s3");
  assert.ok(s1.transferLeader("s3").ok);
  c.tick("s1", 9);
  assert.equal(s1.status().transferee, "s3");
  assert.equal(code(s1.propose("x")), "TRANSFERRING");
  c.tick("s1");
  assert.equal(s1.status().transferee, "", "aborted after electionTicks");
  assert.equal(s1.state, "leader");
  assert.equal(code(s1.propose("x")), "ok");
  c.settle();
  assert.deepEqual(c.appliedData("s1"), ["x"]);
});

test("§3.10 only a voter can take over: transferring to a learner or a stranger is refused with UNKNOWN_MEMBER", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.addBlank("s4");
  const s1 = c.core("s1");
  assert.ok(s1.proposeConfChange({ op: "addLearner", id: "s4", incarnation: "s4.0" }).ok);
  c.settle();
  assert.equal(code(s1.transferLeader("s4")), "UNKNOWN_MEMBER");
  assert.equal(code(s1.transferLeader("s9")), "UNKNOWN_MEMBER");
  assert.equal(s1.status().transferee, "");
  assert.equal(code(s1.propose("still fine")), "ok");
  // A learner that receives a TimeoutNow anyway does not campaign.
  const before = c.sent.length;
  c.core("s4").step({ type: "timeoutNow", from: "s1", to: "s4", term: s1.term, fromInc: "s1.0" });
  c.settle();
  assert.equal(c.core("s4").state, "follower");
  assert.equal(c.sent.slice(before).filter((m) => m.from === "s4" && m.type === "vote").length, 0);
  // Followers and a transfer to itself.
  assert.equal(code(c.core("s2").transferLeader("s3")), "NOT_LEADER");
  assert.equal(code(s1.transferLeader("s1")), "ok");
  assert.equal(s1.status().transferee, "", "transferring to itself is a no-op");
});
