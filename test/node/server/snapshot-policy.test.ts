/** The snapshot schedule, over generated write streams: threshold, log-growth ratio, cap and jitter. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { SnapshotPolicy } from "../../../node/src/server/snapshot-policy.ts";
import { prng as rng } from "../../faults/random-history.ts";

interface Run {
  snapshots: number;
  snapshotBytes: number;
  written: number;
  maxLogBytes: number;
  gapsBelowThreshold: number;
}

/**
 * Drives a policy with `n` entries from `gen`: each entry has a size and adds that much to the store (a new
 * key) or nothing (an overwrite). A snapshot, when due, is as large as the store and taken at once.
 */
function drive(
  p: SnapshotPolicy,
  threshold: number,
  n: number,
  next: () => { bytes: number; grows: boolean },
  jitter: () => number,
): Run {
  let store = 0;
  let snapIndex = 0;
  let snapBytes = 0;
  const run: Run = { snapshots: 0, snapshotBytes: 0, written: 0, maxLogBytes: 0, gapsBelowThreshold: 0 };
  for (let i = 1; i <= n; i++) {
    const e = next();
    p.applied(e.bytes);
    run.written += e.bytes;
    if (e.grows) store += e.bytes;
    run.maxLogBytes = Math.max(run.maxLogBytes, p.bytesSinceSnapshot);
    if (p.due(i, snapIndex, snapBytes)) {
      if (i - snapIndex < threshold) run.gapsBelowThreshold++;
      p.started(jitter());
      p.taken();
      snapIndex = i;
      snapBytes = store;
      run.snapshots++;
      run.snapshotBytes += store;
    }
  }
  return run;
}

test("without a ratio a snapshot is due exactly every threshold entries", () => {
  for (const threshold of [1, 7, 100]) {
    const p = new SnapshotPolicy({ threshold, logRatio: 0, maxLogBytes: Number.POSITIVE_INFINITY }, 1);
    const r = drive(
      p,
      threshold,
      1000,
      () => ({ bytes: 50, grows: true }),
      () => 1,
    );
    assert.equal(r.snapshots, Math.floor(1000 / threshold));
  }
});

test("over generated streams: never below the threshold, snapshot bytes bounded by the ratio, log bounded by the cap", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r0 = rng(seed);
    const threshold = 1 + Math.floor(r0() * 200);
    const logRatio = [0.5, 1, 2, 4][Math.floor(r0() * 4)] as number;
    const maxLogBytes = r0() < 0.5 ? Number.POSITIVE_INFINITY : 5_000 + Math.floor(r0() * 200_000);
    const overwrite = r0();
    const p = new SnapshotPolicy({ threshold, logRatio, maxLogBytes }, 1 + r0() / 2);
    const maxEntry = 10 + Math.floor(r0() * 2000);
    const r = drive(
      p,
      threshold,
      3000,
      () => ({ bytes: 1 + Math.floor(r0() * maxEntry), grows: r0() >= overwrite }),
      () => 1 + r0() / 2,
    );
    const what = `seed ${seed}: threshold ${threshold}, ratio ${logRatio}, cap ${maxLogBytes}`;
    assert.equal(r.gapsBelowThreshold, 0, what);
    // Each snapshot (the store, at most everything written) waited for ratio × the previous one's size
    // (or the cap) of new log: the snapshots add up to at most the first plus written / ratio, and with a
    // cap, one store's worth per cap's worth of log.
    if (maxLogBytes === Number.POSITIVE_INFINITY) {
      assert.ok(r.snapshotBytes <= r.written + r.written / logRatio, `${what}: ${r.snapshotBytes} > bound`);
    }
    // The log since the last snapshot never grows past the cap (times the jitter) plus one threshold's worth
    // of entries and one entry.
    if (maxLogBytes !== Number.POSITIVE_INFINITY) {
      assert.ok(r.maxLogBytes <= 1.5 * maxLogBytes + (threshold + 1) * maxEntry, `${what}: log ${r.maxLogBytes}`);
    }
  }
});

test("fresh keys only: snapshots come at doublings, O(log n) of them", () => {
  const p = new SnapshotPolicy({ threshold: 10, logRatio: 1, maxLogBytes: Number.POSITIVE_INFINITY }, 1);
  const r = drive(
    p,
    10,
    100_000,
    () => ({ bytes: 100, grows: true }),
    () => 1,
  );
  // Every 10 entries would be 10,000 snapshots; doubling from 10 entries reaches 100,000 in ~13.
  assert.ok(r.snapshots >= 10 && r.snapshots <= 15, `${r.snapshots} snapshots`);
});

test("jitter: two members with different draws do not snapshot at the same entries", () => {
  const at = (jitters: number[]) => {
    const p = new SnapshotPolicy({ threshold: 10, logRatio: 1, maxLogBytes: Number.POSITIVE_INFINITY }, 1);
    const seen: number[] = [];
    let snapIndex = 0;
    let snapBytes = 0;
    let k = 0;
    for (let i = 1; i <= 20_000; i++) {
      p.applied(100);
      if (p.due(i, snapIndex, snapBytes)) {
        p.started(jitters[k++ % jitters.length] as number);
        p.taken();
        snapIndex = i;
        snapBytes = i * 100;
        seen.push(i);
      }
    }
    return seen;
  };
  const a = at([1.0, 1.4, 1.1]);
  const b = at([1.3, 1.05, 1.45]);
  assert.deepEqual(a.slice(0, 1), b.slice(0, 1), "the first snapshot (no earlier one) is due alike");
  assert.notDeepEqual(a.slice(1), b.slice(1));
});

test("a restore from the leader empties the log count; a snapshot not taken keeps it", () => {
  const p = new SnapshotPolicy({ threshold: 1, logRatio: 1, maxLogBytes: Number.POSITIVE_INFINITY }, 1);
  p.applied(500);
  p.started(1);
  p.applied(200);
  // The snapshot was not used (say, a restore came first): nothing is subtracted.
  assert.equal(p.bytesSinceSnapshot, 700);
  p.restored();
  assert.equal(p.bytesSinceSnapshot, 0);
  p.applied(300);
  p.started(1);
  p.applied(100);
  p.taken();
  assert.equal(p.bytesSinceSnapshot, 100, "only what was applied after the snapshot's index counts");
  assert.equal(p.due(10, 9, 150), false, "100 bytes of log is less than the 150-character snapshot");
  p.applied(60);
  assert.equal(p.due(10, 9, 150), true);
});
