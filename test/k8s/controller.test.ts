/**
 * The Controller against a real API server, with a recording reconcile function in place of the
 * Reconciler: events on RaftKVs and on the kinds the operator owns reach the owning RaftKV's key; objects
 * of no RaftKV, or outside WATCH_NAMESPACE, reach nothing; resync, requeue and backoff after a throw; and
 * never two passes of one key at once.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import type { OperatorConfig } from "../../operator/src/config.ts";
import { Controller, type ReconcileKey } from "../../operator/src/controller/controller.ts";
import { makeClients } from "../../operator/src/kube/kube-clients.ts";
import { silentLogger } from "../../operator/src/log.ts";
import { OperatorMetrics } from "../../operator/src/metrics.ts";
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from "../../operator/src/raftkv.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";
import { installRaftKVCrd } from "./install-crd.ts";

let cp: ControlPlane;
let core: CoreV1Api;
let custom: CustomObjectsApi;

const baseConfig: OperatorConfig = {
  watchNamespace: undefined,
  nodeImage: "raftkv-node:test",
  clusterDomain: "cluster.local",
  metricsAddr: "127.0.0.1",
  metricsPort: 0,
  leaderElection: false,
  leaderElectionNamespace: "default",
  leaderElectionId: "raftkv-operator",
  identity: "controller-test",
  resyncSeconds: 3600,
  workers: 3,
  logLevel: "error",
};

async function until(what: string, ms: number, f: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A reconcile function that records every call and can be told how to answer per key. */
class Recorder {
  readonly calls: { key: string; at: number }[] = [];
  readonly inFlight = new Set<string>();
  readonly overlaps: string[] = [];
  readonly behaviour = new Map<string, (n: number) => Promise<{ requeueAfterMs?: number }>>();
  readonly reconcile = async (k: ReconcileKey): Promise<{ requeueAfterMs?: number }> => {
    const key = `${k.namespace}/${k.name}`;
    if (this.inFlight.has(key)) this.overlaps.push(key);
    this.inFlight.add(key);
    this.calls.push({ key, at: Date.now() });
    try {
      const b = this.behaviour.get(key);
      return b ? await b(this.count(key)) : {};
    } finally {
      this.inFlight.delete(key);
    }
  };
  count(key: string): number {
    return this.calls.filter((c) => c.key === key).length;
  }
  times(key: string): number[] {
    return this.calls.filter((c) => c.key === key).map((c) => c.at);
  }
}

async function namespace(name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } });
  // Without kube-controller-manager nobody makes the default ServiceAccount pods need.
  await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: "default" } } });
}

async function createRaftKV(ns: string, name: string): Promise<{ uid: string }> {
  const r = (await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace: ns,
    body: { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: { replicas: 3 } },
  })) as { metadata: { uid: string } };
  return { uid: r.metadata.uid };
}

function labels(instance: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": "raftkv",
    "app.kubernetes.io/instance": instance,
    "app.kubernetes.io/managed-by": "raftkv-operator",
  };
}

function startController(t: { after: (f: () => Promise<void>) => void }, rec: Recorder, config = baseConfig) {
  const c = new Controller({
    kc: cp.kc,
    clients: makeClients(cp.kc),
    config,
    logger: silentLogger,
    metrics: new OperatorMetrics(),
    reconcile: rec.reconcile,
    queue: { baseDelayMs: 100, maxDelayMs: 2000 },
  });
  t.after(() => c.stop(2000));
  c.start();
  return c;
}

