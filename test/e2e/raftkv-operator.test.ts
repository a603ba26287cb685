/**
 * The operator's user journeys on a real single-node Kubernetes (cluster/cluster.ts): the chart installs
 * the operator from its real image; `kubectl apply` of the example makes a 3-member raftkv of real pods
 * on real volumes; the leader is killed twice (forced delete, SIGKILL of its container); the cluster
 * scales 3 → 5 → 3 and upgrades its image under a writing client; a drain honours the PodDisruptionBudget;
 * a real Prometheus answers the dashboard's queries; bad specs are refused or reported; deleting the
 * RaftKV and uninstalling the chart leave only the CRD. The tests run in order and share one cluster.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { type E2ECluster, startCluster } from "./cluster/cluster.ts";
import { paths } from "./cluster/config-files.ts";
import { ctr } from "./cluster/containerd.ts";
import { dashboardQueriesAnswer } from "./raftkv/dashboard-queries.ts";
import { helm } from "./raftkv/helm.ts";
import { type RaftkvImages, raftkvImages } from "./raftkv/images.ts";
import { leaderKilled } from "./raftkv/leader-kill.ts";
import { watchPods } from "./raftkv/pod-timeline.ts";
import {
  condition,
  events,
  isReady,
  kubectl,
  leaderOf,
  podIps,
  podsOf,
  put,
  read,
  serviceUrl,
  stableWith,
  statusAt,
  until,
  type World,
  waitRkv,
  world,
} from "./raftkv/world.ts";
import { startWriter } from "./raftkv/writer.ts";

const NS = "demo";
const OPERATOR_NS = "raftkv-system";
const ROOT = new URL("../..", import.meta.url).pathname;

let cluster: E2ECluster;
let images: RaftkvImages;
let w: World;
const timings: Record<string, number> = {};

/** Runs `f` and records its duration in seconds under `name`. */
async function timed<T>(name: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    timings[name] = (Date.now() - t0) / 1000;
  }
}

before(
  async () => {
    images = await timed("build images", raftkvImages);
    cluster = await timed("start cluster", () =>
      startCluster({ images: [images.node.tar, images.nodeV2.tar, images.operator.tar] }),
    );
    w = world(cluster, NS);
    await kubectl(w, ["create", "namespace", NS]);
    await until("ServiceAccount demo/default", 30_000, async () => {
      await w.core.readNamespacedServiceAccount({ name: "default", namespace: NS });
      return true;
    });
  },
  { timeout: 45 * 60_000 },
);

after(async () => {
  console.log(`# e2e journey timings (s): ${JSON.stringify(timings)}`);
  await cluster?.stop();
});

/** The three members' pod uids and restart counts. */
async function identities(): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const p of await podsOf(w, "demo")) {
    m.set(p.metadata?.name ?? "", `${p.metadata?.uid}/${p.status?.containerStatuses?.[0]?.restartCount ?? 0}`);
  }
  return m;
}

/** The leader's configuration: voter ids, sorted. */
async function voters(): Promise<string[]> {
  const l = await leaderOf(w, "demo");
  return l.status.members
    .filter((m) => m.role === "voter")
    .map((m) => m.id)
    .sort();
}

test("1. helm install runs the operator from its image under the chart's ServiceAccount", {
  timeout: 300_000,
}, async () => {
  await timed("1 helm install", async () => {
    const [opRepo, opTag] = images.operator.ref.split(":");
    const [nodeRepo, nodeTag] = images.node.ref.split(":");
    await helm(cluster.kubeconfig, [
      "install",
      "raftkv",
      `${ROOT}charts/raftkv`,
      "-n",
      OPERATOR_NS,
      "--create-namespace",
      "--set",
      `image.repository=${opRepo}`,
      "--set",
      `image.tag=${opTag}`,
      "--set",
      "image.pullPolicy=Never",
      "--set",
      `nodeImage.repository=${nodeRepo}`,
      "--set",
      `nodeImage.tag=${nodeTag}`,
      "--wait",
      "--timeout",
      "180s",
    ]);
  });
  const pods = await w.core.listNamespacedPod({ namespace: OPERATOR_NS });
  assert.equal(pods.items.length, 1, "one operator pod");
  const pod = pods.items[0] as V1Pod;
  assert.ok(isReady(pod), `operator Ready: ${JSON.stringify(pod.status?.conditions)}`);
  assert.equal(pod.spec?.serviceAccountName, "raftkv-operator");
  assert.equal(pod.spec?.containers[0]?.image, images.operator.ref);
  const crd = await kubectl(w, ["get", "crd", "raftkvs.raftkv.io", "-o", "name"]);
  assert.match(crd, /raftkvs\.raftkv\.io/);
});

