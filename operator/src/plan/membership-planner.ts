/**
 * The membership planner: from one Observed pass, the StatefulSet size and the ONE next safe step. Pure.
 *
 * Terms. The leader is the node answering `leader` with the highest term; its configuration is the truth.
 * A member is healthy when its pod exists and is not terminating, its node answers /status under its own id
 * and the configured incarnation, knows the leader (or is it), and the leader's match for it is within
 * `lagSlack` of the commit index. A voter change (promote, remove a voter, re-add a stale voter as a learner)
 * is made only when the configuration after it still has a healthy majority.
 *
 * Order of a pass (the first rule with something to do wins; waits are remembered and reported last):
 *  0. No StatefulSet: create it with spec.replicas (Bootstrapping). Paused: keep its size, do nothing.
 *  1. Delete a leftover claim: ordinal >= StatefulSet replicas, no pod of that ordinal, and no answering
 *     node lists its id in a configuration. Safe with or without a quorum.
 *  -  No leader, or fewer healthy voters than a majority: Blocked (NoLeader / QuorumLost), no membership
 *     change and no pod deletion, except deleting an OUTDATED pod whose container cannot start and that
 *     does not answer (it runs nothing; only the new template can fix it, and OnDelete never replaces it).
 *  -  The StatefulSet grows (by one) while a configured member's ordinal has no place in it.
 *  2. A member (ordinal < desired) whose node answers under another incarnation: addLearner with the new
 *     one (Rejoining); this demotes a stale voter, so quorum is checked without it.
 *  3. A healthy learner (ordinal < desired): promote, lowest ordinal first. Others wait (CatchingUp).
 *  4. A pod below min(replicas, desired) answering but not configured: addLearner (ScalingUp).
 *  5. Scale down (desired < replicas), ordinal k = replicas-1 first: leader -> transferLeader to the most
 *     caught-up healthy voter below desired; member -> removeMember (if that would cost the healthy
 *     majority, first remove an unhealthy member that is going away anyway); else, once no member's node
 *     still lists k, StatefulSet replicas - 1.
 *     Scale up (replicas < desired): when every ordinal below replicas is a healthy voter and no learner
 *     is pending, StatefulSet replicas + 1 (one pod at a time).
 *  6. Upgrade (pods whose revision != updateRevision): an outdated pod that is not a healthy member may be
 *     deleted at any time (it counts for nothing). Once everything else has converged: outdated followers,
 *     highest ordinal first, each only if the rest keeps a healthy majority; the leader last, by
 *     transferLeader to a healthy updated voter and then deletePod once it follows. Clusters of one or two
 *     voters have no failure tolerance: they restart their members anyway, one at a time, and say so;
 *     except a two-member cluster whose pods keep no data claim (kvStore memory), which would come back
 *     wiped and never regain its quorum: it waits (UpgradeNeedsDowntime).
 *  7. Otherwise Stable (reporting the first wait, e.g. a member that is down, as the reason).
 * The StatefulSet's replicas move by at most one per pass and never drop below a member's ordinal + 1.
 */

import {
  answerOf,
  type ClusterView,
  DEFAULT_LAG_SLACK,
  hasHealthyMajority,
  type MemberView,
  mostCaughtUp,
  nodeError,
  ordinalOf,
  sortedPods,
  viewCluster,
} from "./cluster-view.ts";
import type { Observed, ObservedPod, ObservedStatefulSet } from "./observed.ts";
import type { Action, Phase, Plan } from "./step.ts";
import { replaceOutdatedUnhealthy, upgradeMembers } from "./upgrade-rule.ts";

/** Options of the planner. */
export interface PlanOptions {
  /** Largest lag (entries behind the leader's commit) of a member that still counts as healthy. */
  lagSlack?: number;
}

/** Something that keeps the cluster from converging this pass. */
export interface Wait {
  reason: string;
  message: string;
}

const NONE: Action = { kind: "none" };

