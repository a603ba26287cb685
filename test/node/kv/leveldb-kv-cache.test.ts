/**
 * The LevelDB KV store's read cache: hot reads skip LevelDB, writes and deletes are reflected, restore and
 * close clear it, a read racing an apply or restore never puts back an older value, the byte bound holds,
 * and callers cannot change later reads by mutating what they got.
 */

import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { type Command, encodeCommand, type JsonValue } from "../../../node/src/kv/command.ts";
import { LeveldbKv, type LeveldbKvOptions } from "../../../node/src/kv/leveldb-kv.ts";
import { ENTRY_OVERHEAD } from "../../../node/src/kv/read-cache.ts";
import type { Entry } from "../../../node/src/raft/types.ts";
import { encodeValue, kvKey } from "../../../node/src/storage/codec.ts";
import { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import type { RawDb } from "../../../node/src/storage/open-level.ts";
import { StorageError } from "../../../node/src/storage/open-level.ts";
import { tempDir } from "../storage/helpers.ts";

/** LevelDB reads the KV store made, by kind. */
interface Reads {
  get: number;
  getMany: number;
}

/** A database whose get/getMany are counted; `hold` (when set) runs between LevelDB's answer and the caller's. */
function instrument(db: RawDb): { reads: Reads; hold: { gate?: () => Promise<void> } } {
  const reads: Reads = { get: 0, getMany: 0 };
  const hold: { gate?: () => Promise<void> } = {};
  const get = db.get.bind(db) as (k: Buffer) => Promise<string | undefined>;
  const getMany = db.getMany.bind(db) as (k: Buffer[]) => Promise<Array<string | undefined>>;
  const patched = db as unknown as Record<string, unknown>;
  patched.get = async (k: Buffer) => {
    reads.get++;
    const v = await get(k);
    const gate = hold.gate;
    if (gate) await gate();
    return v;
  };
  patched.getMany = (ks: Buffer[]) => {
    reads.getMany++;
    return getMany(ks);
  };
  return { reads, hold };
}

/** A store on a fresh database; `hits` records what each get reported. */
async function open(t: TestContext, opts: LeveldbKvOptions = {}, dir = tempDir(t)) {
  const log = await LeveldbLogStore.open(dir);
  const hits: boolean[] = [];
  const kv = await LeveldbKv.open(log.db, { onCacheRead: (h) => hits.push(h), ...opts });
  const { reads, hold } = instrument(log.db);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await kv.close();
    await log.close();
  };
  t.after(close);
  return { kv, log, reads, hold, hits, close };
}

let nextIndex = 0;
/** Numbers commands into normal entries after `kv.applied`. */
function ents(kv: LeveldbKv, ...cmds: Command[]): Entry[] {
  nextIndex = kv.applied;
  return cmds.map((c) => ({ index: ++nextIndex, term: 1, type: "normal", data: encodeCommand(c) }));
}

const set = (kv: Record<string, JsonValue>): Command => ({ op: "set", kv });

/** Starts a read of `key` and returns once LevelDB has answered it, held before it can fill the cache. */
async function heldRead(kv: LeveldbKv, hold: { gate?: () => Promise<void> }, key: string) {
  const answered = deferred();
  const release = deferred();
  hold.gate = () => {
    answered.resolve();
    return release.promise;
  };
  const slow = kv.get(key);
  await answered.promise;
  hold.gate = undefined;
  return { slow, release };
}

