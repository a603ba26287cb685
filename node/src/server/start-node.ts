/**
 * Starting and stopping one node.
 *
 * Start: open the Raft port first (peers ask /raft/v1/info while we decide),
 * then pick the initial Raft state:
 * - stored state → resume from it;
 * - empty store, this node alone in PEERS → bootstrap a one-node cluster;
 * - empty store, this node is the seed (smallest PEERS id / ordinal 0) →
 *   poll every expected peer's /raft/v1/info: if any holds Raft state a
 *   cluster exists and we join; once all of them answer that they are empty,
 *   bootstrap a single-voter cluster (the others join it);
 * - empty store otherwise → start blank and join (membership-agent.ts), or,
 *   with MEMBERSHIP=operator, start blank and wait for the operator to add it.
 * A blank node keeps its store's incarnation, so it can never vote under an
 * identity the cluster bound to an earlier disk.
 *
 * Stop: refuse new requests, hand leadership to the most caught-up voter,
 * finish the Ready in progress, close the Raft port and the stores.
 */

import type { Server } from "node:http";
import type { Config } from "../config.ts";
import { srvTargets, waitForNames } from "../discovery/dns-wait.ts";
import type { Topology } from "../discovery/peers.ts";
import type { Logger } from "../log.ts";
import { MembershipBook } from "../membership-book.ts";
import { RaftCore } from "../raft/core.ts";
import type { PersistedState } from "../raft/types.ts";
import type { DiskGuard } from "../storage/disk-guard.ts";
import type { NodeStorage } from "../storage/open-storage.ts";
import type { InfoResponse, JoinRequest } from "../transport/protocol.ts";
import { createRaftApp, listenRaft, type RaftHandler } from "../transport/raft-server.ts";
import { RaftTransport } from "../transport/raft-transport.ts";
import { LowDiskHandover } from "./disk-handover.ts";
import { MembershipAgent } from "./membership-agent.ts";
import { bestTransferee, NodeApi } from "./node-api.ts";
import { RaftNode } from "./raft-node.ts";
import { recoverState } from "./recover.ts";

/** A running node and how to stop it. */
export interface StartedNode {
  api: NodeApi;
  node: RaftNode;
  transport: RaftTransport;
  raftServer: Server;
  /** Stops everything but the client HTTP server (the caller owns it); never throws. */
  shutdown(): Promise<void>;
}

/** What startNode needs besides the configuration. */
export interface StartOptions {
  storage: NodeStorage;
  topology: Topology;
  logger: Logger;
  version: string;
  /** Called when the node cannot go on; the process should exit non-zero. */
  onFatal: (err: Error) => void;
  /** Aborts a start that is still waiting for peers. */
  signal: AbortSignal;
  /** STATE_DIR's free space (absent for KV_STORE=memory). */
  disk?: DiskGuard;
}

