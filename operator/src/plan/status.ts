/**
 * The RaftKV status of one pass: sizes, the leader, quorum math, each member, and the Available /
 * Progressing / Degraded conditions. Pure: the clock comes in as ctx.now. An unchanged cluster gives a
 * deep-equal status (transition times and recent contact times are kept from the previous status).
 */

import type { Condition, MemberStatus, RaftKVStatus } from "../raftkv.ts";
import {
  answerOf,
  type ClusterView,
  DEFAULT_LAG_SLACK,
  type MemberView,
  majority,
  viewCluster,
} from "./cluster-view.ts";
import { type ConditionUpdate, mergeConditions } from "./conditions.ts";
import type { NodeStatus, Observed } from "./observed.ts";
import { rfc3339 } from "./rfc3339.ts";
import type { Plan } from "./step.ts";

/** What buildStatus needs besides the observation and the plan. */
export interface StatusContext {
  /** metadata.generation of the RaftKV. */
  generation: number;
  /** RFC 3339 time of this pass. */
  now: string;
  /** The pods' label selector as a string (for /scale). */
  selector: string;
  /** Why applying the manifests or the plan's step failed in this pass, if it did. */
  applyError?: string;
  /** Lag slack the planner used (default 64). */
  lagSlack?: number;
}

/**
 * A member's lastContact moves only when it changes by more than this: contact times of healthy members
 * change every pass, and rewriting the status for that would make every pass write.
 */
export const LAST_CONTACT_RESOLUTION_MS = 30_000;

/** Phases during which the cluster is working toward the spec. */
const PROGRESSING = new Set(["ScalingUp", "ScalingDown", "Upgrading", "Rejoining", "Bootstrapping"]);

/** The status to write for this pass. */
export function buildStatus(o: Observed, plan: Plan, prev: RaftKVStatus | undefined, ctx: StatusContext): RaftKVStatus {
  const nowMs = Date.parse(ctx.now);
  if (Number.isNaN(nowMs)) throw new RangeError(`buildStatus: ctx.now is not an RFC 3339 time: ${ctx.now}`);
  const v = viewCluster(o, ctx.lagSlack ?? DEFAULT_LAG_SLACK);
  const status: RaftKVStatus = {
    observedGeneration: ctx.generation,
    replicas: o.statefulSet?.replicas ?? 0,
    readyReplicas: o.statefulSet?.readyReplicas ?? 0,
    selector: ctx.selector,
  };
  const members = v.leader ? leaderMembers(v, prev, nowMs) : leaderlessMembers(o, prev, nowMs);
  if (v.leader) {
    status.leader = v.leader.id;
    status.term = v.leader.term;
    status.commitIndex = v.leader.commitIndex;
  }
  const voters = v.leader ? v.voters.length : members.filter((m) => m.role !== "learner").length;
  const healthyVoters = v.leader ? v.healthyVoters : 0;
  if (voters > 0) {
    status.quorum = majority(voters);
    status.failureTolerance = Math.max(0, healthyVoters - majority(voters));
  }
  status.members = members;
  status.conditions = mergeConditions(prev?.conditions, conditions(o, plan, v, status, ctx), ctx.now);
  return status;
}

function leaderMembers(v: ClusterView, prev: RaftKVStatus | undefined, nowMs: number): MemberStatus[] {
  return v.members.map((m: MemberView) => {
    const s: MemberStatus = {
      id: m.id,
      pod: m.id,
      role: m.role === "learner" ? "learner" : m.isLeader ? "leader" : "follower",
      healthy: m.healthy,
    };
    const contact = lastContact(m.answer, m.incarnation, prev, m.id, nowMs);
    if (contact) s.lastContact = contact;
    if (m.match !== undefined) s.matchIndex = m.match;
    if (m.lag !== undefined) s.lag = m.lag;
    return s;
  });
}

