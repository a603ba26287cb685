/**
 * Making a node's snapshots: when the policy (snapshot-policy.ts) says one is
 * due, the log is compacted behind a snapshot, which the run loop hands to
 * the core. On a durable KV store (LevelDB) the snapshot is local: the store
 * syncs its state at the applied index and the snapshot holds only the
 * membership book, so nothing is serialised (Snapshot.local). A full
 * snapshot (the KV store read at the applied index, with the book) is made
 * only when a follower needs one sent (RaftCore.snapshotWanted), or always on
 * a store that is not durable. A full snapshot is written beside the log
 * (LogStore.prepareSnapshot) before the core compacts; reading and writing
 * run outside the loop, so a large store does not hold its heartbeats.
 */

import type { KvStore } from "../kv/kv-store.ts";
import type { Logger } from "../log.ts";
import type { MembershipBook } from "../membership-book.ts";
import { metrics } from "../metrics.ts";
import type { RaftCore } from "../raft/core.ts";
import type { LogStore } from "../storage/log-store.ts";
import { wrapLocalSnapshot, wrapSnapshot } from "./snapshot-envelope.ts";
import { SnapshotPolicy, type SnapshotPolicyOptions } from "./snapshot-policy.ts";

/** What a SnapshotMaker works with. */
export interface SnapshotMakerDeps {
  core: RaftCore;
  kv: KvStore;
  book: MembershipBook;
  log: LogStore;
  logger: Logger;
  policy: SnapshotPolicyOptions;
  /** True while STATE_DIR's free space is below the reserve; absent = never. */
  diskLow?: (() => boolean) | undefined;
  /** The node's applied index (read when the snapshot starts, between two applies). */
  applied: () => number;
  /** Runs `f` after the applies handed over so far and before any later one. */
  chain: (f: () => Promise<void>) => void;
  /** Runs `f` (which may call the core) at the run loop's next cycle. */
  toLoop: (f: () => void) => void;
}

/** Starts snapshots when due and hands each finished one to the loop to compact. */
export class SnapshotMaker {
  readonly #d: SnapshotMakerDeps;
  readonly #policy: SnapshotPolicy;
  #busy = false;

  /** A maker for a node whose log holds the entries applied since the core's snapshot. */
  constructor(d: SnapshotMakerDeps) {
    this.#d = d;
    let logBytes = 0;
    const log = d.core.log;
    for (const e of log.entries) if (e.index <= log.applied) logBytes += e.data.length;
    this.#policy = new SnapshotPolicy(d.policy, snapshotJitter(), logBytes);
  }

  /** Entries of `bytes` data were applied. */
  applied(bytes: number): void {
    this.#policy.applied(bytes);
  }

  /** A snapshot from the leader replaced the state. */
  restored(): void {
    this.#policy.restored();
  }

  /** Starts a snapshot at `applied` when one is due and none is being made; the core compacts later. */
  maybe(applied: number): void {
    if (this.#busy) return;
    const { core, kv } = this.#d;
    const snap = core.snapshot;
    // A follower waits for a full snapshot: make one now, whatever the policy says.
    const wanted = core.snapshotWanted && snap?.local === true;
    if (!wanted) {
      // A local snapshot costs nothing to keep, so the log's growth is not weighed against its size.
      const bytes = kv.persist ? 0 : (snap?.data.length ?? 0);
      if (!this.#policy.due(applied, snap?.meta.index ?? 0, bytes)) return;
      // While a follower receives a snapshot, the log after it is what it catches up from next: keep it,
      // or it would need another snapshot (up to a bound in entries and bytes, for a transfer that never ends).
      if (
        kv.persist &&
        sendingSnapshot(core) &&
        applied - (snap?.meta.index ?? 0) < HOLD_BOUND * this.#d.policy.threshold &&
        this.#policy.bytesSinceSnapshot < this.#d.policy.maxLogBytes
      ) {
        return;
      }
    }
    // A snapshot is written whole before the log shrinks: not while the reserve is all that is left.
    if (this.#d.diskLow?.() === true) return;
    this.#busy = true;
    const local = kv.persist !== undefined && !wanted;
    // Started between two applies (in their chain), so the KV snapshot and the book are at one index.
    this.#d.chain(async () => (local ? this.#startLocal() : this.#start()));
  }

  /** Syncs the KV store at the applied index and compacts behind a snapshot holding only the book. */
  async #startLocal(): Promise<void> {
    const { kv, book, log, logger } = this.#d;
    const index = this.#d.applied();
    this.#policy.started(snapshotJitter());
    const data = wrapLocalSnapshot(book.toJSON());
    const end = metrics.snapshotSeconds.startTimer({ kind: "local" });
    let durable: number;
    try {
      durable = await (kv.persist as () => Promise<number>)();
    } catch (e) {
      this.#busy = false;
      logger.error("snapshot failed", { index, err: e });
      return;
    }
    if (durable !== index) {
      this.#busy = false;
      return;
    }
    void (async () => {
      await log.prepareSnapshot?.(index, data);
      this.#compact(index, data, true, end);
    })().catch((e: unknown) => {
      this.#busy = false;
      logger.error("snapshot failed", { index, err: e });
    });
  }

  /** Hands a snapshot written at `index` to the loop, where the core compacts. */
  #compact(index: number, data: string, local: boolean, end: () => void): void {
    const { logger } = this.#d;
    this.#d.toLoop(() => {
      this.#busy = false;
      try {
        this.#d.core.compact(index, data, local);
        if (this.#d.core.snapshot?.meta.index === index) this.#policy.taken();
        end();
        metrics.snapshots.inc({ kind: local ? "local" : "created" });
        if (local) logger.debug("compacted behind a local snapshot", { index });
        else logger.info("created snapshot", { index, bytes: data.length });
      } catch (e) {
        logger.warn("snapshot not used", { index, err: e });
      }
    });
  }

  #start(): void {
    const { kv, book, log, logger } = this.#d;
    const index = this.#d.applied();
    this.#policy.started(snapshotJitter());
    const members = book.toJSON();
    const end = metrics.snapshotSeconds.startTimer({ kind: "create" });
    kv.snapshot()
      .then(async (s) => {
        if (s.index !== index) return undefined;
        const data = wrapSnapshot({ book: members, kv: s.data });
        // The data is written (beside the log's database) before the core compacts, so the save in
        // the loop only records it: a large write there would hold the loop, and its heartbeats.
        await log.prepareSnapshot?.(index, data);
        return data;
      })
      .then(
        (data) => {
          if (data === undefined) {
            this.#busy = false;
            return;
          }
          this.#compact(index, data, false, end);
        },
        (e) => {
          this.#busy = false;
          logger.error("snapshot failed", { index, err: e });
        },
      );
  }
}

/** How many snapshot thresholds of log a leader keeps while it sends a snapshot, at most (and maxLogBytes). */
const HOLD_BOUND = 8;

/** Whether this core (as leader) is sending a snapshot to some follower. */
function sendingSnapshot(core: RaftCore): boolean {
  if (core.state !== "leader") return false;
  for (const pr of core.prs.values()) if (pr.state === "snapshot") return true;
  return false;
}

/** A node's factor (1–1.5) on the log growth its next snapshot waits for: the one random draw it needs. */
function snapshotJitter(): number {
  return 1 + Math.random() / 2;
}
