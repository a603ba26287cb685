import assert from "node:assert/strict";
import { test } from "node:test";
import {
  bootstrapConfigName,
  CLIENT_PORT,
  CLIENT_PORT_NAME,
  claimName,
  clientServiceName,
  clusterId,
  commonLabels,
  dnsAddressing,
  MAX_NAME_LENGTH,
  nameProblem,
  pdbName,
  peerServiceName,
  RAFT_PORT,
  RAFT_PORT_NAME,
  secretName,
  selectorLabels,
  selectorString,
  serviceMonitorName,
  statefulSetName,
} from "../../../operator/src/render/names.ts";
import { raftkv } from "./fixtures.ts";

const CLUSTER_ID_RULE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

test("children are named after the RaftKV", () => {
  const r = raftkv({}, { name: "demo" });
  assert.equal(statefulSetName(r), "demo");
  assert.equal(peerServiceName(r), "demo-peers");
  assert.equal(clientServiceName(r), "demo");
  assert.equal(secretName(r), "demo-raft");
  assert.equal(bootstrapConfigName(r), "demo-bootstrap");
  assert.equal(pdbName(r), "demo");
  assert.equal(serviceMonitorName(r), "demo");
  assert.equal(claimName(r, 0), "data-demo-0");
  assert.equal(claimName(r, 4), "data-demo-4");
});

test("ports are the node's defaults with stable names", () => {
  assert.deepEqual([CLIENT_PORT, CLIENT_PORT_NAME, RAFT_PORT, RAFT_PORT_NAME], [11000, "client", 12000, "raft"]);
});

test("the selector is name, instance and component; managed-by is added to the common labels", () => {
  const r = raftkv({}, { name: "demo" });
  assert.deepEqual(selectorLabels(r), {
    "app.kubernetes.io/name": "raftkv",
    "app.kubernetes.io/instance": "demo",
    "app.kubernetes.io/component": "node",
  });
  assert.deepEqual(commonLabels(r), { ...selectorLabels(r), "app.kubernetes.io/managed-by": "raftkv-operator" });
  assert.equal(
    selectorString(r),
    "app.kubernetes.io/name=raftkv,app.kubernetes.io/instance=demo,app.kubernetes.io/component=node",
  );
});

test("dnsAddressing gives the pod's name under the peer Service", () => {
  const a = dnsAddressing("cluster.local")({ namespace: "prod", raftkv: "demo", pod: "demo-2" });
  assert.deepEqual(a, {
    raftAddr: "demo-2.demo-peers.prod.svc.cluster.local:12000",
    httpUrl: "http://demo-2.demo-peers.prod.svc.cluster.local:11000",
  });
  assert.equal(
    dnsAddressing("k8s.example")({ namespace: "n", raftkv: "x", pod: "x-0" }).raftAddr,
    "x-0.x-peers.n.svc.k8s.example:12000",
  );
});

test("clusterId is namespace.name and fits the node's rule, also for the longest names", () => {
  assert.equal(clusterId("prod", "demo"), "prod.demo");
  const ns = `n${"s".repeat(62)}`; // 63: the longest namespace
  const name = `a${"b".repeat(MAX_NAME_LENGTH - 1)}`;
  const id = clusterId(ns, name);
  assert.equal(id, `${ns}.${name}`);
  assert.match(id, CLUSTER_ID_RULE);
  // Longer than the rule allows (never from a valid RaftKV): still valid, and distinct for distinct inputs.
  const a = clusterId(ns, "x".repeat(200));
  const b = clusterId(ns, `${"x".repeat(199)}y`);
  assert.match(a, CLUSTER_ID_RULE);
  assert.match(b, CLUSTER_ID_RULE);
  assert.notEqual(a, b);
  assert.equal(a, clusterId(ns, "x".repeat(200)), "deterministic");
  assert.match(clusterId("-", "x".repeat(200)), CLUSTER_ID_RULE);
});

test("nameProblem refuses names that cannot name a Service or label a StatefulSet's pods", () => {
  assert.equal(nameProblem("demo"), undefined);
  assert.equal(nameProblem("a".repeat(MAX_NAME_LENGTH)), undefined);
  assert.match(nameProblem("a".repeat(MAX_NAME_LENGTH + 1)) ?? "", /longer than 52/);
  assert.match(nameProblem("1demo") ?? "", /start with a lowercase letter/);
  assert.match(nameProblem("de.mo") ?? "", /lowercase letters, digits and '-'/);
  assert.match(nameProblem("demo-") ?? "", /must start/);
});
