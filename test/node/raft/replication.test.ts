/**
 * Log replication (Raft paper §5.3, Figure 2, §8's no-op) and the leader's
 * flow control (batching, pipelining window; thesis §10.2.2).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftCore } from "../../../node/src/raft/core.ts";
import type { Entry, Message } from "../../../node/src/raft/types.ts";
import { Cluster, logOf, logState, msg, outbox, readies, sentWhere } from "./harness.ts";

const three = ["s1", "s2", "s3"];

function ent(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, type: "normal", data };
}

function follower(terms: number[], term: number, commit = 1): RaftCore {
  return new RaftCore({ id: "s2", seed: 2 }, logState("s2", three, terms, { term, commit }));
}

function app(term: number, index: number, logTerm: number, entries: Entry[], commit = 0): Message {
  return msg({ type: "app", from: "s1", to: "s2", term, index, logTerm, entries, commit });
}

test("§8 'having each leader commit a blank no-op entry into the log at the start of its term'", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const s1 = c.core("s1");
  const last = s1.log.entry(s1.log.lastIndex());
  assert.deepEqual(last, { term: s1.term, index: 2, type: "noop", data: "" });
  assert.equal(s1.log.committed, 2);
  for (const id of ["s2", "s3"]) assert.deepEqual(c.core(id).log.entry(2), last);
  assert.deepEqual(c.appliedData("s1"), [], "no-ops are not application data");
  // Every new leader appends one, in its own term.
  c.crash("s1");
  c.tickAll(40);
  const l2 = c.leader();
  assert.ok(l2);
  assert.deepEqual(l2.log.entry(3), { term: l2.term, index: 3, type: "noop", data: "" });
});

test("§5.3 'If the follower does not find an entry in its log with the same index and term, then it refuses the new entries'", () => {
  const cases: { index: number; logTerm: number; why: string }[] = [
    { index: 3, logTerm: 3, why: "entry 3 has term 2, not 3" },
    { index: 5, logTerm: 2, why: "there is no entry 5" },
  ];
  for (const k of cases) {
    const f = follower([1, 2], 3); // 1:1 2:1 3:2
    f.step(app(3, k.index, k.logTerm, [ent(k.index + 1, 3)], 4));
    assert.deepEqual(logOf(f), ["1:1", "2:1", "3:2"], k.why);
    assert.equal(f.log.committed, 1, "a refused append teaches no commit index");
    const out = outbox(f);
    assert.equal(out.length, 1);
    assert.equal(out[0]?.type, "appResp");
    assert.equal(out[0]?.reject, true, k.why);
    assert.equal(out[0]?.index, k.index, "the refusal names the probed index");
  }
  const f = follower([1, 2], 3);
  f.step(app(3, 3, 2, [ent(4, 3)], 4));
  assert.deepEqual(logOf(f), ["1:1", "2:1", "3:2", "4:3"]);
  assert.deepEqual(
    outbox(f).map((m) => [m.type, m.index, m.reject ?? false]),
    [["appResp", 4, false]],
  );
});

test("Figure 2 'If an existing entry conflicts with a new one (same index but different terms), delete the existing entry and all that follow it'", () => {
  const f = follower([1, 2, 2, 2], 3); // 1:1 2:1 3:2 4:2 5:2
  f.step(app(3, 2, 1, [ent(3, 3, "new")], 3));
  assert.deepEqual(logOf(f), ["1:1", "2:1", "3:3"]);
  assert.equal(f.log.entry(3)?.data, "new");
  const [rd] = readies(f);
  assert.deepEqual(rd?.entries, [ent(3, 3, "new")], "storage is told to replace from index 3 on");
  assert.equal(f.log.committed, 3);
});

test("Figure 2 'Append any new entries not already in the log': a delayed, shorter append does not truncate", () => {
  const f = follower([2, 2, 2, 2], 2); // 1:1 2..5:2
  f.step(app(2, 1, 1, [ent(2, 2)], 1));
  assert.deepEqual(logOf(f), ["1:1", "2:2", "3:2", "4:2", "5:2"]);
  const out = outbox(f);
  assert.deepEqual(
    out.map((m) => [m.type, m.index, m.reject ?? false]),
    [["appResp", 2, false]],
    "acknowledges what the message proved, not more",
  );
});

test("§5.3 fast back-off: 'one AppendEntries RPC will be required for each term with conflicting entries, rather than one RPC per entry'", () => {
  // s1 and s2 hold ten entries of term 3 after the config entry; s3 holds twenty of term 2.
  const t3 = Array.from({ length: 10 }, () => 3);
  const t2 = Array.from({ length: 20 }, () => 2);
  const c = new Cluster(
    three,
    { preVote: false },
    {
      s1: logState("s1", three, t3),
      s2: logState("s2", three, t3),
      s3: logState("s3", three, t2),
    },
  );
  c.elect("s1");
  const s1 = c.core("s1");
  assert.equal(s1.term, 4);
  const rejects = sentWhere(c, (m) => m.type === "appResp" && m.from === "s3" && m.reject === true);
  assert.equal(rejects.length, 1, "a single refusal skips the whole term-2 run");
  const appsToS3 = sentWhere(c, (m) => m.type === "app" && m.to === "s3" && (m.entries ?? []).length > 0);
  assert.equal(appsToS3.length, 2, "the failed probe and the append that fixes the log");
  assert.equal(appsToS3[1]?.index, 1, "the second append starts right after the last shared entry");
  assert.deepEqual(logOf(c.core("s3")), logOf(s1));
});

test("§5.3 fast back-off also jumps to the end of a follower's shorter log", () => {
  const c = new Cluster(
    three,
    { preVote: false },
    {
      s1: logState(
        "s1",
        three,
        Array.from({ length: 30 }, () => 2),
      ),
      s2: logState(
        "s2",
        three,
        Array.from({ length: 30 }, () => 2),
      ),
      s3: logState("s3", three, [2, 2]),
    },
  );
  c.elect("s1");
  const rejects = sentWhere(c, (m) => m.type === "appResp" && m.from === "s3" && m.reject === true);
  assert.equal(rejects.length, 1);
  assert.equal(rejects[0]?.rejectHint, 3, "the follower's last index");
  assert.deepEqual(logOf(c.core("s3")), logOf(c.core("s1")));
});

test("Figure 2 'entries[]: log entries to store (... may send more than one for efficiency)', at most maxEntriesPerMsg per message", () => {
  const c = new Cluster(three, { maxEntriesPerMsg: 3 });
  c.elect("s1");
  const before = c.sent.length;
  const s1 = c.core("s1");
  for (let k = 0; k < 10; k++) assert.ok(s1.propose(`v${k}`).ok);
  c.settle();
  const apps = c.sent.slice(before).filter((m) => m.type === "app" && m.to === "s2" && (m.entries ?? []).length > 0);
  assert.deepEqual(
    apps.map((m) => (m.entries ?? []).length),
    [3, 3, 3, 1],
    "ten proposals made in one go leave in four batches",
  );
  assert.deepEqual(
    apps.map((m) => m.index),
    [2, 5, 8, 11],
    "each batch follows the previous one",
  );
  assert.equal(c.appliedData("s2").length, 10);
});

test("§5.3 / thesis §10.2.2 (pipelining) never more than maxInflight appends in flight to a follower that does not answer", () => {
  const c = new Cluster(three, { maxInflight: 3, maxEntriesPerMsg: 1 });
  c.elect("s1");
  c.tickAll(2);
  assert.equal(c.core("s1").status().progress.s2?.state, "replicate");
  c.filter = (m) => m.from !== "s2"; // s2 receives but never answers
  const before = c.sent.length;
  for (let k = 0; k < 10; k++) {
    assert.ok(c.core("s1").propose(`v${k}`).ok);
    c.settle();
    c.tickAll(1);
  }
  const toS2 = c.sent.slice(before).filter((m) => m.type === "app" && m.to === "s2" && (m.entries ?? []).length > 0);
  assert.equal(toS2.length, 3, "the window of three fills and then the leader waits");
  const toS3 = c.sent.slice(before).filter((m) => m.type === "app" && m.to === "s3" && (m.entries ?? []).length > 0);
  assert.equal(toS3.length, 10, "a follower that answers is not held back");
  assert.equal(c.core("s1").log.committed, 12, "s1 and s3 commit without s2");
  c.filter = undefined;
  c.tickAll(5);
  assert.equal(c.core("s2").log.lastIndex(), 12, "once s2 answers it catches up");
  assert.equal(c.appliedData("s2").length, 10);
});

test("§5.3 'the leader ... includes that index in future AppendEntries RPCs (including heartbeats) so that the other servers eventually find out'", () => {
  const c = new Cluster(three);
  c.elect("s1");
  // Appends to s3 are lost; heartbeats get through.
  c.filter = (m) => !(m.type === "app" && m.to === "s3");
  assert.ok(c.core("s1").propose("x").ok);
  c.settle();
  assert.equal(c.core("s1").log.committed, 3);
  c.tick("s1");
  assert.equal(c.core("s2").log.committed, 3, "s2 learned the commit index");
  assert.equal(c.core("s3").log.committed, 2, "s3 cannot commit an entry it does not hold");
  const hbs = sentWhere(c, (m) => m.type === "heartbeat" && m.to === "s3");
  assert.ok(hbs.length > 0 && hbs.every((m) => (m.commit ?? 0) <= 2), "heartbeats carry min(match, commit)");
  c.filter = undefined;
  c.tick("s1", 2);
  assert.equal(c.core("s3").log.committed, 3);
  assert.deepEqual(c.appliedData("s3"), ["x"]);
});

test("Figure 2 'If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new entry)'", () => {
  // Entries 4 and 5 are stale (term 1); the leader of term 3 only vouches for 1..3.
  const f = follower([2, 2, 1, 1], 3); // 1:1 2:2 3:2 4:1 5:1
  f.step(app(3, 3, 2, [], 5));
  assert.equal(f.log.committed, 3, "not 5: entries 4 and 5 were not checked against the leader's log");
  // A heartbeat's commit index is capped by what the follower holds.
  const g = follower([2, 2], 2);
  g.step(msg({ type: "heartbeat", from: "s1", to: "s2", term: 2, commit: 9 }));
  assert.equal(g.log.committed, 3);
  const out = outbox(g);
  assert.deepEqual(
    out.map((m) => m.type),
    ["heartbeatResp"],
  );
});

/** A leader s1 of three after its no-op, with every message delivered (the cores are then stepped by hand). */
function quietLeader(): { s1: RaftCore; s2: RaftCore } {
  const c = new Cluster(three);
  c.elect("s1");
  c.settle();
  return { s1: c.core("s1"), s2: c.core("s2") };
}

