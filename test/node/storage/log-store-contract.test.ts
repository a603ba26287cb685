/** The LogStore contract, checked against LevelDB (real, in a temp dir) and memory. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import type { LogStore } from "../../../node/src/storage/log-store.ts";
import { MemoryLogStore } from "../../../node/src/storage/memory-log-store.ts";
import { entries, snap, tempDir } from "./helpers.ts";

const kinds: Array<[string, (dir: string) => Promise<LogStore>]> = [
  ["leveldb", (dir) => LeveldbLogStore.open(dir)],
  ["memory", (dir) => MemoryLogStore.open(dir)],
];

const hs = (term: number, commit: number, vote = "") => ({ term, vote, commit });

for (const [kind, open] of kinds) {
  describe(`${kind} log store`, () => {
    async function fresh(t: import("node:test").TestContext): Promise<LogStore> {
      const s = await open(tempDir(t));
      t.after(() => s.close());
      return s;
    }

    test("a new store has an incarnation and loads as null", async (t) => {
      const s = await fresh(t);
      assert.equal(s.isNew, true);
      assert.match(s.incarnation, /^[0-9a-f-]{36}$/);
      assert.equal(await s.load(), null);
    });

    test("round trip of hard state and entries", async (t) => {
      const s = await fresh(t);
      await s.save({ hardState: hs(2, 3, "b"), entries: entries(1, 5, 2), snapshotRestore: false });
      assert.deepEqual(await s.load(), {
        incarnation: s.incarnation,
        hardState: hs(2, 3, "b"),
        entries: entries(1, 5, 2),
      });
    });

    test("a blank hard state alone counts as saved", async (t) => {
      const s = await fresh(t);
      await s.save({ hardState: hs(0, 0), entries: [], snapshotRestore: false });
      assert.deepEqual(await s.load(), { incarnation: s.incarnation, hardState: hs(0, 0), entries: [] });
    });

    test("entries replace a conflicting tail, deleting what follows", async (t) => {
      const s = await fresh(t);
      await s.save({ hardState: hs(1, 2), entries: entries(1, 6, 1), snapshotRestore: false });
      await s.save({ hardState: hs(2, 2), entries: entries(3, 4, 2, "new"), snapshotRestore: false });
      const got = await s.load();
      assert.deepEqual(got?.entries, [...entries(1, 2, 1), ...entries(3, 4, 2, "new")]);
      await s.save({ entries: entries(5, 5, 2), snapshotRestore: false });
      assert.equal((await s.load())?.entries.length, 5);
    });

    test("malformed requests reject without changing anything", async (t) => {
      const s = await fresh(t);
      await s.save({ hardState: hs(1, 0), entries: entries(1, 3, 1), snapshotRestore: false });
      await assert.rejects(s.save({ entries: entries(5, 6, 1), snapshotRestore: false }), /gap/);
      await assert.rejects(
        s.save({ entries: [...entries(4, 4, 1), ...entries(6, 6, 1)], snapshotRestore: false }),
        /jump/,
      );
      await assert.rejects(
        s.save({ hardState: hs(1, 9), entries: [], snapshotRestore: false }),
        /beyond the last index 3/,
      );
      await assert.rejects(
        s.save({ entries: [{ index: 4, term: 1, type: "bogus" as "noop", data: "" }], snapshotRestore: false }),
        /unknown type/,
      );
      // The store is still usable and unchanged.
      await s.save({ hardState: hs(1, 4), entries: entries(4, 4, 1), snapshotRestore: false });
      assert.deepEqual((await s.load())?.entries, entries(1, 4, 1));
    });

    test("a local snapshot compacts the entries up to its index", async (t) => {
      const s = await fresh(t);
      await s.save({ hardState: hs(1, 10), entries: entries(1, 10, 1), snapshotRestore: false });
      await s.save({ entries: [], snapshot: snap(6, 1), snapshotRestore: false });
      const got = await s.load();
      assert.deepEqual(got?.snapshot, snap(6, 1));
      assert.deepEqual(got?.entries, entries(7, 10, 1));
      await assert.rejects(s.save({ entries: [], snapshot: snap(4, 1), snapshotRestore: false }), /older/);
      // Entries already inside the snapshot are skipped, the rest appended.
      await s.save({ entries: entries(5, 11, 1), snapshotRestore: false });
      assert.deepEqual((await s.load())?.entries, entries(7, 11, 1));
    });

    test("a restored snapshot deletes every entry, before or after it", async (t) => {
      const s = await fresh(t);
      await s.save({ hardState: hs(1, 5), entries: entries(1, 10, 1), snapshotRestore: false });
      await s.save({ hardState: hs(3, 8), entries: [], snapshot: snap(8, 2), snapshotRestore: true });
      let got = await s.load();
      assert.deepEqual(got?.entries, []);
      assert.equal(got?.snapshot?.meta.index, 8);
      await assert.rejects(s.save({ entries: entries(10, 10, 3), snapshotRestore: false }), /gap/);
      await s.save({ entries: entries(9, 9, 3), snapshotRestore: false });
      // Beyond the end of the log, with entries in the same request.
      await s.save({ hardState: hs(4, 20), entries: entries(21, 22, 4), snapshot: snap(20, 4), snapshotRestore: true });
      got = await s.load();
      assert.deepEqual(got?.entries, entries(21, 22, 4));
      assert.deepEqual(got?.hardState, hs(4, 20));
    });

    test("returned state does not alias stored state", async (t) => {
      const s = await fresh(t);
      const es = entries(1, 2, 1);
      await s.save({ hardState: hs(1, 1), entries: es, snapshotRestore: false });
      (es[0] as { data: string }).data = "mutated";
      const a = await s.load();
      (a?.entries[1] as { data: string }).data = "mutated too";
      assert.deepEqual((await s.load())?.entries, entries(1, 2, 1));
    });
  });
}
