/**
 * Single-server membership changes (thesis §4.1–§4.4) with learners
 * (non-voting members, §4.2.1).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConfChange } from "../../../node/src/raft/types.ts";
import { Cluster, logOf, msg, sentWhere } from "./harness.ts";

const three = ["s1", "s2", "s3"];
const five = ["s1", "s2", "s3", "s4", "s5"];

function code(r: { ok: true } | { ok: false; code: string }): string {
  return r.ok ? "ok" : r.code;
}

/** Proposes a change on the leader and lets it commit. */
function change(c: Cluster, leader: string, cc: ConfChange): void {
  const r = c.core(leader).proposeConfChange(cc);
  assert.ok(r.ok, JSON.stringify(r));
  c.settle();
  c.tick(leader, 2);
  assert.ok(c.core(leader).log.committed >= r.index, "the change committed");
}

/** A three-voter cluster led by s1 with s4 added as a learner and caught up. */
function withLearner(): Cluster {
  const c = new Cluster(three);
  c.elect("s1");
  assert.ok(c.core("s1").propose("before").ok);
  c.settle();
  c.addBlank("s4");
  change(c, "s1", { op: "addLearner", id: "s4", incarnation: "s4.0" });
  return c;
}

test("§4.2.1 'a new server joins the cluster as a non-voting member': a learner receives the whole log", () => {
  const c = withLearner();
  const s4 = c.core("s4");
  assert.deepEqual(s4.config.learners, { s4: "s4.0" });
  assert.deepEqual(logOf(s4), logOf(c.core("s1")));
  assert.deepEqual(c.appliedData("s4"), ["before"]);
  assert.ok(c.core("s1").propose("after").ok);
  c.settle();
  c.tick("s1");
  assert.deepEqual(c.appliedData("s4"), ["before", "after"]);
});

test("§4.2.1 a learner's acknowledgement never counts toward commitment", () => {
  const c = withLearner();
  c.cutLink("s1", "s2");
  c.cutLink("s1", "s3");
  const s1 = c.core("s1");
  const r = s1.propose("x");
  assert.ok(r.ok);
  c.settle();
  c.tick("s1", 3);
  assert.equal(s1.status().progress.s4?.match, r.index, "the learner holds it");
  assert.ok(s1.log.committed < r.index, "a leader and a learner are not a majority of three voters");
  c.heal();
  c.tick("s1");
  assert.equal(s1.log.committed, r.index);
});

test("§4.2.1 a learner never campaigns and its vote never counts", () => {
  const c = withLearner();
  c.isolate("s4");
  const before = c.sent.length;
  c.tick("s4", 200);
  assert.equal(c.core("s4").state, "follower");
  assert.deepEqual(
    c.sent.slice(before).filter((m) => m.from === "s4"),
    [],
    "not even a pre-vote",
  );
  c.heal();
  // A candidate ignores a vote from the learner: with s2 and s3 down, s1 cannot win.
  c.crash("s2");
  c.crash("s3");
  const s1 = c.restart("s1");
  for (let k = 0; k < 40 && s1.state !== "preCandidate"; k++) c.tick("s1");
  assert.equal(s1.state, "preCandidate");
  s1.step(msg({ type: "preVoteResp", from: "s4", to: "s1", term: s1.term + 1 }));
  assert.equal(s1.state, "preCandidate", "the learner's pre-vote is not counted");
  assert.deepEqual(
    sentWhere(c, (m) => m.from === "s1" && m.type === "preVote" && m.to === "s4"),
    [],
    "and it is not even asked",
  );
});

test("§4.2.1 promoting a caught-up learner makes it a voter that counts and may lead", () => {
  const c = withLearner();
  change(c, "s1", { op: "promote", id: "s4" });
  const s1 = c.core("s1");
  assert.deepEqual(Object.keys(s1.config.voters).sort(), ["s1", "s2", "s3", "s4"]);
  assert.deepEqual(c.core("s4").config.learners, {});
  // Four voters: s1 and s4 alone are not enough ...
  c.cutLink("s1", "s2");
  c.cutLink("s1", "s3");
  const r = s1.propose("x");
  assert.ok(r.ok);
  c.settle();
  assert.ok(s1.log.committed < r.index);
  // ... but with s2 they are three of four.
  c.heal();
  c.cutLink("s1", "s3");
  c.tick("s1");
  assert.equal(s1.log.committed, r.index);
  c.heal();
  c.tick("s1", 2);
  assert.ok(s1.transferLeader("s4").ok, "s4 is a voter now: it can take over");
  c.settle();
  assert.equal(c.core("s4").state, "leader");
});

