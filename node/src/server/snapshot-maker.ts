/**
 * Making a node's snapshots: when the policy (snapshot-policy.ts) says one is
 * due, the KV store is read at the applied index, wrapped with the membership
 * book, written beside the log (LogStore.prepareSnapshot) and only then
 * handed to the run loop, which lets the core compact. Reading and writing
 * run outside the loop, so a large store does not hold its heartbeats.
 */

import type { KvStore } from "../kv/kv-store.ts";
import type { Logger } from "../log.ts";
import type { MembershipBook } from "../membership-book.ts";
import { metrics } from "../metrics.ts";
import type { RaftCore } from "../raft/core.ts";
import type { LogStore } from "../storage/log-store.ts";
import { wrapSnapshot } from "./snapshot-envelope.ts";
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
    const snap = this.#d.core.snapshot;
    if (!this.#policy.due(applied, snap?.meta.index ?? 0, snap?.data.length ?? 0)) return;
    // A snapshot is written whole before the log shrinks: not while the reserve is all that is left.
    if (this.#d.diskLow?.() === true) return;
    this.#busy = true;
    // Started between two applies (in their chain), so the KV snapshot and the book are at one index.
    this.#d.chain(async () => this.#start());
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
          this.#d.toLoop(() => {
            this.#busy = false;
            try {
              this.#d.core.compact(index, data);
              if (this.#d.core.snapshot?.meta.index === index) this.#policy.taken();
              end();
              metrics.snapshots.inc({ kind: "created" });
              logger.info("created snapshot", { index, bytes: data.length });
            } catch (e) {
              logger.warn("snapshot not used", { index, err: e });
            }
          });
        },
        (e) => {
          this.#busy = false;
          logger.error("snapshot failed", { index, err: e });
        },
      );
  }
}

/** A node's factor (1–1.5) on the log growth its next snapshot waits for: the one random draw it needs. */
function snapshotJitter(): number {
  return 1 + Math.random() / 2;
}
