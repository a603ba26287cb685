/**
 * A damaged store must make open/load fail with a clear error naming the
 * directory, or (where LevelDB recovers by itself) still yield exactly the
 * data written: never an empty or silently different store.
 */

import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { LeveldbKv } from "../../../node/src/kv/leveldb-kv.ts";
import type { PersistedState } from "../../../node/src/raft/types.ts";
import { encodeValue, KEYS, logKey } from "../../../node/src/storage/codec.ts";
import { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import { StorageError } from "../../../node/src/storage/open-level.ts";
import { entries, snap, tempDir } from "./helpers.ts";

/** Builds a closed store with its data compacted into table (.ldb) files. */
async function pristine(dir: string): Promise<PersistedState> {
  const s = await LeveldbLogStore.open(dir);
  await s.save({
    hardState: { term: 2, vote: "b", commit: 300 },
    entries: entries(1, 400, 2, "x".repeat(100)),
    snapshotRestore: false,
  });
  await s.save({ entries: [], snapshot: snap(100, 2), snapshotRestore: false });
  const kv = await LeveldbKv.open(s.db);
  await kv.applyBatch(entries(1, 1, 2).map((e) => ({ ...e, data: '{"op":"set","kv":{"a":1}}' })));
  // classic-level has compactRange; the `level` facade's types omit it.
  await (s.db as unknown as { compactRange(a: Buffer, b: Buffer): Promise<void> }).compactRange(
    Buffer.from([0]),
    Buffer.from([0xff]),
  );
  const state = (await s.load()) as PersistedState;
  await s.close();
  return state;
}

/** Opens and loads; returns the state, or the StorageError (any other error fails the test). */
async function openLoad(dir: string): Promise<PersistedState | null | StorageError> {
  let s: LeveldbLogStore | undefined;
  try {
    s = await LeveldbLogStore.open(dir);
    return await s.load();
  } catch (e) {
    assert.ok(e instanceof StorageError, `expected a StorageError, got ${(e as Error).stack}`);
    assert.ok(e.message.includes(dir), `error must name the directory: ${e.message}`);
    return e;
  } finally {
    await s?.close();
  }
}

function expectRefused(r: unknown, pattern: RegExp, codes = ["CORRUPT"]): void {
  assert.ok(r instanceof StorageError, `expected the store to be refused, got ${JSON.stringify(r)?.slice(0, 200)}`);
  assert.ok(codes.includes(r.code), `code ${r.code}: ${r.message}`);
  assert.match(r.message, pattern);
}

function files(dir: string, re: RegExp): string[] {
  return readdirSync(dir)
    .filter((n) => re.test(n))
    .map((n) => join(dir, n));
}

test("missing CURRENT is refused, not re-created empty", async (t) => {
  const dir = tempDir(t);
  await pristine(dir);
  unlinkSync(join(dir, "CURRENT"));
  expectRefused(await openLoad(dir), /CURRENT file is missing/);
});

test("a truncated MANIFEST is refused", async (t) => {
  const dir = tempDir(t);
  await pristine(dir);
  for (const f of files(dir, /^MANIFEST-/)) truncateSync(f, Math.floor(readFileSync(f).length / 2));
  // LevelDB itself opens this as an empty database; the marker file catches it.
  expectRefused(await openLoad(dir), /corrupt/);
});

test("a missing or truncated table file is refused", async (t) => {
  const base = tempDir(t);
  await pristine(base);
  const ldb = files(base, /\.ldb$/);
  assert.ok(ldb.length > 0, "the data must be in table files");

  const gone = tempDir(t);
  cpSync(base, gone, { recursive: true });
  for (const f of files(gone, /\.ldb$/)) unlinkSync(f);
  expectRefused(await openLoad(gone), /corrupt/);

  const cut = tempDir(t);
  cpSync(base, cut, { recursive: true });
  for (const f of files(cut, /\.ldb$/)) truncateSync(f, Math.floor(readFileSync(f).length / 3));
  // LevelDB reports a short table as an I/O error ("Invalid argument").
  expectRefused(await openLoad(cut), /\.ldb/, ["CORRUPT", "IO"]);
});

test("flipped bytes in table files: refused, or the data is intact", async (t) => {
  const base = tempDir(t);
  const original = await pristine(base);
  const [table] = files(base, /\.ldb$/).map((f) => f.slice(base.length + 1));
  assert.ok(table);
  const size = readFileSync(join(base, table)).length;
  const outcomes = { refused: 0, intact: 0 };
  for (let i = 0; i < 24; i++) {
    const dir = join(base, `..`, `${base.split("/").pop()}-flip${i}`);
    cpSync(base, dir, { recursive: true });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, table);
    const buf = readFileSync(path);
    const at = Math.floor(((i + 0.5) / 24) * size);
    buf[at] = (buf[at] as number) ^ 0x5a;
    writeFileSync(path, buf);
    const r = await openLoad(dir);
    if (r instanceof StorageError) {
      outcomes.refused++;
    } else {
      assert.deepEqual(r, original, `byte ${at} of ${size} changed the data silently`);
      outcomes.intact++;
    }
  }
  t.diagnostic(`24 single-byte flips: ${outcomes.refused} refused, ${outcomes.intact} harmless (data intact)`);
});

/**
 * A closed store whose 50 entries are still only in the write-ahead log; returns the log's path.
 * With `crashed`, `dir` instead holds a copy taken while the store was still open, as a crash
 * leaves it (its high-water mark trails the log: a torn tail there was never acknowledged).
 */
