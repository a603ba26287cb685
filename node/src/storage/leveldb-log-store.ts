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
 *
 * The high-water mark (high-water-mark.ts) guards against a lost write-ahead log.
 */

import { randomUUID } from "node:crypto";
import type { HardState, PersistedState } from "../raft/types.ts";
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
import { checkHighWater, HIGH_WATER_INTERVAL_MS, HighWaterMark } from "./high-water-mark.ts";
import { checkLoaded, type LoadedParts, type LogBounds, planSave, type SavePlan } from "./log-plan.ts";
import type { LogStore, LogStoreStats, SaveRequest } from "./log-store.ts";
import { corruptStore, dbFailure, ioError, openLevel, poisonDb, type RawDb, StorageError } from "./open-level.ts";
import {
  asSnapshotFileRef,
  readSnapshotFile,
  removeSnapshotFilesExcept,
  type SnapshotFileRef,
  SnapshotFiles,
} from "./snapshot-files.ts";
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

/** The stored snapshot file reference, if any; CorruptValueError when it is not one. */
async function getSnapshotRef(db: RawDb): Promise<SnapshotFileRef | undefined> {
  const v = await getValue(db, KEYS.snapFile);
  if (v === undefined) return undefined;
  const ref = asSnapshotFileRef(v);
  if (!ref) throw new CorruptValueError(`snapshot file reference ${JSON.stringify(v)} is malformed`);
  return ref;
}

