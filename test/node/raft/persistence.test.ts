/**
 * The persistence contract (Raft paper Figure 2: persistent state is
 * "Updated on stable storage before responding to RPCs"; core.ts header): a
 * message only ever leaves in the Ready that persists what it depends on, or
 * a later one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftCore } from "../../../node/src/raft/core.ts";
import type { Message, Ready } from "../../../node/src/raft/types.ts";
import { Cluster, churn, msg, readies, type TestDisk, votersOf } from "./harness.ts";

const three = ["s1", "s2", "s3"];
const five = ["s1", "s2", "s3", "s4", "s5"];

function diskLastIndex(d: TestDisk): number {
  const last = d.state.entries[d.state.entries.length - 1];
  return last?.index ?? d.state.snapshot?.meta.index ?? 0;
}

function diskTerm(d: TestDisk, i: number): number | undefined {
  if (d.state.snapshot?.meta.index === i) return d.state.snapshot.meta.term;
  return d.state.entries.find((e) => e.index === i)?.term;
}

/** Checks each message of a Ready against the disk as it stands once that Ready is persisted. */
function checkMessage(id: string, m: Message, d: TestDisk): void {
  const hs = d.state.hardState;
  const why = `${id} sent ${m.type} (term ${m.term}) with disk ${JSON.stringify(hs)}`;
  if (m.type === "preVote" || (m.type === "preVoteResp" && !m.reject)) {
    return; // pre-votes name a future term and bind nobody: nothing to persist
  }
  assert.ok(m.term <= hs.term, `${why}: its term is durable`);
  const superseded = hs.term > m.term;
  if (m.type === "voteResp" && !m.reject) {
    assert.ok(superseded || hs.vote === m.to, `${why}: the granted vote is durable`);
  }
  if (m.type === "vote") {
    assert.ok(superseded || hs.vote === id, `${why}: the candidate's vote for itself is durable`);
  }
  if (m.type === "appResp" && !m.reject && m.index !== undefined) {
    assert.ok(superseded || diskLastIndex(d) >= m.index, `${why}: acknowledged entries up to ${m.index} are durable`);
  }
  if (m.type === "app") {
    // A leader ships entries it may not have persisted yet only in the Ready that persists them.
    for (const e of m.entries ?? []) assert.equal(diskTerm(d, e.index), e.term, `${why}: entry ${e.index} on disk`);
  }
}

test("Figure 2 'Updated on stable storage before responding to RPCs': every vote, acknowledgement and append is backed by the disk", () => {
  for (const seed of [21, 22, 23]) {
    const c = new Cluster(five);
    let checked = 0;
    c.onReady = (id, rd, d) => {
      for (const m of rd.messages) {
        checkMessage(id, m, d);
        checked++;
      }
    };
    c.elect("s1");
    churn(c, seed, 300);
    assert.ok(checked > 1000, `seed ${seed}: checked ${checked} messages`);
  }
  // Also with pre-vote and check-quorum off (plain Raft elections, more vote traffic).
  const c = new Cluster(five, { preVote: false, checkQuorum: false });
  let grants = 0;
  c.onReady = (id, rd, d) => {
    for (const m of rd.messages) {
      checkMessage(id, m, d);
      if (m.type === "voteResp" && !m.reject) grants++;
    }
  };
  c.elect("s1");
  churn(c, 24, 300);
  assert.ok(grants > 4, `saw ${grants} granted votes`);
});

test("Figure 2 a vote is granted in the same Ready that persists it, and the Ready demands a sync", () => {
  const voter = new RaftCore({ id: "s2", seed: 1 }, RaftCore.bootstrap("s2.0", votersOf(three)));
  voter.step(msg({ type: "vote", from: "s1", to: "s2", term: 2, index: 1, logTerm: 1 }));
  const rd = voter.ready();
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.hardState, { term: 2, vote: "s1", commit: 1 });
  assert.deepEqual(
    rd.messages.map((m) => [m.type, m.reject ?? false]),
    [["voteResp", false]],
  );
  voter.advance(rd);
  assert.equal(voter.hasReady(), false);
});

test("Figure 2 an append is acknowledged in the Ready that carries its entries", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const seen: { id: string; rd: Ready }[] = [];
  c.onReady = (id, rd) => seen.push({ id, rd });
  assert.ok(c.core("s1").propose("x").ok);
  c.settle();
  for (const f of ["s2", "s3"]) {
    const ack = seen.find(({ id, rd }) => id === f && rd.messages.some((m) => m.type === "appResp" && m.index === 3));
    assert.ok(ack, `${f} acknowledged`);
    assert.deepEqual(
      ack.rd.entries.map((e) => e.data),
      ["x"],
      `${f}'s acknowledgement travels with the entry`,
    );
    assert.equal(ack.rd.mustSync, true);
  }
});

test("Figure 2 / core contract: the leader counts its own entry toward commit only once it is durable (after advance)", () => {
  // In contract: with s3 down, s1 needs itself to commit, so each commit must
  // follow a Ready that already persisted the entry.
  const c = new Cluster(three);
  c.elect("s1");
  c.crash("s3");
  let durable = diskLastIndex(c.disks.get("s1") as TestDisk);
  let commits = 0;
  c.onReady = (id, rd, d) => {
    if (id !== "s1") return;
    const last = rd.committed[rd.committed.length - 1];
    if (last) {
      assert.ok(last.index <= durable, `commit ${last.index} before the leader's copy was durable (${durable})`);
      commits++;
    }
    durable = diskLastIndex(d);
  };
  for (let k = 0; k < 5; k++) {
    for (let j = 0; j <= k; j++) assert.ok(c.core("s1").propose(`v${k}.${j}`).ok);
    c.settle();
  }
  assert.ok(commits >= 5);
  assert.equal(c.appliedData("s1").length, 15);

  // Out of contract, only to observe the rule: an acknowledgement stepped in
  // before advance() cannot commit with the leader's own unpersisted copy.
  const s1 = c.core("s1");
  assert.ok(s1.propose("y").ok);
  const rd = s1.ready();
  for (const m of rd.messages) c.deliver(m);
  const acks = c.drain("s2").filter((m) => m.type === "appResp" && m.to === "s1");
  assert.equal(acks.length, 1);
  const before = s1.log.committed;
  for (const m of acks) s1.step(m);
  assert.equal(s1.log.committed, before, "s2 alone is not a majority of three");
  s1.advance(rd);
  assert.equal(s1.log.committed, before + 1, "advance() makes the leader's own copy count");
});

