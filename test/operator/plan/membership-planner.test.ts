import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planMembership } from "../../../operator/src/plan/membership-planner.ts";
import type { Observed } from "../../../operator/src/plan/observed.ts";
import type { Plan } from "../../../operator/src/plan/step.ts";
import { cluster, healthy, OLD } from "./fixtures.ts";
import { planViolations } from "./plan-invariants.ts";
import { Prng } from "./prng.ts";
import { randomObserved } from "./random-observed.ts";

/** Plans and checks the invariants too, so every hand-written case is also a safety case. */
function planOf(o: Observed, lagSlack?: number): Plan {
  const p = planMembership(o, lagSlack === undefined ? {} : { lagSlack });
  assert.deepEqual(planViolations(o, p, lagSlack), [], JSON.stringify(p));
  return p;
}

describe("planMembership: before and around the cluster", () => {
  it("creates the StatefulSet with the desired size when it is absent", () => {
    const p = planOf(cluster({ desired: 3, replicas: 0, noStatefulSet: true, pods: [] }));
    assert.equal(p.statefulSetReplicas, 3);
    assert.deepEqual(p.action, { kind: "none" });
    assert.equal(p.phase, "Bootstrapping");
  });

  it("keeps the StatefulSet's size and does nothing while paused", () => {
    const p = planOf(healthy(3, { desired: 5, paused: true }, { 1: { revision: OLD } }));
    assert.equal(p.statefulSetReplicas, 3);
    assert.deepEqual(p.action, { kind: "none" });
    assert.equal(p.phase, "Paused");
  });

  it("rejects a desired size below 1 or a negative lag slack", () => {
    assert.throws(() => planMembership(healthy(3, { desired: 0 })), /desiredReplicas/);
    assert.throws(() => planMembership(healthy(3), { lagSlack: -1 }), /lagSlack/);
  });

  it("is Stable when every desired pod is a healthy voter on the current revision", () => {
    const p = planOf(healthy(3));
    assert.deepEqual(p.action, { kind: "none" });
    assert.equal(p.phase, "Stable");
    assert.equal(p.statefulSetReplicas, 3);
    assert.equal(p.leader, "kv-0");
  });

  it("trusts the leader with the highest term when two nodes answer leader", () => {
    const o = healthy(3, { leader: 0 });
    const n2 = o.nodes["kv-2"];
    assert.ok(n2?.ok);
    n2.status.state = "leader";
    n2.status.term = 4; // an old leader that has not noticed yet
    assert.equal(planOf(o).leader, "kv-0");
    n2.status.term = 9;
    assert.equal(planOf(o).leader, "kv-2");
  });
});

describe("planMembership: no leader or no quorum", () => {
  it("is Blocked/NoLeader, naming the pods that do not answer", () => {
    const p = planOf(healthy(3, { leader: undefined }, { 2: { silent: true } }));
    assert.equal(p.phase, "Blocked");
    assert.equal(p.reason, "NoLeader");
    assert.deepEqual(p.action, { kind: "none" });
    assert.match(p.message, /kv-2/);
  });

  it("is Blocked/QuorumLost with 1 of 3 voters healthy, naming why the others are not", () => {
    const p = planOf(healthy(3, {}, { 1: { silent: true }, 2: { answersAs: "fresh" }, 0: { revision: OLD } }));
    assert.equal(p.reason, "QuorumLost");
    assert.deepEqual(p.action, { kind: "none" }, "no pod deletion, no rejoin without a quorum");
    assert.match(p.message, /1 of 3/);
    assert.match(p.message, /kv-1 .*does not answer/);
    assert.match(p.message, /kv-2 .*incarnation fresh/);
  });

  it("counts lagging voters and voters that do not know the leader as unhealthy", () => {
    const p = planOf(healthy(3, {}, { 1: { match: 1000 - 65 }, 2: { knowsLeader: false } }));
    assert.equal(p.reason, "QuorumLost");
    assert.equal(planOf(healthy(3, {}, { 1: { match: 1000 - 64 } })).phase, "Stable");
    assert.equal(
      planOf(healthy(3, {}, { 1: { match: 700 }, 2: { match: 700 } }), 300).phase,
      "Stable",
      "lagSlack option",
    );
  });

  it("still deletes a leftover claim without a quorum", () => {
    const p = planOf(healthy(3, { leader: undefined, claims: [0, 1, 2, 4] }));
    assert.deepEqual(p.action, { kind: "deleteClaim", claim: "data-kv-4" });
  });

  it("replaces an outdated pod that cannot start even without a leader, but never an updated one", () => {
    const stuck = { silent: true, startFailure: "ImagePullBackOff" } as const;
    const p = planOf(cluster({ desired: 1, replicas: 1, pods: [{ ordinal: 0, ...stuck, revision: OLD }] }));
    assert.deepEqual(p.action, { kind: "deletePod", pod: "kv-0" });
    assert.equal(p.phase, "Blocked");
    const q = planOf(cluster({ desired: 1, replicas: 1, pods: [{ ordinal: 0, ...stuck }] }));
    assert.deepEqual(q.action, { kind: "none" });
  });
});

