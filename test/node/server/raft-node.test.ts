/** The run loop in process: group commit, proposal results, reads, snapshots and restart without replay. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { encodeCommand } from "../../../node/src/kv/command.ts";
import { silentLogger } from "../../../node/src/log.ts";
import { MembershipBook } from "../../../node/src/membership-book.ts";
import { RaftCore } from "../../../node/src/raft/core.ts";
import type { Message } from "../../../node/src/raft/types.ts";
import type { RaftNode } from "../../../node/src/server/raft-node.ts";
import { recoverState } from "../../../node/src/server/recover.ts";
import { localSnapshotBook } from "../../../node/src/server/snapshot-envelope.ts";
import { type NodeStorage, openStorage } from "../../../node/src/storage/open-storage.ts";
import { RaftTransport } from "../../../node/src/transport/raft-transport.ts";
import { startNode } from "./node-harness.ts";

async function oneNode(
  t: TestContext,
  storage: NodeStorage,
  snapshotThreshold = 1000,
  ratio: { snapshotLogRatio?: number; snapshotMaxLogBytes?: number } = {},
): Promise<RaftNode> {
  const stored = await storage.log.load();
  const book = new MembershipBook();
  const inc = storage.log.incarnation;
  let persisted = stored ? await recoverState(stored, storage.kv, book, silentLogger) : undefined;
  if (!persisted) {
    persisted = RaftCore.bootstrap(inc, { voters: { a: inc }, learners: {} });
    await storage.log.save({ hardState: persisted.hardState, entries: persisted.entries, snapshotRestore: false });
  }
  const transport = new RaftTransport({
    self: { id: "a", raftAddr: "127.0.0.1:1", httpUrl: "" },
    secret: undefined,
    clusterId: "c",
    resolve: () => undefined,
    logger: silentLogger,
  });
  const node = startNode(t, storage, persisted, transport, { book, snapshotThreshold, ...ratio });
  t.after(() => transport.close());
  const end = Date.now() + 2000;
  while (node.core.state !== "leader" && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.equal(node.core.state, "leader");
  return node;
}

const set = (k: string, v: number) => encodeCommand({ op: "set", kv: { [k]: v } });

/** Node a's storage (memory), bootstrapped with voters a and b; b is a bare core that persists at once. */
async function aWithBareB(): Promise<{ storage: NodeStorage; b: RaftCore }> {
  const storage = await openStorage("memory", "");
  const incA = storage.log.incarnation;
  const voters = { voters: { a: incA, b: "inc-b" }, learners: {} };
  const boot = RaftCore.bootstrap(incA, voters);
  await storage.log.save({ hardState: boot.hardState, entries: boot.entries, snapshotRestore: false });
  const b = new RaftCore(
    { id: "b", seed: 2, electionTicks: 1000, heartbeatTicks: 1 },
    RaftCore.bootstrap("inc-b", voters),
  );
  return { storage, b };
}

/** Steps the bare core b with the messages addressed to it; returns what it sends back. */
function stepB(b: RaftCore, msgs: readonly Message[]): Message[] {
  for (const m of msgs) if (m.to === "b") b.step(m);
  const out: Message[] = [];
  while (b.hasReady()) {
    const rd = b.ready();
    out.push(...rd.messages);
    b.advance(rd);
  }
  return out;
}

test("concurrent proposals share synced writes and each gets its own result", async (t) => {
  const storage = await openStorage("memory", "");
  const node = await oneNode(t, storage);
  const before = storage.log.stats.saves;
  const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => node.propose(set(`k${i}`, i))));
  const saves = storage.log.stats.saves - before;
  assert.ok(saves < 50, `200 proposals took ${saves} saves`);
  assert.deepEqual(new Set(rs.map((r) => r.index)).size, 200);
  assert.ok(rs.every((r) => r.result.op === "set" && r.result.ok));
  await node.readBarrier();
  assert.equal(await node.kv.get("k199"), 199);
  const del = await node.propose(encodeCommand({ op: "del", keys: ["k1", "nope"] }));
  assert.deepEqual(del.result, { op: "del", ok: true, deleted: 1 });
});