describe("Controller", () => {
  before(
    async () => {
      cp = await startControlPlane({ controllerManager: false });
      core = cp.kc.makeApiClient(CoreV1Api);
      custom = cp.kc.makeApiClient(CustomObjectsApi);
      await installRaftKVCrd(cp);
    },
    { timeout: 40 * 60_000 },
  );
  after(async () => {
    await cp?.stop();
  });

  it("maps events of RaftKVs and of owned objects to the RaftKV's key", async (t) => {
    const ns = "mapping";
    await namespace(ns);
    const pre = await createRaftKV(ns, "existing");
    const rec = new Recorder();
    const c = startController(t, rec);
    assert.equal(await c.waitForSync(20_000), true);
    await until("the existing RaftKV to be reconciled on start", 10_000, () => rec.count(`${ns}/existing`) >= 1);

    await createRaftKV(ns, "fresh");
    await until("the new RaftKV", 10_000, () => rec.count(`${ns}/fresh`) >= 1);

    // Owned via ownerReference (StatefulSet), via the instance label (Service, PDB, claim, pod).
    const owner = { apiVersion: API_VERSION, kind: KIND, name: "existing", uid: pre.uid, controller: true };
    const before = rec.count(`${ns}/existing`);
    await makeClients(cp.kc).apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: "existing", labels: labels("existing"), ownerReferences: [owner] },
        spec: {
          serviceName: "existing-peer",
          selector: { matchLabels: { "app.kubernetes.io/instance": "existing" } },
          template: {
            metadata: { labels: labels("existing") },
            spec: { containers: [{ name: "node", image: "raftkv-node:test" }] },
          },
        },
      },
    });
    await until("the StatefulSet event", 10_000, () => rec.count(`${ns}/existing`) > before);

    const kinds: [string, () => Promise<unknown>][] = [
      [
        "svc",
        () =>
          core.createNamespacedService({
            namespace: ns,
            body: { metadata: { name: "svc-one", labels: labels("one") }, spec: { ports: [{ port: 11000 }] } },
          }),
      ],
      [
        "pdb",
        () =>
          makeClients(cp.kc).policy.createNamespacedPodDisruptionBudget({
            namespace: ns,
            body: {
              metadata: { name: "pdb-two", labels: labels("two") },
              spec: { maxUnavailable: 1, selector: { matchLabels: { "app.kubernetes.io/instance": "two" } } },
            },
          }),
      ],
      [
        "claim",
        () =>
          core.createNamespacedPersistentVolumeClaim({
            namespace: ns,
            body: {
              metadata: { name: "data-three-0", labels: labels("three") },
              spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
            },
          }),
      ],
      [
        "pod",
        () =>
          core.createNamespacedPod({
            namespace: ns,
            body: {
              // Pods carry the template's labels only; the managed-by label is not needed.
              metadata: {
                name: "four-0",
                labels: { "app.kubernetes.io/name": "raftkv", "app.kubernetes.io/instance": "four" },
              },
              spec: { containers: [{ name: "node", image: "raftkv-node:test" }] },
            },
          }),
      ],
    ];
    for (const [, create] of kinds) await create();
    for (const name of ["one", "two", "three", "four"]) {
      await until(`an event mapped to ${ns}/${name}`, 10_000, () => rec.count(`${ns}/${name}`) >= 1);
    }

    // Objects of no RaftKV reach nothing.
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: "unrelated", labels: { app: "other" } }, spec: { ports: [{ port: 80 }] } },
    });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "stray", labels: { app: "other" } },
        spec: { containers: [{ name: "c", image: "x" }] },
      },
    });
    // A deletion is an event too.
    const beforeDelete = rec.count(`${ns}/fresh`);
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns,
      name: "fresh",
    });
    await until("the deletion of fresh", 10_000, () => rec.count(`${ns}/fresh`) > beforeDelete);
    const keys = new Set(rec.calls.map((x) => x.key));
    assert.deepEqual(
      [...keys].sort(),
      ["existing", "four", "fresh", "one", "three", "two"].map((n) => `${ns}/${n}`),
    );
    assert.deepEqual(rec.overlaps, []);
  });

  it("watches only WATCH_NAMESPACE when it is set", async (t) => {
    await namespace("watched");
    await namespace("ignored");
    const rec = new Recorder();
    const c = startController(t, rec, { ...baseConfig, watchNamespace: "watched" });
    assert.equal(await c.waitForSync(20_000), true);
    await createRaftKV("ignored", "x");
    await createRaftKV("watched", "y");
    await until("watched/y", 10_000, () => rec.count("watched/y") >= 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(rec.count("ignored/x"), 0);
  });

  it("resyncs, requeues when asked, retries a throwing pass with backoff, one pass per key at a time", async (t) => {
    const ns = "timing";
    await namespace(ns);
    for (const n of ["steady", "requeue", "failing", "slow"]) await createRaftKV(ns, n);
    const rec = new Recorder();
    rec.behaviour.set(`${ns}/requeue`, async (n) => (n === 1 ? { requeueAfterMs: 400 } : {}));
    rec.behaviour.set(`${ns}/failing`, async (n) => {
      if (n <= 4) throw new Error(`failure ${n}`);
      return {};
    });
    rec.behaviour.set(`${ns}/slow`, async () => {
      await new Promise((r) => setTimeout(r, 300));
      return {};
    });
    const metrics = new OperatorMetrics();
    const c = new Controller({
      kc: cp.kc,
      clients: makeClients(cp.kc),
      config: { ...baseConfig, watchNamespace: ns, resyncSeconds: 2 },
      logger: silentLogger,
      metrics,
      reconcile: rec.reconcile,
      queue: { baseDelayMs: 100, maxDelayMs: 2000 },
    });
    t.after(() => c.stop(2000));
    c.start();

    // Poke "slow" repeatedly while it runs: it must never run twice at once.
    for (let i = 0; i < 10; i++) {
      await custom.patchNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: ns,
        name: "slow",
        body: [{ op: "add", path: "/metadata/labels", value: { poke: String(i) } }],
      });
      await new Promise((r) => setTimeout(r, 50));
    }
    await until("four failures and a success", 15_000, () => rec.count(`${ns}/failing`) >= 5);
    const f = rec.times(`${ns}/failing`);
    const gaps = f.slice(1, 4).map((t0, i) => t0 - (f[i] ?? 0));
    // 100, 200, 400 ms: all before the first resync (2 s), which queues a key at once whatever its backoff.
    for (const [i, g] of gaps.entries()) assert.ok(g >= 100 * 2 ** i - 20, `retry ${i + 1} after ${g} ms: ${gaps}`);

    await until("the requeue", 5000, () => rec.count(`${ns}/requeue`) >= 2);
    const [first = 0, second = 0] = rec.times(`${ns}/requeue`);
    assert.ok(second - first >= 380, `requeued after ${second - first} ms`);

    // Resync every 2 s reconciles even an untouched RaftKV again.
    const steady = rec.count(`${ns}/steady`);
    await until("two resyncs", 8000, () => rec.count(`${ns}/steady`) >= steady + 2);
    assert.deepEqual(rec.overlaps, []);

    const total = await metrics.reconcileTotal.get();
    const byResult = Object.fromEntries(total.values.map((v) => [v.labels.result, v.value]));
    assert.ok((byResult.error ?? 0) >= 4, JSON.stringify(byResult));
    assert.ok((byResult.requeue ?? 0) >= 1, JSON.stringify(byResult));
    assert.equal((await metrics.reconcileErrorsTotal.get()).values[0]?.value, byResult.error);
  });

  it("stop waits for a pass in flight and no pass starts after it", async (t) => {
    const ns = "stopping";
    await namespace(ns);
    await createRaftKV(ns, "busy");
    const rec = new Recorder();
    let finished = false;
    rec.behaviour.set(`${ns}/busy`, async () => {
      await new Promise((r) => setTimeout(r, 500));
      finished = true;
      return { requeueAfterMs: 0 };
    });
    const c = startController(t, rec, { ...baseConfig, watchNamespace: ns, resyncSeconds: 1 });
    await until("busy to start", 10_000, () => rec.inFlight.has(`${ns}/busy`));
    await c.stop(5000);
    assert.equal(finished, true, "stop returned while a pass was still running");
    const n = rec.count(`${ns}/busy`);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(rec.count(`${ns}/busy`), n);
  });
});
