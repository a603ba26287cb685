/**
 * charts/raftkv against a real kube-apiserver (RBAC on) with the real helm v4.3.2: `helm install` creates
 * the CRD and the operator's objects, `helm upgrade` changes them, `helm uninstall` removes them but leaves
 * the CRD; `helm template` with the defaults and with every optional feature on passes a server-side dry
 * run; and the chart's RBAC is enough, and only just: the operator, run in this process with a kubeconfig
 * of the chart's ServiceAccount, brings the example RaftKV to Available (switching its ServiceMonitor on and
 * its PDB off on the way) without a single 403, cluster-wide and with watchNamespace (Roles only), while
 * `kubectl auth can-i` confirms a few things it must not do.
 *
 * The Prometheus Operator is not installed here: minimal CRDs for ServiceMonitor, PodMonitor and
 * PrometheusRule (any spec accepted) stand in for its, so those objects are applied too.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  AppsV1Api,
  CoordinationV1Api,
  CustomObjectsApi,
  EventsV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Deployment,
} from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../../operator/src/raftkv.ts";
import { ALL_FEATURES, CHART_DIR, helm, helmBinary, ROOT, renderChart, Scratch } from "../charts/helm.ts";
import { type ChartOperator, startChartOperator } from "./chart-operator.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";
import { stableWith } from "./operator-fixture.ts";

const OPERATOR_NS = "raftkv-system";
const APP_NS = "raftkv-apps";
const EXAMPLE = join(ROOT, "examples", "raftkv.yaml");

/** Stand-ins for the Prometheus Operator's CRDs: the kinds exist, any spec is accepted. */
const MONITORING_CRDS = [
  ["ServiceMonitor", "servicemonitors"],
  ["PodMonitor", "podmonitors"],
  ["PrometheusRule", "prometheusrules"],
]
  .map(
    ([kind, plural]) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ${kind}, plural: ${plural}, listKind: ${kind}List, singular: ${kind?.toLowerCase()}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`,
  )
  .join("---\n");

let cp: ControlPlane;
let scratch: Scratch;
/** Operators started by the tests, stopped in `after` if a test failed before stopping its own. */
const operators: ChartOperator[] = [];

before(
  async () => {
    scratch = new Scratch();
    await helmBinary();
    cp = await startControlPlane();
    for (const ns of [OPERATOR_NS, APP_NS]) await kubectlOk(["create", "namespace", ns]);
    await kubectlOk(["apply", "--server-side", "-f", "-"], MONITORING_CRDS);
    await kubectlOk(["wait", "--for=condition=Established", "crd", "--all", "--timeout=30s"]);
  },
  { timeout: 45 * 60_000 },
); // the first run may build the Kubernetes binaries and helm

after(async () => {
  for (const op of operators) await op.stop();
  await cp?.stop();
  scratch?.cleanup();
});

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** helm against the test API server; asserts it succeeded and returns its output. */
async function helmOk(args: string[]): Promise<string> {
  const r = await helm(scratch, [...args, "--kubeconfig", cp.kubeconfig], 120_000);
  assert.equal(r.code, 0, `helm ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function deployment(name: string, namespace: string): Promise<V1Deployment | undefined> {
  try {
    return await cp.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name, namespace });
  } catch (e) {
    if ((e as { code?: number }).code === 404) return undefined;
    throw e;
  }
}

function envValue(d: V1Deployment | undefined, name: string): string | undefined {
  return d?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === name)?.value;
}