describe("planMembership: claims", () => {
  it("deletes claims above the StatefulSet whose pods are gone, lowest first", () => {
    const p = planOf(healthy(3, { claims: [0, 1, 2, 5, 3] }));
    assert.deepEqual(p.action, { kind: "deleteClaim", claim: "data-kv-3" });
  });

  it("never deletes a claim whose pod exists, that is terminating, or whose member is configured", () => {
    const withPod = cluster({
      desired: 3,
      replicas: 3,
      leader: 0,
      pods: [{ ordinal: 0 }, { ordinal: 1 }, { ordinal: 2 }, { ordinal: 3, role: "none", deleting: true }],
      claims: [0, 1, 2, 3],
      deletingClaims: [4],
    });
    assert.notEqual(planOf(withPod).action.kind, "deleteClaim");
    // A removal reverted after the StatefulSet shrank: kv-3 is a member again, without a pod.
    const member = cluster({
      desired: 3,
      replicas: 3,
      leader: 0,
      pods: [{ ordinal: 0 }, { ordinal: 1 }, { ordinal: 2 }, { ordinal: 3, noPod: true }],
      claims: [0, 1, 2, 3],
    });
    const p = planOf(member);
    assert.deepEqual(p.action, { kind: "none" });
    assert.equal(p.statefulSetReplicas, 4, "the member gets its pod back");
    assert.equal(p.reason, "RestoringMemberPod");
  });
});

describe("planMembership: wiped disks", () => {
  it("re-adds a voter that answers under a new incarnation as a learner", () => {
    const p = planOf(healthy(3, {}, { 2: { answersAs: "fresh-2" } }));
    assert.deepEqual(p.action, { kind: "addLearner", id: "kv-2", incarnation: "fresh-2" });
    assert.equal(p.phase, "Rejoining");
  });

  it("re-adds the lowest stale ordinal first, and a stale learner too", () => {
    const p = planOf(healthy(5, {}, { 3: { answersAs: "x3" }, 1: { answersAs: "x1", role: "learner" } }));
    assert.deepEqual(p.action, { kind: "addLearner", id: "kv-1", incarnation: "x1" });
  });

  it("removes a stale member that is being scaled away instead of re-adding it", () => {
    const p = planOf(healthy(3, { desired: 2 }, { 2: { answersAs: "fresh" } }));
    assert.deepEqual(p.action, { kind: "removeMember", id: "kv-2" });
  });
});

describe("planMembership: learners", () => {
  it("promotes a caught-up learner, lowest ordinal first", () => {
    const p = planOf(healthy(4, {}, { 2: { role: "learner" }, 3: { role: "learner" } }));
    assert.deepEqual(p.action, { kind: "promote", id: "kv-2" });
  });

  it("waits for a learner that is catching up or whose pod does not answer", () => {
    const p = planOf(healthy(3, {}, { 2: { role: "learner", match: 10 } }));
    assert.deepEqual(p.action, { kind: "none" });
    assert.equal(p.reason, "CatchingUp");
    assert.match(p.message, /lags 990/);
    const q = planOf(healthy(3, {}, { 2: { role: "learner", silent: true } }));
    assert.equal(q.reason, "WaitingForPod");
  });
});

