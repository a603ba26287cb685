/**
 * RestartingInformer against a real API server: it keeps delivering events across an API server restart
 * (client-node's ListWatch alone stops on the connection error), relists after the restarted server
 * answers its watch with 410 Gone, and an informer whose list fails (a resource not served yet) is
 * restarted with backoff until it can sync, each restart counted in the metrics.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ConfigMap,
} from "@kubernetes/client-node";
import { RestartingInformer } from "../../operator/src/kube/restarting-informer.ts";
import { silentLogger } from "../../operator/src/log.ts";
import { OperatorMetrics } from "../../operator/src/metrics.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";

let cp: ControlPlane;
let core: CoreV1Api;

async function until(what: string, ms: number, f: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function configMap(name: string, data: Record<string, string> = {}): V1ConfigMap {
  return { metadata: { name }, data };
}

/** An informer on ConfigMaps of `namespace` that records the names it was told about, per verb. */
function configMapInformer(namespace: string, metrics: OperatorMetrics) {
  const seen = { add: [] as string[], update: [] as string[], delete: [] as string[] };
  const inf = new RestartingInformer<V1ConfigMap>({
    kc: cp.kc,
    resource: "configmaps",
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    list: () => core.listNamespacedConfigMap({ namespace }),
    logger: silentLogger,
    metrics,
    minBackoffMs: 100,
    maxBackoffMs: 1000,
  });
  for (const verb of ["add", "update", "delete"] as const) inf.on(verb, (o) => seen[verb].push(o.metadata?.name ?? ""));
  return { inf, seen };
}

async function restartsCounted(m: OperatorMetrics, resource: string): Promise<number> {
  const v = (await m.informerRestartsTotal.get()).values.find((x) => x.labels.resource === resource);
  return v?.value ?? 0;
}

describe("RestartingInformer", () => {
  before(
    async () => {
      cp = await startControlPlane({ controllerManager: false });
      core = cp.kc.makeApiClient(CoreV1Api);
    },
    { timeout: 40 * 60_000 },
  );
  after(async () => {
    await cp?.stop();
  });

  it("keeps delivering events after an API server restart, relisting after 410 Gone", async (t) => {
    const ns = "informer-restart";
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap("before") });
    const metrics = new OperatorMetrics();
    const { inf, seen } = configMapInformer(ns, metrics);
    t.after(() => inf.stop());
    inf.start();
    assert.equal(await inf.waitForSync(20_000), true);
    assert.ok(seen.add.includes("before"));
    assert.equal(inf.lists, 1);

    await core.createNamespacedConfigMap({ namespace: ns, body: configMap("watched") });
    await until("the watch to deliver 'watched'", 10_000, () => seen.add.includes("watched"));
    // A write the informer does not watch moves etcd's revision past the informer's last resourceVersion,
    // so the restarted API server's fresh watch cache answers the informer's resumed watch with 410 Gone.
    await core.createNamespacedConfigMap({ namespace: "default", body: configMap(`elsewhere-${Date.now()}`) });

    await cp.restartApiServer();
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap("after") });
    await until("the informer to deliver 'after'", 30_000, () => seen.add.includes("after"));
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: "after",
      body: [{ op: "add", path: "/data", value: { k: "v" } }],
    });
    await until("the update of 'after'", 10_000, () => seen.update.includes("after"));
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "watched" });
    await until("the deletion of 'watched'", 10_000, () => seen.delete.includes("watched"));

    assert.ok(inf.restarts >= 1, "the informer stopped on the connection error and was restarted");
    assert.equal(await restartsCounted(metrics, "configmaps"), inf.restarts);
    assert.ok(inf.lists >= 2, `relisted after 410 Gone (lists: ${inf.lists})`);
    // The relist did not invent or lose anything: the cache matches the server.
    const names = (list: readonly V1ConfigMap[]) => list.map((c) => c.metadata?.name ?? "").sort();
    const server = await core.listNamespacedConfigMap({ namespace: ns });
    assert.deepEqual(names(inf.list(ns)), names(server.items));
    assert.deepEqual(seen.delete, ["watched"]);
  });

  it("restarts with backoff while its list fails, and syncs once the resource exists", async (t) => {
    const group = "informer.test.raftkv.io";
    const custom = cp.kc.makeApiClient(CustomObjectsApi);
    const metrics = new OperatorMetrics();
    const inf = new RestartingInformer<KubernetesObject>({
      kc: cp.kc,
      resource: "widgets",
      path: `/apis/${group}/v1/widgets`,
      list: () =>
        custom.listClusterCustomObject({ group, version: "v1", plural: "widgets" }) as Promise<
          KubernetesListObject<KubernetesObject>
        >,
      logger: silentLogger,
      metrics,
      minBackoffMs: 100,
      maxBackoffMs: 400,
    });
    const added: string[] = [];
    inf.on("add", (o) => added.push(o.metadata?.name ?? ""));
    t.after(() => inf.stop());
    const started = Date.now();
    inf.start();
    await until("two restarts", 10_000, () => inf.restarts >= 2);
    assert.equal(inf.synced, false);
    // Backoff: 3 restarts take at least 50+100+200 ms (jitter halves at most), and it keeps trying.
    await until("three restarts", 10_000, () => inf.restarts >= 3);
    assert.ok(Date.now() - started >= 350, `restarted too fast: ${Date.now() - started} ms`);

    const ext = cp.kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "widgets", singular: "widget", kind: "Widget" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    });
    await until(
      "the Widget API to be served",
      20_000,
      async () =>
        await custom.listClusterCustomObject({ group, version: "v1", plural: "widgets" }).then(
          () => true,
          () => false,
        ),
    );
    assert.equal(await inf.waitForSync(10_000), true);
    await custom.createNamespacedCustomObject({
      group,
      version: "v1",
      plural: "widgets",
      namespace: "default",
      body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "w1" } },
    });
    await until("the watch to deliver w1", 10_000, () => added.includes("w1"));
    assert.ok((await restartsCounted(metrics, "widgets")) >= 3);
    // Synced and healthy: no further restarts.
    const restarts = inf.restarts;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(inf.restarts, restarts);
  });
});