test("§4.1 removing a follower: the leader stops replicating to it at once, and its answers stop counting", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.tickAll(2);
  const s1 = c.core("s1");
  const last3 = c.core("s3").log.lastIndex();
  const r = s1.proposeConfChange({ op: "remove", id: "s3" });
  assert.ok(r.ok);
  assert.deepEqual(Object.keys(s1.config.voters).sort(), ["s1", "s2"]);
  assert.equal(s1.status().progress.s3, undefined, "no progress is kept for s3");
  c.settle();
  assert.equal(s1.log.committed, r.index, "s1 and s2 are a majority of the new configuration");
  assert.equal(c.core("s3").log.lastIndex(), last3, "s3 never even receives the entry that removes it");
  // A stray acknowledgement from s3 is ignored.
  s1.step(msg({ type: "appResp", from: "s3", to: "s1", term: s1.term, index: r.index }));
  assert.equal(s1.status().progress.s3, undefined);
  assert.ok(s1.propose("x").ok);
  c.settle();
  assert.deepEqual(c.appliedData("s2"), ["x"]);
});

test("§4.2.3 a removed server that times out 'can disrupt the cluster' unless servers ignore RequestVotes while they hear from a leader", () => {
  const c = new Cluster(three);
  c.elect("s1");
  change(c, "s1", { op: "remove", id: "s3" });
  const term = c.core("s1").term;
  const before = c.sent.length;
  c.tickAll(100);
  const asks = c.sent.slice(before).filter((m) => m.from === "s3" && (m.type === "preVote" || m.type === "vote"));
  assert.ok(asks.length > 0, "s3 never heard of its removal and keeps asking for votes");
  assert.equal(c.leader()?.id, "s1");
  assert.equal(c.core("s1").term, term, "but the cluster ignores it");
  assert.equal(c.core("s2").term, term);
});

test("§4.1 'a server always uses the latest configuration in its log, regardless of whether the entry is committed'", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.addBlank("s4");
  const s1 = c.core("s1");
  c.filter = (m) => m.type !== "appResp"; // nothing more commits
  const r = s1.proposeConfChange({ op: "addLearner", id: "s4", incarnation: "s4.0" });
  assert.ok(r.ok);
  assert.deepEqual(s1.config.learners, { s4: "s4.0" }, "the leader switches as it appends");
  assert.equal(s1.status().configIndex, r.index);
  assert.ok(s1.status().progress.s4, "and starts replicating to the new member");
  c.settle();
  const s2 = c.core("s2");
  assert.ok(s2.log.committed < r.index);
  assert.deepEqual(s2.config.learners, { s4: "s4.0" }, "followers switch when they append it");
});

test("§4.1 'a server must be prepared to fall back to the previous configuration in its log' when the entry is truncated", () => {
  const c = new Cluster(five, { preVote: false, checkQuorum: false });
  c.elect("s1");
  c.addBlank("s6");
  c.filter = (m) => !(m.type === "app" && m.from === "s1" && m.to !== "s2");
  const r = c.core("s1").proposeConfChange({ op: "addLearner", id: "s6", incarnation: "s6.0" });
  assert.ok(r.ok);
  c.settle();
  assert.deepEqual(c.core("s2").config.learners, { s6: "s6.0" });
  c.crash("s1");
  c.filter = undefined;
  c.elect("s3"); // s3, s4, s5 elect s3; its no-op overwrites index 3 on s2
  c.tick("s3", 2);
  const s2 = c.core("s2");
  assert.equal(s2.log.entry(r.index)?.type, "noop");
  assert.deepEqual(s2.config.learners, {}, "s2 fell back to the bootstrap configuration");
  assert.equal(s2.status().configIndex, 1);
  const s1 = c.start("s1");
  assert.deepEqual(s1.config.learners, { s6: "s6.0" }, "s1 restarts with its own uncommitted entry ...");
  c.tick("s3", 2);
  assert.deepEqual(s1.config.learners, {}, "... and falls back once the new leader overwrites it");
  assert.deepEqual(logOf(s1), logOf(c.core("s3")));
});

test("§4.1 one change at a time: a second change is refused while the first is uncommitted (CONFIG_CHANGE_PENDING)", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const s1 = c.core("s1");
  c.filter = (m) => m.type !== "appResp";
  c.addBlank("s4");
  assert.ok(s1.proposeConfChange({ op: "addLearner", id: "s4", incarnation: "s4.0" }).ok);
  c.settle();
  assert.equal(code(s1.proposeConfChange({ op: "remove", id: "s3" })), "CONFIG_CHANGE_PENDING");
  assert.equal(code(s1.proposeConfChange({ op: "promote", id: "s4" })), "CONFIG_CHANGE_PENDING");
  c.filter = undefined;
  c.tick("s1", 2);
  assert.equal(code(s1.proposeConfChange({ op: "promote", id: "s4" })), "ok");
});