test("9a. an invalid RaftKV (replicas: 0) is refused by kubectl apply with the schema's message", async () => {
  const bad = "apiVersion: raftkv.io/v1alpha1\nkind: RaftKV\nmetadata: {name: zero}\nspec: {replicas: 0}\n";
  const r = await cluster.kubectl(["apply", "-n", NS, "-f", "-"], { input: bad });
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /spec\.replicas: Invalid value: 0: spec\.replicas in body should be greater than or equal to 1/,
  );
});

test("2. kubectl apply of the example: three pods, one leader, Available; writes via the Service read back on every pod", {
  timeout: 300_000,
}, async () => {
  await cluster.provideVolumes(3, "1Gi");
  const rkv = await timed("2 apply to Available", async () => {
    await kubectl(w, ["apply", "-n", NS, "-f", `${ROOT}examples/raftkv.yaml`]);
    return waitRkv(w, "demo", "Available with 3 voters", 240_000, stableWith(3));
  });
  const pods = await podsOf(w, "demo");
  assert.deepEqual(
    pods.map((p) => p.metadata?.name),
    ["demo-0", "demo-1", "demo-2"],
  );
  const leaders = [];
  for (const ip of (await podIps(w, "demo")).values()) if ((await statusAt(ip)).state === "leader") leaders.push(ip);
  assert.equal(leaders.length, 1, "exactly one leader");
  const table = await kubectl(w, ["get", "rkv", "demo", "-n", NS]);
  assert.match(table, new RegExp(`demo\\s+3\\s+3\\s+${rkv.status?.leader}\\s+\\d+\\s+True`), table);
  assert.equal(condition(rkv, "Available")?.reason, "QuorumHealthy");

  const svc = await serviceUrl(w, "demo");
  await until("a write through the client Service", 30_000, async () =>
    (await put(svc, "greeting", "hello")) ? true : undefined,
  );
  for (const [pod, ip] of await podIps(w, "demo")) {
    assert.equal(await read(`http://${ip}:11000`, "greeting"), "hello", `read on ${pod}`);
  }
  const claims = await w.core.listNamespacedPersistentVolumeClaim({ namespace: NS });
  assert.deepEqual(claims.items.map((c) => `${c.metadata?.name}:${c.status?.phase}`).sort(), [
    "data-demo-0:Bound",
    "data-demo-1:Bound",
    "data-demo-2:Bound",
  ]);
});

test("7. a real Prometheus scraping the pods answers the dashboard's core queries", { timeout: 180_000 }, async (t) => {
  await timed("7 metrics", () => dashboardQueriesAnswer(t, w, "demo"));
});

test("3a. the leader pod force-deleted: a new leader, writes resume, the pod returns with its volume and catches up", {
  timeout: 300_000,
}, async () => {
  await timed("3a force delete leader", () =>
    leaderKilled(w, "delete", async (pod) => {
      await kubectl(w, ["delete", "pod", pod.metadata?.name ?? "", "-n", NS, "--grace-period=0", "--force"]);
    }),
  );
});

