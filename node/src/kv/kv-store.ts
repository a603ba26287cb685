/**
 * The contract every key-value state machine implements (memory, LevelDB).
 * Both give identical results and byte-identical snapshots for the same log,
 * so nodes with different KV_STORE settings can share a cluster.
 */

import type { Entry } from "../raft/types.ts";
import type { JsonValue } from "./command.ts";

/** What applying one entry produced; the HTTP layer turns it into a response. */
export type ApplyResult =
  | { op: "set"; ok: true }
  | { op: "del"; ok: true; deleted: number }
  /** `current` is the key's value after the command (null = absent). */
  | { op: "cas"; ok: boolean; current: JsonValue | null }
  /** The entry's data was not a valid command; nothing changed (every replica agrees). */
  | { op: "invalid"; ok: false; error: string }
  /** noop/config entries, and entries at or below `applied` (already applied before a restart). */
  | { op: "none"; ok: true };

/** One key and its value, as returned by `list`. */
export interface KeyValue {
  key: string;
  value: JsonValue;
}

/** Arguments of `list`: keys starting with `prefix`, strictly after `after`, at most `limit` (Infinity: all). */
export interface ListOptions {
  prefix?: string;
  limit: number;
  after?: string;
}

/** A serialised state and the applied index it reflects. */
export interface KvSnapshot {
  index: number;
  data: string;
}

/** A key-value state machine fed by committed Raft entries. */
export interface KvStore {
  /**
   * Highest index applied (reads see it). A durable store persists it, maybe a little later (see flush):
   * after a restart it says what the data reflects, and replay starts after it.
   */
  readonly applied: number;
  /**
   * Applies committed entries in order (index must be applied+1 for the first new one).
   * Calls may overlap: they are queued and run in call order.
   */
  applyBatch(entries: readonly Entry[]): Promise<ApplyResult[]>;
  /** The value of a key, or undefined when absent. */
  get(key: string): Promise<JsonValue | undefined>;
  /** Keys in UTF-8 byte order (= code point order). */
  list(opts: ListOptions): Promise<KeyValue[]>;
  /** Serialises the state at a consistent point, with the index it reflects. */
  snapshot(): Promise<KvSnapshot>;
  /** Replaces the whole state with a snapshot taken at `index`. */
  restore(data: string, index: number): Promise<void>;
  /** Resolves once everything applied before the call is in durable storage (at once in memory). */
  flush(): Promise<void>;
  /**
   * Present on stores whose data survives a restart: makes everything applied so far durable (synced)
   * and resolves with the index the stored data then reflects. The node's snapshots are then local
   * (Snapshot.local): the log is compacted behind this index without serialising the store.
   */
  persist?: () => Promise<number>;
  /** Writes what is applied, then releases resources (does not close a database shared with the log store). */
  close(): Promise<void>;
}
