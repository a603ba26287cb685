/**
 * Pre-vote (Ongaro's thesis §9.6): a would-be candidate first asks whether it
 * could win, and raises its term only when a majority says yes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftCore } from "../../../node/src/raft/core.ts";
import { Cluster, msg, readies, sentWhere, votersOf } from "./harness.ts";

const three = ["s1", "s2", "s3"];

test("§9.6 'a candidate only increments its term if it first learns from a majority of the cluster that they would be willing to grant the candidate their votes': an isolated node keeps its term", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const term = c.core("s1").term;
  c.isolate("s3");
  c.tick("s3", 200);
  assert.equal(c.core("s3").term, term, "no term inflation however long it waits");
  const asked = sentWhere(c, (m) => m.from === "s3" && (m.type === "preVote" || m.type === "vote"));
  assert.ok(asked.length > 10, "it kept asking");
  assert.ok(
    asked.every((m) => m.type === "preVote" && m.term === term + 1),
    "only pre-votes, for term+1",
  );
  for (const id of ["s1", "s2"]) assert.equal(c.core(id).term, term);
});

test("§9.6 a pre-vote request leaves the voter's term and vote untouched, granted or not", () => {
  const voter = new RaftCore({ id: "s2", seed: 1 }, RaftCore.bootstrap("s2.0", votersOf(three)));
  voter.step(msg({ type: "preVote", from: "s1", to: "s2", term: 5, index: 1, logTerm: 1 }));
  const rds = readies(voter);
  assert.ok(
    rds.every((rd) => rd.hardState === undefined && !rd.mustSync),
    "nothing to persist",
  );
  const out = rds.flatMap((rd) => rd.messages);
  assert.deepEqual(
    out.map((m) => [m.type, m.to, m.term, m.reject ?? false]),
    [["preVoteResp", "s1", 5, false]],
    "granted, answered in the term it was asked for",
  );
  assert.equal(voter.term, 1);
  assert.equal(voter.vote, "");

  // A second pre-candidate may be granted too: a pre-vote binds nobody.
  voter.step(msg({ type: "preVote", from: "s3", to: "s2", term: 5, index: 1, logTerm: 1 }));
  assert.equal(readies(voter).flatMap((rd) => rd.messages)[0]?.reject, undefined);

  // A pre-candidate whose log is behind is refused (§5.4.1 applies to pre-votes).
  const behind = new RaftCore({ id: "s2", seed: 1 }, RaftCore.bootstrap("s2.0", votersOf(three)));
  behind.step(msg({ type: "preVote", from: "s3", to: "s2", term: 5, index: 0, logTerm: 0 }));
  const refusal = readies(behind).flatMap((rd) => rd.messages);
  assert.deepEqual(
    refusal.map((m) => [m.type, m.reject]),
    [["preVoteResp", true]],
  );
  assert.equal(behind.term, 1);
});

test("§9.6 a pre-candidate that wins the pre-vote raises its term exactly once and becomes leader", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const term = c.core("s1").term;
  c.crash("s1");
  c.tickAll(40);
  const leader = c.leader();
  assert.ok(leader && leader.id !== "s1");
  assert.equal(leader.term, term + 1);
  const votes = sentWhere(c, (m) => m.type === "vote" && m.term > term);
  assert.ok(votes.every((m) => m.term === term + 1));
});

test("§9.6 a server rejoining after a partition does not disrupt the stable leader (no term change)", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const term = c.core("s1").term;
  c.isolate("s3");
  c.tick("s3", 100);
  c.tickAll(5);
  assert.ok(c.core("s1").propose("during").ok);
  c.settle();
  c.heal();
  c.tickAll(30);
  assert.equal(c.leader()?.id, "s1", "the stable leader keeps its place");
  for (const id of three) assert.equal(c.core(id).term, term, `${id}'s term`);
  assert.equal(c.core("s3").lead, "s1");
  assert.deepEqual(c.appliedData("s3"), ["during"], "and the rejoined node catches up");
});

test("§9.6 (contrast) without pre-vote the rejoining server forces a new term on everyone", () => {
  const c = new Cluster(three, { preVote: false, checkQuorum: false });
  c.elect("s1");
  const term = c.core("s1").term;
  c.isolate("s3");
  c.tick("s3", 100);
  assert.ok(c.core("s3").term > term + 3, "terms inflate in isolation");
  c.heal();
  c.tickAll(40);
  assert.ok((c.leader()?.term ?? 0) > term + 3, "the cluster had to follow the inflated term");
});

test("§9.6 voters grant a pre-vote only if they 'have not received heartbeats from a valid leader for at least a baseline election timeout' (pre-vote without check-quorum)", {}, () => {
  const c = new Cluster(three, { preVote: true, checkQuorum: false });
  c.elect("s1");
  c.tickAll(3);
  const s1 = c.core("s1");
  const term = s1.term;
  c.cutOneWay("s1", "s3"); // s3 stops hearing s1; s2 hears s1 every tick
  c.tickAll(40);
  assert.equal(c.leader()?.id, "s1", "the healthy leader stays");
  assert.equal(s1.term, term, "and nobody's term moves");
});
