/**
 * The wire protocol of Raft over HTTP: endpoints, headers, and which
 * endpoint ("lane") each message kind travels on. Each lane has its own
 * queue per peer, so a vote is never stuck behind a large snapshot chunk.
 */

import type { Message, MessageType } from "../raft/types.ts";

/** A lane: one endpoint, one queue per peer. */
export type Lane = "append" | "vote" | "snapshot" | "timeout-now";

/** Path prefix of every Raft endpoint. */
export const RAFT_PREFIX = "/raft/v1";

/** Headers every Raft request carries. */
export const HEADERS = {
  /** `Bearer <secret>` when a cluster secret is configured. */
  auth: "authorization",
  cluster: "x-raftkv-cluster",
  /** The sender's node id. */
  from: "x-raftkv-from",
  /** The sender's advertised Raft address and client URL, so receivers can answer before the book knows them. */
  fromAddr: "x-raftkv-from-addr",
  fromHttp: "x-raftkv-from-http",
} as const;

const LANE_OF: Record<MessageType, Lane> = {
  app: "append",
  appResp: "append",
  heartbeat: "append",
  heartbeatResp: "append",
  readIndex: "append",
  readIndexResp: "append",
  preVote: "vote",
  preVoteResp: "vote",
  vote: "vote",
  voteResp: "vote",
  snap: "snapshot",
  snapResp: "snapshot",
  timeoutNow: "timeout-now",
};

/**
 * POST /raft/v1/propose: a follower forwards client writes to the leader, many in one request. The body
 * is a JSON array of encoded commands (strings); the answer, once each is applied on the leader (or
 * refused), is an array of the same length and order.
 */
export const PROPOSE_PATH = "/raft/v1/propose";

/** The leader's answer to one forwarded proposal: applied (index and apply result) or refused. */
export type ProposeAnswer = { index: number; result: unknown } | { code: string; error: string };

/** Every lane, in a stable order. */
export const LANES: readonly Lane[] = ["append", "vote", "snapshot", "timeout-now"];

/** The lane a message kind travels on. */
export function laneOf(type: MessageType): Lane {
  return LANE_OF[type];
}

/** The request path of a lane. */
export function lanePath(lane: Lane): string {
  return `${RAFT_PREFIX}/${lane}`;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/**
 * Terms and indices above 2^48 are refused: no real cluster gets near it
 * (a new term every millisecond for 8,900 years), and a forged term near
 * 2^53 would otherwise be persisted and leave no next term to campaign in.
 */
export const MAX_RAFT_NUMBER = 2 ** 48;
const isNum = (v: unknown) =>
  v === undefined || (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v <= MAX_RAFT_NUMBER);
const isTick = (v: unknown) => v === undefined || (typeof v === "number" && Number.isFinite(v));
const isBool = (v: unknown) => v === undefined || typeof v === "boolean";

/**
 * The start of every snapshot's data (server/snapshot-envelope.ts writes it;
 * a test keeps the two equal). Checked on the first chunk so a snapshot from
 * an incompatible peer is refused before the follower persists it.
 */
export const SNAPSHOT_MAGIC = "raftkv-snap/1\n";

/** What is wrong with a membership (snapshot or config entry), or undefined. */
function membershipProblem(v: unknown): string | undefined {
  if (!isObj(v) || !isObj(v.voters) || !isObj(v.learners)) return "is not {voters, learners}";
  for (const group of [v.voters, v.learners]) {
    for (const inc of Object.values(group)) if (typeof inc !== "string" || inc === "") return "has a bad incarnation";
  }
  if (Object.keys(v.voters).length === 0) return "has no voter";
  return undefined;
}

function configEntryProblem(data: string): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return "config entry data is not JSON";
  }
  const p = membershipProblem(v);
  return p ? `config entry membership ${p}` : undefined;
}

/**
 * Checks one decoded message for `lane`, addressed to `self`; returns what is
 * wrong or undefined. Besides types it refuses what no correct peer sends and
 * the core would trip over (it throws on a gap in appended entries, and a bad
 * config entry or snapshot would stop the node): appended entries must follow
 * `index` one by one with terms that never decrease, start at `logTerm` or
 * later and never exceed the message's term.
 */