/** Starts one node; rejects when the Raft port cannot listen or start-up was aborted. */
export async function startNode(cfg: Config, o: StartOptions): Promise<StartedNode> {
  const { storage, topology: topo, logger } = o;
  const book = new MembershipBook(topo.derive);
  for (const p of topo.peers) {
    if (p.id !== topo.self.id) book.seed(p.id, { raftAddr: p.raftAddr, httpUrl: p.httpUrl, voter: true });
  }
  book.seed(topo.self.id, { raftAddr: topo.self.raftAddr, httpUrl: topo.self.httpUrl, voter: true });
  const transport = new RaftTransport({
    self: topo.self,
    secret: cfg.secret,
    clusterId: cfg.clusterId,
    resolve: (id) => book.get(id)?.raftAddr,
    logger,
  });
  const stored = await storage.log.load();
  const inc = storage.log.incarnation;
  let handler: RaftHandler = preStartHandler(cfg, topo, inc, stored !== null);
  const app = createRaftApp({
    selfId: topo.self.id,
    secret: cfg.secret,
    clusterId: cfg.clusterId,
    // An append carries up to 32 entries of up to MAX_BODY_BYTES each, escaped once more inside the message.
    maxBodyBytes: Math.max(128 << 20, cfg.maxBodyBytes * 80),
    logger,
    handler: () => handler,
  });
  const raftServer = await listenRaft(app, cfg.raftAddr, cfg.raftPort);
  const closeRaftServer = () => {
    raftServer.close();
    raftServer.closeAllConnections();
  };
  const others = topo.peers.filter((p) => p.id !== topo.self.id);
  let extraTargets: string[] = [];
  let persisted: PersistedState;
  let joining = false;
  try {
    if (stored) {
      persisted = await recoverState(stored, storage.kv, book, logger, cfg.stateDir);
    } else if (others.length === 0) {
      persisted = await bootstrap(storage, inc, topo.self.id, logger, "no other peers are configured");
    } else if (topo.seed === topo.self.id) {
      const verdict = await seedDecision(transport, others, topo, logger, o.signal);
      if (verdict === "bootstrap") {
        persisted = await bootstrap(storage, inc, topo.self.id, logger, "every expected peer is up and empty");
      } else {
        persisted = RaftCore.blank(inc);
        joining = true;
        if (cfg.membership === "operator")
          logger.info("waiting for the operator to add this node", { incarnation: inc });
      }
    } else if (cfg.membership === "operator") {
      logger.info("empty store: starting blank and waiting for the operator to add this node", {
        seed: topo.seed,
        incarnation: inc,
      });
      persisted = RaftCore.blank(inc);
    } else {
      logger.info("empty store: starting blank and asking to join", { seed: topo.seed });
      persisted = RaftCore.blank(inc);
      joining = true;
    }
  } catch (e) {
    closeRaftServer();
    throw e;
  }

  const tickMs = cfg.tickMs;
  const electionMs = cfg.electionTicks * tickMs;
  const node = new RaftNode({
    core: {
      id: topo.self.id,
      seed: Math.floor(Math.random() * 2 ** 31),
      electionTicks: cfg.electionTicks,
      heartbeatTicks: cfg.heartbeatTicks,
      preVote: true,
      checkQuorum: true,
      // Entries are up to MAX_BODY_BYTES each (about twice that once escaped in a message): keep one
      // append message below the Raft body limit (the core bounds messages by count, not bytes).
      maxEntriesPerMsg: 32,
      catchUpEntries: Math.max(1, Math.min(1000, Math.floor(cfg.snapshotThreshold / 2))),
    },
    persisted,
    log: storage.log,
    kv: storage.kv,
    book,
    transport,
    logger,
    tickMs,
    snapshotThreshold: cfg.snapshotThreshold,
    snapshotLogRatio: cfg.snapshotLogRatio,
    snapshotMaxLogBytes: cfg.snapshotMaxLogBytes,
    requestTimeoutMs: Math.max(5000, 4 * electionMs),
    onFatal: o.onFatal,
    ...(o.disk ? { diskLow: () => o.disk?.low === true } : {}),
  });
  const api = new NodeApi(node, transport, {
    clusterId: cfg.clusterId,
    kvStore: cfg.kvStore,
    version: o.version,
    transferTimeoutMs: Math.max(2000, 2 * electionMs),
    ...(o.disk ? { disk: o.disk } : {}),
  });
  const handover = o.disk
    ? new LowDiskHandover({ node, transport, disk: o.disk, logger, everyMs: Math.max(1000, 2 * electionMs) })
    : undefined;
  const agent = new MembershipAgent({
    node,
    transport,
    logger,
    self: topo.self,
    joining,
    operatorManaged: cfg.membership === "operator",
    joinTargets: () => [...new Set([...others.map((p) => p.raftAddr), ...extraTargets])],
  });
  if (topo.mode === "dns" && cfg.discoveryService) {
    const service = cfg.discoveryService;
    void srvTargets(service).then((t) => {
      extraTargets = t.filter((a) => a !== topo.self.raftAddr);
    });
  }
  handler = {
    deliver: (msgs, from) => {
      if (from.id && from.raftAddr) book.learn(from.id, from.raftAddr, from.httpUrl ?? "");
      return node.deliver(msgs);
    },
    join: (req: JoinRequest) => agent.handleJoin(req),
    info: () => nodeInfo(cfg, node, o.disk),
    propose: (datas) => api.proposeForwarded(datas),
  };
  node.start();
  agent.start();
  handover?.start();
  logger.info("raft node running", {
    incarnation: inc,
    raftAddr: topo.self.raftAddr,
    httpUrl: topo.self.httpUrl,
    voters: Object.keys(node.core.config.voters),
    joining,
    membership: cfg.membership,
  });

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      api.closed = true;
      agent.stop();
      handover?.stop();
      await handOver(node, logger, Math.min(3000, Math.max(1000, 2 * electionMs)));
      await node.stop();
      await transport.drain(200);
      transport.close();
      closeRaftServer();
      try {
        await storage.close();
      } catch (e) {
        logger.error("closing storage failed", { err: e });
      }
    })();
    return stopping;
  };
  return { api, node, transport, raftServer, shutdown };
}

