/**
 * Rule 6 of the membership planner, the OnDelete upgrade: replace outdated pods that count for nothing at
 * once, then healthy outdated members one at a time (followers first, the leader last). Pure.
 */

import { answerOf, hasHealthyMajority, type MemberView, mostCaughtUp, sortedPods } from "./cluster-view.ts";
import type { Pass } from "./membership-planner.ts";
import type { Plan } from "./step.ts";

/** Rule 6a: outdated pods that are not healthy members count for nothing: replace them. */
export function replaceOutdatedUnhealthy(p: Pass): Plan | undefined {
  for (const pod of sortedPods(p.o).reverse()) {
    if (pod.revision === p.sts.updateRevision || pod.deleting) continue;
    const m = p.v.members.find((x) => x.id === pod.name);
    if (m?.healthy || m?.isLeader || (m && !p.wanted(m))) continue;
    // A pod that is not a member and answers is added (rule 4) or dropped by the scale-down instead.
    if (!m && (pod.ordinal >= p.desired || answerOf(p.o, pod.name))) continue;
    return p.act(
      { kind: "deletePod", pod: pod.name },
      "Upgrading",
      "Upgrading",
      `replacing outdated ${pod.name}: ${m ? m.problem : "it is not a member"}, so it counts for nothing now`,
    );
  }
  return undefined;
}

/** Rule 6b: healthy outdated members, followers first, the leader last. */
export function upgradeMembers(p: Pass): Plan | undefined {
  const outdated = p.v.voters.filter((m) => m.pod && m.pod.revision !== p.sts.updateRevision);
  if (outdated.length === 0) return undefined;
  if (p.waits.length > 0 || p.sts.replicas !== p.desired) return undefined;
  const notReady = p.notConverged(p.desired);
  if (notReady) {
    p.waits.push(notReady);
    return undefined;
  }
  if (p.o.pods.some((x) => x.deleting || x.ordinal >= p.desired)) {
    p.waits.push({ reason: "WaitingForPod", message: "a pod is still terminating" });
    return undefined;
  }
  const n = p.v.voters.length;
  // Without a data claim (kvStore memory) a restarted member comes back wiped: in a 2-member cluster
  // its stale voter and the one left can never again form a majority.
  const wiped = outdated.find((m) => !p.o.claims.some((c) => c.ordinal === m.ordinal && !c.deleting));
  if (n === 2 && wiped) {
    p.waits.push({
      reason: "UpgradeNeedsDowntime",
      message: `${wiped.id} keeps no data claim (kvStore memory): restarting it would lose the 2-member quorum for good; scale to 1 or 3 members to upgrade`,
    });
    return undefined;
  }
  const follower = outdated.filter((m) => !m.isLeader).at(-1);
  if (follower) {
    // The configuration keeps the restarting voter, down for a while.
    const during = p.v.voters.map((x) => (x === follower ? { healthy: false } : x));
    if (hasHealthyMajority(during) || n <= 2) {
      const why = hasHealthyMajority(during)
        ? `${n - 1} of ${n} voters stay healthy`
        : `a ${n}-member cluster has no failure tolerance: writes pause until it is back`;
      return p.act(
        { kind: "deletePod", pod: follower.id },
        "Upgrading",
        "Upgrading",
        `restarting ${follower.id} on the new revision (${why})`,
      );
    }
    p.waits.push({
      reason: "WaitingForQuorum",
      message: `restarting ${follower.id} now would leave no healthy majority`,
    });
    return undefined;
  }
  const lead = outdated[0] as MemberView;
  if (n === 1) {
    return p.act(
      { kind: "deletePod", pod: lead.id },
      "Upgrading",
      "Upgrading",
      `restarting ${lead.id}, the only member, on the new revision: unavailable until it is back${wiped ? " (it keeps no data claim: its data is lost)" : ""}`,
    );
  }
  const updated = p.v.voters.filter((x) => !x.isLeader && x.healthy && x.pod?.revision === p.sts.updateRevision);
  const to = mostCaughtUp(updated);
  if (!to) {
    p.waits.push({
      reason: "WaitingForQuorum",
      message: `no healthy updated voter can take over from ${lead.id}`,
    });
    return undefined;
  }
  return p.act(
    { kind: "transferLeader", from: lead.id, to: to.id },
    "Upgrading",
    "TransferringLeader",
    `moving leadership from outdated ${lead.id} to ${to.id} before restarting it`,
  );
}