/** The one next safe step for this observed cluster. */
export function planMembership(o: Observed, opts: PlanOptions = {}): Plan {
  const lagSlack = opts.lagSlack ?? DEFAULT_LAG_SLACK;
  if (!Number.isInteger(o.desiredReplicas) || o.desiredReplicas < 1) {
    throw new RangeError(`planMembership: desiredReplicas must be an integer >= 1, got ${o.desiredReplicas}`);
  }
  if (!Number.isFinite(lagSlack) || lagSlack < 0) {
    throw new RangeError(`planMembership: lagSlack must be a number >= 0, got ${lagSlack}`);
  }
  const sts = o.statefulSet;
  if (!sts) {
    return plan(o.desiredReplicas, NONE, "Bootstrapping", "Bootstrapping", "creating the StatefulSet");
  }
  if (o.paused) {
    return plan(sts.replicas, NONE, "Paused", "Paused", "paused: only status is updated");
  }
  const v = viewCluster(o, lagSlack);
  const leader = v.leader?.id;
  const claim = leftoverClaim(o, sts, v);
  if (claim) {
    return plan(
      sts.replicas,
      { kind: "deleteClaim", claim: claim.name },
      "ScalingDown",
      "DeletingClaim",
      `deleting claim ${claim.name}: its member left the cluster and its pod is gone`,
      leader,
    );
  }
  if (!v.leader || v.healthyVoters < v.quorum) return blocked(o, sts, v);

  if (sts.replicas < v.memberFloor) {
    const m = v.members.filter((x) => (x.ordinal ?? -1) >= sts.replicas).map((x) => x.id);
    return plan(
      sts.replicas + 1,
      NONE,
      "ScalingUp",
      "RestoringMemberPod",
      `${m.join(", ")} still in the configuration: growing the StatefulSet to give it a pod`,
      leader,
    );
  }
  return new Pass(o, sts, v, leader).run();
}

/** The rules that need a leader with a healthy majority; `waits` collects what blocks convergence. */
export class Pass {
  readonly o: Observed;
  readonly sts: ObservedStatefulSet;
  readonly v: ClusterView;
  readonly leader: string | undefined;
  readonly desired: number;
  readonly waits: Wait[] = [];

  /** A pass over one observation. */
  constructor(o: Observed, sts: ObservedStatefulSet, v: ClusterView, leader: string | undefined) {
    this.o = o;
    this.sts = sts;
    this.v = v;
    this.leader = leader;
    this.desired = o.desiredReplicas;
  }

  /** The first rule with something to do, in priority order. */
  run(): Plan {
    return (
      this.rejoin() ??
      this.promote() ??
      this.addNew() ??
      (this.sts.replicas > this.desired ? this.scaleDown() : this.scaleUp()) ??
      replaceOutdatedUnhealthy(this) ??
      upgradeMembers(this) ??
      this.settle()
    );
  }

  /** A plan with this pass's StatefulSet size (unless given) and leader. */
  act(action: Action, phase: Phase, reason: string, message: string, replicas = this.sts.replicas): Plan {
    return plan(replicas, action, phase, reason, message, this.leader);
  }

  /** The member's ordinal is one spec.replicas keeps. */
  wanted(m: MemberView): boolean {
    return m.ordinal !== undefined && m.ordinal < this.desired;
  }

  /** Rule 2: re-add a member whose node came back under a new incarnation. */
  rejoin(): Plan | undefined {
    for (const m of this.v.members) {
      if (!m.stale || !this.wanted(m) || m.isLeader || !m.answer || m.pod?.deleting) continue;
      const after = m.role === "voter" ? this.v.voters.filter((x) => x !== m) : this.v.voters;
      if (!hasHealthyMajority(after)) {
        this.waits.push({
          reason: "WaitingForQuorum",
          message: `${m.id} must rejoin, but demoting it now would lose the healthy majority`,
        });
        continue;
      }
      return this.act(
        { kind: "addLearner", id: m.id, incarnation: m.answer.incarnation },
        "Rejoining",
        "Rejoining",
        `${m.id} came back under a new incarnation (wiped disk): re-adding it as a learner`,
      );
    }
    return undefined;
  }

  /** Rule 3: promote a caught-up learner. */
  promote(): Plan | undefined {
    for (const m of this.v.learners) {
      if (!this.wanted(m) || m.stale) continue;
      if (!m.healthy) {
        const reason = m.answer ? "CatchingUp" : "WaitingForPod";
        this.waits.push({ reason, message: `learner ${m.id}: ${m.problem}` });
        continue;
      }
      if (!hasHealthyMajority([...this.v.voters, m])) continue;
      return this.act({ kind: "promote", id: m.id }, "ScalingUp", "Promoting", `promoting ${m.id}: it has caught up`);
    }
    return undefined;
  }

