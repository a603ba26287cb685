/** The work queue's guarantees, on a manual clock: dedupe, one worker per key, delays, backoff, shutdown. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Clock, WorkQueue } from "../../../operator/src/controller/work-queue.ts";

/** A clock that moves only when told; timers fire in due order. */
class ManualClock implements Clock {
  private t = 1_000_000;
  private seq = 0;
  readonly timers = new Map<number, { due: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { due: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.timers].filter(([, x]) => x.due <= end).sort((a, b) => a[1].due - b[1].due)[0];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].due);
      next[1].fn();
    }
    this.t = end;
  }
}

/** Takes every key ready now without waiting. */
async function drain(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const k = await q.get();
    if (k !== undefined) out.push(k);
  }
  return out;
}

test("add dedupes keys that are waiting, and keeps order", async () => {
  const q = new WorkQueue({ clock: new ManualClock() });
  q.add("a");
  q.add("b");
  q.add("a");
  q.add("c");
  q.add("b");
  assert.equal(q.len(), 3);
  assert.deepEqual(await drain(q), ["a", "b", "c"]);
});

test("a key in process is not handed out again until done, then exactly once more", async () => {
  const q = new WorkQueue({ clock: new ManualClock() });
  q.add("a");
  assert.equal(await q.get(), "a");
  q.add("a");
  q.add("a");
  q.add("b");
  assert.equal(q.len(), 1, "only b is ready while a is in process");
  assert.equal(await q.get(), "b");
  let second: string | undefined | null = null;
  void q.get().then((k) => {
    second = k;
  });
  await Promise.resolve();
  assert.equal(second, null, "a second worker waits instead of getting a");
  q.done("a");
  await Promise.resolve();
  assert.equal(second, "a");
  q.done("a");
  q.done("b");
  assert.equal(q.len(), 0);
  assert.equal(q.inProcess(), 0);
});

test("done without a re-add does not queue the key", async () => {
  const q = new WorkQueue({ clock: new ManualClock() });
  q.add("a");
  const k = await q.get();
  assert.equal(k, "a");
  q.done("a");
  assert.equal(q.len(), 0);
  q.done("never-handed-out");
  assert.equal(q.len(), 0);
});

test("a waiting get() is woken by add", async () => {
  const q = new WorkQueue({ clock: new ManualClock() });
  const p = q.get();
  q.add("x");
  assert.equal(await p, "x");
  assert.equal(q.inProcess(), 1);
});

test("two waiting workers get two different keys", async () => {
  const q = new WorkQueue({ clock: new ManualClock() });
  const p1 = q.get();
  const p2 = q.get();
  q.add("x");
  q.add("x");
  q.add("y");
  assert.deepEqual(await Promise.all([p1, p2]), ["x", "y"]);
});

test("addAfter holds a key until its time; the earliest of several delays wins", async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock });
  q.addAfter("a", 1000);
  q.addAfter("b", 500);
  q.addAfter("a", 3000);
  assert.equal(q.len(), 0);
  assert.equal(q.delayed(), 2);
  clock.advance(499);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.deepEqual(await drain(q), ["b"]);
  clock.advance(499);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.deepEqual(await drain(q), ["a"]);
  assert.equal(q.delayed(), 0);
  assert.equal(clock.timers.size, 0, "no timer is left behind");
});

test("an earlier addAfter replaces a later one", async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock });
  q.addAfter("a", 5000);
  q.addAfter("a", 100);
  clock.advance(100);
  assert.deepEqual(await drain(q), ["a"]);
  clock.advance(10_000);
  assert.equal(q.len(), 0, "the replaced delay does not fire a second time");
});

test("addAfter with zero or a negative delay adds at once", () => {
  const q = new WorkQueue({ clock: new ManualClock() });
  q.addAfter("a", 0);
  q.addAfter("b", -5);
  assert.equal(q.len(), 2);
});

test("a delayed key that comes due while the key is in process waits for done", async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock });
  q.add("a");
  assert.equal(await q.get(), "a");
  q.addAfter("a", 100);
  clock.advance(100);
  assert.equal(q.len(), 0);
  q.done("a");
  assert.deepEqual(await drain(q), ["a"]);
});

test("addRateLimited backs off exponentially from 200 ms to 60 s; forget resets it", async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock });
  const waits: number[] = [];
  for (let i = 0; i < 12; i++) {
    q.addRateLimited("k");
    const start = clock.now();
    while (q.len() === 0) clock.advance(10);
    waits.push(clock.now() - start);
    assert.equal(await q.get(), "k");
    q.done("k");
  }
  assert.deepEqual(waits, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000]);
  assert.equal(q.numRequeues("k"), 12);
  q.forget("k");
  assert.equal(q.numRequeues("k"), 0);
  q.addRateLimited("k");
  clock.advance(199);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.equal(q.len(), 1);
});

test("backoff is per key", async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock, baseDelayMs: 10, maxDelayMs: 1000 });
  for (let i = 0; i < 5; i++) q.addRateLimited("slow");
  q.addRateLimited("fast");
  clock.advance(10);
  assert.deepEqual(await drain(q), ["slow", "fast"], "the first failure of slow was due at 10 ms");
  assert.equal(q.numRequeues("slow"), 5);
  assert.equal(q.numRequeues("fast"), 1);
  assert.equal(q.backoffMs(100), 1000);
});

test("shutDown wakes waiting workers with undefined, drops pending keys and refuses new ones", async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock });
  const w1 = q.get();
  const w2 = q.get();
  q.add("a");
  assert.equal(await w1, "a");
  q.addAfter("b", 1000);
  q.add("c");
  assert.equal(await w2, "c");
  q.add("d");
  q.shutDown();
  assert.equal(q.isShuttingDown(), true);
  assert.equal(await q.get(), undefined);
  q.add("e");
  q.addAfter("f", 1);
  q.addRateLimited("g");
  clock.advance(120_000);
  assert.equal(q.len(), 0);
  assert.equal(clock.timers.size, 0);
  q.done("a");
  q.done("c");
  assert.equal(q.len(), 0, "keys re-added before shutdown are not queued by done");
});

test("works on the real clock", async () => {
  const q = new WorkQueue({ baseDelayMs: 5 });
  const t0 = Date.now();
  q.addAfter("a", 30);
  assert.equal(await q.get(), "a");
  assert.ok(Date.now() - t0 >= 25);
  q.done("a");
  q.shutDown();
});
