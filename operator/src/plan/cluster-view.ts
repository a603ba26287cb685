/**
 * One reading of an Observed cluster shared by the planner and the status builder: who leads, the
 * leader's configuration, and which members are healthy (and why not). Pure.
 */

import type { NodeStatus, Observed, ObservedPod } from "./observed.ts";

/** How far (in log entries) a member's match may trail the leader's commit index and still count. */
export const DEFAULT_LAG_SLACK = 64;

/** One member of the leader's configuration, as this pass sees it. */
export interface MemberView {
  id: string;
  /** The pod ordinal the id ends with, if it does. */
  ordinal: number | undefined;
  role: "voter" | "learner";
  /** The incarnation the configuration binds. */
  incarnation: string;
  /** The leader's match for it (the leader's own last log index for the leader). */
  match: number | undefined;
  /** Leader's commit index minus match, never negative. */
  lag: number | undefined;
  pod: ObservedPod | undefined;
  /** Its node's /status, when it answered under its own id. */
  answer: NodeStatus | undefined;
  isLeader: boolean;
  /** Its node answers under another incarnation than the configured one (wiped disk). */
  stale: boolean;
  healthy: boolean;
  /** Why it is not healthy, for messages. */
  problem: string | undefined;
}

/** What one pass reads of the cluster. */
export interface ClusterView {
  /** The leader's /status: the node answering `leader` with the highest term. */
  leader: NodeStatus | undefined;
  /** The leader's configuration, ordered by ordinal (unknown ordinals last, by id). */
  members: MemberView[];
  voters: MemberView[];
  learners: MemberView[];
  /** Voters needed for a majority of the leader's configuration. */
  quorum: number;
  healthyVoters: number;
  /** Ids in any configuration any answering node reports, the leader's included. */
  idsAnyNodeKnows: Set<string>;
  /** Ids in the configuration reported by the leader or by any answering member. */
  idsMembersKnow: Set<string>;
  /** Highest configured ordinal + 1 (0 without a leader or members). */
  memberFloor: number;
}

/** Majority of n voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** True when at least a majority of these voters are healthy (an empty configuration has none). */
export function hasHealthyMajority(voters: readonly { healthy: boolean }[]): boolean {
  return voters.length > 0 && voters.filter((v) => v.healthy).length >= majority(voters.length);
}

/** The ordinal a pod name or Raft id ends with (`web-3` -> 3), or undefined. */
export function ordinalOf(id: string): number | undefined {
  const m = /-(\d+)$/.exec(id);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** A pod's /status answer, only when the node answered under the pod's own name. */
export function answerOf(o: Observed, podName: string): NodeStatus | undefined {
  const a = o.nodes[podName];
  return a?.ok && a.status.id === podName ? a.status : undefined;
}

/** Picks the leader: among nodes answering `leader`, the highest term (ties: smallest id). */
export function findLeader(o: Observed): NodeStatus | undefined {
  let best: NodeStatus | undefined;
  for (const pod of o.pods) {
    const s = answerOf(o, pod.name);
    if (s?.state !== "leader") continue;
    if (!best || s.term > best.term || (s.term === best.term && s.id < best.id)) best = s;
  }
  return best;
}

function byOrdinal(a: { id: string; ordinal: number | undefined }, b: { id: string; ordinal: number | undefined }) {
  const x = a.ordinal ?? Number.MAX_SAFE_INTEGER;
  const y = b.ordinal ?? Number.MAX_SAFE_INTEGER;
  return x !== y ? x - y : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Reads the cluster; `lagSlack` is the largest lag a healthy member may have. */
export function viewCluster(o: Observed, lagSlack: number): ClusterView {
  const leader = findLeader(o);
  const podByName = new Map(o.pods.map((p) => [p.name, p]));
  const members: MemberView[] = [];
  for (const c of leader?.members ?? []) {
    const pod = podByName.get(c.id);
    const answer = pod ? answerOf(o, pod.name) : undefined;
    const isLeader = c.id === leader?.id;
    const match = isLeader ? leader?.lastLogIndex : c.match;
    const lag = match === undefined || !leader ? undefined : Math.max(0, leader.commitIndex - match);
    const stale = answer !== undefined && answer.incarnation !== c.incarnation;
    let problem: string | undefined;
    if (!pod) problem = "its pod does not exist";
    else if (pod.deleting) problem = "its pod is terminating";
    else if (!answer) problem = `its node does not answer /status (${nodeError(o, pod.name)})`;
    else if (stale)
      problem = `its node answers under incarnation ${answer.incarnation}, not ${c.incarnation} (wiped disk)`;
    else if (!isLeader && answer.leader?.id !== leader?.id) problem = "its node does not know the leader";
    else if (lag === undefined) problem = "the leader reports no match for it";
    else if (lag > lagSlack) problem = `it lags ${lag} entries behind the commit index`;
    // Its readiness probe too: Services and the PodDisruptionBudget count Ready pods, and a restarted member
    // answers /status before the kubelet's next probe marks it Ready.
    else if (!pod.ready) problem = "its pod is not Ready";
    members.push({
      id: c.id,
      ordinal: ordinalOf(c.id),
      role: c.role,
      incarnation: c.incarnation,
      match,
      lag,
      pod,
      answer,
      isLeader,
      stale,
      healthy: problem === undefined,
      problem,
    });
  }
  members.sort(byOrdinal);
  const voters = members.filter((m) => m.role === "voter");
  const idsAnyNodeKnows = new Set<string>();
  const idsMembersKnow = new Set<string>(members.map((m) => m.id));
  const memberIds = new Set(idsMembersKnow);
  for (const pod of o.pods) {
    const s = answerOf(o, pod.name);
    for (const c of s?.members ?? []) {
      idsAnyNodeKnows.add(c.id);
      if (memberIds.has(pod.name)) idsMembersKnow.add(c.id);
    }
  }
  let memberFloor = 0;
  for (const m of members) if (m.ordinal !== undefined) memberFloor = Math.max(memberFloor, m.ordinal + 1);
  return {
    leader,
    members,
    voters,
    learners: members.filter((m) => m.role === "learner"),
    quorum: majority(voters.length),
    healthyVoters: voters.filter((v) => v.healthy).length,
    idsAnyNodeKnows,
    idsMembersKnow,
    memberFloor,
  };
}

/** Why a node gave no usable answer. */
export function nodeError(o: Observed, podName: string): string {
  const a = o.nodes[podName];
  if (!a) return "not asked";
  if (!a.ok) return a.error;
  return `it answers as ${a.status.id}`;
}

/** Pods by ordinal. */
export function sortedPods(o: Observed): ObservedPod[] {
  return [...o.pods].sort((a, b) => a.ordinal - b.ordinal);
}

/** The member with the highest match (ties: the first given). */
export function mostCaughtUp(candidates: readonly MemberView[]): MemberView | undefined {
  let best: MemberView | undefined;
  for (const m of candidates) if (!best || (m.match ?? -1) > (best.match ?? -1)) best = m;
  return best;
}
