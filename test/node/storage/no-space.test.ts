/**
 * A write that meets ENOSPC: the error says NO_SPACE, the database takes no
 * further write from either store (a record after a torn one would turn a
 * harmless torn tail into damage), and once there is room the store reopens
 * with everything that was saved before the failure. The real-disk part needs
 * root (a tiny tmpfs) and is skipped otherwise.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { encodeCommand } from "../../../node/src/kv/command.ts";
import type { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import { dbFailure, poisonDb, StorageError } from "../../../node/src/storage/open-level.ts";
import { openStorage } from "../../../node/src/storage/open-storage.ts";
import { fillDisk, mountTmpfs, tmpfsUnavailable } from "../../cluster/tmpfs.ts";
import { entries, tempDir } from "./helpers.ts";

const setEntry = (index: number, term: number) => ({
  index,
  term,
  type: "normal" as const,
  data: encodeCommand({ op: "set", kv: { [`k${index}`]: "v".repeat(2000) } }),
});

test("after one failed write neither store writes to the database again", async (t) => {
  const dir = tempDir(t);
  const s = await openStorage("leveldb", dir);
  await s.log.save({ hardState: { term: 1, vote: "a", commit: 2 }, entries: entries(1, 2, 1), snapshotRestore: false });
  assert.equal(await s.kv.applyBatch([setEntry(1, 1)]).then((r) => r.length), 1);
  await s.kv.flush();
  const db = (s.log as LeveldbLogStore).db;
  const failure = new StorageError("NO_SPACE", "test: no space");
  poisonDb(db, failure);
  assert.equal(dbFailure(db), failure);
  await assert.rejects(s.log.save({ entries: entries(3, 3, 1), snapshotRestore: false }), failure);
  await assert.rejects(s.kv.applyBatch([setEntry(2, 1)]), failure);
  await s.close();
  const again = await openStorage("leveldb", dir);
  t.after(() => again.close());
  const st = await again.log.load();
  assert.equal(st?.entries.at(-1)?.index, 2, "the refused save left nothing");
  assert.equal(again.kv.applied, 1);
});

test("ENOSPC on a real disk: NO_SPACE, poisoned, and a clean reopen once there is room", {
  skip: tmpfsUnavailable(),
}, async (t) => {
  const dir = mountTmpfs(t, 8, async () => {});
  const ballast = join(dir, "..", "ballast");
  const s = await openStorage("leveldb", dir);
  await s.log.save({ hardState: { term: 1, vote: "a", commit: 0 }, entries: [], snapshotRestore: false });
  fillDisk(ballast, 96 * 1024);
  let saved = 0;
  let failure: unknown;
  for (let i = 1; i <= 400 && failure === undefined; i++) {
    const batch = Array.from({ length: 4 }, (_, k) => setEntry(saved + k + 1, 1));
    try {
      await s.log.save({ hardState: { term: 1, vote: "a", commit: saved }, entries: batch, snapshotRestore: false });
      saved += batch.length;
    } catch (e) {
      failure = e;
    }
  }
  assert.ok(failure instanceof StorageError, `expected a StorageError, got ${String(failure)}`);
  assert.equal(failure.code, "NO_SPACE", failure.message);
  assert.match(failure.message, /No space left on device/);
  assert.ok(saved > 0, "some saves fitted before the disk filled up");
  // Poisoned: the KV store refuses too (with the same failure), and so does any later save.
  await assert.rejects(s.kv.applyBatch([setEntry(1, 1)]), (e) => e === failure);
  await assert.rejects(
    s.log.save({ entries: [], hardState: { term: 2, vote: "", commit: 0 }, snapshotRestore: false }),
  );
  await s.close();

  rmSync(ballast);
  const again = await openStorage("leveldb", dir);
  t.after(() => again.close());
  const st = await again.log.load();
  assert.ok(st, "the store reopens (a torn tail is not damage)");
  assert.ok((st.entries.at(-1)?.index ?? 0) >= saved, `last index ${st.entries.at(-1)?.index} < ${saved} saved`);
  assert.equal(st.hardState.term, 1, "the refused hard state was never written");
  const applied = await again.kv.applyBatch(st.entries.slice(0, 4));
  assert.equal(applied.length, 4);
  await again.log.save({ hardState: { term: 2, vote: "", commit: 4 }, entries: [], snapshotRestore: false });
});
