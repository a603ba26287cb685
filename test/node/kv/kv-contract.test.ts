/** The KvStore contract, checked against memory and real LevelDB, plus cross-store equality. */

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { type Command, encodeCommand } from "../../../node/src/kv/command.ts";
import type { KvStore } from "../../../node/src/kv/kv-store.ts";
import { LeveldbKv } from "../../../node/src/kv/leveldb-kv.ts";
import { MemoryKv } from "../../../node/src/kv/memory-kv.ts";
import type { Entry } from "../../../node/src/raft/types.ts";
import { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import { tempDir } from "../storage/helpers.ts";

async function leveldbKv(t: TestContext): Promise<KvStore> {
  const log = await LeveldbLogStore.open(tempDir(t));
  const kv = await LeveldbKv.open(log.db);
  t.after(async () => {
    await kv.close();
    await log.close();
  });
  return kv;
}

const kinds: Array<[string, (t: TestContext) => Promise<KvStore>]> = [
  ["memory", async () => new MemoryKv()],
  ["leveldb", leveldbKv],
];

/** Numbers commands into normal entries starting at `from`. */
function ents(from: number, ...cmds: Array<Command | string>): Entry[] {
  return cmds.map((c, i) => ({
    index: from + i,
    term: 1,
    type: "normal",
    data: typeof c === "string" ? c : encodeCommand(c),
  }));
}

for (const [kind, make] of kinds) {
  describe(`${kind} kv`, () => {
    test("set, get, del and results", async (t) => {
      const kv = await make(t);
      const r = await kv.applyBatch(
        ents(1, { op: "set", kv: { a: 1, b: { x: [true] } } }, { op: "del", keys: ["a", "zz", "a"] }),
      );
      assert.deepEqual(r, [
        { op: "set", ok: true },
        { op: "del", ok: true, deleted: 1 },
      ]);
      assert.equal(await kv.get("a"), undefined);
      assert.deepEqual(await kv.get("b"), { x: [true] });
      assert.equal(kv.applied, 2);
    });

    test("cas: absent, match, mismatch, delete; later entries see earlier ones in the same batch", async (t) => {
      const kv = await make(t);
      const r = await kv.applyBatch(
        ents(
          1,
          { op: "cas", key: "k", expect: null, value: { v: 1, w: 2 } },
          { op: "cas", key: "k", expect: null, value: 9 },
          { op: "cas", key: "k", expect: { w: 2, v: 1 }, value: "two" },
          { op: "cas", key: "k", expect: "nope", del: true },
          { op: "cas", key: "k", expect: "two", del: true },
          { op: "cas", key: "k", expect: "two", value: 1 },
        ),
      );
      assert.deepEqual(r, [
        { op: "cas", ok: true, current: { v: 1, w: 2 } },
        { op: "cas", ok: false, current: { v: 1, w: 2 } },
        { op: "cas", ok: true, current: "two" },
        { op: "cas", ok: false, current: "two" },
        { op: "cas", ok: true, current: null },
        { op: "cas", ok: false, current: null },
      ]);
      assert.equal(await kv.get("k"), undefined);
    });

    test("noop/config entries, invalid commands and replays only move `applied`", async (t) => {
      const kv = await make(t);
      const batch: Entry[] = [
        { index: 1, term: 1, type: "noop", data: "" },
        { index: 2, term: 1, type: "config", data: "{}" },
        ...ents(3, "{not json", '{"op":"set","kv":{"a":null}}', { op: "set", kv: { a: 1 } }),
      ];
      const r = await kv.applyBatch(batch);
      assert.deepEqual(
        r.map((x) => x.op),
        ["none", "none", "invalid", "invalid", "set"],
      );
      assert.equal(kv.applied, 5);
      // Already-applied entries are skipped; a gap is a bug.
      assert.deepEqual(await kv.applyBatch(ents(5, { op: "set", kv: { a: 2 } })), [{ op: "none", ok: true }]);
      assert.equal(await kv.get("a"), 1);
      await assert.rejects(kv.applyBatch(ents(7, { op: "set", kv: { a: 3 } })), /out of order/);
    });

    test("list: prefix, limit, after, byte order", async (t) => {
      const kv = await make(t);
      const keys = ["user/b", "user/a", "user/ab", "user0", "user/😀", "user/\uE000", "a", "user/"];
      await kv.applyBatch(ents(1, { op: "set", kv: Object.fromEntries(keys.map((k, i) => [k, i])) }));
      const ls = async (o: { prefix?: string; limit: number; after?: string }) => (await kv.list(o)).map((x) => x.key);
      assert.deepEqual(await ls({ prefix: "user/", limit: 10 }), [
        "user/",
        "user/a",
        "user/ab",
        "user/b",
        "user/\uE000",
        "user/😀",
      ]);
      assert.deepEqual(await ls({ prefix: "user/", limit: 2, after: "user/a" }), ["user/ab", "user/b"]);
      assert.deepEqual(await ls({ prefix: "user/", limit: 10, after: "a" }), await ls({ prefix: "user/", limit: 10 }));
      assert.deepEqual(await ls({ prefix: "user/", limit: 10, after: "user/😀" }), []);
      assert.deepEqual(await ls({ limit: 3 }), ["a", "user/", "user/a"]);
      assert.deepEqual((await kv.list({ prefix: "user0", limit: 5 }))[0], { key: "user0", value: 3 });
      assert.deepEqual(await ls({ limit: 0 }), []);
      assert.equal((await ls({ limit: Number.POSITIVE_INFINITY })).length, keys.length);
    });

    test("snapshot and restore round trip", async (t) => {
      const kv = await make(t);
      await kv.applyBatch(
        ents(1, { op: "set", kv: { b: [1, { c: "d" }], a: "x", "😀": 1 } }, { op: "del", keys: ["a"] }),
      );
      const s = await kv.snapshot();
      assert.equal(s.index, 2);
      const other = await make(t);
      await other.applyBatch(ents(1, { op: "set", kv: { stale: 1 } }));
      await other.restore(s.data, s.index);
      assert.equal(other.applied, 2);
      assert.equal(await other.get("stale"), undefined);
      assert.deepEqual(await other.list({ limit: 10 }), await kv.list({ limit: 10 }));
      assert.equal((await other.snapshot()).data, s.data);
      await assert.rejects(other.restore('{"v":2,"kv":[]}', 5), /unknown format/);
      await assert.rejects(other.restore('{"v":1,"kv":[["b",1],["a",2]]}', 5), /not sorted/);
      assert.equal(other.applied, 2, "a rejected restore changes nothing");
    });
  });
}

test("memory and leveldb agree on results and snapshot bytes for the same log", async (t) => {
  const a = new MemoryKv();
  const b = await leveldbKv(t);
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const key = () => ["k", "kk", "k/é", "k/😀", "k/\uE000", "z"][rand(6)] + String(rand(20));
  let index = 1;
  for (let batch = 0; batch < 40; batch++) {
    const cmds: Command[] = [];
    for (let i = 0; i < 1 + rand(10); i++) {
      const r = rand(4);
      if (r === 0) cmds.push({ op: "set", kv: { [key()]: rand(5), [key()]: { n: rand(3) } } });
      else if (r === 1) cmds.push({ op: "del", keys: [key(), key()] });
      else if (r === 2) cmds.push({ op: "cas", key: key(), expect: rand(2) ? null : rand(5), value: rand(5) });
      else cmds.push({ op: "cas", key: key(), expect: { n: rand(3) }, del: true });
    }
    const es = ents(index, ...cmds);
    index += es.length;
    assert.deepEqual(await b.applyBatch(es), await a.applyBatch(es));
  }
  assert.equal((await b.snapshot()).data, (await a.snapshot()).data);
  assert.deepEqual(await b.list({ prefix: "k/", limit: 1000 }), await a.list({ prefix: "k/", limit: 1000 }));
});
