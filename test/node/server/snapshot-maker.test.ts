/** Making snapshots (server/snapshot-maker.ts) on a real core and KV store: one at a time, held back, dropped. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeCommand } from "../../../node/src/kv/command.ts";
import type { KvSnapshot } from "../../../node/src/kv/kv-store.ts";
import { MemoryKv } from "../../../node/src/kv/memory-kv.ts";
import { createLogger } from "../../../node/src/log.ts";
import { MembershipBook } from "../../../node/src/membership-book.ts";
import { RaftCore } from "../../../node/src/raft/core.ts";
import { Progress } from "../../../node/src/raft/progress.ts";
import { localSnapshotBook, unwrapSnapshot } from "../../../node/src/server/snapshot-envelope.ts";
import { SnapshotMaker, type SnapshotMakerDeps } from "../../../node/src/server/snapshot-maker.ts";
import { MemoryLogStore } from "../../../node/src/storage/memory-log-store.ts";

/** A MemoryKv counting snapshot reads, whose next read can report a later index (the state moved on). */
class CountingKv extends MemoryKv {
  reads = 0;
  skew = 0;
  override async snapshot(): Promise<KvSnapshot> {
    this.reads++;
    const s = await super.snapshot();
    return { ...s, index: s.index + this.skew };
  }
}

/** A CountingKv that says its data survives a restart (KvStore.persist), counting the syncs asked for. */
class DurableKv extends CountingKv {
  persists = 0;
  persistSkew = 0;
  async persist(): Promise<number> {
    this.persists++;
    return this.applied + this.persistSkew;
  }
}

/** A single-voter core that leads, with `n` writes committed and applied to `kv`. */
function leaderWith(kv: MemoryKv, n: number): RaftCore {
  const persisted = RaftCore.bootstrap("inc-a", { voters: { a: "inc-a" }, learners: {} });
  const core = new RaftCore({ id: "a", seed: 1, electionTicks: 3, heartbeatTicks: 1 }, persisted);
  const settle = () => {
    while (core.hasReady()) {
      const rd = core.ready();
      kv.applySync(rd.committed);
      core.advance(rd);
    }
  };
  for (let i = 0; i < 50 && core.state !== "leader"; i++) {
    core.tick();
    settle();
  }
  assert.equal(core.state, "leader");
  for (let i = 0; i < n; i++) {
    assert.ok(core.propose(encodeCommand({ op: "set", kv: { [`k${i}`]: i } })).ok);
    settle();
  }
  assert.equal(kv.applied, core.log.applied);
  return core;
}

/** Proposes `n` more sets of keys `<prefix><i>` on the single-voter `core` and applies them to `kv`. */
function writeMore(core: RaftCore, kv: MemoryKv, prefix: string, n: number): void {
  for (let i = 0; i < n; i++) assert.ok(core.propose(encodeCommand({ op: "set", kv: { [`${prefix}${i}`]: i } })).ok);
  while (core.hasReady()) {
    const rd = core.ready();
    kv.applySync(rd.committed);
    core.advance(rd);
  }
}

/** The index of the snapshot the core holds (read through a call, so narrowing does not stick). */
const snapIndex = (c: RaftCore): number | undefined => c.snapshot?.meta.index;

function maker(over: Partial<SnapshotMakerDeps> & { core: RaftCore; kv: MemoryKv }) {
  const loop: Array<() => void> = [];
  const lines: Array<Record<string, unknown>> = [];
  let tail: Promise<void> = Promise.resolve();
  const book = new MembershipBook();
  book.apply({ op: "member", id: "a", raftAddr: "a:1", httpUrl: "http://a", voter: true });
  const m = new SnapshotMaker({
    book,
    log: new MemoryLogStore(),
    logger: createLogger("info", {}, (l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
    policy: { threshold: 5, logRatio: 0, maxLogBytes: Number.POSITIVE_INFINITY },
    applied: () => over.kv.applied,
    chain: (f) => {
      tail = tail.then(f);
    },
    toLoop: (f) => void loop.push(f),
    ...over,
  });
  /** Lets the chain and the snapshot's promises run, then runs what reached the loop. */
  const run = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    await tail;
    for (const f of loop.splice(0)) f();
  };
  return { m, run, lines };
}

test("a due snapshot is made once, compacted by the loop, and carries the book", async () => {
  const kv = new CountingKv();
  const core = leaderWith(kv, 8);
  const { m, run, lines } = maker({ core, kv });
  m.maybe(kv.applied);
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.reads, 1, "a second request while one is being made starts nothing");
  assert.equal(snapIndex(core), kv.applied);
  const parts = unwrapSnapshot(core.snapshot?.data ?? "");
  assert.equal(parts.book.a?.raftAddr, "a:1");
  assert.ok(lines.some((l) => l.msg === "created snapshot"));
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.reads, 1, "not due again until SNAPSHOT_THRESHOLD more entries");
});

