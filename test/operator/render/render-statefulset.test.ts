import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Container, V1EnvVar, V1StatefulSet } from "@kubernetes/client-node";
import { isConfigError, parseConfig } from "../../../node/src/config.ts";
import { MAX_NAME_LENGTH, selectorLabels } from "../../../operator/src/render/names.ts";
import { renderStatefulSet, type StatefulSetInputs } from "../../../operator/src/render/render-statefulset.ts";
import { raftkv } from "./fixtures.ts";

const inputs = (over: Partial<StatefulSetInputs> = {}): StatefulSetInputs => ({
  replicas: 3,
  image: "registry.example/raftkv:1.0.0",
  clusterDomain: "cluster.local",
  ...over,
});
const sts = (...a: Parameters<typeof renderStatefulSet>) => renderStatefulSet(...a) as unknown as V1StatefulSet;
const container = (s: V1StatefulSet): V1Container => s.spec?.template.spec?.containers[0] as V1Container;
const envOf = (s: V1StatefulSet): Map<string, V1EnvVar> => new Map((container(s).env ?? []).map((e) => [e.name, e]));

test("the pod template does not depend on spec.replicas nor on the StatefulSet's replicas", () => {
  const base = sts(raftkv({ replicas: 3 }), inputs({ replicas: 3 }));
  for (const [replicas, stsReplicas] of [
    [5, 3],
    [3, 5],
    [5, 5],
    [1, 0],
    [9, 4],
  ] as const) {
    const other = sts(raftkv({ replicas }), inputs({ replicas: stsReplicas }));
    assert.deepEqual(other.spec?.template, base.spec?.template, `replicas ${replicas}, StatefulSet ${stsReplicas}`);
    assert.equal(other.spec?.replicas, stsReplicas, "replicas come from the planner, not spec.replicas");
  }
});

test("Parallel pods, OnDelete updates, the peer Service, claim retention", () => {
  const s = sts(raftkv({}, { name: "demo", namespace: "prod" }), inputs());
  assert.equal(s.apiVersion, "apps/v1");
  assert.equal(s.kind, "StatefulSet");
  assert.equal(s.metadata?.name, "demo");
  assert.equal(s.metadata?.namespace, "prod");
  assert.equal(s.spec?.podManagementPolicy, "Parallel");
  assert.deepEqual(s.spec?.updateStrategy, { type: "OnDelete" });
  assert.equal(s.spec?.serviceName, "demo-peers");
  assert.deepEqual(s.spec?.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Delete" });
  assert.deepEqual(s.spec?.selector, { matchLabels: selectorLabels(raftkv({}, { name: "demo" })) });
  const podLabels = s.spec?.template.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(s.spec?.selector.matchLabels ?? {})) assert.equal(podLabels[k], v);
});

test("leveldb gets a data claim template; memory an emptyDir and no claim template", () => {
  const ldb = sts(raftkv({ storage: { size: "5Gi", storageClassName: "fast" } }), inputs());
  assert.equal(ldb.spec?.volumeClaimTemplates?.length, 1);
  const claim = ldb.spec?.volumeClaimTemplates?.[0];
  assert.equal(claim?.metadata?.name, "data");
  assert.deepEqual(claim?.spec?.accessModes, ["ReadWriteOnce"]);
  assert.deepEqual(claim?.spec?.resources?.requests, { storage: "5Gi" });
  assert.equal(claim?.spec?.storageClassName, "fast");
  for (const [k, v] of Object.entries(selectorLabels(raftkv()))) assert.equal(claim?.metadata?.labels?.[k], v);
  assert.equal(
    ldb.spec?.template.spec?.volumes?.some((v) => v.name === "data"),
    false,
    "the claim template provides the volume",
  );
  assert.equal(sts(raftkv(), inputs()).spec?.volumeClaimTemplates?.[0]?.spec?.storageClassName, undefined);
  assert.equal(
    sts(raftkv(), inputs({ claimTemplateSize: "1Gi" })).spec?.volumeClaimTemplates?.[0]?.spec?.resources?.requests
      ?.storage,
    "1Gi",
  );
  assert.equal(
    sts(raftkv({ storage: { size: "8Gi" } }), inputs({ claimTemplateSize: "2Gi" })).spec?.volumeClaimTemplates?.[0]
      ?.spec?.resources?.requests?.storage,
    "2Gi",
    "an existing template's size wins over a grown spec.storage.size",
  );

  const mem = sts(raftkv({ kvStore: "memory" }), inputs());
  assert.equal(mem.spec?.volumeClaimTemplates, undefined);
  assert.deepEqual(
    mem.spec?.template.spec?.volumes?.find((v) => v.name === "data"),
    { name: "data", emptyDir: {} },
  );
  assert.equal(envOf(mem).get("KV_STORE")?.value, "memory");
  assert.deepEqual(
    container(mem).volumeMounts?.find((m) => m.name === "data"),
    { name: "data", mountPath: "/data" },
  );
});