/** A promise and its resolver. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test("values written by applies are read without touching LevelDB", async (t) => {
  const { kv, reads, hits } = await open(t);
  await kv.applyBatch(ents(kv, set({ n: 1, s: "text", o: { a: [1, null] }, z: false })));
  assert.equal(await kv.get("n"), 1);
  assert.equal(await kv.get("s"), "text");
  assert.deepEqual(await kv.get("o"), { a: [1, null] });
  assert.equal(await kv.get("z"), false);
  assert.deepEqual(reads, { get: 0, getMany: 0 });
  assert.deepEqual(hits, [true, true, true, true]);
  // A later write replaces the cached value.
  await kv.applyBatch(ents(kv, set({ n: 2, o: ["x"] })));
  assert.equal(await kv.get("n"), 2);
  assert.deepEqual(await kv.get("o"), ["x"]);
  assert.equal(reads.get, 0);
});

test("a miss reads LevelDB once and fills the cache; absent keys too", async (t) => {
  const dir = tempDir(t);
  const first = await open(t, {}, dir);
  await first.kv.applyBatch(ents(first.kv, set({ a: { deep: [true] } })));
  await first.close();
  const { kv, reads, hits } = await open(t, {}, dir);
  assert.deepEqual(await kv.get("a"), { deep: [true] });
  assert.deepEqual(await kv.get("a"), { deep: [true] });
  assert.equal(await kv.get("nobody"), undefined);
  assert.equal(await kv.get("nobody"), undefined);
  assert.equal(reads.get, 2);
  assert.deepEqual(hits, [false, true, false, true]);
});

test("deletes are reflected: del and cas-delete read back as absent, without LevelDB", async (t) => {
  const { kv, reads } = await open(t);
  await kv.applyBatch(ents(kv, set({ a: 1, b: { x: 1 }, c: 3 })));
  assert.equal(await kv.get("a"), 1);
  await kv.applyBatch(ents(kv, { op: "del", keys: ["a"] }, { op: "cas", key: "b", expect: { x: 1 }, del: true }));
  assert.equal(await kv.get("a"), undefined);
  assert.equal(await kv.get("b"), undefined);
  assert.equal(await kv.get("c"), 3);
  assert.equal(reads.get, 0);
  // And LevelDB agrees.
  assert.deepEqual(await kv.list({ limit: 10 }), [{ key: "c", value: 3 }]);
});

test("applies read cached values instead of LevelDB, with the same results", async (t) => {
  const { kv, reads } = await open(t);
  await kv.applyBatch(ents(kv, set({ k: { v: 1 } })));
  const r = await kv.applyBatch(
    ents(
      kv,
      { op: "cas", key: "k", expect: { v: 1 }, value: { v: 2 } },
      { op: "cas", key: "k", expect: { v: 1 }, value: { v: 3 } },
      { op: "del", keys: ["k"] },
    ),
  );
  assert.deepEqual(r, [
    { op: "cas", ok: true, current: { v: 2 } },
    { op: "cas", ok: false, current: { v: 2 } },
    { op: "del", ok: true, deleted: 1 },
  ]);
  assert.equal(reads.getMany, 0, "k was cached by the first apply");
  // An uncached key is fetched once, then both it and the key written are cached.
  await kv.applyBatch(ents(kv, { op: "cas", key: "u", expect: null, value: 1 }, { op: "del", keys: ["never"] }));
  assert.equal(reads.getMany, 1);
  await kv.applyBatch(ents(kv, { op: "cas", key: "u", expect: 1, value: 2 }, { op: "del", keys: ["never"] }));
  assert.equal(reads.getMany, 1);
  assert.equal(await kv.get("u"), 2);
  assert.equal(reads.get, 0);
});

test("restore clears the cache: old values and keys the snapshot lacks are gone", async (t) => {
  const { kv, reads } = await open(t);
  await kv.applyBatch(ents(kv, set({ a: 1, old: "x" })));
  assert.equal(await kv.get("a"), 1);
  assert.equal(await kv.get("old"), "x");
  await kv.restore(JSON.stringify({ v: 1, kv: [["a", 2]] }), 50);
  assert.equal(await kv.get("a"), 2);
  assert.equal(await kv.get("old"), undefined);
  assert.equal(reads.get, 2, "both read from LevelDB after the restore");
  assert.equal(await kv.get("a"), 2);
  assert.equal(reads.get, 2);
});

test("a read that started before an apply does not put its older value back", async (t) => {
  const { kv, hold } = await open(t);
  await kv.restore(JSON.stringify({ v: 1, kv: [["k", "old"]] }), 10); // on disk, not cached
  // LevelDB has answered "old"; the read is held before it can fill.
  const { slow, release } = await heldRead(kv, hold, "k");
  await kv.applyBatch(ents(kv, set({ k: "new" })));
  assert.equal(await kv.get("k"), "new");
  release.resolve();
  assert.equal(await slow, "old", "the slow read still answers what it read");
  assert.equal(await kv.get("k"), "new", "and did not fill the cache with it");
  await kv.flush();
  assert.equal(await kv.get("k"), "new", "nor once the write is in LevelDB");
});

test("a read that started before a batch landed does not put its older value back", async (t) => {
  const { kv, hold } = await open(t, { writeBehind: { delayMs: 60_000 } });
  await kv.restore(JSON.stringify({ v: 1, kv: [["k", "old"]] }), 10);
  const { slow, release } = await heldRead(kv, hold, "k");
  await kv.applyBatch(ents(kv, set({ k: "new" })));
  await kv.flush(); // the batch lands while the slow read is held
  release.resolve();
  assert.equal(await slow, "old");
  assert.equal(await kv.get("k"), "new");
});

test("a read that started before a delete does not bring the value back", async (t) => {
  const { kv, hold } = await open(t);
  await kv.restore(JSON.stringify({ v: 1, kv: [["k", { v: 1 }]] }), 10);
  const { slow, release } = await heldRead(kv, hold, "k");
  await kv.applyBatch(ents(kv, { op: "del", keys: ["k"] }));
  release.resolve();
  assert.deepEqual(await slow, { v: 1 });
  assert.equal(await kv.get("k"), undefined);
});

test("a read that started before a restore does not fill the cache after it", async (t) => {
  const { kv, hold, reads } = await open(t);
  await kv.restore(JSON.stringify({ v: 1, kv: [["k", 1]] }), 10);
  const { slow, release } = await heldRead(kv, hold, "k");
  await kv.restore(JSON.stringify({ v: 1, kv: [["k", 2]] }), 20);
  release.resolve();
  assert.equal(await slow, 1);
  const before = reads.get;
  assert.equal(await kv.get("k"), 2);
  assert.equal(reads.get, before + 1, "a miss: the slow read filled nothing");
});

test("the cache stays within its byte bound, evicting the least recently used", async (t) => {
  const value = "v".repeat(100);
  const perKey = "k00".length + JSON.stringify(value).length + ENTRY_OVERHEAD;
  const { kv, reads } = await open(t, { cacheBytes: 10 * perKey });
  const kvs: Record<string, string> = {};
  for (let i = 0; i < 30; i++) kvs[`k${String(i).padStart(2, "0")}`] = value;
  await kv.applyBatch(ents(kv, set(kvs)));
  await kv.flush(); // the writes reach the cache as their batch lands in LevelDB
  // The last 10 written are cached; the first 20 were evicted.
  for (let i = 20; i < 30; i++) assert.equal(await kv.get(`k${i}`), value);
  assert.equal(reads.get, 0);
  assert.equal(await kv.get("k00"), value);
  assert.equal(reads.get, 1);
  // k00 filled the cache and pushed out the least recently used (k20); k21 is still there.
  assert.equal(await kv.get("k21"), value);
  assert.equal(reads.get, 1);
  assert.equal(await kv.get("k20"), value);
  assert.equal(reads.get, 2);
});

test("a value larger than the bound is not cached, and the key's older cached value goes", async (t) => {
  const { kv, reads } = await open(t, { cacheBytes: 200 });
  await kv.applyBatch(ents(kv, set({ k: "small" })));
  await kv.flush();
  assert.equal(await kv.get("k"), "small");
  assert.equal(reads.get, 0);
  const big = "b".repeat(500);
  await kv.applyBatch(ents(kv, set({ k: big })));
  assert.equal(await kv.get("k"), big, "read from the write on its way");
  assert.equal(reads.get, 0);
  await kv.flush();
  assert.equal(await kv.get("k"), big);
  assert.equal(await kv.get("k"), big);
  assert.equal(reads.get, 2);
});

test("mutating a returned value cannot change later reads", async (t) => {
  const dir = tempDir(t);
  const first = await open(t, {}, dir);
  await first.kv.applyBatch(ents(first.kv, set({ disk: { a: [1] } })));
  await first.close();
  const { kv } = await open(t, {}, dir);
  const r = await kv.applyBatch(ents(kv, { op: "cas", key: "hot", expect: null, value: { a: [1] } }));

  // The apply's result holds the command's own object: changing it does not reach the store.
  const current = (r[0] as unknown as { current: { a: number[] } }).current;
  current.a.push(2);
  assert.deepEqual(await kv.get("hot"), { a: [1] });
  // Nor does it reach a later apply's comparison.
  const again = await kv.applyBatch(ents(kv, { op: "cas", key: "hot", expect: { a: [1] }, value: { a: [1] } }));
  assert.equal(again[0]?.ok, true);

  // On its way to LevelDB a value is handed out as a fresh copy; from the cache, frozen.
  const hot = (await kv.get("hot")) as { a: number[] };
  hot.a.push(2);
  assert.deepEqual(await kv.get("hot"), { a: [1] });
  await kv.flush();
  for (const key of ["hot", "disk"]) {
    for (let round = 0; round < 2; round++) {
      // Miss then hit for "disk"; hits for "hot".
      const v = (await kv.get(key)) as { a: number[]; b?: number };
      assert.throws(() => v.a.push(2), TypeError, key);
      assert.throws(() => {
        v.b = 1;
      }, TypeError);
      assert.deepEqual(await kv.get(key), { a: [1] }, key);
    }
  }
});

test("with cacheBytes 0 every read goes to LevelDB and returns a fresh object", async (t) => {
  const { kv, reads, hits } = await open(t, { cacheBytes: 0 });
  await kv.applyBatch(ents(kv, set({ o: { a: 1 } })));
  await kv.flush();
  const v = (await kv.get("o")) as { a: number };
  v.a = 2;
  assert.deepEqual(await kv.get("o"), { a: 1 });
  assert.equal(reads.get, 2);
  assert.deepEqual(hits, [false, false]);
});

test("a damaged value read on a miss is still reported CORRUPT, and list never uses the cache", async (t) => {
  const dir = tempDir(t);
  const first = await open(t, {}, dir);
  await first.kv.applyBatch(ents(first.kv, set({ a: 1, b: 2 })));
  await first.close();
  const { kv, log } = await open(t, {}, dir);
  assert.equal(await kv.get("b"), 2); // cached
  await log.db.put(kvKey("a"), encodeValue(kvKey("b"), 1));
  await log.db.put(kvKey("b"), encodeValue(kvKey("a"), 2));
  const corrupt = (e: unknown) => e instanceof StorageError && e.code === "CORRUPT" && /checksum/.test(e.message);
  await assert.rejects(kv.get("a"), corrupt);
  await assert.rejects(kv.get("a"), corrupt, "a failed read caches nothing");
  await assert.rejects(kv.list({ limit: 10, prefix: "b" }), corrupt);
});

test("a failed write empties the cache and stops the store: no apply, list or snapshot after it", async (t) => {
  const { kv, log, reads } = await open(t);
  await kv.applyBatch(ents(kv, set({ a: 1, b: 1 })));
  await kv.flush();
  assert.equal(await kv.get("b"), 1);
  const patched = log.db as unknown as { batch: unknown };
  const batch = patched.batch;
  patched.batch = () => Promise.reject(new Error("IO error: simulated"));
  t.after(() => {
    patched.batch = batch;
  });
  // The apply is done in memory; its batch fails on the way to LevelDB.
  await kv.applyBatch(ents(kv, set({ a: 2 })));
  await assert.rejects(kv.flush(), StorageError);
  await assert.rejects(kv.applyBatch(ents(kv, set({ a: 3 }))), StorageError);
  await assert.rejects(kv.list({ limit: 10 }), StorageError);
  await assert.rejects(kv.snapshot(), StorageError);
  // What was applied is still what reads see; the rest comes from LevelDB, not the emptied cache.
  assert.equal(await kv.get("a"), 2);
  assert.equal(await kv.get("b"), 1);
  assert.equal(reads.get, 1);
});

test("close empties the cache and later reads go to the database", async (t) => {
  const { kv, reads, close } = await open(t);
  await kv.applyBatch(ents(kv, set({ a: 1 })));
  assert.equal(await kv.get("a"), 1);
  assert.equal(reads.get, 0);
  await kv.close();
  assert.equal(await kv.get("a"), 1);
  assert.equal(await kv.get("a"), 1);
  assert.equal(reads.get, 2, "nothing is filled after close");
  await close(); // closes the database too
  await assert.rejects(kv.get("a"));
});
