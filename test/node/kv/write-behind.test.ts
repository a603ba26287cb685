/**
 * WriteBehind on its own, with a batch writer the test controls: reads see the newest write, one batch is
 * written at a time and in order, flush waits for exactly what came before it, limits start a batch at
 * once and hold the caller while one is written, a failure stops everything, discard forgets.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type PendingWrite,
  pendingValue,
  pendingWrite,
  WriteBehind,
  type WriteBehindOptions,
} from "../../../node/src/kv/write-behind.ts";

/** A writer whose batches complete when the test says so. */
function controlledWriter() {
  const batches: Array<{ keys: Record<string, unknown>; index: number; done: () => void; fail: (e: Error) => void }> =
    [];
  const write = (batch: ReadonlyMap<string, PendingWrite>, index: number) =>
    new Promise<void>((resolve, reject) => {
      const keys: Record<string, unknown> = {};
      for (const [k, w] of batch) keys[k] = pendingValue(w);
      batches.push({ keys, index, done: resolve, fail: reject });
    });
  return { batches, write };
}

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function behind(o: Partial<WriteBehindOptions> = {}) {
  const w = controlledWriter();
  return { ...w, wb: new WriteBehind(w.write, 0, { delayMs: 5, ...o }) };
}

test("pending values: objects as fresh copies, primitives as they are, deletes as undefined", () => {
  const o = { a: [1] };
  const w = pendingWrite(o);
  o.a.push(2);
  const v1 = pendingValue(w) as { a: number[] };
  assert.deepEqual(v1, { a: [1] }, "the caller's later change is not seen");
  v1.a.push(3);
  assert.deepEqual(pendingValue(w), { a: [1] }, "nor a reader's");
  assert.equal(pendingValue(pendingWrite(null)), null);
  assert.equal(pendingValue(pendingWrite(0)), 0);
  assert.equal(pendingValue(pendingWrite("")), "");
  assert.equal(pendingValue(pendingWrite(undefined)), undefined);
  assert.equal(pendingWrite(undefined).json, undefined);
});

test("writes are readable at once; after the delay one batch carries them all, with the last index", async () => {
  const { wb, batches } = behind();
  assert.equal(wb.add([["a", pendingWrite(1)]], 1), undefined);
  assert.equal(
    wb.add(
      [
        ["b", pendingWrite(2)],
        ["a", pendingWrite(3)],
      ],
      2,
    ),
    undefined,
  );
  assert.equal(wb.add([], 3), undefined, "an apply that wrote nothing still moves the index");
  assert.equal(pendingValue(wb.lookup("a") as PendingWrite), 3);
  assert.equal(wb.lookup("c"), undefined);
  assert.equal(batches.length, 0);
  await sleep(30);
  assert.equal(batches.length, 1);
  assert.deepEqual(batches[0], { ...batches[0], keys: { a: 3, b: 2 }, index: 3 });
  // In flight: still readable, not yet durable.
  assert.equal(pendingValue(wb.lookup("b") as PendingWrite), 2);
  assert.equal(wb.durable, 0);
  batches[0]?.done();
  await tick();
  assert.equal(wb.durable, 3);
  assert.equal(wb.lookup("a"), undefined, "LevelDB holds it now");
  assert.equal(wb.size, 0);
});

test("one batch at a time, in order; a newer pending value hides the one in flight", async () => {
  const { wb, batches } = behind();
  wb.add([["k", pendingWrite("v1")]], 1);
  await sleep(20);
  assert.equal(batches.length, 1);
  wb.add([["k", pendingWrite(undefined)]], 2);
  assert.equal(pendingValue(wb.lookup("k") as PendingWrite), undefined, "the delete is newer");
  assert.notEqual(wb.lookup("k"), undefined, "and is a pending write, not a miss");
  await sleep(30);
  assert.equal(batches.length, 1, "the second batch waits for the first");
  batches[0]?.done();
  await tick();
  // Its delay ran out meanwhile, so the next batch starts as soon as the first lands.
  assert.equal(batches.length, 2);
  assert.deepEqual(batches[1]?.keys, { k: undefined });
  assert.equal(batches[1]?.index, 2);
  batches[1]?.done();
  await tick();
  assert.equal(wb.durable, 2);
});