test("the node's environment: identity from the pod, DNS discovery, operator membership, secrets by reference", () => {
  const s = sts(raftkv({}, { name: "demo", namespace: "prod" }), inputs());
  const env = envOf(s);
  const names = (container(s).env ?? []).map((e) => e.name);
  assert.equal(new Set(names).size, names.length, "no variable twice");
  assert.deepEqual(env.get("NODE_ID")?.valueFrom, { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } });
  assert.deepEqual(env.get("POD_NAME")?.valueFrom, { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } });
  assert.deepEqual(env.get("POD_NAMESPACE")?.valueFrom, {
    fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" },
  });
  assert.equal(env.get("RAFT_ADVERTISE_ADDR")?.value, "$(POD_NAME).demo-peers.$(POD_NAMESPACE).svc.cluster.local");
  // Dependent expansion only sees variables defined earlier in the list.
  assert.ok(names.indexOf("POD_NAME") < names.indexOf("RAFT_ADVERTISE_ADDR"));
  assert.ok(names.indexOf("POD_NAMESPACE") < names.indexOf("RAFT_ADVERTISE_ADDR"));
  assert.equal(env.get("DISCOVERY")?.value, "dns");
  assert.equal(env.get("DISCOVERY_SERVICE")?.value, "demo-peers.prod.svc.cluster.local");
  assert.equal(env.get("MEMBERSHIP")?.value, "operator");
  assert.equal(env.get("STATE_DIR")?.value, "/data");
  assert.equal(env.get("KV_STORE")?.value, "leveldb");
  assert.equal(env.get("HTTP_PORT")?.value, "11000");
  assert.equal(env.get("RAFT_PORT")?.value, "12000");
  assert.equal(env.get("CLUSTER_ID")?.value, "prod.demo");
  assert.deepEqual(env.get("RAFT_SECRET")?.valueFrom, { secretKeyRef: { name: "demo-raft", key: "secret" } });
  assert.equal(env.get("RAFT_SECRET")?.value, undefined, "the secret never sits in the template");
  assert.deepEqual(env.get("BOOTSTRAP_EXPECT")?.valueFrom, {
    configMapKeyRef: { name: "demo-bootstrap", key: "BOOTSTRAP_EXPECT" },
  });
  assert.equal(
    sts(
      raftkv({}, { name: "demo", namespace: "prod" }),
      inputs({ clusterDomain: "k8s.example" }),
    ).spec?.template.spec?.containers[0]?.env?.find((e) => e.name === "DISCOVERY_SERVICE")?.value,
    "demo-peers.prod.svc.k8s.example",
  );
});

/** The environment the kubelet would give pod `pod`: references resolved, $(VAR) expanded. */
function resolvedEnv(s: V1StatefulSet, pod: string, namespace: string, refs: Record<string, string>) {
  const out: Record<string, string> = {};
  for (const e of container(s).env ?? []) {
    const f = e.valueFrom;
    let v: string;
    if (f?.fieldRef) v = f.fieldRef.fieldPath === "metadata.name" ? pod : namespace;
    else if (f?.secretKeyRef) v = refs[`${f.secretKeyRef.name}/${f.secretKeyRef.key}`] as string;
    else if (f?.configMapKeyRef) v = refs[`${f.configMapKeyRef.name}/${f.configMapKeyRef.key}`] as string;
    else v = (e.value ?? "").replace(/\$\((\w+)\)/g, (m, name: string) => out[name] ?? m);
    out[e.name] = v;
  }
  return out;
}

