/**
 * charts/raftkv without an API server: `helm lint --strict`, what `helm template` renders with the defaults
 * and with every optional feature on (names, labels, the operator's env, security context, probes, the exact
 * RBAC rules, monitoring objects, NetworkPolicies), values.schema.json refusing bad values with a clear
 * message, and the chart's CRD being byte-identical to crds/raftkv.yaml. The API server tier is
 * test/k8s/chart.test.ts.
 */

import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadYaml } from "@kubernetes/client-node";
import { ALL_FEATURES, CHART_DIR, helm, helmBinary, type K8sObject, one, ROOT, renderChart, Scratch } from "./helm.ts";

const NS = "raftkv-system";
let scratch: Scratch;

before(
  async () => {
    scratch = new Scratch();
    await helmBinary();
  },
  { timeout: 20 * 60_000 },
); // the first run builds helm

after(() => scratch?.cleanup());

/** The operator's namespaced rules, as the chart must grant them (see the chart README's RBAC table). */
const OPERATOR_RULES = [
  { apiGroups: ["raftkv.io"], resources: ["raftkvs"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["raftkv.io"], resources: ["raftkvs/status"], verbs: ["patch"] },
  { apiGroups: [""], resources: ["secrets", "configmaps"], verbs: ["get", "create", "patch"] },
  { apiGroups: ["apps"], resources: ["statefulsets"], verbs: ["get", "list", "watch", "create", "patch"] },
  { apiGroups: [""], resources: ["services"], verbs: ["list", "watch", "create", "patch"] },
  {
    apiGroups: ["policy"],
    resources: ["poddisruptionbudgets"],
    verbs: ["get", "list", "watch", "create", "patch", "delete"],
  },
  { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch", "delete"] },
  { apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["list", "watch", "patch", "delete"] },
  { apiGroups: ["monitoring.coreos.com"], resources: ["servicemonitors"], verbs: ["get", "create", "patch", "delete"] },
  { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create"] },
];

function envOf(deployment: K8sObject): Map<string, { value?: string; valueFrom?: unknown }> {
  const c = deployment.spec.template.spec.containers[0];
  return new Map(c.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e]));
}

test("the chart's CRD is byte-identical to crds/raftkv.yaml", () => {
  const chart = readFileSync(join(CHART_DIR, "crds", "raftkv.yaml"));
  const repo = readFileSync(join(ROOT, "crds", "raftkv.yaml"));
  assert.ok(chart.equals(repo), "charts/raftkv/crds/raftkv.yaml differs: cp crds/raftkv.yaml charts/raftkv/crds/");
});

test("Chart.yaml: apiVersion v2, raftkv 0.1.0, appVersion 0.1.0, Kubernetes >= 1.29", () => {
  const chart = loadYaml(readFileSync(join(CHART_DIR, "Chart.yaml"), "utf8")) as Record<string, string>;
  assert.equal(chart.apiVersion, "v2");
  assert.equal(chart.name, "raftkv");
  assert.equal(chart.version, "0.1.0");
  assert.equal(chart.appVersion, "0.1.0");
  assert.equal(chart.kubeVersion, ">=1.29.0-0");
});

test("helm lint --strict passes with the defaults and with every optional feature on", async () => {
  for (const values of [{}, ALL_FEATURES]) {
    const r = await helm(scratch, ["lint", "--strict", CHART_DIR, "-f", scratch.valuesFile(values)]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/);
  }
});

test("defaults: the operator Deployment, ServiceAccount, RBAC and metrics Service, nothing optional", async () => {
  const { objects } = await renderChart(scratch);
  assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
    "ClusterRole/rel-raftkv-operator",
    "ClusterRole/rel-raftkv-operator-crd-reader",
    "ClusterRoleBinding/rel-raftkv-operator",
    "ClusterRoleBinding/rel-raftkv-operator-crd-reader",
    "Deployment/rel-raftkv-operator",
    "Role/rel-raftkv-operator-leader-election",
    "RoleBinding/rel-raftkv-operator-leader-election",
    "Service/rel-raftkv-operator-metrics",
    "ServiceAccount/rel-raftkv-operator",
  ]);
  for (const o of objects) {
    const l = o.metadata.labels ?? {};
    assert.equal(l["app.kubernetes.io/name"], "raftkv-operator", `${o.kind} name label`);
    assert.equal(l["app.kubernetes.io/instance"], "rel", `${o.kind} instance label`);
    assert.equal(l["app.kubernetes.io/managed-by"], "Helm", `${o.kind} managed-by label`);
    assert.equal(l["app.kubernetes.io/version"], "0.1.0", `${o.kind} version label`);
    assert.equal(l["app.kubernetes.io/part-of"], "raftkv", `${o.kind} part-of label`);
    assert.equal(l["helm.sh/chart"], "raftkv-0.1.0", `${o.kind} chart label`);
    if (!o.kind.startsWith("Cluster")) assert.equal(o.metadata.namespace, NS, `${o.kind} namespace`);
  }
});

