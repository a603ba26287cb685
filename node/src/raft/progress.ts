import type { Incarnation, Snapshot } from "./types.ts";

/** How the leader is replicating to one follower. */
export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * The leader's view of one follower (etcd's Progress): how much of the log it
 * holds, what to send next, and the flow-control window.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** In probe state: one append is out and unanswered; wait for a reply or a heartbeat. */
  probeSent = false;
  /** In replicate state: last index of each append still in flight, oldest first. */
  inflight: number[] = [];
  /** In snapshot state: the snapshot being sent (kept even if the leader compacts again meanwhile), and how much of it the follower holds. */
  snap: Snapshot | undefined;
  pendingSnapshot = 0;
  snapOffset = 0;
  /** snapOffset at the previous heartbeat answer: unchanged means the chunk in flight was lost. */
  snapOffsetAtHeartbeat = -1;
  /** Highest leader tick echoed back by this follower (for check-quorum and leases). */
  ackTick = Number.NEGATIVE_INFINITY;
  /** The incarnation the follower last reported; differs from the configuration's after a wiped disk. */
  seenInc: Incarnation | undefined;

  /** The incarnation this progress tracks; a re-added member gets a fresh Progress. */
  readonly boundInc: Incarnation | undefined;

  /** Starts probing at `next` a member bound to `boundInc`. */
  constructor(next: number, boundInc: Incarnation | undefined) {
    this.next = next;
    this.boundInc = boundInc;
  }

  /** Back to one-at-a-time probing after a rejection or a finished snapshot. */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
      this.pendingSnapshot = 0;
      this.snap = undefined;
    } else {
      this.next = this.match + 1;
    }
    this.state = "probe";
    this.probeSent = false;
    this.inflight = [];
  }

  /** The follower matched: stream entries optimistically. */
  becomeReplicate(): void {
    this.state = "replicate";
    this.snap = undefined;
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflight = [];
  }

  /** The entries it needs are compacted: send `snap` from its first character. */
  becomeSnapshot(snap: Snapshot): void {
    this.state = "snapshot";
    this.snap = snap;
    this.pendingSnapshot = snap.meta.index;
    this.snapOffset = 0;
    this.snapOffsetAtHeartbeat = -1;
    this.inflight = [];
  }

  /** Records an acknowledged index; returns true when it moved `match` forward. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * Handles a rejection of the append at `rejected`; `hint` is the last index
   * that may match. Returns false for a stale rejection that must be ignored.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append in flight ending at `last`. */
  sent(last: number, maxInflight: number): void {
    if (this.state === "replicate") {
      this.next = last + 1;
      this.inflight.push(last);
      if (this.inflight.length > maxInflight) this.inflight.shift();
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /** Frees the window up to `index` (the follower acknowledged it). */
  freeTo(index: number): void {
    let k = 0;
    while (k < this.inflight.length && (this.inflight[k] as number) <= index) k++;
    if (k > 0) this.inflight.splice(0, k);
  }

  /** True when nothing more should be sent until the follower answers. */
  isPaused(maxInflight: number): boolean {
    if (this.state === "probe") return this.probeSent;
    if (this.state === "replicate") return this.inflight.length >= maxInflight;
    return true;
  }
}
