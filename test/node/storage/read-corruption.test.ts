/**
 * Damaged table data found at read time: the KV store raises StorageError
 * CORRUPT and the running node reports it to onFatal (once), so the process
 * exits 3 instead of staying a voter that answers 500 for the damaged key.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeCommand } from "../../../node/src/kv/command.ts";
import { silentLogger } from "../../../node/src/log.ts";
import { RaftCore } from "../../../node/src/raft/core.ts";
import { RaftNode } from "../../../node/src/server/raft-node.ts";
import { encodeValue, kvKey } from "../../../node/src/storage/codec.ts";
import type { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import { StorageError } from "../../../node/src/storage/open-level.ts";
import { openStorage } from "../../../node/src/storage/open-storage.ts";
import { RaftTransport } from "../../../node/src/transport/raft-transport.ts";
import { nodeDeps, startNode } from "../server/node-harness.ts";
import { tempDir } from "./helpers.ts";

test("a checksum failure on a KV read is fatal for the node (StorageError CORRUPT to onFatal, once)", async (t) => {
  // No read cache: the damage is planted behind the store's back under a key it just wrote, and a
  // cached copy (the value the apply wrote) would answer the read without looking at the disk.
  const storage = await openStorage("leveldb", tempDir(t), { cacheBytes: 0 });
  const inc = storage.log.incarnation;
  const persisted = RaftCore.bootstrap(inc, { voters: { a: inc }, learners: {} });
  await storage.log.save({ hardState: persisted.hardState, entries: persisted.entries, snapshotRestore: false });
  const transport = new RaftTransport({
    self: { id: "a", raftAddr: "127.0.0.1:1", httpUrl: "" },
    secret: undefined,
    clusterId: "c",
    resolve: () => undefined,
    logger: silentLogger,
  });
  const fatal: Error[] = [];
  const node = startNode(t, storage, persisted, transport, { onFatal: (e) => fatal.push(e) });
  t.after(async () => {
    transport.close();
    await storage.close();
  });
  const end = Date.now() + 2000;
  while (node.core.state !== "leader" && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  await node.propose(encodeCommand({ op: "set", kv: { a: 1, b: 2 } }));
  assert.equal(await node.kv.get("a"), 1);
  assert.deepEqual(fatal, []);
  await node.kv.flush(); // from here on reads of "a" go to LevelDB

  // A damaged table: key a now holds a value whose checksum does not match (it was framed for b).
  await (storage.log as LeveldbLogStore).db.put(kvKey("a"), encodeValue(kvKey("b"), 1));
  const corrupt = (e: unknown) =>
    e instanceof StorageError && e.code === "CORRUPT" && /checksum mismatch in value of key "kv!a"/.test(e.message);
  await assert.rejects(node.kv.get("a"), corrupt);
  assert.equal(fatal.length, 1, "the node reports the damage as fatal");
  assert.ok(corrupt(fatal[0]));
  await assert.rejects(node.kv.list({ limit: Number.POSITIVE_INFINITY }), corrupt);
  assert.equal(fatal.length, 1, "onFatal is called once");
});

test("errors that are not damage (e.g. bad input to the KV store) are not fatal", async (t) => {
  const storage = await openStorage("leveldb", tempDir(t));
  t.after(() => storage.close());
  const inc = storage.log.incarnation;
  const persisted = RaftCore.bootstrap(inc, { voters: { a: inc }, learners: {} });
  const transport = new RaftTransport({
    self: { id: "a", raftAddr: "127.0.0.1:1", httpUrl: "" },
    secret: undefined,
    clusterId: "c",
    resolve: () => undefined,
    logger: silentLogger,
  });
  t.after(() => transport.close());
  const fatal: Error[] = [];
  const node = new RaftNode(nodeDeps(storage, persisted, transport, { onFatal: (e) => fatal.push(e) }));
  // Not started: only the KV wrapper is exercised. A malformed snapshot is a caller error, not damage.
  await assert.rejects(node.kv.restore("not a snapshot", 5));
  assert.deepEqual(fatal, []);
});
