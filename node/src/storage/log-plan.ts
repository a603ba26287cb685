/**
 * The storage-independent rules of the Raft log: how a save request changes
 * the stored range, and what a loaded state must satisfy. Both log stores use
 * them, so the memory store behaves exactly like the LevelDB one.
 *
 * Invariant: the entries a load returns are exactly snapIndex+1 .. last
 * (none when last === snapIndex); snapIndex is 0 when there is no snapshot.
 * Entries at or below snapIndex may still be stored (a store deletes what a
 * snapshot compacted after the save that records it); a load skips them.
 */

import type { Entry, HardState, PersistedState, Snapshot } from "../raft/types.ts";
import type { SaveRequest } from "./log-store.ts";
import { entryProblem, hardStateProblem, snapshotMetaProblem } from "./shapes.ts";

/** What is stored, in summary: enough to plan deletes without reading. */
export interface LogBounds {
  snapIndex: number;
  last: number;
  /** Anything was ever saved: load() returns non-null. */
  hasState: boolean;
}

/** The bounds of an empty store. */
export const EMPTY_BOUNDS: LogBounds = { snapIndex: 0, last: 0, hasState: false };

/** The writes one save turns into, in the order they must be applied. */
export interface SavePlan {
  /** Inclusive index ranges of entries to delete in the save's atomic write (all above the snapshot). */
  deletes: Array<[from: number, to: number]>;
  /**
   * Entries at or below the new snapshot's index: no load reads them again, so a store may delete them
   * after the save, outside its atomic write.
   */
  compacted?: [from: number, to: number];
  entries: readonly Entry[];
  hardState?: HardState;
  snapshot?: Snapshot;
  bounds: LogBounds;
}

/** Turns a request into writes against `b`; throws (without side effects) when the request is malformed. */
export function planSave(b: LogBounds, req: SaveRequest): SavePlan {
  let { snapIndex, last } = b;
  const deletes: Array<[number, number]> = [];
  const plan: SavePlan = { deletes, entries: [], bounds: b };

  if (req.snapshot) {
    const p = snapshotMetaProblem(req.snapshot.meta);
    if (p) throw new Error(`save: ${p}`);
    if (typeof req.snapshot.data !== "string") throw new Error("save: snapshot data is not a string");
    const si = req.snapshot.meta.index;
    if (si < snapIndex) throw new Error(`save: snapshot at ${si} is older than the stored one at ${snapIndex}`);
    const below = Math.min(si, last);
    if (below > snapIndex) plan.compacted = [snapIndex + 1, below];
    // A restored snapshot may contradict our tail, so every entry goes; a local one keeps what follows it.
    if (req.snapshotRestore && last > si) deletes.push([si + 1, last]);
    last = req.snapshotRestore ? si : Math.max(last, si);
    snapIndex = si;
    plan.snapshot = req.snapshot;
  }

  req.entries.forEach((e, i) => {
    const p = entryProblem(e);
    if (p) throw new Error(`save: ${p}`);
    const prev = req.entries[i - 1];
    if (prev && e.index !== prev.index + 1) throw new Error(`save: entries jump from ${prev.index} to ${e.index}`);
    if (prev && e.term < prev.term) throw new Error(`save: entry ${e.index} has a lower term than entry ${prev.index}`);
  });
  // Entries already covered by the snapshot are committed and equal; skip them as etcd's storage does.
  const entries = req.entries.filter((e) => e.index > snapIndex);
  if (entries.length > 0) {
    const first = (entries[0] as Entry).index;
    const newLast = (entries[entries.length - 1] as Entry).index;
    if (first > last + 1) throw new Error(`save: entry ${first} would leave a gap after the last stored index ${last}`);
    if (newLast < last) deletes.push([newLast + 1, last]);
    last = newLast;
    plan.entries = entries;
  }

  if (req.hardState) {
    const p = hardStateProblem(req.hardState);
    if (p) throw new Error(`save: ${p}`);
    if (req.hardState.commit > last) {
      throw new Error(`save: hard state commit ${req.hardState.commit} is beyond the last index ${last}`);
    }
    plan.hardState = req.hardState;
  }

  const hasState = b.hasState || req.hardState !== undefined || req.snapshot !== undefined || entries.length > 0;
  plan.bounds = { snapIndex, last, hasState };
  return plan;
}

/** The raw contents read back from a store, before checks. */
export interface LoadedParts {
  incarnation: string;
  hardState?: unknown;
  snapshotMeta?: unknown;
  snapshotData?: unknown;
  entries: unknown[];
}

/** Checks what was read and assembles the state; throws an Error saying what is inconsistent. */
export function checkLoaded(parts: LoadedParts): {
  state: PersistedState | null;
  bounds: LogBounds;
  /** Entries at or below the snapshot still stored (their delete did not happen before a stop). */
  leftovers?: [from: number, to: number];
} {
  const { hardState, snapshotMeta, snapshotData } = parts;
  if (hardState !== undefined) {
    const p = hardStateProblem(hardState);
    if (p) throw new Error(p);
  }
  if ((snapshotMeta === undefined) !== (snapshotData === undefined)) {
    throw new Error("snapshot meta and data are not both present");
  }
  let snapshot: Snapshot | undefined;
  if (snapshotMeta !== undefined) {
    const p = snapshotMetaProblem(snapshotMeta);
    if (p) throw new Error(p);
    if (typeof snapshotData !== "string") throw new Error("snapshot data is not a string");
    snapshot = { meta: snapshotMeta as Snapshot["meta"], data: snapshotData };
  }
  const snapIndex = snapshot?.meta.index ?? 0;
  let prevIndex = snapIndex;
  let prevTerm = snapshot?.meta.term ?? 0;
  let leftovers: [number, number] | undefined;
  const entries: Entry[] = [];
  for (const e of parts.entries) {
    const p = entryProblem(e);
    if (p) throw new Error(p);
    const { index, term } = e as Entry;
    if (index <= snapIndex) {
      leftovers = [leftovers?.[0] ?? index, index];
      continue;
    }
    if (index !== prevIndex + 1) {
      throw new Error(
        `log has a gap: entry ${index} follows ${prevIndex === snapIndex ? "snapshot" : "entry"} ${prevIndex}`,
      );
    }
    if (term < prevTerm) throw new Error(`entry ${index} has term ${term}, lower than ${prevTerm} before it`);
    prevIndex = index;
    prevTerm = term;
    entries.push(e as Entry);
  }
  const last = prevIndex;
  const hs: HardState = (hardState as HardState | undefined) ?? { term: 0, vote: "", commit: 0 };
  if (hs.commit > last) throw new Error(`hard state commit ${hs.commit} is beyond the last stored index ${last}`);
  const hasState = hardState !== undefined || snapshot !== undefined || entries.length > 0;
  const bounds: LogBounds = { snapIndex, last, hasState };
  const extra = leftovers ? { leftovers } : {};
  if (!hasState) return { state: null, bounds, ...extra };
  const state: PersistedState = { incarnation: parts.incarnation, hardState: hs, entries };
  if (snapshot) state.snapshot = snapshot;
  return { state, bounds, ...extra };
}