test("§4.1 (with Ongaro's 2015 fix to single-server changes) a leader makes no change before it has committed an entry in its term (NOT_READY)", () => {
  const c = new Cluster(three);
  c.filter = (m) => m.type !== "appResp";
  c.elect("s1");
  const s1 = c.core("s1");
  assert.equal(s1.log.committed, 1, "the no-op is not committed");
  assert.equal(code(s1.proposeConfChange({ op: "remove", id: "s3" })), "NOT_READY");
  c.filter = undefined;
  c.tick("s1");
  assert.equal(code(s1.proposeConfChange({ op: "remove", id: "s3" })), "ok");
});

test("§4.2.2 a leader removed from the configuration 'replicates log entries but does not count itself in majorities' and steps down once it commits", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.tickAll(2);
  const s1 = c.core("s1");
  c.filter = (m) => !(m.type === "app" && m.to === "s3");
  const r = s1.proposeConfChange({ op: "remove", id: "s1" });
  assert.ok(r.ok);
  c.settle();
  assert.deepEqual(Object.keys(s1.config.voters).sort(), ["s2", "s3"]);
  assert.equal(s1.status().progress.s2?.match, r.index, "s2 holds the change");
  assert.equal(s1.state, "leader", "s1 keeps leading meanwhile");
  assert.ok(s1.log.committed < r.index, "s1 and s2 were a majority of the old configuration, not of the new one");
  const x = s1.propose("x");
  assert.ok(x.ok, "it still serves clients");
  c.settle();
  const before = c.sent.length;
  c.filter = undefined;
  c.tick("s1");
  assert.equal(s1.log.committed, x.index, "committed by s2 and s3");
  assert.equal(s1.state, "follower", "then it steps down");
  const handover = c.sent.slice(before).filter((m) => m.type === "timeoutNow");
  assert.equal(handover.length, 1, "and hands over with TimeoutNow");
  assert.equal(handover[0]?.from, "s1");
  const next = c.leader();
  assert.ok(next && next.id !== "s1" && next.term === 3);
  assert.deepEqual(c.appliedData(next.id), ["x"]);
  const quiet = c.sent.length;
  c.tickAll(50);
  assert.deepEqual(
    c.sent.slice(quiet).filter((m) => m.from === "s1" && (m.type === "vote" || m.type === "preVote")),
    [],
    "the removed server never campaigns",
  );
  assert.equal(c.leader()?.id, next.id);
});

test("§4.1 changes that make no sense are refused: the last voter, unknown members, no-op changes", () => {
  const solo = new Cluster(["s1"]);
  solo.elect("s1");
  solo.tick("s1");
  const s = solo.core("s1");
  assert.equal(code(s.proposeConfChange({ op: "remove", id: "s1" })), "BAD_CONFIG_CHANGE");
  assert.deepEqual(Object.keys(s.config.voters), ["s1"]);
  solo.addBlank("s2");
  assert.equal(code(s.proposeConfChange({ op: "addLearner", id: "s2", incarnation: "s2.0" })), "ok");
  solo.settle();
  solo.tick("s1", 2);
  assert.equal(code(s.proposeConfChange({ op: "remove", id: "s1" })), "BAD_CONFIG_CHANGE", "a learner is no voter");

  const c = new Cluster(three);
  c.elect("s1");
  const s1 = c.core("s1");
  assert.equal(code(s1.proposeConfChange({ op: "remove", id: "s9" })), "UNKNOWN_MEMBER");
  assert.equal(code(s1.proposeConfChange({ op: "promote", id: "s2" })), "UNKNOWN_MEMBER");
  assert.equal(code(s1.proposeConfChange({ op: "addLearner", id: "s2", incarnation: "s2.0" })), "BAD_CONFIG_CHANGE");
  assert.equal(code(s1.proposeConfChange({ op: "addLearner", id: "s5", incarnation: "" })), "BAD_CONFIG_CHANGE");
  assert.equal(code(c.core("s2").proposeConfChange({ op: "remove", id: "s3" })), "NOT_LEADER");
  assert.equal(s1.log.lastIndex(), 2, "no refused change reached the log");
});

test("thesis §4.2.1 a new server catches up before it counts: promoting a learner that holds too little of the log is refused", () => {
  const c = new Cluster(["s1", "s2", "s3"]);
  c.elect("s1");
  const s1 = c.core("s1");
  for (let k = 0; k < 20; k++) s1.propose(`v${k}`);
  c.settle();
  // An id nobody answers for (a typo, or a pod that never came up) can be added but never promoted.
  assert.ok(s1.proposeConfChange({ op: "addLearner", id: "ghost", incarnation: "ghost.0" }).ok);
  c.settle();
  const r = s1.proposeConfChange({ op: "promote", id: "ghost" });
  assert.equal(r.ok, false);
  assert.equal(r.ok === false && r.code, "NOT_READY");
  assert.match(r.ok === false ? r.message : "", /not caught up \(holds 0 of \d+\)/);
  assert.deepEqual(Object.keys(s1.config.voters).sort(), ["s1", "s2", "s3"]);
});
