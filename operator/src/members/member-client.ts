/**
 * The one interface through which the operator reaches raftkv nodes: their GET /status and the admin
 * routes of the leader. Production speaks HTTP to the pods' DNS names (http-member-client.ts); tests
 * point the same client at real node processes on loopback through PodAddressing.
 */

import type { NodeAnswer } from "../plan/observed.ts";

/** A member to add: its Raft id, addresses, and the incarnation its node reported. */
export interface NewMember {
  id: string;
  raftAddr: string;
  httpUrl: string;
  incarnation: string;
}

/** A refusal or failure of an admin call: the node's stable error code when it answered with one. */
export class MemberCallError extends Error {
  /** The node's `code` (e.g. CONFIG_CHANGE_PENDING), or TIMEOUT / UNREACHABLE / BAD_ANSWER. */
  readonly code: string;
  /** HTTP status, 0 when there was no answer. */
  readonly status: number;
  /** Makes an error for one call. */
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = "MemberCallError";
    this.code = code;
    this.status = status;
  }
}

/** Reaches nodes by their client URL (`http://host:port`). `secret` is the cluster's Raft secret. */
export interface MemberClient {
  /** GET /status; never throws (the failure is the answer). */
  status(httpUrl: string): Promise<NodeAnswer>;
  /** POST /admin/members on the leader. */
  addLearner(leaderUrl: string, secret: string, m: NewMember): Promise<void>;
  /** POST /admin/members/<id>/promote on the leader. */
  promote(leaderUrl: string, secret: string, id: string): Promise<void>;
  /** DELETE /admin/members/<id> on the leader. */
  remove(leaderUrl: string, secret: string, id: string): Promise<void>;
  /** POST /admin/transfer-leader {id: to} on the leader. */
  transferLeader(leaderUrl: string, secret: string, to: string): Promise<void>;
}