test("flush waits for what came before it, not for writes added meanwhile", async () => {
  const { wb, batches } = behind({ delayMs: 60_000 });
  wb.add([["a", pendingWrite(1)]], 1);
  let flushed = false;
  const f = wb.flush().then(() => {
    flushed = true;
  });
  await tick();
  assert.equal(batches.length, 1, "flush starts the batch at once");
  wb.add([["b", pendingWrite(2)]], 2);
  batches[0]?.done();
  await f;
  assert.ok(flushed);
  assert.equal(wb.durable, 1);
  assert.equal(batches.length, 1, "the later write waits for its own delay");
  assert.equal(pendingValue(wb.lookup("b") as PendingWrite), 2);
  const g = wb.flush();
  await tick();
  batches[1]?.done();
  await g;
  assert.equal(wb.durable, 2);
  await wb.flush(); // nothing pending: at once
});

test("the limits start a batch at once, and hold the caller while a batch is written", async () => {
  const { wb, batches } = behind({ delayMs: 60_000, maxKeys: 3, maxBytes: 1000 });
  assert.equal(
    wb.add(
      [
        ["a", pendingWrite(1)],
        ["b", pendingWrite(1)],
      ],
      1,
    ),
    undefined,
  );
  assert.equal(batches.length, 0);
  assert.equal(wb.add([["c", pendingWrite(1)]], 2), undefined, "full, nothing in flight: starts, no wait");
  assert.equal(batches.length, 1);
  assert.equal(wb.add([["d", pendingWrite(1)]], 3), undefined);
  const held = wb.add([["e", pendingWrite("x".repeat(2000))]], 4);
  assert.ok(held instanceof Promise, "full by bytes while a batch is in flight: the caller waits");
  let released = false;
  void held.then(() => {
    released = true;
  });
  await tick();
  assert.equal(released, false);
  batches[0]?.done();
  await tick();
  assert.ok(released);
  assert.equal(batches.length, 2, "and the next batch has started");
  assert.deepEqual(Object.keys(batches[1]?.keys ?? {}), ["d", "e"]);
  batches[1]?.done();
  await wb.flush();
  assert.equal(wb.durable, 4);
});

test("a failed batch stops it: flush rejects, add throws, what was applied stays readable", async () => {
  const { wb, batches } = behind();
  wb.add([["a", pendingWrite(1)]], 1);
  const f = wb.flush();
  await tick();
  batches[0]?.fail(new Error("disk gone"));
  await assert.rejects(f, /disk gone/);
  await assert.rejects(wb.flush(), /disk gone/);
  assert.throws(() => wb.add([["b", pendingWrite(2)]], 2), /disk gone/);
  assert.equal(pendingValue(wb.lookup("a") as PendingWrite), 1);
  assert.equal(wb.durable, 0);
  await sleep(20);
  assert.equal(batches.length, 1, "nothing more is written");
});

test("discard waits for the batch in flight, then forgets the rest and takes the new durable index", async () => {
  const { wb, batches } = behind({ delayMs: 60_000 });
  wb.add([["a", pendingWrite(1)]], 1);
  void wb.flush();
  await tick();
  wb.add([["b", pendingWrite(2)]], 2);
  let discarded = false;
  const d = wb.discard(50).then(() => {
    discarded = true;
  });
  await tick();
  assert.equal(discarded, false, "the batch in flight lands first");
  batches[0]?.done();
  await d;
  assert.equal(wb.lookup("b"), undefined);
  assert.equal(wb.size, 0);
  assert.equal(wb.durable, 50);
  await wb.flush();
  assert.equal(batches.length, 1);
});
