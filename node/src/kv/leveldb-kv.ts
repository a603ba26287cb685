/**
 * The state machine in LevelDB, in the database the log store opened (keys
 * under `kv!`). Each applyBatch is one LevelDB batch holding the data and the
 * applied index, so after a restart `applied` says exactly what the data
 * reflects and replay starts after it. The write is not synced: a crash can
 * only lose a suffix of applied entries together with their index, and those
 * entries are still in the (synced) Raft log or covered by its snapshot.
 *
 * Reads go to LevelDB, so the data set is not bounded by memory, except that
 * a snapshot is one string (the Raft contract) and so bounded by V8's limit.
 * In front of `get` sits a bounded cache of decoded values (read-cache.ts),
 * written through after each batch is in LevelDB and cleared by restore;
 * `list` and `snapshot` always read LevelDB; a snapshot is read beside the applies, from a LevelDB snapshot.
 */

import type { Entry } from "../raft/types.ts";
import {
  CHECKSUM_CHARS,
  checkedJson,
  decodeValue,
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
  /** Called once per `get`: true when the cache answered it (for metrics). */
  onCacheRead?: (hit: boolean) => void;
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
  readonly #onCacheRead: ((hit: boolean) => void) | undefined;
  #closed = false;
  /** Snapshots still being read (close waits for them). */
  readonly #snapshotsReading = new Set<Promise<void>>();

  private constructor(db: RawDb, applied: number, opts: LeveldbKvOptions) {
    this.#db = db;
    this.#dir = db.location;
    this.#applied = applied;
    this.#cache = new ReadCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
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

  /** Highest index whose effects are in the database. */
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

    // Every key the batch reads, from the cache or else from LevelDB in one round trip; writes go to an
    // overlay. The cache matches LevelDB here: applies and restores run one at a time, and fills are
    // refused across them.
    const base = new Map<string, JsonValue | undefined>();
    const fetch: string[] = [];
    for (const k of new Set(todo.flatMap((t) => (t ? keysRead(t.cmd) : [])))) {
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

    const ops: BatchOp[] = [];
    const written: Array<[string, JsonValue | undefined, string | undefined]> = [];
    for (const [k, v] of overlay) {
      const key = kvKey(k);
      const value = v === undefined ? undefined : encodeValue(key, v);
      ops.push(value === undefined ? { type: "del", key } : { type: "put", key, value });
      written.push([k, v, value?.slice(CHECKSUM_CHARS)]);
    }
    ops.push({ type: "put", key: KEYS.kvApplied, value: encodeValue(KEYS.kvApplied, next) });
    await this.#write(ops);
    // Only now that LevelDB holds the batch: first what was read from disk, then every key written.
    for (const [i, k] of fetch.entries()) this.#cache.write(k, base.get(k), raws[i]?.slice(CHECKSUM_CHARS));
    for (const [k, v, json] of written) this.#cache.write(k, v, json);
    this.#cache.touched();
    this.#applied = next;
    return results;
  }

  async #write(ops: BatchOp[]): Promise<void> {
    const earlier = dbFailure(this.#db);
    if (earlier) throw earlier;
    try {
      await this.#db.batch(ops);
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
    this.#applied = index;
  }

  /** Waits for queued work and empties the cache; the database itself belongs to the log store. */
  async close(): Promise<void> {
    await this.#tail;
    await Promise.all(this.#snapshotsReading);
    // Reads after close go to the database (and fail once it is closed), as without a cache.
    this.#closed = true;
    this.#cache.clear();
  }
}