test("the node accepts the rendered environment (its own config parser), also with the longest names", () => {
  const ns = `n${"s".repeat(62)}`;
  for (const [name, namespace] of [
    ["demo", "prod"],
    [`a${"b".repeat(MAX_NAME_LENGTH - 1)}`, ns],
  ] as const) {
    const s = sts(raftkv({}, { name, namespace }), inputs());
    const pod = `${name}-8`;
    const env = resolvedEnv(s, pod, namespace, {
      [`${name}-raft/secret`]: "s3cret-s3cret-s3cret",
      [`${name}-bootstrap/BOOTSTRAP_EXPECT`]: "3",
    });
    const cfg = parseConfig(env, { hostname: pod, resolveIPv4: () => undefined, readFile: () => "" });
    if (isConfigError(cfg)) assert.fail(`${cfg.variable}: ${cfg.problem}`);
    assert.equal(cfg.nodeId, pod);
    assert.equal(cfg.raftAdvertiseAddr, `${pod}.${name}-peers.${namespace}.svc.cluster.local`);
    assert.equal(cfg.httpAdvertiseAddr, cfg.raftAdvertiseAddr);
    assert.equal(cfg.discovery, "dns");
    assert.equal(cfg.discoveryService, `${name}-peers.${namespace}.svc.cluster.local`);
    assert.equal(cfg.bootstrapExpect, 3);
    assert.equal(cfg.secret, "s3cret-s3cret-s3cret");
    assert.equal(cfg.clusterId, `${namespace}.${name}`);
    assert.equal(cfg.stateDir, "/data");
    assert.deepEqual([cfg.httpPort, cfg.raftPort], [11000, 12000]);
  }
});

test("probes: startup and liveness on /livez, readiness on /readyz, all on the client port", () => {
  const c = container(sts(raftkv(), inputs()));
  assert.equal(c.startupProbe?.httpGet?.path, "/livez");
  assert.equal(c.livenessProbe?.httpGet?.path, "/livez");
  assert.equal(c.readinessProbe?.httpGet?.path, "/readyz");
  for (const p of [c.startupProbe, c.livenessProbe, c.readinessProbe]) assert.equal(p?.httpGet?.port, "client");
  const startupBudget = (c.startupProbe?.periodSeconds ?? 0) * (c.startupProbe?.failureThreshold ?? 0);
  assert.ok(startupBudget >= 300, `startup gets at least 5 minutes (got ${startupBudget} s)`);
  assert.deepEqual(
    c.ports?.map((p) => [p.name, p.containerPort]),
    [
      ["client", 11000],
      ["raft", 12000],
    ],
  );
});

test("shutdown: a preStop sleep, and a grace period that covers it plus the leader hand-over", () => {
  const s = sts(raftkv(), inputs());
  const sleep = container(s).lifecycle?.preStop?.sleep?.seconds ?? 0;
  assert.ok(sleep >= 2 && sleep <= 10, `sleep ${sleep}`);
  assert.equal(container(s).lifecycle?.preStop?.exec, undefined, "no shell in the image is assumed");
  const grace = s.spec?.template.spec?.terminationGracePeriodSeconds ?? 0;
  assert.ok(grace >= sleep + 10 + 5, `grace ${grace}`);
});

