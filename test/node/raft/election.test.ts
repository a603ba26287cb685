/**
 * Leader election (Raft paper §5.1, §5.2, §5.4.1), checked one rule at a time
 * on standalone cores (hand-delivered messages) or the synchronous harness.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftCore } from "../../../node/src/raft/core.ts";
import type { CoreOptions } from "../../../node/src/raft/options.ts";
import type { PersistedState } from "../../../node/src/raft/types.ts";
import { Cluster, logState, msg, outbox, readies, sentWhere, votersOf } from "./harness.ts";

const three = ["s1", "s2", "s3"];

function core(id: string, state: PersistedState, o: Partial<CoreOptions> = {}): RaftCore {
  return new RaftCore({ id, seed: 7, electionTicks: 10, heartbeatTicks: 1, ...o }, state);
}

/** Ticks a standalone core until `done` holds (at most `max` ticks) and returns how many ticks it took. */
function ticksUntil(c: RaftCore, done: () => boolean, max = 1000): number {
  for (let n = 1; n <= max; n++) {
    c.tick();
    if (done()) return n;
  }
  throw new Error("condition never held");
}

test("§5.2 'Raft uses randomized election timeouts': every wait is drawn from [electionTicks, 2*electionTicks)", () => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 200; seed++) {
    const c = new RaftCore(
      { id: "s1", seed, electionTicks: 10, preVote: false },
      RaftCore.bootstrap("s1.0", votersOf(three)),
    );
    // First election after start.
    const first = ticksUntil(c, () => c.state === "candidate");
    assert.ok(first >= 10 && first < 20, `seed ${seed}: first timeout ${first}`);
    seen.add(first);
    readies(c);
    // A candidate that hears nothing times out again, with a fresh draw.
    const term = c.term;
    const second = ticksUntil(c, () => c.term === term + 1);
    assert.ok(second >= 10 && second < 20, `seed ${seed}: second timeout ${second}`);
    seen.add(second);
  }
  assert.ok(seen.size >= 8, `timeouts are spread out, saw only ${[...seen].sort()}`);
});

test("§5.2 'If a follower receives no communication over a period of time called the election timeout ... it begins an election'", () => {
  const c = core("s1", RaftCore.bootstrap("s1.0", votersOf(three)), { preVote: false });
  const timeout = c.randomizedElectionTimeout;
  for (let k = 1; k < timeout; k++) c.tick();
  assert.equal(c.state, "follower", "no election before the timeout");
  assert.equal(outbox(c).length, 0);
  c.tick();
  assert.equal(c.state, "candidate");
  // "To begin an election, a follower increments its current term ... votes for itself
  // and issues RequestVote RPCs in parallel to each of the other servers".
  const [rd, ...rest] = readies(c);
  assert.equal(rest.length, 0);
  assert.ok(rd);
  assert.deepEqual(rd.hardState, { term: 2, vote: "s1", commit: 1 });
  assert.deepEqual(
    rd.messages.map((m) => [m.type, m.to, m.term, m.index, m.logTerm]),
    [
      ["vote", "s2", 2, 1, 1],
      ["vote", "s3", 2, 1, 1],
    ],
  );
});

test("§5.2 with pre-vote (thesis §9.6) the election starts with a pre-vote round at term+1 that leaves the term alone", () => {
  const c = core("s1", RaftCore.bootstrap("s1.0", votersOf(three)), { preVote: true });
  ticksUntil(c, () => c.state !== "follower");
  assert.equal(c.state, "preCandidate");
  assert.equal(c.term, 1);
  const rds = readies(c);
  assert.ok(rds.every((rd) => rd.hardState === undefined || (rd.hardState.term === 1 && rd.hardState.vote === "")));
  const msgs = rds.flatMap((rd) => rd.messages);
  assert.deepEqual(
    msgs.map((m) => [m.type, m.to, m.term]),
    [
      ["preVote", "s2", 2],
      ["preVote", "s3", 2],
    ],
  );
});

test("§5.2 a follower that keeps hearing from its leader never starts an election", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const term = c.core("s1").term;
  const before = c.sent.length;
  c.tickAll(100);
  assert.equal(c.leader()?.id, "s1");
  for (const id of three) assert.equal(c.core(id).term, term);
  const campaigns = c.sent.slice(before).filter((m) => m.type === "vote" || m.type === "preVote");
  assert.equal(campaigns.length, 0);
});

