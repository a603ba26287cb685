/** LevelDB-specific behaviour: reopening, group commit, sync accounting, locking. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeValue, logKey } from "../../../node/src/storage/codec.ts";
import { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import type { StorageError } from "../../../node/src/storage/open-level.ts";
import { entries, snap, tempDir } from "./helpers.ts";

test("reopening after close gives back the same state and incarnation", async (t) => {
  const dir = tempDir(t);
  const a = await LeveldbLogStore.open(dir);
  await a.save({ hardState: { term: 3, vote: "x", commit: 7 }, entries: entries(1, 12, 3), snapshotRestore: false });
  await a.save({ entries: [], snapshot: snap(5, 3), snapshotRestore: false });
  const before = await a.load();
  await a.close();

  const b = await LeveldbLogStore.open(dir);
  t.after(() => b.close());
  assert.equal(b.isNew, false);
  assert.equal(b.incarnation, a.incarnation);
  assert.deepEqual(await b.load(), before);
  // The bounds were rebuilt from disk: a conflicting append still truncates correctly.
  await b.save({ entries: entries(8, 8, 4), snapshotRestore: false });
  assert.deepEqual((await b.load())?.entries, [...entries(6, 7, 3), ...entries(8, 8, 4)]);
});

test("group commit: concurrent saves share synced writes", async (t) => {
  const s = await LeveldbLogStore.open(tempDir(t));
  t.after(() => s.close());
  const n = 500;
  const saves: Promise<void>[] = [];
  // Staggered arrivals: each save starts while earlier ones are syncing.
  for (let i = 1; i <= n; i++) {
    saves.push(
      s.save({ hardState: { term: 1, vote: "", commit: i - 1 }, entries: entries(i, i, 1), snapshotRestore: false }),
    );
    if (i % 25 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(saves);
  assert.equal(s.stats.saves, n);
  assert.ok(s.stats.syncs < n / 5, `expected far fewer syncs than saves, got ${s.stats.syncs}`);
  const got = await s.load();
  assert.equal(got?.entries.length, n);
  assert.equal(got?.hardState.commit, n - 1);
  t.diagnostic(`group commit: ${n} saves in ${s.stats.syncs} syncs (factor ${(n / s.stats.syncs).toFixed(1)})`);
});

test("sequential synced saves: latency", async (t) => {
  const s = await LeveldbLogStore.open(tempDir(t));
  t.after(() => s.close());
  const n = 100;
  const start = performance.now();
  for (let i = 1; i <= n; i++) {
    await s.save({
      hardState: { term: 1, vote: "", commit: i - 1 },
      entries: entries(i, i, 1, "x".repeat(200)),
      snapshotRestore: false,
    });
  }
  const ms = (performance.now() - start) / n;
  assert.equal(s.stats.syncs, n);
  t.diagnostic(`sequential save() with sync: ${ms.toFixed(2)} ms mean over ${n}`);
});

test("saves that need no sync are written but not synced", async (t) => {
  const s = await LeveldbLogStore.open(tempDir(t));
  t.after(() => s.close());
  await s.save({ hardState: { term: 1, vote: "", commit: 0 }, entries: entries(1, 3, 1), snapshotRestore: false });
  await s.save({ hardState: { term: 1, vote: "", commit: 3 }, entries: [], snapshotRestore: false, sync: false });
  assert.deepEqual({ ...s.stats }, { saves: 2, writes: 2, syncs: 1 });
  assert.equal((await s.load())?.hardState.commit, 3);
});

test("a second open of the same directory fails as locked", async (t) => {
  const dir = tempDir(t);
  const a = await LeveldbLogStore.open(dir);
  t.after(() => a.close());
  await assert.rejects(LeveldbLogStore.open(dir), (e: StorageError) => {
    assert.equal(e.code, "LOCKED");
    assert.ok(e.message.includes(dir));
    return true;
  });
});

test("close waits for pending saves", async (t) => {
  const dir = tempDir(t);
  const a = await LeveldbLogStore.open(dir);
  const p = a.save({ hardState: { term: 1, vote: "", commit: 0 }, entries: entries(1, 50, 1), snapshotRestore: false });
  await a.close();
  await p;
  await assert.rejects(a.save({ entries: entries(51, 51, 1), snapshotRestore: false }), /closed/);
  const b = await LeveldbLogStore.open(dir);
  t.after(() => b.close());
  assert.equal((await b.load())?.entries.length, 50);
});

test("a failed write poisons the store: every later save fails the same way", async (t) => {
  const dir = tempDir(t);
  const s = await LeveldbLogStore.open(dir);
  await s.save({ hardState: { term: 1, vote: "", commit: 0 }, entries: entries(1, 1, 1), snapshotRestore: false });
  await s.db.close(); // The disk "goes away" under the store.
  const first = await s.save({ entries: entries(2, 2, 1), snapshotRestore: false }).catch((e: StorageError) => e);
  assert.ok(first instanceof Error && (first as StorageError).code === "IO", String(first));
  assert.ok(first.message.includes(dir));
  await assert.rejects(s.save({ entries: entries(3, 3, 1), snapshotRestore: false }), (e) => e === first);
});

/** The indexes of the log entries LevelDB holds, whatever a load would return. */
async function storedIndexes(s: LeveldbLogStore): Promise<number[]> {
  const out: number[] = [];
  for await (const k of s.db.keys({ gte: logKey(0), lte: logKey(1e9) })) out.push(Number(k.readBigUInt64BE(4)));
  return out;
}

test("compacted entries are deleted after the save that compacts them; a stop that cut the delete short leaves nothing a load returns, and open() deletes them", async (t) => {
  const dir = tempDir(t);
  const s = await LeveldbLogStore.open(dir);
  await s.save({ hardState: { term: 1, vote: "", commit: 300 }, entries: entries(1, 300, 1), snapshotRestore: false });
  await s.save({ entries: [], snapshot: snap(250, 1), snapshotRestore: false });
  await s.close();
  const s2 = await LeveldbLogStore.open(dir);
  assert.deepEqual(
    await storedIndexes(s2),
    Array.from({ length: 50 }, (_, i) => 251 + i),
    "close waited for the delete",
  );
  // A delete that never happened: the compacted entries are put back by hand, as a stop before it would leave them.
  await s2.db.batch(
    entries(200, 250, 1).map((e) => {
      const key = logKey(e.index);
      return { type: "put" as const, key, value: encodeValue(key, e) };
    }),
  );
  assert.equal((await storedIndexes(s2))[0], 200);
  const loaded = await s2.load();
  assert.deepEqual(loaded?.entries, entries(251, 300, 1), "a load skips entries at or below the snapshot");
  await s2.close();
  const s3 = await LeveldbLogStore.open(dir);
  t.after(() => s3.close());
  assert.equal((await storedIndexes(s3))[0], 251, "open() deleted the leftovers");
  assert.deepEqual((await s3.load())?.entries, entries(251, 300, 1));
});
