/** Snapshot data in files beside the LevelDB: written before the batch that points to them, checked at open. */

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { decodeValue, encodeValue, KEYS } from "../../../node/src/storage/codec.ts";
import { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import {
  readSnapshotFile,
  SLICE_CHARS,
  snapshotFileRef,
  writeSnapshotFile,
  writeSnapshotText,
} from "../../../node/src/storage/snapshot-files.ts";
import { entries, snap, tempDir } from "./helpers.ts";

const files = (dir: string) => (existsSync(join(dir, "snapshots")) ? readdirSync(join(dir, "snapshots")).sort() : []);

test("a snapshot's data goes to a file, not LevelDB; older files go once a newer snapshot is saved", async (t) => {
  const dir = tempDir(t);
  const a = await LeveldbLogStore.open(dir);
  await a.save({ hardState: { term: 2, vote: "", commit: 30 }, entries: entries(1, 30, 2), snapshotRestore: false });
  await a.save({ entries: [], snapshot: snap(10, 2, "x".repeat(100_000)), snapshotRestore: false });
  assert.equal(files(dir).length, 1);
  assert.match(files(dir)[0] as string, /^10-[0-9a-f]{8}\.snap$/);
  assert.equal(await a.db.get(KEYS.snapData), undefined);
  await a.save({ entries: [], snapshot: snap(20, 2, "y".repeat(1000)), snapshotRestore: false });
  // The older file is removed in the background.
  for (let i = 0; i < 100 && files(dir).length > 1; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(
    files(dir).map((f) => f.split("-")[0]),
    ["20"],
  );
  await a.close();
  const b = await LeveldbLogStore.open(dir);
  t.after(() => b.close());
  const st = await b.load();
  assert.equal(st?.snapshot?.meta.index, 20);
  assert.equal(st?.snapshot?.data, "y".repeat(1000));
  assert.equal(st?.entries[0]?.index, 21);
});

test("prepareSnapshot writes the file ahead, and the save's batch then carries only its reference", async (t) => {
  const dir = tempDir(t);
  const s = await LeveldbLogStore.open(dir);
  t.after(() => s.close());
  await s.save({ hardState: { term: 1, vote: "", commit: 5 }, entries: entries(1, 5, 1), snapshotRestore: false });
  const sn = snap(5, 1, "z".repeat(2_000_000));
  await s.prepareSnapshot(5, sn.data);
  assert.equal(files(dir).length, 1, "the file is there before the save");
  let batchChars = 0;
  const batch = s.db.batch.bind(s.db) as unknown as (ops: Array<{ value?: string }>, o: unknown) => Promise<void>;
  (s.db as unknown as { batch: typeof batch }).batch = (ops, o) => {
    for (const op of ops) batchChars += op.value?.length ?? 0;
    return batch(ops, o);
  };
  await s.save({ entries: [], snapshot: sn, snapshotRestore: false });
  assert.ok(batchChars < 1000, `the batch carried ${batchChars} characters`);
  const ref = decodeValue(KEYS.snapFile, (await s.db.get(KEYS.snapFile)) as string) as { bytes: number };
  assert.equal(ref.bytes, 2_000_000);
  assert.equal(files(dir).length, 1);
});

test("a store that kept its snapshot in LevelDB loads it, and the next snapshot moves to a file", async (t) => {
  const dir = tempDir(t);
  const a = await LeveldbLogStore.open(dir);
  await a.save({ hardState: { term: 1, vote: "", commit: 9 }, entries: entries(1, 9, 1), snapshotRestore: false });
  await a.save({ entries: [], snapshot: snap(4, 1, "legacy state"), snapshotRestore: false });
  // As stores written before snapshot files have it: the data under snap!data, no file.
  await a.db.batch(
    [
      { type: "del", key: KEYS.snapFile },
      { type: "put", key: KEYS.snapData, value: encodeValue(KEYS.snapData, "legacy state") },
    ],
    { sync: true },
  );
  rmSync(join(dir, "snapshots"), { recursive: true });
  await a.close();
  const b = await LeveldbLogStore.open(dir);
  t.after(() => b.close());
  assert.equal((await b.load())?.snapshot?.data, "legacy state");
  await b.save({ entries: [], snapshot: snap(8, 1, "new state"), snapshotRestore: false });
  assert.equal(await b.db.get(KEYS.snapData), undefined);
  assert.equal((await b.load())?.snapshot?.data, "new state");
});

test("files no reference names (a crash between the file and its batch) are removed at open", async (t) => {
  const dir = tempDir(t);
  const a = await LeveldbLogStore.open(dir);
  await a.save({ hardState: { term: 1, vote: "", commit: 9 }, entries: entries(1, 9, 1), snapshotRestore: false });
  await a.save({ entries: [], snapshot: snap(6, 1), snapshotRestore: false });
  await a.prepareSnapshot(9, "never saved");
  writeFileSync(join(dir, "snapshots", "9-00000000.snap.tmp"), "half");
  assert.equal(files(dir).length, 3);
  await a.close();
  const b = await LeveldbLogStore.open(dir);
  t.after(() => b.close());
  assert.deepEqual(
    files(dir).map((f) => f.split("-")[0]),
    ["6"],
  );
  assert.equal((await b.load())?.snapshot?.meta.index, 6);
});

test("a batch that points to a new snapshot file is synced even when the save asked for no sync", async (t) => {
  const s = await LeveldbLogStore.open(tempDir(t));
  t.after(() => s.close());
  await s.save({ hardState: { term: 1, vote: "", commit: 5 }, entries: entries(1, 5, 1), snapshotRestore: false });
  const before = s.stats.syncs;
  // Older files are removed after this batch: were it lost in a power cut, the reference left would
  // name a removed file.
  await s.save({ entries: [], snapshot: snap(5, 1), snapshotRestore: false, sync: false });
  assert.equal(s.stats.syncs, before + 1);
});

test("a file still being written ahead survives the cleanup after another snapshot's save", async (t) => {
  const dir = tempDir(t);
  const a = await LeveldbLogStore.open(dir);
  await a.save({ hardState: { term: 1, vote: "", commit: 9 }, entries: entries(1, 9, 1), snapshotRestore: false });
  const big = "b".repeat(20_000_000);
  const ahead = a.prepareSnapshot(9, big);
  // Saved (and cleaned up after) while the big file is still being written.
  await a.save({ entries: [], snapshot: snap(5, 1, "small"), snapshotRestore: false });
  await ahead;
  await a.save({ entries: [], snapshot: snap(9, 1, big), snapshotRestore: false });
  await a.close();
  const b = await LeveldbLogStore.open(dir);
  t.after(() => b.close());
  const st = await b.load();
  assert.equal(st?.snapshot?.meta.index, 9);
  assert.equal(st?.snapshot?.data.length, big.length);
  assert.deepEqual(
    files(dir).map((f) => f.split("-")[0]),
    ["9"],
  );
});

test("a snapshot written ahead in slices has the bytes and reference of one written whole, characters across slice edges included", async (t) => {
  const dir = tempDir(t);
  // A surrogate pair straddling the first slice edge, multi-byte characters around the second.
  const edge = SLICE_CHARS - 1;
  const data = `${"a".repeat(edge)}😀${"é".repeat(SLICE_CHARS - 3)}€中${"z".repeat(1000)}`;
  assert.equal(data.charCodeAt(edge) >= 0xd800 && data.charCodeAt(edge) <= 0xdbff, true);
  const names: string[] = [];
  const ref = await writeSnapshotText(dir, 7, data, "7-1.ahead.tmp", names);
  assert.deepEqual(ref, snapshotFileRef(7, data).ref);
  assert.deepEqual(names, ["7-1.ahead.tmp", ref.file], "both names were announced, the temporary one first");
  assert.deepEqual(files(dir), [ref.file]);
  assert.equal(await readSnapshotFile(dir, ref), data);
  const whole = tempDir(t);
  await writeSnapshotFile(whole, ref, Buffer.from(data, "utf8"));
  assert.deepEqual(readFileSync(join(dir, "snapshots", ref.file)), readFileSync(join(whole, "snapshots", ref.file)));
});
