/** Test support: one RaftNode over given storage and transport, with fast ticks, stopped after the test. */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { silentLogger } from "../../../node/src/log.ts";
import { MembershipBook } from "../../../node/src/membership-book.ts";
import type { PersistedState } from "../../../node/src/raft/types.ts";
import { RaftNode, type RaftNodeDeps } from "../../../node/src/server/raft-node.ts";
import type { NodeStorage } from "../../../node/src/storage/open-storage.ts";
import type { RaftTransport } from "../../../node/src/transport/raft-transport.ts";

/** The settings of node "a" (5 ms ticks) over `storage` and `transport`; `more` overrides any of them. */
export function nodeDeps(
  storage: NodeStorage,
  persisted: PersistedState,
  transport: RaftTransport,
  more: Partial<RaftNodeDeps> = {},
): RaftNodeDeps {
  return {
    core: { id: "a", seed: 1, electionTicks: 3, heartbeatTicks: 1 },
    persisted,
    log: storage.log,
    kv: storage.kv,
    book: new MembershipBook(),
    transport,
    logger: silentLogger,
    tickMs: 5,
    snapshotThreshold: 1000,
    requestTimeoutMs: 2000,
    onFatal: (e) => assert.fail(e),
    ...more,
  };
}

/** Starts node "a" with nodeDeps; it is stopped when the test ends. */
export function startNode(
  t: Pick<TestContext, "after">,
  storage: NodeStorage,
  persisted: PersistedState,
  transport: RaftTransport,
  more: Partial<RaftNodeDeps> = {},
): RaftNode {
  const node = new RaftNode(nodeDeps(storage, persisted, transport, more));
  node.start();
  t.after(() => node.stop());
  return node;
}
