/**
 * The contract of the Raft log storage (LevelDB or memory): what `Ready`
 * asks to persist, and what a node loads at start.
 */

import type { Entry, HardState, Incarnation, PersistedState, Snapshot } from "../raft/types.ts";

/** One `Ready`'s worth of durable state, written atomically. */
export interface SaveRequest {
  hardState?: HardState;
  /** Replace any stored entry at or after `entries[0].index`. */
  entries: readonly Entry[];
  /** Deletes every stored entry up to its index (all of them when `snapshotRestore`). */
  snapshot?: Snapshot;
  snapshotRestore: boolean;
  /**
   * False when the Ready did not need a sync (`mustSync` false, e.g. only the
   * commit index moved): the write is ordered but not fsynced. Default true.
   */
  sync?: boolean;
}

/** Counters for tests and metrics. */
export interface LogStoreStats {
  /** save() calls that completed. */
  saves: number;
  /** Batches written (synced or not). */
  writes: number;
  /** Synced writes issued; saves / syncs is the group-commit factor. */
  syncs: number;
}

/** Durable storage of the Raft log, hard state, snapshot and incarnation. */
export interface LogStore {
  /** This disk's identity, created once when the store was new. */
  readonly incarnation: Incarnation;
  /** True when this open created the store (and its incarnation). */
  readonly isNew: boolean;
  readonly stats: LogStoreStats;
  /**
   * What was persisted, or null when nothing was ever saved (a brand-new store:
   * the caller bootstraps). `applied` is left unset: the KV store knows it.
   */
  load(): Promise<PersistedState | null>;
  /** Persists the request in one synced write; concurrent calls share a write. */
  save(req: SaveRequest): Promise<void>;
  /**
   * Optional: writes the data of a coming snapshot at `index` ahead of the save that stores it, off the
   * caller's critical path; that save then only records it. Resolves once the data is durable.
   */
  prepareSnapshot?(index: number, data: string): Promise<void>;
  /** Waits for pending saves, then releases the store. */
  close(): Promise<void>;
}
