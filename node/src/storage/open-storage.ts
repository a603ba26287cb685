/**
 * Opens the log store and the KV store a node runs on, by KV_STORE kind:
 * `leveldb` puts both in one LevelDB at the state directory (the KV applied
 * index and the log then share one write-ahead log); `memory` keeps both in RAM.
 */

import type { KvStoreKind } from "../config.ts";
import type { KvStore } from "../kv/kv-store.ts";
import { LeveldbKv, type LeveldbKvOptions } from "../kv/leveldb-kv.ts";
import { MemoryKv } from "../kv/memory-kv.ts";
import { LeveldbLogStore } from "./leveldb-log-store.ts";
import type { LogStore } from "./log-store.ts";
import { MemoryLogStore } from "./memory-log-store.ts";

/** A node's storage: its Raft log and its state machine. */
export interface NodeStorage {
  log: LogStore;
  kv: KvStore;
  /** Closes the KV store, then the log store (which owns the database). */
  close(): Promise<void>;
}

/** Opens both stores; throws StorageError when the directory is unreadable or corrupt. `kv` tunes a LevelDB KV. */
export async function openStorage(kind: KvStoreKind, dir: string, kv: LeveldbKvOptions = {}): Promise<NodeStorage> {
  if (kind === "memory") {
    const log = await MemoryLogStore.open();
    const kv = new MemoryKv();
    return { log, kv, close: () => closeBoth(kv, log) };
  }
  const log = await LeveldbLogStore.open(dir);
  let store: LeveldbKv;
  try {
    store = await LeveldbKv.open(log.db, kv);
  } catch (e) {
    await log.close();
    throw e;
  }
  return { log, kv: store, close: () => closeBoth(store, log) };
}

async function closeBoth(kv: KvStore, log: LogStore): Promise<void> {
  await kv.close();
  await log.close();
}
