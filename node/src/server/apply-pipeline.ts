/**
 * The applies behind the run loop. A Ready's committed entries are durable,
 * so the loop hands them here and goes on with the next Ready without
 * waiting; they are applied to the KV store in order, one chain of work, and
 * waiters (proposals, reads) are released as they land. Entries committed
 * while an earlier apply runs join one batch: one LevelDB write for many
 * cycles' entries under load.
 */

import { NodeError } from "../api/kv-node.ts";
import type { KvStore } from "../kv/kv-store.ts";
import type { Logger } from "../log.ts";
import { decodeMemberRecord, type MembershipBook } from "../membership-book.ts";
import { metrics } from "../metrics.ts";
import type { Entry } from "../raft/types.ts";
import { unwrapSnapshot } from "./snapshot-envelope.ts";
import type { AppliedWaiters, ProposalWaiters } from "./waiters.ts";

/**
 * Most entries one apply batch gathers from several Readies: larger batches would hold the loop's
 * thread (encoding, the native batch) and LevelDB's write queue for too long at once.
 */
const MAX_APPLY_BATCH = 64;

/** What an ApplyPipeline works with. */
export interface ApplyPipelineDeps {
  kv: KvStore;
  book: MembershipBook;
  logger: Logger;
  proposals: ProposalWaiters;
  appliedWaiters: AppliedWaiters;
  /** The index already applied when the node starts. */
  applied: number;
  /** Entries of `bytes` data were applied (the snapshot schedule counts them). */
  onApplied: (bytes: number) => void;
  /** A snapshot from the leader replaced the state. */
  onRestored: () => void;
  /** Config entries were applied up to `index` (restored: a snapshot replaced the membership). */
  onConfig: (index: number, restored: boolean) => void;
  /** Work in the chain failed: the node must stop. */
  onFailed: (e: Error) => void;
}

/** Applies committed entries (and restores snapshots) in order, behind the run loop. */
export class ApplyPipeline {
  readonly #d: ApplyPipelineDeps;
  #applied: number;
  #tail: Promise<void> = Promise.resolve();
  /** The batch of committed entries whose apply has not started yet. */
  #open: Entry[] | undefined;

  /** A pipeline continuing from `d.applied`. */
  constructor(d: ApplyPipelineDeps) {
    this.#d = d;
    this.#applied = d.applied;
  }

  /** Highest index applied to the KV store. */
  get applied(): number {
    return this.#applied;
  }

  /** Resolves when everything handed over so far is done; rejects when some of it failed. */
  drained(): Promise<void> {
    return this.#tail;
  }

  /** Runs `f` after the work handed over so far (and before any later work); a failure stops the node. */
  chain(f: () => Promise<void>): void {
    this.#tail = this.#tail.then(f);
    this.#tail.catch((e: Error) => this.#d.onFailed(e));
  }

  /**
   * Hands over committed entries. They join the batch not started yet when there is room; order is
   * kept, as every batch is taken whole when its turn in the chain comes.
   */
  queue(entries: readonly Entry[]): void {
    const open = this.#open;
    if (open !== undefined && open.length + entries.length <= MAX_APPLY_BATCH) {
      for (const e of entries) open.push(e);
      return;
    }
    const batch = [...entries];
    this.#open = batch;
    this.chain(async () => {
      // Not before the microtasks queued so far: the answers given at commit (promise chains from the
      // Ready that queued this batch) reach their sockets first, and entries committed meanwhile join.
      await new Promise<void>((r) => process.nextTick(r));
      // From here on this batch is taken: later entries start the next one.
      if (this.#open === batch) this.#open = undefined;
      return this.#apply(batch);
    });
  }

  /** Replaces the state with a snapshot from the leader (call after drained()). */
  async restore(data: string, index: number): Promise<void> {
    const end = metrics.snapshotSeconds.startTimer({ kind: "restore" });
    const parts = unwrapSnapshot(data);
    await this.#d.kv.restore(parts.kv, index);
    this.#d.book.restore(parts.book);
    this.#applied = index;
    this.#d.onRestored();
    this.#d.proposals.rejectUpTo(index, new NodeError("UNAVAILABLE", "a snapshot replaced this entry; retry"));
    this.#d.appliedWaiters.applied(index);
    end();
    metrics.snapshots.inc({ kind: "restored" });
    this.#d.logger.info("restored snapshot from leader", { index, bytes: data.length });
    this.#d.onConfig(index, true);
  }

  async #apply(entries: Entry[]): Promise<void> {
    let config = false;
    for (const e of entries) {
      const rec = decodeMemberRecord(e);
      if (rec) this.#d.book.apply(rec);
      if (e.type === "config") config = true;
    }
    const end = metrics.applySeconds.startTimer();
    const results = await this.#d.kv.applyBatch(entries);
    for (const e of entries) this.#d.onApplied(e.data.length);
    end();
    entries.forEach((e, i) => {
      this.#d.proposals.applied(e.index, e.term, results[i] ?? { op: "none", ok: true });
    });
    this.#applied = (entries[entries.length - 1] as Entry).index;
    this.#d.appliedWaiters.applied(this.#applied);
    if (config) this.#d.onConfig(this.#applied, false);
  }
}
