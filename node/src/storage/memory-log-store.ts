/**
 * A LogStore in memory (KV_STORE=memory): same rules as the LevelDB store,
 * via the same planner, but nothing survives the process. Values are copied
 * in and out so callers cannot alias stored state, as with a real disk.
 */

import { randomUUID } from "node:crypto";
import type { Entry, HardState, PersistedState, Snapshot } from "../raft/types.ts";
import { EMPTY_BOUNDS, type LogBounds, planSave } from "./log-plan.ts";
import type { LogStore, LogStoreStats, SaveRequest } from "./log-store.ts";

/** A LogStore held in memory. */
export class MemoryLogStore implements LogStore {
  readonly incarnation: string = randomUUID();
  /** Always true: every process starts with an empty store. */
  readonly isNew = true;
  readonly stats: LogStoreStats = { saves: 0, writes: 0, syncs: 0 };
  #bounds: LogBounds = EMPTY_BOUNDS;
  readonly #entries = new Map<number, Entry>();
  #hardState: HardState | undefined;
  #snapshot: Snapshot | undefined;
  #closed = false;

  /** Creates an empty store; `dir` is ignored and accepted for symmetry with LeveldbLogStore. */
  static async open(_dir?: string): Promise<MemoryLogStore> {
    return new MemoryLogStore();
  }

  /** The saved state, or null when nothing was saved yet. */
  async load(): Promise<PersistedState | null> {
    if (!this.#bounds.hasState) return null;
    const entries: Entry[] = [];
    for (let i = this.#bounds.snapIndex + 1; i <= this.#bounds.last; i++) {
      entries.push(structuredClone(this.#entries.get(i) as Entry));
    }
    const state: PersistedState = {
      incarnation: this.incarnation,
      hardState: structuredClone(this.#hardState ?? { term: 0, vote: "", commit: 0 }),
      entries,
    };
    if (this.#snapshot) state.snapshot = structuredClone(this.#snapshot);
    return state;
  }

  /** Applies the request atomically (it is all synchronous). */
  async save(req: SaveRequest): Promise<void> {
    if (this.#closed) throw new Error("memory log store is closed");
    const plan = planSave(this.#bounds, req);
    if (plan.snapshot) this.#snapshot = structuredClone(plan.snapshot);
    for (const [from, to] of plan.compacted ? [...plan.deletes, plan.compacted] : plan.deletes) {
      for (let i = from; i <= to; i++) this.#entries.delete(i);
    }
    for (const e of plan.entries) this.#entries.set(e.index, structuredClone(e));
    if (plan.hardState) this.#hardState = structuredClone(plan.hardState);
    this.#bounds = plan.bounds;
    this.stats.saves++;
    this.stats.writes++;
  }

  /** Marks the store closed. */
  async close(): Promise<void> {
    this.#closed = true;
  }
}