/** Without a leader: the configuration of the answering node with the highest term, nobody healthy. */
function leaderlessMembers(o: Observed, prev: RaftKVStatus | undefined, nowMs: number): MemberStatus[] {
  let best: NodeStatus | undefined;
  for (const pod of o.pods) {
    const s = answerOf(o, pod.name);
    if (s && s.members.length > 0 && (!best || s.term > best.term)) best = s;
  }
  return (best?.members ?? [])
    .map((c) => {
      const s: MemberStatus = {
        id: c.id,
        pod: c.id,
        role: c.role === "learner" ? "learner" : "follower",
        healthy: false,
      };
      const contact = lastContact(answerOf(o, c.id), c.incarnation, prev, c.id, nowMs);
      if (contact) s.lastContact = contact;
      return s;
    })
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** now - lastContactMs of the member's own node (same incarnation only), kept from prev when close. */
function lastContact(
  answer: NodeStatus | undefined,
  incarnation: string,
  prev: RaftKVStatus | undefined,
  id: string,
  nowMs: number,
): string | undefined {
  if (!answer || answer.incarnation !== incarnation || answer.lastContactMs === null) return undefined;
  const t = nowMs - answer.lastContactMs;
  const before = prev?.members?.find((p) => p.id === id)?.lastContact;
  const beforeMs = before === undefined ? Number.NaN : Date.parse(before);
  if (!Number.isNaN(beforeMs) && Math.abs(t - beforeMs) < LAST_CONTACT_RESOLUTION_MS) return before;
  return rfc3339(t);
}

function conditions(o: Observed, plan: Plan, v: ClusterView, s: RaftKVStatus, ctx: StatusContext): ConditionUpdate[] {
  const g = ctx.generation;
  const bootstrapping =
    !o.statefulSet || (!v.leader && !o.pods.some((p) => (answerOf(o, p.name)?.members.length ?? 0) > 0));
  const quorumOk = v.leader !== undefined && v.healthyVoters >= v.quorum;

  let available: ConditionUpdate;
  if (quorumOk) {
    available = cond(
      "Available",
      "True",
      "QuorumHealthy",
      `${v.healthyVoters} of ${v.voters.length} voters healthy, leader ${v.leader?.id}`,
      g,
    );
  } else if (bootstrapping) {
    available = cond("Available", "False", "Bootstrapping", "the cluster has not formed yet", g);
  } else if (!v.leader) {
    available = cond(
      "Available",
      "False",
      "NoLeader",
      plan.phase === "Blocked" ? plan.message : "no node reports a leader",
      g,
    );
  } else {
    available = cond(
      "Available",
      "False",
      "QuorumLost",
      `${v.healthyVoters} of ${v.voters.length} voters healthy, ${v.quorum} needed`,
      g,
    );
  }

  const progressing = PROGRESSING.has(plan.phase)
    ? cond("Progressing", "True", plan.phase, plan.message, g)
    : cond(
        "Progressing",
        "False",
        plan.phase === "Paused" ? "Paused" : plan.phase === "Blocked" ? "Blocked" : "Stable",
        plan.message,
        g,
      );

  const problems: { reason: string; message: string }[] = [];
  if (!quorumOk && !bootstrapping) problems.push({ reason: "QuorumLost", message: available.message });
  const failing = o.pods.filter((p) => p.startFailure);
  if (failing.length > 0) {
    const what = failing.map((p) => `${p.name}: ${p.startFailure?.reason} (${p.startFailure?.message})`);
    problems.push({ reason: "PodsNotStarting", message: `pods cannot start: ${what.join("; ")}` });
  }
  if (ctx.applyError) problems.push({ reason: "ApplyFailed", message: ctx.applyError });
  if (quorumOk && s.failureTolerance === 0 && o.desiredReplicas > 1) {
    problems.push({
      reason: "QuorumAtRisk",
      message: `${v.healthyVoters} healthy voters: one more failure loses the quorum`,
    });
  }
  const sick = v.voters.filter((m) => !m.healthy);
  if (quorumOk && sick.length > 0) {
    problems.push({ reason: "MemberUnhealthy", message: sick.map((m) => `${m.id}: ${m.problem}`).join("; ") });
  }
  const first = problems[0];
  const degraded = first
    ? cond("Degraded", "True", first.reason, problems.map((p) => p.message).join("; "), g)
    : cond("Degraded", "False", "Healthy", v.voters.length > 0 ? "all members healthy" : "no members yet", g);
  return [available, progressing, degraded];
}

function cond(
  type: Condition["type"],
  status: Condition["status"],
  reason: string,
  message: string,
  g: number,
): ConditionUpdate {
  return { type, status, reason, message, observedGeneration: g };
}