test("snapshots on LevelDB are local and carry the book; a restart resumes from the applied index without replay", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "raftkv-node-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s1 = await openStorage("leveldb", dir);
  const t1 = { after: (f: () => Promise<void>) => t.after(f) } as unknown as TestContext;
  const n1 = await oneNode(t1, s1, 20);
  await n1.proposeMember("a", { raftAddr: "a.svc:1", httpUrl: "http://a.svc", voter: true });
  for (let i = 0; i < 50; i++) await n1.propose(set(`k${i}`, i));
  const end = Date.now() + 2000;
  while ((n1.core.snapshot?.meta.index ?? 0) === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.ok((n1.core.snapshot?.meta.index ?? 0) > 0, "a snapshot was taken");
  const applied = n1.applied;
  await n1.stop();
  await s1.close();

  const s2 = await openStorage("leveldb", dir);
  const stored = await s2.log.load();
  assert.ok(stored?.snapshot);
  const book = new MembershipBook();
  assert.ok(localSnapshotBook(stored.snapshot.data), "the stored snapshot holds only the book");
  const st = await recoverState(stored, s2.kv, book, silentLogger);
  assert.equal(st.applied, applied, "resumes at the persisted applied index");
  assert.equal(st.snapshot?.local, true, "the core knows it cannot send it");
  assert.equal(book.replicated("a")?.raftAddr, "a.svc:1");
  const core = new RaftCore({ id: "a", seed: 1 }, st);
  assert.equal(core.ready().committed.length, 0, "nothing is replayed");
  // A local snapshot beyond what the KV data reflects cannot be resumed from: refused, not guessed.
  const ahead = { ...stored.snapshot, meta: { ...stored.snapshot.meta, index: s2.kv.applied + 1 } };
  await assert.rejects(recoverState({ ...stored, snapshot: ahead }, s2.kv, new MembershipBook(), silentLogger, dir), {
    name: "StorageError",
    code: "CORRUPT",
    message: new RegExp(`compacted to index ${s2.kv.applied + 1} but the KV data reflects only index ${s2.kv.applied}`),
  });
  await s2.close();
});

/** Proposes `n` sets of fresh keys with `bytes`-long values, one after another; the snapshot index after each. */
async function snapshotIndexes(node: RaftNode, from: number, n: number, bytes: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = from; i < from + n; i++) {
    await node.propose(encodeCommand({ op: "set", kv: { [`key${i}`]: "v".repeat(bytes) } }));
    // The snapshot starts behind the applies and lands in a later cycle.
    for (let k = 0; k < 50 && node.core.snapshot === undefined; k++) await new Promise((r) => setImmediate(r));
    seen.push(node.core.snapshot?.meta.index ?? 0);
  }
  return seen;
}

test("with a log ratio, snapshots wait until the log since the last one outgrows it (fresh keys: doubling)", async (t) => {
  const storage = await openStorage("memory", "");
  const node = await oneNode(t, storage, 10, { snapshotLogRatio: 1 });
  const idx = await snapshotIndexes(node, 0, 400, 100);
  await new Promise((r) => setTimeout(r, 50));
  const taken = [...new Set([...idx, node.core.snapshot?.meta.index ?? 0])].filter((i) => i > 0);
  // Every key is new, so each snapshot holds all keys so far: the n-th needs about as many entries
  // since the one before as that one held, so there are O(log n) of them, not 400/10.
  t.diagnostic(`snapshots at ${taken.join(", ")}`);
  assert.ok(taken.length >= 3 && taken.length <= 10, `snapshots at ${taken.join(", ")}`);
  for (let i = 1; i < taken.length; i++) {
    const gap = (taken[i] as number) - (taken[i - 1] as number);
    assert.ok(gap >= 0.8 * (taken[i - 1] as number), `gap ${gap} after the snapshot at ${taken[i - 1]}`);
  }
});

test("without a ratio a snapshot follows every SNAPSHOT_THRESHOLD entries; the byte cap overrides the ratio", async (t) => {
  const plain = await oneNode(t, await openStorage("memory", ""), 10);
  const a = new Set(await snapshotIndexes(plain, 0, 200, 100));
  t.diagnostic(`snapshot indexes: every ${[...a].join(", ")}`);
  assert.ok(a.size >= 15, `${a.size} distinct snapshot indexes`);
  const capped = await oneNode(t, await openStorage("memory", ""), 10, {
    snapshotLogRatio: 1000,
    snapshotMaxLogBytes: 2000,
  });
  const b = new Set(await snapshotIndexes(capped, 0, 200, 100));
  // 2000 bytes are about 15 entries of ~130 bytes: a snapshot every ~15 entries despite the ratio.
  t.diagnostic(`snapshot indexes with the cap: ${[...b].join(", ")}`);
  assert.ok(b.size >= 8, `${b.size} distinct snapshot indexes`);
});

