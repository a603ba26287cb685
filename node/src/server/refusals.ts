/** Turns core refusals into the NodeErrors the client API reports. */

import { NodeError } from "../api/kv-node.ts";
import type { MembershipBook } from "../membership-book.ts";
import type { Outcome } from "../raft/types.ts";

/** The leader as NodeError reports it, or undefined when no leader is known. */
export function leaderRef(book: MembershipBook, lead: string): { id: string; httpUrl: string } | undefined {
  if (!lead) return undefined;
  return { id: lead, httpUrl: book.get(lead)?.httpUrl ?? "" };
}

/** The error for "this node cannot take writes": NOT_LEADER with the leader, or NO_LEADER. */
export function notLeader(book: MembershipBook, lead: string): NodeError {
  if (!lead) return new NodeError("NO_LEADER", "no leader is known yet; retry shortly");
  return new NodeError("NOT_LEADER", `this node is not the leader; the leader is ${lead}`, leaderRef(book, lead));
}

/** The error for a refused Outcome. */
export function refusalError(book: MembershipBook, out: Outcome & { ok: false }): NodeError {
  if (out.code === "NOT_LEADER" || out.code === "NO_LEADER") return notLeader(book, out.lead);
  return new NodeError(out.code, out.message, leaderRef(book, out.lead));
}
