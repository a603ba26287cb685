/**
 * The membership planner's answer: the StatefulSet size to apply and at most one action, plus where the
 * cluster stands (the phase and reason status reports).
 */

/** One action on the cluster. Membership actions go to the leader's admin API. */
export type Action =
  | { kind: "none" }
  /** POST /admin/members: add pod `id` as a learner under the incarnation its node reported. */
  | { kind: "addLearner"; id: string; incarnation: string }
  /** POST /admin/members/<id>/promote. */
  | { kind: "promote"; id: string }
  /** POST /admin/transfer-leader {id: to} on the leader `from`. */
  | { kind: "transferLeader"; from: string; to: string }
  /** DELETE /admin/members/<id>. */
  | { kind: "removeMember"; id: string }
  /** Delete a pod so the StatefulSet recreates it from the new template (OnDelete upgrade). */
  | { kind: "deletePod"; pod: string }
  /** Delete the claim of a member that scale-down removed. */
  | { kind: "deleteClaim"; claim: string };

/** What the cluster is doing, for status.conditions. */
export type Phase =
  | "Stable"
  | "Bootstrapping"
  | "ScalingUp"
  | "ScalingDown"
  | "Upgrading"
  | "Rejoining"
  | "Paused"
  | "Blocked";

/** The one next safe step. */
export interface Plan {
  /** spec.replicas to apply to the StatefulSet now. */
  statefulSetReplicas: number;
  action: Action;
  phase: Phase;
  /** CamelCase reason: ScalingUp, WaitingForPod, CatchingUp, QuorumLost, ... */
  reason: string;
  /** One sentence for people. */
  message: string;
  /** The Raft leader's id, when one is known (admin calls go there). */
  leader?: string;
}
