/**
 * Progress: the leader's view of one follower (probe / replicate / snapshot)
 * and the flow-control window (thesis §10.2.2; etcd's Progress).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Progress } from "../../../node/src/raft/progress.ts";
import type { Snapshot } from "../../../node/src/raft/types.ts";

const snap: Snapshot = { meta: { index: 50, term: 3, config: { voters: {}, learners: {} } }, data: "s" };

test("progress: a probing follower gets one append at a time until it answers", () => {
  const p = new Progress(11, "f.0");
  assert.equal(p.state, "probe");
  assert.equal(p.isPaused(4), false);
  p.sent(15, 4);
  assert.equal(p.isPaused(4), true, "one probe out");
  assert.equal(p.next, 11, "next does not move while probing");
  assert.equal(p.maybeUpdate(15), true);
  assert.equal(p.match, 15);
  assert.equal(p.next, 16);
  assert.equal(p.isPaused(4), false, "an answer that moves match unpauses");
  assert.equal(p.maybeUpdate(12), false, "a stale answer does not move match back");
  assert.equal(p.match, 15);
});

test("progress: in replicate state appends stream until maxInflight are unanswered", () => {
  const p = new Progress(1, "f.0");
  p.maybeUpdate(10);
  p.becomeReplicate();
  assert.equal(p.next, 11);
  for (const last of [12, 14, 16]) {
    assert.equal(p.isPaused(3), false);
    p.sent(last, 3);
  }
  assert.equal(p.next, 17, "optimistically advanced");
  assert.equal(p.isPaused(3), true, "three in flight");
  p.freeTo(14);
  assert.deepEqual(p.inflight, [16]);
  assert.equal(p.isPaused(3), false);
  p.freeTo(99);
  assert.deepEqual(p.inflight, []);
});

test("§5.3 progress: a rejection moves next back; stale rejections are ignored", () => {
  // Replicate: back to match+1 unless the rejection is for something already matched.
  const r = new Progress(1, "f.0");
  r.maybeUpdate(10);
  r.becomeReplicate();
  r.sent(20, 8);
  assert.equal(r.maybeDecrTo(9, 0), false, "rejected index below match: stale");
  assert.equal(r.next, 21);
  assert.equal(r.maybeDecrTo(15, 3), true);
  assert.equal(r.next, 11, "match+1, hint ignored in replicate state");
  // Probe: only the rejection of the probe in flight counts; the hint jumps back.
  const p = new Progress(21, "f.0");
  p.sent(25, 8);
  assert.equal(p.maybeDecrTo(7, 3), false, "not the probe that is out (next-1 = 20)");
  assert.equal(p.isPaused(8), true);
  assert.equal(p.maybeDecrTo(20, 12), true);
  assert.equal(p.next, 13, "hint + 1");
  assert.equal(p.isPaused(8), false, "and a new probe may go");
  const q = new Progress(21, "f.0");
  q.maybeDecrTo(20, 30);
  assert.equal(q.next, 20, "never past the rejected index");
  const m = new Progress(21, "f.0");
  m.maybeUpdate(5);
  m.next = 21;
  m.maybeDecrTo(20, 0);
  assert.equal(m.next, 6, "never at or below match");
});

test("progress: snapshot state pauses appends; finishing it resumes from after the snapshot", () => {
  const p = new Progress(3, "f.0");
  p.becomeSnapshot(snap);
  assert.equal(p.state, "snapshot");
  assert.equal(p.pendingSnapshot, 50);
  assert.equal(p.snapOffset, 0);
  assert.equal(p.isPaused(100), true);
  p.maybeUpdate(50);
  p.becomeReplicate();
  assert.equal(p.next, 51);
  assert.equal(p.snap, undefined);
  // Falling back to probe from a snapshot restarts after the snapshot too.
  const q = new Progress(3, "f.0");
  q.becomeSnapshot(snap);
  q.becomeProbe();
  assert.equal(q.state, "probe");
  assert.equal(q.next, 51);
  assert.equal(q.pendingSnapshot, 0);
});

test("progress: a progress is bound to the incarnation it was created for", () => {
  const p = new Progress(1, "f.7");
  assert.equal(p.boundInc, "f.7");
  assert.equal(p.seenInc, undefined, "nothing heard yet");
  assert.equal(p.ackTick, Number.NEGATIVE_INFINITY, "no acknowledgement yet");
});