test("defaults: the Deployment runs 1 replica with the operator's env, probes and the node pods' security", async () => {
  const d = one((await renderChart(scratch)).objects, "Deployment");
  assert.equal(d.spec.replicas, 1);
  const pod = d.spec.template.spec;
  assert.equal(pod.serviceAccountName, "rel-raftkv-operator");
  const c = pod.containers[0];
  assert.equal(c.image, "raftkv-operator:0.1.0");
  const env = envOf(d);
  const value = (n: string) => env.get(n)?.value;
  assert.equal(value("NODE_IMAGE"), "raftkv-node:0.1.0");
  assert.equal(value("WATCH_NAMESPACE"), "");
  assert.equal(value("CLUSTER_DOMAIN"), "cluster.local");
  assert.equal(value("METRICS_PORT"), "8080");
  assert.equal(value("LEADER_ELECTION"), "true");
  assert.equal(value("LEADER_ELECTION_NAMESPACE"), NS);
  assert.equal(value("LEADER_ELECTION_ID"), "rel-raftkv-operator");
  assert.equal(value("RESYNC_SECONDS"), "30");
  assert.equal(value("WORKERS"), "2");
  assert.equal(value("LOG_LEVEL"), "info");
  assert.deepEqual(env.get("POD_NAME")?.valueFrom, { fieldRef: { fieldPath: "metadata.name" } });
  assert.deepEqual(env.get("POD_NAMESPACE")?.valueFrom, { fieldRef: { fieldPath: "metadata.namespace" } });
  assert.deepEqual(c.ports, [{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
  assert.equal(c.livenessProbe.httpGet.path, "/healthz");
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  assert.deepEqual(pod.securityContext, {
    fsGroup: 10001,
    runAsGroup: 10001,
    runAsNonRoot: true,
    runAsUser: 10001,
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.deepEqual(c.securityContext, {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    readOnlyRootFilesystem: true,
  });
  assert.deepEqual(c.resources, { requests: { cpu: "50m", memory: "96Mi" }, limits: { memory: "256Mi" } });
  // Never the node pods' name label: the operator watches pods labelled app.kubernetes.io/name=raftkv.
  assert.equal(d.spec.template.metadata.labels["app.kubernetes.io/name"], "raftkv-operator");
  const svc = one((await renderChart(scratch)).objects, "Service");
  assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
});

test("defaults: RBAC is exactly the operator's calls, cluster-wide, plus a Lease Role in the release namespace", async () => {
  const { objects } = await renderChart(scratch);
  assert.deepEqual(one(objects, "ClusterRole", "rel-raftkv-operator").rules, OPERATOR_RULES);
  assert.deepEqual(one(objects, "ClusterRole", "rel-raftkv-operator-crd-reader").rules, [
    {
      apiGroups: ["apiextensions.k8s.io"],
      resources: ["customresourcedefinitions"],
      resourceNames: ["servicemonitors.monitoring.coreos.com"],
      verbs: ["get"],
    },
  ]);
  const role = one(objects, "Role");
  assert.equal(role.metadata.namespace, NS);
  assert.deepEqual(role.rules, [
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      resourceNames: ["rel-raftkv-operator"],
      verbs: ["get", "update"],
    },
  ]);
  for (const b of objects.filter((o) => o.kind.endsWith("Binding"))) {
    assert.deepEqual(b.subjects, [{ kind: "ServiceAccount", name: "rel-raftkv-operator", namespace: NS }]);
    assert.equal(b.roleRef.name, b.metadata.name, `${b.kind} ${b.metadata.name} binds its own role`);
  }
});

test("watchNamespace: the operator's rules become a Role and RoleBinding in that namespace", async () => {
  const { objects } = await renderChart(scratch, { watchNamespace: "apps" });
  const roles = objects.filter((o) => o.kind === "Role" || o.kind === "ClusterRole");
  assert.deepEqual(roles.map((r) => `${r.kind}/${r.metadata.namespace ?? ""}/${r.metadata.name}`).sort(), [
    "ClusterRole//rel-raftkv-operator-crd-reader",
    "Role/apps/rel-raftkv-operator",
    `Role/${NS}/rel-raftkv-operator-leader-election`,
  ]);
  assert.deepEqual(one(objects, "Role", "rel-raftkv-operator").rules, OPERATOR_RULES);
  const binding = one(objects, "RoleBinding", "rel-raftkv-operator");
  assert.equal(binding.metadata.namespace, "apps");
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "Role",
    name: "rel-raftkv-operator",
  });
  assert.equal(envOf(one(objects, "Deployment")).get("WATCH_NAMESPACE")?.value, "apps");
});

test("without leader election there is no Lease Role; rbac.create=false grants nothing", async () => {
  const noLe = await renderChart(scratch, { operator: { leaderElection: { enabled: false } } });
  assert.equal(noLe.objects.filter((o) => o.kind === "Role").length, 0);
  assert.equal(envOf(one(noLe.objects, "Deployment")).get("LEADER_ELECTION")?.value, "false");
  const noRbac = await renderChart(scratch, { rbac: { create: false } });
  assert.deepEqual(
    noRbac.objects.filter((o) => /Role/.test(o.kind)),
    [],
  );
});

test("image values: repository:tag, tags default to appVersion; NODE_IMAGE follows nodeImage", async () => {
  const { objects } = await renderChart(scratch, {
    image: { repository: "registry.local:5000/raftkv-operator", tag: "1.2.3", pullPolicy: "Always" },
    nodeImage: { repository: "registry.local:5000/raftkv-node", tag: "1.2.4" },
  });
  const d = one(objects, "Deployment");
  assert.equal(d.spec.template.spec.containers[0].image, "registry.local:5000/raftkv-operator:1.2.3");
  assert.equal(d.spec.template.spec.containers[0].imagePullPolicy, "Always");
  assert.equal(envOf(d).get("NODE_IMAGE")?.value, "registry.local:5000/raftkv-node:1.2.4");
});

test("every optional feature on: monitoring, alerts, dashboard, NetworkPolicy, the RaftKV, pod knobs", async () => {
  const { objects } = await renderChart(scratch, ALL_FEATURES);
  const d = one(objects, "Deployment");
  assert.equal(d.spec.replicas, 2);
  assert.equal(envOf(d).get("LOG_LEVEL")?.value, "debug");
  const pod = d.spec.template;
  assert.equal(pod.metadata.annotations["example.com/note"], "all features");
  assert.equal(pod.metadata.labels.team, "storage");
  assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "regcred" }]);
  assert.deepEqual(pod.spec.nodeSelector, { "kubernetes.io/os": "linux" });
  assert.equal(pod.spec.tolerations[0].key, "dedicated");

  const sm = one(objects, "ServiceMonitor");
  assert.equal(sm.metadata.labels?.release, "kube-prometheus-stack");
  assert.deepEqual(sm.spec.selector.matchLabels, d.spec.selector.matchLabels);
  assert.equal(sm.spec.endpoints[0].port, "metrics");

  const pm = one(objects, "PodMonitor");
  assert.deepEqual(pm.spec.selector.matchLabels, {
    "app.kubernetes.io/name": "raftkv",
    "app.kubernetes.io/component": "node",
  });
  assert.deepEqual(pm.spec.namespaceSelector, { any: true });
  assert.equal(pm.spec.podMetricsEndpoints[0].port, "client");
  assert.equal(pm.spec.podMetricsEndpoints[0].relabelings[0].targetLabel, "raftkv");

  const rkv = one(objects, "RaftKV");
  assert.equal(rkv.metadata.name, "demo");
  assert.equal(rkv.metadata.namespace, NS);
  assert.deepEqual(rkv.spec, { replicas: 3 });

  const rules = join(CHART_DIR, "rules", "raftkv-alerts.yaml");
  const prs = objects.filter((o) => o.kind === "PrometheusRule");
  if (existsSync(rules)) {
    const file = loadYaml(readFileSync(rules, "utf8")) as { groups: unknown[] };
    assert.equal(prs.length, 1);
    assert.deepEqual(prs[0]?.spec.groups, file.groups);
    assert.equal(prs[0]?.metadata.labels?.release, "kube-prometheus-stack");
  } else {
    assert.equal(prs.length, 0, "no rules file yet: no PrometheusRule");
  }
  const dashboard = join(CHART_DIR, "dashboards", "raftkv.json");
  const cms = objects.filter((o) => o.kind === "ConfigMap");
  if (existsSync(dashboard)) {
    assert.equal(cms.length, 1);
    assert.equal(cms[0]?.metadata.labels?.grafana_dashboard, "1");
    assert.equal(cms[0]?.metadata.annotations?.grafana_folder, "raftkv");
    assert.deepEqual(JSON.parse(cms[0]?.data["raftkv.json"]), JSON.parse(readFileSync(dashboard, "utf8")));
  } else {
    assert.equal(cms.length, 0, "no dashboard yet: no ConfigMap");
  }
});