describe("planMembership: scale up", () => {
  it("grows the StatefulSet by one when every pod is a healthy voter", () => {
    const p = planOf(healthy(1, { desired: 3 }));
    assert.equal(p.statefulSetReplicas, 2);
    assert.deepEqual(p.action, { kind: "none" });
    assert.equal(p.phase, "ScalingUp");
  });

  it("adds a new pod that answers as a learner, and waits for one that does not answer", () => {
    const o = healthy(2, { desired: 3 }, { 1: { role: "none" } });
    const p = planOf(o);
    assert.deepEqual(p.action, { kind: "addLearner", id: "kv-1", incarnation: "inc-1" });
    assert.equal(p.statefulSetReplicas, 2);
    const q = planOf(healthy(2, { desired: 3 }, { 1: { role: "none", silent: true } }));
    assert.deepEqual(q.action, { kind: "none" });
    assert.equal(q.reason, "WaitingForPod");
    assert.equal(q.statefulSetReplicas, 2);
  });

  it("does not grow while a voter is unhealthy or a claim of the next ordinal is being deleted", () => {
    const p = planOf(healthy(3, { desired: 5 }, { 2: { silent: true } }));
    assert.equal(p.statefulSetReplicas, 3);
    assert.equal(p.reason, "MemberUnhealthy");
    const q = planOf(healthy(3, { desired: 5, deletingClaims: [3] }));
    assert.equal(q.statefulSetReplicas, 3);
    assert.equal(q.reason, "WaitingForClaim");
  });
});

describe("planMembership: scale down", () => {
  it("removes the highest member first, then shrinks the StatefulSet", () => {
    const p = planOf(healthy(5, { desired: 3 }));
    assert.deepEqual(p.action, { kind: "removeMember", id: "kv-4" });
    assert.equal(p.statefulSetReplicas, 5);
    const q = planOf(healthy(5, { desired: 3 }, { 4: { role: "none" } }));
    assert.equal(q.statefulSetReplicas, 4);
    assert.deepEqual(q.action, { kind: "none" });
    assert.equal(q.phase, "ScalingDown");
  });

  it("moves leadership off the member to remove, to the most caught-up voter below desired", () => {
    const p = planOf(
      healthy(
        5,
        { desired: 3, leader: 4 },
        { 0: { match: 980 }, 1: { match: 990 }, 2: { match: 999 }, 3: { match: 1000 } },
      ),
    );
    assert.deepEqual(p.action, { kind: "transferLeader", from: "kv-4", to: "kv-2" });
  });

  it("waits while a member still lists the removed one", () => {
    const o = healthy(5, { desired: 3 }, { 4: { role: "none" } });
    const n1 = o.nodes["kv-1"];
    assert.ok(n1?.ok);
    n1.status.members.push({ id: "kv-4", role: "voter", incarnation: "inc-4" });
    const p = planOf(o);
    assert.equal(p.statefulSetReplicas, 5);
    assert.equal(p.reason, "RemovalPending");
  });

  it("does not remove a voter when the remaining voters would lack a healthy majority", () => {
    const p = planOf(healthy(3, { desired: 2 }, { 1: { silent: true } }));
    assert.deepEqual(p.action, { kind: "none" });
    assert.equal(p.reason, "WaitingForQuorum");
  });

  it("removes a learner or a dead voter beyond desired", () => {
    assert.deepEqual(planOf(healthy(4, { desired: 3 }, { 3: { role: "learner", match: 0 } })).action, {
      kind: "removeMember",
      id: "kv-3",
    });
    assert.deepEqual(planOf(healthy(5, { desired: 4 }, { 4: { noPod: true } })).action, {
      kind: "removeMember",
      id: "kv-4",
    });
  });
});