  /** Rule 4: add pods that answer but are not in the configuration. */
  addNew(): Plan | undefined {
    const limit = Math.min(this.sts.replicas, this.desired);
    const configured = new Set(this.v.members.map((m) => m.id));
    for (const pod of sortedPods(this.o)) {
      if (pod.ordinal >= limit || configured.has(pod.name) || pod.deleting) continue;
      const s = answerOfPod(this.o, pod);
      if (!s) {
        this.waits.push({
          reason: "WaitingForPod",
          message: `${pod.name} does not answer /status yet (${nodeError(this.o, pod.name)})`,
        });
        continue;
      }
      return this.act(
        { kind: "addLearner", id: pod.name, incarnation: s.incarnation },
        "ScalingUp",
        "ScalingUp",
        `adding ${pod.name} as a learner`,
      );
    }
    return undefined;
  }

  /** Rule 5, down: the highest ordinal first. */
  scaleDown(): Plan | undefined {
    const k = this.sts.replicas - 1;
    const m = this.v.members.find((x) => x.ordinal === k);
    if (m?.isLeader) {
      const to = mostCaughtUp(this.v.voters.filter((x) => !x.isLeader && x.healthy && this.wanted(x)));
      if (to) {
        return this.act(
          { kind: "transferLeader", from: m.id, to: to.id },
          "ScalingDown",
          "TransferringLeader",
          `moving leadership from ${m.id} to ${to.id} before removing ${m.id}`,
        );
      }
      this.waits.push({
        reason: "WaitingForQuorum",
        message: `${m.id} leads and no healthy voter can take over before it is removed`,
      });
      return undefined;
    }
    if (m) {
      const after = m.role === "voter" ? this.v.voters.filter((x) => x !== m) : this.v.voters;
      if (!hasHealthyMajority(after)) {
        // An unhealthy member that is going away anyway can always go first: it counts for nothing.
        const dead = this.v.members.filter((x) => !x.healthy && !x.isLeader && !this.wanted(x)).at(-1);
        if (dead) {
          return this.act(
            { kind: "removeMember", id: dead.id },
            "ScalingDown",
            "ScalingDown",
            `removing ${dead.id} (${dead.problem}) first`,
          );
        }
        this.waits.push({
          reason: "WaitingForQuorum",
          message: `removing ${m.id} now would leave no healthy majority`,
        });
        return undefined;
      }
      return this.act(
        { kind: "removeMember", id: m.id },
        "ScalingDown",
        "ScalingDown",
        `removing ${m.id} from the cluster`,
      );
    }
    const lingering = [...this.v.idsMembersKnow].find((id) => ordinalOf(id) === k);
    if (lingering) {
      this.waits.push({
        reason: "RemovalPending",
        message: `some members still list ${lingering} in their configuration`,
      });
      return undefined;
    }
    return this.act(NONE, "ScalingDown", "ScalingDown", `shrinking the StatefulSet to ${k} pods`, k);
  }

  /** Rule 5, up: one more pod once all current pods are healthy voters. */
  scaleUp(): Plan | undefined {
    if (this.sts.replicas >= this.desired) return undefined;
    const notReady = this.notConverged(this.sts.replicas);
    if (notReady) {
      this.waits.push(notReady);
      return undefined;
    }
    const next = this.sts.replicas;
    const claim = this.o.claims.find((c) => c.ordinal === next && c.deleting);
    if (claim) {
      this.waits.push({ reason: "WaitingForClaim", message: `claim ${claim.name} is still being deleted` });
      return undefined;
    }
    return this.act(NONE, "ScalingUp", "ScalingUp", `growing the StatefulSet to ${next + 1} pods`, next + 1);
  }

  /** Why ordinals 0..n-1 are not exactly n healthy voters with nothing else configured, or undefined. */
  notConverged(n: number): Wait | undefined {
    for (let i = 0; i < n; i++) {
      const pod = this.o.pods.find((p) => p.ordinal === i);
      if (!pod) return { reason: "WaitingForPod", message: `pod of ordinal ${i} does not exist yet` };
      if (pod.deleting) return { reason: "WaitingForPod", message: `${pod.name} is terminating` };
      const m = this.v.members.find((x) => x.id === pod.name);
      if (!m) return { reason: "WaitingForPod", message: `${pod.name} is not a member yet` };
      if (m.role !== "voter") return { reason: "CatchingUp", message: `${m.id} is still a learner` };
      if (!m.healthy) return { reason: "MemberUnhealthy", message: `${m.id}: ${m.problem}` };
    }
    const extra = this.v.members.find((m) => m.ordinal === undefined || m.ordinal >= n);
    if (extra)
      return { reason: "MemberUnhealthy", message: `${extra.id} is configured but has no place among ${n} pods` };
    return undefined;
  }

