/**
 * The Raft log, hard state, snapshot and incarnation in LevelDB.
 *
 * Every save is one atomic batch written with `sync: true` (unless the
 * request says it needs no sync). Saves that arrive while a write is in
 * flight are merged into the next batch (group commit): one fsync then
 * covers many callers. Planning happens at call time
 * against the in-memory bounds, so merged batches apply in call order.
 *
 * A failed write poisons the store: later saves reject with the same error,
 * since the on-disk state is no longer known and Raft must not continue.
 */

import { randomUUID } from "node:crypto";
import type { PersistedState } from "../raft/types.ts";
import {
  CorruptValueError,
  decodeValue,
  encodeValue,
  FORMAT_VERSION,
  HIGH,
  KEYS,
  logKey,
  logKeyIndex,
  printableKey,
} from "./codec.ts";
import { checkLoaded, type LoadedParts, type LogBounds, planSave, type SavePlan } from "./log-plan.ts";
import type { LogStore, LogStoreStats, SaveRequest } from "./log-store.ts";
import { corruptStore, ioError, openLevel, type RawDb, StorageError } from "./open-level.ts";
import { MARKER_FILE, readMarker, type StoreMarker, writeMarker } from "./store-marker.ts";
import { checkLogs } from "./wal-check.ts";

type BatchOp = { type: "put"; key: Buffer; value: string } | { type: "del"; key: Buffer };

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

const LOG_RANGE = { gte: KEYS.logPrefix, lt: Buffer.concat([KEYS.logPrefix, HIGH]) };

async function getValue(db: RawDb, key: Buffer): Promise<unknown> {
  const raw = await db.get(key);
  return raw === undefined ? undefined : decodeValue(key, raw);
}

/** Reads and checks everything; any problem becomes a StorageError naming `dir`. */
async function readAll(db: RawDb, dir: string, incarnation: string): Promise<ReturnType<typeof checkLoaded>> {
  let parts: LoadedParts;
  try {
    const entries: unknown[] = [];
    for await (const [k, v] of db.iterator(LOG_RANGE)) {
      const e = decodeValue(k, v) as { index?: unknown };
      const index = logKeyIndex(k);
      if (e?.index !== index) throw new CorruptValueError(`entry under ${printableKey(k)} has index ${e?.index}`);
      entries.push(e);
    }
    parts = {
      incarnation,
      hardState: await getValue(db, KEYS.hardState),
      snapshotMeta: await getValue(db, KEYS.snapMeta),
      snapshotData: await getValue(db, KEYS.snapData),
      entries,
    };
  } catch (e) {
    if (e instanceof CorruptValueError) throw corruptStore(dir, e.message, e);
    throw ioError(dir, "reading", e);
  }
  try {
    return checkLoaded(parts);
  } catch (e) {
    throw corruptStore(dir, (e as Error).message, e);
  }
}

/**
 * Reads the incarnation, creating it (and the format key and marker file) when
 * the database is empty and no marker says a store lived here before.
 */
async function identify(
  db: RawDb,
  dir: string,
  marker: StoreMarker | undefined,
): Promise<{ incarnation: string; isNew: boolean }> {
  let format: unknown;
  let incarnation: unknown;
  try {
    format = await getValue(db, KEYS.format);
    incarnation = await getValue(db, KEYS.incarnation);
  } catch (e) {
    if (e instanceof CorruptValueError) throw corruptStore(dir, e.message, e);
    throw ioError(dir, "reading", e);
  }
  if (format === undefined && incarnation === undefined) {
    for await (const k of db.keys({ limit: 1 })) {
      throw corruptStore(dir, `the incarnation is missing but the database holds data (e.g. ${printableKey(k)})`);
    }
    if (marker) {
      throw corruptStore(
        dir,
        `the database is empty but ${MARKER_FILE} says store ${marker.incarnation} lived here (lost MANIFEST or table files?)`,
      );
    }
    const fresh = randomUUID();
    await db.batch(
      [
        { type: "put", key: KEYS.format, value: encodeValue(KEYS.format, FORMAT_VERSION) },
        { type: "put", key: KEYS.incarnation, value: encodeValue(KEYS.incarnation, fresh) },
      ],
      { sync: true },
    );
    await writeMarker(dir, { format: FORMAT_VERSION, incarnation: fresh });
    return { incarnation: fresh, isNew: true };
  }
  if (format !== FORMAT_VERSION) {
    throw new StorageError(
      "CORRUPT",
      `raftkv storage at ${dir} has layout version ${String(format)}; this build reads ${FORMAT_VERSION}`,
    );
  }
  if (typeof incarnation !== "string" || incarnation === "") throw corruptStore(dir, "the incarnation is missing");
  if (marker && marker.incarnation !== incarnation) {
    throw corruptStore(dir, `${MARKER_FILE} names store ${marker.incarnation} but the database holds ${incarnation}`);
  }
  // A crash between creating the database and writing the marker: finish the job.
  if (!marker) await writeMarker(dir, { format: FORMAT_VERSION, incarnation });
  return { incarnation, isNew: false };
}