/** Proposes `data` on s1 and has s2 store it; returns s2's answer, not yet delivered. */
function proposeAndStore(s1: RaftCore, s2: RaftCore, data: string): Message {
  assert.ok(s1.propose(data).ok);
  const toS2 = readies(s1)
    .flatMap((rd) => rd.messages)
    .filter((m) => m.to === "s2" && m.type === "app");
  for (const m of toS2) s2.step(m);
  const resp = outbox(s2).find((m) => m.type === "appResp");
  assert.ok(resp);
  return resp;
}

test("a new commit index rides on the appends that carry entries: one append per follower, not an empty one too", () => {
  const { s1, s2 } = quietLeader();
  const resp = proposeAndStore(s1, s2, "a");
  const a = s1.log.lastIndex();
  s1.step(resp); // commits a
  assert.ok(s1.propose("b").ok); // proposed in the same turn of the loop
  const apps = outbox(s1).filter((m) => m.type === "app");
  assert.deepEqual(
    apps.map((m) => [m.to, m.entries?.map((e) => e.data), m.commit]),
    [
      ["s2", ["b"], a],
      ["s3", ["b"], a],
    ],
  );
});

test("a new commit index with no entries to send goes out at once, in an empty append to each follower", () => {
  const { s1, s2 } = quietLeader();
  const resp = proposeAndStore(s1, s2, "a");
  const a = s1.log.lastIndex();
  s1.step(resp);
  const apps = outbox(s1).filter((m) => m.type === "app");
  assert.deepEqual(
    apps.map((m) => [m.to, m.entries?.length ?? 0, m.commit]).sort(),
    [
      ["s2", 0, a],
      ["s3", 0, a],
    ],
    "followers learn the commit index in the same Ready, not at the next heartbeat",
  );
});
