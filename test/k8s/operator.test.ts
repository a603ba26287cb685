/**
 * The operator end to end, against a real kube-apiserver + etcd + kube-controller-manager, with real raftkv
 * node processes on loopback standing in for pods (test/k8s/pod-runner.ts): `kubectl apply` of the example
 * gives a healthy cluster; every child is rendered as expected and a second pass writes nothing; scaling
 * 3 -> 5 -> 3 and an image upgrade follow Raft membership one step at a time while a client keeps writing
 * and loses nothing acknowledged; deleting the RaftKV garbage-collects its children.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AppsV1Api, PolicyV1Api, type V1StatefulSet } from "@kubernetes/client-node";
import { loadConfig } from "../../operator/src/config.ts";
import { Reconciler } from "../../operator/src/controller/reconcile.ts";
import { KubeEventRecorder } from "../../operator/src/kube/events.ts";
import { makeClients } from "../../operator/src/kube/kube-clients.ts";
import { silentLogger } from "../../operator/src/log.ts";
import { HttpMemberClient } from "../../operator/src/members/http-member-client.ts";
import { OperatorMetrics } from "../../operator/src/metrics.ts";
import { waitFor } from "../cluster/harness.ts";
import { startClientLoad } from "./client-load.ts";
import {
  condition,
  EXAMPLE_FILE,
  nodeStatus,
  type OperatorWorld,
  stableWith,
  startWorld,
  waitForRaftKV,
} from "./operator-fixture.ts";

const NS = "raftkv-e2e";
let w: OperatorWorld;

before(
  async () => {
    w = await startWorld(NS);
    await w.startOperator("operator-a");
  },
  { timeout: 45 * 60_000 },
); // the first run may build the Kubernetes binaries

after(async () => {
  await w?.stop();
});

/** Names of the pods the StatefulSet currently wants. */
async function podNames(): Promise<string[]> {
  const pods = await w.core.listNamespacedPod({ namespace: NS, labelSelector: "app.kubernetes.io/instance=demo" });
  return pods.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata?.name ?? "")
    .sort();
}

/** The Raft configuration as the leader reports it. */
async function raftConfig(): Promise<{ leader: string; voters: string[]; learners: string[] }> {
  const rkv = await w.get("demo");
  const leader = rkv.status?.leader;
  assert.ok(leader, "no leader in status");
  const st = await nodeStatus(w, "demo", leader);
  return {
    leader,
    voters: st.members
      .filter((m) => m.role === "voter")
      .map((m) => m.id)
      .sort(),
    learners: st.members
      .filter((m) => m.role === "learner")
      .map((m) => m.id)
      .sort(),
  };
}

let availableMs = 0;

test("kubectl apply of the example gives a healthy 3-member cluster", { timeout: 120_000 }, async () => {
  const started = Date.now();
  const r = await w.cp.kubectl(["apply", "-n", NS, "-f", EXAMPLE_FILE]);
  assert.equal(r.code, 0, r.stderr);
  const rkv = await waitForRaftKV(w, "demo", "Available with 3 voters", 90_000, stableWith(3));
  availableMs = Date.now() - started;
  console.log(`# kubectl apply -> Available with 3 voters: ${availableMs} ms`);
  assert.equal(rkv.status?.quorum, 2);
  assert.equal(rkv.status?.failureTolerance, 1);
  assert.equal(rkv.status?.readyReplicas, 3);
  assert.equal(condition(rkv, "Degraded")?.status, "False");
  const cfg = await raftConfig();
  assert.deepEqual(cfg.voters, ["demo-0", "demo-1", "demo-2"]);
  assert.deepEqual(cfg.learners, []);
  // A write through one pod is read on every pod.
  const url = (pod: string) => w.runner.addressing({ namespace: NS, raftkv: "demo", pod }).httpUrl;
  const put = await fetch(`${url("demo-1")}/key`, { method: "POST", body: JSON.stringify({ hello: "world" }) });
  assert.equal(put.status, 200);
  for (const pod of ["demo-0", "demo-1", "demo-2"]) {
    const got = await fetch(`${url(pod)}/key/hello`);
    assert.deepEqual(await got.json(), { hello: "world" });
  }
  const get = await w.cp.kubectl(["get", "rkv", "-n", NS]);
  assert.match(get.stdout, /^NAME\s+DESIRED\s+READY\s+LEADER\s+TERM\s+AVAILABLE\s+AGE/m);
  assert.match(get.stdout, new RegExp(`^demo\\s+3\\s+3\\s+${cfg.leader}\\s+\\d+\\s+True\\s+`, "m"));
});

