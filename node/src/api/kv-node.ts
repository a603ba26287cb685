/**
 * What the HTTP client API needs from a running node. The server (server.ts)
 * implements it; the express app (api/) only translates HTTP to these calls.
 * Every method either resolves or rejects with a `NodeError` carrying a stable
 * code from errors.ts; nothing else may escape.
 */
import type { ErrorCode } from "../errors.ts";
import type { JsonValue } from "../kv/command.ts";
import type { KeyValue } from "../kv/kv-store.ts";
import type { KvPairs } from "../kv/set-pairs.ts";

/** How fresh a read must be: `linearizable` (ReadIndex on the leader) or `stale` (local state). */
export type Consistency = "linearizable" | "stale";

/** A refusal with a stable code; `leader` tells the client where to go when known. */
export class NodeError extends Error {
  readonly code: ErrorCode;
  readonly leader: { id: string; httpUrl: string } | undefined;
  /** Builds an error with a code from errors.ts. */
  constructor(code: ErrorCode, message: string, leader?: { id: string; httpUrl: string }) {
    super(message);
    this.code = code;
    this.leader = leader;
  }
}

/** A member as /status reports it. */
export interface MemberStatus {
  id: string;
  role: "voter" | "learner";
  incarnation: string;
  raftAddr: string;
  httpUrl: string;
  /** Leader's view only: highest index the member holds. */
  match?: number;
}

/** The body of GET /status. */
export interface NodeStatus {
  id: string;
  /** This node's own storage incarnation (a new one means a new or wiped disk). */
  incarnation: string;
  clusterId: string;
  state: "follower" | "preCandidate" | "candidate" | "leader";
  term: number;
  leader: { id: string; raftAddr: string; httpUrl: string } | null;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  snapshotIndex: number;
  members: MemberStatus[];
  /** Milliseconds since this node last heard from a leader (0 on the leader), or null. */
  lastContactMs: number | null;
  kvStore: string;
  version: string;
}

/** The writes of a KvNode, which a follower may also run on its leader. */
export type KvWrites = Pick<KvNode, "set" | "del" | "cas"> & {
  /** The leader to run them on when this node follows a known leader; undefined otherwise (try locally). */
  leader(): { id: string; httpUrl: string } | undefined;
};

/** The node as the client API sees it. */
export interface KvNode {
  readonly id: string;
  /**
   * Optional: the same writes, run on the leader through this node's own channel to it (the Raft port,
   * many writes per request) instead of proxying the HTTP request. Answers and errors are those the
   * leader would give; failures in transit are NO_LEADER (never reached it) or UNAVAILABLE (unknown).
   */
  readonly remote?: KvWrites | undefined;
  /** Sets every key of `kv` (no key twice) in one Raft entry; resolves once applied on this node. */
  set(kv: KvPairs): Promise<{ index: number }>;
  /** Deletes keys in one entry; resolves with how many existed. */
  del(keys: string[]): Promise<{ index: number; deleted: number }>;
  /** Compare-and-set (expect null = absent; `del` deletes on match). */
  cas(
    key: string,
    expect: JsonValue | null,
    value: JsonValue | undefined,
    del: boolean,
  ): Promise<{ ok: boolean; current: JsonValue | null; index: number }>;
  /** One key's value (null when absent). */
  get(key: string, consistency: Consistency): Promise<JsonValue | null>;
  /** Keys by prefix, sorted, after `after`, at most `limit`. */
  list(prefix: string, limit: number, after: string | undefined, consistency: Consistency): Promise<KeyValue[]>;
  /** The /status document. */
  status(): NodeStatus;
  /** True when this node leads. */
  isLeader(): boolean;
  /** The leader's client URL, if a leader is known. */
  leaderHttpUrl(): string | undefined;
  /** /readyz: has a leader and has applied what it knows to be committed (or, with noLeaderOk, only caught up). */
  readiness(noLeaderOk: boolean): { ready: boolean; reason: string };
  /** Admin: add a learner (or re-add a wiped member under its new incarnation). */
  addLearner(id: string, raftAddr: string, httpUrl: string, incarnation?: string): Promise<void>;
  /** Admin: promote a caught-up learner to voter. */
  promote(id: string): Promise<void>;
  /** Admin: remove a member (voter or learner). */
  remove(id: string): Promise<void>;
  /** Admin: hand leadership to `id` (or the most caught-up voter). */
  transferLeader(id?: string): Promise<{ leader: string }>;
}
