/**
 * The high-water mark in the store marker file: LevelDB opens a store whose
 * write-ahead log was truncated or deleted as if the lost writes never
 * happened, so open() compares the loaded hard state with the durable commit
 * index, term and vote recorded outside LevelDB and refuses when it is behind.
 * The mark is written in the background at most once per interval (and on
 * close), so it must never refuse a sound store: after conflict truncations,
 * snapshot restores, crashes (a copy taken while open) or with an old marker.
 */

import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import { StorageError } from "../../../node/src/storage/open-level.ts";
import { MARKER_FILE, readMarker } from "../../../node/src/storage/store-marker.ts";
import { entries, snap, tempDir } from "./helpers.ts";

const wals = (dir: string) =>
  readdirSync(dir)
    .filter((n) => /^\d+\.log$/.test(n))
    .map((n) => join(dir, n));

/**
 * A cleanly closed store: 60 entries saved one synced batch each, commit trailing the log by 2;
 * the first 30 are compacted into table files, the rest only in the write-ahead log.
 */
async function closedStore(dir: string): Promise<void> {
  const s = await LeveldbLogStore.open(dir);
  for (let i = 1; i <= 60; i++) {
    const hardState = { term: 2, vote: "a", commit: Math.max(0, i - 2) };
    await s.save({ hardState, entries: entries(i, i, 2, "v".repeat(200)), snapshotRestore: false });
    if (i === 30) {
      // classic-level has compactRange; the `level` facade's types omit it.
      await (s.db as unknown as { compactRange(a: Buffer, b: Buffer): Promise<void> }).compactRange(
        Buffer.from([0]),
        Buffer.from([0xff]),
      );
    }
  }
  await s.close();
}

async function refusal(dir: string): Promise<StorageError> {
  try {
    const s = await LeveldbLogStore.open(dir);
    await s.close();
  } catch (e) {
    assert.ok(e instanceof StorageError, `expected a StorageError, got ${(e as Error).stack}`);
    return e;
  }
  assert.fail("the store was opened");
}

async function opens(dir: string): Promise<void> {
  const s = await LeveldbLogStore.open(dir);
  await s.close();
}

test("a clean close records the final commit, term and vote in the marker", async (t) => {
  const dir = tempDir(t);
  await closedStore(dir);
  const m = await readMarker(dir);
  assert.deepEqual({ commit: m?.commit, term: m?.term, vote: m?.vote }, { commit: 58, term: 2, vote: "a" });
  await opens(dir);
});

test("a deleted or truncated write-ahead log is refused as CORRUPT, naming the directory", async (t) => {
  for (const [what, damage] of [
    ["deleted", (f: string) => unlinkSync(f)],
    ["cut in half", (f: string) => truncateSync(f, Math.floor(readFileSync(f).length / 2))],
    // A tail cut after a clean stop is a loss, not a torn write: the last batch was acknowledged.
    ["last record cut", (f: string) => truncateSync(f, readFileSync(f).length - 5)],
  ] as const) {
    const dir = tempDir(t);
    await closedStore(dir);
    const logs = wals(dir);
    assert.ok(logs.length > 0, "the entries must still be in the write-ahead log");
    for (const f of logs) damage(f);
    const e = await refusal(dir);
    assert.equal(e.code, "CORRUPT", what);
    assert.ok(e.message.includes(dir), `${what}: the message must name the directory: ${e.message}`);
    assert.match(e.message, /acknowledged writes were lost \(its commit index went back\)/, what);
    assert.match(e.message, /recorded commit 58, term 2/, what);
    assert.match(e.message, /refuses to start/, what);
  }
});

test("a lost term or vote is refused", async (t) => {
  const dir = tempDir(t);
  await closedStore(dir);
  const path = join(dir, MARKER_FILE);
  const m = JSON.parse(readFileSync(path, "utf8"));
  // As if the log that held a later term (or another vote in this term) was lost.
  writeFileSync(path, JSON.stringify({ ...m, term: 3, vote: "" }));
  assert.match(
    (await refusal(dir)).message,
    /term went back\): the store holds commit 58, term 2, .*recorded commit 58, term 3/,
  );
  writeFileSync(path, JSON.stringify({ ...m, vote: "b" }));
  assert.match((await refusal(dir)).message, /vote in term 2 changed\): .*vote "a" but .*vote "b"/);
  writeFileSync(path, JSON.stringify(m));
  await opens(dir);
});

