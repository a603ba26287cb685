/**
 * The state machine in LevelDB, in the database the log store opened (keys
 * under `kv!`). Applies are done in memory (write-behind.ts) and reach
 * LevelDB a few milliseconds later, many in one unsynced batch with the
 * applied index it reflects: after a restart `applied` says exactly what the
 * data holds, and replay from the (synced) Raft log starts after it.
 *
 * Reads go to the writes on their way, then a bounded cache of decoded values
 * (read-cache.ts, written when a batch lands, cleared by restore), then
 * LevelDB: the data set is not bounded by memory, except that a snapshot is
 * one string (the Raft contract). `list` and `snapshot` flush first; a
 * snapshot is read beside the applies, from a LevelDB snapshot.
 */

import type { Entry } from "../raft/types.ts";
import {
  CHECKSUM_CHARS,
  checkedJson,
  decodeValue,
  encodeJson,
  encodeValue,
  HIGH,
  KEYS,
  kvKey,
  kvKeyName,
} from "../storage/codec.ts";
import { corruptStore, dbFailure, ioError, poisonDb, type RawDb, StorageError } from "../storage/open-level.ts";
import { applyParsed, entryCommand, type KvView, keysRead } from "./apply.ts";
import type { JsonValue } from "./command.ts";
import type { ApplyResult, KeyValue, KvSnapshot, KvStore, ListOptions } from "./kv-store.ts";
import { MISS, ReadCache } from "./read-cache.ts";
import { decodeSnapshot, SnapshotWriter } from "./snapshot-format.ts";
import { type PendingWrite, pendingValue, pendingWrite, WriteBehind, type WriteBehindOptions } from "./write-behind.ts";

/** Stands for "an object" where the cache takes a value beside its JSON text (it keeps only the text). */
const AN_OBJECT: JsonValue = Object.freeze({});

type BatchOp = { type: "put"; key: Buffer; value: string } | { type: "del"; key: Buffer };

const KV_RANGE = { gte: KEYS.kvPrefix, lt: Buffer.concat([KEYS.kvPrefix, HIGH]) };

/** Operations per batch when restoring a snapshot (bounded memory, still few writes). */
const RESTORE_CHUNK = 4096;

/** Default bound of the read cache: 64 MiB (approximate, see read-cache.ts). */
export const DEFAULT_CACHE_BYTES = 64 * 1024 ** 2;

/** Tuning of a LeveldbKv. */
export interface LeveldbKvOptions {
  /** Approximate bytes of decoded values kept in memory for `get` (0: no cache). */
  cacheBytes?: number;
  /** Called once per `get`: true when memory (the cache or a write on its way) answered it (for metrics). */
  onCacheRead?: (hit: boolean) => void;
  /** When applied writes go to LevelDB (write-behind.ts). */
  writeBehind?: Partial<WriteBehindOptions>;
}

/** A KvStore on a shared LevelDB. */
export class LeveldbKv implements KvStore {
  readonly #db: RawDb;
  readonly #dir: string;
  #applied: number;
  /** Serialises applies, restores and snapshots in call order. */
  #tail: Promise<unknown> = Promise.resolve();
  #failed: Error | null = null;
  readonly #cache: ReadCache;
  readonly #behind: WriteBehind;
  readonly #onCacheRead: ((hit: boolean) => void) | undefined;
  #closed = false;
  /** Snapshots still being read (close waits for them). */
  readonly #snapshotsReading = new Set<Promise<void>>();

  private constructor(db: RawDb, applied: number, opts: LeveldbKvOptions) {
    this.#db = db;
    this.#dir = db.location;
    this.#applied = applied;
    this.#cache = new ReadCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
    this.#behind = new WriteBehind((batch, index) => this.#writeBatch(batch, index), applied, opts.writeBehind);
    this.#onCacheRead = opts.onCacheRead;
  }

