/**
 * Linearizable reads (ReadIndex, thesis §6.4): reads that arrive together
 * share one confirmation round; once the leader confirms a read index, each
 * read waits until this node has applied it. A round that belongs to a
 * leadership that ended is re-issued with the new leader (still
 * linearizable: the new round starts after the read arrived).
 */

import { NodeError } from "../api/kv-node.ts";
import type { MembershipBook } from "../membership-book.ts";
import type { RaftCore } from "../raft/core.ts";
import type { ReadState } from "../raft/types.ts";
import { refusalError } from "./refusals.ts";

interface ReadWaiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Round {
  waiters: ReadWaiter[];
  lead: string;
  term: number;
}

/** Batches reads into ReadIndex rounds. */
export class ReadBatcher {
  #queued: ReadWaiter[] = [];
  readonly #rounds = new Map<string, Round>();
  #seq = 0;
  readonly #id: string;
  readonly #timeoutMs: number;
  readonly #schedule: (delayMs?: number) => void;

  /** `schedule` asks the run loop for a cycle (after `delayMs` when given). */
  constructor(id: string, timeoutMs: number, schedule: (delayMs?: number) => void) {
    this.#id = id;
    this.#timeoutMs = timeoutMs;
    this.#schedule = schedule;
  }

  /** Resolves once the local state reflects every write committed before the call. */
  wait(): Promise<void> {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (f: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        f();
      };
      const timer = setTimeout(
        () => finish(() => reject(new NodeError("UNAVAILABLE", `read not confirmed within ${this.#timeoutMs} ms`))),
        this.#timeoutMs,
      );
      this.#queued.push({ resolve: () => finish(resolve), reject: (e) => finish(() => reject(e)) });
      this.#schedule();
    });
  }

  /** Starts one round for every queued read; called by the run loop before `ready()`. */
  start(core: RaftCore, book: MembershipBook, tickMs: number): void {
    if (this.#queued.length === 0) return;
    const batch = this.#queued;
    this.#queued = [];
    const ctx = `${this.#id}/${++this.#seq}`;
    const out = core.readIndex(ctx);
    if (out.ok) {
      this.#rounds.set(ctx, { waiters: batch, lead: core.lead, term: core.term });
    } else if (out.code === "NOT_READY" || out.code === "NO_LEADER") {
      // An election is running, or the new leader has not committed in its term yet: retry
      // shortly (each read's timeout bounds the wait).
      this.#queued.push(...batch);
      this.#schedule(out.code === "NO_LEADER" ? tickMs : 10);
    } else {
      const err = refusalError(book, out);
      for (const w of batch) w.reject(err);
    }
  }

  /** A round was confirmed at `rs.index`: each read waits for that index to be applied. */
  confirmed(rs: ReadState, applied: (index: number) => Promise<void>): void {
    const round = this.#rounds.get(rs.context);
    if (!round) return;
    this.#rounds.delete(rs.context);
    void applied(rs.index).then(() => {
      for (const w of round.waiters) w.resolve();
    });
  }

  /** Leadership changed: rounds of the old leadership would never be confirmed, so issue them again. */
  leaderChanged(lead: string, term: number): void {
    for (const [ctx, round] of this.#rounds) {
      if (round.lead === lead && round.term === term) continue;
      this.#rounds.delete(ctx);
      this.#queued.push(...round.waiters);
    }
    if (this.#queued.length > 0) this.#schedule();
  }

  /** Fails every read (shutdown). */
  rejectAll(err: Error): void {
    for (const w of this.#queued) w.reject(err);
    for (const r of this.#rounds.values()) for (const w of r.waiters) w.reject(err);
    this.#queued = [];
    this.#rounds.clear();
  }
}