test("an answer given at commit does not wait for the write of the Ready that commits it", async (t) => {
  // Node a runs for real (memory storage); its one peer b is a bare core that persists at once, and the
  // test decides when b's answers reach a.
  const { storage, b } = await aWithBareB();
  let hold = false;
  const held: Message[] = [];
  let node: RaftNode | undefined;
  // While held, b's acknowledgements of appends wait; its heartbeat answers pass (a keeps its quorum).
  const fromB = (msgs: Message[]) => {
    const pass = hold ? msgs.filter((m) => m.type !== "appResp") : msgs;
    if (hold) held.push(...msgs.filter((m) => m.type === "appResp"));
    if (pass.length > 0) node?.deliver(pass);
  };
  const transport = {
    send(msgs: readonly Message[]) {
      const out = stepB(b, msgs);
      // Answers travel in a later turn, as over a socket.
      setImmediate(() => fromB(out));
    },
    flush() {},
  } as unknown as RaftTransport;
  const dataA = set("ka", 1);
  const dataB = set("kb", 2);
  // Saves that carry B's entry wait for the gate.
  let openGate: () => void = () => {};
  const gate = new Promise<void>((r) => (openGate = r));
  const save = storage.log.save.bind(storage.log);
  storage.log.save = async (req) => {
    if (req.entries.some((e) => e.data === dataB)) await gate;
    return save(req);
  };
  const stored = await storage.log.load();
  assert.ok(stored);
  t.after(() => {
    openGate();
    hold = false;
  });
  const persisted = await recoverState(stored, storage.kv, new MembershipBook(), silentLogger);
  // Election timeouts of 100–200 ms: holding b's acknowledgements for a moment must not look like a lost quorum.
  node = startNode(t, storage, persisted, transport, {
    core: { id: "a", seed: 1, electionTicks: 20, heartbeatTicks: 1 },
    requestTimeoutMs: 5000,
  });
  const n = node;
  const until = async (what: string, f: () => boolean, why: () => string = () => "") => {
    const end = Date.now() + 3000;
    while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    assert.ok(f(), `${what} ${why()}`);
  };
  await until(
    "a leads, its first entry committed",
    () => n.core.state === "leader" && n.core.log.committed >= 2,
    () => JSON.stringify({ a: n.core.status(), b: b.status() }),
  );

  const SET = { op: "set", ok: true } as const;
  hold = true;
  let answeredA = false;
  const a = n.propose(dataA, SET).then((r) => {
    answeredA = true;
    return r;
  });
  await until("A is durable on a, and b's acknowledgement is held", () => {
    const last = n.core.log.lastIndex();
    return n.core.log.stable >= last && held.some((m) => m.type === "appResp" && (m.index ?? 0) >= last);
  });
  assert.equal(answeredA, false, "A is not committed before b's acknowledgement arrives");
  // b's acknowledgement (it commits A) and the proposal of B reach a in the same turn: one Ready commits
  // A and carries B, whose write is held.
  hold = false;
  n.deliver(held.splice(0));
  let answeredB = false;
  const pb = n.propose(dataB, SET).then(() => {
    answeredB = true;
  });
  pb.catch(() => {}); // awaited below; a failure above must not leave it unhandled
  const r = await Promise.race([a, new Promise<undefined>((res) => setTimeout(() => res(undefined), 2000))]);
  assert.ok(r, "A was answered while the write of the Ready that committed it was still held");
  assert.deepEqual(r.result, SET);
  assert.equal(answeredB, false, "B is not answered before its own write");
  openGate();
  await pb;
  assert.ok(answeredB);
  await n.readBarrier();
  assert.equal(await n.kv.get("ka"), 1);
  assert.equal(await n.kv.get("kb"), 2);
});

test("the leader's appends leave before its own write starts, and an answer at commit before the commit-only appends", async (t) => {
  // Node a runs for real (memory storage); its peer b is a bare core answering in a later turn, as over a socket.
  const { storage, b } = await aWithBareB();
  const events: string[] = [];
  let node: RaftNode | undefined;
  const data = set("k", 1);
  const carries = (m: Message) => (m.entries ?? []).some((e) => e.data === data);
  const transport = {
    send(msgs: readonly Message[]) {
      for (const m of msgs) {
        if (m.type === "app" && carries(m)) events.push("send append with the entry");
        if (m.type === "app" && (m.entries ?? []).length === 0 && (m.commit ?? 0) >= watched)
          events.push("send commit");
      }
      const out = stepB(b, msgs);
      setImmediate(() => node?.deliver(out));
    },
    flush() {
      if (events.at(-1) === "send append with the entry") events.push("flush");
    },
  } as unknown as RaftTransport;
  let watched = Number.POSITIVE_INFINITY;
  const save = storage.log.save.bind(storage.log);
  storage.log.save = (req) => {
    if (req.entries.some((e) => e.data === data)) events.push("own write");
    return save(req);
  };
  const stored = await storage.log.load();
  assert.ok(stored);
  const persisted = await recoverState(stored, storage.kv, new MembershipBook(), silentLogger);
  node = startNode(t, storage, persisted, transport, {
    core: { id: "a", seed: 1, electionTicks: 20, heartbeatTicks: 1 },
    requestTimeoutMs: 5000,
  });
  const n = node;
  const end = Date.now() + 3000;
  while (!(n.core.state === "leader" && n.core.log.committed >= 2) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal(n.core.state, "leader");
  watched = n.core.log.lastIndex() + 1;
  const r = await n.propose(data, { op: "set", ok: true }).then((x) => {
    events.push("answer");
    return x;
  });
  assert.equal(r.index, watched);
  const until = Date.now() + 2000;
  while (!events.includes("send commit") && Date.now() < until) await new Promise((res) => setTimeout(res, 2));
  assert.deepEqual(events.slice(0, 3), ["send append with the entry", "flush", "own write"]);
  assert.ok(
    events.indexOf("answer") >= 0 && events.indexOf("answer") < events.indexOf("send commit"),
    events.join(", "),
  );
});
