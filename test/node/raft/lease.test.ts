/**
 * Lease-based reads (thesis §6.4.1, leaseRead: true): the leader answers
 * reads without a heartbeat round while a quorum acknowledged it within the
 * election timeout, and followers honour that lease by ignoring votes
 * (§4.2.3), including two ways it broke before: a late TimeoutNow and a restarted follower.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Message } from "../../../node/src/raft/types.ts";
import { Cluster } from "./harness.ts";

const three = ["s1", "s2", "s3"];

function readsOf(c: Cluster, id: string): string[] {
  return (c.reads.get(id) ?? []).map((r) => `${r.context}@${r.index}`);
}

test("§6.4.1 with a lease from the normal heartbeats, a read is served without a confirmation round", () => {
  const c = new Cluster(three, { leaseRead: true });
  c.elect("s1");
  c.tickAll(2);
  const s1 = c.core("s1");
  assert.deepEqual(s1.readIndex("l1"), { ok: true, index: 2, term: 2 });
  const out = c.drain("s1");
  assert.deepEqual(out, [], "no heartbeat round, no message at all");
  assert.deepEqual(readsOf(c, "s1"), ["l1@2"], "released in the very next Ready");
  // A follower's read is answered from the lease too: one hop there, one back.
  const before = c.sent.length;
  assert.ok(c.core("s2").readIndex("f1").ok);
  c.settle();
  assert.deepEqual(
    c.sent.slice(before).map((m) => `${m.type} ${m.from}>${m.to}`),
    ["readIndex s2>s1", "readIndexResp s1>s2"],
  );
  assert.deepEqual(readsOf(c, "s2"), ["f1@2"]);
});

test("§6.4.1 the lease ends with check-quorum: no other leader is elected while the old one still serves lease reads", () => {
  const c = new Cluster(three, { leaseRead: true });
  c.elect("s1");
  c.tickAll(3);
  const s1 = c.core("s1");
  c.isolate("s1");
  let served = 0;
  for (let k = 0; k < 60; k++) {
    c.tickAll(1);
    const other = ["s2", "s3"].find((id) => c.core(id).state === "leader");
    if (s1.state === "leader") {
      assert.equal(other, undefined, `tick ${k}: a second leader while s1 still holds its lease`);
      assert.ok(s1.readIndex(`r${k}`).ok);
      c.settle();
      served++;
    }
    if (other) break;
  }
  assert.ok(served > 5, "s1 served lease reads while its lease lasted");
  assert.equal(s1.state, "follower");
  assert.ok(
    ["s2", "s3"].some((id) => c.core(id).state === "leader"),
    "then the others moved on",
  );
  assert.ok(
    (c.reads.get("s1") ?? []).every((r) => r.index === 2),
    "every lease read saw the last committed state",
  );
});

test("§6.4.1/§3.10 a leadership transfer can depose the leader early, so no lease read is served while it is under way", () => {
  const c = new Cluster(three, { leaseRead: true });
  c.elect("s1");
  c.tickAll(2);
  const s1 = c.core("s1");
  // s3 falls behind so the transfer cannot complete at once.
  c.filter = (m) => !(m.type === "app" && m.to === "s3");
  assert.ok(s1.propose("x").ok);
  c.settle();
  assert.ok(s1.transferLeader("s3").ok);
  assert.equal(s1.status().transferee, "s3");
  assert.ok(s1.readIndex("during").ok);
  const out = c.drain("s1");
  assert.deepEqual(readsOf(c, "s1"), [], "not released from the lease");
  assert.deepEqual(
    out.filter((m) => m.type === "heartbeat").map((m) => [m.to, m.context]),
    [
      ["s2", "during"],
      ["s3", "during"],
    ],
    "a heartbeat round confirms it instead",
  );
  for (const m of out) c.deliver(m);
  c.settle();
  assert.deepEqual(readsOf(c, "s1"), ["during@3"]);
});

test("§6.4.1 lease safety: a TimeoutNow delayed past the transfer's timeout must not let a new leader commit while the old one serves lease reads", {}, () => {
  const c = new Cluster(three, { leaseRead: true });
  c.elect("s1");
  c.tickAll(3);
  const s1 = c.core("s1");
  const delayed: Message[] = [];
  c.filter = (m) => {
    if (m.type !== "timeoutNow") return true;
    delayed.push(m);
    return false;
  };
  assert.ok(s1.transferLeader("s2").ok);
  c.settle();
  assert.equal(delayed.length, 1, "s2 was caught up: TimeoutNow left at once (and is stuck in the network)");
  c.filter = undefined;
  c.tickAll(12); // the transfer times out and s1 re-arms its lease with fresh acknowledgements
  assert.equal(s1.status().transferee, "");
  assert.equal(s1.state, "leader");
  // s1 is cut off; the old TimeoutNow finally reaches s2.
  c.isolate("s1");
  for (const m of delayed) c.core("s2").step(m);
  c.settle();
  // Today s3 grants the forced vote despite its lease on s1, and s2 commits a write in term 3.
  const s2 = c.core("s2");
  if (s2.state === "leader") {
    assert.ok(s2.propose("newer").ok);
    c.settle();
  }
  // s1 is still within its lease and must not answer a read that misses that write.
  if (s1.state === "leader") {
    s1.readIndex("stale");
    c.settle();
  }
  const stale = (c.reads.get("s1") ?? []).filter((r) => r.context === "stale" && r.index < s2.log.committed);
  assert.deepEqual(stale, [], `s1 released ${JSON.stringify(stale)} although s2 committed ${s2.log.committed}`);
});

test("§6.4.1/§4.2.3 lease safety: a follower that restarts within the leader's lease must not help elect a new leader", {}, () => {
  const c = new Cluster(three, { leaseRead: true });
  c.elect("s1");
  c.tickAll(3);
  const s1 = c.core("s1");
  c.cutLink("s1", "s3"); // s3 stops hearing from s1 ...
  c.tickAll(8); // ... while s2 keeps acknowledging s1's heartbeats
  c.restart("s2"); // s2 crashes and comes straight back
  c.cutLink("s1", "s2");
  for (let k = 0; k < 12 && c.core("s3").state !== "leader"; k++) c.tickAll(1);
  // Until s1's lease (from s2's last ack) runs out, nobody else may lead.
  const s3 = c.core("s3");
  if (s3.state === "leader") {
    assert.ok(s3.propose("newer").ok);
    c.settle();
  }
  if (s1.state === "leader") {
    s1.readIndex("stale");
    c.settle();
  }
  const stale = (c.reads.get("s1") ?? []).filter((r) => r.context === "stale" && r.index < s3.log.committed);
  assert.deepEqual(
    stale,
    [],
    `s1 served a lease read at ${JSON.stringify(stale)}; s3 committed up to ${s3.log.committed}`,
  );
});