export function messageProblem(v: unknown, lane: Lane, self: string): string | undefined {
  if (!isObj(v)) return "message is not an object";
  const type = v.type;
  if (typeof type !== "string" || !Object.hasOwn(LANE_OF, type)) return `unknown message type ${String(type)}`;
  if (LANE_OF[type as MessageType] !== lane) return `message type ${type} does not belong on ${lane}`;
  if (typeof v.from !== "string" || v.from === "") return "message has no sender";
  if (v.to !== self) return `message is addressed to ${String(v.to)}, not ${self}`;
  if (typeof v.fromInc !== "string") return "message has no sender incarnation";
  if (!isNum(v.term) || v.term === undefined) return "message has no term";
  const term = v.term as number;
  for (const k of ["index", "logTerm", "commit", "rejectHint", "hintTerm", "offset"] as const) {
    if (!isNum(v[k])) return `message field ${k} is not a non-negative integer`;
  }
  for (const k of ["reject", "force", "done"] as const) {
    if (!isBool(v[k])) return `message field ${k} is not a boolean`;
  }
  if (!isTick(v.tick)) return "message field tick is not a number";
  if (v.entries !== undefined) {
    if (!Array.isArray(v.entries)) return "message entries is not an array";
    if (type !== "app") return `a ${type} message carries no entries`;
  }
  if (type === "app") {
    if (v.index === undefined || v.logTerm === undefined) return "append without index or logTerm";
    const logTerm = v.logTerm as number;
    if (logTerm > term) return `append logTerm ${logTerm} is above the message term ${term}`;
    let prevTerm = logTerm;
    const ents = (v.entries ?? []) as unknown[];
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k];
      if (!isObj(e) || !isNum(e.index) || !isNum(e.term) || typeof e.data !== "string") return "malformed entry";
      if (e.type !== "normal" && e.type !== "config" && e.type !== "noop") return "entry of unknown type";
      const want = (v.index as number) + 1 + k;
      if (e.index !== want) return `entry ${k} has index ${String(e.index)}, expected ${want}`;
      const t = e.term as number;
      if (t < 1 || t < prevTerm || t > term)
        return `entry ${want} has term ${t} (previous ${prevTerm}, message ${term})`;
      prevTerm = t;
      if (e.type === "config") {
        const p = configEntryProblem(e.data);
        if (p) return `entry ${want}: ${p}`;
      }
    }
  }
  if (v.snapshot !== undefined) {
    const s = v.snapshot;
    if (!isObj(s) || !isNum(s.index) || !isNum(s.term) || !isObj(s.config)) return "malformed snapshot meta";
    if (!isObj(s.config.voters) || !isObj(s.config.learners)) return "malformed snapshot membership";
    if (type === "snap") {
      const p = membershipProblem(s.config);
      if (p) return `snapshot membership ${p}`;
      if ((s.term as number) > term) return `snapshot term ${String(s.term)} is above the message term ${term}`;
    }
  }
  if (v.chunk !== undefined && typeof v.chunk !== "string") return "snapshot chunk is not a string";
  if (type === "snap") {
    if (v.snapshot === undefined || typeof v.chunk !== "string") return "snapshot chunk without meta or data";
    const chunk = v.chunk;
    if ((v.offset ?? 0) === 0 && !(chunk.startsWith(SNAPSHOT_MAGIC) || SNAPSHOT_MAGIC.startsWith(chunk))) {
      return "snapshot data does not start with raftkv-snap/1 (incompatible peer?)";
    }
  }
  if (v.context !== undefined && typeof v.context !== "string") return "context is not a string";
  return undefined;
}

/** A join (or address announcement) request sent to a member's Raft port. */
export interface JoinRequest {
  id: string;
  incarnation: string;
  raftAddr: string;
  httpUrl: string;
  /** Ask to become a voter once caught up. */
  voter: boolean;
  /** `join`: add me as a learner if I am not a member; `announce`: only update my addresses. */
  mode: "join" | "announce";
}

/** What /raft/v1/info answers. */
export interface InfoResponse {
  id: string;
  clusterId: string;
  incarnation: string;
  /** True when this node holds Raft state (it belongs to an existing cluster, or did). */
  initialized: boolean;
  state: string;
  term: number;
  leader: { id: string; raftAddr: string | undefined } | null;
  voters: Record<string, string>;
  learners: Record<string, string>;
  /** True while this node's free space is below MIN_FREE_BYTES (a low-disk leader hands over only to `false`). */
  diskLow?: boolean;
}

/** Re-exported for transport users. */
export type { Message };
