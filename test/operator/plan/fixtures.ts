/** Builders of Observed clusters for the planner and status tests: one line per pod. */

import type { NodeStatus, Observed, ObservedPod } from "../../../operator/src/plan/observed.ts";

/** One pod (and its member entry) of a test cluster. */
export interface PodSpec {
  ordinal: number;
  /** Its entry in the leader's configuration; "none" = not configured. Default voter. */
  role?: "voter" | "learner" | "none";
  /** The pod object does not exist. */
  noPod?: boolean;
  /** The node does not answer /status. */
  silent?: boolean;
  /** The node answers but the pod's readiness probe has not passed (yet). */
  notReady?: boolean;
  /** The incarnation the node answers with (default: the configured one, `inc-<ordinal>`). */
  answersAs?: string;
  /** Default true for members, false for others. */
  knowsLeader?: boolean;
  /** The leader's match (default: commit). */
  match?: number;
  /** Default: the update revision. */
  revision?: string;
  deleting?: boolean;
  startFailure?: string;
  lastContactMs?: number | null;
}

/** A whole test cluster. */
export interface ClusterSpec {
  name?: string;
  desired: number;
  /** StatefulSet replicas; undefined = no StatefulSet (pass `noStatefulSet`). */
  replicas: number;
  noStatefulSet?: boolean;
  paused?: boolean;
  /** Ordinal of the leader; undefined = nobody leads. */
  leader?: number;
  commit?: number;
  term?: number;
  pods: PodSpec[];
  claims?: number[];
  deletingClaims?: number[];
}

/** The update revision of every test StatefulSet. */
export const NEW = "rev-new";
/** An outdated revision. */
export const OLD = "rev-old";

/** The pod name of an ordinal. */
export function podName(ordinal: number, name = "kv"): string {
  return `${name}-${ordinal}`;
}

/** Builds the Observed of a ClusterSpec. */
export function cluster(c: ClusterSpec): Observed {
  const name = c.name ?? "kv";
  const commit = c.commit ?? 1000;
  const term = c.term ?? 5;
  const leaderId = c.leader === undefined ? undefined : podName(c.leader, name);
  const config = c.pods
    .filter((p) => (p.role ?? "voter") !== "none")
    .map((p) => ({
      id: podName(p.ordinal, name),
      role: (p.role ?? "voter") as "voter" | "learner",
      incarnation: `inc-${p.ordinal}`,
      match: p.match ?? commit,
    }));
  const pods: ObservedPod[] = [];
  const nodes: Observed["nodes"] = {};
  for (const p of c.pods) {
    const id = podName(p.ordinal, name);
    if (p.noPod) continue;
    const pod: ObservedPod = {
      name: id,
      ordinal: p.ordinal,
      phase: p.silent ? "Pending" : "Running",
      ready: !p.silent && !p.notReady,
      deleting: p.deleting ?? false,
      revision: p.revision ?? NEW,
    };
    if (p.startFailure) pod.startFailure = { reason: p.startFailure, message: `${p.startFailure} for ${id}` };
    pods.push(pod);
    if (p.silent) {
      nodes[id] = { ok: false, error: "connect ECONNREFUSED" };
      continue;
    }
    const member = (p.role ?? "voter") !== "none";
    const isLeader = id === leaderId;
    const knows = p.knowsLeader ?? member;
    const status: NodeStatus = {
      id,
      incarnation: p.answersAs ?? `inc-${p.ordinal}`,
      state: isLeader ? "leader" : "follower",
      term,
      leader: leaderId && knows ? { id: leaderId } : null,
      commitIndex: member ? commit : 0,
      appliedIndex: member ? commit : 0,
      lastLogIndex: isLeader ? commit : member ? (p.match ?? commit) : 0,
      members: isLeader
        ? config.map((m) => ({ ...m }))
        : member && p.answersAs === undefined
          ? config.map(({ match: _m, ...m }) => m)
          : [],
      lastContactMs: p.lastContactMs !== undefined ? p.lastContactMs : isLeader ? 0 : knows ? 50 : null,
    };
    nodes[id] = { ok: true, status };
  }
  const deleting = new Set(c.deletingClaims ?? []);
  return {
    desiredReplicas: c.desired,
    paused: c.paused ?? false,
    statefulSet: c.noStatefulSet
      ? undefined
      : {
          replicas: c.replicas,
          readyReplicas: pods.filter((p) => p.ready && p.ordinal < c.replicas).length,
          updateRevision: NEW,
        },
    pods,
    claims: [...(c.claims ?? []), ...deleting].map((o) => ({
      name: `data-${podName(o, name)}`,
      ordinal: o,
      deleting: deleting.has(o),
    })),
    nodes,
  };
}

/** `n` healthy voters 0..n-1 led by ordinal 0, StatefulSet of n, desired n, plus overrides per ordinal. */
export function healthy(
  n: number,
  over: Partial<ClusterSpec> = {},
  podOver: Record<number, Partial<PodSpec>> = {},
): Observed {
  const pods: PodSpec[] = [];
  for (let i = 0; i < n; i++) pods.push({ ordinal: i, ...podOver[i] });
  return cluster({ desired: n, replicas: n, leader: 0, pods, claims: pods.map((p) => p.ordinal), ...over });
}
