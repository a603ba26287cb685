/**
 * Callers waiting on the log: a proposal waits for its entry to be applied
 * (with the term it was proposed in), a read waits for the applied index to
 * reach its read index.
 */

import { NodeError } from "../api/kv-node.ts";
import type { ApplyResult } from "../kv/kv-store.ts";

interface ProposalWaiter {
  term: number;
  /** The answer once the entry commits, when the apply cannot change it (see RaftNode.propose). */
  atCommit: ApplyResult | undefined;
  resolve: (r: ApplyResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Proposals by log index. */
export class ProposalWaiters {
  readonly #byIndex = new Map<number, ProposalWaiter>();

  /** Number of proposals waiting. */
  get size(): number {
    return this.#byIndex.size;
  }

  /**
   * Waits for the entry at `index` proposed in `term` (applied, or only committed when `atCommit` is
   * given); rejects with UNAVAILABLE after `timeoutMs`.
   */
  wait(index: number, term: number, timeoutMs: number, atCommit?: ApplyResult): Promise<ApplyResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#byIndex.delete(index);
        reject(
          new NodeError("UNAVAILABLE", `entry ${index} was not committed within ${timeoutMs} ms; it may still commit`),
        );
      }, timeoutMs);
      // A leftover waiter at the same index lost its entry to a new leader.
      this.#byIndex.get(index)?.reject(lost(index));
      this.#byIndex.set(index, { term, atCommit, resolve, reject, timer });
    });
  }

  /** The entry at `index` with `term` was applied with `result`. */
  applied(index: number, term: number, result: ApplyResult): void {
    const w = this.#byIndex.get(index);
    if (!w) return;
    this.#byIndex.delete(index);
    clearTimeout(w.timer);
    if (w.term === term) w.resolve(result);
    else w.reject(lost(index));
  }

  /** Entries committed: waiters that answer at commit get their answer now. */
  committed(entries: readonly { index: number; term: number }[]): void {
    if (this.#byIndex.size === 0) return;
    for (const e of entries) {
      const w = this.#byIndex.get(e.index);
      if (w?.atCommit === undefined) continue;
      this.#byIndex.delete(e.index);
      clearTimeout(w.timer);
      if (w.term === e.term) w.resolve(w.atCommit);
      else w.reject(lost(e.index));
    }
  }

  /** Rejects every waiter at or below `index` (a snapshot replaced those entries: outcome unknown). */
  rejectUpTo(index: number, err: Error): void {
    for (const [i, w] of this.#byIndex) {
      if (i > index) continue;
      this.#byIndex.delete(i);
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** Rejects every waiter. */
  rejectAll(err: Error): void {
    this.rejectUpTo(Number.POSITIVE_INFINITY, err);
  }
}

function lost(index: number): NodeError {
  return new NodeError("UNAVAILABLE", `entry ${index} was replaced by another leader's entry; retry`);
}

interface AppliedWaiter {
  index: number;
  resolve: () => void;
}

/** Callers waiting for the applied index to reach a value. */
export class AppliedWaiters {
  #list: AppliedWaiter[] = [];

  /** Resolves once `applied(n)` is called with n >= index. */
  wait(index: number, applied: number): Promise<void> {
    if (applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.#list.push({ index, resolve }));
  }

  /** The applied index moved to `n`. */
  applied(n: number): void {
    if (this.#list.length === 0) return;
    const keep: AppliedWaiter[] = [];
    for (const w of this.#list) {
      if (w.index <= n) w.resolve();
      else keep.push(w);
    }
    this.#list = keep;
  }
}
