/**
 * The pod runner against the real control plane: the StatefulSet controller creates the pods, the runner
 * binds and runs them as real raftkv nodes on loopback, and the pods' status, graceful deletion, crash
 * restarts, volumes and image failures look as they would under a kubelet.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  AppsV1Api,
  CoreV1Api,
  type V1Container,
  type V1Pod,
  type V1PodCondition,
  type V1StatefulSet,
} from "@kubernetes/client-node";
import type { NodeStatus } from "../../operator/src/plan/observed.ts";
import { waitFor } from "../cluster/harness.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";
import { logTails, type PodRunner, startPodRunner } from "./pod-runner.ts";

const START_TIMEOUT_MS = 40 * 60_000;
const NS = `runner-${process.pid}`;
const SVC = "kv-peers";

let cp: ControlPlane;
let core: CoreV1Api;
let apps: AppsV1Api;
let runner: PodRunner;
let failed = false;

async function nodeHttp(pod: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const { httpUrl } = runner.addressing({ namespace: NS, raftkv: "kv", pod });
  const res = await fetch(`${httpUrl}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.json() };
}

async function nodeStatus(pod: string): Promise<NodeStatus | undefined> {
  const r = await nodeHttp(pod, "/status").catch(() => undefined);
  return r?.status === 200 ? (r.body as NodeStatus) : undefined;
}

const condition = (p: V1Pod, type: string): V1PodCondition | undefined =>
  p.status?.conditions?.find((c) => c.type === type);

/** The pod once it is Ready (a new one when `notUid` is given), with the runner's IP. */
function readyPod(name: string, ms: number, notUid?: string): Promise<V1Pod> {
  return waitFor(`pod ${name} Ready`, ms, async () => {
    const p = await core.readNamespacedPod({ name, namespace: NS });
    if (p.metadata?.uid === notUid || p.metadata?.deletionTimestamp) return undefined;
    return condition(p, "Ready")?.status === "True" ? p : undefined;
  });
}

function container(image: string, extra: Partial<V1Container> = {}): V1Container {
  return {
    name: "raftkv",
    image,
    imagePullPolicy: "IfNotPresent",
    ports: [
      { name: "http", containerPort: 11000 },
      { name: "raft", containerPort: 12000 },
    ],
    env: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "NODE_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "DISCOVERY", value: "dns" },
      { name: "DISCOVERY_SERVICE", value: `${SVC}.$(POD_NAMESPACE).svc.cluster.local` },
      { name: "BOOTSTRAP_EXPECT", valueFrom: { configMapKeyRef: { name: "kv-config", key: "bootstrapExpect" } } },
      { name: "RAFT_SECRET", valueFrom: { secretKeyRef: { name: "kv-secret", key: "raftSecret" } } },
      { name: "RAFT_ADVERTISE_ADDR", value: `$(POD_NAME).${SVC}.$(POD_NAMESPACE).svc.cluster.local` },
      { name: "MEMBERSHIP", value: "self" },
      { name: "STATE_DIR", value: "/var/lib/raftkv/state" },
      { name: "TICK_MS", value: "50" },
    ],
    readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 1 },
    lifecycle: { preStop: { exec: { command: ["sleep", "5"] } } },
    volumeMounts: [{ name: "data", mountPath: "/var/lib/raftkv" }],
    ...extra,
  };
}

function statefulSet(name: string, replicas: number, c: V1Container, claims: boolean): V1StatefulSet {
  return {
    metadata: { name },
    spec: {
      serviceName: SVC,
      replicas,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 15,
          containers: [c],
          ...(claims ? {} : { volumes: [{ name: "data", emptyDir: {} }] }),
        },
      },
      volumeClaimTemplates: claims
        ? [
            {
              metadata: { name: "data" },
              spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
            },
          ]
        : [],
    },
  };
}

