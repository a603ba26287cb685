/**
 * The operator when things go wrong, against the real control plane and real node processes: two operator
 * replicas (only the Lease holder reconciles; the other takes over), the API server restarting under a
 * running operator, a cluster that loses its quorum (no membership change, Degraded/QuorumLost), a bad
 * image (Degraded/PodsNotStarting, recovered by fixing the spec), and a member that lost its data
 * (memory store) rejoining under a new incarnation.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AppsV1Api } from "@kubernetes/client-node";
import type { RunningOperator } from "../../operator/src/operator.ts";
import { waitFor } from "../cluster/harness.ts";
import {
  condition,
  nodeStatus,
  type OperatorWorld,
  stableWith,
  startWorld,
  waitForRaftKV,
} from "./operator-fixture.ts";

const NS = "raftkv-resilience";
let w: OperatorWorld;
let a: RunningOperator;
let b: RunningOperator;

before(
  async () => {
    w = await startWorld(NS);
    a = await w.startOperator("operator-a");
    await waitFor("operator-a leads", 20_000, async () => (a.isLeader() ? true : undefined));
    b = await w.startOperator("operator-b");
  },
  { timeout: 45 * 60_000 },
);

after(async () => {
  await w?.stop();
});

async function apply(name: string, spec: Record<string, unknown>): Promise<void> {
  const doc = JSON.stringify({ apiVersion: "raftkv.io/v1alpha1", kind: "RaftKV", metadata: { name }, spec });
  const r = await w.cp.kubectl(["apply", "-n", NS, "-f", "-"], { input: doc });
  assert.equal(r.code, 0, r.stderr);
}

async function reconcileCount(op: RunningOperator): Promise<number> {
  const m = await op.metrics.reconcileTotal.get();
  return m.values.reduce((n, v) => n + v.value, 0);
}

test("with two operator replicas only the Lease holder reconciles; the other takes over", {
  timeout: 150_000,
}, async () => {
  assert.equal(a.isLeader(), true);
  assert.equal(b.isLeader(), false);
  await apply("ha", { replicas: 1 });
  await waitForRaftKV(w, "ha", "a 1-member cluster", 60_000, stableWith(1));
  assert.ok((await reconcileCount(a)) > 0, "the leader reconciled");
  assert.equal(await reconcileCount(b), 0, "the standby never reconciles");
  const events = await w.core.listNamespacedEvent({ namespace: NS });
  const ours = events.items.filter(
    (e) => e.involvedObject?.name === "ha" && e.reportingComponent === "raftkv.io/operator",
  );
  assert.ok(ours.length > 0, "the leader recorded Events");
  assert.deepEqual([...new Set(ours.map((e) => e.reportingInstance))], ["operator-a"]);

  await a.stop();
  await waitFor("operator-b leads", 20_000, async () => (b.isLeader() ? true : undefined));
  const scale = await w.cp.kubectl(["scale", "rkv", "ha", "-n", NS, "--replicas=3"]);
  assert.equal(scale.code, 0, scale.stderr);
  await waitForRaftKV(w, "ha", "3 members under the new leader", 90_000, stableWith(3));
  assert.ok((await reconcileCount(b)) > 0);
});

test("the operator keeps working after the API server restarts", { timeout: 120_000 }, async () => {
  await w.cp.restartApiServer();
  const scale = await w.cp.kubectl(["scale", "rkv", "ha", "-n", NS, "--replicas=2"]);
  assert.equal(scale.code, 0, scale.stderr);
  const rkv = await waitForRaftKV(w, "ha", "2 members after the restart", 90_000, stableWith(2));
  assert.equal(rkv.status?.quorum, 2);
  assert.equal(rkv.status?.failureTolerance, 0);
  await w.cp.kubectl(["scale", "rkv", "ha", "-n", NS, "--replicas=3"]);
  await waitForRaftKV(w, "ha", "3 members again", 90_000, stableWith(3));
});

test("without a quorum nothing changes and status says QuorumLost; it recovers by itself", {
  timeout: 120_000,
}, async () => {
  const leader = (await w.get("ha")).status?.leader;
  const followers = ["ha-0", "ha-1", "ha-2"].filter((p) => p !== leader);
  for (const p of followers) await w.runner.killPod(p, "SIGSTOP");
  try {
    await waitForRaftKV(w, "ha", "QuorumLost", 60_000, (r) => {
      const d = condition(r, "Degraded");
      return d?.status === "True" && d.reason === "QuorumLost" && condition(r, "Available")?.status === "False";
    });
    // A scale request meanwhile must not be acted on: no membership change without a quorum.
    const scale = await w.cp.kubectl(["scale", "rkv", "ha", "-n", NS, "--replicas=5"]);
    assert.equal(scale.code, 0, scale.stderr);
    await new Promise((r) => setTimeout(r, 3000));
    const sts = await w.cp.kc.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name: "ha", namespace: NS });
    assert.equal(sts.spec?.replicas, 3, "the StatefulSet did not grow without a quorum");
    const st = await nodeStatus(w, "ha", leader as string);
    assert.equal(st.members.length, 3, "Raft membership did not change");
  } finally {
    for (const p of followers) await w.runner.killPod(p, "SIGCONT");
  }
  await w.cp.kubectl(["scale", "rkv", "ha", "-n", NS, "--replicas=3"]);
  const rkv = await waitForRaftKV(w, "ha", "healthy again", 60_000, stableWith(3));
  assert.equal(condition(rkv, "Degraded")?.status, "False");
});

test("a bad image shows Degraded/PodsNotStarting and recovers once the spec is fixed", {
  timeout: 120_000,
}, async () => {
  await apply("bad", { replicas: 1, image: "raftkv-node:does-not-exist" });
  const rkv = await waitForRaftKV(w, "bad", "PodsNotStarting", 60_000, (r) => {
    const d = condition(r, "Degraded");
    return d?.status === "True" && d.reason === "PodsNotStarting";
  });
  assert.match(condition(rkv, "Degraded")?.message ?? "", /bad-0/);
  assert.equal(condition(rkv, "Available")?.status, "False");
  await apply("bad", { replicas: 1, image: "raftkv-node:fixed" });
  const fixed = await waitForRaftKV(w, "bad", "recovered", 90_000, stableWith(1));
  assert.equal(condition(fixed, "Degraded")?.status, "False");
});

test("a member that lost its data rejoins under a new incarnation", { timeout: 150_000 }, async () => {
  await apply("mem", { replicas: 3, kvStore: "memory" });
  await waitForRaftKV(w, "mem", "3 members", 90_000, stableWith(3));
  const leader = (await w.get("mem")).status?.leader;
  const victim = ["mem-0", "mem-1", "mem-2"].find((p) => p !== leader) as string;
  const before = (await nodeStatus(w, "mem", victim)).incarnation;
  await w.runner.killPod(victim, "SIGKILL"); // the container restarts with an empty memory store
  const after = await waitFor("the victim answers under a new incarnation", 60_000, async () => {
    const inc = (await nodeStatus(w, "mem", victim)).incarnation;
    return inc !== before ? inc : undefined;
  });
  // The operator re-adds it (demoting the stale voter) and promotes it once it has caught up.
  await waitFor("the leader binds the new incarnation as a voter", 90_000, async () => {
    const r = await w.get("mem");
    if (!stableWith(3)(r)) return undefined;
    const st = await nodeStatus(w, "mem", r.status?.leader as string);
    const m = st.members.find((x) => x.id === victim);
    return m?.incarnation === after && m.role === "voter" ? true : undefined;
  });
  const events = await w.core.listNamespacedEvent({ namespace: NS });
  assert.ok(
    events.items.some(
      (e) => e.reason === "MemberAdded" && e.involvedObject?.name === "mem" && e.message?.includes(after),
    ),
    "an Event records the re-add under the new incarnation",
  );
});