test("§5.2 'A candidate wins an election if it receives votes from a majority of the servers in the full cluster'", () => {
  const ids = ["s1", "s2", "s3", "s4", "s5"];
  const c = new Cluster(ids, { preVote: false });
  c.crash("s4");
  c.crash("s5");
  c.elect("s1"); // s1, s2, s3: three of five
  assert.equal(c.core("s1").state, "leader");
  // "It then sends heartbeat messages to all of the other servers to establish its authority".
  assert.equal(c.core("s2").lead, "s1");
  assert.equal(c.core("s3").lead, "s1");

  const d = new Cluster(ids, { preVote: false });
  for (const id of ["s3", "s4", "s5"]) d.crash(id);
  d.tick("s1", 100); // s1 and s2: two of five
  assert.notEqual(d.core("s1").state, "leader");
  assert.ok(d.core("s1").term > 2, "it kept trying in new terms");
  assert.equal(d.leader(), undefined);
});

test("§5.2 'Each server will vote for at most one candidate in a given term, on a first-come-first-served basis'", () => {
  const voter = core("s2", RaftCore.bootstrap("s2.0", votersOf(three)));
  voter.step(msg({ type: "vote", from: "s1", to: "s2", term: 2, index: 1, logTerm: 1 }));
  const [rd] = readies(voter);
  assert.ok(rd);
  // The grant and the vote it depends on travel in the same Ready.
  assert.deepEqual(rd.hardState, { term: 2, vote: "s1", commit: 1 });
  assert.deepEqual(
    rd.messages.map((m) => [m.type, m.to, m.term, m.reject ?? false]),
    [["voteResp", "s1", 2, false]],
  );
  assert.equal(rd.mustSync, true);

  // A second candidate of the same term, with as good a log, is refused.
  voter.step(msg({ type: "vote", from: "s3", to: "s2", term: 2, index: 1, logTerm: 1 }));
  const rds = readies(voter);
  assert.deepEqual(
    rds.flatMap((r) => r.messages).map((m) => [m.type, m.to, m.reject ?? false]),
    [["voteResp", "s3", true]],
  );
  assert.ok(rds.every((r) => r.hardState === undefined));
  assert.equal(voter.vote, "s1");

  // The first candidate asking again (a retransmission) gets the same answer.
  voter.step(msg({ type: "vote", from: "s1", to: "s2", term: 2, index: 1, logTerm: 1 }));
  assert.deepEqual(
    outbox(voter).map((m) => [m.type, m.to, m.reject ?? false]),
    [["voteResp", "s1", false]],
  );
});

test("§5.4.1 'the voter denies its vote if its own log is more up-to-date than that of the candidate'", () => {
  // The voter's log ends at index 3, term 2.
  const cases: { index: number; logTerm: number; grant: boolean; why: string }[] = [
    { index: 5, logTerm: 1, grant: false, why: "lower last term, even with a longer log" },
    { index: 2, logTerm: 2, grant: false, why: "same last term, shorter log" },
    { index: 3, logTerm: 2, grant: true, why: "same last term, same length" },
    { index: 4, logTerm: 2, grant: true, why: "same last term, longer log" },
    { index: 2, logTerm: 3, grant: true, why: "higher last term, even with a shorter log" },
  ];
  for (const k of cases) {
    const voter = core("s2", logState("s2", three, [2, 2], { term: 2 }), { preVote: false });
    voter.step(msg({ type: "vote", from: "s1", to: "s2", term: 3, index: k.index, logTerm: k.logTerm }));
    const out = outbox(voter);
    assert.equal(out.length, 1);
    assert.equal(out[0]?.type, "voteResp");
    assert.equal(!out[0]?.reject, k.grant, k.why);
    assert.equal(voter.vote, k.grant ? "s1" : "", k.why);
    assert.equal(voter.term, 3, "the term is adopted either way");
  }
});

test("§5.4.1 in a cluster, a candidate with a stale log cannot become leader", () => {
  const c = new Cluster(three, { preVote: false, checkQuorum: false });
  c.elect("s1");
  c.cutLink("s1", "s3");
  assert.ok(c.core("s1").propose("x").ok);
  c.settle();
  c.crash("s1");
  c.tick("s3", 100); // s3 lacks "x"; s2 refuses it every time
  assert.notEqual(c.core("s3").state, "leader");
  const refusals = sentWhere(c, (m) => m.type === "voteResp" && m.from === "s2" && m.to === "s3");
  assert.ok(refusals.length > 0 && refusals.every((m) => m.reject === true));
  c.elect("s2");
  assert.equal(c.core("s2").state, "leader");
});

