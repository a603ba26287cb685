import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planMembership } from "../../../operator/src/plan/membership-planner.ts";
import type { Observed } from "../../../operator/src/plan/observed.ts";
import { buildStatus, LAST_CONTACT_RESOLUTION_MS } from "../../../operator/src/plan/status.ts";
import type { Condition, RaftKVStatus } from "../../../operator/src/raftkv.ts";
import { cluster, healthy, OLD } from "./fixtures.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const ctx = (now = T0, more: { applyError?: string; generation?: number } = {}) => ({
  generation: more.generation ?? 7,
  now,
  selector: "app.kubernetes.io/instance=kv",
  ...(more.applyError ? { applyError: more.applyError } : {}),
});
const statusOf = (o: Observed, prev?: RaftKVStatus, c = ctx()) => buildStatus(o, planMembership(o), prev, c);
const cond = (s: RaftKVStatus, type: Condition["type"]) => {
  const c = s.conditions?.find((x) => x.type === type);
  assert.ok(c, `no ${type} condition`);
  return c;
};
const brief = (s: RaftKVStatus) => (s.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`);

describe("buildStatus: quorum math", () => {
  for (const [n, quorum, tolerance] of [
    [1, 1, 0],
    [3, 2, 1],
    [5, 3, 2],
  ] as const) {
    it(`${n} healthy voters: quorum ${quorum}, failure tolerance ${tolerance}`, () => {
      const s = statusOf(healthy(n));
      assert.equal(s.quorum, quorum);
      assert.equal(s.failureTolerance, tolerance);
      assert.equal(s.leader, "kv-0");
      assert.equal(s.term, 5);
      assert.equal(s.commitIndex, 1000);
      assert.equal(s.replicas, n);
      assert.equal(s.readyReplicas, n);
      assert.equal(s.selector, "app.kubernetes.io/instance=kv");
      assert.equal(s.observedGeneration, 7);
      assert.equal(s.members?.length, n);
      assert.deepEqual(brief(s), [
        "Available=True/QuorumHealthy",
        "Progressing=False/Stable",
        "Degraded=False/Healthy",
      ]);
    });
  }

  it("counts only healthy voters, never below zero", () => {
    assert.equal(statusOf(healthy(5, {}, { 4: { silent: true } })).failureTolerance, 1);
    const lost = statusOf(healthy(3, {}, { 1: { silent: true }, 2: { silent: true } }));
    assert.equal(lost.quorum, 2);
    assert.equal(lost.failureTolerance, 0);
  });
});

describe("buildStatus: members", () => {
  it("reports roles, health, match, lag and last contact", () => {
    const o = healthy(4, {}, { 1: { match: 990 }, 2: { role: "learner", match: 100 }, 3: { silent: true } });
    const s = statusOf(o);
    assert.deepEqual(s.members, [
      { id: "kv-0", pod: "kv-0", role: "leader", healthy: true, lastContact: T0, matchIndex: 1000, lag: 0 },
      {
        id: "kv-1",
        pod: "kv-1",
        role: "follower",
        healthy: true,
        lastContact: "2025-12-31T23:59:59.950Z",
        matchIndex: 990,
        lag: 10,
      },
      {
        id: "kv-2",
        pod: "kv-2",
        role: "learner",
        healthy: false,
        lastContact: "2025-12-31T23:59:59.950Z",
        matchIndex: 100,
        lag: 900,
      },
      { id: "kv-3", pod: "kv-3", role: "follower", healthy: false, matchIndex: 1000, lag: 0 },
    ]);
  });

  it("lists the highest-term configuration, nobody healthy, when there is no leader", () => {
    const s = statusOf(healthy(3, { leader: undefined }));
    assert.equal(s.leader, undefined);
    assert.equal(s.term, undefined);
    assert.deepEqual(
      s.members?.map((m) => [m.id, m.role, m.healthy]),
      [
        ["kv-0", "follower", false],
        ["kv-1", "follower", false],
        ["kv-2", "follower", false],
      ],
    );
    assert.equal(s.quorum, 2);
    assert.equal(s.failureTolerance, 0);
  });
});

describe("buildStatus: conditions", () => {
  it("Bootstrapping before the StatefulSet exists", () => {
    const s = statusOf(cluster({ desired: 3, replicas: 0, noStatefulSet: true, pods: [] }));
    assert.deepEqual(brief(s), [
      "Available=False/Bootstrapping",
      "Progressing=True/Bootstrapping",
      "Degraded=False/Healthy",
    ]);
    assert.equal(s.replicas, 0);
    assert.deepEqual(s.members, []);
  });

  it("QuorumLost and NoLeader", () => {
    const lost = statusOf(healthy(3, {}, { 1: { silent: true }, 2: { silent: true } }));
    assert.deepEqual(brief(lost), [
      "Available=False/QuorumLost",
      "Progressing=False/Blocked",
      "Degraded=True/QuorumLost",
    ]);
    assert.match(cond(lost, "Available").message, /1 of 3 voters healthy, 2 needed/);
    const none = statusOf(healthy(3, { leader: undefined }, { 2: { silent: true } }));
    assert.deepEqual(brief(none), [
      "Available=False/NoLeader",
      "Progressing=False/Blocked",
      "Degraded=True/QuorumLost",
    ]);
    assert.match(cond(none, "Available").message, /kv-2/);
  });

  it("QuorumAtRisk when one more failure loses the quorum, but not for a one-member cluster", () => {
    const s = statusOf(healthy(3, {}, { 2: { silent: true } }));
    assert.equal(s.failureTolerance, 0);
    assert.equal(cond(s, "Available").status, "True");
    assert.deepEqual([cond(s, "Degraded").status, cond(s, "Degraded").reason], ["True", "QuorumAtRisk"]);
    assert.match(cond(s, "Degraded").message, /kv-2: its node does not answer/);
    assert.equal(cond(statusOf(healthy(1)), "Degraded").status, "False");
  });

  it("MemberUnhealthy while the quorum still tolerates failures", () => {
    const s = statusOf(healthy(5, {}, { 3: { answersAs: "fresh" } }));
    assert.deepEqual([cond(s, "Degraded").status, cond(s, "Degraded").reason], ["True", "MemberUnhealthy"]);
    assert.match(cond(s, "Degraded").message, /kv-3: .*incarnation fresh/);
    assert.deepEqual([cond(s, "Progressing").status, cond(s, "Progressing").reason], ["True", "Rejoining"]);
  });

  it("PodsNotStarting names the pod and the reason; ApplyFailed carries the error", () => {
    const o = healthy(3, {}, { 2: { revision: OLD, silent: true, startFailure: "ImagePullBackOff" } });
    const s = statusOf(o);
    assert.equal(cond(s, "Degraded").reason, "PodsNotStarting");
    assert.match(cond(s, "Degraded").message, /kv-2: ImagePullBackOff/);
    const a = statusOf(healthy(3), undefined, ctx(T0, { applyError: "StatefulSet: 422 Invalid" }));
    assert.deepEqual([cond(a, "Degraded").status, cond(a, "Degraded").reason], ["True", "ApplyFailed"]);
    assert.match(cond(a, "Degraded").message, /422 Invalid/);
  });

  it("Progressing carries the plan's phase; Paused is not progress", () => {
    assert.equal(cond(statusOf(healthy(1, { desired: 3 })), "Progressing").reason, "ScalingUp");
    assert.equal(cond(statusOf(healthy(5, { desired: 3 })), "Progressing").reason, "ScalingDown");
    assert.equal(cond(statusOf(healthy(3, {}, { 2: { revision: OLD } })), "Progressing").reason, "Upgrading");
    const p = statusOf(healthy(3, { paused: true, desired: 5 }));
    assert.deepEqual([cond(p, "Progressing").status, cond(p, "Progressing").reason], ["False", "Paused"]);
  });

  it("every condition carries the generation", () => {
    const s = statusOf(healthy(3), undefined, ctx(T0, { generation: 12 }));
    assert.deepEqual(
      s.conditions?.map((c) => c.observedGeneration),
      [12, 12, 12],
    );
  });
});

describe("buildStatus: stability", () => {
  it("an unchanged cluster gives a deep-equal status later", () => {
    const o = healthy(3, {}, { 2: { role: "learner", match: 500 } });
    const first = statusOf(o);
    const later = new Date(Date.parse(T0) + LAST_CONTACT_RESOLUTION_MS - 1000).toISOString();
    assert.deepEqual(statusOf(o, first, ctx(later)), first);
  });

  it("keeps lastTransitionTime while a condition's status holds, and moves it when it flips", () => {
    const first = statusOf(healthy(3));
    const t1 = "2026-01-01T00:05:00.000Z";
    const scaling = statusOf(healthy(3, { desired: 5 }), first, ctx(t1));
    assert.equal(cond(scaling, "Available").lastTransitionTime, T0, "still True");
    assert.equal(cond(scaling, "Progressing").lastTransitionTime, t1, "False -> True");
    assert.equal(cond(scaling, "Degraded").lastTransitionTime, T0);
    const t2 = "2026-01-01T00:06:00.000Z";
    const lost = statusOf(healthy(3, {}, { 1: { silent: true }, 2: { silent: true } }), scaling, ctx(t2));
    assert.equal(cond(lost, "Available").lastTransitionTime, t2);
    assert.equal(cond(lost, "Degraded").lastTransitionTime, t2);
  });

  it("moves a member's lastContact once it has drifted past the resolution", () => {
    const o = healthy(3);
    const first = statusOf(o);
    const later = new Date(Date.parse(T0) + LAST_CONTACT_RESOLUTION_MS + 1000).toISOString();
    assert.equal(statusOf(o, first, ctx(later)).members?.[0]?.lastContact, later);
  });

  it("rejects a now that is not a time", () => {
    assert.throws(() => statusOf(healthy(1), undefined, ctx("yesterday")), /RFC 3339/);
  });
});
