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
import { RaftNode } from "../../../node/src/server/raft-node.ts";
import { recoverState } from "../../../node/src/server/recover.ts";
import { type NodeStorage, openStorage } from "../../../node/src/storage/open-storage.ts";
import { RaftTransport } from "../../../node/src/transport/raft-transport.ts";

async function oneNode(t: TestContext, storage: NodeStorage, snapshotThreshold = 1000): Promise<RaftNode> {
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
  const node = new RaftNode({
    core: { id: "a", seed: 1, electionTicks: 3, heartbeatTicks: 1 },
    persisted,
    log: storage.log,
    kv: storage.kv,
    book,
    transport,
    logger: silentLogger,
    tickMs: 5,
    snapshotThreshold,
    requestTimeoutMs: 2000,
    onFatal: (e) => assert.fail(e),
  });
  node.start();
  t.after(async () => {
    await node.stop();
    transport.close();
  });
  const end = Date.now() + 2000;
  while (node.core.state !== "leader" && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.equal(node.core.state, "leader");
  return node;
}

const set = (k: string, v: number) => encodeCommand({ op: "set", kv: { [k]: v } });

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

test("snapshots carry the book; a restart resumes from the applied index without replay", async (t) => {
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
  const st = await recoverState(stored, s2.kv, book, silentLogger);
  assert.equal(st.applied, applied, "resumes at the persisted applied index");
  assert.equal(book.replicated("a")?.raftAddr, "a.svc:1");
  const core = new RaftCore({ id: "a", seed: 1 }, st);
  assert.equal(core.ready().committed.length, 0, "nothing is replayed");
  await s2.close();
});