test("the example's children are rendered as expected and a second pass writes nothing", {
  timeout: 60_000,
}, async () => {
  const apps = w.cp.kc.makeApiClient(AppsV1Api);
  const policy = w.cp.kc.makeApiClient(PolicyV1Api);
  const rkv = await w.get("demo");
  const uid = rkv.metadata.uid;
  const sts: V1StatefulSet = await apps.readNamespacedStatefulSet({ name: "demo", namespace: NS });
  assert.equal(sts.spec?.podManagementPolicy, "Parallel");
  assert.equal(sts.spec?.updateStrategy?.type, "OnDelete");
  assert.equal(sts.spec?.replicas, 3);
  assert.equal(sts.spec?.serviceName, "demo-peers");
  const peers = await w.core.readNamespacedService({ name: "demo-peers", namespace: NS });
  assert.equal(peers.spec?.clusterIP, "None");
  assert.equal(peers.spec?.publishNotReadyAddresses, true);
  const client = await w.core.readNamespacedService({ name: "demo", namespace: NS });
  assert.notEqual(client.spec?.clusterIP, "None");
  const pdb = await policy.readNamespacedPodDisruptionBudget({ name: "demo", namespace: NS });
  assert.equal(pdb.spec?.minAvailable, 2);
  const secret = await w.core.readNamespacedSecret({ name: "demo-raft", namespace: NS });
  assert.ok((secret.data?.secret ?? "").length > 20, "the Raft secret is generated");
  const cm = await w.core.readNamespacedConfigMap({ name: "demo-bootstrap", namespace: NS });
  assert.equal(cm.data?.BOOTSTRAP_EXPECT, "3");
  for (const obj of [sts, peers, client, pdb, secret, cm]) {
    const ref = obj.metadata?.ownerReferences?.find((o) => o.uid === uid);
    assert.ok(ref?.controller && ref.blockOwnerDeletion, `${obj.metadata?.name} is owned by the RaftKV`);
  }

  // A reconcile pass run by hand (next to the running operator) on an unchanged world writes nothing.
  const kc = w.cp.kc;
  const clients = makeClients(kc);
  const config = loadConfig({ NODE_IMAGE: "raftkv-node:test", POD_NAME: "by-hand" });
  const reconciler = new Reconciler({
    clients,
    config,
    logger: silentLogger,
    events: new KubeEventRecorder({ clients, identity: "by-hand", logger: silentLogger }),
    metrics: new OperatorMetrics(),
    members: new HttpMemberClient(),
    addressing: w.runner.addressing,
  });
  const versions = async () => {
    const r = await w.get("demo");
    const s = await apps.readNamespacedStatefulSet({ name: "demo", namespace: NS });
    const list = await Promise.all([
      w.core.readNamespacedService({ name: "demo-peers", namespace: NS }),
      w.core.readNamespacedService({ name: "demo", namespace: NS }),
      policy.readNamespacedPodDisruptionBudget({ name: "demo", namespace: NS }),
      w.core.readNamespacedSecret({ name: "demo-raft", namespace: NS }),
      w.core.readNamespacedConfigMap({ name: "demo-bootstrap", namespace: NS }),
    ]);
    return [r.metadata.resourceVersion, s.metadata?.resourceVersion, ...list.map((o) => o.metadata?.resourceVersion)];
  };
  await reconciler.reconcile({ namespace: NS, name: "demo" });
  const before1 = await versions();
  await reconciler.reconcile({ namespace: NS, name: "demo" });
  await reconciler.reconcile({ namespace: NS, name: "demo" });
  assert.deepEqual(await versions(), before1, "a pass with nothing changed must not write");
});