/** Persists and returns the first state of a one-voter cluster. */
async function bootstrap(
  storage: NodeStorage,
  inc: string,
  id: string,
  logger: Logger,
  why: string,
): Promise<PersistedState> {
  const state = RaftCore.bootstrap(inc, { voters: { [id]: inc }, learners: {} });
  // The core treats what it is built from as durable: write it before starting.
  await storage.log.save({ hardState: state.hardState, entries: state.entries, snapshotRestore: false, sync: true });
  logger.info("bootstrapped a new cluster", { why, incarnation: inc });
  return state;
}

/**
 * The seed's choice for an empty store: "join" as soon as any peer holds
 * Raft state, "bootstrap" once every expected peer answered that it is empty.
 */
async function seedDecision(
  transport: RaftTransport,
  others: Topology["peers"],
  topo: Topology,
  logger: Logger,
  signal: AbortSignal,
): Promise<"bootstrap" | "join"> {
  if (
    topo.mode === "dns" &&
    // Every expected pod's name, our own included: peers must be able to reach the seed too.
    !(await waitForNames(
      topo.peers.map((p) => p.raftAddr),
      logger,
      signal,
    ))
  ) {
    throw new Error("start-up aborted while waiting for peers in DNS");
  }
  let delay = 200;
  let lastLog = 0;
  while (!signal.aborted) {
    const answers = await Promise.all(others.map((p) => transport.info(p.raftAddr).catch(() => undefined)));
    if (answers.some((a) => a?.body?.initialized)) {
      logger.info("empty store but a cluster exists: joining it as a new member");
      return "join";
    }
    const empty = answers.filter((a) => a?.status === 200 && a.body && !a.body.initialized).length;
    if (empty === others.length) return "bootstrap";
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      logger.info("seed waiting for every expected peer before bootstrapping", {
        answered: empty + 1,
        expected: others.length + 1,
      });
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(2000, Math.round(delay * 1.5));
  }
  throw new Error("start-up aborted while waiting for peers");
}

/** On shutdown: if leading, hand leadership to the most caught-up voter and wait (bounded) for it. */
async function handOver(node: RaftNode, logger: Logger, timeoutMs: number): Promise<void> {
  if (node.core.state !== "leader" || !node.running) return;
  const target = bestTransferee(node);
  if (!target) return;
  logger.info("shutting down as leader: handing leadership over", { to: target });
  try {
    const out = await node.withCore((c) => c.transferLeader(target));
    if (!out.ok) throw new Error(out.message);
    const deadline = Date.now() + timeoutMs;
    while (node.core.state === "leader" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // Let the new leader's first heartbeat reach us, so our last log line names it.
    const until = Date.now() + Math.min(500, timeoutMs);
    while (node.core.lead === "" && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    logger.info("leadership handed over", { leader: node.core.lead, state: node.core.state });
  } catch (e) {
    logger.warn("leadership hand-over failed", { err: e });
  }
}

/** Answers before the node runs: who we are and whether the store holds Raft state. */
function preStartHandler(cfg: Config, topo: Topology, inc: string, initialized: boolean): RaftHandler {
  return {
    deliver: () => false,
    join: async () => ({ status: 503, body: { code: "NOT_READY", error: "node is starting", leader: null } }),
    info: (): InfoResponse => ({
      id: topo.self.id,
      clusterId: cfg.clusterId,
      incarnation: inc,
      initialized,
      state: "starting",
      term: 0,
      leader: null,
      voters: {},
      learners: {},
    }),
  };
}

/** /raft/v1/info of a running node. */
function nodeInfo(cfg: Config, node: RaftNode, disk: DiskGuard | undefined): InfoResponse {
  const c = node.core;
  return {
    diskLow: disk?.low === true,
    id: node.id,
    clusterId: cfg.clusterId,
    incarnation: c.inc,
    initialized: c.log.lastIndex() > 0,
    state: c.state,
    term: c.term,
    leader: c.lead ? { id: c.lead, raftAddr: node.book.get(c.lead)?.raftAddr } : null,
    voters: c.config.voters,
    learners: c.config.learners,
  };
}