test("below the threshold, or while the disk is low, nothing starts", async () => {
  const kv = new CountingKv();
  const core = leaderWith(kv, 2);
  const few = maker({ core, kv });
  few.m.maybe(kv.applied);
  await few.run();
  assert.equal(kv.reads, 0);
  const kv2 = new CountingKv();
  const core2 = leaderWith(kv2, 8);
  const low = maker({ core: core2, kv: kv2, diskLow: () => true });
  low.m.maybe(kv2.applied);
  await low.run();
  assert.equal(kv2.reads, 0);
  assert.equal(snapIndex(core2), undefined);
});

test("a snapshot that no longer matches its index, or whose file write fails, is dropped and the next one can start", async () => {
  const kv = new CountingKv();
  const core = leaderWith(kv, 8);
  let diskFull = true;
  const log = Object.assign(new MemoryLogStore(), {
    prepareSnapshot: () => (diskFull ? Promise.reject(new Error("disk full")) : Promise.resolve()),
  });
  const { m, run, lines } = maker({ core, kv, log });
  kv.skew = 1;
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.reads, 1);
  assert.equal(snapIndex(core), undefined, "the KV state moved on: not used");
  kv.skew = 0;
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.reads, 2, "the dropped snapshot did not leave the maker busy");
  assert.equal(snapIndex(core), undefined, "nothing compacts without its file");
  assert.ok(lines.some((l) => l.msg === "snapshot failed"));
  diskFull = false;
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.reads, 3, "the failed write did not leave the maker busy");
  assert.equal(snapIndex(core), kv.applied);
});

test("on a durable store a due snapshot is local: the store syncs, nothing is serialised, the book is kept", async () => {
  const kv = new DurableKv();
  const core = leaderWith(kv, 8);
  const { m, run, lines } = maker({ core, kv });
  m.maybe(kv.applied);
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.persists, 1, "one sync, and a second request while one is being made starts nothing");
  assert.equal(kv.reads, 0, "the store is not read");
  assert.equal(snapIndex(core), kv.applied);
  assert.equal(core.snapshot?.local, true);
  assert.equal(localSnapshotBook(core.snapshot?.data ?? "")?.a?.raftAddr, "a:1", "the book is in the snapshot");
  assert.throws(() => unwrapSnapshot(core.snapshot?.data ?? ""), /does not start with raftkv-snap\/1/);
  assert.ok(!lines.some((l) => l.msg === "created snapshot"));
  // A sync that reports another index (the state moved on) is not used.
  writeMore(core, kv, "x", 6);
  const before = snapIndex(core);
  kv.persistSkew = 1;
  m.maybe(kv.applied);
  await run();
  assert.equal(snapIndex(core), before, "dropped");
  kv.persistSkew = 0;
  m.maybe(kv.applied);
  await run();
  assert.equal(snapIndex(core), kv.applied, "the next one is made");
});

test("a follower that wants a snapshot gets a full one at once, whatever the policy; then local ones resume", async () => {
  const kv = new DurableKv();
  const core = leaderWith(kv, 8);
  const { m, run, lines } = maker({ core, kv });
  m.maybe(kv.applied);
  await run();
  assert.equal(core.snapshot?.local, true);
  core.snapshotWanted = true;
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.reads, 1, "the store was serialised, below the threshold");
  assert.equal(core.snapshot?.local, undefined);
  assert.equal(core.snapshotWanted, false);
  assert.equal(unwrapSnapshot(core.snapshot?.data ?? "").book.a?.raftAddr, "a:1");
  assert.ok(lines.some((l) => l.msg === "created snapshot"));
  writeMore(core, kv, "y", 6);
  m.maybe(kv.applied);
  await run();
  assert.equal(core.snapshot?.local, true, "the next due snapshot is local again");
  assert.equal(kv.reads, 1);
});

test("while the leader sends a snapshot, local compaction waits (up to a bound), so the follower can catch up from the log", async () => {
  const kv = new DurableKv();
  const core = leaderWith(kv, 8);
  const { m, run } = maker({ core, kv });
  const pr = new Progress(1, undefined);
  pr.state = "snapshot";
  core.prs.set("b", pr);
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.persists, 0, "held back while b receives a snapshot");
  // Eight thresholds (of 5 entries) of log later it compacts anyway.
  writeMore(core, kv, "z", 40);
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.persists, 1);
  assert.equal(snapIndex(core), kv.applied);
});

test("the hold-back while a snapshot is sent also ends once the log since the last snapshot reaches maxLogBytes", async () => {
  const kv = new DurableKv();
  const core = leaderWith(kv, 8);
  const { m, run } = maker({ core, kv, policy: { threshold: 5, logRatio: 0, maxLogBytes: 100_000 } });
  const pr = new Progress(1, undefined);
  pr.state = "snapshot";
  core.prs.set("b", pr);
  m.applied(90_000); // with the few hundred bytes of the entries already in the log
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.persists, 0, "held back below the byte bound");
  m.applied(10_000);
  m.maybe(kv.applied);
  await run();
  assert.equal(kv.persists, 1, "compacted at the byte bound, well before eight thresholds of entries");
});