test("helm install creates the CRD and the operator; upgrade changes values; uninstall keeps the CRD", async () => {
  const ns = "raftkv-life";
  await kubectlOk(["create", "namespace", ns]);
  const crdBefore = await cp.kubectl(["get", "crd", "raftkvs.raftkv.io"]);
  assert.notEqual(crdBefore.code, 0, "the RaftKV CRD must not exist before the first install");

  const install = await helmOk(["install", "life", CHART_DIR, "--namespace", ns]);
  assert.match(install, /STATUS: deployed/);
  // NOTES.txt tells what to do next.
  assert.match(install, /kubectl apply -n <namespace> -f examples\/raftkv\.yaml/);
  assert.match(install, /kubectl get rkv -n <namespace>/);
  assert.match(install, /kubectl apply --server-side --force-conflicts -f charts\/raftkv\/crds\//);
  await kubectlOk(["get", "crd", "raftkvs.raftkv.io"]);
  // The CRD upgrade the README and NOTES prescribe works on a CRD helm installed. (Without --force-conflicts
  // it is refused: helm created the CRD, so its manager owns .spec.versions, whose defaulted fields differ.)
  const crdUpgrade = await cp.kubectl(["apply", "--server-side", "--force-conflicts", "-f", join(CHART_DIR, "crds")]);
  assert.equal(crdUpgrade.code, 0, crdUpgrade.stderr);
  assert.match(
    crdUpgrade.stdout,
    /customresourcedefinition.apiextensions.k8s.io\/raftkvs.raftkv.io serverside-applied/,
  );
  const d1 = await deployment("life-raftkv-operator", ns);
  assert.equal(d1?.spec?.replicas, 1);
  assert.equal(envValue(d1, "LOG_LEVEL"), "info");
  assert.equal(envValue(d1, "NODE_IMAGE"), "raftkv-node:0.1.0");
  await kubectlOk(["get", "serviceaccount/life-raftkv-operator", "service/life-raftkv-operator-metrics", "-n", ns]);
  await kubectlOk(["get", "clusterrole/life-raftkv-operator", "clusterrolebinding/life-raftkv-operator"]);

  const upgrade = await helmOk([
    "upgrade",
    "life",
    CHART_DIR,
    "--namespace",
    ns,
    "--set",
    "operator.logLevel=debug",
    "--set",
    "operator.replicas=2",
  ]);
  assert.match(upgrade, /REVISION: 2/);
  const d2 = await deployment("life-raftkv-operator", ns);
  assert.equal(d2?.spec?.replicas, 2);
  assert.equal(envValue(d2, "LOG_LEVEL"), "debug");
  assert.equal(d2?.metadata?.generation, (d1?.metadata?.generation ?? 0) + 1);

  // An upgrade with a bad value is refused before anything changes.
  const bad = await helm(scratch, [
    "upgrade",
    "life",
    CHART_DIR,
    "-n",
    ns,
    "--set",
    "operator.logLevel=loud",
    "--kubeconfig",
    cp.kubeconfig,
  ]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /at '\/operator\/logLevel': value must be one of 'debug', 'info', 'warn', 'error'/);
  assert.equal(envValue(await deployment("life-raftkv-operator", ns), "LOG_LEVEL"), "debug");

  await helmOk(["uninstall", "life", "--namespace", ns, "--wait"]);
  assert.equal(await deployment("life-raftkv-operator", ns), undefined);
  const gone = await cp.kubectl(["get", "clusterrole/life-raftkv-operator", "-n", ns]);
  assert.notEqual(gone.code, 0, "the ClusterRole is removed with the release");
  // Helm never deletes CRDs from crds/: RaftKVs (and their data) survive an uninstall.
  await kubectlOk(["get", "crd", "raftkvs.raftkv.io"]);
});

test("helm template (defaults, and every optional feature on) passes a server-side dry run", async () => {
  // The CRD comes from the chart's crds/, as helm would install it; the install test above may not have run.
  await kubectlOk(["apply", "--server-side", "--force-conflicts", "-f", join(CHART_DIR, "crds")]);
  await kubectlOk(["wait", "--for=condition=Established", "crd/raftkvs.raftkv.io", "--timeout=30s"]);
  for (const [what, values] of [
    ["defaults", {}],
    ["all features", ALL_FEATURES],
  ] as const) {
    const { objects, yaml } = await renderChart(scratch, values, { release: "dry", namespace: OPERATOR_NS });
    const r = await cp.kubectl(
      ["apply", "--server-side", "--dry-run=server", "--field-manager=helm", "-n", OPERATOR_NS, "-f", "-"],
      { input: yaml },
    );
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    const applied = r.stdout.split("\n").filter((l) => l.includes("serverside-applied (server dry run)"));
    assert.equal(applied.length, objects.length, `${what}: every object applied\n${r.stdout}`);
    if (what === "all features") {
      for (const kind of ["servicemonitor", "podmonitor", "prometheusrule", "networkpolicy", "raftkv", "configmap"]) {
        assert.ok(
          applied.some((l) => new RegExp(`^${kind}(\\.[a-z0-9.]+)?/`).test(l)),
          `${what}: a ${kind} was applied\n${r.stdout}`,
        );
      }
    }
  }
});

test("RBAC for real: the operator with the chart's ServiceAccount runs the example to Available, no 403", async () => {
  // The CRD is already there (applied with kubectl): helm 4 would server-side apply it again and conflict
  // with kubectl's field manager, so --skip-crds, as the README says.
  await helmOk(["install", "rbac", CHART_DIR, "--namespace", OPERATOR_NS, "--skip-crds"]);
  const op = await startChartOperator({
    cp,
    release: "rbac",
    namespace: OPERATOR_NS,
    appNamespace: APP_NS,
    nodeName: "node-a",
  });
  operators.push(op);
  assert.equal(op.config.watchNamespace, undefined);
  assert.equal(op.config.leaderElectionNamespace, OPERATOR_NS);

  await kubectlOk(["apply", "-n", APP_NS, "-f", EXAMPLE]);
  await op.until("the example RaftKV Available with 3 voters", 120_000, async () =>
    stableWith(3)(await op.get("demo")),
  );

  // ServiceMonitor on and PDB off: the operator creates the one and deletes the other (their verbs).
  const custom = cp.kc.makeApiClient(CustomObjectsApi);
  await custom.patchNamespacedCustomObject(
    {
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: APP_NS,
      name: "demo",
      body: { spec: { metrics: { serviceMonitor: { enabled: true } }, podDisruptionBudget: { enabled: false } } },
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  const policy = cp.kc.makeApiClient(PolicyV1Api);
  await op.until("the ServiceMonitor created and the PDB deleted", 30_000, async () => {
    const sms = await custom.listNamespacedCustomObject({
      group: "monitoring.coreos.com",
      version: "v1",
      plural: "servicemonitors",
      namespace: APP_NS,
    });
    const pdbs = await policy.listNamespacedPodDisruptionBudget({ namespace: APP_NS });
    return (sms as { items: unknown[] }).items.length === 1 && pdbs.items.length === 0;
  });
  await op.until("the RaftKV Available again", 30_000, async () => stableWith(3)(await op.get("demo")));

  // No call was refused: neither in the operator's log (checked by until) nor in Events.
  const events = await cp.kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: APP_NS });
  const ours = events.items.filter((e) => e.reportingController === "raftkv.io/operator");
  assert.ok(ours.length > 0, "the operator wrote Events (events.k8s.io create)");
  assert.deepEqual(
    events.items.filter((e) => /forbidden/i.test(e.note ?? "")).map((e) => e.note),
    [],
  );
  // Leader election used the Lease the chart's Role names.
  const lease = await cp.kc
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ name: "rbac-raftkv-operator", namespace: OPERATOR_NS });
  assert.equal(lease.spec?.holderIdentity, "rbac-raftkv-operator-0");

  // And no more than that: a few things the ServiceAccount must not be able to do.
  await assertCannot(op.user, [
    ["delete", "statefulsets.apps", APP_NS],
    ["update", "secrets", APP_NS],
    ["delete", "raftkvs.raftkv.io", APP_NS],
    ["create", "pods", APP_NS],
    ["update", "leases.coordination.k8s.io/someone-elses", OPERATOR_NS],
    ["create", "leases.coordination.k8s.io", APP_NS],
    ["get", "customresourcedefinitions.apiextensions.k8s.io/raftkvs.raftkv.io", ""],
    ["create", "clusterroles.rbac.authorization.k8s.io", ""],
  ]);
  await op.stop(); // frees the loopback node processes before the next test
});