test("conflict truncation and snapshot restore move the log back legitimately: never refused", async (t) => {
  const dir = tempDir(t);
  const s = await LeveldbLogStore.open(dir, { markIntervalMs: 0 });
  await s.save({ hardState: { term: 1, vote: "a", commit: 5 }, entries: entries(1, 10, 1), snapshotRestore: false });
  // A new leader replaces the uncommitted tail 7..10 with one entry: the last index goes from 10 to 7.
  await s.save({ hardState: { term: 2, vote: "", commit: 6 }, entries: entries(7, 7, 2), snapshotRestore: false });
  await s.close();
  assert.equal((await readMarker(dir))?.commit, 6);
  await opens(dir);

  const r = await LeveldbLogStore.open(dir, { markIntervalMs: 0 });
  // A snapshot from the leader replaces the whole log.
  await r.save({
    hardState: { term: 3, vote: "", commit: 40 },
    entries: [],
    snapshot: snap(40, 3),
    snapshotRestore: true,
  });
  await r.close();
  const after = await LeveldbLogStore.open(dir);
  const st = await after.load();
  await after.close();
  assert.equal(st?.snapshot?.meta.index, 40);
  assert.deepEqual(st?.entries, []);
  assert.equal((await readMarker(dir))?.commit, 40);
});

test("the mark is amortised: at most one marker write per interval, and it catches up when idle", async (t) => {
  const dir = tempDir(t);
  const s = await LeveldbLogStore.open(dir, { markIntervalMs: 150 });
  t.after(() => s.close());
  const start = performance.now();
  const n = 300;
  for (let i = 1; i <= n; i++) {
    await s.save({
      hardState: { term: 1, vote: "", commit: i - 1 },
      entries: entries(i, i, 1),
      snapshotRestore: false,
    });
  }
  const ms = performance.now() - start;
  const maxWrites = Math.ceil(ms / 150) + 2;
  assert.ok(s.markStats.writes <= maxWrites, `${s.markStats.writes} marker writes for ${n} synced saves in ${ms} ms`);
  assert.ok(s.stats.syncs >= n);
  // No more saves: the pending mark is still written within the interval.
  const deadline = Date.now() + 2000;
  while ((await readMarker(dir))?.commit !== n - 1 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal((await readMarker(dir))?.commit, n - 1);
  t.diagnostic(`${n} synced saves in ${ms.toFixed(0)} ms: ${s.markStats.writes} marker writes`);
});

test("a term or vote change is recorded at once, without waiting for the interval", async (t) => {
  const dir = tempDir(t);
  const s = await LeveldbLogStore.open(dir, { markIntervalMs: 60_000 });
  t.after(() => s.close());
  await s.save({ hardState: { term: 1, vote: "", commit: 0 }, entries: entries(1, 1, 1), snapshotRestore: false });
  await s.save({ hardState: { term: 1, vote: "", commit: 1 }, entries: entries(2, 2, 1), snapshotRestore: false });
  await s.save({ hardState: { term: 2, vote: "b", commit: 1 }, entries: [], snapshotRestore: false });
  const deadline = Date.now() + 2000;
  while ((await readMarker(dir))?.term !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const m = await readMarker(dir);
  assert.deepEqual({ term: m?.term, vote: m?.vote }, { term: 2, vote: "b" });
});

test("saves that need no sync are not recorded until synced (the mark never overstates)", async (t) => {
  const dir = tempDir(t);
  const s = await LeveldbLogStore.open(dir, { markIntervalMs: 0 });
  t.after(() => s.close());
  await s.save({ hardState: { term: 1, vote: "", commit: 0 }, entries: entries(1, 5, 1), snapshotRestore: false });
  await s.save({ hardState: { term: 1, vote: "", commit: 5 }, entries: [], snapshotRestore: false, sync: false });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await readMarker(dir))?.commit, 0, "an unsynced commit may be lost in a power cut");
});

test("a crash image (copied while open, mark trailing) opens; so does a marker of an older build", async (t) => {
  const live = tempDir(t);
  const s = await LeveldbLogStore.open(live, { markIntervalMs: 60_000 });
  for (let i = 1; i <= 30; i++) {
    await s.save({ hardState: { term: 1, vote: "", commit: i }, entries: entries(i, i, 1), snapshotRestore: false });
  }
  const image = tempDir(t);
  cpSync(live, image, { recursive: true });
  await s.close();
  assert.ok(((await readMarker(image))?.commit ?? 0) < 30, "the copy's mark trails its log");
  await opens(image);

  const old = tempDir(t);
  cpSync(live, old, { recursive: true });
  const { format, incarnation } = JSON.parse(readFileSync(join(old, MARKER_FILE), "utf8"));
  writeFileSync(join(old, MARKER_FILE), JSON.stringify({ format, incarnation }));
  await opens(old);
});

test("a marker with a malformed mark is refused as damaged", async (t) => {
  const dir = tempDir(t);
  await closedStore(dir);
  const path = join(dir, MARKER_FILE);
  const m = JSON.parse(readFileSync(path, "utf8"));
  writeFileSync(path, JSON.stringify({ ...m, commit: -1 }));
  const e = await refusal(dir);
  assert.equal(e.code, "CORRUPT");
  assert.match(e.message, /RAFTKV-STORE\.json is damaged/);
});