test("3b. the leader's container SIGKILLed: a new leader, writes resume, the container restarts and catches up", {
  timeout: 300_000,
}, async () => {
  let restartsBefore = 0;
  let name = "";
  await timed("3b SIGKILL leader", () =>
    leaderKilled(w, "sigkill", async (pod) => {
      name = pod.metadata?.name ?? "";
      const cs = pod.status?.containerStatuses?.[0];
      restartsBefore = cs?.restartCount ?? 0;
      const id = (cs?.containerID ?? "").replace(/^containerd:\/\//, "");
      assert.ok(id, "the container has an id");
      await ctr(paths(cluster.dir).containerdSock, ["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id]);
    }),
  );
  const pod = await w.core.readNamespacedPod({ name, namespace: NS });
  assert.equal(
    pod.status?.containerStatuses?.[0]?.restartCount,
    restartsBefore + 1,
    "the kubelet restarted the container",
  );
});

test("4. scale 3 → 5 → 3 under a writing client: membership follows, claims go, nothing restarts, nothing lost", {
  timeout: 420_000,
}, async () => {
  await cluster.provideVolumes(2, "1Gi");
  const before = await identities();
  const svc = await serviceUrl(w, "demo");
  const writer = startWriter(() => svc, "scale");
  // The leader's configuration throughout: voters change by at most one between observations.
  const seen: string[][] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const v = await voters().catch(() => undefined);
      if (v && seen.at(-1)?.join() !== v.join()) seen.push(v);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  try {
    await timed("4 scale 3->5", async () => {
      await kubectl(w, ["scale", "rkv", "demo", "-n", NS, "--replicas=5"]);
      await waitRkv(w, "demo", "5 healthy voters", 300_000, stableWith(5));
    });
    assert.deepEqual(await voters(), ["demo-0", "demo-1", "demo-2", "demo-3", "demo-4"]);
    const pdb = await w.policy.readNamespacedPodDisruptionBudget({ name: "demo", namespace: NS });
    assert.equal(pdb.spec?.minAvailable, 3, "the PDB follows the quorum");
    await timed("4 scale 5->3", async () => {
      await kubectl(w, ["scale", "rkv", "demo", "-n", NS, "--replicas=3"]);
      await waitRkv(w, "demo", "back to 3 healthy voters", 300_000, stableWith(3));
      await until("claims of demo-3 and demo-4 deleted", 60_000, async () => {
        const claims = await w.core.listNamespacedPersistentVolumeClaim({ namespace: NS });
        const names = claims.items.map((c) => c.metadata?.name).sort();
        return names.join() === "data-demo-0,data-demo-1,data-demo-2" ? true : undefined;
      });
    });
  } finally {
    watching = false;
    await watcher;
    await writer.stop();
  }
  const sizes = seen.map((v) => v.length).filter((n, i, all) => i === 0 || n !== all[i - 1]);
  assert.deepEqual(sizes, [3, 4, 5, 4, 3], `voter sets one step at a time: ${JSON.stringify(seen)}`);
  assert.deepEqual(await voters(), ["demo-0", "demo-1", "demo-2"]);
  assert.deepEqual(await identities(), before, "no pod was restarted or replaced (uid/restartCount)");
  assert.ok(writer.acked() > 20, `the client made progress (${writer.acked()} acknowledged)`);
  assert.deepEqual(await writer.verify(svc), [], "acknowledged writes lost");
  console.log(`# scale: ${writer.acked()} writes acknowledged, ${writer.failed()} failed`);
});

test("5. an image upgrade rolls pods one at a time, followers first, leadership handed over, no write lost", {
  timeout: 480_000,
}, async () => {
  const oldLeader = (await leaderOf(w, "demo")).pod;
  const svc = await serviceUrl(w, "demo");
  const writer = startWriter(() => svc, "upgrade");
  const pods = watchPods(w, "demo", 3);
  try {
    await timed("5 upgrade", async () => {
      const patch = JSON.stringify({ spec: { image: images.nodeV2.ref } });
      await kubectl(w, ["patch", "rkv", "demo", "-n", NS, "--type=merge", "-p", patch]);
      await waitRkv(w, "demo", "upgraded and stable", 420_000, (r) => stableWith(3)(r) && pods.replaced().length === 3);
    });
  } finally {
    await writer.stop();
    await pods.stop();
  }
  const timeline = `\n${pods.lines().join("\n")}`;
  console.log(`# upgrade timeline:${timeline}`);
  for (const pod of ["demo-0", "demo-1", "demo-2"]) {
    // Warnings and errors of each node since its (re)start, to explain a slow rejoin.
    const logs = await cluster.kubectl(["logs", "-n", NS, pod, "--tail=400"]);
    const notable = logs.stdout.split("\n").filter((l) => /"level":"(warn|error)"/.test(l));
    console.log(`# ${pod} warnings (${notable.length}):\n${notable.slice(-15).join("\n")}`);
  }
  assert.equal(pods.replaced().at(-1), oldLeader, `the old leader goes last (order: ${pods.replaced()})`);
  for (const p of await podsOf(w, "demo")) assert.equal(p.spec?.containers[0]?.image, images.nodeV2.ref);
  const ev = await events(w, ["LeadershipTransferred", "PodRestarted"]);
  const transfer = ev.findIndex(
    (e) => e.reason === "LeadershipTransferred" && e.message.includes(`asked ${oldLeader} `),
  );
  const restart = ev.findIndex((e) => e.reason === "PodRestarted" && e.message.includes(`pod ${oldLeader} `));
  assert.ok(
    transfer >= 0 && restart > transfer,
    `LeadershipTransferred before PodRestarted of ${oldLeader}: ${JSON.stringify(ev)}`,
  );
  assert.deepEqual(await writer.verify(svc), [], "acknowledged writes lost");
  console.log(
    `# upgrade: order ${pods.replaced().join(" -> ")}; ${writer.acked()} acknowledged, ${writer.failed()} failed`,
  );
  // Last, so the checks above are known to hold when this fails: the next pod must not go before the
  // previous one is Ready (until then it is out of the Service's endpoints and the disruption budget's count).
  assert.ok(pods.minReady() >= 2, `never more than one member not Ready (min ${pods.minReady()}):${timeline}`);
});

test("6. kubectl drain respects the PodDisruptionBudget: one member down at most, then recovery", {
  timeout: 420_000,
}, async () => {
  const pods = watchPods(w, "demo", 3);
  let drain: { code: number | null; stdout: string; stderr: string } | undefined;
  try {
    await timed("6 drain + uncordon", async () => {
      drain = await cluster.kubectl(
        [
          "drain",
          cluster.nodeName,
          "--ignore-daemonsets",
          "--delete-emptydir-data",
          "--pod-selector=app.kubernetes.io/instance=demo",
          "--timeout=25s",
        ],
        { timeoutMs: 90_000 },
      );
      await kubectl(w, ["uncordon", cluster.nodeName]);
      await waitRkv(w, "demo", "recovered after the drain", 240_000, stableWith(3));
    });
  } finally {
    await pods.stop();
    await cluster.kubectl(["uncordon", cluster.nodeName]);
  }
  assert.notEqual(drain?.code, 0, "the drain cannot finish on a single node");
  const out = `${drain?.stdout}${drain?.stderr}`;
  assert.equal(out.match(/^pod\/demo-\d evicted$/gm)?.length, 1, `exactly one pod was evicted: ${out}`);
  assert.match(out, /Cannot evict pod as it would violate the pod's disruption budget/, out);
  const timeline = `\n${pods.lines().join("\n")}`;
  assert.ok(pods.minReady() >= 2, `at most one member down during the drain (min ${pods.minReady()}):${timeline}`);
});

test("9b. a RaftKV whose pods cannot start is Degraded/PodsNotStarting, and recovers once the image is fixed", {
  timeout: 300_000,
}, async () => {
  await cluster.provideVolumes(1, "1Gi");
  const spec = { replicas: 1, image: "raftkv-node:does-not-exist", imagePullPolicy: "Never" };
  const manifest = JSON.stringify({
    apiVersion: "raftkv.io/v1alpha1",
    kind: "RaftKV",
    metadata: { name: "bad" },
    spec,
  });
  // Every Degraded message seen: a just-created pod is briefly unschedulable until its claim exists.
  const seen: string[] = [];
  try {
    await timed("9b bad image", async () => {
      await kubectl(w, ["apply", "-n", NS, "-f", "-"], manifest);
      await waitRkv(w, "bad", "Degraded/PodsNotStarting naming ErrImageNeverPull", 120_000, (x) => {
        const d = condition(x, "Degraded");
        if (d?.message && !seen.includes(d.message)) seen.push(d.message);
        return (
          d?.status === "True" && d.reason === "PodsNotStarting" && /bad-0.*ErrImageNeverPull/.test(d.message ?? "")
        );
      });
      const fix = JSON.stringify({ spec: { image: images.node.ref } });
      await kubectl(w, ["patch", "rkv", "bad", "-n", NS, "--type=merge", "-p", fix]);
      await waitRkv(w, "bad", "recovered", 180_000, stableWith(1));
    });
  } finally {
    console.log(`# bad image: Degraded messages seen: ${JSON.stringify(seen)}`);
    await cluster.kubectl(["delete", "rkv", "bad", "-n", NS, "--wait=true", "--timeout=60s"]);
  }
});

test("8. deleting the RaftKV garbage-collects its children; helm uninstall removes the operator, keeps the CRD", {
  timeout: 300_000,
}, async () => {
  await timed("8 delete + uninstall", async () => {
    await kubectl(w, ["delete", "rkv", "demo", "-n", NS, "--wait=true", "--timeout=120s"]);
    await until("every child of demo gone", 120_000, async () => {
      const [sts, svcs, pdbs, secrets, cms, pods] = await Promise.all([
        w.apps.listNamespacedStatefulSet({ namespace: NS }),
        w.core.listNamespacedService({ namespace: NS }),
        w.policy.listNamespacedPodDisruptionBudget({ namespace: NS }),
        w.core.listNamespacedSecret({ namespace: NS }),
        w.core.listNamespacedConfigMap({ namespace: NS, labelSelector: "app.kubernetes.io/instance=demo" }),
        w.core.listNamespacedPod({ namespace: NS }),
      ]);
      const left = [
        ...sts.items,
        ...svcs.items,
        ...pdbs.items,
        ...cms.items,
        ...pods.items,
        ...secrets.items.filter((s) => s.metadata?.name === "demo-raft"),
      ];
      return left.length === 0 ? true : undefined;
    });
    await helm(cluster.kubeconfig, ["uninstall", "raftkv", "-n", OPERATOR_NS, "--wait", "--timeout", "120s"]);
    await until("the operator pod gone", 120_000, async () => {
      const pods = await w.core.listNamespacedPod({ namespace: OPERATOR_NS });
      return pods.items.length === 0 ? true : undefined;
    });
  });
  const deploys = await w.apps.listNamespacedDeployment({ namespace: OPERATOR_NS });
  assert.equal(deploys.items.length, 0, "the operator Deployment is gone");
  assert.match(
    await kubectl(w, ["get", "crd", "raftkvs.raftkv.io", "-o", "name"]),
    /raftkvs\.raftkv\.io/,
    "the CRD stays",
  );
});