  /** Rule 7: nothing to do; report the first wait, or Stable. */
  settle(): Plan {
    const converged = this.notConverged(this.desired);
    const wait = this.waits[0] ?? converged;
    if (!wait) return this.act(NONE, "Stable", "Stable", `${this.desired} healthy voters on the current revision`);
    return this.act(NONE, this.waitingPhase(), wait.reason, wait.message);
  }

  /** The phase to report while waiting: the largest change still under way. */
  waitingPhase(): Phase {
    const { sts, v, desired } = this;
    if (sts.replicas > desired || v.members.some((m) => !this.wanted(m))) return "ScalingDown";
    if (v.members.some((m) => m.stale)) return "Rejoining";
    const configured = new Set(v.members.map((m) => m.id));
    const missing = this.o.pods.some((p) => p.ordinal < desired && !configured.has(p.name));
    if (sts.replicas < desired || v.learners.length > 0 || missing || v.members.length < desired) return "ScalingUp";
    if (this.o.pods.some((p) => p.revision !== sts.updateRevision)) return "Upgrading";
    return "Stable";
  }
}

/** No leader or no healthy majority: nothing changes membership; only a pod that cannot start is replaced. */
function blocked(o: Observed, sts: ObservedStatefulSet, v: ClusterView): Plan {
  const leader = v.leader?.id;
  // Growing toward a member's ordinal only creates a pod, which can only help a lost quorum.
  const replicas = v.leader && sts.replicas < v.memberFloor ? sts.replicas + 1 : sts.replicas;
  let reason: string;
  let message: string;
  if (!v.leader) {
    reason = "NoLeader";
    const silent = sortedPods(o)
      .filter((p) => !answerOfPod(o, p))
      .map((p) => p.name);
    message =
      o.pods.length === 0
        ? "no pods yet, so no leader"
        : `no node reports a leader${silent.length ? `; not answering: ${silent.join(", ")}` : ""}`;
  } else {
    reason = "QuorumLost";
    const sick = v.voters.filter((m) => !m.healthy).map((m) => `${m.id} (${m.problem})`);
    message = `${v.healthyVoters} of ${v.voters.length} voters healthy, ${v.quorum} needed; unhealthy: ${sick.join("; ")}`;
  }
  for (const pod of replicas === sts.replicas ? sortedPods(o).reverse() : []) {
    if (pod.revision === sts.updateRevision || pod.deleting || !pod.startFailure || answerOfPod(o, pod)) continue;
    return plan(
      replicas,
      { kind: "deletePod", pod: pod.name },
      "Blocked",
      reason,
      `${message}; replacing outdated ${pod.name}, which cannot start (${pod.startFailure.reason})`,
      leader,
    );
  }
  return plan(replicas, NONE, "Blocked", reason, message, leader);
}

/** Rule 1: a claim of an ordinal the StatefulSet no longer has, whose pod is gone and that no node lists. */
function leftoverClaim(o: Observed, sts: ObservedStatefulSet, v: ClusterView) {
  const ids = [...v.idsAnyNodeKnows, ...v.members.map((m) => m.id)];
  return [...o.claims]
    .sort((a, b) => a.ordinal - b.ordinal)
    .find(
      (c) =>
        !c.deleting &&
        c.ordinal >= sts.replicas &&
        !o.pods.some((p) => p.ordinal === c.ordinal) &&
        !ids.some((id) => ordinalOf(id) === c.ordinal),
    );
}

function answerOfPod(o: Observed, pod: ObservedPod) {
  return answerOf(o, pod.name);
}

function plan(
  statefulSetReplicas: number,
  action: Action,
  phase: Phase,
  reason: string,
  message: string,
  leader?: string,
): Plan {
  const p: Plan = { statefulSetReplicas, action, phase, reason, message };
  if (leader !== undefined) p.leader = leader;
  return p;
}
