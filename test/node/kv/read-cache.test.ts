/** The read cache on its own: LRU order, the byte bound, generations, lazy parsing and freezing. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { deepFreeze, ENTRY_OVERHEAD, MISS, ReadCache } from "../../../node/src/kv/read-cache.ts";

/** Bytes one entry counts for. */
const cost = (key: string, json: string | undefined) => key.length + (json?.length ?? 0) + ENTRY_OVERHEAD;

test("a write is read back; an absent key is cached as undefined; others miss", () => {
  const c = new ReadCache(1 << 20);
  c.write("a", 1, "1");
  c.write("gone", undefined, undefined);
  assert.equal(c.read("a"), 1);
  assert.equal(c.read("gone"), undefined);
  assert.equal(c.read("other"), MISS);
  assert.equal(c.bytes, cost("a", "1") + cost("gone", undefined));
});

test("the least recently used entry goes first, and a read counts as use", () => {
  const c = new ReadCache(3 * cost("k0", '"x"'));
  for (const k of ["k0", "k1", "k2"]) c.write(k, "x", '"x"');
  assert.equal(c.read("k0"), "x"); // k1 is now the oldest
  c.write("k3", "x", '"x"');
  assert.equal(c.read("k1"), MISS);
  for (const k of ["k0", "k2", "k3"]) assert.equal(c.read(k), "x");
  assert.equal(c.size, 3);
  assert.equal(c.bytes, 3 * cost("k0", '"x"'));
});

test("the byte bound holds: a big entry evicts as many as it needs; one larger than the bound is not kept", () => {
  const max = 1000;
  const c = new ReadCache(max);
  for (let i = 0; i < 10; i++) c.write(`k${i}`, i, String(i));
  assert.equal(c.size, 10);
  const big = `"${"b".repeat(600)}"`;
  c.write("big", "b".repeat(600), big);
  assert.ok(c.bytes <= max, `${c.bytes} > ${max}`);
  assert.equal(c.read("big"), "b".repeat(600));
  assert.equal(c.read("k0"), MISS);
  assert.equal(c.read("k9"), 9);
  // Too large for the cache: the key's old entry goes too, so no older value can be read.
  const huge = `"${"h".repeat(max)}"`;
  c.write("k9", "h".repeat(max), huge);
  assert.equal(c.read("k9"), MISS);
  assert.equal(c.fill("k9", "h".repeat(max), huge.length, c.generation), "h".repeat(max));
  assert.equal(c.read("k9"), MISS);
  assert.ok(c.bytes <= max);
});

test("a bound of 0 caches nothing", () => {
  const c = new ReadCache(0);
  c.write("a", 1, "1");
  const v = { x: 1 };
  assert.equal(c.fill("b", v, 7, c.generation), v);
  assert.ok(!Object.isFrozen(v), "nothing cached, nothing frozen");
  assert.equal(c.read("a"), MISS);
  assert.equal(c.read("b"), MISS);
  assert.equal(c.size, 0);
});

test("a fill is refused once the generation moved (touched or cleared)", () => {
  const c = new ReadCache(1 << 20);
  const g = c.generation;
  c.touched();
  c.fill("a", 1, 1, g);
  assert.equal(c.read("a"), MISS);
  const g2 = c.generation;
  c.clear();
  c.fill("a", 1, 1, g2);
  assert.equal(c.read("a"), MISS);
  c.fill("a", 1, 1, c.generation);
  assert.equal(c.read("a"), 1);
});

test("an apply's object is kept as text (never shared), parsed and frozen on its first read", () => {
  const c = new ReadCache(1 << 20);
  const mine = { a: [1, { b: 2 }] };
  c.write("k", mine, JSON.stringify(mine));
  mine.a.push(3);
  const got = c.read("k") as { a: [number, { b: number }] };
  assert.deepEqual(got, { a: [1, { b: 2 }] });
  assert.ok(Object.isFrozen(got) && Object.isFrozen(got.a) && Object.isFrozen(got.a[1]));
  assert.equal(c.read("k"), got, "parsed once");
  assert.ok(!Object.isFrozen(mine));
});

test("a filled object is frozen all the way down and returned frozen", () => {
  const c = new ReadCache(1 << 20);
  const v = c.fill("k", { a: { b: [{ c: 1 }] } }, 20, c.generation) as { a: { b: Array<{ c: number }> } };
  assert.ok(Object.isFrozen(v) && Object.isFrozen(v.a.b) && Object.isFrozen(v.a.b[0]));
  assert.throws(() => {
    (v.a.b[0] as { c: number }).c = 2;
  }, TypeError);
  assert.deepEqual(c.read("k"), { a: { b: [{ c: 1 }] } });
});

test("deepFreeze copes with nesting far beyond the stack", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  const frozen = deepFreeze(deep as never) as unknown[];
  assert.ok(Object.isFrozen(frozen) && Object.isFrozen(frozen[0]));
});