/** A LogStore backed by LevelDB; `db` is shared with the LevelDB KV store. */
export class LeveldbLogStore implements LogStore {
  readonly dir: string;
  /** The open database, for the KV store to share (keys under `kv!`). */
  readonly db: RawDb;
  readonly incarnation: string;
  readonly isNew: boolean;
  readonly stats: LogStoreStats = { saves: 0, writes: 0, syncs: 0 };
  #bounds: LogBounds;
  /** What open() read, handed to the first load() instead of reading twice. */
  #preloaded: PersistedState | null | undefined;
  #ops: BatchOp[] = [];
  #waiters: Waiter[] = [];
  /** Whether any request in #ops asked for a sync. */
  #needSync = false;
  #flushing: Promise<void> | null = null;
  #failed: Error | null = null;
  #closed = false;

  private constructor(
    dir: string,
    db: RawDb,
    id: { incarnation: string; isNew: boolean },
    loaded: ReturnType<typeof checkLoaded>,
  ) {
    this.dir = dir;
    this.db = db;
    this.incarnation = id.incarnation;
    this.isNew = id.isNew;
    this.#bounds = loaded.bounds;
    this.#preloaded = loaded.state;
  }

  /** Opens or creates the store in `dir`; throws StorageError when it is unreadable or inconsistent. */
  static async open(dir: string): Promise<LeveldbLogStore> {
    const marker = await readMarker(dir);
    await checkLogs(dir);
    const db = await openLevel(dir, marker !== undefined);
    try {
      const id = await identify(db, dir, marker);
      const loaded = await readAll(db, dir, id.incarnation);
      return new LeveldbLogStore(dir, db, id, loaded);
    } catch (e) {
      await db.close().catch(() => {});
      throw e;
    }
  }

  /** The persisted state, or null when nothing was ever saved. */
  async load(): Promise<PersistedState | null> {
    if (this.#preloaded !== undefined) {
      const s = this.#preloaded;
      this.#preloaded = undefined;
      return s;
    }
    await this.#flushing;
    return (await readAll(this.db, this.dir, this.incarnation)).state;
  }

  /** Persists one Ready's state in one synced batch (shared with concurrent calls). */
  save(req: SaveRequest): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`log store at ${this.dir} is closed`));
    if (this.#failed) return Promise.reject(this.#failed);
    let plan: SavePlan;
    try {
      plan = planSave(this.#bounds, req);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#bounds = plan.bounds;
    this.#preloaded = undefined;
    appendOps(this.#ops, plan);
    if (req.sync !== false) this.#needSync = true;
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  async #flush(): Promise<void> {
    // Let saves issued in the same tick join the first batch.
    await Promise.resolve();
    while (this.#waiters.length > 0) {
      const ops = this.#ops;
      const waiters = this.#waiters;
      const sync = this.#needSync;
      this.#ops = [];
      this.#waiters = [];
      this.#needSync = false;
      try {
        await this.db.batch(ops, { sync });
      } catch (e) {
        this.#failed = ioError(this.dir, "synced write", e);
        for (const w of [...waiters, ...this.#waiters]) w.reject(this.#failed);
        this.#ops = [];
        this.#waiters = [];
        break;
      }
      this.stats.writes++;
      if (sync) this.stats.syncs++;
      this.stats.saves += waiters.length;
      for (const w of waiters) w.resolve();
    }
    this.#flushing = null;
  }

  /** Waits for pending saves, then closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flushing;
    await this.db.close();
  }
}

/** Appends the LevelDB operations of a plan, in the order the plan requires. */
function appendOps(ops: BatchOp[], plan: SavePlan): void {
  if (plan.snapshot) {
    ops.push({ type: "put", key: KEYS.snapMeta, value: encodeValue(KEYS.snapMeta, plan.snapshot.meta) });
    ops.push({ type: "put", key: KEYS.snapData, value: encodeValue(KEYS.snapData, plan.snapshot.data) });
  }
  for (const [from, to] of plan.deletes) {
    for (let i = from; i <= to; i++) ops.push({ type: "del", key: logKey(i) });
  }
  for (const e of plan.entries) {
    const key = logKey(e.index);
    ops.push({ type: "put", key, value: encodeValue(key, e) });
  }
  if (plan.hardState) {
    ops.push({ type: "put", key: KEYS.hardState, value: encodeValue(KEYS.hardState, plan.hardState) });
  }
}