test("RBAC for real with watchNamespace: namespaced Roles suffice, nothing outside that namespace", async () => {
  const ns = "raftkv-scoped";
  const apps = "raftkv-scoped-apps";
  for (const n of [ns, apps]) await kubectlOk(["create", "namespace", n]);
  await helmOk(["install", "scoped", CHART_DIR, "--namespace", ns, "--skip-crds", "--set", `watchNamespace=${apps}`]);
  await kubectlOk(["get", "role/scoped-raftkv-operator", "rolebinding/scoped-raftkv-operator", "-n", apps]);
  const op = await startChartOperator({ cp, release: "scoped", namespace: ns, appNamespace: apps, nodeName: "node-b" });
  operators.push(op);
  assert.equal(op.config.watchNamespace, apps);

  await kubectlOk(["apply", "-n", apps, "-f", EXAMPLE]);
  await op.until("the example RaftKV Available with 3 voters", 120_000, async () =>
    stableWith(3)(await op.get("demo")),
  );
  await assertCannot(op.user, [
    ["list", "pods", APP_NS],
    ["get", "secrets", APP_NS],
    ["list", "raftkvs.raftkv.io", ""],
    ["list", "pods", ""],
  ]);
  await op.stop();
});

/** Asserts `user` may do none of `what` ([verb, resource, namespace or "" for cluster-wide]). */
async function assertCannot(user: string, what: (readonly [string, string, string])[]): Promise<void> {
  for (const [verb, resource, ns] of what) {
    const args = ["auth", "can-i", verb, resource, "--as", user, ...(ns ? ["-n", ns] : ["--all-namespaces"])];
    const can = await cp.kubectl(args);
    assert.equal(can.stdout.trim(), "no", `${user} can ${verb} ${resource} in ${ns || "the cluster"}`);
  }
}
