/**
 * A bounded in-memory cache of decoded KV values in front of LevelDB, so a
 * hot key's read needs no trip to libuv's thread pool. The owner (LeveldbKv)
 * writes through it after every durable batch; a read miss may fill it, but
 * only if no apply or restore touched the store while the read was in flight
 * (the generation counter), so a slow read can never put back a value older
 * than the one an apply stored meanwhile.
 *
 * Bounded by an estimate of bytes (key length + JSON length + a fixed
 * per-entry overhead), evicting the least recently used entry first: a Map
 * iterates in insertion order, and a hit re-inserts its key at the end.
 *
 * Callers must not be able to change later reads by mutating a value they
 * got: primitives are immutable, objects and arrays are deep-frozen before
 * they are shared. An apply's value is kept as its JSON text and only parsed
 * (and frozen) on its first read, so writes that are never read cost nothing
 * but a Map insert, and the apply's own objects are never shared.
 */

import type { JsonValue } from "./command.ts";

/** What `read` returns when the key is not cached (`undefined` means cached as absent). */
export const MISS: unique symbol = Symbol("miss");

/** Bytes counted per entry on top of key and value: the Map slot and the entry record, roughly. */
export const ENTRY_OVERHEAD = 64;

interface Entry {
  /** The value once materialised: a primitive, a deep-frozen object/array, or undefined (absent). */
  value: JsonValue | undefined;
  /** JSON text of an object/array not read since an apply stored it; parsed on first read. */
  json: string | undefined;
  bytes: number;
}

/** An LRU of decoded values, bounded by approximate bytes, with a generation for safe fills. */
export class ReadCache {
  readonly maxBytes: number;
  readonly #map = new Map<string, Entry>();
  #bytes = 0;
  #generation = 0;
  /** Where eviction goes on from (see #store). */
  #evict: MapIterator<[string, Entry]> | undefined;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Approximate bytes held (see ENTRY_OVERHEAD). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries held (absent keys included). */
  get size(): number {
    return this.#map.size;
  }

  /** Changes whenever the store is touched (apply, restore, failure); a fill is refused across a change. */
  get generation(): number {
    return this.#generation;
  }

  /** The cached value (undefined = known absent) and marks it recently used, or MISS. */
  read(key: string): JsonValue | undefined | typeof MISS {
    const e = this.#map.get(key);
    if (e === undefined) return MISS;
    this.#map.delete(key);
    this.#map.set(key, e);
    if (e.json !== undefined) {
      e.value = deepFreeze(JSON.parse(e.json) as JsonValue);
      e.json = undefined;
    }
    return e.value;
  }

  /**
   * Stores what a read found in LevelDB (`jsonLength`: the stored value's length, 0 when absent) if the
   * store was not touched since `generation`. Returns the value to hand out: frozen when it was cached.
   */
  fill(key: string, value: JsonValue | undefined, jsonLength: number, generation: number): JsonValue | undefined {
    if (generation !== this.#generation) return value;
    const bytes = key.length + jsonLength + ENTRY_OVERHEAD;
    if (bytes > this.maxBytes) return value;
    const frozen = deepFreeze(value);
    this.#store(key, { value: frozen, json: undefined, bytes });
    return frozen;
  }

  /**
   * Records the durable value of a key after a write (`json`: its JSON text, undefined when absent).
   * Always replaces or drops the old entry, so no earlier value survives a write.
   */
  write(key: string, value: JsonValue | undefined, json: string | undefined): void {
    const bytes = key.length + (json?.length ?? 0) + ENTRY_OVERHEAD;
    if (bytes > this.maxBytes) {
      this.#drop(key);
      return;
    }
    // Objects stay as text: the caller's object is never shared, and parsing waits for a read.
    const isObject = typeof value === "object" && value !== null;
    this.#store(key, { value: isObject ? undefined : value, json: isObject ? json : undefined, bytes });
  }

  /** Marks the store as changed: reads in flight will not fill. */
  touched(): void {
    this.#generation++;
  }

  /** Drops every entry and marks the store as changed. */
  clear(): void {
    this.#map.clear();
    this.#evict = undefined;
    this.#bytes = 0;
    this.#generation++;
  }

  #drop(key: string): void {
    const old = this.#map.get(key);
    if (old === undefined) return;
    this.#map.delete(key);
    this.#bytes -= old.bytes;
  }

  #store(key: string, e: Entry): void {
    this.#drop(key);
    this.#map.set(key, e);
    this.#bytes += e.bytes;
    // Oldest first; the entry just stored is last and fits on its own (checked by the callers). One
    // iterator carries on from pass to pass: a new `for...of` each time starts by stepping over every
    // slot earlier deletes left at the front of V8's Map, which made each store cost O(evicted so far)
    // (a 1M-key load ran 3x slower and stalled the loop for seconds). Every live entry lies after the
    // iterator: those before it were evicted, and a read moves its entry to the end.
    while (this.#bytes > this.maxBytes) {
      let next = this.#evict?.next();
      if (next === undefined || next.done === true) {
        this.#evict = this.#map.entries();
        next = this.#evict.next();
        if (next.done === true) break;
      }
      const [k, old] = next.value;
      this.#map.delete(k);
      this.#bytes -= old.bytes;
    }
  }
}

/** Freezes a JSON value and everything in it, without recursion (no stack limit on deep values). */
export function deepFreeze<T extends JsonValue | undefined>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  const stack: object[] = [value];
  for (let o = stack.pop(); o !== undefined; o = stack.pop()) {
    Object.freeze(o);
    for (const v of Object.values(o)) if (typeof v === "object" && v !== null) stack.push(v);
  }
  return value;
}
