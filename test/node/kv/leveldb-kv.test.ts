/** LevelDB KV specifics: persisted applied index, batching, interrupted restores, throughput. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeCommand } from "../../../node/src/kv/command.ts";
import { LeveldbKv } from "../../../node/src/kv/leveldb-kv.ts";
import type { Entry } from "../../../node/src/raft/types.ts";
import { encodeValue, KEYS, kvKey } from "../../../node/src/storage/codec.ts";
import { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import { openStorage } from "../../../node/src/storage/open-storage.ts";
import { tempDir } from "../storage/helpers.ts";

function sets(from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({
      index: i,
      term: 1,
      type: "normal",
      data: encodeCommand({ op: "set", kv: { [`key${i % 50}`]: i, last: i } }),
    });
  }
  return out;
}

test("a restart resumes from the persisted applied index, data intact", async (t) => {
  const dir = tempDir(t);
  const a = await openStorage("leveldb", dir);
  await a.kv.applyBatch(sets(1, 120));
  await a.close();
  const b = await openStorage("leveldb", dir);
  t.after(() => b.close());
  assert.equal(b.kv.applied, 120);
  assert.equal(await b.kv.get("last"), 120);
  assert.equal(await b.kv.get("key19"), 119);
  // The log store is unaffected by the KV keys in the same database.
  assert.equal(await b.log.load(), null);
});

/** Counts the LevelDB batches written to `db` and the applied index each one recorded. */
function countBatches(db: LeveldbLogStore["db"]): number[] {
  const applied: number[] = [];
  const batch = db.batch.bind(db) as (ops: Array<{ key: Buffer; value?: string }>, o?: unknown) => unknown;
  (db as unknown as { batch: typeof batch }).batch = (ops, o) => {
    const a = ops.find((op) => op.key.equals(KEYS.kvApplied));
    if (a?.value !== undefined) applied.push(JSON.parse(a.value.slice(8)) as number);
    return batch(ops, o);
  };
  return applied;
}

test("applies within the delay share one LevelDB write, which records the index they reach", async (t) => {
  const log = await LeveldbLogStore.open(tempDir(t));
  t.after(() => log.close());
  const kv = await LeveldbKv.open(log.db, { writeBehind: { delayMs: 30 } });
  const written = countBatches(log.db);
  await kv.applyBatch(sets(1, 250));
  await kv.applyBatch(sets(251, 260));
  assert.equal(kv.applied, 260);
  assert.equal(await kv.get("last"), 260, "readable at once");
  assert.deepEqual(written, [], "nothing written yet");
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(written, [260], "one batch for both applies, after the delay");
  // Overlapping calls are queued in call order; a snapshot writes what is applied first.
  const p1 = kv.applyBatch(sets(261, 270));
  const p2 = kv.applyBatch(sets(271, 280));
  const snap = kv.snapshot();
  await Promise.all([p1, p2]);
  const s = await snap;
  assert.equal(s.index, 280);
  assert.match(s.data, /\["last",280\]/);
  assert.deepEqual(written, [260, 280]);
});

test("persist writes what is applied in a synced batch, after the applies called before it, and reports the index", async (t) => {
  const dir = tempDir(t);
  const log = await LeveldbLogStore.open(dir);
  const kv = await LeveldbKv.open(log.db, { writeBehind: { delayMs: 60_000 } });
  const syncs: boolean[] = [];
  const batch = log.db.batch.bind(log.db) as (ops: unknown[], o?: { sync?: boolean }) => unknown;
  (log.db as unknown as { batch: typeof batch }).batch = (ops, o) => {
    syncs.push(o?.sync === true);
    return batch(ops, o);
  };
  const applying = kv.applyBatch(sets(1, 30));
  const index = await kv.persist();
  await applying;
  assert.equal(index, 30, "the apply called before it is included");
  assert.deepEqual(syncs, [false, true], "the pending writes, then the synced applied index");
  await log.close();
  const log2 = await LeveldbLogStore.open(dir);
  t.after(() => log2.close());
  const kv2 = await LeveldbKv.open(log2.db);
  assert.equal(kv2.applied, 30);
  assert.equal(await kv2.get("last"), 30);
});

test("many keys waiting start a batch at once; memory stays bounded while one is written", async (t) => {
  const log = await LeveldbLogStore.open(tempDir(t));
  t.after(() => log.close());
  const kv = await LeveldbKv.open(log.db, { writeBehind: { delayMs: 60_000, maxKeys: 20 } });
  const written = countBatches(log.db);
  // sets() writes 50 distinct keys and "last": every apply of 40 entries fills a batch.
  for (let i = 0; i < 5; i++) await kv.applyBatch(sets(i * 40 + 1, i * 40 + 40));
  assert.ok(written.length >= 4, `batches: ${written}`);
  assert.deepEqual(
    written,
    [...written].sort((a, b) => a - b),
    "batches land in order",
  );
  await kv.flush();
  assert.equal(written.at(-1), 200);
  for (let k = 0; k < 50; k++) assert.equal(await kv.get(`key${k}`), 200 - ((200 - k) % 50));
});

test("list sees every apply before it; a crash loses only what the log replays", async (t) => {
  const dir = tempDir(t);
  const a = await openStorage("leveldb", dir, { writeBehind: { delayMs: 60_000 } });
  await a.kv.applyBatch(sets(1, 10));
  assert.deepEqual(
    (await a.kv.list({ limit: 1, prefix: "last" })).map((p) => p.value),
    [10],
  );
  await a.kv.applyBatch(sets(11, 20));
  // No close (as in a crash): LevelDB still holds what list wrote, at index 10.
  await (a.log as LeveldbLogStore).close();
  const b = await openStorage("leveldb", dir);
  t.after(() => b.close());
  assert.equal(b.kv.applied, 10);
  assert.equal(await b.kv.get("last"), 10);
  await b.kv.applyBatch(sets(11, 20));
  assert.equal(await b.kv.get("last"), 20);
});