test("NetworkPolicy: Raft port only from the cluster's own pods; client port also from the operator and clientFrom", async () => {
  const { objects } = await renderChart(scratch, ALL_FEATURES);
  const np = one(objects, "NetworkPolicy");
  const members = {
    "app.kubernetes.io/name": "raftkv",
    "app.kubernetes.io/component": "node",
    "app.kubernetes.io/instance": "demo",
  };
  assert.deepEqual(np.spec.podSelector, { matchLabels: members });
  assert.deepEqual(np.spec.policyTypes, ["Ingress"]);
  const operator = one(objects, "Deployment").spec.selector.matchLabels;
  assert.deepEqual(np.spec.ingress, [
    { ports: [{ port: 12000, protocol: "TCP" }], from: [{ podSelector: { matchLabels: members } }] },
    {
      ports: [{ port: 11000, protocol: "TCP" }],
      from: [
        { podSelector: { matchLabels: members } },
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": NS } },
          podSelector: { matchLabels: operator },
        },
        { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
      ],
    },
  ]);
  // Without named instances: one policy for every raftkv node pod of the namespace.
  const all = await renderChart(scratch, { networkPolicy: { enabled: true } });
  const np2 = one(all.objects, "NetworkPolicy");
  assert.equal(np2.metadata.name, "rel-raftkv-nodes");
  assert.deepEqual(np2.spec.podSelector.matchLabels, {
    "app.kubernetes.io/name": "raftkv",
    "app.kubernetes.io/component": "node",
  });
  const two = await renderChart(scratch, { networkPolicy: { enabled: true, instances: ["a", "b"] } });
  assert.deepEqual(
    two.objects.map((o) => o.metadata.name).filter((n) => n.endsWith("-nodes")),
    ["rel-raftkv-a-nodes", "rel-raftkv-b-nodes"],
  );
});