  /** Opens the KV data in `db`; voids a restore that a crash interrupted (applied becomes 0). */
  static async open(db: RawDb, opts: LeveldbKvOptions = {}): Promise<LeveldbKv> {
    try {
      if ((await db.get(KEYS.kvRestoring)) !== undefined) {
        // Half-restored data is meaningless; the node restores its stored snapshot again.
        await db.clear(KV_RANGE);
        await db.batch([
          { type: "del", key: KEYS.kvRestoring },
          { type: "put", key: KEYS.kvApplied, value: encodeValue(KEYS.kvApplied, 0) },
        ]);
      }
      const raw = await db.get(KEYS.kvApplied);
      const applied = raw === undefined ? 0 : decodeValue(KEYS.kvApplied, raw);
      if (typeof applied !== "number" || !Number.isSafeInteger(applied) || applied < 0) {
        throw corruptStore(db.location, `kv applied index is ${JSON.stringify(applied)}`);
      }
      return new LeveldbKv(db, applied, opts);
    } catch (e) {
      if (e instanceof StorageError) throw e;
      if ((e as Error).name === "CorruptValueError") throw corruptStore(db.location, (e as Error).message, e);
      throw ioError(db.location, "opening the kv data", e);
    }
  }

  /** Highest index applied (reads see its effects; LevelDB holds them a few milliseconds later). */
  get applied(): number {
    return this.#applied;
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => {
      if (this.#failed) throw this.#failed;
      return job();
    });
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Applies committed entries in order, all in one LevelDB batch. */
  applyBatch(entries: readonly Entry[]): Promise<ApplyResult[]> {
    return this.#enqueue(() => this.#apply(entries));
  }

  async #apply(entries: readonly Entry[]): Promise<ApplyResult[]> {
    // A database that failed a write (this store's or the log's) takes nothing more, not even in memory.
    const earlier = dbFailure(this.#db);
    if (earlier) throw earlier;
    let next = this.#applied;
    const todo: Array<{ entry: Entry; cmd: ReturnType<typeof entryCommand> } | null> = [];
    for (const entry of entries) {
      if (entry.index <= next) {
        todo.push(null);
        continue;
      }
      if (entry.index !== next + 1) throw new Error(`kv: entry ${entry.index} applied out of order (applied ${next})`);
      todo.push({ entry, cmd: entryCommand(entry) });
      next = entry.index;
    }
    if (next === this.#applied) return todo.map(() => ({ op: "none", ok: true }));

    // Every key the batch reads, from the writes on their way, the cache, or else LevelDB in one round
    // trip; writes go to an overlay. For a key with no write on its way the cache matches LevelDB: applies
    // and restores run one at a time, and fills are refused across batches landing.
    const base = new Map<string, JsonValue | undefined>();
    const fetch: string[] = [];
    for (const k of new Set(todo.flatMap((t) => (t ? keysRead(t.cmd) : [])))) {
      const pending = this.#behind.lookup(k);
      if (pending !== undefined) {
        base.set(k, pendingValue(pending));
        continue;
      }
      const cached = this.#cache.read(k);
      if (cached === MISS) fetch.push(k);
      else base.set(k, cached);
    }
    const raws = fetch.length > 0 ? await this.#db.getMany(fetch.map(kvKey)) : [];
    for (const [i, k] of fetch.entries()) base.set(k, this.#decode(kvKey(k), raws[i]));
    const overlay = new Map<string, JsonValue | undefined>();
    const view: KvView = {
      read: (k) => (overlay.has(k) ? overlay.get(k) : base.get(k)),
      write: (k, v) => void overlay.set(k, v),
    };
    const results = todo.map((t): ApplyResult => (t ? applyParsed(t.cmd, view) : { op: "none", ok: true }));

    // LevelDB's values of the keys read from it are current (no write to them is on its way).
    for (const [i, k] of fetch.entries()) this.#cache.write(k, base.get(k), raws[i]?.slice(CHECKSUM_CHARS));
    const writes: Array<[string, PendingWrite]> = [];
    for (const [k, v] of overlay) writes.push([k, pendingWrite(v)]);
    const full = this.#behind.add(writes, next);
    this.#applied = next;
    if (full) await full;
    return results;
  }

  /** Writes one batch of applied writes with the index it reflects; then the cache holds them. */
  async #writeBatch(batch: ReadonlyMap<string, PendingWrite>, index: number): Promise<void> {
    const ops: BatchOp[] = [];
    for (const [k, w] of batch) {
      const key = kvKey(k);
      ops.push(w.json === undefined ? { type: "del", key } : { type: "put", key, value: encodeJson(key, w.json) });
    }
    ops.push({ type: "put", key: KEYS.kvApplied, value: encodeValue(KEYS.kvApplied, index) });
    await this.#write(ops);
    // Only now that LevelDB holds the batch; reads that started before it may not fill.
    for (const [k, w] of batch) {
      this.#cache.write(k, w.json === undefined || w.primitive !== undefined ? w.primitive : AN_OBJECT, w.json);
    }
    this.#cache.touched();
  }

  async #write(ops: BatchOp[], sync = false): Promise<void> {
    const earlier = dbFailure(this.#db);
    if (earlier) throw earlier;
    try {
      await this.#db.batch(ops, { sync });
    } catch (e) {
      // The database may or may not hold the batch; stop rather than guess (and let reads see LevelDB).
      this.#cache.clear();
      const failure = ioError(this.#dir, "kv write", e);
      this.#failed = failure;
      poisonDb(this.#db, failure);
      throw failure;
    }
  }

  #checked(key: Buffer, raw: string): string {
    try {
      return checkedJson(key, raw);
    } catch (e) {
      throw corruptStore(this.#dir, (e as Error).message, e);
    }
  }

  #decode(key: Buffer, raw: string | undefined): JsonValue | undefined {
    if (raw === undefined) return undefined;
    try {
      return decodeValue(key, raw) as JsonValue;
    } catch (e) {
      throw corruptStore(this.#dir, (e as Error).message, e);
    }
  }

  /**
   * A failed read as a StorageError: CORRUPT when LevelDB itself reports damage (the node then stops,
   * see server/fatal-on-corrupt.ts), IO otherwise.
   */
  #readFailed(e: unknown): StorageError {
    return e instanceof StorageError ? e : ioError(this.#dir, "reading the kv data", e);
  }

  /**
   * The value of a key, or undefined; a value failing its checksum throws StorageError CORRUPT. Objects
   * and arrays may be frozen (shared with the cache).
   */
  async get(key: string): Promise<JsonValue | undefined> {
    const pending = this.#behind.lookup(key);
    if (pending !== undefined) {
      this.#onCacheRead?.(true);
      return pendingValue(pending);
    }
    if (!this.#closed) {
      const cached = this.#cache.read(key);
      this.#onCacheRead?.(cached !== MISS);
      if (cached !== MISS) return cached;
    }
    const generation = this.#cache.generation;
    const k = kvKey(key);
    let raw: string | undefined;
    try {
      raw = await this.#db.get(k);
    } catch (e) {
      throw this.#readFailed(e);
    }
    const value = this.#decode(k, raw);
    if (this.#closed) return value;
    return this.#cache.fill(key, value, raw === undefined ? 0 : raw.length - CHECKSUM_CHARS, generation);
  }

  /** Keys with `prefix`, after `after`, in byte order, at most `limit` (Infinity for all). */
  async list(opts: ListOptions): Promise<KeyValue[]> {
    if (!(opts.limit > 0)) return [];
    // Everything applied before the call is in LevelDB before it is listed.
    await this.#behind.flush();
    const prefix = kvKey(opts.prefix ?? "");
    const range: { gte?: Buffer; gt?: Buffer; lt: Buffer; limit: number } = {
      lt: Buffer.concat([prefix, HIGH]),
      // LevelDB's "no limit" is -1.
      limit: Number.isFinite(opts.limit) ? Math.floor(opts.limit) : -1,
    };
    const after = opts.after === undefined ? undefined : kvKey(opts.after);
    if (after && Buffer.compare(after, prefix) >= 0) range.gt = after;
    else range.gte = prefix;
    const out: KeyValue[] = [];
    const it = this.#db.iterator(range);
    try {
      for (let page = await it.nextv(1000); page.length > 0; page = await it.nextv(1000)) {
        for (const [k, v] of page) out.push({ key: kvKeyName(k), value: this.#decode(k, v) as JsonValue });
      }
    } catch (e) {
      throw this.#readFailed(e);
    } finally {
      await it.close();
    }
    return out;
  }

  /**
   * Serialises the data at one LevelDB snapshot, with the applied index read at the same point. Only
   * taking that snapshot waits its turn among applies; reading it (seconds for a large store) runs beside
   * them, so applies, and the linearizable reads waiting for them, go on meanwhile.
   */
  snapshot(): Promise<KvSnapshot> {
    const taken = this.#enqueue(async () => {
      // No apply runs in between: the LevelDB snapshot holds exactly what is applied.
      await this.#behind.flush();
      const snap = this.#db.snapshot();
      try {
        const raw = await this.#db.get(KEYS.kvApplied, { snapshot: snap });
        return { snap, index: raw === undefined ? 0 : (this.#decode(KEYS.kvApplied, raw) as number) };
      } catch (e) {
        await snap.close();
        throw e;
      }
    });
    const read = taken.then(async ({ snap, index }) => {
      try {
        const w = new SnapshotWriter();
        const it = this.#db.iterator({ ...KV_RANGE, snapshot: snap });
        try {
          // nextv: one native call per 1000 pairs instead of one promise per pair.
          for (let page = await it.nextv(1000); page.length > 0; page = await it.nextv(1000)) {
            // The stored text is JSON.stringify's output (encodeValue): checked, then copied as is.
            for (const [k, v] of page) w.addJson(kvKeyName(k), this.#checked(k, v));
          }
        } finally {
          await it.close();
        }
        return { index, data: w.finish() };
      } finally {
        await snap.close();
      }
    });
    const settled = read.then(
      () => {},
      () => {},
    );
    this.#snapshotsReading.add(settled);
    void settled.then(() => this.#snapshotsReading.delete(settled));
    return read;
  }

  /**
   * Replaces the data with a snapshot. Written in chunks under a `restoring`
   * marker, so a crash midway leaves a store that open() recognises as void.
   */
  async restore(data: string, index: number): Promise<void> {
    const pairs = decodeSnapshot(data);
    await this.#enqueue(async () => {
      // Writes on their way are void: the batch in flight lands first, the rest is dropped.
      await this.#behind.discard(this.#behind.durable);
      // Reads during the restore go to LevelDB as before; whatever they filled is dropped at the end.
      this.#cache.clear();
      try {
        await this.#restore(pairs, index);
      } finally {
        this.#cache.clear();
      }
    });
  }

  async #restore(pairs: ReturnType<typeof decodeSnapshot>, index: number): Promise<void> {
    await this.#write([{ type: "put", key: KEYS.kvRestoring, value: encodeValue(KEYS.kvRestoring, index) }]);
    try {
      await this.#db.clear(KV_RANGE);
    } catch (e) {
      const failure = ioError(this.#dir, "kv clear", e);
      this.#failed = failure;
      poisonDb(this.#db, failure);
      throw failure;
    }
    for (let i = 0; i < pairs.length; i += RESTORE_CHUNK) {
      const ops: BatchOp[] = pairs.slice(i, i + RESTORE_CHUNK).map(({ key, value }) => {
        const k = kvKey(key);
        return { type: "put", key: k, value: encodeValue(k, value) };
      });
      await this.#write(ops);
    }
    await this.#write([
      { type: "put", key: KEYS.kvApplied, value: encodeValue(KEYS.kvApplied, index) },
      { type: "del", key: KEYS.kvRestoring },
    ]);
    await this.#behind.discard(index);
    this.#applied = index;
  }

  /** Resolves once LevelDB holds everything applied before the call; rejects when a write failed. */
  flush(): Promise<void> {
    return this.#behind.flush();
  }

  /**
   * Writes what is applied and syncs it: the applied index is then durable with the data it reflects.
   * Resolves with that index. (The sync covers the earlier unsynced batches in LevelDB's write-ahead log.)
   */
  persist(): Promise<number> {
    // In the apply queue: after the applies called before, and none runs until the sync is done.
    return this.#enqueue(async () => {
      const index = this.#applied;
      await this.#behind.flush();
      await this.#write([{ type: "put", key: KEYS.kvApplied, value: encodeValue(KEYS.kvApplied, index) }], true);
      return index;
    });
  }

  /**
   * Waits for queued work, writes what is applied, and empties the cache; the database itself belongs to
   * the log store.
   */
  async close(): Promise<void> {
    await this.#tail;
    // A failed batch has already stopped the store (and been reported); replay recovers what it held.
    await this.#behind.flush().catch(() => {});
    await Promise.all(this.#snapshotsReading);
    // Reads after close go to the database (and fail once it is closed), as without a cache.
    this.#closed = true;
    this.#cache.clear();
  }
}