describe("planMembership: upgrade", () => {
  const allOld = { 0: { revision: OLD }, 1: { revision: OLD }, 2: { revision: OLD } };

  it("restarts outdated followers one at a time, highest ordinal first, the leader last", () => {
    assert.deepEqual(planOf(healthy(3, {}, allOld)).action, { kind: "deletePod", pod: "kv-2" });
    assert.deepEqual(planOf(healthy(3, {}, { 0: { revision: OLD }, 1: { revision: OLD } })).action, {
      kind: "deletePod",
      pod: "kv-1",
    });
    const t = planOf(healthy(3, {}, { 0: { revision: OLD }, 1: { match: 998 } }));
    assert.deepEqual(t.action, { kind: "transferLeader", from: "kv-0", to: "kv-2" });
    assert.equal(t.phase, "Upgrading");
    const last = planOf(healthy(3, { leader: 1 }, { 0: { revision: OLD } }));
    assert.deepEqual(last.action, { kind: "deletePod", pod: "kv-0" });
  });

  it("waits until the restarted pod is back, healthy and caught up", () => {
    const lagging = planOf(healthy(3, {}, { 0: { revision: OLD }, 1: { revision: OLD }, 2: { match: 500 } }));
    assert.deepEqual(lagging.action, { kind: "none" });
    assert.equal(lagging.phase, "Upgrading");
    const gone = planOf(healthy(3, {}, { 0: { revision: OLD }, 1: { revision: OLD }, 2: { noPod: true } }));
    assert.deepEqual(gone.action, { kind: "none" });
    const terminating = planOf(healthy(3, {}, { 0: { revision: OLD }, 1: { revision: OLD }, 2: { deleting: true } }));
    assert.deepEqual(terminating.action, { kind: "none" });
    // Found on a real kubelet: a restarted member answers /status before its readiness probe passes; the next
    // pod must wait, or the Service and the PodDisruptionBudget see two of three members down at once.
    const unready = planOf(healthy(3, {}, { 0: { revision: OLD }, 1: { revision: OLD }, 2: { notReady: true } }));
    assert.deepEqual(unready.action, { kind: "none" });
    assert.equal(unready.phase, "Upgrading");
    // Nor does the leader hand over while an upgraded member's pod is not Ready yet.
    const target = planOf(healthy(3, {}, { 0: { revision: OLD }, 1: { notReady: true } }));
    assert.deepEqual(target.action, { kind: "none" });
  });

  it("replaces an outdated pod that is not a healthy member at once", () => {
    const p = planOf(healthy(3, {}, { 0: { revision: OLD }, 1: { revision: OLD, silent: true } }));
    assert.deepEqual(p.action, { kind: "deletePod", pod: "kv-1" });
  });

  it("restarts the only member of a one-member cluster and says so", () => {
    const p = planOf(healthy(1, {}, { 0: { revision: OLD } }));
    assert.deepEqual(p.action, { kind: "deletePod", pod: "kv-0" });
    assert.match(p.message, /only member/);
  });

  it("restarts a member of a two-member cluster, saying writes pause", () => {
    const p = planOf(healthy(2, {}, { 0: { revision: OLD }, 1: { revision: OLD } }));
    assert.deepEqual(p.action, { kind: "deletePod", pod: "kv-1" });
    assert.match(p.message, /no failure tolerance/);
  });

  it("does not start an upgrade while scaling", () => {
    const p = planOf(healthy(3, { desired: 5 }, allOld));
    assert.equal(p.statefulSetReplicas, 4);
    assert.deepEqual(p.action, { kind: "none" });
  });
});

describe("planMembership: generated states", () => {
  it("keeps every invariant on thousands of random observations", () => {
    const seeds = Number(process.env.PLANNER_SEEDS ?? 5000);
    const seen = new Map<string, number>();
    for (let seed = 1; seed <= seeds; seed++) {
      const o = randomObserved(new Prng(seed));
      const p = planMembership(o);
      const bad = planViolations(o, p);
      assert.deepEqual(bad, [], `seed ${seed}: ${JSON.stringify(p)}\nobserved: ${JSON.stringify(o)}`);
      const key = p.action.kind === "none" ? `none/${p.reason}` : p.action.kind;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (p.statefulSetReplicas !== o.statefulSet?.replicas) seen.set("resize", (seen.get("resize") ?? 0) + 1);
    }
    if (process.env.PLANNER_STATS) console.log([...seen].sort());
    // The generator must reach every kind of step, or the invariants above prove little.
    for (const k of ["addLearner", "promote", "removeMember", "transferLeader", "deletePod", "deleteClaim", "resize"]) {
      assert.ok((seen.get(k) ?? 0) >= 20, `only ${seen.get(k) ?? 0} plans of ${k}: ${JSON.stringify([...seen])}`);
    }
    for (const k of ["none/QuorumLost", "none/NoLeader", "none/Stable"]) {
      assert.ok((seen.get(k) ?? 0) >= 1, `no plan ${k}: ${JSON.stringify([...seen])}`);
    }
  });
});