test("security: non-root numeric user, read-only root, no privileges, RuntimeDefault seccomp, /tmp emptyDir", () => {
  const s = sts(raftkv(), inputs());
  const pod = s.spec?.template.spec;
  assert.deepEqual(pod?.securityContext, {
    runAsNonRoot: true,
    runAsUser: 10001,
    runAsGroup: 10001,
    fsGroup: 10001,
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.deepEqual(container(s).securityContext, {
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
  });
  assert.deepEqual(
    pod?.volumes?.find((v) => v.name === "tmp"),
    { name: "tmp", emptyDir: {} },
  );
  assert.deepEqual(
    container(s).volumeMounts?.find((m) => m.mountPath === "/tmp"),
    { name: "tmp", mountPath: "/tmp" },
  );
  assert.equal(pod?.enableServiceLinks, false);
  assert.equal(pod?.automountServiceAccountToken, false);
});

test("image and pull policy come from the spec", () => {
  const c = container(sts(raftkv({ imagePullPolicy: "Always" }), inputs({ image: "x/raftkv:2" })));
  assert.equal(c.image, "x/raftkv:2");
  assert.equal(c.imagePullPolicy, "Always");
});

test("user podLabels and podAnnotations are merged; they cannot override the operator's labels", () => {
  const r = raftkv({
    podLabels: {
      team: "storage",
      "app.kubernetes.io/instance": "evil",
      "app.kubernetes.io/name": "evil",
      "app.kubernetes.io/component": "evil",
      "app.kubernetes.io/managed-by": "evil",
    },
    podAnnotations: { "example.com/note": "hi" },
  });
  const meta = sts(r, inputs()).spec?.template.metadata;
  assert.deepEqual(meta?.labels, {
    "app.kubernetes.io/component": "node",
    "app.kubernetes.io/instance": "demo",
    "app.kubernetes.io/managed-by": "raftkv-operator",
    "app.kubernetes.io/name": "raftkv",
    team: "storage",
  });
  assert.deepEqual(meta?.annotations, { "example.com/note": "hi" });
  assert.equal(sts(raftkv(), inputs()).spec?.template.metadata?.annotations, undefined);
});

test("affinity: soft anti-affinity across nodes by default, the user's as given otherwise", () => {
  const r = raftkv();
  assert.deepEqual(sts(r, inputs()).spec?.template.spec?.affinity, {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: { labelSelector: { matchLabels: selectorLabels(r) }, topologyKey: "kubernetes.io/hostname" },
        },
      ],
    },
  });
  const mine = {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: "disk", operator: "In", values: ["ssd"] }] }],
      },
    },
  };
  const userRkv = raftkv({ affinity: mine });
  const got = sts(userRkv, inputs()).spec?.template.spec?.affinity;
  assert.deepEqual(got, mine);
  assert.notEqual(got, mine, "a copy: the output never aliases the RaftKV");
});

test("scheduling fields pass through; spread constraints get the selector when they have none", () => {
  const r = raftkv({
    nodeSelector: { zone: "a", disk: "ssd" },
    tolerations: [{ key: "dedicated", operator: "Equal", value: "kv", effect: "NoSchedule" }],
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway" },
      {
        maxSkew: 2,
        topologyKey: "kubernetes.io/hostname",
        whenUnsatisfiable: "DoNotSchedule",
        labelSelector: { matchLabels: { custom: "x" } },
      },
    ],
    priorityClassName: "critical",
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
  });
  const s = sts(r, inputs());
  const pod = s.spec?.template.spec;
  assert.deepEqual(pod?.nodeSelector, { disk: "ssd", zone: "a" });
  assert.deepEqual(pod?.tolerations, r.spec.tolerations);
  assert.deepEqual(pod?.topologySpreadConstraints?.[0]?.labelSelector, { matchLabels: selectorLabels(r) });
  assert.deepEqual(pod?.topologySpreadConstraints?.[1]?.labelSelector, { matchLabels: { custom: "x" } });
  assert.equal(pod?.priorityClassName, "critical");
  assert.deepEqual(container(s).resources, r.spec.resources);
  const plain = sts(raftkv(), inputs()).spec?.template.spec;
  for (const k of ["nodeSelector", "tolerations", "topologySpreadConstraints", "priorityClassName"] as const) {
    assert.equal(plain?.[k], undefined, `${k} absent when not asked for`);
  }
  assert.equal(container(sts(raftkv(), inputs())).resources, undefined);
});

test("rendering does not modify the RaftKV", () => {
  const r = raftkv({
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "zone", whenUnsatisfiable: "ScheduleAnyway" }],
    podLabels: { team: "a" },
  });
  const before = structuredClone(r);
  renderStatefulSet(r, inputs());
  assert.deepEqual(r, before);
});
