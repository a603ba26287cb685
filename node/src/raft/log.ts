import type { Entry, SnapshotMeta } from "./types.ts";

/**
 * The in-memory view of one node's log: the entries after the last snapshot,
 * how far they are durable (`stable`), committed and applied. The adapter's
 * storage mirrors it; the core only ever reads this copy.
 */
export class RaftLog {
  /** Index and term of the last entry folded into the snapshot (0/0 when there is none). */
  snapIndex = 0;
  snapTerm = 0;
  /** Entries snapIndex+1 .. lastIndex(). */
  entries: Entry[] = [];
  /** Highest index known to be on disk. */
  stable = 0;
  committed = 0;
  applied = 0;

  /** Loads the log as it was persisted. */
  constructor(snap: SnapshotMeta | undefined, entries: Entry[], commit: number, applied: number) {
    if (snap) {
      this.snapIndex = snap.index;
      this.snapTerm = snap.term;
    }
    this.entries = entries.slice();
    this.stable = this.lastIndex();
    this.committed = Math.max(commit, this.snapIndex);
    this.applied = Math.max(Math.min(applied, this.committed), this.snapIndex);
  }

  /** First index still held as an entry. */
  firstIndex(): number {
    return this.snapIndex + 1;
  }

  /** Index of the last entry (or of the snapshot when the log is empty). */
  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  /** Term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Term at `i`, or undefined when `i` was compacted away or is beyond the end. */
  term(i: number): number | undefined {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex || i > this.lastIndex()) return undefined;
    return this.entries[i - this.snapIndex - 1]?.term;
  }

  /** The entry at `i`, if held. */
  entry(i: number): Entry | undefined {
    if (i <= this.snapIndex) return undefined;
    return this.entries[i - this.snapIndex - 1];
  }

  /** True when the entry at `i` has term `t`. */
  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Entries [lo, hi) limited to `max`; undefined when lo was compacted. */
  slice(lo: number, hi: number, max = Number.POSITIVE_INFINITY): Entry[] | undefined {
    if (lo <= this.snapIndex) return undefined;
    const end = Math.min(hi, this.lastIndex() + 1, lo + max);
    if (end <= lo) return [];
    return this.entries.slice(lo - this.snapIndex - 1, end - this.snapIndex - 1);
  }

  /** Raft's election restriction (§5.4.1): is a log ending at (index, term) at least as up to date as ours? */
  isUpToDate(index: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && index >= this.lastIndex());
  }

  /**
   * Appends after the leader's consistency check (§5.3). Returns the index of
   * the last new entry, or undefined when (index, logTerm) does not match.
   * Conflicting entries and all that follow them are dropped first.
   */
  maybeAppend(index: number, logTerm: number, commit: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    let from = ents.length;
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k] as Entry;
      if (e.index <= this.snapIndex) continue;
      if (!this.matchTerm(e.index, e.term)) {
        from = k;
        break;
      }
    }
    if (from < ents.length) {
      const first = (ents[from] as Entry).index;
      if (first <= this.committed)
        throw new Error(`raft: conflict at ${first} is at or below commit ${this.committed}`);
      this.truncateAndAppend(ents.slice(from));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends entries that start at or before lastIndex()+1, dropping any tail they replace. */
  truncateAndAppend(ents: Entry[]): void {
    const first = ents[0];
    if (!first) return;
    const after = first.index - 1;
    if (after < this.snapIndex) throw new Error(`raft: append at ${first.index} before snapshot ${this.snapIndex}`);
    if (after > this.lastIndex()) throw new Error(`raft: gap appending ${first.index} after ${this.lastIndex()}`);
    this.entries.length = after - this.snapIndex;
    for (const e of ents) this.entries.push(e);
    if (this.stable > after) this.stable = after;
  }

  /**
   * For fast back-off: the largest index <= `index` whose term is <= `term`
   * (etcd's findConflictByTerm), so a whole conflicting term is skipped at once.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapIndex) {
      const t = this.term(i);
      if (t !== undefined && t <= term) break;
      i--;
    }
    return i;
  }

  /** Raises the commit index; never lowers it. */
  commitTo(i: number): void {
    if (i <= this.committed) return;
    if (i > this.lastIndex()) throw new Error(`raft: commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
  }

  /** Entries that are committed but not yet applied. */
  nextCommitted(): Entry[] {
    if (this.committed <= this.applied) return [];
    return this.slice(this.applied + 1, this.committed + 1) ?? [];
  }

  /** Entries not yet durable. */
  unstable(): Entry[] {
    return this.slice(this.stable + 1, this.lastIndex() + 1) ?? [];
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(meta: SnapshotMeta): void {
    this.snapIndex = meta.index;
    this.snapTerm = meta.term;
    this.entries = [];
    this.stable = meta.index;
    this.committed = meta.index;
    this.applied = meta.index;
  }

  /** Drops entries up to and including `index` after the application snapshotted them. */
  compact(index: number): void {
    const term = this.term(index);
    if (term === undefined || index <= this.snapIndex) throw new Error(`raft: cannot compact to ${index}`);
    this.entries = this.entries.slice(index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
  }
}
