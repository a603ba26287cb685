/**
 * The in-memory state machine (KV_STORE=memory): a Map plus a sorted key
 * array for ordered listing. Nothing survives a restart, so `applied` starts
 * at 0 and the node replays its log.
 */

import type { Entry } from "../raft/types.ts";
import { applyParsed, entryCommand, type KvView } from "./apply.ts";
import type { JsonValue } from "./command.ts";
import { compareKeys } from "./key-order.ts";
import type { ApplyResult, KeyValue, KvSnapshot, KvStore, ListOptions } from "./kv-store.ts";
import { decodeSnapshot, SnapshotWriter } from "./snapshot-format.ts";

/** Index of the first element of sorted `keys` that is >= `key` (or > when `strict`). */
function lowerBound(keys: readonly string[], key: string, strict: boolean): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(keys[mid] as string, key);
    if (c < 0 || (strict && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A KvStore held entirely in memory. */
export class MemoryKv implements KvStore {
  readonly #map = new Map<string, JsonValue>();
  /** Keys of #map in compareKeys order; splice keeps it sorted (memmove, fast up to millions). */
  #sorted: string[] = [];
  #applied = 0;

  readonly #view: KvView = {
    read: (k) => this.#map.get(k),
    write: (k, v) => {
      const had = this.#map.has(k);
      if (v === undefined) {
        if (!had) return;
        this.#map.delete(k);
        this.#sorted.splice(lowerBound(this.#sorted, k, false), 1);
      } else {
        this.#map.set(k, v);
        if (!had) this.#sorted.splice(lowerBound(this.#sorted, k, false), 0, k);
      }
    },
  };

  /** Highest index applied. */
  get applied(): number {
    return this.#applied;
  }

  /** Synchronous apply of entries in order; `applyBatch` wraps it. */
  applySync(entries: readonly Entry[]): ApplyResult[] {
    const results: ApplyResult[] = [];
    for (const e of entries) {
      if (e.index <= this.#applied) {
        results.push({ op: "none", ok: true });
        continue;
      }
      if (e.index !== this.#applied + 1) {
        throw new Error(`kv: entry ${e.index} applied out of order (applied ${this.#applied})`);
      }
      results.push(applyParsed(entryCommand(e), this.#view));
      this.#applied = e.index;
    }
    return results;
  }

  /** Applies committed entries in order. */
  async applyBatch(entries: readonly Entry[]): Promise<ApplyResult[]> {
    return this.applySync(entries);
  }

  /** The value of a key, or undefined. */
  async get(key: string): Promise<JsonValue | undefined> {
    return this.#map.get(key);
  }

  /** Keys with `prefix`, after `after`, in byte order, at most `limit`. */
  async list(opts: ListOptions): Promise<KeyValue[]> {
    const prefix = opts.prefix ?? "";
    let i = lowerBound(this.#sorted, prefix, false);
    if (opts.after !== undefined) i = Math.max(i, lowerBound(this.#sorted, opts.after, true));
    const out: KeyValue[] = [];
    for (; i < this.#sorted.length && out.length < opts.limit; i++) {
      const key = this.#sorted[i] as string;
      if (!key.startsWith(prefix)) break;
      out.push({ key, value: this.#map.get(key) as JsonValue });
    }
    return out;
  }

  /** Serialises the whole state. */
  async snapshot(): Promise<KvSnapshot> {
    const w = new SnapshotWriter();
    for (const k of this.#sorted) w.add(k, this.#map.get(k) as JsonValue);
    return { index: this.#applied, data: w.finish() };
  }

  /** Replaces the state with a snapshot taken at `index`. */
  async restore(data: string, index: number): Promise<void> {
    const pairs = decodeSnapshot(data);
    this.#map.clear();
    for (const { key, value } of pairs) this.#map.set(key, value);
    this.#sorted = pairs.map((p) => p.key);
    this.#applied = index;
  }

  /** Nothing is durable in memory: nothing to wait for. */
  async flush(): Promise<void> {}

  /** Nothing to release. */
  async close(): Promise<void> {}
}
