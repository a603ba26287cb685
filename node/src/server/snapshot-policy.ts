/**
 * When a node takes its next snapshot. A snapshot serialises the whole store, so taking one every
 * `threshold` entries costs O(store) per few thousand writes. A snapshot is also held back until the
 * entries applied since the last one add up to `logRatio` times that snapshot's size (as Redis rewrites
 * its append-only file once it has doubled), or to `maxLogBytes`; building snapshots then costs at most
 * about 1/logRatio of the bytes written. Members apply the same entries, so each one scales that growth by
 * its own jitter (drawn by the caller: this class holds no clock and no randomness), and they do not all
 * write a large snapshot at the same moment.
 */

/** The settings of a SnapshotPolicy. */
export interface SnapshotPolicyOptions {
  /** Fewest applied entries between two snapshots. */
  threshold: number;
  /** Log growth, as a multiple of the last snapshot's size, a snapshot waits for (0: none). */
  logRatio: number;
  /** Log growth after which the ratio no longer holds a snapshot back. */
  maxLogBytes: number;
}

/** The snapshot schedule of one node: fed with applied entry sizes, asked whether a snapshot is due. */
export class SnapshotPolicy {
  readonly #o: SnapshotPolicyOptions;
  /** Bytes of entry data applied since the snapshot the core holds. */
  #bytes: number;
  /** #bytes when the snapshot being built started (its index). */
  #atStart = 0;
  #jitter: number;

  /** A schedule with `jitter` (1 or more) on the growth, and `bytesSinceSnapshot` already applied. */
  constructor(o: SnapshotPolicyOptions, jitter: number, bytesSinceSnapshot = 0) {
    this.#o = o;
    this.#jitter = jitter;
    this.#bytes = bytesSinceSnapshot;
  }

  /** Bytes of entry data applied since the snapshot the core holds. */
  get bytesSinceSnapshot(): number {
    return this.#bytes;
  }

  /** Entries of `bytes` data were applied. */
  applied(bytes: number): void {
    this.#bytes += bytes;
  }

  /** A snapshot from the leader replaced the state: the log since the snapshot is empty. */
  restored(): void {
    this.#bytes = 0;
    this.#atStart = 0;
  }

  /** Whether a snapshot is due at `applied`, given the snapshot held (its index and size in characters). */
  due(applied: number, snapIndex: number, snapBytes: number): boolean {
    if (applied - snapIndex < this.#o.threshold) return false;
    const grown = Math.min(this.#o.logRatio * snapBytes, this.#o.maxLogBytes);
    return this.#bytes >= grown * this.#jitter;
  }

  /** A snapshot starts at the current applied index; `nextJitter` scales the growth the one after waits for. */
  started(nextJitter: number): void {
    this.#atStart = this.#bytes;
    this.#jitter = nextJitter;
  }

  /** The snapshot started last became the one the core holds: only what was applied since it counts. */
  taken(): void {
    this.#bytes -= this.#atStart;
    this.#atStart = 0;
  }
}
