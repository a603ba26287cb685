/**
 * The high-water mark of a log store. LevelDB opens a store whose write-ahead
 * log was truncated well before its end, or deleted, without complaint,
 * silently dropping synced, acknowledged entries and hard state; the node
 * would then restart behind what it acknowledged, under the same incarnation
 * (a Raft safety risk). So the hard state (commit, term, vote) of the last
 * synced batch is also recorded outside LevelDB, in the store marker file
 * (fsync + rename), and opening refuses a store that loads less
 * (checkHighWater). The commit index is recorded rather than the last index: a
 * new leader may truncate the log, but only above the commit index, which
 * never decreases. To amortise the marker's fsyncs it is written in the
 * background at most once per HIGH_WATER_INTERVAL_MS (term/vote changes at
 * once), and on close(). What this cannot detect: after a crash, loss of only
 * the log tail written within the last interval (plus one marker write), and
 * entries above the commit index (acknowledged to a leader but not yet known
 * committed here).
 */

import type { HardState, PersistedState } from "../raft/types.ts";
import { corruptStore } from "./open-level.ts";
import { MARKER_FILE, type StoreMarker, writeMarker } from "./store-marker.ts";

/**
 * Minimum milliseconds between two high-water-mark writes (each a small file
 * write, two fsyncs and a rename, off the save path). The mark trails the
 * durable commit index by at most this long plus one marker write: a crash
 * that also loses just that tail of the write-ahead log goes undetected.
 */
export const HIGH_WATER_INTERVAL_MS = 1000;

/** Whether the marker's high-water mark already records `hs`. */
function marks(m: StoreMarker, hs: HardState): boolean {
  return (m.commit ?? 0) === hs.commit && (m.term ?? 0) === hs.term && (m.vote ?? "") === hs.vote;
}

/**
 * Refuses a store that loads less than its high-water mark: a commit index or
 * term below the recorded one, or another vote in the recorded term. Those
 * never go back in Raft, so the write-ahead log lost synced, acknowledged state.
 */
export function checkHighWater(dir: string, marker: StoreMarker | undefined, state: PersistedState | null): void {
  if (!marker) return;
  const hs = state?.hardState ?? { term: 0, vote: "", commit: 0 };
  const commit = Math.max(hs.commit, state?.snapshot?.meta.index ?? 0);
  const m = { commit: marker.commit ?? 0, term: marker.term ?? 0, vote: marker.vote ?? "" };
  let lost: string | undefined;
  if (commit < m.commit) lost = "its commit index went back";
  else if (hs.term < m.term) lost = "its term went back";
  else if (hs.term === m.term && m.vote !== "" && hs.vote !== m.vote) lost = `its vote in term ${hs.term} changed`;
  if (lost === undefined) return;
  throw corruptStore(
    dir,
    `acknowledged writes were lost (${lost}): the store holds commit ${commit}, term ${hs.term}, ` +
      `vote ${JSON.stringify(hs.vote)} but ${MARKER_FILE} recorded commit ${m.commit}, term ${m.term}, ` +
      `vote ${JSON.stringify(m.vote)} as durable; was a LevelDB write-ahead log (.log) truncated or deleted?`,
  );
}

/** What a HighWaterMark asks of its store. */
export interface HighWaterHooks {
  /** True once the store failed: the mark then stays where it is. */
  failed: () => boolean;
  /** A marker write failed: the store must fail like after a failed batch. */
  onFailed: (e: unknown) => void;
}

/** Records a store's durable hard state in its marker file, in the background and rate-limited. */
export class HighWaterMark {
  /** Marker files written, for tests and benchmarks. */
  readonly stats = { writes: 0 };
  readonly #dir: string;
  readonly #intervalMs: number;
  readonly #hooks: HighWaterHooks;
  /** The marker file as last written or read. */
  #marker: StoreMarker;
  /** The newest hard state made durable by a synced batch. */
  #durable: HardState | undefined;
  #lastAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | null = null;
  #stopped = false;

  /** A mark for the store in `dir` whose marker currently reads `marker`. */
  constructor(dir: string, marker: StoreMarker, intervalMs: number, hooks: HighWaterHooks) {
    this.#dir = dir;
    this.#marker = marker;
    this.#intervalMs = intervalMs;
    this.#hooks = hooks;
  }

  /** A synced batch made `hs` durable: the mark may rise to it. */
  durable(hs: HardState): void {
    this.#durable = hs;
    this.#schedule();
  }

  /** No further background writes; resolves once the one in flight (if any) is done. */
  stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    return this.#writing ?? Promise.resolve();
  }

  /** Records `hs` now unless the marker already holds it (a clean close); rejects when the write fails. */
  async record(hs: HardState): Promise<void> {
    if (!marks(this.#marker, hs)) await this.#write(hs);
  }

  /**
   * Records the durable hard state as the high-water mark, in the background:
   * at most once per #intervalMs (a term or vote change at once, as
   * elections are rare and a lost vote is the costliest loss), one write at a
   * time. A failed marker write poisons the store like a failed batch.
   */
  #schedule(): void {
    const hs = this.#durable;
    if (!hs || this.#writing || this.#timer || this.#stopped || this.#hooks.failed() || marks(this.#marker, hs)) return;
    const urgent = hs.term !== (this.#marker.term ?? 0) || hs.vote !== (this.#marker.vote ?? "");
    const wait = this.#lastAt + this.#intervalMs - performance.now();
    if (wait > 0 && !urgent) {
      this.#timer = setTimeout(
        () => {
          this.#timer = undefined;
          this.#schedule();
        },
        Math.min(wait, 2 ** 31 - 1), // setTimeout's limit
      );
      this.#timer.unref();
      return;
    }
    this.#writing = this.#write(hs).then(
      () => {
        this.#writing = null;
        this.#schedule();
      },
      (e) => {
        this.#writing = null;
        this.#hooks.onFailed(e);
      },
    );
  }

  /** Writes `hs` (already durable in LevelDB) as the marker's high-water mark. */
  async #write(hs: HardState): Promise<void> {
    this.#lastAt = performance.now();
    const m: StoreMarker = { ...this.#marker, commit: hs.commit, term: hs.term, vote: hs.vote };
    await writeMarker(this.#dir, m);
    this.#marker = m;
    this.stats.writes++;
  }
}