test("rules and dashboard files: rendered when present, nothing when absent, a clear error when broken", async () => {
  const chart = join(scratch.dir, "chart-copy");
  cpSync(CHART_DIR, chart, { recursive: true });
  const values = { prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } };
  writeFileSync(
    join(chart, "rules", "raftkv-alerts.yaml"),
    "# comment\ngroups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        annotations:\n          summary: '{{ $labels.pod }} down'\n",
  );
  writeFileSync(join(chart, "dashboards", "raftkv.json"), '{"title": "raftkv"}\n');
  const present = await renderChart(scratch, values, { chart });
  assert.deepEqual(one(present.objects, "PrometheusRule").spec.groups, [
    { name: "g", rules: [{ alert: "A", expr: "up == 0", annotations: { summary: "{{ $labels.pod }} down" } }] },
  ]);
  assert.equal(one(present.objects, "ConfigMap").data["raftkv.json"], '{"title": "raftkv"}');

  rmSync(join(chart, "rules", "raftkv-alerts.yaml"));
  rmSync(join(chart, "dashboards", "raftkv.json"));
  const absent = await renderChart(scratch, values, { chart });
  assert.deepEqual(
    absent.objects.map((o) => o.kind).filter((k) => k === "PrometheusRule" || k === "ConfigMap"),
    [],
  );

  writeFileSync(join(chart, "rules", "raftkv-alerts.yaml"), "groups: [\n");
  await assert.rejects(renderChart(scratch, values, { chart }), /rules\/raftkv-alerts.yaml is not valid YAML/);
});