test("Figure 2 a single-server cluster commits only after advance() (its own disk is the whole quorum)", () => {
  const core = new RaftCore({ id: "s1", seed: 1 }, RaftCore.bootstrap("s1.0", votersOf(["s1"])));
  readies(core); // applies the bootstrap entry
  for (let k = 0; k < 30 && core.state !== "leader"; k++) core.tick();
  assert.equal(core.state, "leader");
  const rd1 = core.ready();
  assert.deepEqual(
    rd1.entries.map((e) => e.type),
    ["noop"],
  );
  assert.equal(rd1.committed.length, 0, "the no-op is not committed before it is durable");
  assert.equal(core.log.committed, 1);
  core.advance(rd1);
  assert.equal(core.log.committed, 2);
  const rd2 = core.ready();
  assert.deepEqual(
    rd2.committed.map((e) => e.index),
    [2],
  );
  assert.equal(rd2.hardState?.commit, 2);
  core.advance(rd2);
});

test("Figure 2 currentTerm and votedFor survive a crash, so a restarted server never votes twice in a term", () => {
  const c = new Cluster(three, { preVote: false });
  c.deliver(msg({ type: "vote", from: "s1", to: "s2", term: 2, index: 1, logTerm: 1 }));
  const granted = c.drain("s2");
  assert.deepEqual(
    granted.map((m) => [m.type, m.to, m.reject ?? false]),
    [["voteResp", "s1", false]],
  );
  const s2 = c.restart("s2");
  assert.equal(s2.term, 2);
  assert.equal(s2.vote, "s1");
  c.deliver(msg({ type: "vote", from: "s3", to: "s2", term: 2, index: 1, logTerm: 1 }));
  assert.deepEqual(
    c.drain("s2").map((m) => [m.type, m.to, m.reject ?? false]),
    [["voteResp", "s3", true]],
  );
  // The first candidate's retry is still granted: the vote is the same one.
  c.deliver(msg({ type: "vote", from: "s1", to: "s2", term: 2, index: 1, logTerm: 1 }));
  assert.deepEqual(
    c.drain("s2").map((m) => [m.type, m.reject ?? false]),
    [["voteResp", false]],
  );
});

test("Figure 2 log[] and the commit index survive a crash; committed entries are replayed in order", () => {
  const c = new Cluster(three);
  c.elect("s1");
  for (const v of ["a", "b", "c"]) assert.ok(c.core("s1").propose(v).ok);
  c.settle();
  c.tick("s1");
  const before = c.core("s2").status();
  const s2 = c.restart("s2");
  assert.equal(s2.term, before.term);
  assert.equal(s2.vote, before.vote);
  assert.equal(s2.log.lastIndex(), before.lastIndex);
  assert.equal(s2.log.committed, before.commit);
  assert.deepEqual(s2.config, before.config);
  c.settle();
  assert.deepEqual(c.appliedData("s2"), ["a", "b", "c"]);
});

test("thesis §10.2.1: only a leader's replication messages may leave before its write, never with a term or vote change", () => {
  const c = new Cluster(three);
  let early = 0;
  c.onReady = (id, rd) => {
    const e = rd.sendBeforePersist;
    if (!e) return;
    early++;
    assert.equal(c.core(id).state, "leader", `${id} is the leader`);
    assert.equal(rd.hardState?.term ?? c.core(id).term, c.core(id).term);
    assert.equal(rd.snapshot, undefined);
    for (const m of e) {
      assert.ok(["app", "heartbeat", "snap"].includes(m.type), `${m.type} may not leave early`);
      assert.ok(rd.messages.includes(m), "a subset of the Ready's messages");
    }
  };
  c.elect("s1");
  for (let k = 0; k < 5; k++) assert.ok(c.core("s1").propose(`v${k}`).ok);
  c.settle();
  churn(c, 31, 200);
  assert.ok(early > 0);
});

test("thesis §10.2.1: a leader that crashes after its appends left and before its write loses only its own copy", () => {
  const c = new Cluster(three);
  c.elect("s1");
  c.settle();
  const s1 = c.core("s1");
  assert.ok(s1.propose("early").ok);
  const rd = s1.ready();
  assert.ok(rd.sendBeforePersist && rd.sendBeforePersist.length === 2, "appends to both followers may leave first");
  assert.equal(rd.entries.at(-1)?.data, "early");
  for (const m of rd.sendBeforePersist) c.deliver(m);
  // s1 dies before persisting the entry: the followers hold it, s1's disk does not.
  c.crash("s1");
  c.settle();
  for (const f of ["s2", "s3"]) assert.equal(c.core(f).log.lastIndex(), rd.entries.at(-1)?.index);
  // The acknowledgements reached nobody who counts them; a new leader commits the entry with its no-op.
  c.restart("s1");
  c.elect("s2");
  c.settle();
  for (const id of three) assert.ok(c.appliedData(id).includes("early"), `${id} applied the entry`);
});
