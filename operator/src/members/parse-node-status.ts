/**
 * Checks a GET /status body against the subset the operator uses (NodeStatus in plan/observed.ts, from
 * the node's openapi.json) and copies out exactly that subset. A pod's answer is untrusted input: a broken
 * or hostile node must yield a clear refusal, never a value the planner could trip over.
 */

import type { NodeStatus } from "../plan/observed.ts";

const STATES: readonly NodeStatus["state"][] = ["follower", "preCandidate", "candidate", "leader"];
const ROLES: readonly NodeStatus["members"][number]["role"][] = ["voter", "learner"];
/** Longer strings than any id, incarnation or state the node produces are refused. */
const MAX_STRING = 512;
/** More members than any cluster the operator runs; bounds the work spent on a hostile answer. */
const MAX_MEMBERS = 1000;

class Bad extends Error {}

function record(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Bad(`${at} is not an object`);
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, at: string): string {
  const v = o[key];
  if (typeof v !== "string" || v === "" || v.length > MAX_STRING) {
    throw new Bad(`${at}${key} must be a non-empty string of at most ${MAX_STRING} characters`);
  }
  return v;
}

function count(o: Record<string, unknown>, key: string, at: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new Bad(`${at}${key} must be a non-negative integer`);
  }
  return v;
}

function oneOf<T extends string>(o: Record<string, unknown>, key: string, allowed: readonly T[], at: string): T {
  const v = o[key];
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw new Bad(`${at}${key} must be one of ${allowed.join(", ")}`);
  }
  return v as T;
}

function member(v: unknown, i: number): NodeStatus["members"][number] {
  const at = `members[${i}].`;
  const o = record(v, `members[${i}]`);
  const m: NodeStatus["members"][number] = {
    id: str(o, "id", at),
    role: oneOf(o, "role", ROLES, at),
    incarnation: str(o, "incarnation", at),
  };
  if (o.match !== undefined) m.match = count(o, "match", at);
  return m;
}

/** The NodeStatus subset of `body`, or what is wrong with it. */
export function parseNodeStatus(body: unknown): { ok: true; status: NodeStatus } | { ok: false; error: string } {
  try {
    const o = record(body, "the body");
    const leaderRaw = o.leader;
    const leader = leaderRaw === null ? null : { id: str(record(leaderRaw, "leader"), "id", "leader.") };
    if (!Array.isArray(o.members)) throw new Bad("members is not an array");
    if (o.members.length > MAX_MEMBERS) throw new Bad(`members lists more than ${MAX_MEMBERS} entries`);
    const members = o.members.map(member);
    const ids = new Set(members.map((m) => m.id));
    if (ids.size !== members.length) throw new Bad("members lists an id twice");
    const lastContactMs = o.lastContactMs === null ? null : count(o, "lastContactMs", "");
    return {
      ok: true,
      status: {
        id: str(o, "id", ""),
        incarnation: str(o, "incarnation", ""),
        state: oneOf(o, "state", STATES, ""),
        term: count(o, "term", ""),
        leader,
        commitIndex: count(o, "commitIndex", ""),
        appliedIndex: count(o, "appliedIndex", ""),
        lastLogIndex: count(o, "lastLogIndex", ""),
        members,
        lastContactMs,
      },
    };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, error: `bad /status answer: ${e.message}` };
    throw e;
  }
}