async function walStore(dir: string, crashed?: TestContext): Promise<string> {
  const live = crashed ? tempDir(crashed) : dir;
  const s = await LeveldbLogStore.open(live, { markIntervalMs: 60_000 });
  for (let i = 1; i <= 50; i++) {
    await s.save({ hardState: { term: 1, vote: "", commit: i }, entries: entries(i, i, 1), snapshotRestore: false });
  }
  if (crashed) cpSync(live, dir, { recursive: true });
  await s.close();
  const [wal] = files(dir, /^\d+\.log$/);
  assert.ok(wal);
  return wal;
}

test("a flipped byte in the middle of the write-ahead log is refused", async (t) => {
  for (const [where, fraction] of [
    ["data", 0.6],
    ["early", 0.1],
  ] as const) {
    const dir = tempDir(t);
    const wal = await walStore(dir);
    const buf = readFileSync(wal);
    const at = Math.floor(buf.length * fraction);
    buf[at] = (buf[at] as number) ^ 0xff;
    writeFileSync(wal, buf);
    // LevelDB alone would drop the damaged record and everything after it in its block.
    expectRefused(await openLoad(dir), /damaged at byte \d+ and intact records follow/);
    t.diagnostic(`${where}: refused`);
  }
});

test("a torn last write (truncated or garbage tail) is accepted as a consistent prefix", async (t) => {
  // A torn write comes from a crash: the store was not closed (a clean close records the final mark).
  const cut = tempDir(t);
  const wal = await walStore(cut, t);
  truncateSync(wal, readFileSync(wal).length - 5);
  const a = await openLoad(cut);
  assert.ok(a && !(a instanceof StorageError), "a torn tail must not block the node");
  assert.deepEqual(a.entries, entries(1, 49, 1));
  assert.equal(a.hardState.commit, 49);

  const junk = tempDir(t);
  const wal2 = await walStore(junk);
  writeFileSync(wal2, Buffer.concat([readFileSync(wal2), Buffer.from("\x13\x37garbage after the last record")]));
  const b = await openLoad(junk);
  assert.ok(b && !(b instanceof StorageError));
  assert.deepEqual(b.entries, entries(1, 50, 1));
});

test("logical damage is detected: bad checksum, gap, commit beyond the log, missing incarnation", async (t) => {
  const cases: Array<[string, (db: LeveldbLogStore["db"]) => Promise<void>, RegExp]> = [
    [
      "bad checksum",
      (db) => db.put(logKey(200), `00000000${JSON.stringify(entries(200, 200, 2)[0])}`),
      /checksum mismatch in value of key log!200/,
    ],
    ["not JSON", (db) => db.put(KEYS.hardState, "garbage!"), /checksum/],
    ["gap", (db) => db.del(logKey(250)), /gap: entry 251 follows entry 249/],
    [
      "entry under the wrong key",
      (db) => db.put(logKey(260), encodeValue(logKey(260), entries(261, 261, 2)[0])),
      /has index 261/,
    ],
    [
      "commit beyond the log",
      (db) => db.put(KEYS.hardState, encodeValue(KEYS.hardState, { term: 2, vote: "", commit: 999 })),
      /commit 999 is beyond the last stored index 400/,
    ],
    ["missing incarnation", (db) => db.del(KEYS.incarnation), /incarnation is missing/],
    ["half a snapshot", (db) => db.del(KEYS.snapFile), /snapshot meta and data/],
    [
      "snapshot file missing",
      async (db) => {
        for (const f of readdirSync(join(db.location, "snapshots"))) unlinkSync(join(db.location, "snapshots", f));
      },
      /snapshot file snapshots\/\d+-[0-9a-f]{8}\.snap is missing/,
    ],
    [
      "snapshot file damaged",
      async (db) => {
        for (const f of readdirSync(join(db.location, "snapshots"))) {
          const p = join(db.location, "snapshots", f);
          const b = readFileSync(p);
          const i = Math.floor(b.length / 2);
          b[i] = (b[i] as number) ^ 1;
          writeFileSync(p, b);
        }
      },
      /snapshot file .* is damaged/,
    ],
    [
      "snapshot file truncated",
      async (db) => {
        for (const f of readdirSync(join(db.location, "snapshots"))) truncateSync(join(db.location, "snapshots", f), 3);
      },
      /snapshot file .* is damaged \(3 bytes/,
    ],
    [
      "snapshot file reference malformed",
      (db) => db.put(KEYS.snapFile, encodeValue(KEYS.snapFile, { file: "../../etc/passwd", bytes: 1, crc: 1 })),
      /snapshot file reference .* is malformed/,
    ],
  ];
  for (const [name, damage, pattern] of cases) {
    const dir = tempDir(t);
    await pristine(dir);
    const s = await LeveldbLogStore.open(dir);
    await damage(s.db);
    await s.close();
    const r = await openLoad(dir);
    assert.ok(r instanceof StorageError, `${name}: not detected`);
    assert.match(r.message, pattern, name);
    assert.match(r.message, /refuses to start/, name);
  }
});

test("a damaged KV value is reported, not returned", async (t) => {
  const dir = tempDir(t);
  await pristine(dir);
  const s = await LeveldbLogStore.open(dir);
  t.after(() => s.close());
  await s.db.put(Buffer.from("kv!a"), encodeValue(Buffer.from("kv!b"), 1));
  const kv = await LeveldbKv.open(s.db);
  await assert.rejects(kv.get("a"), (e: StorageError) => e.code === "CORRUPT" && /checksum/.test(e.message));
});
