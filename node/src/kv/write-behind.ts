/**
 * Applied writes on their way to LevelDB. An apply puts its writes here and
 * is done: reads see them at once, and they reach LevelDB together, with the
 * applied index they bring the data to, in one batch a few milliseconds later
 * (or sooner when many are waiting). Under load that is one LevelDB write
 * every `delayMs` instead of one per apply.
 *
 * Losing them in a crash loses nothing: the entries they came from are in the
 * synced Raft log (or a snapshot), LevelDB's applied index stays at the last
 * batch written, and replay after a restart starts there, as etcd's backend
 * does with its batched commits. Whatever must see every applied write in
 * LevelDB (a snapshot, a key listing, close) flushes first.
 *
 * One batch is written at a time; writes applied meanwhile wait for the next.
 */

import type { JsonValue } from "./command.ts";

/**
 * A key's value after the writes applied so far: its JSON text (undefined: deleted), and the value
 * itself when it is not an object. Objects are kept as text only, so no object is shared with the
 * apply's results or a reader.
 */
export interface PendingWrite {
  json: string | undefined;
  /** The value when it is a primitive; undefined for objects and deletes. */
  primitive: JsonValue | undefined;
}

/** The pending write of `value` (undefined: a delete). */
export function pendingWrite(value: JsonValue | undefined): PendingWrite {
  if (value === undefined) return { json: undefined, primitive: undefined };
  const object = typeof value === "object" && value !== null;
  return { json: JSON.stringify(value), primitive: object ? undefined : value };
}

/** The value a pending write gives its key (objects as fresh copies), undefined when deleted. */
export function pendingValue(w: PendingWrite): JsonValue | undefined {
  if (w.json === undefined) return undefined;
  return w.primitive === undefined ? (JSON.parse(w.json) as JsonValue) : w.primitive;
}

/** Writes one batch (key → value) and the applied index it brings LevelDB to; rejects when that failed. */
export type BatchWriter = (batch: ReadonlyMap<string, PendingWrite>, index: number) => Promise<void>;

/** When pending writes go to LevelDB. */
export interface WriteBehindOptions {
  /** Longest a write waits before its batch starts (ms). */
  delayMs: number;
  /** A batch starts at once when this many keys wait… */
  maxKeys: number;
  /** …or this many bytes of JSON. */
  maxBytes: number;
}

/** Defaults: about one LevelDB write per 10 ms under load; memory bounded by twice the limits. */
export const WRITE_BEHIND_DEFAULTS: WriteBehindOptions = { delayMs: 10, maxKeys: 2048, maxBytes: 1024 ** 2 };

/** Writes applied in memory and flushed to LevelDB in batches (see the file comment). */
export class WriteBehind {
  readonly #write: BatchWriter;
  readonly #o: WriteBehindOptions;
  /** Newest writes, not yet in a batch. */
  #pending = new Map<string, PendingWrite>();
  #pendingBytes = 0;
  /** The applied index the pending writes bring the data to (0: nothing pending). */
  #pendingIndex = 0;
  /** The batch being written, still read until LevelDB holds it, and the index it brings LevelDB to. */
  #inFlight: ReadonlyMap<string, PendingWrite> | undefined;
  #inFlightIndex = 0;
  /** The applied index LevelDB holds. */
  #durable: number;
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The first failed batch: nothing more is written. */
  #failed: Error | undefined;

  /** Pending writes go to `write`, one batch at a time; LevelDB holds the data up to `durable`. */
  constructor(write: BatchWriter, durable: number, options: Partial<WriteBehindOptions> = {}) {
    this.#write = write;
    this.#durable = durable;
    this.#o = { ...WRITE_BEHIND_DEFAULTS, ...options };
  }

  /** The newest value applied to `key` that LevelDB may not hold yet; undefined when there is none. */
  lookup(key: string): PendingWrite | undefined {
    return this.#pending.get(key) ?? this.#inFlight?.get(key);
  }

  /** Keys waiting or being written (for tests and metrics). */
  get size(): number {
    return this.#pending.size + (this.#inFlight?.size ?? 0);
  }

  /** The applied index LevelDB holds (what a restart would replay from). */
  get durable(): number {
    return this.#durable;
  }

  /**
   * Records one apply's writes, which bring the data to `index` (an apply that wrote nothing still
   * moves the applied index). Returns a promise when the caller must wait before applying more: the
   * limits are reached while a batch is still being written.
   */
  add(writes: Iterable<[string, PendingWrite]>, index: number): Promise<void> | undefined {
    if (this.#failed) throw this.#failed;
    for (const [k, w] of writes) {
      const old = this.#pending.get(k);
      this.#pendingBytes += (w.json?.length ?? 0) + k.length - (old ? (old.json?.length ?? 0) + k.length : 0);
      this.#pending.set(k, w);
    }
    this.#pendingIndex = index;
    if (this.#pending.size < this.#o.maxKeys && this.#pendingBytes < this.#o.maxBytes) {
      this.#timer ??= setTimeout(() => this.#due(), this.#o.delayMs).unref();
      return undefined;
    }
    if (this.#flushing === undefined) {
      this.#start();
      return undefined;
    }
    // Full while a batch is written: wait for it, then start the next (bounded memory).
    return this.#flushing.then(() => {
      if (this.#flushing === undefined && this.#pendingIndex > 0) this.#start();
    });
  }

  #due(): void {
    this.#timer = undefined;
    // A batch in flight starts the next one itself when it is done.
    if (this.#flushing === undefined && this.#pendingIndex > 0) this.#start();
  }

  #start(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = this.#pending;
    const index = this.#pendingIndex;
    this.#pending = new Map();
    this.#pendingBytes = 0;
    this.#pendingIndex = 0;
    this.#inFlight = batch;
    this.#inFlightIndex = index;
    const run = this.#write(batch, index).then(
      () => {
        this.#inFlight = undefined;
        this.#durable = index;
        this.#flushing = undefined;
        // Writes that came meanwhile: at once when they are many or their delay ran out (no timer left).
        if (this.#pendingIndex > 0) {
          const full = this.#pending.size >= this.#o.maxKeys || this.#pendingBytes >= this.#o.maxBytes;
          if (full || this.#timer === undefined) this.#start();
        }
      },
      (e: Error) => {
        // The writer has stopped the store; keep the batch readable, write nothing more.
        this.#failed = e;
        this.#flushing = undefined;
        if (this.#timer) clearTimeout(this.#timer);
        this.#timer = undefined;
        throw e;
      },
    );
    this.#flushing = run;
    // A failure is reported to whoever waits next (flush, add); never an unhandled rejection.
    run.catch(() => {});
  }

  /**
   * Resolves once LevelDB holds every write added before the call (writes added meanwhile may wait for
   * their own batch); rejects when a batch failed.
   */
  async flush(): Promise<void> {
    const target = this.#pendingIndex || (this.#flushing ? this.#inFlightIndex : this.#durable);
    while (this.#durable < target) {
      if (this.#failed) throw this.#failed;
      if (this.#flushing) await this.#flushing;
      else if (this.#pendingIndex > 0) this.#start();
      // Only a discard empties what was pending without writing it.
      else return;
    }
    if (this.#failed) throw this.#failed;
  }

  /**
   * Waits for the batch in flight, then forgets every pending write: a restore replaces them all and
   * leaves LevelDB at `durable`.
   */
  async discard(durable: number): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    // Dropped first, so the batch in flight cannot start another with them when it lands.
    this.#pending = new Map();
    this.#pendingBytes = 0;
    this.#pendingIndex = 0;
    await this.#flushing?.catch(() => {});
    this.#durable = durable;
  }
}