/** Expected refusals: values and the words helm must print. */
const BAD_VALUES: { what: string; values: unknown; message: RegExp }[] = [
  {
    what: "operator.replicas: -1",
    values: { operator: { replicas: -1 } },
    message: /at '\/operator\/replicas': minimum: got -1, want 0/,
  },
  {
    what: "a numeric image tag",
    values: { image: { tag: 1.0 } },
    message: /at '\/image\/tag': got number, want string/,
  },
  {
    what: "logLevel: loud",
    values: { operator: { logLevel: "loud" } },
    message: /at '\/operator\/logLevel': value must be one of 'debug', 'info', 'warn', 'error'/,
  },
  {
    what: "an empty image repository",
    values: { image: { repository: "" } },
    message: /at '\/image\/repository': minLength: got 0, want 1/,
  },
  {
    what: "no node image repository",
    values: { nodeImage: { repository: null } },
    message: /at '\/nodeImage': missing property 'repository'/,
  },
  {
    what: "a misspelt key",
    values: { operator: { replics: 2 } },
    message: /at '\/operator': additional properties 'replics' not allowed/,
  },
  {
    what: "workers: 0",
    values: { operator: { workers: 0 } },
    message: /at '\/operator\/workers': minimum: got 0, want 1/,
  },
  {
    what: "a bad pull policy",
    values: { image: { pullPolicy: "Sometimes" } },
    message: /at '\/image\/pullPolicy': value must be one of/,
  },
  {
    what: "an upper-case cluster name",
    values: { cluster: { name: "Demo" } },
    message: /at '\/cluster\/name': 'Demo' does not match pattern/,
  },
  {
    what: "a bad scrape interval",
    values: { metrics: { serviceMonitor: { interval: "often" } } },
    message: /at '\/metrics\/serviceMonitor\/interval'/,
  },
  {
    what: "2 replicas without leader election",
    values: { operator: { replicas: 2, leaderElection: { enabled: false } } },
    message: /operator.replicas > 1 needs operator.leaderElection.enabled=true/,
  },
];

for (const bad of BAD_VALUES) {
  test(`values are refused with a clear message: ${bad.what}`, async () => {
    const r = await helm(scratch, ["template", "rel", CHART_DIR, "-f", scratch.valuesFile(bad.values)]);
    assert.notEqual(r.code, 0, `accepted ${JSON.stringify(bad.values)}`);
    assert.match(r.stderr, bad.message);
  });
}