test("scale 3 -> 5 -> 3: one membership step at a time, no pod restarted, claims released, no write lost", {
  timeout: 240_000,
}, async () => {
  const pidsBefore = new Map(w.runner.processes().map((p) => [p.pod, p.pid]));
  let members = ["demo-0", "demo-1", "demo-2"];
  const load = startClientLoad(w, "demo", "scale", () => members);
  // Watch the Raft configuration throughout: voters change by at most one between observations.
  const seen: string[][] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      try {
        const cfg = await raftConfig();
        const last = seen.at(-1);
        if (!last || last.join() !== cfg.voters.join()) seen.push(cfg.voters);
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const up = await w.cp.kubectl(["scale", "rkv", "demo", "-n", NS, "--replicas=5"]);
    assert.equal(up.code, 0, up.stderr);
    await waitForRaftKV(w, "demo", "5 healthy voters", 120_000, stableWith(5));
    members = ["demo-0", "demo-1", "demo-2", "demo-3", "demo-4"];
    const pdb5 = await w.cp.kc
      .makeApiClient(PolicyV1Api)
      .readNamespacedPodDisruptionBudget({ name: "demo", namespace: NS });
    assert.equal(pdb5.spec?.minAvailable, 3, "the PDB follows the quorum");
    members = ["demo-0", "demo-1", "demo-2"];
    const down = await w.cp.kubectl(["scale", "rkv", "demo", "-n", NS, "--replicas=3"]);
    assert.equal(down.code, 0, down.stderr);
    await waitForRaftKV(w, "demo", "back to 3 healthy voters", 120_000, stableWith(3));
    await waitFor("pods 3 and 4 gone", 30_000, async () => ((await podNames()).length === 3 ? true : undefined));
    await waitFor("claims of 3 and 4 deleted", 30_000, async () => {
      const claims = await w.core.listNamespacedPersistentVolumeClaim({ namespace: NS });
      const names = claims.items.map((c) => c.metadata?.name).sort();
      return names.join() === "data-demo-0,data-demo-1,data-demo-2" ? true : undefined;
    });
  } finally {
    watching = false;
    await watcher;
    await load.stop();
  }
  // Every voter change was a single step: 3,4,5 then 4,3 voters, each differing by one member.
  for (let i = 1; i < seen.length; i++) {
    const a = new Set(seen[i - 1]);
    const b = new Set(seen[i]);
    const diff = [...a].filter((x) => !b.has(x)).length + [...b].filter((x) => !a.has(x)).length;
    assert.ok(diff <= 1, `voters jumped from ${[...a]} to ${[...b]}`);
  }
  assert.deepEqual(
    seen.map((v) => v.length).filter((n, i, all) => i === 0 || n !== all[i - 1]),
    [3, 4, 5, 4, 3],
  );
  const cfg = await raftConfig();
  assert.deepEqual(cfg.voters, ["demo-0", "demo-1", "demo-2"]);
  for (const [pod, pid] of pidsBefore) {
    const now = w.runner.processes().find((p) => p.pod === pod);
    assert.equal(now?.pid, pid, `${pod} was restarted by the scale`);
  }
  assert.ok(load.acked() > 20, `the client made progress (${load.acked()} acknowledged)`);
  assert.deepEqual(await load.verify(cfg.leader), [], "acknowledged writes lost");
  console.log(
    `# scale 3->5->3: ${load.acked()} writes acknowledged, ${load.failed()} failed; voter sets ${JSON.stringify(seen)}`,
  );
});

test("an image upgrade rolls pods one at a time, followers first, leader last, without losing writes", {
  timeout: 240_000,
}, async () => {
  const oldLeader = (await raftConfig()).leader;
  const members = ["demo-0", "demo-1", "demo-2"];
  const load = startClientLoad(w, "demo", "upgrade", () => members);
  const restarts: string[] = [];
  const pidsBefore = new Map(w.runner.processes().map((p) => [p.pod, p.pid]));
  try {
    const patch = await w.cp.kubectl([
      "patch",
      "rkv",
      "demo",
      "-n",
      NS,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { image: "raftkv-node:v2" } }),
    ]);
    assert.equal(patch.code, 0, patch.stderr);
    await waitForRaftKV(w, "demo", "upgraded and stable", 180_000, (r) => {
      for (const p of w.runner.processes()) {
        if (pidsBefore.get(p.pod) !== undefined && pidsBefore.get(p.pod) !== p.pid && !restarts.includes(p.pod)) {
          restarts.push(p.pod);
        }
      }
      return stableWith(3)(r) && restarts.length === 3;
    });
  } finally {
    await load.stop();
  }
  assert.equal(restarts.at(-1), oldLeader, `the old leader goes last (order: ${restarts})`);
  const pods = await w.core.listNamespacedPod({ namespace: NS, labelSelector: "app.kubernetes.io/instance=demo" });
  for (const p of pods.items) assert.equal(p.spec?.containers[0]?.image, "raftkv-node:v2");
  const cfg = await raftConfig();
  assert.notEqual(cfg.leader, undefined);
  assert.deepEqual(await load.verify(cfg.leader), [], "acknowledged writes lost");
  const events = await w.core.listNamespacedEvent({ namespace: NS });
  const transfers = events.items.filter((e) => e.reason === "LeadershipTransferred");
  assert.ok(transfers.length >= 1, "leadership was transferred before the old leader restarted");
  console.log(`# upgrade: restart order ${restarts.join(" -> ")}; ${load.acked()} writes acknowledged`);
});

test("deleting the RaftKV garbage-collects every child", { timeout: 90_000 }, async () => {
  const del = await w.cp.kubectl(["delete", "rkv", "demo", "-n", NS, "--wait=true", "--timeout=60s"]);
  assert.equal(del.code, 0, del.stderr);
  const apps = w.cp.kc.makeApiClient(AppsV1Api);
  await waitFor("children gone", 60_000, async () => {
    const [sts, svcs, secrets, cms, pods] = await Promise.all([
      apps.listNamespacedStatefulSet({ namespace: NS }),
      w.core.listNamespacedService({ namespace: NS }),
      w.core.listNamespacedSecret({ namespace: NS }),
      w.core.listNamespacedConfigMap({ namespace: NS, labelSelector: "app.kubernetes.io/instance=demo" }),
      w.core.listNamespacedPod({ namespace: NS }),
    ]);
    const left = [
      ...sts.items,
      ...svcs.items,
      ...secrets.items.filter((s) => s.metadata?.name === "demo-raft"),
      ...cms.items,
      ...pods.items,
    ];
    return left.length === 0 ? true : undefined;
  });
});