/** The snapshot data: from its file, or (stores written before snapshot files) from LevelDB. */
async function getSnapshotData(db: RawDb, dir: string): Promise<unknown> {
  const ref = await getSnapshotRef(db);
  return ref ? await readSnapshotFile(dir, ref) : await getValue(db, KEYS.snapData);
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
      snapshotData: await getSnapshotData(db, dir),
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

/** Options of LeveldbLogStore.open. */
export interface LeveldbLogStoreOptions {
  /** Overrides HIGH_WATER_INTERVAL_MS (tests and benchmarks). */
  markIntervalMs?: number;
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
  /** Snapshot files the batch in #ops points to: written before it. */
  #fileWrites: Array<Promise<void>> = [];
  /** The newest snapshot file reference among #ops. */
  #opsSnapRef: SnapshotFileRef | undefined;
  /** Entry ranges a snapshot among #ops compacted: deleted once that batch is written. */
  #opsCompacted: Array<[number, number]> = [];
  /** Deletes of compacted entries in flight (close waits for them). */
  readonly #clearing = new Set<Promise<void>>();
  readonly #snapFiles: SnapshotFiles;
  #failed: Error | null = null;
  #closed = false;
  readonly #mark: HighWaterMark;
  /** The newest hard state among #ops; the newest written; the newest in a synced batch (durable). */
  #opsHardState: HardState | undefined;
  #writtenHardState: HardState | undefined;
  #durableHardState: HardState | undefined;

  private constructor(
    dir: string,
    db: RawDb,
    id: { incarnation: string; isNew: boolean },
    loaded: ReturnType<typeof checkLoaded>,
    marker: StoreMarker,
    opts: LeveldbLogStoreOptions,
  ) {
    this.#snapFiles = new SnapshotFiles(dir);
    this.dir = dir;
    this.db = db;
    this.incarnation = id.incarnation;
    this.isNew = id.isNew;
    this.#bounds = loaded.bounds;
    this.#preloaded = loaded.state;
    this.#mark = new HighWaterMark(dir, marker, opts.markIntervalMs ?? HIGH_WATER_INTERVAL_MS, {
      failed: () => this.#failed !== null,
      onFailed: (e) => {
        this.#failed ??= ioError(this.dir, "writing the high-water mark", e);
      },
    });
  }

  /** Marker files written for the high-water mark, for tests and benchmarks. */
  get markStats(): { readonly writes: number } {
    return this.#mark.stats;
  }

  /** Opens or creates the store in `dir`; throws StorageError when it is unreadable or inconsistent. */
  static async open(dir: string, opts: LeveldbLogStoreOptions = {}): Promise<LeveldbLogStore> {
    const marker = await readMarker(dir);
    await checkLogs(dir);
    const db = await openLevel(dir, marker !== undefined);
    try {
      const id = await identify(db, dir, marker);
      const loaded = await readAll(db, dir, id.incarnation);
      // Lost write-ahead log: refuse rather than restart behind what this store acknowledged.
      checkHighWater(dir, marker, loaded.state);
      const m = marker ?? { format: FORMAT_VERSION, incarnation: id.incarnation };
      // Entries a snapshot compacted whose delete a stop cut short.
      if (loaded.leftovers) {
        const [from, to] = loaded.leftovers;
        await db.clear({ gte: logKey(from), lte: logKey(to) }).catch((e: unknown) => {
          throw ioError(dir, "deleting compacted entries", e);
        });
      }
      const snapRef = await getSnapshotRef(db).catch(() => undefined);
      // Files no reference names: older snapshots, or one written just before a crash.
      await removeSnapshotFilesExcept(dir, new Set(snapRef ? [snapRef.file] : []));
      return new LeveldbLogStore(dir, db, id, loaded, m, opts);
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
    let ref: SnapshotFileRef | undefined;
    if (plan.snapshot) {
      const f = this.#snapFiles.forSave(plan.snapshot.meta.index, plan.snapshot.data);
      ref = f.ref;
      this.#fileWrites.push(f.write);
    }
    appendOps(this.#ops, plan, ref);
    if (plan.compacted) this.#opsCompacted.push(plan.compacted);
    // Older snapshot files are removed once this batch is written, so it must be durable by then.
    if (ref) {
      this.#opsSnapRef = ref;
      this.#needSync = true;
    }
    if (plan.hardState) this.#opsHardState = plan.hardState;
    if (req.sync !== false) this.#needSync = true;
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /**
   * Writes the data of the snapshot about to be saved at `index`, beside the database and ahead of the
   * save (which then records only its reference): the save's LevelDB batch no longer carries tens of MB.
   */
  prepareSnapshot(index: number, data: string): Promise<void> {
    if (this.#closed || this.#failed) return Promise.resolve();
    return this.#snapFiles.prepare(index, data);
  }

  async #flush(): Promise<void> {
    // Let saves issued in the same tick join the first batch.
    await Promise.resolve();
    while (this.#waiters.length > 0) {
      const ops = this.#ops;
      const files = this.#fileWrites;
      const snapRef = this.#opsSnapRef;
      const compacted = this.#opsCompacted;
      this.#opsCompacted = [];
      this.#fileWrites = [];
      this.#opsSnapRef = undefined;
      const waiters = this.#waiters;
      const sync = this.#needSync;
      const hardState = this.#opsHardState;
      this.#ops = [];
      this.#waiters = [];
      this.#needSync = false;
      this.#opsHardState = undefined;
      try {
        const earlier = dbFailure(this.db);
        if (earlier) throw earlier;
        // A batch that points to a snapshot file is written only once the file is durable.
        await Promise.all(files);
        await this.db.batch(ops, { sync });
      } catch (e) {
        const failure = e instanceof StorageError ? e : ioError(this.dir, "synced write", e);
        this.#failed = failure;
        poisonDb(this.db, failure);
        for (const w of [...waiters, ...this.#waiters]) w.reject(this.#failed);
        this.#ops = [];
        this.#waiters = [];
        this.#fileWrites = [];
        this.#opsSnapRef = undefined;
        this.#opsCompacted = [];
        this.#opsHardState = undefined;
        break;
      }
      if (snapRef) this.#snapFiles.committed(snapRef);
      for (const range of compacted) this.#clear(range);
      if (hardState) this.#writtenHardState = hardState;
      // A synced batch makes its own hard state durable: the high-water mark may rise to it.
      if (sync && hardState) {
        this.#durableHardState = hardState;
        this.#mark.durable(hardState);
      }
      this.stats.writes++;
      if (sync) this.stats.syncs++;
      this.stats.saves += waiters.length;
      for (const w of waiters) w.resolve();
    }
    this.#flushing = null;
  }

  /**
   * Deletes compacted entries in LevelDB's own thread (a range delete, not thousands of keys in the loop's
   * batch). Not atomic with the save that compacted them, and need not be: a load skips entries at or
   * below the snapshot, and open() deletes any left over. A failure poisons the store like any failed write.
   */
  #clear([from, to]: [number, number]): void {
    const p = this.db.clear({ gte: logKey(from), lte: logKey(to) }).then(
      () => {},
      (e: unknown) => {
        const failure = e instanceof StorageError ? e : ioError(this.dir, "deleting compacted entries", e);
        this.#failed ??= failure;
        poisonDb(this.db, failure);
      },
    );
    this.#clearing.add(p);
    void p.finally(() => this.#clearing.delete(p));
  }

  /** Waits for pending saves, records the final high-water mark, then closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const markStopped = this.#mark.stop();
    await this.#flushing;
    await Promise.all(this.#clearing);
    await this.#snapFiles.settle();
    await markStopped;
    // A clean stop leaves no undetectable window: sync the last hard state and record it. Best effort:
    // a mark that stays behind only weakens detection, it never refuses a sound store.
    const hs = this.#writtenHardState;
    if (hs && !this.#failed && !dbFailure(this.db)) {
      try {
        if (hs !== this.#durableHardState) {
          await this.db.batch([{ type: "put", key: KEYS.hardState, value: encodeValue(KEYS.hardState, hs) }], {
            sync: true,
          });
          this.#durableHardState = hs;
        }
        await this.#mark.record(hs);
      } catch {
        // The mark keeps its last value (e.g. the directory is already gone).
      }
    }
    await this.db.close();
  }
}

/** Appends the LevelDB operations of a plan, in the order the plan requires; `ref` names the snapshot's file. */
function appendOps(ops: BatchOp[], plan: SavePlan, ref: SnapshotFileRef | undefined): void {
  if (plan.snapshot && ref) {
    ops.push({ type: "put", key: KEYS.snapMeta, value: encodeValue(KEYS.snapMeta, plan.snapshot.meta) });
    ops.push({ type: "put", key: KEYS.snapFile, value: encodeValue(KEYS.snapFile, ref) });
    // Stores written before snapshot files kept the data in LevelDB: it is superseded.
    ops.push({ type: "del", key: KEYS.snapData });
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