test("a snapshot reflects exactly its index even while applies continue", async (t) => {
  const log = await LeveldbLogStore.open(tempDir(t));
  t.after(() => log.close());
  const kv = await LeveldbKv.open(log.db);
  await kv.applyBatch(sets(1, 10));
  const [s] = await Promise.all([kv.snapshot(), kv.applyBatch(sets(11, 20))]);
  const last = JSON.parse(s.data).kv.find((p: [string, unknown]) => p[0] === "last")[1];
  assert.equal(last, s.index);
});

test("applies go on while a large snapshot is read, and the snapshot stays at its index", async (t) => {
  const log = await LeveldbLogStore.open(tempDir(t));
  t.after(() => log.close());
  const kv = await LeveldbKv.open(log.db);
  const big: Entry[] = [];
  for (let i = 1; i <= 40; i++) {
    const pairs: Record<string, string> = {};
    for (let k = 0; k < 500; k++) pairs[`bulk/${i}/${k}`] = "v".repeat(100);
    big.push({ index: i, term: 1, type: "normal", data: encodeCommand({ op: "set", kv: pairs }) });
  }
  await kv.applyBatch(big);
  let snapshotDone = false;
  const snap = kv.snapshot().then((s) => {
    snapshotDone = true;
    return s;
  });
  // 20,000 pairs take tens of milliseconds to read; one small apply takes about one.
  const applied = await kv.applyBatch([
    { index: 41, term: 1, type: "normal", data: encodeCommand({ op: "set", kv: { late: 1 } }) },
  ]);
  assert.equal(snapshotDone, false, "the apply waited for the whole snapshot");
  assert.deepEqual(applied, [{ op: "set", ok: true }]);
  assert.equal(await kv.get("late"), 1);
  const s = await snap;
  assert.equal(s.index, 40);
  assert.equal(JSON.parse(s.data).kv.length, 20_000);
  assert.doesNotMatch(s.data, /"late"/);
  // close() waits for a snapshot still being read.
  const again = kv.snapshot();
  await kv.close();
  assert.equal((await again).index, 41);
});

test("a restore interrupted by a crash leaves a void store that reopens empty at applied 0", async (t) => {
  const dir = tempDir(t);
  const a = await openStorage("leveldb", dir);
  await a.kv.applyBatch(sets(1, 30));
  const log = a.log as LeveldbLogStore;
  // What a crash midway through restore() leaves: the marker and part of the new data.
  await log.db.batch([
    { type: "put", key: KEYS.kvRestoring, value: encodeValue(KEYS.kvRestoring, 500) },
    { type: "put", key: kvKey("half"), value: encodeValue(kvKey("half"), 1) },
  ]);
  await a.close();
  const b = await openStorage("leveldb", dir);
  t.after(() => b.close());
  assert.equal(b.kv.applied, 0);
  assert.deepEqual(await b.kv.list({ limit: 10 }), []);
});

test("large restore in chunks, then listing and throughput", async (t) => {
  const log = await LeveldbLogStore.open(tempDir(t));
  t.after(() => log.close());
  const kv = await LeveldbKv.open(log.db);
  const n = 20_000;
  const pairs = Array.from({ length: n }, (_, i) => JSON.stringify([`k${String(i).padStart(6, "0")}`, { i }]));
  await kv.restore(`{"v":1,"kv":[${pairs.join(",")}]}`, 1000);
  assert.equal(kv.applied, 1000);
  assert.deepEqual(await kv.list({ prefix: "k0199", limit: 2, after: "k019997" }), [
    { key: "k019998", value: { i: 19998 } },
    { key: "k019999", value: { i: 19999 } },
  ]);

  const entries = 5000;
  const start = performance.now();
  for (let i = 1001; i <= 1000 + entries; i += 100) await kv.applyBatch(sets(i, i + 99));
  const ms = performance.now() - start;
  t.diagnostic(`applied ${entries} set entries in batches of 100: ${Math.round(entries / (ms / 1000))} entries/s`);
  const t0 = performance.now();
  const s = await kv.snapshot();
  t.diagnostic(
    `snapshot of ${n + 51} keys (${(s.data.length / 1e6).toFixed(1)} MB) in ${Math.round(performance.now() - t0)} ms`,
  );
});

test("memory storage pairs a memory log with a memory kv", async () => {
  const s = await openStorage("memory", "/nonexistent");
  assert.equal(s.log.isNew, true);
  await s.kv.applyBatch(sets(1, 3));
  assert.equal(await s.kv.get("last"), 3);
  await s.close();
});

test("a restore voids the writes still on their way: none of them lands after it", async (t) => {
  const log = await LeveldbLogStore.open(tempDir(t));
  t.after(() => log.close());
  const kv = await LeveldbKv.open(log.db, { writeBehind: { delayMs: 5 } });
  await kv.applyBatch(sets(1, 5));
  const flushing = kv.flush(); // one batch in flight…
  await kv.applyBatch(sets(6, 8)); // …and more pending behind it
  await kv.restore(JSON.stringify({ v: 1, kv: [["only", 1]] }), 100);
  await flushing;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(kv.applied, 100);
  assert.deepEqual(await kv.list({ limit: 10 }), [{ key: "only", value: 1 }]);
  assert.equal(await kv.get("last"), undefined);
  await kv.applyBatch(sets(101, 101));
  await kv.close();
  const again = await LeveldbKv.open(log.db);
  assert.equal(again.applied, 101);
  assert.equal(await again.get("last"), 101);
});
