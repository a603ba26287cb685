/**
 * Types shared by the Raft core and its adapters: entries, hard state,
 * snapshots, membership and messages. Everything here is plain JSON so a
 * message can cross HTTP and an entry can be stored in LevelDB unchanged.
 */

/** A member's stable name (in Kubernetes: the pod name). */
export type NodeId = string;

/**
 * A random id a node creates the first time it initialises its storage.
 * It lives and dies with the disk: a node whose disk was wiped comes back
 * with a new incarnation, and peers refuse to count it under the old one.
 */
export type Incarnation = string;

/** `normal` carries application data; `config` a Membership; `noop` is the leader's first entry of its term. */
export type EntryType = "normal" | "config" | "noop";

/** One log entry. `data` is opaque to the core except for `config` entries. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: string;
}

/** What must be durable before any message that depends on it is sent. */
export interface HardState {
  term: number;
  /** The candidate voted for in `term`, or "" for none. */
  vote: NodeId;
  commit: number;
}

/** Voters and learners, each bound to the incarnation it had when it was added. */
export interface Membership {
  voters: Record<NodeId, Incarnation>;
  learners: Record<NodeId, Incarnation>;
}

/** Where a snapshot ends and the membership in force at that point. */
export interface SnapshotMeta {
  index: number;
  term: number;
  config: Membership;
}

/** A snapshot: its metadata and the application's serialised state. */
export interface Snapshot {
  meta: SnapshotMeta;
  data: string;
  /**
   * True when `data` does not hold the state machine: the application's own durable store holds the
   * state at `meta.index` (or later). Such a snapshot lets the log be compacted but cannot be sent; a
   * follower that needs one sets `RaftCore.snapshotWanted` until a full snapshot replaces it.
   */
  local?: boolean;
}

/** Every message kind the core sends or accepts. */
export type MessageType =
  | "app"
  | "appResp"
  | "heartbeat"
  | "heartbeatResp"
  | "preVote"
  | "preVoteResp"
  | "vote"
  | "voteResp"
  | "snap"
  | "snapResp"
  | "timeoutNow"
  | "readIndex"
  | "readIndexResp";

/**
 * One Raft message. Like etcd's raftpb.Message it is flat: each type uses the
 * fields it needs and leaves the rest undefined.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** The sender's incarnation; receivers ignore acknowledgements from a stale one. */
  fromInc: Incarnation;
  /** app: index/term of the entry before `entries`; vote: the candidate's last index/term; appResp: match or rejected index. */
  index?: number;
  logTerm?: number;
  entries?: Entry[];
  commit?: number;
  reject?: boolean;
  /** appResp rejection: the follower's guess of the last index that may match, with its term. */
  rejectHint?: number;
  hintTerm?: number;
  /** vote/preVote sent on a leadership transfer: bypasses the lease check. */
  force?: boolean;
  /** The leader's local tick when it sent app/heartbeat; echoed in the reply so check-quorum measures from the send. */
  tick?: number;
  /** heartbeat/readIndex: ties a read request to its confirmation round. */
  context?: string;
  /** snap: the snapshot being sent, the byte offset of `chunk`, and whether it is the last one. */
  snapshot?: SnapshotMeta;
  offset?: number;
  chunk?: string;
  done?: boolean;
}

/** Role of a node in its current term. */
export type RoleState = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state that adapters report (logs, metrics, /status). */
export interface SoftState {
  state: RoleState;
  lead: NodeId;
  term: number;
}

/** A linearizable read may be served once the local state has applied `index`. */
export interface ReadState {
  context: string;
  index: number;
}

/**
 * The work the adapter must do, in this order:
 * 1. persist `hardState`, `snapshot` and `entries` in one synced write
 *    (entries replace any stored entry at or after `entries[0].index`;
 *    a snapshot deletes every stored entry up to its index, or all of them when `snapshotRestore` is set);
 * 2. send `messages` (those also listed in `sendBeforePersist` may leave before step 1, see there);
 * 3. apply `committed` in order (and first restore `snapshot` if `snapshotRestore`);
 * 4. call `advance(ready)`.
 * No `step`, `tick` or `propose` may happen between `ready()` and `advance()`.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  /** True when the snapshot came from the leader and replaces the state machine. */
  snapshotRestore: boolean;
  messages: Message[];
  /**
   * The leader's replication messages (appends, heartbeats, snapshot chunks) among `messages`, which
   * may be sent before step 1 (Raft thesis §10.2.1: the leader writes its log in parallel with
   * replicating it). Set only when this Ready changes neither term nor vote and carries no snapshot, so
   * nothing these messages carry depends on unpersisted state: followers persist before they
   * acknowledge, and the leader counts itself toward commit only after `advance()` (its entries are
   * durable then). A crash before step 1 loses the leader's copy of the entries, as if it had crashed
   * before proposing them, while followers may hold them: ordinary Raft log repair.
   */
  sendBeforePersist?: Message[];
  committed: Entry[];
  readStates: ReadState[];
  /** True when anything must be written to disk before messages go out. */
  mustSync: boolean;
}

/** Stable codes for refused requests; the HTTP layer maps them to statuses. */
export type RefusalCode =
  | "NOT_LEADER"
  | "NO_LEADER"
  | "TRANSFERRING"
  | "CONFIG_CHANGE_PENDING"
  | "NOT_READY"
  | "UNKNOWN_MEMBER"
  | "BAD_CONFIG_CHANGE";

/** Result of propose/confChange/readIndex/transfer: accepted (with the entry's index and term) or refused. */
export type Outcome =
  | { ok: true; index: number; term: number }
  | { ok: false; code: RefusalCode; message: string; lead: NodeId };

/** A single-server membership change. */
export type ConfChange =
  | { op: "addLearner"; id: NodeId; incarnation: Incarnation }
  | { op: "promote"; id: NodeId }
  | { op: "remove"; id: NodeId };

/** What a node loads from its storage at start; `bootstrap()` makes the first one. */
export interface PersistedState {
  incarnation: Incarnation;
  hardState: HardState;
  /** The latest snapshot, if any; entries start right after it. */
  snapshot?: Snapshot;
  entries: Entry[];
  /** Highest index already reflected in the application's durable state (skips replay). */
  applied?: number;
}