describe("pod runner", () => {
  before(
    async () => {
      cp = await startControlPlane();
      core = cp.kc.makeApiClient(CoreV1Api);
      apps = cp.kc.makeApiClient(AppsV1Api);
      await core.createNamespace({ body: { metadata: { name: NS } } });
      await waitFor("the default ServiceAccount", 30_000, async () => {
        await core.readNamespacedServiceAccount({ name: "default", namespace: NS });
        return true;
      });
      runner = await startPodRunner({ kc: cp.kc, namespace: NS });
    },
    { timeout: START_TIMEOUT_MS },
  );

  after(async () => {
    if (failed && runner) process.stderr.write(`pod logs:\n${logTails(runner)}\n`);
    await runner?.stop();
    if (runner) assert.equal(existsSync(runner.logDir), false, "stop() removes the temp dir");
    await cp?.stop();
  });

  const track = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      failed = true;
      throw e;
    }
  };

  it("runs a StatefulSet's pods as real nodes that form one cluster, Ready in the API", { timeout: 90_000 }, () =>
    track(async () => {
      const node = await core.readNode({ name: "loopback-node" });
      assert.equal(node.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
      await core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: "kv-config" }, data: { bootstrapExpect: "3" } },
      });
      await core.createNamespacedSecret({
        namespace: NS,
        body: { metadata: { name: "kv-secret" }, stringData: { raftSecret: "s3cret-for-tests" } },
      });
      await core.createNamespacedService({
        namespace: NS,
        body: {
          metadata: { name: SVC },
          spec: {
            clusterIP: "None",
            publishNotReadyAddresses: true,
            selector: { app: "kv" },
            ports: [{ name: "raft", port: 12000 }],
          },
        },
      });
      await apps.createNamespacedStatefulSet({
        namespace: NS,
        body: statefulSet("kv", 3, container("raftkv:1"), true),
      });

      const pods = await Promise.all(["kv-0", "kv-1", "kv-2"].map((n) => readyPod(n, 60_000)));
      for (const p of pods) {
        const name = p.metadata?.name ?? "";
        const ip = new URL(runner.addressing({ namespace: NS, raftkv: "kv", pod: name }).httpUrl).hostname;
        assert.equal(p.spec?.nodeName, "loopback-node");
        assert.equal(p.status?.phase, "Running");
        assert.equal(p.status?.podIP, ip);
        const cs = p.status?.containerStatuses?.[0];
        assert.equal(cs?.name, "raftkv");
        assert.equal(cs?.image, "raftkv:1");
        assert.equal(cs?.ready, true);
        assert.equal(cs?.restartCount, 0);
        assert.ok(cs?.state?.running?.startedAt);
        for (const t of ["PodScheduled", "Initialized", "ContainersReady", "Ready"]) {
          assert.equal(condition(p, t)?.status, "True", t);
        }
      }
      assert.deepEqual(
        runner
          .processes()
          .map((x) => x.pod)
          .sort(),
        ["kv-0", "kv-1", "kv-2"],
      );
      // The StatefulSet controller counts them too.
      await waitFor("readyReplicas 3", 20_000, async () =>
        (await apps.readNamespacedStatefulSet({ name: "kv", namespace: NS })).status?.readyReplicas === 3
          ? true
          : undefined,
      );

      const statuses = await waitFor("one leader with three voters", 20_000, async () => {
        const sts = await Promise.all(["kv-0", "kv-1", "kv-2"].map(nodeStatus));
        const leaders = sts.filter((s) => s?.state === "leader");
        const lead = leaders[0];
        if (leaders.length !== 1 || !lead || lead.members.filter((m) => m.role === "voter").length !== 3)
          return undefined;
        return sts.every((s) => s?.leader?.id === lead.id) ? sts : undefined;
      });
      // Members are the pod names, reachable at the runner's addresses.
      assert.deepEqual(statuses[0]?.members.map((m) => m.id).sort(), ["kv-0", "kv-1", "kv-2"]);

      const put = await nodeHttp("kv-0", "/key", { method: "POST", body: JSON.stringify({ color: "teal" }) });
      assert.equal(put.status, 200);
      assert.deepEqual((await nodeHttp("kv-2", "/key/color")).body, { color: "teal" });
    }),
  );

  it("restarts a crashed node process, counting restarts as a kubelet does", { timeout: 60_000 }, () =>
    track(async () => {
      const before = runner.processes().find((p) => p.pod === "kv-0");
      assert.ok(before);
      await runner.killPod("kv-0", "SIGKILL");
      const p = await waitFor("kv-0 restarted and Ready", 40_000, async () => {
        const pod = await core.readNamespacedPod({ name: "kv-0", namespace: NS });
        const cs = pod.status?.containerStatuses?.[0];
        return cs?.restartCount === 1 && cs.ready ? pod : undefined;
      });
      const cs = p.status?.containerStatuses?.[0];
      assert.equal(cs?.lastState?.terminated?.exitCode, 137);
      assert.equal(cs?.lastState?.terminated?.reason, "Error");
      const after = runner.processes().find((x) => x.pod === "kv-0");
      assert.notEqual(after?.pid, before.pid);
      assert.equal(p.metadata?.uid, before.uid, "the same pod, a new process");
    }),
  );

  it("deleting a pod stops its node gracefully; the recreated pod keeps its volume", { timeout: 90_000 }, () =>
    track(async () => {
      const old = await core.readNamespacedPod({ name: "kv-1", namespace: NS });
      const oldUid = old.metadata?.uid ?? "";
      const incarnation = (await nodeStatus("kv-1"))?.incarnation;
      assert.ok(incarnation);
      await core.deleteNamespacedPod({ name: "kv-1", namespace: NS });
      const fresh = await readyPod("kv-1", 60_000, oldUid);
      // The old process got SIGTERM and shut down cleanly (exit 0) before the kubelet's final delete.
      const oldLog = readFileSync(join(runner.logDir, `${NS}_kv-1_${oldUid.slice(0, 8)}.log`), "utf8");
      assert.match(oldLog, /"stopped".*"exitCode":0/);
      assert.equal(fresh.status?.containerStatuses?.[0]?.restartCount, 0);
      const st = await waitFor("kv-1 answers /status", 20_000, () => nodeStatus("kv-1"));
      assert.equal(st.incarnation, incarnation, "same store, same incarnation");
      const stale = await nodeHttp("kv-1", "/key/color?consistency=stale");
      assert.deepEqual(stale.body, { color: "teal" });
    }),
  );

  it("deleting the claim of a deleted pod gives the recreated pod an empty store", { timeout: 120_000 }, () =>
    track(async () => {
      const old = await core.readNamespacedPod({ name: "kv-2", namespace: NS });
      const oldClaim = await core.readNamespacedPersistentVolumeClaim({ name: "data-kv-2", namespace: NS });
      const incarnation = (await nodeStatus("kv-2"))?.incarnation;
      assert.ok(incarnation);
      const claimsDir = join(runner.logDir, "..", "claims", NS);
      const oldDir = join(claimsDir, `data-kv-2-${oldClaim.metadata?.uid}`);
      assert.ok(existsSync(oldDir), "the claim's volume is a directory of the runner");
      // Protected by its finalizer until the pod is gone, as on a real cluster.
      await core.deleteNamespacedPersistentVolumeClaim({ name: "data-kv-2", namespace: NS });
      await core.deleteNamespacedPod({ name: "kv-2", namespace: NS });
      await readyPod("kv-2", 90_000, old.metadata?.uid);
      const claim = await core.readNamespacedPersistentVolumeClaim({ name: "data-kv-2", namespace: NS });
      assert.notEqual(claim.metadata?.uid, oldClaim.metadata?.uid);
      assert.equal(existsSync(oldDir), false, "the old claim's data died with it");
      const st = await waitFor("kv-2 answers /status", 20_000, () => nodeStatus("kv-2"));
      assert.notEqual(st.incarnation, incarnation, "an empty store has a new incarnation");
    }),
  );

  it("a missing image never starts: the container waits with ErrImageNeverPull", { timeout: 60_000 }, () =>
    track(async () => {
      const c = container("raftkv:missing", { imagePullPolicy: "Never" });
      await apps.createNamespacedStatefulSet({ namespace: NS, body: statefulSet("bad", 1, c, false) });
      const p = await waitFor("bad-0 waiting", 30_000, async () => {
        const pod = await core.readNamespacedPod({ name: "bad-0", namespace: NS });
        return pod.status?.containerStatuses?.[0]?.state?.waiting?.reason === "ErrImageNeverPull" ? pod : undefined;
      });
      assert.equal(p.status?.phase, "Pending");
      assert.match(p.status?.containerStatuses?.[0]?.state?.waiting?.message ?? "", /raftkv:missing.*Never/);
      assert.equal(condition(p, "Ready")?.status, "False");
      assert.equal(
        runner.processes().some((x) => x.pod === "bad-0"),
        false,
      );
    }),
  );
  it(
    "a node that exits on its own is restarted with back-off: CrashLoopBackOff, restartCount",
    { timeout: 60_000 },
    () =>
      track(async () => {
        // An invalid port makes the node exit 2 at once, every time.
        const c = container("raftkv:1", {
          env: [
            { name: "NODE_ID", value: "crash" },
            { name: "HTTP_PORT", value: "x" },
          ],
        });
        await core.createNamespacedPod({
          namespace: NS,
          body: { metadata: { name: "crash" }, spec: { containers: [{ ...c, volumeMounts: [], lifecycle: {} }] } },
        });
        const p = await waitFor("crash in CrashLoopBackOff after 2 restarts", 30_000, async () => {
          const pod = await core.readNamespacedPod({ name: "crash", namespace: NS });
          const cs = pod.status?.containerStatuses?.[0];
          return cs?.state?.waiting?.reason === "CrashLoopBackOff" && cs.restartCount >= 2 ? pod : undefined;
        });
        const cs = p.status?.containerStatuses?.[0];
        assert.equal(cs?.lastState?.terminated?.exitCode, 2);
        assert.match(cs?.state?.waiting?.message ?? "", /back-off \d+s restarting failed container=raftkv/);
        assert.equal(p.status?.phase, "Running", "a restarting container keeps the pod Running");
        assert.equal(condition(p, "Ready")?.status, "False");
        assert.match(
          readFileSync(join(runner.logDir, `${NS}_crash_${p.metadata?.uid?.slice(0, 8)}.log`), "utf8"),
          /HTTP_PORT/,
        );
      }),
  );

  it("an image that cannot be pulled waits with ImagePullBackOff", { timeout: 30_000 }, () =>
    track(async () => {
      const c = container("registry.invalid/raftkv:does-not-exist", { volumeMounts: [] });
      await core.createNamespacedPod({
        namespace: NS,
        body: { metadata: { name: "nopull" }, spec: { containers: [c] } },
      });
      const p = await waitFor("nopull waiting", 20_000, async () => {
        const pod = await core.readNamespacedPod({ name: "nopull", namespace: NS });
        return pod.status?.containerStatuses?.[0]?.state?.waiting?.reason === "ImagePullBackOff" ? pod : undefined;
      });
      assert.match(p.status?.containerStatuses?.[0]?.state?.waiting?.message ?? "", /does-not-exist/);
      // Deleting a pod whose container never started is immediate.
      await core.deleteNamespacedPod({ name: "nopull", namespace: NS });
      await waitFor("nopull gone", 10_000, async () =>
        (await core.listNamespacedPod({ namespace: NS })).items.some((x) => x.metadata?.name === "nopull")
          ? undefined
          : true,
      );
    }),
  );

  it("keeps watching across an API server restart: a pod created afterwards runs", { timeout: 90_000 }, () =>
    track(async () => {
      await cp.restartApiServer();
      const c = container("raftkv:1", {
        env: [
          { name: "NODE_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          { name: "STATE_DIR", value: "/scratch/state" },
        ],
        volumeMounts: [{ name: "scratch", mountPath: "/scratch" }],
        lifecycle: {},
      });
      await core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name: "solo" },
          spec: { containers: [c], volumes: [{ name: "scratch", emptyDir: {} }], terminationGracePeriodSeconds: 5 },
        },
      });
      const p = await readyPod("solo", 60_000);
      const st = await waitFor("solo leads itself", 20_000, async () => {
        const s = await nodeStatus("solo");
        return s?.state === "leader" ? s : undefined;
      });
      assert.deepEqual(
        st.members.map((m) => m.id),
        ["solo"],
      );
      // Its emptyDir lives as long as the pod.
      const scratch = join(runner.logDir, "..", "pods", p.metadata?.uid ?? "", "volumes", "scratch", "state");
      assert.ok(existsSync(scratch));
      await core.deleteNamespacedPod({ name: "solo", namespace: NS });
      await waitFor("solo gone with its emptyDir", 30_000, async () =>
        (await core.listNamespacedPod({ namespace: NS })).items.some((x) => x.metadata?.name === "solo") ||
        existsSync(scratch)
          ? undefined
          : true,
      );
    }),
  );
});