test("§5.1 'If a candidate or leader discovers that its term is out of date, it immediately reverts to follower state'", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const leader = c.core("s1");
  leader.step(msg({ type: "appResp", from: "s2", to: "s1", term: 7, index: 0 }));
  assert.equal(leader.state, "follower");
  assert.equal(leader.term, 7);
  assert.equal(leader.vote, "");

  const cand = core("s1", RaftCore.bootstrap("s1.0", votersOf(three)), { preVote: false });
  ticksUntil(cand, () => cand.state === "candidate");
  readies(cand);
  cand.step(msg({ type: "voteResp", from: "s2", to: "s1", term: 9, reject: true }));
  assert.equal(cand.state, "follower");
  assert.equal(cand.term, 9);
});

test("§5.1 'If a server receives a request with a stale term number, it rejects the request'", () => {
  const f = core("s2", logState("s2", three, [3], { term: 3 }));
  f.step(
    msg({
      type: "app",
      from: "s1",
      to: "s2",
      term: 2,
      index: 2,
      logTerm: 3,
      entries: [{ term: 2, index: 3, type: "normal", data: "stale" }],
      commit: 3,
    }),
  );
  assert.equal(f.log.lastIndex(), 2, "nothing appended");
  assert.equal(f.log.committed, 1);
  assert.equal(f.lead, "");
  const out = outbox(f);
  // The answer carries the newer term, so the stale leader learns it was deposed.
  assert.deepEqual(
    out.map((m) => [m.type, m.to, m.term]),
    [["appResp", "s1", 3]],
  );

  f.step(msg({ type: "vote", from: "s3", to: "s2", term: 2, index: 9, logTerm: 9 }));
  assert.equal(f.vote, "");
  assert.ok(
    outbox(f).every((m) => m.type !== "voteResp" || m.reject === true),
    "no vote for a stale term",
  );
});

test("§5.2 'If the leader's term ... is at least as large as the candidate's current term, then the candidate recognizes the leader as legitimate and returns to follower state'", () => {
  for (const type of ["app", "heartbeat"] as const) {
    const cand = core("s1", RaftCore.bootstrap("s1.0", votersOf(three)), { preVote: false });
    ticksUntil(cand, () => cand.state === "candidate");
    readies(cand);
    assert.equal(cand.term, 2);
    cand.step(msg({ type, from: "s2", to: "s1", term: 2, index: 1, logTerm: 1, entries: [], commit: 1 }));
    assert.equal(cand.state, "follower", type);
    assert.equal(cand.lead, "s2", type);
    assert.equal(cand.term, 2, type);
    assert.equal(cand.vote, "s1", "its own vote in term 2 stands");
  }
  // A pre-candidate steps down the same way.
  const pre = core("s1", RaftCore.bootstrap("s1.0", votersOf(three)), { preVote: true });
  ticksUntil(pre, () => pre.state === "preCandidate");
  readies(pre);
  pre.step(msg({ type: "heartbeat", from: "s3", to: "s1", term: 1, commit: 1 }));
  assert.equal(pre.state, "follower");
  assert.equal(pre.lead, "s3");
});

test("§5.2 on a split vote 'each candidate will time out and start a new election by incrementing its term'", () => {
  const ids = ["s1", "s2", "s3", "s4"];
  const c = new Cluster(ids, { preVote: false, checkQuorum: false });
  // s1 reaches only s3, s2 reaches only s4: two votes each, no majority of four.
  c.filter = (m) =>
    m.type !== "vote" || (m.from === "s1" && m.to === "s3") || (m.from === "s2" && m.to === "s4") || m.term > 2;
  c.tick("s1", c.core("s1").randomizedElectionTimeout);
  c.tick("s2", c.core("s2").randomizedElectionTimeout);
  assert.equal(c.core("s1").state, "candidate");
  assert.equal(c.core("s2").state, "candidate");
  assert.equal(c.core("s3").vote, "s1");
  assert.equal(c.core("s4").vote, "s2");
  assert.equal(c.leader(), undefined, "nobody wins term 2");
  for (const id of ids) assert.equal(c.core(id).term, 2);

  // Time passes for the candidates only: the first to time out retries in term 3 and wins.
  for (let k = 0; k < 40 && !c.leader(); k++) {
    c.tick("s1");
    if (!c.leader()) c.tick("s2");
  }
  const leader = c.leader();
  assert.ok(leader);
  assert.equal(leader.term, 3);
  assert.ok(sentWhere(c, (m) => m.type === "vote" && m.term === 3).length >= 3);
});
