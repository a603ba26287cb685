/**
 * Damaged table data stops the node: a KV store whose every call reports a
 * StorageError CORRUPT as fatal.
 */

import type { KvStore } from "../kv/kv-store.ts";
import { StorageError } from "../storage/open-level.ts";

/**
 * The KV store as the node and its API use it: a StorageError CORRUPT from
 * any call (a read found a value failing its checksum) is reported as fatal,
 * so a node with damaged table data stops (exit 3) instead of staying a voter
 * and answering 500 for the damaged key. The caller still gets the error.
 */
export function fatalOnCorrupt(kv: KvStore, fatal: (e: Error) => void): KvStore {
  const check = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      if (e instanceof StorageError && e.code === "CORRUPT") fatal(e);
      throw e;
    });
  const persist = kv.persist?.bind(kv);
  return {
    get applied() {
      return kv.applied;
    },
    ...(persist && { persist: () => check(persist()) }),
    applyBatch: (entries) => check(kv.applyBatch(entries)),
    get: (key) => check(kv.get(key)),
    list: (opts) => check(kv.list(opts)),
    snapshot: () => check(kv.snapshot()),
    restore: (data, index) => check(kv.restore(data, index)),
    flush: () => kv.flush(),
    close: () => kv.close(),
  };
}
