/**
 * RaftLog: the in-memory log, its indexes (stable, committed, applied) and
 * the rules of Figure 2 / §5.3 / §5.4.1 it implements.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftLog } from "../../../node/src/raft/log.ts";
import type { Entry } from "../../../node/src/raft/types.ts";

function ents(from: number, terms: number[]): Entry[] {
  return terms.map((term, k) => ({ term, index: from + k, type: "normal", data: `d${from + k}` }));
}

function terms(l: RaftLog): string {
  return l.entries.map((e) => `${e.index}:${e.term}`).join(" ");
}

test("log: indexes and terms of an empty log, a log, and a log after a snapshot", () => {
  const empty = new RaftLog(undefined, [], 0, 0);
  assert.equal(empty.firstIndex(), 1);
  assert.equal(empty.lastIndex(), 0);
  assert.equal(empty.lastTerm(), 0);
  assert.equal(empty.term(0), 0, "index 0 has term 0: every log matches there");
  assert.equal(empty.term(1), undefined);

  const l = new RaftLog(undefined, ents(1, [1, 1, 2]), 2, 1);
  assert.equal(l.lastIndex(), 3);
  assert.equal(l.lastTerm(), 2);
  assert.equal(l.stable, 3, "what was loaded is durable");
  assert.equal(l.committed, 2);
  assert.equal(l.applied, 1);
  assert.equal(l.entry(2)?.data, "d2");
  assert.equal(l.term(4), undefined);

  const s = new RaftLog({ index: 10, term: 3, config: { voters: {}, learners: {} } }, ents(11, [3, 4]), 0, 0);
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 12);
  assert.equal(s.term(10), 3, "the snapshot's last term is known");
  assert.equal(s.term(9), undefined, "compacted");
  assert.equal(s.entry(10), undefined);
  assert.equal(s.committed, 10, "a snapshot is committed");
  assert.equal(s.applied, 10, "and applied");
  assert.equal(s.slice(10, 13), undefined, "a slice reaching into the snapshot cannot be served");
  assert.deepEqual(
    s.slice(11, 13)?.map((e) => e.index),
    [11, 12],
  );
});

test("log: slice is half-open, clamped to the end and to a maximum count", () => {
  const l = new RaftLog(undefined, ents(1, [1, 1, 1, 1, 1]), 0, 0);
  assert.deepEqual(
    l.slice(2, 4)?.map((e) => e.index),
    [2, 3],
  );
  assert.deepEqual(
    l.slice(4, 99)?.map((e) => e.index),
    [4, 5],
  );
  assert.deepEqual(
    l.slice(1, 6, 2)?.map((e) => e.index),
    [1, 2],
  );
  assert.deepEqual(l.slice(6, 9), []);
});

test("§5.4.1 'If the logs have last entries with different terms, then the log with the later term is more up-to-date. If the logs end with the same term, then whichever log is longer is more up-to-date'", () => {
  const l = new RaftLog(undefined, ents(1, [1, 2, 2]), 0, 0); // ends at 3, term 2
  assert.equal(l.isUpToDate(3, 2), true, "equal");
  assert.equal(l.isUpToDate(4, 2), true, "longer");
  assert.equal(l.isUpToDate(2, 2), false, "shorter");
  assert.equal(l.isUpToDate(1, 3), true, "later term wins over length");
  assert.equal(l.isUpToDate(9, 1), false, "earlier term loses despite length");
});

test("§5.3 maybeAppend: consistency check, conflict truncation, commit capped at the last new entry", () => {
  const base = () => new RaftLog(undefined, ents(1, [1, 1, 2, 2]), 1, 1);
  // Mismatch at the previous entry.
  const a = base();
  assert.equal(a.maybeAppend(3, 1, 4, ents(4, [3])), undefined);
  assert.equal(terms(a), "1:1 2:1 3:2 4:2");
  assert.equal(a.committed, 1);
  // Beyond the end.
  assert.equal(base().maybeAppend(5, 2, 5, ents(6, [3])), undefined);
  // Conflict at 3: drop 3 and 4, take the new ones, lower `stable`.
  const b = base();
  assert.equal(b.maybeAppend(2, 1, 9, ents(3, [3, 3, 3])), 5);
  assert.equal(terms(b), "1:1 2:1 3:3 4:3 5:3");
  assert.equal(b.stable, 2, "the replaced tail is no longer durable");
  assert.deepEqual(
    b.unstable().map((e) => e.index),
    [3, 4, 5],
  );
  assert.equal(b.committed, 5, "min(leaderCommit 9, last new entry 5)");
  // Entries already present are skipped, nothing is truncated, stable stays.
  const c = base();
  assert.equal(c.maybeAppend(1, 1, 4, ents(2, [1, 2])), 3);
  assert.equal(terms(c), "1:1 2:1 3:2 4:2");
  assert.equal(c.stable, 4);
  assert.equal(c.committed, 3, "not 4: only 3 was vouched for");
  // Heartbeat-like empty append.
  const d = base();
  assert.equal(d.maybeAppend(4, 2, 2, []), 4);
  assert.equal(d.committed, 2);
});

test("§5.3 a committed entry is never truncated: the log refuses rather than lose it", () => {
  const l = new RaftLog(undefined, ents(1, [1, 1, 2]), 3, 3);
  assert.throws(() => l.maybeAppend(1, 1, 3, ents(2, [5])), /at or below commit/);
  assert.equal(terms(l), "1:1 2:1 3:2");
});

test("log: commitTo never lowers the commit index and never goes beyond the log", () => {
  const l = new RaftLog(undefined, ents(1, [1, 1, 1]), 2, 0);
  l.commitTo(1);
  assert.equal(l.committed, 2);
  l.commitTo(3);
  assert.equal(l.committed, 3);
  assert.throws(() => l.commitTo(4), /beyond last index/);
});

test("log: nextCommitted and unstable return what the adapter still has to apply and persist", () => {
  const l = new RaftLog(undefined, ents(1, [1, 1]), 1, 0);
  l.truncateAndAppend(ents(3, [2, 2]));
  assert.deepEqual(
    l.unstable().map((e) => e.index),
    [3, 4],
  );
  assert.deepEqual(
    l.nextCommitted().map((e) => e.index),
    [1],
  );
  l.commitTo(4);
  l.applied = 2;
  assert.deepEqual(
    l.nextCommitted().map((e) => e.index),
    [3, 4],
  );
  assert.throws(() => l.truncateAndAppend(ents(7, [2])), /gap/);
});

test("§5.3 fast back-off: findConflictByTerm finds the last index whose term is at most the given term", () => {
  const l = new RaftLog(undefined, ents(1, [1, 1, 2, 2, 2, 4, 4]), 0, 0);
  assert.equal(l.findConflictByTerm(7, 3), 5, "skips the whole term-4 run");
  assert.equal(l.findConflictByTerm(7, 4), 7);
  assert.equal(l.findConflictByTerm(5, 1), 2, "skips the whole term-2 run");
  assert.equal(l.findConflictByTerm(99, 9), 7, "clamped to the last index");
  assert.equal(l.findConflictByTerm(7, 0), 0, "nothing matches: start over");
  const s = new RaftLog({ index: 5, term: 2, config: { voters: {}, learners: {} } }, ents(6, [4, 4]), 0, 0);
  assert.equal(s.findConflictByTerm(7, 3), 5, "stops at the snapshot");
});

test("§7 compact drops entries up to an index; restore replaces the log with a snapshot", () => {
  const l = new RaftLog(undefined, ents(1, [1, 1, 2, 2, 3]), 4, 4);
  l.compact(3);
  assert.equal(l.snapIndex, 3);
  assert.equal(l.snapTerm, 2);
  assert.equal(terms(l), "4:2 5:3");
  assert.equal(l.term(3), 2);
  assert.throws(() => l.compact(2), /cannot compact/);
  assert.throws(() => l.compact(9), /cannot compact/);
  assert.throws(() => l.truncateAndAppend(ents(3, [9])), /before snapshot/);
  l.restore({ index: 20, term: 7, config: { voters: {}, learners: {} } });
  assert.equal(l.lastIndex(), 20);
  assert.equal(l.lastTerm(), 7);
  assert.equal(l.entries.length, 0);
  assert.equal(l.stable, 20);
  assert.equal(l.committed, 20);
  assert.equal(l.applied, 20);
});
