/** The applies behind the run loop (server/apply-pipeline.ts): order, batching, failure and restore. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeCommand } from "../../../node/src/kv/command.ts";
import type { ApplyResult, KvStore } from "../../../node/src/kv/kv-store.ts";
import { MemoryKv } from "../../../node/src/kv/memory-kv.ts";
import { silentLogger } from "../../../node/src/log.ts";
import { encodeMemberRecord, MembershipBook } from "../../../node/src/membership-book.ts";
import type { Entry } from "../../../node/src/raft/types.ts";
import { ApplyPipeline, type ApplyPipelineDeps } from "../../../node/src/server/apply-pipeline.ts";
import { wrapSnapshot } from "../../../node/src/server/snapshot-envelope.ts";
import { AppliedWaiters, ProposalWaiters } from "../../../node/src/server/waiters.ts";

const set = (index: number, k: string, v: number): Entry => ({
  index,
  term: 1,
  type: "normal",
  data: encodeCommand({ op: "set", kv: { [k]: v } }),
});

/** A MemoryKv whose applies wait for `open()` and that records each batch it is given. */
class GatedKv extends MemoryKv {
  batches: number[][] = [];
  fail: Error | undefined;
  #gate: Promise<void> = Promise.resolve();
  #open: () => void = () => {};
  hold(): void {
    this.#gate = new Promise((r) => (this.#open = r));
  }
  open(): void {
    this.#open();
  }
  override async applyBatch(entries: readonly Entry[]): Promise<ApplyResult[]> {
    this.batches.push(entries.map((e) => e.index));
    await this.#gate;
    if (this.fail) throw this.fail;
    return super.applyBatch(entries);
  }
}

function pipeline(kv: KvStore, over: Partial<ApplyPipelineDeps> = {}) {
  const seen = { bytes: 0, restored: 0, configs: [] as Array<[number, boolean]>, failed: [] as Error[] };
  const book = new MembershipBook();
  const proposals = new ProposalWaiters();
  const appliedWaiters = new AppliedWaiters();
  const p = new ApplyPipeline({
    kv,
    book,
    logger: silentLogger,
    proposals,
    appliedWaiters,
    applied: 0,
    onApplied: (b) => {
      seen.bytes += b;
    },
    onRestored: () => void seen.restored++,
    onConfig: (i, r) => void seen.configs.push([i, r]),
    onFailed: (e) => void seen.failed.push(e),
    ...over,
  });
  return { p, seen, book, proposals, appliedWaiters };
}

test("entries handed over while an apply runs join one batch, in order; waiters are released", async () => {
  const kv = new GatedKv();
  const { p, seen, proposals, appliedWaiters } = pipeline(kv);
  const es = [set(1, "a", 1), set(2, "a", 2), set(3, "b", 3), set(4, "c", 4), set(5, "a", 5)];
  const w2 = proposals.wait(2, 1, 5000);
  const r5 = appliedWaiters.wait(5, p.applied);
  kv.hold();
  p.queue(es.slice(0, 1));
  await new Promise((r) => setImmediate(r));
  p.queue(es.slice(1, 3));
  p.queue(es.slice(3, 4));
  p.queue(es.slice(4));
  kv.open();
  await p.drained();
  assert.deepEqual(kv.batches, [[1], [2, 3, 4, 5]], "the first batch was taken; the rest waited together");
  assert.equal(p.applied, 5);
  assert.equal(await kv.get("a"), 5, "applied in order: the last write of a wins");
  assert.deepEqual(await w2, { op: "set", ok: true });
  await r5;
  assert.equal(
    seen.bytes,
    es.reduce((n, e) => n + e.data.length, 0),
    "the snapshot schedule counts every byte",
  );
  assert.deepEqual(seen.configs, []);
  assert.deepEqual(seen.failed, []);
});

test("an apply starts only after the promise chains queued with it have run (answers given at commit leave first)", async () => {
  const kv = new GatedKv();
  const { p } = pipeline(kv);
  const order: string[] = [];
  const applyBatch = kv.applyBatch.bind(kv);
  kv.applyBatch = (entries) => {
    order.push("apply");
    return applyBatch(entries);
  };
  // As a Ready does: answers resolved (a chain of several hops before the socket write), then the queue.
  let chain: Promise<unknown> = Promise.resolve();
  for (let hop = 0; hop < 12; hop++) chain = chain.then(() => {});
  void chain.then(() => order.push("answer written"));
  p.queue([set(1, "a", 1)]);
  p.queue([set(2, "a", 2)]);
  await p.drained();
  assert.deepEqual(order, ["answer written", "apply"]);
  assert.deepEqual(kv.batches, [[1, 2]], "entries queued in the same turn are one batch");
});

test("a batch never grows past 64 entries", async () => {
  const kv = new GatedKv();
  const { p } = pipeline(kv);
  kv.hold();
  p.queue([set(1, "k", 1)]);
  await new Promise((r) => setImmediate(r));
  for (let i = 2; i <= 150; i++) p.queue([set(i, "k", i)]);
  kv.open();
  await p.drained();
  assert.deepEqual(
    kv.batches.map((b) => b.length),
    [1, 64, 64, 21],
  );
  assert.deepEqual(
    kv.batches.flat(),
    Array.from({ length: 150 }, (_, i) => i + 1),
  );
  assert.equal(p.applied, 150);
});

test("member entries reach the book and config entries are reported with the applied index", async () => {
  const { p, seen, book } = pipeline(new MemoryKv());
  const member: Entry = {
    index: 1,
    term: 1,
    type: "normal",
    data: encodeMemberRecord("n2", { raftAddr: "n2:1", httpUrl: "http://n2", voter: true }),
  };
  const config: Entry = { index: 2, term: 1, type: "config", data: JSON.stringify({ type: "addVoter", id: "n2" }) };
  p.queue([member, config]);
  await p.drained();
  assert.equal(book.replicated("n2")?.raftAddr, "n2:1");
  assert.deepEqual(seen.configs, [[2, false]]);
});

test("a failed apply stops the node once and leaves applied where it was", async () => {
  const kv = new GatedKv();
  const { p, seen, proposals } = pipeline(kv);
  const w = proposals.wait(1, 1, 5000);
  kv.fail = new Error("disk gone");
  p.queue([set(1, "a", 1)]);
  await assert.rejects(p.drained(), /disk gone/);
  assert.equal(seen.failed.length, 1);
  assert.equal(p.applied, 0);
  proposals.rejectAll(new Error("stopped"));
  await assert.rejects(w, /stopped/);
});

test("a snapshot restore sets applied, rejects waiters it replaced and reports the new membership", async () => {
  const { p, seen, book, proposals, appliedWaiters } = pipeline(new MemoryKv());
  const w3 = proposals.wait(3, 1, 5000);
  const w9 = proposals.wait(9, 1, 5000);
  const r7 = appliedWaiters.wait(7, p.applied);
  const src = new MemoryKv();
  await src.applyBatch([set(1, "x", 42)]);
  const kvData = (await src.snapshot()).data;
  const data = wrapSnapshot({ book: { n3: { raftAddr: "n3:1", httpUrl: "http://n3", voter: true } }, kv: kvData });
  await p.restore(data, 7);
  assert.equal(p.applied, 7);
  await r7;
  await assert.rejects(w3, /snapshot replaced/);
  assert.equal(seen.restored, 1);
  assert.deepEqual(seen.configs, [[7, true]]);
  assert.equal(book.replicated("n3")?.raftAddr, "n3:1");
  proposals.rejectAll(new Error("done"));
  await assert.rejects(w9, /done/);
});
