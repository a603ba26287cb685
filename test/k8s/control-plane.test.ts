/**
 * The k8s tier's control plane against the real binaries: the API server, RBAC, the controllers the
 * operator relies on, an API server restart, and cleanup. One control plane for the whole file.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PolicyV1Api,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import { waitFor } from "../cluster/harness.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";

/** A cold first run builds the binaries (~5-10 min); later runs start in a few seconds. */
const START_TIMEOUT_MS = 40 * 60_000;

let cp: ControlPlane;
let core: CoreV1Api;

/** The HTTP status of an API call: 200 when it succeeds, else the ApiException's code. */
async function statusOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 200;
  } catch (e) {
    if (e instanceof ApiException) return e.code;
    throw e;
  }
}

async function createNamespace(name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } });
  // Pods cannot be created before the serviceaccount controller made the namespace's default ServiceAccount.
  await waitFor(`ServiceAccount ${name}/default`, 30_000, async () => {
    await core.readNamespacedServiceAccount({ name: "default", namespace: name });
    return true;
  });
}

/** PIDs of this process's children, for the listening-socket check. */
function childPids(): Set<number> {
  const pids = new Set<number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the "(comm)" part: state, ppid, ...
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid) pids.add(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });
}

describe("test control plane", () => {
  before(
    async () => {
      cp = await startControlPlane();
      core = cp.kc.makeApiClient(CoreV1Api);
    },
    { timeout: START_TIMEOUT_MS },
  );
  after(async () => {
    await cp?.stop();
  });

  it("serves the API to the admin client", async () => {
    assert.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
    for (const ns of ["default", "kube-system", "kube-public"]) assert.ok(names.includes(ns), `${ns} in ${names}`);
  });

  it("runs kubectl v1.34.4 against an API server of the same version", async () => {
    const r = await cp.kubectl(["version", "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
    assert.equal(v.clientVersion.gitVersion, "v1.34.4");
    assert.equal(v.serverVersion.gitVersion, "v1.34.4");
  });

  it("passes kubectl's stdin and exit code through", async () => {
    const cm = JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "from-stdin" },
      data: { a: "1" },
    });
    const applied = await cp.kubectl(["apply", "-n", "default", "-f", "-"], { input: cm });
    assert.equal(applied.code, 0, applied.stderr);
    const read = await core.readNamespacedConfigMap({ name: "from-stdin", namespace: "default" });
    assert.equal(read.data?.a, "1");
    const missing = await cp.kubectl(["get", "configmap", "no-such-thing", "-n", "default"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /NotFound/);
  });

  it("listens on 127.0.0.1 only", () => {
    const pids = childPids();
    const lines = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => [...l.matchAll(/pid=(\d+)/g)].some((m) => pids.has(Number(m[1]))));
    // etcd client + peer, kube-apiserver, kube-controller-manager
    assert.ok(lines.length >= 4, `expected at least 4 listening sockets, got:\n${lines.join("\n")}`);
    for (const l of lines) assert.match(l.split(/\s+/)[3] ?? "", /^127\.0\.0\.1:\d+$/, l);
  });

  it("enforces RBAC on ServiceAccount tokens and accepts bearer tokens", async () => {
    const ns = "rbac-check";
    await createNamespace(ns);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "reader" } } });
    const kc = new KubeConfig();
    kc.loadFromFile(await cp.kubeconfigFor({ namespace: ns, serviceAccount: "reader" }));
    assert.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, ns);
    const asReader = kc.makeApiClient(CoreV1Api);
    assert.equal(await statusOf(() => asReader.listNamespacedPod({ namespace: ns })), 403);

    const rbac = cp.kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: "pod-reader" }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "reader-reads-pods" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pod-reader" },
        subjects: [{ kind: "ServiceAccount", name: "reader", namespace: ns }],
      },
    });
    // The authorizer sees the new binding through its informer, a moment later.
    await waitFor("the RoleBinding to take effect", 10_000, async () =>
      (await statusOf(() => asReader.listNamespacedPod({ namespace: ns }))) === 200 ? true : undefined,
    );
    // Only what the Role grants.
    assert.equal(await statusOf(() => asReader.listNamespacedSecret({ namespace: ns })), 403);
    assert.equal(await statusOf(() => asReader.listNamespacedPod({ namespace: "default" })), 403);

    // The same identity through a plain bearer-token kubeconfig; a made-up token is not authenticated.
    const tr = await core.createNamespacedServiceAccountToken({ name: "reader", namespace: ns, body: { spec: {} } });
    const byToken = new KubeConfig();
    byToken.loadFromFile(await cp.kubeconfigFor({ token: tr.status?.token ?? "" }));
    assert.equal(await statusOf(() => byToken.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns })), 200);
    const bogus = new KubeConfig();
    bogus.loadFromFile(await cp.kubeconfigFor({ token: "not-a-real-token" }));
    assert.equal(await statusOf(() => bogus.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns })), 401);
    await assert.rejects(cp.kubeconfigFor({ token: "" }), /empty token/);
  });

  it("runs the statefulset (with PVCs) and disruption controllers", async () => {
    const ns = "sts-check";
    await createNamespace(ns);
    const labels = { app: "web" };
    await cp.kc.makeApiClient(AppsV1Api).createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: {
          serviceName: "web",
          replicas: 2,
          podManagementPolicy: "Parallel", // no kubelet makes pods Ready, so OrderedReady would stop at web-0
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: "c", image: "example.invalid/none" }] } },
          volumeClaimTemplates: [
            {
              metadata: { name: "data" },
              spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Mi" } } },
            },
          ],
        },
      },
    });
    await createPdb(ns, labels);
    const pods = await waitFor("the StatefulSet's 2 pods", 30_000, async () => {
      const names = (await core.listNamespacedPod({ namespace: ns })).items.map((p) => p.metadata?.name).sort();
      return names.length === 2 ? names : undefined;
    });
    assert.deepEqual(pods, ["web-0", "web-1"]);
    const pvcs = (await core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items;
    assert.deepEqual(pvcs.map((c) => c.metadata?.name).sort(), ["data-web-0", "data-web-1"]);
    const pdbs = cp.kc.makeApiClient(PolicyV1Api);
    const status = await waitFor("the PDB's status", 30_000, async () => {
      const s = (await pdbs.readNamespacedPodDisruptionBudget({ name: "web", namespace: ns })).status;
      return s?.expectedPods === 2 ? s : undefined;
    });
    assert.equal(status.currentHealthy, 0); // nothing runs the pods, so none is healthy
    assert.equal(status.disruptionsAllowed, 0);
    // Its removal (pods, PVCs with their protection finalizer) takes the namespace controller several seconds;
    // a later test checks it, so that time overlaps the tests in between.
    await core.deleteNamespace({ name: ns });
  });

  it("garbage-collects a child whose owner is deleted", async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "owner" } } });
    const ownerRef = { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata?.uid ?? "" };
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "child", ownerReferences: [ownerRef] } },
    });
    await core.deleteNamespacedConfigMap({ name: "owner", namespace: "default" });
    await waitFor("the child to be garbage-collected", 30_000, async () =>
      (await statusOf(() => core.readNamespacedConfigMap({ name: "child", namespace: "default" }))) === 404
        ? true
        : undefined,
    );
  });

  it("restarts the API server on the same address, and clients and controllers carry on", async () => {
    const server = cp.server;
    await cp.restartApiServer();
    assert.equal(cp.server, server);
    const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
    assert.ok(names.includes("rbac-check"), "data survives the restart (it lives in etcd)");
    // The controller manager reconnects: a new namespace still gets its default ServiceAccount.
    await createNamespace("after-restart");
  });

  it("removes a deleted namespace with everything in it (pods, PVCs)", async () => {
    await waitFor("namespace sts-check to be gone", 60_000, async () =>
      (await statusOf(() => core.readNamespace({ name: "sts-check" }))) === 404 ? true : undefined,
    );
  });

  it("stop() kills everything, removes the dir and can be called again", async () => {
    const port = Number(new URL(cp.server).port);
    await cp.stop();
    assert.equal(existsSync(cp.dir), false);
    assert.equal(await portRefuses(port), true);
    assert.equal(childPids().size, 0);
    await cp.stop();
  });
});

async function createPdb(namespace: string, labels: Record<string, string>): Promise<void> {
  await cp.kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
    namespace,
    body: { metadata: { name: "web" }, spec: { maxUnavailable: 1, selector: { matchLabels: labels } } },
  });
}
