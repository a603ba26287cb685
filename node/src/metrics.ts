/**
 * The node's Prometheus metrics, all in one Registry per process (never
 * prom-client's global default, so tests and embedders see only raftkv's).
 * prom-client does not append `_total`: counters carry it in their names.
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The process's registry; serve it with `registry.metrics()` and `registry.contentType`. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What fills the Raft gauges when they are read; see setRaftGaugeSource. */
let raftGaugeSource: (() => void) | undefined;

/**
 * Sets what fills the Raft gauges (role, term, indexes, members, follower progress) when a scrape reads
 * them: the running node. Filling them on every cycle of the Raft loop cost about 1% of a member's CPU
 * under load (perf); a scrape comes every few seconds. Undefined keeps their last values.
 */
export function setRaftGaugeSource(f: (() => void) | undefined): void {
  raftGaugeSource = f;
}

/** prom-client calls `collect` before it reads a gauge. */
const fromRaft = {
  collect(): void {
    raftGaugeSource?.();
  },
};

/** Raft and storage metrics the server updates. */
export const metrics = {
  leaderChanges: new Counter({
    name: "raftkv_leader_changes_total",
    help: "Times this node observed a new leader (a different leader id or term).",
    registers: [registry],
  }),
  isLeader: new Gauge({
    name: "raftkv_is_leader",
    help: "1 when this node is the leader.",
    registers: [registry],
    ...fromRaft,
  }),
  hasLeader: new Gauge({
    name: "raftkv_has_leader",
    help: "1 when this node knows a leader.",
    registers: [registry],
    ...fromRaft,
  }),
  term: new Gauge({ name: "raftkv_term", help: "Current Raft term.", registers: [registry], ...fromRaft }),
  commitIndex: new Gauge({
    name: "raftkv_commit_index",
    help: "Highest committed log index.",
    registers: [registry],
    ...fromRaft,
  }),
  appliedIndex: new Gauge({
    name: "raftkv_applied_index",
    help: "Highest log index applied to the KV store.",
    registers: [registry],
    ...fromRaft,
  }),
  lastLogIndex: new Gauge({
    name: "raftkv_last_log_index",
    help: "Index of the last log entry.",
    registers: [registry],
    ...fromRaft,
  }),
  members: new Gauge({
    name: "raftkv_members",
    help: "Members of the configuration this node knows, by role.",
    labelNames: ["role"] as const,
    registers: [registry],
    ...fromRaft,
  }),
  proposals: new Counter({
    name: "raftkv_proposals_total",
    help: "Proposals made on this node, by result (committed, rejected, failed, timeout).",
    labelNames: ["result"] as const,
    registers: [registry],
  }),
  proposalCommitSeconds: new Histogram({
    name: "raftkv_proposal_commit_seconds",
    help: "Time from proposing an entry to applying it on the leader.",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  applySeconds: new Histogram({
    name: "raftkv_apply_seconds",
    help: "Time to apply one batch of committed entries to the KV store.",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  fsyncSeconds: new Histogram({
    name: "raftkv_fsync_seconds",
    help: "Time of one synced write of Raft state (group commit: one per Ready).",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  rpcSeconds: new Histogram({
    name: "raftkv_raft_rpc_seconds",
    help: "Round trip of one Raft request by peer and endpoint (on the append stream: until the peer acknowledges the batch).",
    labelNames: ["peer", "endpoint"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  rpcFailures: new Counter({
    name: "raftkv_raft_rpc_failures_total",
    help: "Raft HTTP requests that failed, by peer and endpoint.",
    labelNames: ["peer", "endpoint"] as const,
    registers: [registry],
  }),
  messagesDropped: new Counter({
    name: "raftkv_raft_messages_dropped_total",
    help: "Raft messages dropped because a peer's queue was full or its address unknown.",
    labelNames: ["peer"] as const,
    registers: [registry],
  }),
  raftRejected: new Counter({
    name: "raftkv_raft_requests_rejected_total",
    help: "Raft requests refused before reaching the core, by reason.",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  diskFree: new Gauge({
    name: "raftkv_disk_free_bytes",
    help: "Bytes available in the file system holding STATE_DIR, as last measured.",
    registers: [registry],
  }),
  diskLow: new Gauge({
    name: "raftkv_disk_low",
    help: "1 while free space in STATE_DIR is below MIN_FREE_BYTES: client writes get STORAGE_FULL.",
    registers: [registry],
  }),
  storageSuspended: new Gauge({
    name: "raftkv_storage_suspended",
    help: "1 while a write failed for lack of space and the node waits for room to reopen its store.",
    registers: [registry],
  }),
  storageSuspensions: new Counter({
    name: "raftkv_storage_suspensions_total",
    help: "Times a write failed for lack of space and the node suspended itself until there was room.",
    registers: [registry],
  }),
  followerMatchIndex: new Gauge({
    name: "raftkv_follower_match_index",
    help: "On the leader only: the highest log index known to be replicated on each other member, by peer id.",
    labelNames: ["peer"] as const,
    registers: [registry],
    ...fromRaft,
  }),
  snapshots: new Counter({
    name: "raftkv_snapshots_total",
    help: "Snapshots by kind: local (log compacted behind the synced store), created (full, serialised), restored (from the leader).",
    labelNames: ["kind"] as const,
    registers: [registry],
  }),
  snapshotSeconds: new Histogram({
    name: "raftkv_snapshot_seconds",
    help: "Time to create or restore a snapshot.",
    labelNames: ["kind"] as const,
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  }),
};

const httpRequests = new Counter({
  name: "raftkv_http_requests_total",
  help: "Client API requests, by route, method, status code and whether they were forwarded to the leader.",
  labelNames: ["route", "method", "code", "forwarded"] as const,
  registers: [registry],
});

const httpSeconds = new Histogram({
  name: "raftkv_http_request_seconds",
  help: "Client API request duration, by route and method.",
  labelNames: ["route", "method"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

/** One finished client API request; `route` is the route pattern (e.g. "/key/:key"), never the raw path. */
export interface HttpRequestRecord {
  route: string;
  method: string;
  code: number;
  forwarded: boolean;
  seconds: number;
}

/** The labelled series of one route and method, looked up in prom-client once rather than on every request. */
interface HttpSeries {
  seconds: { observe(value: number): void };
  /** raftkv_http_requests_total by status code, not forwarded / forwarded. */
  counts: Map<number, [{ inc(): void } | undefined, { inc(): void } | undefined]>;
}

/** By route, then method: both come from short fixed lists (route patterns, the methods Node's parser knows). */
const httpSeries = new Map<string, Map<string, HttpSeries>>();

/** Records a client API request; the HTTP layer calls it once per response. */
export function recordHttpRequest(r: HttpRequestRecord): void {
  let byMethod = httpSeries.get(r.route);
  if (byMethod === undefined) {
    byMethod = new Map();
    httpSeries.set(r.route, byMethod);
  }
  let series = byMethod.get(r.method);
  if (series === undefined) {
    series = { seconds: httpSeconds.labels(r.route, r.method), counts: new Map() };
    byMethod.set(r.method, series);
  }
  let byForwarded = series.counts.get(r.code);
  if (byForwarded === undefined) {
    byForwarded = [undefined, undefined];
    series.counts.set(r.code, byForwarded);
  }
  const i = r.forwarded ? 1 : 0;
  let count = byForwarded[i];
  if (count === undefined) {
    count = httpRequests.labels(r.route, r.method, String(r.code), String(r.forwarded));
    byForwarded[i] = count;
  }
  count.inc();
  series.seconds.observe(r.seconds);
}

const kvCacheReads = new Counter({
  name: "raftkv_kv_cache_reads_total",
  help: "Key reads (GET /key, both consistencies) answered from the in-memory value cache (hit) or LevelDB (miss).",
  labelNames: ["result"] as const,
  registers: [registry],
});
// Bound once: a read then costs one increment, no label lookup.
const kvCacheHits = kvCacheReads.labels({ result: "hit" });
const kvCacheMisses = kvCacheReads.labels({ result: "miss" });

/** Counts one KV read by whether the LevelDB KV store's cache answered it. */
export function recordKvCacheRead(hit: boolean): void {
  (hit ? kvCacheHits : kvCacheMisses).inc();
}

/** Peers that currently carry a raftkv_follower_match_index series. */
const matchPeers = new Set<string>();

/**
 * Sets raftkv_follower_match_index from the leader's view of each other member (`undefined` when this
 * node does not lead): a series per peer while leading, none otherwise, so a deposed leader or a removed
 * member leaves no stale value behind.
 */
export function setFollowerMatch(followers: ReadonlyMap<string, number> | undefined): void {
  for (const peer of matchPeers) {
    if (followers?.has(peer)) continue;
    metrics.followerMatchIndex.remove({ peer });
    matchPeers.delete(peer);
  }
  if (!followers) return;
  for (const [peer, match] of followers) {
    metrics.followerMatchIndex.set({ peer }, match);
    matchPeers.add(peer);
  }
}
